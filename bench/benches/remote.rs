//! Remote benches. For now only the raw-TCP baselines that every remote
//! coremesh figure will be printed beside (and divided by):
//! `raw/blocking_pingpong_rtt`, `raw/busy_pingpong_rtt`, `raw/stream_16b`,
//! `raw/stream_1k`.
//!
//! The peer is a `coremesh-bench raw-peer` child process pinned to the second
//! allowed CPU, the client is this thread pinned to the first; with one CPU
//! nothing is pinned and a note says so. Each baseline runs once for a fixed
//! time (criterion's iteration model fits fixed-duration ping-pongs poorly)
//! and the results print as one markdown table. This file must never measure
//! against a peer it did not name in its output.
//!
//! Run: `cargo bench -p coremesh-bench --bench remote [-- FILTER...]`.
//! Env: `COREMESH_BENCH_PEER=host:port` uses an already running peer (start
//! it on the other machine with
//! `cargo run -p coremesh-bench --release -- raw-peer --listen 0.0.0.0:7700 --cpu 1`);
//! `COREMESH_BENCH_SECS=S` sets each baseline's minimum run time (default 2).

use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use coremesh_bench::raw::{self, PeerProcess};
use coremesh_bench::report;

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
    let cpus = raw::allowed_cpus().map_err(|e| e.to_string())?;
    let external = std::env::var("COREMESH_BENCH_PEER").ok();

    // Keeps a spawned peer alive until the table is printed.
    let mut _spawned: Option<PeerProcess> = None;
    let (addr, client_cpu, setup) = match external {
        Some(peer) => {
            let addr = raw::resolve(&peer).map_err(|e| format!("COREMESH_BENCH_PEER: {e}"))?;
            let client = cpus.first().copied();
            let pin = client.map_or("client unpinned".into(), |c| format!("client pinned to cpu {c}"));
            (addr, client, format!("external peer {addr} (COREMESH_BENCH_PEER), {pin}"))
        }
        None => {
            let (client, peer_cpu) = match cpus[..] {
                [c, p, ..] => (Some(c), Some(p)),
                _ => {
                    println!("note: fewer than two CPUs are allowed; client and peer run unpinned");
                    (None, None)
                }
            };
            let exe = Path::new(env!("CARGO_BIN_EXE_coremesh-bench"));
            let peer = raw::spawn_peer(exe, peer_cpu).map_err(|e| format!("starting the peer: {e}"))?;
            let addr = peer.addr();
            let pin = match (client, peer_cpu) {
                (Some(c), Some(p)) => format!("client pinned to cpu {c}, peer to cpu {p}"),
                _ => "unpinned".into(),
            };
            let setup = format!("local peer pid {} at {addr}, {pin}", peer.pid());
            _spawned = Some(peer);
            (addr, client, setup)
        }
    };

    // Read before pinning, which narrows the allowed CPUs to one.
    let host = report::host_line();
    let rows = report::run_baselines(addr, client_cpu, Duration::from_secs_f64(secs), wanted)
        .map_err(|e| e.to_string())?;
    println!("{host}");
    println!("{setup}; each baseline >= {secs} s after warm-up\n");
    print!("{}", report::markdown_table(&rows));
    Ok(())
}
