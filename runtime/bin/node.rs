//! `coremesh-node`: a node process for tests and operators.
//!
//! Owns: the command line of a standalone node. `coremesh-node serve` starts a
//! node from the `COREMESH_*` environment, spawns one `Echo` actor per core,
//! prints `ready <node-id> <cores> <listen-addr> <core.slot.generation>…`, then
//! one line per membership event (`member up|left|down <node-id>`), and runs
//! until SIGINT/SIGTERM; then it leaves the cluster, shuts down and prints
//! `stopped <n>` with the number of stop hooks that ran. Must never: panic on a
//! bad environment value (it prints the error and exits 2).

use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use coremesh::{Actor, Config, CoreId, Ctx, Handler, Node, StopReason};
use rkyv::{Archive, Deserialize, Serialize};

/// Echoes a number back.
#[derive(Archive, Serialize, Deserialize)]
struct Echo {
    n: u64,
}
coremesh::message!(Echo = "coremesh-node.Echo");

/// One numbered message of a sender's stream; the echoer checks the order.
#[derive(Archive, Serialize, Deserialize)]
struct Seq {
    sender: u32,
    seq: u64,
}
/// Asks for (messages seen, order violations).
#[derive(Archive, Serialize, Deserialize)]
struct SeqStats;
/// Asks for (messages seen, messages whose number was not above the last one
/// seen from their sender: a duplicate or a reordering). Gaps (lost messages)
/// are not counted.
#[derive(Archive, Serialize, Deserialize)]
struct SeqRepeats;
/// Sleeps `ms` on the core, then answers: keeps asks in flight for tests.
#[derive(Archive, Serialize, Deserialize)]
struct Nap {
    ms: u64,
}
coremesh::message!(
    Seq = "coremesh-node.Seq",
    SeqStats = "coremesh-node.SeqStats",
    SeqRepeats = "coremesh-node.SeqRepeats",
    Nap = "coremesh-node.Nap",
);

struct Echoer {
    stopped: Arc<AtomicU64>,
    /// Next expected sequence number per sender.
    next: std::collections::HashMap<u32, u64>,
    seen: u64,
    violations: u64,
    /// One past the highest number seen per sender, and how many were not
    /// above the highest.
    highest: std::collections::HashMap<u32, u64>,
    repeats: u64,
}

impl Actor for Echoer {
    fn stopped(&mut self, _reason: &StopReason) {
        self.stopped.fetch_add(1, Ordering::SeqCst);
    }
}

impl Handler<Echo> for Echoer {
    type Reply = u64;
    fn handle(&mut self, msg: &ArchivedEcho, _ctx: &mut Ctx<Self>) -> u64 {
        msg.n.to_native()
    }
}
impl Handler<Seq> for Echoer {
    type Reply = ();
    fn handle(&mut self, msg: &ArchivedSeq, _ctx: &mut Ctx<Self>) {
        let next = self.next.entry(msg.sender.to_native()).or_insert(0);
        if msg.seq.to_native() != *next {
            self.violations += 1;
        }
        *next = msg.seq.to_native() + 1;
        self.seen += 1;
        // One past the highest number seen from this sender.
        let above = self.highest.entry(msg.sender.to_native()).or_insert(0);
        if msg.seq.to_native() < *above {
            self.repeats += 1;
        } else {
            *above = msg.seq.to_native() + 1;
        }
    }
}

impl Handler<SeqRepeats> for Echoer {
    type Reply = (u64, u64);
    fn handle(&mut self, _msg: &ArchivedSeqRepeats, _ctx: &mut Ctx<Self>) -> (u64, u64) {
        (self.seen, self.repeats)
    }
}

impl Handler<Nap> for Echoer {
    type Reply = ();
    fn handle(&mut self, msg: &ArchivedNap, _ctx: &mut Ctx<Self>) {
        std::thread::sleep(std::time::Duration::from_millis(msg.ms.to_native()));
    }
}

impl Handler<SeqStats> for Echoer {
    type Reply = (u64, u64);
    fn handle(&mut self, _msg: &ArchivedSeqStats, _ctx: &mut Ctx<Self>) -> (u64, u64) {
        (self.seen, self.violations)
    }
}
coremesh::handlers!(Echoer: Echo, Seq, SeqStats, SeqRepeats, Nap);

fn main() -> ExitCode {
    // Log lines (refused handshakes name the check that failed) go to stderr.
    tracing_subscriber::fmt().with_writer(std::io::stderr).with_max_level(tracing::Level::INFO).init();
    let mode = std::env::args().nth(1).unwrap_or_default();
    if mode != "serve" {
        eprintln!("usage: coremesh-node serve   (settings come from COREMESH_* variables)");
        return ExitCode::from(2);
    }
    let config = match Config::from_env() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("coremesh-node: {e}");
            return ExitCode::from(2);
        }
    };
    let node = match Node::start(config) {
        Ok(n) => n,
        Err(e) => {
            eprintln!("coremesh-node: {e}");
            return ExitCode::from(1);
        }
    };
    let stopped = Arc::new(AtomicU64::new(0));
    let mut actors = Vec::new();
    for core in 0..node.cores() {
        let s = stopped.clone();
        let spawned = node
            .spawn_on(CoreId(core as u16), move || Echoer {
                stopped: s,
                next: Default::default(),
                seen: 0,
                violations: 0,
                highest: Default::default(),
                repeats: 0,
            })
            .wait();
        let Ok(r) = spawned else {
            eprintln!("coremesh-node: could not spawn on core {core}");
            return ExitCode::from(1);
        };
        if node.ask(&r, Echo { n: 7 }).wait() != Ok(7) {
            eprintln!("coremesh-node: echo on core {core} failed");
            return ExitCode::from(1);
        }
        let id = r.id();
        actors.push(format!("{}.{}.{}", id.core.0, id.slot, id.generation));
    }
    let (id, cores, addr) = (node.id().0, node.cores(), node.listen_addr());
    let actors = actors.join(" ");
    // Events from now on queue in the subscription; they are printed only after
    // the ready line, which is always the first line.
    let events = node.subscribe();
    // `ready <node id, hex> <cores> <listen address> <echo actor per core: core.slot.generation>…`
    let ready = move || {
        println!("ready {id:016x} {cores} {addr} {actors}");
        std::thread::spawn(move || print_events(events));
    };
    if let Err(e) = node.run_until_signal_with(ready) {
        eprintln!("coremesh-node: {e}");
        return ExitCode::from(1);
    }
    println!("stopped {}", stopped.load(Ordering::SeqCst));
    ExitCode::SUCCESS
}

/// Prints `member up|left|down <node id, hex>` for each membership event, until
/// the node stops or nobody reads stdout any more.
fn print_events(events: coremesh::Subscription) {
    use coremesh::MemberEvent;
    use std::io::Write;
    loop {
        let line = match events.next_timeout(std::time::Duration::from_secs(3600)) {
            Some(MemberEvent::MemberUp(m)) => format!("member up {:016x}", m.node.0),
            Some(MemberEvent::MemberLeft(m)) => format!("member left {:016x}", m.node.0),
            Some(MemberEvent::MemberDown(m)) => format!("member down {:016x}", m.node.0),
            None => return,
        };
        if writeln!(std::io::stdout(), "{line}").is_err() {
            return;
        }
    }
}
