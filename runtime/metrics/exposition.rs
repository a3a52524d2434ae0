//! The Prometheus text exposition format, version 0.0.4, written by hand.
//!
//! Owns: [`Text`] (families with `# HELP` and `# TYPE` lines, samples with
//! escaped labels, histograms as cumulative `_bucket{le=…}` series plus `_sum`
//! and `_count`) and [`render`], which lays out every metric of a node (the
//! names are listed in the crate docs, section "Metrics").
//!
//! Must never: write a family twice, a label value unescaped, or a histogram
//! whose `+Inf` bucket differs from its `_count`.

use std::fmt::Write;

use super::{CoreSample, Histogram, NodeMetrics};
use crate::stats::{CoreStatsSnapshot, NodeStats};

/// A document in the text format being written.
#[derive(Debug, Default)]
pub(crate) struct Text(String);

/// Escapes a label value: backslash, double quote and line feed.
pub(crate) fn escape_label(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

/// Escapes HELP text: backslash and line feed.
fn escape_help(v: &str) -> String {
    v.replace('\\', "\\\\").replace('\n', "\\n")
}

impl Text {
    /// Starts a family: its `# HELP` and `# TYPE` lines.
    pub(crate) fn family(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.0, "# HELP {name} {}", escape_help(help.trim()));
        let _ = writeln!(self.0, "# TYPE {name} {kind}");
    }

    /// One sample line.
    pub(crate) fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: impl std::fmt::Display) {
        self.0.push_str(name);
        if !labels.is_empty() {
            self.0.push('{');
            for (i, (k, v)) in labels.iter().enumerate() {
                if i > 0 {
                    self.0.push(',');
                }
                let _ = write!(self.0, "{k}=\"{}\"", escape_label(v));
            }
            self.0.push('}');
        }
        let _ = writeln!(self.0, " {value}");
    }

    /// The series of one histogram: cumulative buckets, sum and count; bounds
    /// and sum divided by `scale` (1e9 turns nanoseconds into seconds).
    pub(crate) fn histogram<const N: usize>(
        &mut self,
        name: &str,
        labels: &[(&str, &str)],
        h: &Histogram<N>,
        scale: f64,
    ) {
        let (buckets, sum) = h.read();
        let bucket = format!("{name}_bucket");
        let mut cumulative = 0u64;
        for (i, n) in buckets.iter().enumerate() {
            cumulative += n;
            let le = match h.bound(i) {
                Some(b) => (b as f64 / scale).to_string(),
                None => "+Inf".to_owned(),
            };
            let mut with_le = labels.to_vec();
            with_le.push(("le", &le));
            self.sample(&bucket, &with_le, cumulative);
        }
        self.sample(&format!("{name}_sum"), labels, sum as f64 / scale);
        self.sample(&format!("{name}_count"), labels, cumulative);
    }

    pub(crate) fn finish(self) -> String {
        self.0
    }
}

/// The whole document of a node: the counters of [`crate::stats`], the
/// per-peer counters and histograms of `metrics`, and the gauges of each
/// core's sample (`None`: the core did not answer in time; its gauges are left out).
pub(crate) fn render(stats: &NodeStats, metrics: &NodeMetrics, samples: &[Option<CoreSample>]) -> String {
    let mut t = Text::default();
    let cores: Vec<String> = (0..metrics.cores.len()).map(|i| i.to_string()).collect();
    let core = |i: usize| [("core", cores[i].as_str())];

    let values: Vec<Vec<u64>> = stats.cores.iter().take(cores.len()).map(|s| s.values()).collect();
    for (j, (name, help)) in CoreStatsSnapshot::FIELDS.iter().enumerate() {
        let family = format!("coremesh_{name}_total");
        t.family(&family, "counter", help);
        for (i, v) in values.iter().enumerate() {
            t.sample(&family, &core(i), v[j]);
        }
    }

    type PeerField = fn(&super::PeerCounters) -> u64;
    let peer_families: [(&str, &str, PeerField); 4] = [
        (
            "coremesh_peer_messages_out_total",
            "Tells, asks, replies and error replies queued for the peer node.",
            |c| c.messages_out.get(),
        ),
        (
            "coremesh_peer_messages_in_total",
            "Tells, asks, replies and error replies read from the peer node.",
            |c| c.messages_in.get(),
        ),
        (
            "coremesh_peer_bytes_out_total",
            "Bytes written to the peer node's connections (every frame, heartbeats included).",
            |c| c.bytes_out.get(),
        ),
        (
            "coremesh_peer_bytes_in_total",
            "Bytes of whole frames read from the peer node (heartbeats included).",
            |c| c.bytes_in.get(),
        ),
    ];
    let peers: Vec<_> = metrics.cores.iter().map(|m| m.peers()).collect();
    for (family, help, get) in peer_families {
        t.family(family, "counter", help);
        for (i, list) in peers.iter().enumerate() {
            for (peer, c) in list {
                let peer = peer.map_or_else(|| "other".to_owned(), |p| format!("{:016x}", p.0));
                t.sample(family, &[("core", &cores[i]), ("peer", &peer)], get(c));
            }
        }
    }

    let histograms: [(&str, &str); 4] = [
        ("coremesh_ask_rtt_seconds", "Asks from their registration on this core to their reply (local and remote; timeouts not included)."),
        ("coremesh_archive_seconds", "Archiving (rkyv serialization) of a message straight into a peer link's buffer."),
        ("coremesh_peer_message_out_bytes", "Frame size (32-byte header included) of each message queued for a peer node."),
        ("coremesh_peer_message_in_bytes", "Frame size (32-byte header included) of each message read from a peer node."),
    ];
    for (k, (family, help)) in histograms.iter().enumerate() {
        t.family(family, "histogram", help);
        for (i, m) in metrics.cores.iter().enumerate() {
            match k {
                0 => t.histogram(family, &core(i), &m.ask_rtt_ns, 1e9),
                1 => t.histogram(family, &core(i), &m.archive_ns, 1e9),
                2 => t.histogram(family, &core(i), &m.out_bytes, 1.0),
                _ => t.histogram(family, &core(i), &m.in_bytes, 1.0),
            }
        }
    }

    type Gauge = fn(&CoreSample) -> usize;
    let gauges: [(&str, &str, Gauge); 4] = [
        ("coremesh_actors", "Live actors on the core.", |s| s.actors),
        ("coremesh_mailbox_queued_bytes", "Bytes queued in all mailboxes of the core.", |s| s.mailbox_bytes),
        ("coremesh_mailbox_queued_bytes_max", "Bytes queued in the fullest mailbox of the core.", |s| {
            s.mailbox_bytes_max
        }),
        ("coremesh_asks_in_flight", "Asks of the core waiting for a reply.", |s| s.asks_in_flight),
    ];
    for (family, help, get) in gauges {
        t.family(family, "gauge", help);
        for (i, s) in samples.iter().enumerate().take(cores.len()) {
            if let Some(s) = s {
                t.sample(family, &core(i), get(s));
            }
        }
    }
    let family = "coremesh_link_queued_bytes";
    t.family(family, "gauge", "Bytes queued on the core's link to the peer node, not yet written.");
    for (i, s) in samples.iter().enumerate().take(cores.len()) {
        for (peer, bytes) in s.iter().flat_map(|s| s.links.iter()) {
            t.sample(family, &[("core", &cores[i]), ("peer", &format!("{:016x}", peer.0))], bytes);
        }
    }
    let family = "coremesh_scrape_cores_missing";
    t.family(
        family,
        "gauge",
        "Cores that did not answer this scrape within 1 s (their gauges are left out).",
    );
    t.sample(family, &[], samples.iter().filter(|s| s.is_none()).count());
    t.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_and_help_are_escaped() {
        assert_eq!(escape_label(r#"a\b"c"#), r#"a\\b\"c"#);
        assert_eq!(escape_label("x\ny"), "x\\ny");
        let mut t = Text::default();
        t.family("m", "gauge", " two\nlines \\ ");
        t.sample("m", &[("k", "q\"uote"), ("j", "1")], 5);
        t.sample("m", &[], 1.5);
        assert_eq!(
            t.finish(),
            "# HELP m two\\nlines \\\\\n# TYPE m gauge\nm{k=\"q\\\"uote\",j=\"1\"} 5\nm 1.5\n"
        );
    }

    #[test]
    fn a_histogram_is_cumulative_and_its_count_is_the_inf_bucket() {
        let h = Histogram::<4>::new(1); // bounds 2, 4, 8, +Inf
        for v in [1, 3, 3, 100] {
            h.observe(v);
        }
        let mut t = Text::default();
        t.histogram("h", &[("core", "0")], &h, 1.0);
        let text = t.finish();
        let want = "h_bucket{core=\"0\",le=\"2\"} 1\nh_bucket{core=\"0\",le=\"4\"} 3\n\
                    h_bucket{core=\"0\",le=\"8\"} 3\nh_bucket{core=\"0\",le=\"+Inf\"} 4\n\
                    h_sum{core=\"0\"} 107\nh_count{core=\"0\"} 4\n";
        assert_eq!(text, want);
    }

    #[test]
    fn a_node_document_names_each_family_once_with_help_and_type() {
        let metrics = NodeMetrics::new(2);
        metrics.cores[1].ask_rtt_ns.observe(5_000);
        let stats = NodeStats { cores: vec![CoreStatsSnapshot::default(); 2] };
        let text = render(&stats, &metrics, &[Some(CoreSample::default()), None]);
        let mut seen = std::collections::HashSet::new();
        for line in text.lines().filter(|l| l.starts_with("# TYPE ")) {
            let name = line.split(' ').nth(2).unwrap();
            assert!(seen.insert(name.to_owned()), "{name} twice");
            assert!(text.contains(&format!("# HELP {name} ")), "{name} has no HELP");
        }
        assert!(seen.contains("coremesh_dead_letters_total") && seen.contains("coremesh_ask_rtt_seconds"));
        assert!(text.contains("coremesh_ask_rtt_seconds_count{core=\"1\"} 1\n"), "{text}");
        assert!(
            text.contains("coremesh_ask_rtt_seconds_bucket{core=\"1\",le=\"0.000008192\"} 1\n"),
            "{text}"
        );
        assert!(text.contains("coremesh_asks_in_flight{core=\"0\"} 0\n"));
        assert!(
            !text.contains("coremesh_asks_in_flight{core=\"1\"}"),
            "a core that did not answer has no gauges"
        );
        assert!(text.contains("coremesh_scrape_cores_missing 1\n"));
    }
}
