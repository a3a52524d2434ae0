//! The demo a newcomer runs first: a two-node cluster on loopback, on defaults.
//!
//! ```text
//! cargo run --release --example demo
//! ```
//!
//! It starts a second node as a child process, connects to it (authenticated
//! handshake), spawns a counter there remotely, then measures remote asks
//! (round trip), remote tells of one u64 and of 1 KiB, and same-core tells, and
//! prints the figures. With two or more CPUs each node gets its own CPU.
//!
//! The two nodes share a cookie the demo makes from 24 random bytes (unless
//! `COREMESH_COOKIE` is set) and hands to its child: a real cluster needs one
//! (a short or the default cookie is refused outside `COREMESH_DEV=1`), and the
//! demo shows how, rather than teaching the development flag first.

use std::io::{BufRead, BufReader, Read};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use coremesh::{ActorRef, Config, CoreId, Ctx, Node, RemoteSpawn};

#[coremesh::message_type("demo.Add")]
struct Add {
    n: u64,
}
#[coremesh::message_type("demo.Kilo")]
struct Kilo {
    bytes: Vec<u8>,
}

struct Counter {
    total: u64,
}

#[coremesh::actor]
impl Counter {
    #[handle]
    fn add(&mut self, msg: &ArchivedAdd, _ctx: &mut Ctx<Self>) -> u64 {
        self.total += msg.n.to_native();
        self.total
    }

    #[handle]
    fn kilo(&mut self, msg: &ArchivedKilo) -> u64 {
        self.total += msg.bytes.len() as u64;
        self.total
    }
}

impl RemoteSpawn for Counter {
    const NAME: &'static str = "demo.Counter";
    type Args = u64;
    fn create(start: &coremesh::rkyv::Archived<u64>) -> Self {
        Counter { total: start.to_native() }
    }
}

const TELLS: u64 = 1_000_000;
const KILO_TELLS: u64 = 200_000;
const ASKS: usize = 20_000;

/// The child: a node that lets the parent spawn counters, until stdin closes.
fn peer() -> Result<(), Box<dyn std::error::Error>> {
    let node = Node::start(Config::from_env()?)?;
    node.register_remote::<Counter>();
    println!("listening {} {}", node.listen_addr(), node.id());
    let _ = std::io::stdin().read_to_end(&mut Vec::new());
    node.shutdown()?;
    Ok(())
}

/// Runs `f` as a task on core 0 of `node` and returns its output.
fn on_core0<T: Send + 'static, F: std::future::Future<Output = T> + 'static>(
    node: &Node,
    f: impl FnOnce() -> F + Send + 'static,
) -> T {
    let (tx, rx) = std::sync::mpsc::channel();
    node.run_on(CoreId(0), move || {
        glommio::spawn_local(async move {
            let _ = tx.send(f().await);
        })
        .detach();
    })
    .wait()
    .expect("core 0 runs");
    rx.recv_timeout(Duration::from_secs(300)).expect("measurement finished")
}

/// Tells per second: `n` tells (waiting for room when a path is full), then an
/// ask so every tell was handled before the clock stops.
fn tells<M: coremesh::Message>(node: &Node, to: ActorRef<Counter>, n: u64, make: fn() -> M) -> f64
where
    Counter: coremesh::Handles<M>,
{
    on_core0(node, move || async move {
        let t0 = Instant::now();
        for _ in 0..n {
            let msg = make();
            if to.tell_ref(&msg).is_err() {
                to.send(msg).await.expect("send");
            }
        }
        to.ask::<Add>(Add { n: 0 }).timeout(Duration::from_secs(30)).await.expect("drained");
        n as f64 / t0.elapsed().as_secs_f64()
    })
}

/// Sorted round trips of `ASKS` sequential asks.
fn asks(node: &Node, to: ActorRef<Counter>) -> Vec<Duration> {
    on_core0(node, move || async move {
        let mut rtts = Vec::with_capacity(ASKS);
        for _ in 0..ASKS {
            let t0 = Instant::now();
            to.ask(Add { n: 0 }).timeout(Duration::from_secs(5)).await.expect("ask");
            rtts.push(t0.elapsed());
        }
        rtts.sort();
        rtts
    })
}

/// 24 random bytes from the kernel, as 48 hex digits: a cookie for this run.
fn random_cookie() -> std::io::Result<String> {
    let mut bytes = [0u8; 24];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut bytes)?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    coremesh::logs::init_from_env()?;
    if std::env::args().nth(1).as_deref() == Some("--peer") {
        return peer();
    }
    let cookie = match std::env::var("COREMESH_COOKIE") {
        Ok(cookie) => cookie,
        Err(_) => random_cookie()?,
    };
    let config = || Config::builder().cookie(cookie.as_str());
    let allowed = config().env_source(|_| None).build()?.worker_cpus().to_vec();
    let (mine, theirs) = match allowed.as_slice() {
        [a, b, ..] => (*a, Some(*b)),
        [a] => (*a, None),
        [] => return Err("no CPU allowed".into()),
    };
    let mut child = Command::new(std::env::current_exe()?);
    child
        .arg("--peer")
        .env("COREMESH_COOKIE", &cookie)
        .env("COREMESH_LISTEN", "127.0.0.1:0")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped());
    if let Some(cpu) = theirs {
        child.env("COREMESH_CORES", cpu.to_string());
    }
    let mut child = child.spawn()?;
    let line = BufReader::new(child.stdout.take().ok_or("no child stdout")?)
        .lines()
        .next()
        .ok_or("the peer node did not start")??;
    let addr: std::net::SocketAddr =
        line.split_whitespace().nth(1).ok_or("bad line from the peer")?.parse()?;

    let node = Node::start(config().cores([mine]).listen("127.0.0.1:0".parse()?).build()?)?;
    let peer = node.connect(addr).wait()?;
    println!("node {} on CPU {mine} connected to node {peer} at {addr}", node.id());
    let remote = node.spawn_remote::<Counter>(peer, 0).wait()?;
    let local = node.spawn_on(CoreId(0), || Counter { total: 0 }).wait()?;
    println!("remote-spawned a counter: {remote:?}");

    let rtts = asks(&node, remote);
    let (p50, p99) = (rtts[rtts.len() / 2], rtts[rtts.len() * 99 / 100]);
    println!("remote ask round trip : p50 {p50:>9.2?}   p99 {p99:>9.2?}");
    let rate = tells(&node, remote, TELLS, || Add { n: 1 });
    println!("remote tell, one u64  : {:>7.2} M msgs/s", rate / 1e6);
    let rate = tells(&node, remote, KILO_TELLS, || Kilo { bytes: vec![7u8; 1024] });
    println!("remote tell, 1 KiB    : {:>7.2} M msgs/s  ({:.0} MB/s)", rate / 1e6, rate * 1024.0 / 1e6);
    let rate = tells(&node, local, TELLS, || Add { n: 1 });
    println!("same-core tell        : {:>7.2} M msgs/s", rate / 1e6);
    let total = node.ask(&remote, Add { n: 0 }).timeout(Duration::from_secs(5)).wait()?;
    println!("the remote counter holds {total}");

    node.shutdown()?;
    drop(child.stdin.take());
    let status = child.wait()?;
    if !status.success() {
        return Err(format!("the peer node exited with {status}").into());
    }
    println!("All work done");
    Ok(())
}
