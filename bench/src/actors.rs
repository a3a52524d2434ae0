//! The actor and messages the remote coremesh benches send between the bench
//! (client node) and `coremesh-bench peer`: both sides link this module, so
//! the stable names below agree by construction.
//!
//! It owns [`Sink`] (remote-spawnable as `bench.Sink`) and its messages
//! [`Add`] and [`Kilo`]. Their names are part of the bench protocol: renaming
//! one breaks a bench against a peer built from another checkout. The handlers
//! must stay trivial (a sum), so the figures measure coremesh, not the sink.

use coremesh::{Actor, Ctx, Handler, RemoteSpawn};
use rkyv::{Archive, Deserialize, Serialize};

use crate::alloc_count::{self, Kind};

/// Adds `n` to the sink's total; replies with the new total. `n == 0` is what
/// the asks send (so an ask never changes the total).
#[derive(Archive, Serialize, Deserialize, Clone, Debug)]
pub struct Add {
    pub n: u64,
}

/// A payload (1 KiB in the benches); adds its length to the total and replies
/// with the new total.
#[derive(Archive, Serialize, Deserialize, Clone, Debug)]
pub struct Kilo {
    pub bytes: Vec<u8>,
}

coremesh::message!(Add = "bench.remote.Add", Kilo = "bench.remote.Kilo");

/// Sums what it is sent. Spawned remotely with its starting total.
pub struct Sink {
    total: u64,
}

impl Sink {
    /// A sink whose total starts at `start`.
    pub fn new(start: u64) -> Sink {
        Sink { total: start }
    }

    /// The running total.
    pub fn total(&self) -> u64 {
        self.total
    }
}

impl Actor for Sink {}

impl Handler<Add> for Sink {
    type Reply = u64;
    fn handle(&mut self, msg: &ArchivedAdd, _ctx: &mut Ctx<Self>) -> u64 {
        let n = msg.n.to_native();
        alloc_count::note(if n == 0 { Kind::Ask } else { Kind::TellU64 });
        self.total = self.total.wrapping_add(n);
        self.total
    }
}

impl Handler<Kilo> for Sink {
    type Reply = u64;
    fn handle(&mut self, msg: &ArchivedKilo, _ctx: &mut Ctx<Self>) -> u64 {
        alloc_count::note(Kind::Tell1k);
        self.total = self.total.wrapping_add(msg.bytes.len() as u64);
        self.total
    }
}

coremesh::handlers!(Sink: Add, Kilo);

impl RemoteSpawn for Sink {
    const NAME: &'static str = "bench.Sink";
    type Args = u64;
    fn create(start: &rkyv::Archived<u64>) -> Self {
        Sink { total: start.to_native() }
    }
}
