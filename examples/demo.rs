//! The demo a newcomer runs first: starts a node on this machine's CPUs (from
//! `COREMESH_*` or defaults), puts a counter actor on every core, and measures
//! same-core and cross-core tells and asks for about a second each.
//!
//! ```text
//! cargo run --release --example demo
//! ```

use std::time::{Duration, Instant};

use coremesh::{Actor, ActorRef, Config, CoreId, Ctx, Handler, Node};
use rkyv::{Archive, Deserialize, Serialize};

#[derive(Archive, Serialize, Deserialize)]
struct Add {
    n: u64,
}
coremesh::message!(Add = "demo.Add");

struct Counter {
    total: u64,
}
impl Actor for Counter {}
impl Handler<Add> for Counter {
    type Reply = u64;
    fn handle(&mut self, msg: &ArchivedAdd, _ctx: &mut Ctx<Self>) -> u64 {
        self.total += msg.n.to_native();
        self.total
    }
}
coremesh::handlers!(Counter: Add);

const BURST: u64 = 1_000_000;
const ASKS: u64 = 20_000;

/// Runs `iters` tells then `ASKS` sequential asks from `from` to `to`; returns
/// (tells per second, mean ask round trip).
fn measure(node: &Node, from: CoreId, to: ActorRef<Counter>) -> (f64, Duration) {
    let (tx, rx) = std::sync::mpsc::channel();
    node.run_on(from, move || {
        glommio::spawn_local(async move {
            let t0 = Instant::now();
            for _ in 0..BURST {
                if to.tell(Add { n: 1 }).is_err() {
                    to.send(Add { n: 1 }).await.expect("send");
                }
            }
            to.ask(Add { n: 0 }).timeout(Duration::from_secs(10)).await.expect("drained");
            let tells = BURST as f64 / t0.elapsed().as_secs_f64();
            let t1 = Instant::now();
            for _ in 0..ASKS {
                to.ask(Add { n: 0 }).timeout(Duration::from_secs(1)).await.expect("ask");
            }
            let _ = tx.send((tells, t1.elapsed() / ASKS as u32));
        })
        .detach();
    })
    .wait()
    .expect("core runs");
    rx.recv_timeout(Duration::from_secs(120)).expect("measurement finished")
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let config = Config::from_env()?;
    let node = Node::start(config)?;
    println!(
        "node {} started: {} worker cores on CPUs {:?}, control thread on CPU {}",
        node.id(),
        node.cores(),
        node.config().worker_cpus(),
        node.config().control_cpu()
    );
    let here = node.spawn_on(CoreId(0), || Counter { total: 0 }).wait()?;
    let (rate, rtt) = measure(&node, CoreId(0), here);
    println!("same core : {:>7.2} M tells/s   ask round trip {:>8.2?}", rate / 1e6, rtt);
    if node.cores() > 1 {
        let there = node.spawn_on(CoreId(1), || Counter { total: 0 }).wait()?;
        let (rate, rtt) = measure(&node, CoreId(0), there);
        println!("cross core: {:>7.2} M tells/s   ask round trip {:>8.2?}", rate / 1e6, rtt);
    } else {
        println!("cross core: skipped (one worker core; set COREMESH_CORES to two CPUs)");
    }
    let outside = node.ask(&here, Add { n: 0 }).timeout(Duration::from_secs(1)).wait()?;
    println!("asked from a plain thread: counter holds {outside}");
    node.shutdown()?;
    println!("All work done");
    Ok(())
}
