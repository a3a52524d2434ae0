//! The remote verdict table: each coremesh figure beside the raw-TCP
//! baseline it is judged by, their ratio, the target and whether it is met.
//!
//! It owns the targets and the ratio arithmetic only; the figures come in as
//! [`Row`]s from [`crate::report`] and [`crate::mesh`]. It must never round a
//! miss into a hit: "met" compares the unrounded ratio with the target, and a
//! figure that was not measured prints as `-` (never as met).

use crate::mesh;
use crate::raw::{self, Latencies, Throughput};
use crate::report::{Figure, Row};

/// Which way a target bounds the ratio coremesh / raw.
#[derive(Clone, Copy)]
enum Bound {
    AtMost(f64),
    AtLeast(f64),
}

/// One comparison: how to read each side from its row, and the target.
struct Check {
    workload: &'static str,
    mesh: &'static str,
    raw: &'static str,
    read: fn(&Figure) -> Option<f64>,
    unit: Unit,
    bound: Bound,
}

#[derive(Clone, Copy)]
enum Unit {
    Micros,
    MillionPerS,
    MbPerS,
}

fn p50(f: &Figure) -> Option<f64> {
    latency(f).map(|l| l.p50.as_secs_f64() * 1e6)
}
fn p99(f: &Figure) -> Option<f64> {
    latency(f).map(|l| l.p99.as_secs_f64() * 1e6)
}
fn per_s(f: &Figure) -> Option<f64> {
    throughput(f).map(|t| t.records_per_s)
}
fn mb_s(f: &Figure) -> Option<f64> {
    throughput(f).map(|t| t.mb_per_s)
}
fn latency(f: &Figure) -> Option<Latencies> {
    match f {
        Figure::Latency(l) => Some(*l),
        Figure::Throughput(_) => None,
    }
}
fn throughput(f: &Figure) -> Option<Throughput> {
    match f {
        Figure::Throughput(t) => Some(*t),
        Figure::Latency(_) => None,
    }
}

const CHECKS: [Check; 5] = [
    Check {
        workload: "ask p50 vs raw blocking p50",
        mesh: mesh::ASK_RTT,
        raw: raw::BLOCKING_RTT,
        read: p50,
        unit: Unit::Micros,
        bound: Bound::AtMost(0.5),
    },
    Check {
        workload: "ask p50 vs raw busy p50",
        mesh: mesh::ASK_RTT,
        raw: raw::BUSY_RTT,
        read: p50,
        unit: Unit::Micros,
        bound: Bound::AtMost(1.5),
    },
    Check {
        workload: "ask p99 vs raw blocking p99",
        mesh: mesh::ASK_RTT,
        raw: raw::BLOCKING_RTT,
        read: p99,
        unit: Unit::Micros,
        bound: Bound::AtMost(1.0),
    },
    Check {
        workload: "tell u64 msgs/s vs raw 16 B records/s",
        mesh: mesh::TELL_U64,
        raw: raw::STREAM_16B,
        read: per_s,
        unit: Unit::MillionPerS,
        bound: Bound::AtLeast(0.10),
    },
    Check {
        workload: "tell 1 KiB MB/s vs raw 1 KiB MB/s",
        mesh: mesh::TELL_1K,
        raw: raw::STREAM_1K,
        read: mb_s,
        unit: Unit::MbPerS,
        bound: Bound::AtLeast(0.5),
    },
];

fn show(v: Option<f64>, unit: Unit) -> String {
    match (v, unit) {
        (None, _) => "-".into(),
        (Some(v), Unit::Micros) => format!("{v:.1} µs"),
        (Some(v), Unit::MillionPerS) => format!("{:.2} M/s", v / 1e6),
        (Some(v), Unit::MbPerS) => format!("{v:.1} MB/s"),
    }
}

/// The markdown table `workload | coremesh | raw baseline | ratio | target |
/// met`, ratio = coremesh / raw, from whichever of `rows` were measured.
pub fn verdict_table(rows: &[Row]) -> String {
    let find = |name: &str| rows.iter().find(|r| r.name == name).map(|r| r.figure);
    let mut out = String::from(
        "| workload | coremesh | raw baseline | ratio | target | met |\n|---|---:|---:|---:|---|---|\n",
    );
    for c in &CHECKS {
        let mesh = find(c.mesh).and_then(|f| (c.read)(&f));
        let raw = find(c.raw).and_then(|f| (c.read)(&f));
        let ratio = match (mesh, raw) {
            (Some(m), Some(r)) if r > 0.0 => Some(m / r),
            _ => None,
        };
        let (target, met) = match c.bound {
            Bound::AtMost(t) => (format!("≤ {t:.2}×"), ratio.map(|r| r <= t)),
            Bound::AtLeast(t) => (format!("≥ {t:.2}×"), ratio.map(|r| r >= t)),
        };
        out.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} |\n",
            c.workload,
            show(mesh, c.unit),
            show(raw, c.unit),
            ratio.map_or("-".into(), |r| format!("{r:.2}×")),
            target,
            match met {
                Some(true) => "yes",
                Some(false) => "**no**",
                None => "-",
            }
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn lat(p50_us: u64, p99_us: u64) -> Figure {
        Figure::Latency(Latencies {
            p50: Duration::from_micros(p50_us),
            p99: Duration::from_micros(p99_us),
            mean: Duration::from_micros(p50_us),
            count: 1,
        })
    }

    fn thr(per_s: f64, mb_per_s: f64) -> Figure {
        let elapsed = Duration::from_secs(1);
        Figure::Throughput(Throughput { records_per_s: per_s, mb_per_s, records: 1, bytes: 1, elapsed })
    }

    #[test]
    fn ratios_are_coremesh_over_raw_and_met_is_unrounded() {
        let rows = [
            Row { name: raw::BLOCKING_RTT, figure: lat(20, 30) },
            Row { name: raw::BUSY_RTT, figure: lat(8, 12) },
            Row { name: raw::STREAM_16B, figure: thr(100e6, 1600.0) },
            Row { name: mesh::ASK_RTT, figure: lat(10, 31) },
            // 0.0999×: prints as 0.10× but is a miss.
            Row { name: mesh::TELL_U64, figure: thr(9.99e6, 80.0) },
        ];
        let table = verdict_table(&rows);
        assert!(table.contains("| ask p50 vs raw blocking p50 | 10.0 µs | 20.0 µs | 0.50× | ≤ 0.50× | yes |"));
        assert!(table.contains("| ask p50 vs raw busy p50 | 10.0 µs | 8.0 µs | 1.25× | ≤ 1.50× | yes |"));
        assert!(
            table.contains("| ask p99 vs raw blocking p99 | 31.0 µs | 30.0 µs | 1.03× | ≤ 1.00× | **no** |")
        );
        assert!(table.contains("| 0.10× | ≥ 0.10× | **no** |"), "{table}");
        // Not measured: no ratio, no verdict.
        assert!(table.contains("| tell 1 KiB MB/s vs raw 1 KiB MB/s | - | - | - | ≥ 0.50× | - |"));
    }
}
