//! Cluster membership with real processes: joining from one seed, a graceful
//! leave, a `kill -9` with asks in flight (and one while an attacker replays
//! the killed node's captured gossip), a `SIGSTOP`/`SIGCONT` pause, and a
//! partition between network namespaces made with veth and iptables.
//!
//! The peers are `coremesh-node serve` children (they print `member up|left|down
//! <id>` lines); the test process runs one node itself. Heartbeats are short
//! (300 ms, timeout 1500 ms) so that failures are detected quickly; the tests
//! run one at a time (a lock), because a 2-CPU machine shared by several
//! clusters would miss heartbeats. Every wait has a deadline.

mod common;
#[path = "fixture/procs.rs"]
mod procs;

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::{mpsc, Mutex};
use std::time::{Duration, Instant};

use coremesh::{
    Actor, ActorDown, ActorId, ActorRef, AskError, Config, CoreId, Ctx, DownReason, Handler, MemberEvent,
    MemberStatus, Node, NodeDown, NodeId, StopReason,
};

const NODE: &str = env!("CARGO_BIN_EXE_coremesh-node");
const HEARTBEAT_MS: u64 = 300;
const TIMEOUT_MS: u64 = 1500;
const T: Duration = Duration::from_secs(20);

/// One cluster at a time on this machine.
static SERIAL: Mutex<()> = Mutex::new(());

#[path = "fixture/echoer.rs"]
mod echoer;
use echoer::*;

/// Monitors one remote actor and its node,
/// and records what it hears.
struct Watcher {
    target: ActorRef<Echoer>,
    heard: std::sync::Arc<Mutex<Vec<String>>>,
}
impl Actor for Watcher {
    async fn started(&mut self, ctx: &mut Ctx<Self>) -> Result<(), coremesh::InitError> {
        ctx.monitor(&self.target);
        ctx.monitor_node(self.target.id().node);
        Ok(())
    }
}
impl Handler<ActorDown> for Watcher {
    type Reply = ();
    fn handle(&mut self, msg: &coremesh::ArchivedActorDown, _ctx: &mut Ctx<Self>) {
        let line = format!("actor-down {:?}", msg.reason.to_native());
        self.heard.lock().unwrap().push(line);
    }
}
impl Handler<NodeDown> for Watcher {
    type Reply = ();
    fn handle(&mut self, msg: &coremesh::ArchivedNodeDown, _ctx: &mut Ctx<Self>) {
        self.heard.lock().unwrap().push(format!("node-down {:016x}", msg.node.0.to_native()));
    }
}
coremesh::handlers!(Watcher: ActorDown, NodeDown);

/// Links itself to a remote actor without trapping: it must be stopped when
/// that actor's node dies.
struct Linked {
    target: ActorRef<Echoer>,
    stopped: std::sync::Arc<Mutex<Option<StopReason>>>,
}
impl Actor for Linked {
    async fn started(&mut self, ctx: &mut Ctx<Self>) -> Result<(), coremesh::InitError> {
        ctx.link(&self.target);
        Ok(())
    }
    fn stopped(&mut self, reason: &StopReason) {
        *self.stopped.lock().unwrap() = Some(reason.clone());
    }
}
coremesh::handlers!(Linked:);

/// A `coremesh-node serve` child and the lines it prints.
struct Proc {
    child: Child,
    node: NodeId,
    echoer: ActorRef<Echoer>,
    lines: mpsc::Receiver<String>,
    /// Every line read so far.
    seen: std::cell::RefCell<Vec<String>>,
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Proc {
    /// Starts a node listening on `listen`, joining `seed` if given; `prefix`
    /// runs it through another command (`ip netns exec NS`).
    fn start(listen: &str, seed: Option<SocketAddr>, prefix: &[&str]) -> Proc {
        let mut cmd = match prefix.split_first() {
            Some((first, rest)) => {
                let mut c = Command::new(first);
                c.args(rest).arg(NODE);
                c
            }
            None => Command::new(NODE),
        };
        cmd.arg("serve").stdout(Stdio::piped()).stderr(Stdio::inherit());
        for var in ["COREMESH_CORES", "COREMESH_CONTROL_CORE", "COREMESH_COOKIE", "COREMESH_CLUSTER"] {
            cmd.env_remove(var);
        }
        // A development cluster: the default cookie (tests/tls.rs covers the rule).
        cmd.env("COREMESH_DEV", "1")
            .env("COREMESH_LISTEN", listen)
            .env("COREMESH_HEARTBEAT_MS", HEARTBEAT_MS.to_string())
            .env("COREMESH_CONNECTION_TIMEOUT_MS", TIMEOUT_MS.to_string());
        match seed {
            Some(s) => cmd.env("COREMESH_SEEDS", s.to_string()),
            None => cmd.env_remove("COREMESH_SEEDS"),
        };
        let mut child = cmd.spawn().expect("spawn coremesh-node");
        let stdout = child.stdout.take().expect("piped stdout");
        let lines = procs::lines_of(stdout);
        let ready = lines.recv_timeout(T).unwrap_or_default();
        let words: Vec<&str> = ready.split_whitespace().collect();
        if words.len() < 5 || words[0] != "ready" {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the child's first line is not `ready …` within 20 s: {ready:?}");
        }
        let node = NodeId(u64::from_str_radix(words[1], 16).unwrap());
        let p: Vec<u32> = words[4].split('.').map(|x| x.parse().unwrap()).collect();
        let echoer =
            ActorRef::from_id(ActorId { node, core: CoreId(p[0] as u16), slot: p[1], generation: p[2] });
        Proc { child, node, echoer, lines, seen: Default::default() }
    }

    /// Waits until the child has printed `member <what> <node>` `times` times
    /// in all; false after `limit`.
    fn saw_n(&self, what: &str, node: NodeId, times: usize, limit: Duration) -> bool {
        let want = format!("member {what} {:016x}", node.0);
        let deadline = Instant::now() + limit;
        loop {
            if self.seen.borrow().iter().filter(|l| **l == want).count() >= times {
                return true;
            }
            let Some(left) = deadline.checked_duration_since(Instant::now()) else { return false };
            match self.lines.recv_timeout(left) {
                Ok(line) => self.seen.borrow_mut().push(line),
                Err(_) => return false,
            }
        }
    }

    /// Waits until the child has printed `member <what> <node>`.
    fn saw(&self, what: &str, node: NodeId, limit: Duration) -> bool {
        self.saw_n(what, node, 1, limit)
    }

    fn signal(&self, sig: libc::c_int) {
        // SAFETY: kill(2) has no memory preconditions; the pid is our own live child.
        assert_eq!(unsafe { libc::kill(self.child.id() as libc::pid_t, sig) }, 0);
    }
}

fn local_node(seed: Option<SocketAddr>) -> Node {
    let b = Config::builder()
        .env_source(|_| None)
        .dev_mode(true)
        .listen("127.0.0.1:0".parse().unwrap())
        .heartbeat_interval_ms(HEARTBEAT_MS)
        .connection_timeout_ms(TIMEOUT_MS)
        .seeds(seed);
    Node::start(b.build().expect("config")).expect("node starts")
}

/// The cluster lock, a node in this process (subscribed to its events) and a
/// child that joined it and is up there.
fn a_node_and_a_child() -> (std::sync::MutexGuard<'static, ()>, Node, coremesh::Subscription, Proc) {
    let serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let a = local_node(None);
    let sub = a.subscribe();
    let b = Proc::start("127.0.0.1:0", Some(a.listen_addr()), &[]);
    a.wait_for(|s| s.is_up(b.node), T).expect("b up");
    (serial, a, sub, b)
}

/// Waits for the next event about `node` on `sub`, skipping others.
fn next_event_about(sub: &coremesh::Subscription, node: NodeId, limit: Duration) -> Option<MemberEvent> {
    let deadline = Instant::now() + limit;
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        let event = sub.next_timeout(left)?;
        let about = match &event {
            MemberEvent::MemberUp(m) | MemberEvent::MemberLeft(m) | MemberEvent::MemberDown(m) => m.node,
            MemberEvent::Lagged { missed } => panic!("the test fell {missed} events behind"),
        };
        if about == node {
            return Some(event);
        }
    }
    None
}

#[test]
fn three_nodes_join_from_one_seed_and_a_graceful_leave_is_seen_as_left() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let a = local_node(None);
    let sub = a.subscribe();
    let started = Instant::now();
    let b = Proc::start("127.0.0.1:0", Some(a.listen_addr()), &[]);
    let c = Proc::start("127.0.0.1:0", Some(a.listen_addr()), &[]);
    let state = a.wait_for(|s| s.up_nodes().len() == 3, T).expect("three members up on the seed");
    println!("three nodes up on the seed {:?} after the first child started", started.elapsed());
    assert_eq!(state.this_node, a.id());
    for (p, others) in [(&b, [a.id(), c.node]), (&c, [a.id(), b.node])] {
        for other in others {
            assert!(p.saw("up", other, T), "{} never saw {other} up", p.node);
        }
    }
    // A graceful shutdown (SIGTERM) is a leave, not a failure, on every survivor.
    c.signal(libc::SIGTERM);
    let left = loop {
        match next_event_about(&sub, c.node, T) {
            Some(MemberEvent::MemberUp(_)) => continue,
            other => break other,
        }
    };
    assert!(matches!(left, Some(MemberEvent::MemberLeft(ref m)) if m.node == c.node), "{left:?}");
    assert!(b.saw("left", c.node, T), "b never saw c leave");
    // Nothing later turns the leave into a failure.
    std::thread::sleep(Duration::from_millis(2 * TIMEOUT_MS));
    assert_eq!(next_event_about(&sub, c.node, Duration::ZERO), None);
    assert_eq!(a.cluster_state().member(c.node).map(|m| m.status), Some(MemberStatus::Left));
    drop((b, c));
    a.shutdown().unwrap();
}

#[test]
fn a_killed_node_fails_a_thousand_asks_in_flight_and_the_survivors_keep_serving() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let a = local_node(None);
    let mut b = Proc::start("127.0.0.1:0", Some(a.listen_addr()), &[]);
    let c = Proc::start("127.0.0.1:0", Some(a.listen_addr()), &[]);
    a.wait_for(|s| s.up_nodes().len() == 3, T).expect("three members up");
    // Each ask naps 20 ms on b's core, so nearly all of them are still queued.
    // `into_future` sends an ask at once: all 1000 are in flight before the kill.
    let asks: Vec<_> = (0..1000)
        .map(|_| {
            std::future::IntoFuture::into_future(
                a.ask(&b.echoer, Nap { ms: 20 }).timeout(Duration::from_secs(60)),
            )
        })
        .collect();
    std::thread::sleep(Duration::from_millis(100));
    b.child.kill().expect("kill -9");
    let killed = Instant::now();
    let mut lost = 0;
    for ask in asks {
        match futures_lite::future::block_on(ask) {
            Ok(()) => {}
            Err(AskError::ConnectionLost { node }) if node == b.node => lost += 1,
            Err(e) => panic!("an ask ended with {e} instead of ConnectionLost"),
        }
    }
    let all_ended = killed.elapsed();
    println!("{lost} of 1000 asks failed with ConnectionLost, the last {all_ended:?} after kill -9");
    assert!(lost >= 900, "only {lost} asks were still in flight");
    assert!(all_ended < Duration::from_millis(TIMEOUT_MS) + Duration::from_secs(2), "{all_ended:?}");
    a.wait_for(|s| s.member(b.node).is_some_and(|m| m.status == MemberStatus::Down), T).expect("b down on a");
    assert!(c.saw("down", b.node, T), "c never saw b down");
    // The survivors still serve each other, and a ref to the dead node says so.
    assert_eq!(a.ask(&c.echoer, Echo { n: 5 }).timeout(T).wait(), Ok(5));
    assert!(matches!(
        a.ask(&b.echoer, Echo { n: 1 }).timeout(T).wait(),
        Err(AskError::NotSent(coremesh::TellError::NodeGone { .. }))
    ));
    drop(c);
    a.shutdown().unwrap();
}

#[test]
fn a_paused_node_is_declared_down_in_time_and_rejoins_without_repeating_a_message() {
    let (_serial, a, sub, b) = a_node_and_a_child();
    let mut seq = 0u64;
    let mut send_for = |d: Duration| {
        let until = Instant::now() + d;
        while Instant::now() < until {
            let _ = a.tell(&b.echoer, Seq { sender: 1, seq });
            seq += 1;
            std::thread::sleep(Duration::from_micros(200));
        }
    };
    send_for(Duration::from_millis(300));
    b.signal(libc::SIGSTOP);
    let stopped = Instant::now();
    let down = loop {
        match next_event_about(&sub, b.node, T) {
            Some(MemberEvent::MemberUp(_)) => continue,
            other => break other,
        }
    };
    let detected = stopped.elapsed();
    println!("SIGSTOP detected after {detected:?} (connection timeout {TIMEOUT_MS} ms)");
    assert!(matches!(down, Some(MemberEvent::MemberDown(_))), "{down:?}");
    assert!(detected < Duration::from_millis(2 * TIMEOUT_MS + 1000), "{detected:?}");
    send_for(Duration::from_millis(200));
    b.signal(libc::SIGCONT);
    let up = next_event_about(&sub, b.node, T);
    assert!(matches!(up, Some(MemberEvent::MemberUp(_))), "b did not rejoin: {up:?}");
    send_for(Duration::from_millis(500));
    let (seen, repeats) = a.ask(&b.echoer, SeqRepeats).timeout(T).wait().expect("b answers after rejoining");
    println!("b saw {seen} of {seq} numbered tells, {repeats} repeated");
    assert!(seen > 0);
    assert_eq!(repeats, 0, "a message was delivered twice or out of order");
    drop(b);
    a.shutdown().unwrap();
}

#[test]
fn monitors_and_links_hear_when_a_remote_node_is_killed() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let a = local_node(None);
    let mut b = Proc::start("127.0.0.1:0", Some(a.listen_addr()), &[]);
    a.wait_for(|s| s.is_up(b.node), T).expect("b up");
    let heard = std::sync::Arc::new(Mutex::new(Vec::new()));
    let stopped = std::sync::Arc::new(Mutex::new(None));
    let (target, h, st) = (b.echoer, heard.clone(), stopped.clone());
    a.spawn_on(CoreId(0), move || Watcher { target, heard: h }).wait().expect("watcher");
    a.spawn_on(CoreId(0), move || Linked { target, stopped: st }).wait().expect("linked");
    // The watch requests reach b before it dies: its echoer still answers after them.
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(a.ask(&b.echoer, Echo { n: 1 }).timeout(T).wait(), Ok(1));
    b.child.kill().expect("kill -9");
    let want_node = format!("node-down {:016x}", b.node.0);
    let deadline = Instant::now() + T;
    let all_heard = loop {
        let h = heard.lock().unwrap().clone();
        let done = h.contains(&want_node) && h.iter().any(|l| l.starts_with("actor-down"));
        if done || Instant::now() > deadline {
            break h;
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    assert!(all_heard.contains(&want_node), "{all_heard:?}");
    assert!(all_heard.contains(&format!("actor-down {:?}", DownReason::NodeDown)), "{all_heard:?}");
    let deadline = Instant::now() + T;
    while stopped.lock().unwrap().is_none() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    let reason = stopped.lock().unwrap().clone();
    assert!(
        matches!(reason, Some(StopReason::LinkedFailure { reason: DownReason::NodeDown, .. })),
        "the linked actor stopped with {reason:?}"
    );
    drop(b);
    a.shutdown().unwrap();
}

#[test]
fn a_peer_working_through_a_backlog_longer_than_the_timeout_is_not_declared_down() {
    let (_serial, a, sub, b) = a_node_and_a_child();
    // Twice the connection timeout of work (naps of 2 ms) queued for one actor
    // of b, all sent at once from a's core 0 straight to b's core 0: a's own
    // frames (a ping would be among them) wait behind it all, and b reads it
    // in one go.
    let naps = TIMEOUT_MS;
    let echoer = b.echoer;
    a.run_on(CoreId(0), move || {
        glommio::spawn_local(async move {
            for _ in 0..naps {
                echoer.send(Nap { ms: 2 }).await.expect("b takes the work");
            }
        })
        .detach();
    })
    .wait()
    .unwrap();
    let started = Instant::now();
    // b answers once the backlog is done; nobody was declared down meanwhile.
    let answer = a.ask(&b.echoer, Echo { n: 7 }).timeout(T).wait();
    println!("b answered after {:?} of queued work ({naps} naps of 2 ms)", started.elapsed());
    assert_eq!(answer, Ok(7));
    let events: Vec<MemberEvent> =
        std::iter::from_fn(|| next_event_about(&sub, b.node, Duration::from_millis(10))).collect();
    assert!(events.iter().all(|e| matches!(e, MemberEvent::MemberUp(_))), "a saw {events:?}");
    assert!(!b.saw("down", a.id(), Duration::from_millis(10)), "b declared a down");
    assert_eq!(a.cluster_state().member(b.node).map(|m| m.status), Some(MemberStatus::Up));
    drop(b);
    a.shutdown().unwrap();
}

/// A port free on loopback for both TCP and UDP right now.
fn free_port() -> u16 {
    loop {
        let tcp = std::net::TcpListener::bind("127.0.0.1:0").expect("a free TCP port");
        let port = tcp.local_addr().unwrap().port();
        if std::net::UdpSocket::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

#[test]
fn a_node_restarted_at_the_same_address_is_a_new_member_and_old_refs_say_it_is_gone() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let a = local_node(None);
    let addr = format!("127.0.0.1:{}", free_port());
    let mut b = Proc::start(&addr, Some(a.listen_addr()), &[]);
    a.wait_for(|s| s.is_up(b.node), T).expect("b up");
    assert_eq!(a.ask(&b.echoer, Echo { n: 1 }).timeout(T).wait(), Ok(1));
    let (old_node, old_echoer) = (b.node, b.echoer);
    // kill -9, and start again at once at the same address (before a may even
    // have noticed the old process is gone).
    b.child.kill().expect("kill -9");
    b.child.wait().expect("reaped");
    let b2 = Proc::start(&addr, Some(a.listen_addr()), &[]);
    assert_ne!(b2.node, old_node, "a restarted process draws a new node id");
    let state = a
        .wait_for(
            |s| s.is_up(b2.node) && s.member(old_node).is_some_and(|m| m.status == MemberStatus::Down),
            T,
        )
        .expect("the new node up and the old one down");
    assert_eq!(state.member(b2.node).map(|m| m.addr), state.member(old_node).map(|m| m.addr));
    assert_eq!(a.ask(&b2.echoer, Echo { n: 2 }).timeout(T).wait(), Ok(2), "refs to the new node work");
    let old = a.ask(&old_echoer, Echo { n: 3 }).timeout(T).wait();
    assert!(
        matches!(old, Err(AskError::NotSent(coremesh::TellError::NodeGone { node })) if node == old_node),
        "an ask to the old incarnation: {old:?}"
    );
    let message = a.tell(&old_echoer, Echo { n: 4 }).unwrap_err().to_string();
    assert!(message.contains(&old_node.to_string()) && message.contains("gone"), "{message}");
    drop(b2);
    a.shutdown().unwrap();
}

/// Records the UDP payloads sent from port `from` to port `to` on loopback
/// until `stop`, with a packet socket (needs root: `None` otherwise).
fn capture_udp(
    from: u16,
    to: u16,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
) -> Option<std::thread::JoinHandle<Vec<Vec<u8>>>> {
    // SAFETY: socket(2) has no memory preconditions.
    let fd = unsafe {
        libc::socket(libc::AF_PACKET, libc::SOCK_DGRAM, i32::from((libc::ETH_P_IP as u16).to_be()))
    };
    if fd < 0 {
        eprintln!("skipped: no packet socket ({})", std::io::Error::last_os_error());
        return None;
    }
    let timeout = libc::timeval { tv_sec: 0, tv_usec: 100_000 };
    // SAFETY: `timeout` is a valid timeval of the size passed.
    unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_RCVTIMEO,
            (&timeout as *const libc::timeval).cast(),
            std::mem::size_of::<libc::timeval>() as u32,
        )
    };
    Some(std::thread::spawn(move || {
        let mut seen = Vec::new();
        let mut buf = vec![0u8; 65536];
        while !stop.load(std::sync::atomic::Ordering::Relaxed) {
            // SAFETY: `ll` is a zeroed sockaddr_ll of the length passed.
            let mut ll: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
            let mut len = std::mem::size_of::<libc::sockaddr_ll>() as u32;
            // SAFETY: `buf` and `ll` are valid writable buffers of the lengths passed.
            let n = unsafe {
                libc::recvfrom(
                    fd,
                    buf.as_mut_ptr().cast(),
                    buf.len(),
                    0,
                    (&mut ll as *mut libc::sockaddr_ll).cast(),
                    &mut len,
                )
            };
            // Loopback shows each packet going out and coming in: keep one.
            if n <= 0 || ll.sll_pkttype == libc::PACKET_OUTGOING {
                continue;
            }
            let p = &buf[..n as usize];
            let ihl = usize::from(p[0] & 0x0f) * 4;
            if p.len() < ihl + 8 || p[9] != libc::IPPROTO_UDP as u8 {
                continue;
            }
            let port = |at: usize| u16::from_be_bytes([p[at], p[at + 1]]);
            if port(ihl) == from && port(ihl + 2) == to {
                seen.push(p[ihl + 8..].to_vec());
            }
        }
        // SAFETY: `fd` is ours and closed once.
        unsafe { libc::close(fd) };
        seen
    }))
}

#[test]
fn a_killed_node_is_declared_down_while_an_attacker_replays_its_gossip() {
    // The figure for the replay finding: kill -9 detection time at a peer,
    // without and then with an attacker replaying every gossip datagram the
    // killed node sent (captured on the wire, resent every 20 ms from its
    // own address and port). The guard (sequence numbers under the HMAC,
    // `membership/replay.rs`) drops them, so the two times are alike; the
    // regression test of the guard itself is the machine's
    // `a_replayed_probe_ack_does_not_keep_a_killed_node_up`.
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    for attack in [false, true] {
        let (_serial, a, sub, mut b) = a_node_and_a_child();
        let b_addr = a.cluster_state().member(b.node).expect("b is a member").addr;
        let stop = Arc::new(AtomicBool::new(false));
        let mut replayed = Vec::new();
        if attack {
            let Some(capture) = capture_udp(b_addr.port(), a.listen_addr().port(), stop.clone()) else {
                return;
            };
            std::thread::sleep(Duration::from_secs(3));
            stop.store(true, Ordering::Relaxed);
            replayed = capture.join().expect("capture");
            assert!(!replayed.is_empty(), "no gossip from b to a was captured in 3 s");
            stop.store(false, Ordering::Relaxed);
        }
        b.child.kill().expect("kill -9");
        b.child.wait().expect("reaped");
        let killed = Instant::now();
        let replayer = attack.then(|| {
            let (stop, a_addr, packets) = (stop.clone(), a.listen_addr(), replayed.clone());
            let socket = std::net::UdpSocket::bind(b_addr).expect("the killed node's gossip address is free");
            std::thread::spawn(move || {
                let mut sent = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    for p in &packets {
                        sent += u64::from(socket.send_to(p, a_addr).is_ok());
                    }
                    std::thread::sleep(Duration::from_millis(20));
                }
                sent
            })
        });
        // The subscription opened with b's MemberUp: wait past it.
        let event = std::iter::from_fn(|| next_event_about(&sub, b.node, T))
            .find(|e| !matches!(e, MemberEvent::MemberUp(_)));
        let detected = killed.elapsed();
        stop.store(true, Ordering::Relaxed);
        let sent = replayer.map(|r| r.join().expect("replayer")).unwrap_or(0);
        assert!(
            matches!(event, Some(MemberEvent::MemberDown(_))),
            "b not declared down within {T:?}: {event:?}"
        );
        println!(
            "kill -9 declared down after {detected:?} ({}; {} datagrams captured, {sent} replayed)",
            if attack { "with a replaying attacker" } else { "no attacker" },
            replayed.len()
        );
        a.shutdown().unwrap();
    }
}
