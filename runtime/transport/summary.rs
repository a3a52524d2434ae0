//! What one core turned away at its door, logged as at most one summary line
//! per second instead of one line per connection.
//!
//! Owns: [`Summary`], the counts since its last line of connections shed (over
//! the node's handshake bound or over a source's), inbound handshakes that
//! missed their deadline, inbound handshakes refused (per reason, with the
//! first refusal's full text for each reason, so a peer of the wrong cluster,
//! cookie or type table stays visible under a flood) and accepts that failed
//! (with the last error), and the rule for when a line is due: at once when
//! the last line is older than [`SUMMARY_INTERVAL`], else when that interval
//! ends. Sans-IO: it takes `now` and says what to log or when to come back;
//! `mod.rs` logs and sleeps.
//!
//! Must never: grow with the number of events (one count per kind, one text per
//! refusal reason, of which there is a fixed handful), or let more than one line
//! per interval out.

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use coremesh_wire::HandshakeError;

use super::conn::ConnError;
use super::host::Shed;

/// The shortest time between two summary lines of one core.
pub(crate) const SUMMARY_INTERVAL: Duration = Duration::from_secs(1);

/// One connection turned away, or one failed accept.
#[derive(Debug)]
pub(crate) enum Turned<'a> {
    /// Closed right after accept, unread: over one of the node's bounds.
    Shed(Shed),
    /// Closed: its handshake missed the deadline.
    TimedOut,
    /// Its handshake failed (a check, the peer's refusal or close, a bad advert).
    Refused(&'a ConnError),
    /// `accept` failed (out of file descriptors, most likely).
    AcceptFailed(&'a std::io::Error),
}

/// What the caller does after noting an event.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Next {
    /// Log this line now.
    Log(String),
    /// Call [`Summary::on_wake`] at this time (no wake-up was asked for yet).
    WakeAt(Instant),
    /// Nothing: a wake-up is already due.
    Nothing,
}

/// Refusals of one reason in the current interval.
#[derive(Debug)]
struct Refusals {
    reason: &'static str,
    count: u64,
    /// The first refusal's full text.
    first: String,
}

/// One core's counts since its last summary line.
#[derive(Debug, Default)]
pub(crate) struct Summary {
    shed_node: u64,
    shed_source: u64,
    timed_out: u64,
    refused: Vec<Refusals>,
    accept_errors: u64,
    last_accept_error: String,
    /// Whether anything was noted since the last line.
    noted: bool,
    /// When the last line was written.
    last_line: Option<Instant>,
    /// Whether a wake-up is pending.
    wake_set: bool,
}

impl Summary {
    /// Counts `what`, seen at `now`, and says whether a line is due.
    pub(crate) fn note(&mut self, now: Instant, what: Turned<'_>) -> Next {
        match what {
            Turned::Shed(Shed::Node) => self.shed_node += 1,
            Turned::Shed(Shed::Source) => self.shed_source += 1,
            Turned::TimedOut => self.timed_out += 1,
            Turned::Refused(e) => {
                let reason = reason_of(e);
                match self.refused.iter_mut().find(|r| r.reason == reason) {
                    Some(r) => r.count += 1,
                    None => self.refused.push(Refusals { reason, count: 1, first: e.to_string() }),
                }
            }
            Turned::AcceptFailed(e) => {
                self.accept_errors += 1;
                self.last_accept_error.clear();
                let _ = write!(self.last_accept_error, "{e}");
            }
        }
        self.noted = true;
        match self.last_line {
            Some(last) if now < last + SUMMARY_INTERVAL => {
                if self.wake_set {
                    Next::Nothing
                } else {
                    self.wake_set = true;
                    Next::WakeAt(last + SUMMARY_INTERVAL)
                }
            }
            _ => Next::Log(self.take_line(now)),
        }
    }

    /// The wake-up asked for by [`Next::WakeAt`]: the line, if anything was
    /// noted since the last one.
    pub(crate) fn on_wake(&mut self, now: Instant) -> Option<String> {
        self.wake_set = false;
        self.noted.then(|| self.take_line(now))
    }

    /// The line for everything noted, and a fresh start.
    fn take_line(&mut self, now: Instant) -> String {
        let when = match self.last_line {
            Some(last) => format!("in the last {:.1} s", now.saturating_duration_since(last).as_secs_f64()),
            None => "since the start".to_owned(),
        };
        let mut parts = Vec::new();
        let shed = self.shed_node + self.shed_source;
        if shed > 0 {
            parts.push(format!(
                "{shed} connections shed ({} over the node's handshake bound, {} over a source's)",
                self.shed_node, self.shed_source
            ));
        }
        if self.timed_out > 0 {
            parts.push(format!("{} handshakes timed out", self.timed_out));
        }
        if !self.refused.is_empty() {
            let total: u64 = self.refused.iter().map(|r| r.count).sum();
            let each: Vec<String> = self
                .refused
                .iter()
                .map(|r| format!("{} {} (first: {})", r.count, r.reason, r.first))
                .collect();
            parts.push(format!("{total} refused: {}", each.join("; ")));
        }
        if self.accept_errors > 0 {
            parts.push(format!("{} accepts failed (last: {})", self.accept_errors, self.last_accept_error));
        }
        let line = format!("{when}: {}", parts.join(", "));
        let wake_set = self.wake_set;
        *self = Summary { last_line: Some(now), wake_set, ..Summary::default() };
        line
    }
}

/// A refusal's reason in a word or two: the summary counts each reason apart.
fn reason_of(e: &ConnError) -> &'static str {
    match e {
        ConnError::Handshake { source, .. } => match source {
            HandshakeError::BadMagic { .. } => "bad magic",
            HandshakeError::Version { .. } => "protocol version",
            HandshakeError::Cluster { .. } => "cluster",
            HandshakeError::Format { .. } => "frame format",
            HandshakeError::TypeTable { .. } => "type table",
            HandshakeError::BadCookie => "cookie",
            HandshakeError::SelfConnection { .. } => "self connection",
            HandshakeError::Refused { .. } => "refused by the peer",
            HandshakeError::Malformed(_) | HandshakeError::Unexpected { .. } => "malformed",
            HandshakeError::TooLong => "ours too long",
        },
        ConnError::Io { .. } => "closed or failed",
        ConnError::Tls { .. } => "tls",
        ConnError::Protocol { .. } => "bad advert or message",
        ConnError::Duplicate { .. } => "duplicate",
        ConnError::Timeout { .. } => "timed out",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cluster() -> ConnError {
        let source = HandshakeError::Cluster { ours: "a".into(), theirs: "b".into() };
        ConnError::Handshake { addr: "127.0.0.1:9".into(), source }
    }

    fn cookie(addr: &str) -> ConnError {
        ConnError::Handshake { addr: addr.into(), source: HandshakeError::BadCookie }
    }

    #[test]
    fn the_first_event_is_logged_at_once_then_one_line_per_interval() {
        let t0 = crate::clock::now();
        let mut s = Summary::default();
        let Next::Log(line) = s.note(t0, Turned::Refused(&cluster())) else { panic!("not logged at once") };
        assert!(line.contains("1 refused: 1 cluster (first: handshake with 127.0.0.1:9 failed"), "{line}");
        // A flood within the interval: one wake-up, nothing logged yet.
        let at = t0 + Duration::from_millis(10);
        assert_eq!(s.note(at, Turned::Shed(Shed::Node)), Next::WakeAt(t0 + SUMMARY_INTERVAL));
        for _ in 0..1799 {
            assert_eq!(s.note(at, Turned::Shed(Shed::Node)), Next::Nothing);
        }
        for _ in 0..73 {
            assert_eq!(s.note(at, Turned::Shed(Shed::Source)), Next::Nothing);
        }
        for _ in 0..12 {
            assert_eq!(s.note(at, Turned::TimedOut), Next::Nothing);
        }
        s.note(at, Turned::Refused(&cookie("127.0.0.2:1")));
        s.note(at, Turned::Refused(&cookie("127.0.0.3:1")));
        let emfile = std::io::Error::from_raw_os_error(libc::EMFILE);
        s.note(at, Turned::AcceptFailed(&emfile));
        let line = s.on_wake(t0 + SUMMARY_INTERVAL).expect("a line at the wake-up");
        assert!(line.starts_with("in the last 1.0 s: 1873 connections shed (1800 over the node's handshake bound, 73 over a source's), 12 handshakes timed out, 2 refused: 2 cookie (first: handshake with 127.0.0.2:1 failed"), "{line}");
        assert!(line.contains("1 accepts failed (last: Too many open files"), "{line}");
        // Nothing since: the next wake-up logs nothing, and the next event is
        // logged at once once an interval has passed.
        assert_eq!(s.on_wake(t0 + 2 * SUMMARY_INTERVAL), None);
        let later = t0 + 3 * SUMMARY_INTERVAL;
        let Next::Log(line) = s.note(later, Turned::TimedOut) else { panic!("not logged at once") };
        assert!(line.starts_with("in the last 2.0 s: 1 handshakes timed out"), "{line}");
    }

    #[test]
    fn every_reason_keeps_its_first_text_and_the_counts_reset() {
        let t0 = crate::clock::now();
        let mut s = Summary::default();
        s.note(t0, Turned::TimedOut);
        let at = t0 + Duration::from_millis(1);
        s.note(at, Turned::Refused(&cookie("127.0.0.4:1")));
        for _ in 0..500 {
            s.note(at, Turned::Shed(Shed::Source));
        }
        s.note(at, Turned::Refused(&cluster()));
        let line = s.on_wake(t0 + SUMMARY_INTERVAL).unwrap();
        assert!(line.contains("1 cookie (first: handshake with 127.0.0.4:1"), "{line}");
        assert!(
            line.contains("1 cluster (first: handshake with 127.0.0.1:9 failed: cluster name mismatch"),
            "{line}"
        );
        assert!(!line.contains("timed out"), "the timeout was in the previous line: {line}");
        let Next::WakeAt(_) = s.note(t0 + SUMMARY_INTERVAL, Turned::TimedOut) else { panic!("no wake-up") };
        let line = s.on_wake(t0 + 2 * SUMMARY_INTERVAL).unwrap();
        assert_eq!(line, "in the last 1.0 s: 1 handshakes timed out");
    }
}
