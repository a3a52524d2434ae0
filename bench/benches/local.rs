//! Local (one node) benches: `tell/same_core`, `ask/same_core_rtt`,
//! `tell/cross_core`, `ask/cross_core_rtt`, and beside them ractor's
//! `ractor/tell_same_core` (a tokio current_thread runtime pinned to the CPU
//! of coremesh's core 0, sender and sink on it).
//!
//! All coremesh load is driven from a glommio task on worker core 0; the sink
//! lives on core 0 (same core) or core 1 (cross core). Each criterion sample
//! runs one timed loop on the measured thread and hands its `Duration` back,
//! so the bench thread never runs on the measured path. The workloads are
//! `coremesh_bench::local` and `coremesh_bench::ractor_load`, the same code
//! `coremesh-bench report` runs.
//!
//! Run: `cargo bench -p coremesh-bench --bench local`. After criterion's
//! report, one `summary:` line per throughput bench gives messages per second
//! over every sample it ran (warm-up included), then the same-core ratio
//! coremesh / ractor.

use std::cell::RefCell;
use std::time::Duration;

use coremesh_bench::local::{MeshLocal, TELL_SAME_CORE};
use coremesh_bench::measure::Stop;
use coremesh_bench::ractor_load::{RactorLocal, TELL_SAME_CORE as RACTOR_TELL_SAME_CORE};
use coremesh_bench::raw::allowed_cpus;
use criterion::{Criterion, Throughput};

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

fn main() {
    let cpus = allowed_cpus().expect("reading the allowed CPUs");
    let cpus: Vec<usize> = cpus.into_iter().take(2).collect();
    let node = MeshLocal::start(&cpus).expect("node starts");
    let sink0 = node.sink(0).expect("a sink on core 0");
    let sink1 = node.sink(1);
    if sink1.is_none() {
        println!("note: fewer than two CPUs are allowed; tell/cross_core and ask/cross_core_rtt skipped");
    }
    // Pinned to the CPU of coremesh's core 0, like the coremesh sender and sink.
    let ractor = RactorLocal::start(cpus.first().copied()).expect("ractor sink starts");

    let mut c = Criterion::default()
        .measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_secs(1))
        .sample_size(20)
        .configure_from_args();

    // One iteration is one message, so criterion reports elements/s.
    let mut tell = c.benchmark_group("tell");
    tell.throughput(Throughput::Elements(1));
    let targets = [("same_core", TELL_SAME_CORE, Some(sink0)), ("cross_core", "tell/cross_core", sink1)];
    for (id, name, sink) in targets {
        let Some(sink) = sink else { continue };
        tell.bench_function(id, |b| {
            b.iter_custom(|iters| {
                let took = node.tells(sink, Stop::Count(iters)).expect("coremesh tells").elapsed;
                record(name, iters, took);
                took
            })
        });
    }
    tell.finish();

    let mut vs = c.benchmark_group("ractor");
    vs.throughput(Throughput::Elements(1));
    vs.bench_function("tell_same_core", |b| {
        b.iter_custom(|iters| {
            let took = ractor.tells(Stop::Count(iters)).expect("ractor tells").elapsed;
            record(RACTOR_TELL_SAME_CORE, iters, took);
            took
        })
    });
    vs.finish();

    // One iteration is one ask round trip.
    let mut ask = c.benchmark_group("ask");
    for (id, sink) in [("same_core_rtt", Some(sink0)), ("cross_core_rtt", sink1)] {
        let Some(sink) = sink else { continue };
        ask.bench_function(id, |b| b.iter_custom(|iters| node.asks(sink, iters).expect("asks")));
    }
    ask.finish();

    c.final_summary();

    TOTALS.with(|t| {
        let t = t.borrow();
        let rate = |name: &str| {
            t.iter().find(|e| e.0 == name).map(|e| e.1 as f64 / e.2.as_secs_f64().max(f64::MIN_POSITIVE))
        };
        for (name, msgs, took) in t.iter() {
            let rate = *msgs as f64 / took.as_secs_f64().max(f64::MIN_POSITIVE);
            println!("summary: {name} {:.1} M msg/s ({msgs} msgs in {took:.2?})", rate / 1e6);
        }
        if let (Some(m), Some(r)) = (rate(TELL_SAME_CORE), rate(RACTOR_TELL_SAME_CORE)) {
            println!("summary: same-core tell coremesh / ractor = {:.1}× (target ≥ 5×)", m / r);
        }
    });
    drop(ractor);
    node.shutdown().expect("shutdown");
}
