//! Where a remote spawn lands, over real sockets: the caller names a core or
//! a placement, the peer decides (it knows its cores and their load), and the
//! new ref's core says where it landed. Every wait is bounded.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::*;
use coremesh::{Actor, CoreId, Ctx, Handler, Node, Placement, RemoteSpawn, RemoteSpawnError, SpawnError};

const T: Duration = Duration::from_secs(10);

/// Answers `Get` with the core it runs on.
struct Placed;
impl Actor for Placed {}
impl Handler<Get> for Placed {
    type Reply = u16;
    fn handle(&mut self, _msg: &ArchivedGet, ctx: &mut Ctx<Self>) -> u16 {
        ctx.core_id().0
    }
}
coremesh::handlers!(Placed: Get);
impl RemoteSpawn for Placed {
    const NAME: &'static str = "placement.Placed";
    type Args = ();
    fn create(_: &coremesh::rkyv::Archived<()>) -> Self {
        Placed
    }
}

/// Two connected nodes of two cores each; `b` lets `a` spawn `Placed`.
fn pair() -> Option<(Node, Node)> {
    if !two_cpus() {
        return None;
    }
    let net = |b: coremesh::ConfigBuilder| b.listen("127.0.0.1:0".parse().unwrap());
    let (a, b) = (node_with(net), node_with(net));
    assert_eq!(b.cores(), 2);
    b.register_remote::<Placed>();
    a.connect(b.listen_addr()).timeout(T).wait().expect("connect");
    Some((a, b))
}

#[test]
fn a_spawn_on_a_chosen_core_lands_there() {
    let Some((a, b)) = pair() else { return };
    for core in [1, 0, 1] {
        let r = a.spawn_remote::<Placed>(b.id(), ()).on_core(CoreId(core)).timeout(T).wait().unwrap();
        assert_eq!((r.node(), r.core()), (b.id(), CoreId(core)));
        // It really runs there: the actor says so.
        assert_eq!(a.ask(&r, Get).timeout(T).wait(), Ok(core));
    }
    // By key: one key always lands on one core.
    let by_key = |key| a.spawn_remote::<Placed>(b.id(), ()).placement(Placement::ByKey(key)).wait().unwrap();
    assert_eq!((by_key(7).core(), by_key(7).core(), by_key(8).core()), (CoreId(1), CoreId(1), CoreId(0)));
    a.shutdown().unwrap();
    b.shutdown().unwrap();
}

#[test]
fn round_robin_is_the_default_and_spreads_over_the_peers_cores() {
    let Some((a, b)) = pair() else { return };
    let cores: Vec<u16> =
        (0..4).map(|_| a.spawn_remote::<Placed>(b.id(), ()).timeout(T).wait().unwrap().core().0).collect();
    assert_eq!(cores.iter().copied().collect::<BTreeSet<_>>(), BTreeSet::from([0, 1]), "{cores:?}");
    assert!(cores.windows(2).all(|w| w[0] != w[1]), "not in turn: {cores:?}");
    a.shutdown().unwrap();
    b.shutdown().unwrap();
}

#[test]
fn least_loaded_picks_the_core_with_fewest_live_actors() {
    let Some((a, b)) = pair() else { return };
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(a.spawn_remote::<Placed>(b.id(), ()).on_core(CoreId(0)).timeout(T).wait().unwrap());
    }
    let r = a.spawn_remote::<Placed>(b.id(), ()).placement(Placement::LeastLoaded).timeout(T).wait().unwrap();
    assert_eq!(r.core(), CoreId(1));
    a.shutdown().unwrap();
    b.shutdown().unwrap();
}

#[test]
fn a_core_the_peer_does_not_have_is_a_typed_error() {
    let Some((a, b)) = pair() else { return };
    let got = a.spawn_remote::<Placed>(b.id(), ()).on_core(CoreId(5)).timeout(T).wait();
    let want = RemoteSpawnError::NoSuchCore { node: b.id(), core: 5, cores: 2 };
    assert_eq!(got.unwrap_err(), SpawnError::Remote(want));
    a.shutdown().unwrap();
    b.shutdown().unwrap();
}
