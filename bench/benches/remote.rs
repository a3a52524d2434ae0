//! Remote benches: the raw-TCP baselines `raw/blocking_pingpong_rtt`,
//! `raw/busy_pingpong_rtt`, `raw/stream_16b`, `raw/stream_1k`, then
//! coremesh's `remote/ask_rtt`, `remote/tell_u64`, `remote/tell_1k`, then
//! the same three workloads on ractor + ractor_cluster (`ractor/ask_rtt`,
//! `ractor/tell_u64`, `ractor/tell_1k`), a verdict table dividing each
//! coremesh figure by its raw baseline and one dividing it by ractor's.
//!
//! By default every peer is a child process (`coremesh-bench raw-peer`,
//! `peer`, `ractor-peer`, one at a time) pinned to the second allowed CPU;
//! the client is a thread (raw), a one-core coremesh node (coremesh) or a
//! tokio current_thread runtime (ractor), pinned to the first. With one CPU
//! nothing is pinned and a note says so. Each figure runs once for a fixed
//! time (criterion's iteration model fits fixed-duration ping-pongs poorly).
//! The orchestration lives in `coremesh_bench::suite`, shared with
//! `coremesh-bench report`. This file must never measure against a peer it
//! did not name in its output.
//!
//! Run: `cargo bench -p coremesh-bench --bench remote [-- FILTER...]`.
//! Env: `COREMESH_BENCH_PEER=host:port` uses peers on another machine (raw at
//! port, coremesh at port + 1, ractor at port + 2: `coremesh-bench peers
//! --listen 0.0.0.0:PORT` starts all three); `COREMESH_BENCH_PEER_COREMESH`
//! and `COREMESH_BENCH_PEER_RACTOR` name those two elsewhere;
//! `COREMESH_BENCH_SECS=S` sets each figure's minimum run time (default 2);
//! `COREMESH_BENCH_COUNT_ALLOCS=1` makes the spawned coremesh peer print its
//! allocations per received message when it exits.

use std::path::PathBuf;
use std::process::ExitCode;

use coremesh_bench::report;
use coremesh_bench::suite::{Measured, Plan, SuiteError};

const DEFAULT_SECS: f64 = 2.0;

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("remote bench: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), SuiteError> {
    // `cargo bench` passes `--bench`; anything not starting with `-` filters by name.
    let filters: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with('-')).collect();
    let wanted = |name: &str| filters.is_empty() || filters.iter().any(|f| name.contains(f.as_str()));
    let plan = Plan::from_env(PathBuf::from(env!("CARGO_BIN_EXE_coremesh-bench")), None, DEFAULT_SECS)?;
    for note in &plan.notes {
        println!("{note}");
    }
    let host = report::host_line();
    let mut measured = Measured::default();
    plan.raw(&wanted, &mut measured)?;
    plan.mesh(&wanted, &mut measured)?;
    plan.ractor(&wanted, &mut measured)?;
    print!("{}", report::document(&host, &measured.setup, plan.min, &measured.rows));
    Ok(())
}
