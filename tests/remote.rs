//! Two real processes over real sockets: a `coremesh-node` child and a node in
//! this test process. Connect, ask and tell across them, the handshake's
//! refusals, and in-flight asks failing at once when the peer is killed.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use coremesh::{ActorId, ActorRef, AskError, Config, CoreId, MemberStatus, Node, NodeId};

const NODE: &str = env!("CARGO_BIN_EXE_coremesh-node");

#[path = "fixture/echoer.rs"]
mod echoer;
use echoer::*;

/// A `coremesh-node serve` child, killed on drop.
struct Peer {
    child: Child,
    node: NodeId,
    addr: SocketAddr,
    echoers: Vec<ActorRef<Echoer>>,
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn peer(env: &[(&str, &str)]) -> Peer {
    let mut cmd = Command::new(NODE);
    cmd.arg("serve").env("COREMESH_LISTEN", "127.0.0.1:0").stdout(Stdio::piped()).stderr(Stdio::inherit());
    for var in ["COREMESH_CORES", "COREMESH_CONTROL_CORE", "COREMESH_COOKIE", "COREMESH_CLUSTER"] {
        cmd.env_remove(var);
    }
    cmd.env("COREMESH_DEV", "1");
    for (k, v) in env {
        cmd.env(k, v);
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
    Peer { child, node, addr, echoers }
}

/// Sends SIGSTOP and waits (bounded) until every thread of `pid` is stopped.
fn stop(pid: libc::pid_t) {
    // SAFETY: kill(2) has no memory preconditions; the pid is our own live child.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGSTOP) }, 0);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).expect("child's threads");
        let all_stopped = tasks.filter_map(Result::ok).all(|t| {
            let stat = std::fs::read_to_string(t.path().join("stat")).unwrap_or_default();
            // The state follows the parenthesised command name.
            stat.rsplit(')').next().is_some_and(|rest| rest.trim_start().starts_with('T'))
        });
        if all_stopped {
            return;
        }
        assert!(Instant::now() < deadline, "child {pid} did not stop");
        std::thread::sleep(Duration::from_millis(1));
    }
}

fn local(cookie: Option<&str>, cluster: Option<&str>) -> Node {
    let mut b = Config::builder().env_source(|_| None).dev_mode(true).listen("127.0.0.1:0".parse().unwrap());
    if let Some(c) = cookie {
        b = b.cookie(c);
    }
    if let Some(c) = cluster {
        b = b.cluster(c);
    }
    Node::start(b.build().expect("config")).expect("node starts")
}

const T: Duration = Duration::from_secs(10);

#[test]
fn ask_and_tell_reach_every_core_of_another_process() {
    let peer = peer(&[]);
    let node = local(None, None);
    assert_eq!(node.connect(peer.addr).wait(), Ok(peer.node));
    for (i, e) in peer.echoers.iter().enumerate() {
        assert_eq!(node.ask(e, Echo { n: 40 + i as u64 }).timeout(T).wait(), Ok(40 + i as u64));
    }
    // From inside a worker core, through that core's own connection.
    for core in 0..node.cores() {
        let e = peer.echoers[core % peer.echoers.len()];
        let (tx, rx) = std::sync::mpsc::channel();
        node.run_on(CoreId(core as u16), move || {
            glommio::spawn_local(async move {
                for n in 0..100u64 {
                    e.tell(Echo { n }).unwrap();
                }
                let _ = tx.send(e.ask(Echo { n: 7 }).timeout(T).await);
            })
            .detach();
        })
        .wait()
        .unwrap();
        assert_eq!(rx.recv_timeout(T).unwrap(), Ok(7), "from core {core}");
    }
    node.shutdown().unwrap();
}

#[test]
fn a_killed_peer_fails_every_in_flight_ask_at_once() {
    let mut peer = peer(&[]);
    let node = local(None, None);
    node.connect(peer.addr).wait().unwrap();
    let e = peer.echoers[0];
    assert_eq!(node.ask(&e, Echo { n: 1 }).timeout(T).wait(), Ok(1));
    // Stop the peer so that asks stay in flight, then kill it.
    stop(peer.child.id() as libc::pid_t);
    let (tx, rx) = std::sync::mpsc::channel();
    let (sent_tx, sent_rx) = std::sync::mpsc::channel();
    node.run_on(CoreId(0), move || {
        glommio::spawn_local(async move {
            // An ask is sent when its future is first polled: poll each once,
            // so that all 1000 are in flight together before the kill.
            let mut asks: Vec<_> = (0..1000u64)
                .map(|n| {
                    std::future::IntoFuture::into_future(e.ask(Echo { n }).timeout(Duration::from_secs(60)))
                })
                .collect();
            for a in &mut asks {
                assert!(futures_lite::future::poll_once(a).await.is_none(), "the stopped peer answered");
            }
            let _ = sent_tx.send(());
            let started = Instant::now();
            let mut out = Vec::new();
            for a in asks {
                out.push(a.await);
            }
            let _ = tx.send((out, started.elapsed()));
        })
        .detach();
    })
    .wait()
    .unwrap();
    sent_rx.recv_timeout(Duration::from_secs(30)).expect("all 1000 asks sent");
    assert_eq!(node.stats().total().late_replies, 0);
    peer.child.kill().unwrap();
    let (results, took) = rx.recv_timeout(Duration::from_secs(30)).expect("asks ended");
    assert_eq!(results.len(), 1000);
    for r in &results {
        assert_eq!(r, &Err(AskError::ConnectionLost { node: peer.node }));
    }
    assert!(
        took < Duration::from_secs(20),
        "asks ended with the connection, not their 60 s timeout: {took:?}"
    );
    node.shutdown().unwrap();
}

#[test]
fn a_wrong_cookie_is_refused_and_both_nodes_keep_serving() {
    let peer = peer(&[("COREMESH_COOKIE", "right-secret")]);
    let wrong = local(Some("wrong-secret"), None);
    let err = wrong.connect(peer.addr).wait().unwrap_err();
    assert!(err.to_string().contains("cookie"), "{err}");
    assert!(!err.to_string().contains("secret"), "the cookie never appears: {err}");
    let right = local(Some("right-secret"), None);
    assert_eq!(right.connect(peer.addr).wait(), Ok(peer.node));
    assert_eq!(right.ask(&peer.echoers[0], Echo { n: 5 }).timeout(T).wait(), Ok(5));
    wrong.shutdown().unwrap();
    right.shutdown().unwrap();
}

#[test]
fn a_wrong_cluster_is_refused() {
    let peer = peer(&[("COREMESH_CLUSTER", "blue")]);
    let node = local(None, Some("green"));
    let err = node.connect(peer.addr).wait().unwrap_err();
    assert!(err.to_string().to_lowercase().contains("cluster"), "{err}");
    node.shutdown().unwrap();
}

#[test]
fn a_stopped_peer_makes_tell_report_full_and_sender_memory_stays_bounded() {
    let peer = peer(&[]);
    let node = local(None, None);
    node.connect(peer.addr).wait().unwrap();
    let e = peer.echoers[0];
    assert_eq!(node.ask(&e, Echo { n: 1 }).timeout(T).wait(), Ok(1));
    let pid = peer.child.id() as libc::pid_t;
    stop(pid);
    let (tx, rx) = std::sync::mpsc::channel();
    node.run_on(CoreId(0), move || {
        glommio::spawn_local(async move {
            let mut accepted = 0u64;
            let err = loop {
                match e.tell(Echo { n: accepted }) {
                    Ok(()) => accepted += 1,
                    Err(err) => break err,
                }
                if accepted % 1024 == 0 {
                    // Let the writer push what it can into the socket.
                    glommio::timer::sleep(Duration::from_micros(100)).await;
                }
                if accepted > 10_000_000 {
                    break coremesh::TellError::NodeStopped;
                }
            };
            let _ = tx.send((accepted, err));
        })
        .detach();
    })
    .wait()
    .unwrap();
    let (accepted, err) = rx.recv_timeout(Duration::from_secs(60)).expect("the path filled");
    assert!(matches!(err, coremesh::TellError::LinkFull { node, .. } if node == peer.node), "{err:?}");
    // 48-byte frames: the link's 4 MiB bound plus what the kernel's socket buffers took.
    assert!(accepted * 48 < 64 << 20, "accepted {accepted} frames");
    // SAFETY: kill(2) has no memory preconditions; the pid is our own live child.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGCONT) }, 0);
    // Once the peer runs again the link drains and asks get through.
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut last = Err(AskError::Timeout);
    while Instant::now() < deadline && last != Ok(9) {
        last = node.ask(&e, Echo { n: 9 }).timeout(T).wait();
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(last, Ok(9));
    node.shutdown().unwrap();
}

#[test]
fn a_refused_handshake_is_logged_on_both_sides_naming_the_check() {
    let mut child = Command::new(NODE)
        .arg("serve")
        .env("COREMESH_LISTEN", "127.0.0.1:0")
        .env("COREMESH_COOKIE", "right-secret")
        .env("COREMESH_DEV", "1")
        .env_remove("COREMESH_CORES")
        .env_remove("COREMESH_CLUSTER")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn coremesh-node");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let ready = lines.next().expect("a ready line").expect("utf-8");
    let addr: SocketAddr = ready.split_whitespace().nth(3).unwrap().parse().unwrap();
    let node = local(Some("wrong-secret"), None);
    let ours = node.connect(addr).wait().unwrap_err().to_string();
    assert!(ours.to_lowercase().contains("cookie"), "this side names the check: {ours}");
    node.shutdown().unwrap();
    std::thread::sleep(Duration::from_millis(100));
    let _ = child.kill();
    let _ = child.wait();
    let mut theirs = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut theirs).unwrap();
    assert!(
        theirs.contains("refused") && theirs.to_lowercase().contains("cookie"),
        "the peer logged: {theirs}"
    );
    assert!(!theirs.contains("secret"), "the cookie never appears in logs");
}

#[test]
fn fifo_holds_per_pair_across_processes_for_a_million_messages() {
    let peer = peer(&[]);
    let node = local(None, None);
    node.connect(peer.addr).wait().unwrap();
    let target = peer.echoers[0];
    const N: u64 = 500_000;
    let (tx, rx) = std::sync::mpsc::channel();
    // Every sender core of this node is its own (sender, receiver) pair.
    let senders = node.cores().min(2);
    for core in 0..senders {
        let tx = tx.clone();
        node.run_on(CoreId(core as u16), move || {
            glommio::spawn_local(async move {
                let per = 2 * N / senders as u64;
                for seq in 0..per {
                    target.send(Seq { sender: core as u32, seq }).await.unwrap();
                }
                tx.send(per).unwrap();
            })
            .detach();
        })
        .wait()
        .unwrap();
    }
    let sent: u64 =
        (0..senders).map(|_| rx.recv_timeout(Duration::from_secs(240)).expect("senders finish")).sum();
    assert_eq!(sent, 2 * N);
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut last = (0, 0);
    while Instant::now() < deadline {
        last = node.ask(&target, SeqStats).timeout(T).wait().unwrap();
        if last.0 == sent {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(last, (sent, 0), "every message arrived, each pair in order");
    node.shutdown().unwrap();
}

#[test]
fn tells_to_a_killed_peer_fail_typed_from_the_close_until_it_is_declared_gone() {
    // Regression (issue 10, finding 7): for about 300 ms after the connection
    // closed, until the node was declared down, tells to it returned Ok and
    // vanished (each send dialed the dead node again and queued on the link).
    let mut peer = peer(&[]);
    let node = local(None, None);
    node.connect(peer.addr).wait().unwrap();
    let e = peer.echoers[0];
    assert_eq!(node.ask(&e, Echo { n: 1 }).timeout(T).wait(), Ok(1));
    let member =
        |s: &coremesh::ClusterState| s.member(peer.node).is_some_and(|m| m.status == MemberStatus::Up);
    node.wait_for(member, T).expect("the peer is a member");
    peer.child.kill().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    node.run_on(CoreId(0), move || {
        glommio::spawn_local(async move {
            // One tell a millisecond until the node is gone, at most 20 s.
            let mut seen = String::new();
            for n in 0..20_000u64 {
                let mark = match e.tell(Echo { n }) {
                    Ok(()) => 'o',
                    Err(coremesh::TellError::ConnectionLost { .. }) => 'l',
                    Err(coremesh::TellError::NodeGone { .. }) => 'g',
                    Err(_) => 'x',
                };
                if !seen.ends_with(mark) {
                    seen.push(mark);
                }
                if mark == 'g' {
                    break;
                }
                glommio::timer::sleep(Duration::from_millis(1)).await;
            }
            let _ = tx.send(seen);
        })
        .detach();
    })
    .wait()
    .unwrap();
    let seen = rx.recv_timeout(Duration::from_secs(30)).expect("the tells ended");
    // Accepted while the connection still looked open, then refused as lost,
    // then refused as gone: never accepted again once it was known lost.
    assert!(seen == "olg" || seen == "lg", "tells went {seen:?} (o ok, l ConnectionLost, g NodeGone)");
    node.shutdown().unwrap();
}
