//! Runs the four raw baselines against one peer and renders figures as
//! markdown: the table of every figure, and [`document`], the whole printed
//! result of the remote bench and of `coremesh-bench report` (host facts,
//! setup and pinning, every figure, the verdict against raw TCP and the
//! comparison with ractor).
//!
//! It owns formatting only; the measuring lives in [`crate::raw`],
//! [`crate::mesh`], [`crate::ractor_load`] and [`crate::local`]. It must
//! never print partial tables on error: a failed figure aborts the run with
//! the error naming it.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use crate::compare;
use crate::raw::{self, Latencies, Throughput};

/// One measured figure.
#[derive(Clone, Copy, Debug)]
pub enum Figure {
    Latency(Latencies),
    Throughput(Throughput),
}

/// A named figure, e.g. `raw/busy_pingpong_rtt`.
#[derive(Clone, Copy, Debug)]
pub struct Row {
    pub name: &'static str,
    pub figure: Figure,
}

/// Every baseline name, in run order.
pub const BASELINES: [&str; 4] = [raw::BLOCKING_RTT, raw::BUSY_RTT, raw::STREAM_16B, raw::STREAM_1K];

/// Runs each baseline whose name `wanted` accepts against the peer at `addr`,
/// each for at least `min_duration`. Pins the calling thread to `client_cpu`
/// first, if given.
pub fn run_baselines(
    addr: SocketAddr,
    client_cpu: Option<usize>,
    min_duration: Duration,
    wanted: impl Fn(&str) -> bool,
) -> io::Result<Vec<Row>> {
    if let Some(cpu) = client_cpu {
        raw::pin_current_thread(cpu)?;
    }
    let mut rows = Vec::new();
    for name in BASELINES.into_iter().filter(|n| wanted(n)) {
        let figure = match name {
            raw::BLOCKING_RTT => raw::blocking_pingpong(addr, min_duration).map(Figure::Latency),
            raw::BUSY_RTT => raw::busy_pingpong(addr, min_duration).map(Figure::Latency),
            raw::STREAM_16B => {
                raw::stream(addr, 16, raw::STREAM_WRITE_BYTES, min_duration).map(Figure::Throughput)
            }
            _ => raw::stream(addr, 1024, raw::STREAM_WRITE_BYTES, min_duration).map(Figure::Throughput),
        }
        .map_err(|e| raw::context(e, name))?;
        rows.push(Row { name, figure });
    }
    Ok(rows)
}

/// A markdown table: latency rows fill p50/p99/mean/samples, stream rows
/// fill records/s and MB/s (payload, 10^6 bytes).
pub fn markdown_table(rows: &[Row]) -> String {
    let mut out = String::from(
        "| bench | p50 | p99 | mean | samples | records/s | MB/s |\n|---|---:|---:|---:|---:|---:|---:|\n",
    );
    for row in rows {
        let line = match row.figure {
            Figure::Latency(l) => format!(
                "| {} | {} | {} | {} | {} | - | - |\n",
                row.name,
                micros(l.p50),
                micros(l.p99),
                micros(l.mean),
                l.count
            ),
            Figure::Throughput(t) => format!(
                "| {} | - | - | - | - | {:.2} M | {:.1} |\n",
                row.name,
                t.records_per_s / 1e6,
                t.mb_per_s
            ),
        };
        out.push_str(&line);
    }
    out
}

fn micros(d: Duration) -> String {
    format!("{:.1} µs", d.as_secs_f64() * 1e6)
}

/// One line naming the CPU model, the number of CPUs this process may use and
/// the kernel, read from `/proc` (`unknown` where unreadable).
pub fn host_line() -> String {
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, m)| m.trim().to_string())
        })
        .unwrap_or_else(|| "unknown cpu".into());
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "unknown".into());
    let cpus = raw::allowed_cpus().map(|c| c.len().to_string()).unwrap_or_else(|_| "?".into());
    format!("host: {model}, {cpus} cpus allowed, linux {kernel}")
}

/// The whole printed result: `host` (see [`host_line`]), the setup lines
/// (peers and pinning), the run time, every figure, then the verdict table
/// (coremesh / raw TCP) and the comparison with ractor, each where any of
/// its figures was measured.
pub fn document(host: &str, setup: &[String], min: Duration, rows: &[Row]) -> String {
    let mut out = format!("{host}\n");
    for line in setup {
        out.push_str(line);
        out.push('\n');
    }
    out.push_str(&format!(
        "each figure >= {} s (ping-pongs and asks after a warm-up)\n\n",
        min.as_secs_f64()
    ));
    out.push_str(&markdown_table(rows));
    let has = |names: &[&str]| rows.iter().any(|r| names.contains(&r.name));
    if has(&crate::mesh::FIGURES) {
        out.push_str("\ncoremesh against raw TCP:\n\n");
        out.push_str(&compare::verdict_table(rows));
    }
    if has(&crate::ractor_load::FIGURES) || has(&[crate::ractor_load::TELL_SAME_CORE]) {
        out.push_str(
            "\ncoremesh against ractor + ractor_cluster (same workloads, same pinning, same run):\n\n",
        );
        out.push_str(&compare::versus_table(rows));
    }
    out
}
