//! The comparison tables: each coremesh figure beside the raw-TCP baseline
//! it is judged by ([`verdict_table`]), and beside ractor's figure for the
//! same workload ([`versus_table`], [`versus`], which the chart draws), with
//! their ratios, the targets and whether each is met.
//!
//! It owns the targets and the ratio arithmetic only; the figures come in as
//! [`Row`]s from [`crate::report`], [`crate::mesh`], [`crate::ractor_load`]
//! and [`crate::local`]. It must never round a miss into a hit: "met"
//! compares the unrounded ratio with the target, and a figure that was not
//! measured prints as `-` (never as met).

use crate::raw::{self, Latencies, Throughput};
use crate::report::{Figure, Row};
use crate::{local, mesh, ractor_load};

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

/// How a figure is shown.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unit {
    Micros,
    MillionPerS,
    MbPerS,
}

impl Unit {
    /// `v` (µs, per second or MB/s) in this unit (µs, millions per second, MB/s).
    pub fn scale(self, v: f64) -> f64 {
        match self {
            Unit::MillionPerS => v / 1e6,
            Unit::Micros | Unit::MbPerS => v,
        }
    }

    /// The unit's name, as on a chart's axis.
    pub fn label(self) -> &'static str {
        match self {
            Unit::Micros => "µs (lower is better)",
            Unit::MillionPerS => "M msgs/s",
            Unit::MbPerS => "MB/s",
        }
    }
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

fn ratio(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    match (a, b) {
        (Some(a), Some(b)) if b > 0.0 => Some(a / b),
        _ => None,
    }
}

fn show_ratio(r: Option<f64>) -> String {
    r.map_or("-".into(), |r| format!("{r:.2}×"))
}

/// The target's text and whether the unrounded `ratio` meets it.
fn verdict(ratio: Option<f64>, bound: Option<Bound>) -> (String, &'static str) {
    let (target, met) = match bound {
        None => return ("-".into(), "-"),
        Some(Bound::AtMost(t)) => (format!("≤ {t:.2}×"), ratio.map(|r| r <= t)),
        Some(Bound::AtLeast(t)) => (format!("≥ {t:.2}×"), ratio.map(|r| r >= t)),
    };
    let met = match met {
        Some(true) => "yes",
        Some(false) => "**no**",
        None => "-",
    };
    (target, met)
}

/// One workload measured on coremesh and on ractor, with the raw-TCP
/// baseline where there is one, and the target for coremesh / ractor.
struct Pair {
    workload: &'static str,
    mesh: &'static str,
    ractor: &'static str,
    raw: Option<&'static str>,
    read: fn(&Figure) -> Option<f64>,
    unit: Unit,
    bound: Option<Bound>,
}

/// The targets: coremesh against ractor + ractor_cluster, same
/// workload, same pinning, same run.
const PAIRS: [Pair; 5] = [
    Pair {
        workload: "same-core tell",
        mesh: local::TELL_SAME_CORE,
        ractor: ractor_load::TELL_SAME_CORE,
        raw: None,
        read: per_s,
        unit: Unit::MillionPerS,
        bound: Some(Bound::AtLeast(5.0)),
    },
    Pair {
        workload: "remote tell, one u64",
        mesh: mesh::TELL_U64,
        ractor: ractor_load::TELL_U64,
        raw: Some(raw::STREAM_16B),
        read: per_s,
        unit: Unit::MillionPerS,
        bound: Some(Bound::AtLeast(30.0)),
    },
    Pair {
        workload: "remote tell, 1 KiB",
        mesh: mesh::TELL_1K,
        ractor: ractor_load::TELL_1K,
        raw: Some(raw::STREAM_1K),
        read: mb_s,
        unit: Unit::MbPerS,
        bound: Some(Bound::AtLeast(8.0)),
    },
    Pair {
        workload: "remote ask p50",
        mesh: mesh::ASK_RTT,
        ractor: ractor_load::ASK_RTT,
        raw: Some(raw::BLOCKING_RTT),
        read: p50,
        unit: Unit::Micros,
        bound: Some(Bound::AtMost(0.25)),
    },
    Pair {
        workload: "remote ask p99",
        mesh: mesh::ASK_RTT,
        ractor: ractor_load::ASK_RTT,
        raw: Some(raw::BLOCKING_RTT),
        read: p99,
        unit: Unit::Micros,
        bound: None,
    },
];

/// One workload's three figures: µs, messages per second or MB/s as `unit`
/// says (see [`Unit::scale`]).
#[derive(Clone, Debug, PartialEq)]
pub struct Versus {
    pub workload: &'static str,
    pub unit: Unit,
    pub coremesh: Option<f64>,
    pub ractor: Option<f64>,
    pub raw: Option<f64>,
}

/// Every workload of the comparison with ractor, read from `rows`.
pub fn versus(rows: &[Row]) -> Vec<Versus> {
    let read = |name: Option<&str>, f: fn(&Figure) -> Option<f64>| {
        name.and_then(|n| rows.iter().find(|r| r.name == n)).and_then(|r| f(&r.figure))
    };
    PAIRS
        .iter()
        .map(|p| Versus {
            workload: p.workload,
            unit: p.unit,
            coremesh: read(Some(p.mesh), p.read),
            ractor: read(Some(p.ractor), p.read),
            raw: read(p.raw, p.read),
        })
        .collect()
}

/// The markdown table `workload | coremesh | ractor | raw TCP | coremesh /
/// ractor | coremesh / raw | target | met`, the target bounding coremesh /
/// ractor.
pub fn versus_table(rows: &[Row]) -> String {
    let mut out = String::from(
        "| workload | coremesh | ractor | raw TCP | coremesh / ractor | coremesh / raw | target | met |\n\
         |---|---:|---:|---:|---:|---:|---|---|\n",
    );
    for (p, v) in PAIRS.iter().zip(versus(rows)) {
        let (m, r, w) = (v.coremesh, v.ractor, v.raw);
        let vs_ractor = ratio(m, r);
        let (target, met) = verdict(vs_ractor, p.bound);
        let raw_cell = if p.raw.is_some() { show(w, p.unit) } else { "n/a".into() };
        out.push_str(&format!(
            "| {} | {} | {} | {raw_cell} | {} | {} | {target} | {met} |\n",
            p.workload,
            show(m, p.unit),
            show(r, p.unit),
            show_ratio(vs_ractor),
            show_ratio(ratio(m, w)),
        ));
    }
    out
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
        let r = ratio(mesh, raw);
        let (target, met) = verdict(r, Some(c.bound));
        out.push_str(&format!(
            "| {} | {} | {} | {} | {target} | {met} |\n",
            c.workload,
            show(mesh, c.unit),
            show(raw, c.unit),
            show_ratio(r),
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

    #[test]
    fn versus_is_coremesh_over_ractor_with_raw_where_there_is_one() {
        let rows = [
            Row { name: local::TELL_SAME_CORE, figure: thr(30e6, 240.0) },
            Row { name: ractor_load::TELL_SAME_CORE, figure: thr(5e6, 40.0) },
            Row { name: mesh::ASK_RTT, figure: lat(10, 20) },
            Row { name: ractor_load::ASK_RTT, figure: lat(40, 80) },
            Row { name: raw::BLOCKING_RTT, figure: lat(20, 30) },
            Row { name: mesh::TELL_U64, figure: thr(9e6, 72.0) },
        ];
        let table = versus_table(&rows);
        assert!(
            table.contains("| same-core tell | 30.00 M/s | 5.00 M/s | n/a | 6.00× | - | ≥ 5.00× | yes |"),
            "{table}"
        );
        assert!(table
            .contains("| remote ask p50 | 10.0 µs | 40.0 µs | 20.0 µs | 0.25× | 0.50× | ≤ 0.25× | yes |"));
        assert!(table.contains("| remote ask p99 | 20.0 µs | 80.0 µs | 30.0 µs | 0.25× | 0.67× | - | - |"));
        // ractor not measured: no ratio, no verdict.
        assert!(
            table.contains("| remote tell, one u64 | 9.00 M/s | - | - | - | - | ≥ 30.00× | - |"),
            "{table}"
        );
        let v = versus(&rows);
        assert_eq!(v.len(), 5);
        assert_eq!(v[0].unit.scale(v[0].coremesh.unwrap_or(0.0)), 30.0);
        assert_eq!(v[2].raw, None);
    }
}
