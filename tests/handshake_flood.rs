//! A flood of trickling connections against a `coremesh-node serve` child
//! limited to 1,024 file descriptors (issue 16; issue 10, item 4): 2,000
//! connections from 127.0.0.2 send a valid Hello one byte at a time, first
//! opened once, then re-opened as fast as the node closes them; meanwhile a
//! node in this process connects from 127.0.0.1 and asks the child's echoer.
//! Before the handshake bounds the child ran out of descriptors and the
//! legitimate peer could not connect at all.
//!
//! Also checks that the child logs what it turned away as a summary (at most
//! one line per core per second), not one line per connection.
//!
//! Needs a hard RLIMIT_NOFILE of at least 4,096 for this process (it raises
//! its soft limit to the hard one); it prints why and passes without running
//! otherwise. The times printed are the figures for the notes (`cargo test
//! --test handshake_flood -- --nocapture`); none is asserted.

#[path = "fixture/procs.rs"]
mod procs;
mod raw_peer;
mod trickle;

#[path = "fixture/echoer.rs"]
mod echoer;

use std::io::{BufRead, BufReader};
use std::net::{Ipv4Addr, SocketAddr};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use coremesh::wire::Handshake;
use coremesh::{ActorId, ActorRef, Config, CoreId, Node, NodeId};
use echoer::{Echo, Echoer};
use trickle::{connect_from, spread, Conn};

const NODE: &str = env!("CARGO_BIN_EXE_coremesh-node");
/// Connections the attacker keeps trickling.
const FLOOD: usize = 2000;
/// The child's file descriptor limit (a common default).
const CHILD_FDS: u32 = 1024;
/// One byte per connection per this.
const EVERY: Duration = Duration::from_millis(100);
/// The bound on every wait here.
const T: Duration = Duration::from_secs(20);
/// The child's handshake deadline: the default.
const DEADLINE: Duration = Duration::from_millis(3000);

/// Raises this process's soft descriptor limit to its hard one; `Err` says
/// why the test cannot run.
fn raise_fd_limit() -> Result<u64, String> {
    let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit writes one `rlimit` into the live local it is given.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return Err(format!("getrlimit: {}", std::io::Error::last_os_error()));
    }
    if lim.rlim_max < 4096 {
        return Err(format!("the hard RLIMIT_NOFILE is {}, under 4096", lim.rlim_max));
    }
    lim.rlim_cur = lim.rlim_max;
    // SAFETY: setrlimit reads one `rlimit` from the live local it is given.
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) } != 0 {
        return Err(format!("setrlimit: {}", std::io::Error::last_os_error()));
    }
    Ok(lim.rlim_max)
}

/// A `coremesh-node serve` child under `ulimit -n 1024`, its echoer on core
/// 0, and the summary lines its stderr has carried so far.
struct Served {
    child: Child,
    addr: SocketAddr,
    echoer: ActorRef<Echoer>,
    summaries: Arc<Mutex<Vec<String>>>,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn serve() -> Served {
    let script = format!("ulimit -n {CHILD_FDS} && exec \"$0\" serve");
    let mut cmd = Command::new("sh");
    cmd.arg("-c").arg(script).arg(NODE).stdout(Stdio::piped()).stderr(Stdio::piped());
    for (var, _) in std::env::vars().filter(|(v, _)| v.starts_with("COREMESH_")) {
        cmd.env_remove(var);
    }
    cmd.env("COREMESH_LISTEN", "127.0.0.1:0").env("COREMESH_DEV", "1");
    let mut child = cmd.spawn().expect("spawn coremesh-node");
    let (stdout, stderr) = (child.stdout.take().unwrap(), child.stderr.take().unwrap());
    let summaries = Arc::new(Mutex::new(Vec::new()));
    let seen = summaries.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if line.contains("in the last") || line.contains("since the start") {
                seen.lock().unwrap().push(line);
            } else {
                eprintln!("child: {line}");
            }
        }
    });
    let lines = procs::lines_of(stdout);
    let ready = lines.recv_timeout(T).unwrap_or_default();
    let words: Vec<&str> = ready.split_whitespace().collect();
    if words.len() < 5 || words[0] != "ready" {
        let _ = child.kill();
        panic!("the child's first line is not `ready …` within {T:?}: {ready:?}");
    }
    let node = NodeId(u64::from_str_radix(words[1], 16).unwrap());
    let addr: SocketAddr = words[3].parse().unwrap();
    let p: Vec<u32> = words[4].split('.').map(|x| x.parse().unwrap()).collect();
    let echoer = ActorRef::from_id(ActorId { node, core: CoreId(p[0] as u16), slot: p[1], generation: p[2] });
    Served { child, addr, echoer, summaries }
}

/// The attacker: `FLOOD` connections from `sources` in turn, each sending
/// `hello` one byte per `EVERY`; while `churn` is set, each one the node
/// closes is opened again. Runs until `stop`.
fn flood(
    to: SocketAddr,
    sources: Vec<Ipv4Addr>,
    hello: Vec<u8>,
    opened: mpsc::Sender<()>,
    churn: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
) -> Flooded {
    let open = |i: usize| {
        let from = sources[i % sources.len()];
        Conn::new(connect_from(from, to, T).expect("the attacker's connect"), hello.clone())
    };
    let mut conns: Vec<Conn> = (0..FLOOD).map(open).collect();
    let mut out = Flooded { made: FLOOD, ..Flooded::default() };
    // Whether each connection's close is in `out` yet.
    let mut counted = vec![false; FLOOD];
    opened.send(()).unwrap();
    let until = Instant::now() + 3 * T;
    while !stop.load(Ordering::SeqCst) && Instant::now() < until {
        for c in conns.iter_mut() {
            c.step();
        }
        for (c, counted) in conns.iter().zip(counted.iter_mut()) {
            match c.lived() {
                Some(lived) if !*counted => {
                    *counted = true;
                    match lived {
                        short if short < DEADLINE / 2 => out.shed += 1,
                        long => out.held.push(long),
                    }
                }
                _ => {}
            }
        }
        if churn.load(Ordering::SeqCst) {
            let closed =
                conns.iter_mut().zip(counted.iter_mut()).enumerate().filter(|(_, (c, _))| c.closed.is_some());
            for (i, (c, counted)) in closed {
                *c = open(i);
                *counted = false;
                out.made += 1;
            }
        }
        trickle::watch(&mut conns, Instant::now() + EVERY);
    }
    out.open = conns.iter().filter(|c| c.closed.is_none()).count();
    out
}

/// What the attacker saw.
#[derive(Default)]
struct Flooded {
    /// Connections opened in all.
    made: usize,
    /// Closed by the node at once (in under half the deadline).
    shed: usize,
    /// How long each of the others lived, from connect to close.
    held: Vec<Duration>,
    /// Still open when the flood stopped.
    open: usize,
}

/// A fresh node in this process connects to the child from 127.0.0.1:
/// how long that took, and how it ended.
fn try_connect(served: &Served) -> (Node, Duration, Result<NodeId, coremesh::ConnectError>) {
    let config =
        Config::builder().env_source(|_| None).dev_mode(true).listen("127.0.0.1:0".parse().unwrap()).build();
    let node = Node::start(config.expect("config")).expect("node starts");
    let (tx, rx) = mpsc::channel();
    let (handle, addr) = (node.handle(), served.addr);
    let started = Instant::now();
    std::thread::spawn(move || tx.send(handle.connect(addr).wait()));
    let got = rx.recv_timeout(T).unwrap_or_else(|_| panic!("connect still waiting after {T:?}"));
    (node, started.elapsed(), got)
}

/// The legitimate peer: connects to the child and asks its echoer. Returns
/// the time of the connect.
fn legitimate_connect(served: &Served, n: u64) -> Duration {
    let (node, took, got) = try_connect(served);
    got.expect("the legitimate peer connects during the flood");
    assert_eq!(node.ask(&served.echoer, Echo { n }).timeout(T).wait(), Ok(n), "the child's echoer answers");
    node.shutdown().expect("clean shutdown");
    took
}

/// Starts the flood from `sources` against `served`; returns its thread,
/// its switches (churn, stop) and how long opening the first `FLOOD` took.
fn start_flood(
    served: &Served,
    sources: Vec<Ipv4Addr>,
) -> (std::thread::JoinHandle<Flooded>, [Arc<AtomicBool>; 2], Duration) {
    let mut hello = Vec::new();
    let info = raw_peer::local_info(raw_peer::fake_node_id(0));
    Handshake::client(info, Config::DEFAULT_COOKIE, raw_peer::nonce(), &mut hello).expect("our Hello");
    let (opened_tx, opened) = mpsc::channel();
    let (churn, stop) = (Arc::new(AtomicBool::new(false)), Arc::new(AtomicBool::new(false)));
    let flooding = {
        let (to, churn, stop) = (served.addr, churn.clone(), stop.clone());
        std::thread::spawn(move || flood(to, sources, hello, opened_tx, churn, stop))
    };
    let started = Instant::now();
    opened.recv_timeout(3 * T).expect("the flood's connections open");
    (flooding, [churn, stop], started.elapsed())
}

#[test]
fn a_flood_of_trickling_connections_under_a_1024_fd_limit_leaves_room_for_a_peer() {
    let hard = match raise_fd_limit() {
        Ok(hard) => hard,
        Err(why) => {
            eprintln!("skipped: {why}");
            return;
        }
    };
    let served = serve();
    let flood_started = Instant::now();
    let (flooding, [churn, stop], opening) = start_flood(&served, vec![Ipv4Addr::new(127, 0, 0, 2)]);
    let once = legitimate_connect(&served, 1);

    // Now the attacker opens again every connection the node closes.
    churn.store(true, Ordering::SeqCst);
    std::thread::sleep(Duration::from_secs(1));
    let churning = legitimate_connect(&served, 2);
    churn.store(false, Ordering::SeqCst);
    // Past the deadline of the last connections opened, every one is closed.
    std::thread::sleep(DEADLINE + Duration::from_secs(1));
    stop.store(true, Ordering::SeqCst);
    let flood_took = flood_started.elapsed();
    let Flooded { made, shed, held, open } = flooding.join().expect("the flood");
    let summaries = served.summaries.lock().unwrap().clone();
    eprintln!(
        "flood of {FLOOD} trickling connections from 127.0.0.2 (child: ulimit -n {CHILD_FDS}, this process: {hard}): \
         opened in {opening:?}; {made} connections in all over {flood_took:?}; {shed} closed at once, {} held",
        held.len()
    );
    let (a, m, z) = spread(&held);
    eprintln!("connect to close of a held trickled Hello: min {a:?}, median {m:?}, max {z:?} (deadline {DEADLINE:?})");
    eprintln!("legitimate connect from 127.0.0.1: {once:?} after the flood opened, {churning:?} while it re-opened every closed connection");
    eprintln!("the child's summary lines ({}):", summaries.len());
    summaries.iter().for_each(|line| eprintln!("  {line}"));
    assert!(!held.is_empty() && shed > 0, "some connections were held and some shed");
    assert_eq!(open, 0, "connections still open past their deadline");
    assert!(held.iter().all(|&d| d <= DEADLINE + Duration::from_secs(3)), "a held one outlived its deadline");
    // At most one summary line per core per second (two cores), not one per connection.
    let most = 2 * (flood_took.as_secs() as usize + 2);
    assert!(!summaries.is_empty() && summaries.len() <= most, "{} summary lines", summaries.len());
}

/// Not promised, and shown here: a flood from more sources than
/// `COREMESH_HANDSHAKES_MAX` ÷ `COREMESH_HANDSHAKES_PER_SOURCE_MAX` (256 ÷ 32
/// = 8 by default) fills the node's bound, and a legitimate peer is shed with
/// the rest while places free up only as handshakes miss their deadline. Run by
/// hand: `cargo test --test handshake_flood -- --ignored --nocapture`.
#[test]
#[ignore = "shows a limit of the bounds; asserts nothing about it"]
fn a_churning_flood_from_sixteen_sources_fills_the_node_bound() {
    if let Err(why) = raise_fd_limit() {
        eprintln!("skipped: {why}");
        return;
    }
    let served = serve();
    let sources = (2..18).map(|last| Ipv4Addr::new(127, 0, 0, last)).collect();
    let (flooding, [churn, stop], _) = start_flood(&served, sources);
    churn.store(true, Ordering::SeqCst);
    std::thread::sleep(DEADLINE + Duration::from_secs(1));
    for attempt in 1..=3 {
        let (node, took, got) = try_connect(&served);
        eprintln!(
            "a legitimate connect during a flood from 16 sources, attempt {attempt}: {got:?} after {took:?}"
        );
        node.shutdown().expect("clean shutdown");
    }
    stop.store(true, Ordering::SeqCst);
    let Flooded { made, shed, held, .. } = flooding.join().expect("the flood");
    eprintln!("{made} connections in all, {shed} closed at once, {} held to the deadline", held.len());
}
