//! A supervisor with three workers on different cores (one_for_one,
//! exponential backoff): the main thread makes one worker panic, then another
//! stop normally, and the supervisor's events print each restart with its
//! reason; then the supervisor stops its workers in reverse start order.
//!
//! ```text
//! cargo run --example supervision
//! ```

use std::sync::mpsc;
use std::time::Duration;

use coremesh::supervision::{Backoff, ChildSpec, Restart, Strategy, Supervisor, SupervisorEvent};
use coremesh::{Actor, ActorRef, Config, CoreId, Ctx, Handler, Node};

/// Makes a worker panic.
#[coremesh::message_type("example.Crash")]
struct Crash;
/// Makes a worker stop normally.
#[coremesh::message_type("example.Quit")]
struct Quit;

struct Worker {
    name: &'static str,
}
impl Actor for Worker {
    async fn started(&mut self, ctx: &mut Ctx<Self>) -> Result<(), coremesh::InitError> {
        println!("  {} started as {} on {}", self.name, ctx.myself().id(), ctx.core_id());
        Ok(())
    }
    fn stopping(&mut self, _ctx: &mut Ctx<Self>) {
        println!("  {} stopping", self.name);
    }
}
impl Handler<Crash> for Worker {
    type Reply = ();
    fn handle(&mut self, _msg: &ArchivedCrash, _ctx: &mut Ctx<Self>) {
        panic!("{} was told to crash", self.name);
    }
}
impl Handler<Quit> for Worker {
    type Reply = ();
    fn handle(&mut self, _msg: &ArchivedQuit, ctx: &mut Ctx<Self>) {
        ctx.stop();
    }
}
coremesh::handlers!(Worker: Crash, Quit);

fn main() -> Result<(), Box<dyn std::error::Error>> {
    coremesh::logs::init_from_env()?;
    // The told panic is the point of the example: print it as one line.
    std::panic::set_hook(Box::new(|info| eprintln!("  (panic: {info})")));
    // One node that joins no cluster: development mode, so no cookie is needed.
    let node = Node::start(Config::builder().dev_mode(true).build()?)?;
    let last = CoreId(u16::try_from(node.cores() - 1)?);
    let ms = Duration::from_millis;
    let (tx, events) = mpsc::channel();
    let tx = std::sync::Mutex::new(tx);
    let sup = Supervisor::builder()
        .strategy(Strategy::OneForOne)
        .intensity(5, Duration::from_secs(10))
        .backoff(Backoff::exponential(ms(10), ms(1000)))
        .child(ChildSpec::new("ingest", CoreId(0), || Worker { name: "ingest" }))
        .child(ChildSpec::new("score", last, || Worker { name: "score" }))
        .child(ChildSpec::new("audit", last, || Worker { name: "audit" }).restart(Restart::Transient))
        .on_event(move |e| drop(tx.lock().map(|tx| tx.send(e.clone()))))
        .spawn_on(&node, CoreId(0))?;
    let next = |what: &str| -> Result<SupervisorEvent, String> {
        events.recv_timeout(Duration::from_secs(5)).map_err(|e| format!("waiting for {what}: {e}"))
    };
    let print = |e: &SupervisorEvent| match e {
        SupervisorEvent::Restarting { child, cause, reason, delay } => {
            println!("restart {child} in {delay:?}: {cause} stopped with {reason:?}")
        }
        other => println!("{other:?}"),
    };
    for _ in 0..3 {
        print(&next("the first starts")?);
    }

    println!("-- making score panic");
    let score = sup.child("score", Duration::from_secs(1))?.ok_or("score is not running")?;
    node.tell(&ActorRef::<Worker>::from_id(score), Crash)?;
    for _ in 0..2 {
        print(&next("score's restart")?); // Restarting, Started
    }

    println!("-- audit stops normally (transient: not restarted)");
    let audit = sup.child("audit", Duration::from_secs(1))?.ok_or("audit is not running")?;
    node.tell(&ActorRef::<Worker>::from_id(audit), Quit)?;
    print(&next("audit's removal")?);

    println!("-- stopping the supervisor");
    let stopped = sup.stop(Duration::from_secs(10))?;
    while let Ok(e) = events.try_recv() {
        print(&e);
    }
    println!("{stopped} workers stopped");
    node.shutdown()?;
    Ok(())
}
