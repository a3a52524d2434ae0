//! Local (one node) benches: `tell/same_core`, `ask/same_core_rtt`,
//! `tell/cross_core`, `ask/cross_core_rtt`.
//!
//! All load is driven from a glommio task on worker core 0; the sink lives on
//! core 0 (same core) or core 1 (cross core). Each criterion sample starts one
//! task, which times its own loop and hands the `Duration` back through a std
//! channel, so the bench thread never runs on the measured path.
//!
//! Run: `cargo bench -p coremesh-bench --bench local`. After criterion's
//! report, one `summary:` line per throughput bench gives messages per second
//! over every sample it ran (warm-up included).

use std::cell::RefCell;
use std::sync::mpsc;
use std::time::Duration;

use coremesh::{Actor, ActorRef, Config, CoreId, Ctx, Handler, Node, TellError};
use criterion::{Criterion, Throughput};

#[derive(rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
struct Add {
    n: u64,
}
coremesh::message!(Add = "bench.Add");

struct Sink {
    total: u64,
}
impl Actor for Sink {}
impl Handler<Add> for Sink {
    type Reply = u64;
    fn handle(&mut self, msg: &ArchivedAdd, _ctx: &mut Ctx<Self>) -> u64 {
        self.total += msg.n.to_native();
        self.total
    }
}
coremesh::handlers!(Sink: Add);

/// How long one sample may take before the bench gives up.
const SAMPLE_LIMIT: Duration = Duration::from_secs(60);
const ASK_TIMEOUT: Duration = Duration::from_secs(10);

thread_local! {
    /// Per throughput bench: (messages sent, time taken), summed over samples.
    static TOTALS: RefCell<Vec<(&'static str, u64, Duration)>> = const { RefCell::new(Vec::new()) };
}

fn record(name: &'static str, msgs: u64, took: Duration) {
    TOTALS.with(|t| {
        let mut t = t.borrow_mut();
        match t.iter_mut().find(|e| e.0 == name) {
            Some(e) => {
                e.1 += msgs;
                e.2 += took;
            }
            None => t.push((name, msgs, took)),
        }
    });
}

/// Runs the future made by `make` as a task on core 0 and returns its output.
fn on_core0<F>(node: &Node, make: impl FnOnce() -> F + Send + 'static) -> Duration
where
    F: std::future::Future<Output = Duration> + 'static,
{
    let (tx, rx) = mpsc::channel();
    node.run_on(CoreId(0), move || {
        glommio::spawn_local(async move {
            let _ = tx.send(make().await);
        })
        .detach();
    })
    .wait()
    .expect("core 0 accepts work");
    rx.recv_timeout(SAMPLE_LIMIT).expect("sample finished in time")
}

/// Sends `iters` tells to `sink` (waiting for room only when a path is full),
/// then one ask so that every tell has been handled before the clock stops.
fn tell_burst(node: &Node, sink: ActorRef<Sink>, iters: u64) -> Duration {
    on_core0(node, move || async move {
        let start = std::time::Instant::now();
        for _ in 0..iters {
            match sink.tell(Add { n: 1 }) {
                Ok(()) => {}
                Err(TellError::MailboxFull { .. } | TellError::RingFull { .. }) => {
                    sink.send(Add { n: 1 }).await.expect("send");
                }
                Err(e) => panic!("tell: {e}"),
            }
        }
        sink.ask(Add { n: 0 }).timeout(ASK_TIMEOUT).await.expect("final ask");
        start.elapsed()
    })
}

/// `iters` asks to `sink`, one outstanding at a time.
fn ask_loop(node: &Node, sink: ActorRef<Sink>, iters: u64) -> Duration {
    on_core0(node, move || async move {
        let start = std::time::Instant::now();
        for _ in 0..iters {
            sink.ask(Add { n: 1 }).timeout(ASK_TIMEOUT).await.expect("ask");
        }
        start.elapsed()
    })
}

fn main() {
    let two = Config::builder().build().map(|c| c.worker_cpus().len() >= 2).unwrap_or(false);
    let cfg = if two { Config::builder().cores([0, 1]) } else { Config::builder().cores([0]) };
    let node = Node::start(cfg.build().expect("config")).expect("node starts");
    let sink0: ActorRef<Sink> = node.spawn_on(CoreId(0), || Sink { total: 0 }).wait().expect("spawn");
    let sink1: Option<ActorRef<Sink>> =
        two.then(|| node.spawn_on(CoreId(1), || Sink { total: 0 }).wait().expect("spawn"));
    if !two {
        println!("note: fewer than two CPUs are allowed; tell/cross_core and ask/cross_core_rtt skipped");
    }

    let mut c = Criterion::default()
        .measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_secs(1))
        .sample_size(20)
        .configure_from_args();

    // One iteration is one message, so criterion reports elements/s.
    let mut tell = c.benchmark_group("tell");
    tell.throughput(Throughput::Elements(1));
    let targets = [("same_core", "tell/same_core", Some(sink0)), ("cross_core", "tell/cross_core", sink1)];
    for (id, name, sink) in targets {
        let Some(sink) = sink else { continue };
        tell.bench_function(id, |b| {
            b.iter_custom(|iters| {
                let took = tell_burst(&node, sink, iters);
                record(name, iters, took);
                took
            })
        });
    }
    tell.finish();

    // One iteration is one ask round trip.
    let mut ask = c.benchmark_group("ask");
    for (id, sink) in [("same_core_rtt", Some(sink0)), ("cross_core_rtt", sink1)] {
        let Some(sink) = sink else { continue };
        ask.bench_function(id, |b| b.iter_custom(|iters| ask_loop(&node, sink, iters)));
    }
    ask.finish();

    c.final_summary();

    TOTALS.with(|t| {
        for (name, msgs, took) in t.borrow().iter() {
            let rate = *msgs as f64 / took.as_secs_f64().max(f64::MIN_POSITIVE);
            println!("summary: {name} {:.1} M msg/s ({msgs} msgs in {took:.2?})", rate / 1e6);
        }
    });
    node.shutdown().expect("shutdown");
}
