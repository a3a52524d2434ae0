//! Two nodes, two shells: the second spawns an actor on the first and asks it.
//!
//! ```text
//! export COREMESH_COOKIE=$(head -c 24 /dev/urandom | base64)  # once, the same in both shells
//! cargo run --release --example ping_remote -- 127.0.0.1:5301
//! cargo run --release --example ping_remote -- 127.0.0.1:5302 127.0.0.1:5301
//! ```
//!
//! Both print `All work done`. The first registers `Ponger` for remote spawn and
//! waits; the second connects, spawns a `Ponger` there, asks it, and both stop.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use coremesh::{Actor, Config, Ctx, Handler, Node, RemoteSpawn};
use rkyv::{Archive, Deserialize, Serialize};

#[derive(Archive, Serialize, Deserialize)]
struct Ping {
    n: u64,
}
coremesh::message!(Ping = "ping_remote.Ping");

static PINGED: AtomicBool = AtomicBool::new(false);

struct Ponger {
    offset: u64,
}
impl Actor for Ponger {}
impl Handler<Ping> for Ponger {
    type Reply = u64;
    fn handle(&mut self, msg: &ArchivedPing, _ctx: &mut Ctx<Self>) -> u64 {
        PINGED.store(true, Ordering::SeqCst);
        msg.n.to_native() + self.offset
    }
}
coremesh::handlers!(Ponger: Ping);
impl RemoteSpawn for Ponger {
    const NAME: &'static str = "ping_remote.Ponger";
    type Args = u64;
    fn create(offset: &rkyv::Archived<u64>) -> Self {
        Ponger { offset: offset.to_native() }
    }
}

fn parse(arg: Option<String>, what: &str) -> Result<Option<SocketAddr>, String> {
    arg.map(|a| a.parse().map_err(|e| format!("{what} {a:?} is not an IP address and port: {e}"))).transpose()
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    coremesh::logs::init_from_env()?;
    let mut args = std::env::args().skip(1);
    let listen =
        parse(args.next(), "listen address")?.ok_or("usage: ping_remote <listen addr> [peer addr]")?;
    let peer = parse(args.next(), "peer address")?;
    let node = Node::start(Config::builder().listen(listen).build()?)?;
    println!("node {} listening on {}", node.id(), node.listen_addr());
    node.register_remote::<Ponger>();
    match peer {
        None => {
            // Serve until someone has pinged the actor they spawned here.
            let deadline = Instant::now() + Duration::from_secs(300);
            while !PINGED.load(Ordering::SeqCst) {
                if Instant::now() > deadline {
                    return Err("nobody pinged within 300 s".into());
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            // Let the reply leave before stopping.
            std::thread::sleep(Duration::from_millis(200));
        }
        Some(addr) => {
            let other = node.connect(addr).wait()?;
            println!("connected to {other}");
            let ponger = node.spawn_remote::<Ponger>(other, 1000).timeout(Duration::from_secs(5)).wait()?;
            println!("spawned {ponger:?}");
            let t0 = Instant::now();
            let answer = node.ask(&ponger, Ping { n: 1 }).timeout(Duration::from_secs(5)).wait()?;
            println!("ask answered {answer} in {:?}", t0.elapsed());
            assert_eq!(answer, 1001);
        }
    }
    node.shutdown()?;
    println!("All work done");
    Ok(())
}
