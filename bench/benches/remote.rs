//! Remote benches: the raw-TCP baselines `raw/blocking_pingpong_rtt`,
//! `raw/busy_pingpong_rtt`, `raw/stream_16b`, `raw/stream_1k`, then
//! coremesh's `remote/ask_rtt`, `remote/tell_u64`, `remote/tell_1k`, and a
//! verdict table dividing each coremesh figure by its baseline.
//!
//! By default both peers are child processes (`coremesh-bench raw-peer`, then
//! `coremesh-bench peer`, one at a time) pinned to the second allowed CPU; the
//! client is this thread (raw) or a one-core coremesh node (coremesh), pinned
//! to the first. With one CPU nothing is pinned and a note says so. Each
//! figure runs once for a fixed time (criterion's iteration model fits
//! fixed-duration ping-pongs poorly). This file must never measure against a
//! peer it did not name in its output.
//!
//! Run: `cargo bench -p coremesh-bench --bench remote [-- FILTER...]`.
//! Env: `COREMESH_BENCH_PEER=host:port` uses an already running raw peer
//! (`cargo run -p coremesh-bench --release -- raw-peer --listen 0.0.0.0:7701 --cpu 1`),
//! `COREMESH_BENCH_PEER_COREMESH=host:port` an already running coremesh peer
//! (`cargo run -p coremesh-bench --release -- peer --listen 0.0.0.0:7700`);
//! `COREMESH_BENCH_SECS=S` sets each figure's minimum run time (default 2);
//! `COREMESH_BENCH_COUNT_ALLOCS=1` makes the spawned coremesh peer print its
//! allocations per received message when it exits.

use std::net::SocketAddr;
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use coremesh_bench::mesh::{self, MeshClient};
use coremesh_bench::raw::{self, PeerProcess};
use coremesh_bench::report::{self, Figure, Row};
use coremesh_bench::{compare, raw::context};

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

fn run() -> Result<(), String> {
    // `cargo bench` passes `--bench`; anything not starting with `-` filters by name.
    let filters: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with('-')).collect();
    let wanted = |name: &str| filters.is_empty() || filters.iter().any(|f| name.contains(f.as_str()));
    let secs = match std::env::var("COREMESH_BENCH_SECS") {
        Err(_) => DEFAULT_SECS,
        Ok(s) => s
            .parse::<f64>()
            .ok()
            .filter(|v| v.is_finite() && *v > 0.0 && *v <= 3600.0)
            .ok_or_else(|| format!("COREMESH_BENCH_SECS: expected seconds in (0, 3600], got {s:?}"))?,
    };
    let min_duration = Duration::from_secs_f64(secs);
    let count_allocs = std::env::var("COREMESH_BENCH_COUNT_ALLOCS").is_ok_and(|v| v == "1");
    let cpus = raw::allowed_cpus().map_err(|e| e.to_string())?;
    let external = std::env::var("COREMESH_BENCH_PEER").ok();
    let external_mesh = std::env::var("COREMESH_BENCH_PEER_COREMESH").ok();
    let exe = Path::new(env!("CARGO_BIN_EXE_coremesh-bench"));
    let (client_cpu, peer_cpu) = match cpus[..] {
        [c, p, ..] => (Some(c), Some(p)),
        [c] if external.is_some() && external_mesh.is_some() => (Some(c), None),
        _ => {
            println!("note: fewer than two CPUs are allowed; clients and peers run unpinned");
            (None, None)
        }
    };
    let client_pin =
        client_cpu.map_or("client unpinned".to_string(), |c| format!("client pinned to cpu {c}"));
    let pinning = match peer_cpu {
        Some(p) => format!("{client_pin}, peer to cpu {p}"),
        None => format!("{client_pin}, peer unpinned"),
    };
    let host = report::host_line();
    let mut setup = Vec::new();
    let mut rows = Vec::new();

    if report::BASELINES.iter().any(|n| wanted(n)) {
        // Keeps a spawned raw peer alive until its baselines are done.
        let (addr, _spawned) = match &external {
            Some(peer) => {
                let addr = raw::resolve(peer).map_err(|e| format!("COREMESH_BENCH_PEER: {e}"))?;
                setup.push(format!("raw: external peer {addr} (COREMESH_BENCH_PEER), {client_pin}"));
                (addr, None)
            }
            None => {
                let peer =
                    raw::spawn_peer(exe, peer_cpu).map_err(|e| format!("starting the raw peer: {e}"))?;
                let addr = peer.addr();
                setup.push(format!("raw: local raw-peer pid {} at {addr}, {pinning}", peer.pid()));
                (addr, Some(peer))
            }
        };
        // On a thread of its own: pinning narrows the affinity of the pinned
        // thread and of every process it spawns, and the coremesh peer comes next.
        let raw_rows = std::thread::scope(|s| {
            s.spawn(|| report::run_baselines(addr, client_cpu, min_duration, wanted)).join()
        })
        .map_err(|_| "the raw baselines' thread panicked".to_string())?
        .map_err(|e| e.to_string())?;
        rows.extend(raw_rows);
    }

    if mesh::FIGURES.iter().any(|n| wanted(n)) {
        let (addr, listen, spawned) = match &external_mesh {
            Some(peer) => {
                let addr = raw::resolve(peer).map_err(|e| format!("COREMESH_BENCH_PEER_COREMESH: {e}"))?;
                (addr, SocketAddr::from(([0, 0, 0, 0], 0)), None)
            }
            None => {
                let peer = raw::spawn_coremesh_peer(exe, peer_cpu, count_allocs)
                    .map_err(|e| format!("starting the coremesh peer: {e}"))?;
                (peer.addr(), SocketAddr::from(([127, 0, 0, 1], 0)), Some(peer))
            }
        };
        let client = MeshClient::connect(addr, client_cpu, listen).map_err(|e| e.to_string())?;
        setup.push(match &spawned {
            Some(p) => format!(
                "coremesh: local peer pid {} ({}) at {addr}, one worker core each, {pinning}",
                p.pid(),
                client.peer(),
            ),
            None => format!(
                "coremesh: external peer {} at {addr} (COREMESH_BENCH_PEER_COREMESH), {client_pin}",
                client.peer(),
            ),
        });
        rows.extend(measure_mesh(&client, min_duration, wanted)?);
        client.shutdown().map_err(|e| e.to_string())?;
        finish(spawned)?;
    }

    println!("{host}");
    for line in &setup {
        println!("{line}");
    }
    println!("each figure >= {secs} s (ping-pongs and asks after a warm-up)\n");
    print!("{}", report::markdown_table(&rows));
    println!();
    print!("{}", compare::verdict_table(&rows));
    Ok(())
}

/// Runs every coremesh figure `wanted` accepts against the connected peer.
fn measure_mesh(
    client: &MeshClient,
    min: Duration,
    wanted: impl Fn(&str) -> bool,
) -> Result<Vec<Row>, String> {
    let mut rows = Vec::new();
    for name in mesh::FIGURES.into_iter().filter(|n| wanted(n)) {
        let figure = match name {
            mesh::ASK_RTT => client.ask_rtt(min).map(Figure::Latency),
            mesh::TELL_U64 => client.tell_u64(min).map(Figure::Throughput),
            _ => client.tell_1k(min).map(Figure::Throughput),
        }
        .map_err(|e| context(e, name).to_string())?;
        rows.push(Row { name, figure });
    }
    Ok(rows)
}

/// Lets a spawned coremesh peer exit cleanly (closing its stdin), so what it
/// prints at exit (allocation counts) is seen before the tables.
fn finish(spawned: Option<PeerProcess>) -> Result<(), String> {
    let Some(peer) = spawned else { return Ok(()) };
    let status =
        peer.finish(Duration::from_secs(10)).map_err(|e| format!("stopping the coremesh peer: {e}"))?;
    if !status.success() {
        return Err(format!("the coremesh peer exited with {status}"));
    }
    Ok(())
}
