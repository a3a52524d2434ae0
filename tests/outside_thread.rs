//! Sends from threads outside the runtime, against a real `coremesh-node`
//! child over real sockets: a tell that returned `Ok` is never dropped for
//! lack of room (a full connection holds it and the inbox refuses what comes
//! next), and `ActorRef::tell`, `ask(..).wait()` and `send` work from a plain
//! thread to an actor on another process, through whichever node of this
//! process is connected to it.

use std::future::IntoFuture;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use coremesh::{ActorId, ActorRef, AskError, Config, CoreId, Node, NodeId, TellError};

const NODE: &str = env!("CARGO_BIN_EXE_coremesh-node");
const T: Duration = Duration::from_secs(10);
/// Long enough that neither side judges the other lost while one is stopped.
const PATIENT_MS: &str = "60000";

#[path = "fixture/echoer.rs"]
mod echoer;
use echoer::*;

/// A `coremesh-node serve` child, killed (after SIGCONT) on drop.
struct Peer {
    child: Child,
    node: NodeId,
    addr: SocketAddr,
    echoers: Vec<ActorRef<Echoer>>,
}

impl Drop for Peer {
    fn drop(&mut self) {
        // SAFETY: kill(2) has no memory preconditions; the pid is our own child.
        unsafe { libc::kill(self.child.id() as libc::pid_t, libc::SIGCONT) };
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn peer() -> Peer {
    let mut cmd = Command::new(NODE);
    cmd.arg("serve")
        .env("COREMESH_LISTEN", "127.0.0.1:0")
        .env("COREMESH_CONNECTION_TIMEOUT_MS", PATIENT_MS)
        .env("COREMESH_DEV", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    for var in ["COREMESH_CORES", "COREMESH_CONTROL_CORE", "COREMESH_COOKIE", "COREMESH_CLUSTER"] {
        cmd.env_remove(var);
    }
    let mut child = cmd.spawn().expect("spawn coremesh-node");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let ready = lines.next().expect("a ready line").expect("utf-8");
    let words: Vec<&str> = ready.split_whitespace().collect();
    assert_eq!(words[0], "ready", "{ready}");
    let node = NodeId(u64::from_str_radix(words[1], 16).unwrap());
    let addr: SocketAddr = words[3].parse().unwrap();
    let echoers = words[4..]
        .iter()
        .map(|w| {
            let p: Vec<u32> = w.split('.').map(|x| x.parse().unwrap()).collect();
            ActorRef::from_id(ActorId { node, core: CoreId(p[0] as u16), slot: p[1], generation: p[2] })
        })
        .collect();
    // Keep reading its stdout (membership lines) so it never blocks on a full pipe.
    std::thread::spawn(move || lines.for_each(drop));
    Peer { child, node, addr, echoers }
}

/// Sends SIGSTOP and waits (bounded) until every thread of `pid` is stopped.
fn stop(pid: libc::pid_t) {
    // SAFETY: kill(2) has no memory preconditions; the pid is our own live child.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGSTOP) }, 0);
    let deadline = Instant::now() + T;
    loop {
        let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).expect("child's threads");
        let all_stopped = tasks.filter_map(Result::ok).all(|t| {
            let stat = std::fs::read_to_string(t.path().join("stat")).unwrap_or_default();
            stat.rsplit(')').next().is_some_and(|rest| rest.trim_start().starts_with('T'))
        });
        if all_stopped {
            return;
        }
        assert!(Instant::now() < deadline, "child {pid} did not stop");
        std::thread::sleep(Duration::from_millis(1));
    }
}

fn local() -> Node {
    let b = Config::builder()
        .env_source(|_| None)
        .dev_mode(true)
        .listen("127.0.0.1:0".parse().unwrap())
        .connection_timeout_ms(PATIENT_MS.parse().unwrap());
    Node::start(b.build().expect("config")).expect("node starts")
}

/// Asks `e` for (seen, order violations), retrying while the path is full,
/// until `limit` passes.
fn seq_stats(node: &Node, e: &ActorRef<Echoer>, limit: Duration) -> Result<(u64, u64), AskError> {
    let deadline = Instant::now() + limit;
    loop {
        match node.ask(e, SeqStats).timeout(limit).wait() {
            Err(AskError::NotSent(err)) if err.is_full() && Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(5))
            }
            other => return other,
        }
    }
}

#[test]
fn every_outside_tell_accepted_for_a_stopped_peer_arrives_once_it_runs_again() {
    // Regression: the core dropped an accepted tell (a dead letter) when the
    // connection was full, after the caller already had `Ok`.
    let peer = peer();
    let node = local();
    node.connect(peer.addr).wait().unwrap();
    let e = peer.echoers[0];
    assert_eq!(node.ask(&e, Echo { n: 1 }).timeout(T).wait(), Ok(1));
    let pid = peer.child.id() as libc::pid_t;
    stop(pid);
    // From this plain thread until the path refuses: the connection's bound,
    // the kernel's socket buffers, then the core's inbox fill. The old code
    // never refused (it dropped instead); the cap ends that loop.
    let mut accepted = 0u64;
    let refused = loop {
        match node.tell_ref(&e, &Seq { sender: 1, seq: accepted }) {
            Ok(()) => accepted += 1,
            Err(err) => break Some(err),
        }
        if accepted == 3_000_000 {
            break None;
        }
    };
    // An ask behind a full inbox fails at once, typed, with nothing sent.
    let asked = node.ask(&e, Echo { n: 3 }).timeout(T).wait();
    assert!(matches!(asked, Err(AskError::NotSent(TellError::InboxFull { .. }))), "{asked:?}");
    // The awaiting send from a plain thread waits out the full inbox.
    let next = accepted;
    let waiting =
        std::thread::spawn(move || futures_lite::future::block_on(e.send(Seq { sender: 1, seq: next })));
    std::thread::sleep(Duration::from_millis(100));
    // SAFETY: kill(2) has no memory preconditions; the pid is our own live child.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGCONT) }, 0);
    let sent = waiting.join().expect("the sending thread");
    let stats = seq_stats(&node, &e, Duration::from_secs(60));
    let dead = node.stats().total().dead_letters;
    eprintln!("accepted {accepted}, refused with {refused:?}; send: {sent:?}; echoer saw {stats:?}; dead letters {dead}");
    assert!(matches!(refused, Some(TellError::InboxFull { core: CoreId(0), .. })), "{refused:?}");
    assert_eq!(sent, Ok(()));
    // Every accepted tell arrived, in order, and none was dropped here.
    assert_eq!(stats, Ok((accepted + 1, 0)));
    assert_eq!(dead, 0);
    node.shutdown().unwrap();
}

#[test]
fn frames_held_for_a_peer_that_dies_are_dead_letters_and_the_core_goes_on() {
    let mut peer = peer();
    let node = local();
    node.connect(peer.addr).wait().unwrap();
    let e = peer.echoers[0];
    assert_eq!(node.ask(&e, Echo { n: 1 }).timeout(T).wait(), Ok(1));
    stop(peer.child.id() as libc::pid_t);
    let mut seq = 0;
    let refused = loop {
        match node.tell_ref(&e, &Seq { sender: 3, seq }) {
            Ok(()) => seq += 1,
            Err(err) => break err,
        }
        assert!(seq < 3_000_000, "the path never refused");
    };
    assert!(refused.is_full(), "{refused:?}");
    // The node dies: its connection closes, and what was held for it is dropped.
    peer.child.kill().unwrap();
    peer.child.wait().unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while node.stats().total().dead_letters == 0 {
        assert!(Instant::now() < deadline, "nothing held was dropped within 30 s of the peer's death");
        std::thread::sleep(Duration::from_millis(10));
    }
    // The core takes its inbox again: code runs there, and sends to the dead
    // node fail typed there (the outside thread's tells are accepted until
    // the cluster declares the node gone, and counted as dead letters).
    let deadline = Instant::now() + Duration::from_secs(30);
    let lost = loop {
        let (tx, rx) = std::sync::mpsc::channel();
        let ran = node.run_on(CoreId(0), move || {
            let _ = tx.send(e.tell(Seq { sender: 3, seq: 0 }));
        });
        match (ran.wait(), rx.recv_timeout(T)) {
            (Ok(()), Ok(Err(err))) if err.is_node_lost() => break err,
            _ if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(10)),
            other => panic!("core 0 did not see the peer lost within 30 s: {other:?}"),
        }
    };
    assert!(matches!(lost, TellError::ConnectionLost { node } if node == e.id().node), "{lost:?}");
    node.shutdown().unwrap();
}

#[test]
fn actor_refs_tell_ask_and_send_from_a_plain_thread_to_another_process() {
    // Regression: off-core, `ActorRef` looked for a node of this process whose
    // id was the target's, and failed with UnknownNode for a remote target.
    let peer = peer();
    let node = local();
    node.connect(peer.addr).wait().unwrap();
    // Other nodes in this process (and other tests' nodes) are not connected
    // to the peer: the one that is sends.
    let other = local();
    let e = peer.echoers[0];
    for seq in 0..100 {
        e.tell(Seq { sender: 2, seq }).unwrap();
    }
    futures_lite::future::block_on(e.send(Seq { sender: 2, seq: 100 })).unwrap();
    assert_eq!(e.ask(Echo { n: 5 }).timeout(T).wait(), Ok(5));
    let (seen, violations) = e.ask(SeqStats).timeout(T).wait().unwrap();
    assert_eq!((seen, violations), (101, 0));
    // The ask's future off-core, on a plain executor.
    assert_eq!(futures_lite::future::block_on(e.ask(Echo { n: 6 }).timeout(T).into_future()), Ok(6));
    assert_eq!(peer.node, e.id().node);
    other.shutdown().unwrap();
    node.shutdown().unwrap();
}

#[test]
fn a_ref_to_a_node_no_local_node_reaches_says_so() {
    let (a, b) = (local(), local());
    let nowhere: ActorRef<Echoer> =
        ActorRef::from_id(ActorId { node: NodeId(0x5eed), core: CoreId(0), slot: 1, generation: 1 });
    let err = nowhere.tell(Echo { n: 1 }).unwrap_err();
    assert!(
        matches!(err, TellError::NoLocalNode { node: NodeId(0x5eed), running } if running >= 2),
        "{err:?}"
    );
    assert!(err.to_string().contains("connect"), "{err}");
    let asked = nowhere.ask(Echo { n: 1 }).timeout(T).wait();
    assert!(matches!(asked, Err(AskError::NotSent(TellError::NoLocalNode { .. }))), "{asked:?}");
    a.shutdown().unwrap();
    b.shutdown().unwrap();
}
