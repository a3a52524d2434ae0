//! What a node measures for its Prometheus endpoint, beyond [`crate::stats`].
//!
//! Owns: [`NodeMetrics`] (one [`CoreMetrics`] per worker core: the ask
//! round-trip, archiving-time and message-size histograms, and the per-peer
//! counters), the core-local switch that the message path reads, the hooks the
//! message path calls, and what a core reports when sampled ([`CoreSample`]).
//! The text format is `exposition.rs`, the HTTP thread `server.rs`.
//!
//! How it stays cheap:
//! - Off (the default): no `NodeMetrics` exists; every hook is one branch on a
//!   core-local value (a `const` thread-local bool, or a link's `None` meter).
//! - On: every counter and histogram bucket has one writer, its core, in fixed
//!   arrays of [`Counter`]s (a relaxed load and store, no locked instruction);
//!   a scrape reads and sums them. A peer's counters are made when this core
//!   first opens a link to it (the only allocation, under a lock taken then and
//!   on scrape, never per message) and its link holds them, so counting a frame
//!   is no lookup. At most [`PEERS_MAX`] peers per core get their own series;
//!   later ones share the `peer="other"` series, so a cluster with churn does
//!   not grow a core's map without bound.
//! - Gauges (mailbox and link occupancy, asks in flight, live actors) cost
//!   nothing per message: a scrape asks each core for a [`CoreSample`], taken
//!   on the core between two of its tasks.
//!
//! Must never: allocate or take a lock per message, count from a thread other
//! than the owning core, or change what a message does.

pub(crate) mod exposition;
pub(crate) mod server;

use std::cell::{Cell, OnceCell};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::Instant;

use coremesh_wire::FrameKind;

use crate::ids::NodeId;
use crate::sync::counter::Counter;

/// Peers per core with series of their own; later ones share `peer="other"`.
pub(crate) const PEERS_MAX: usize = 1024;

/// Time histograms: bucket `i` counts values up to `2^(TIME_FIRST_SHIFT + i)` ns
/// (about 1 µs, 2 µs, … 8.6 s), the last one everything above.
pub(crate) const TIME_BUCKETS: usize = 25;
pub(crate) const TIME_FIRST_SHIFT: u32 = 10;
/// Size histograms: bucket `i` counts values up to `2^(SIZE_FIRST_SHIFT + i)`
/// bytes (32 B, 64 B, … 4 MiB), the last one everything above.
pub(crate) const SIZE_BUCKETS: usize = 19;
pub(crate) const SIZE_FIRST_SHIFT: u32 = 5;

/// A histogram with one writer: power-of-two buckets, not cumulative (the
/// exposition sums them), and the sum of what was observed.
#[derive(Debug)]
pub(crate) struct Histogram<const N: usize> {
    first_shift: u32,
    buckets: [Counter; N],
    sum: Counter,
}

impl<const N: usize> Histogram<N> {
    fn new(first_shift: u32) -> Self {
        Histogram {
            first_shift,
            buckets: std::array::from_fn(|_| Counter::default()),
            sum: Counter::default(),
        }
    }

    /// The bucket of `v`: the first whose bound `2^(first_shift + i)` is at least `v`.
    pub(crate) fn index(first_shift: u32, v: u64) -> usize {
        if v <= 1u64 << first_shift {
            return 0;
        }
        // ceil(log2(v)) for v >= 2.
        let log = 64 - (v - 1).leading_zeros();
        ((log - first_shift) as usize).min(N - 1)
    }

    /// Counts one value. Only the owning core calls this.
    #[inline]
    pub(crate) fn observe(&self, v: u64) {
        self.buckets[Self::index(self.first_shift, v)].add(1);
        self.sum.add(v);
    }

    /// The upper bound of bucket `i` (`None` for the last: +Inf).
    pub(crate) fn bound(&self, i: usize) -> Option<u64> {
        (i + 1 < N).then(|| 1u64 << (self.first_shift + i as u32))
    }

    /// The count of each bucket (not cumulative) and the sum.
    pub(crate) fn read(&self) -> ([u64; N], u64) {
        (std::array::from_fn(|i| self.buckets[i].get()), self.sum.get())
    }
}

/// What one core counted about one peer node (or, for `peer: None`, about
/// every peer past [`PEERS_MAX`]).
#[derive(Debug, Default)]
pub(crate) struct PeerCounters {
    /// Tells, asks, replies and error replies queued on the link to the peer.
    pub messages_out: Counter,
    /// Bytes written to the peer's sockets (frames of every kind, ticks included).
    pub bytes_out: Counter,
    /// Tells, asks, replies and error replies read from the peer.
    pub messages_in: Counter,
    /// Bytes of whole frames read from the peer (ticks included).
    pub bytes_in: Counter,
}

/// What one core measures, read by the scrape thread.
#[derive(Debug)]
pub(crate) struct CoreMetrics {
    /// From an ask's registration in this core's pending table to its reply.
    pub ask_rtt_ns: Histogram<TIME_BUCKETS>,
    /// Archiving a message straight into a peer link's buffer (rkyv serialization).
    pub archive_ns: Histogram<TIME_BUCKETS>,
    /// Frames (header included) of messages queued for a peer.
    pub out_bytes: Histogram<SIZE_BUCKETS>,
    /// Frames (header included) of messages read from a peer.
    pub in_bytes: Histogram<SIZE_BUCKETS>,
    peers: Mutex<Vec<(Option<NodeId>, Arc<PeerCounters>)>>,
}

impl CoreMetrics {
    fn new() -> Self {
        CoreMetrics {
            ask_rtt_ns: Histogram::new(TIME_FIRST_SHIFT),
            archive_ns: Histogram::new(TIME_FIRST_SHIFT),
            out_bytes: Histogram::new(SIZE_FIRST_SHIFT),
            in_bytes: Histogram::new(SIZE_FIRST_SHIFT),
            peers: Mutex::new(Vec::new()),
        }
    }

    /// The counters of `peer` on this core, made on first use.
    fn peer(&self, peer: NodeId) -> Arc<PeerCounters> {
        let mut peers = self.peers.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some((_, c)) = peers.iter().find(|(p, _)| *p == Some(peer)) {
            return c.clone();
        }
        let key = if peers.len() < PEERS_MAX { Some(peer) } else { None };
        if let Some((_, c)) = peers.iter().find(|(p, _)| *p == key) {
            return c.clone();
        }
        let c = Arc::new(PeerCounters::default());
        peers.push((key, c.clone()));
        c
    }

    /// Every peer's counters, for a scrape.
    pub(crate) fn peers(&self) -> Vec<(Option<NodeId>, Arc<PeerCounters>)> {
        self.peers.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }
}

/// Everything a node measures, one entry per worker core.
#[derive(Debug)]
pub(crate) struct NodeMetrics {
    pub cores: Vec<Arc<CoreMetrics>>,
}

impl NodeMetrics {
    pub(crate) fn new(cores: usize) -> Arc<Self> {
        Arc::new(NodeMetrics { cores: (0..cores).map(|_| Arc::new(CoreMetrics::new())).collect() })
    }
}

/// What a core reports when a scrape samples it (taken on the core).
#[derive(Debug, Default, Clone)]
pub(crate) struct CoreSample {
    /// Live actors.
    pub actors: usize,
    /// Bytes queued in all of this core's mailboxes, and in the fullest one.
    pub mailbox_bytes: usize,
    pub mailbox_bytes_max: usize,
    /// Asks of this core waiting for a reply (`PendingTable::len`).
    pub asks_in_flight: usize,
    /// Bytes queued on each of this core's links, by peer.
    pub links: Vec<(NodeId, usize)>,
}

/// The channel a sampled core answers on.
pub(crate) type SampleReply = crate::sync::oneshot::Sender<CoreSample>;

thread_local! {
    /// Whether this thread is a worker core of a node with metrics on. A plain
    /// `const` bool: the hooks' only cost when off is loading it.
    static ON: Cell<bool> = const { Cell::new(false) };
    static CORE: OnceCell<Arc<CoreMetrics>> = const { OnceCell::new() };
}

/// Called once on a worker thread before its core runs: metrics on for this
/// core when `m` is given. A worker thread runs one core for its whole life.
pub(crate) fn enter_core(m: Option<Arc<CoreMetrics>>) {
    if let Some(m) = m {
        if CORE.with(|c| c.set(m)).is_ok() {
            ON.with(|on| on.set(true));
        }
    }
}

#[inline]
fn with_core(f: impl FnOnce(&CoreMetrics)) {
    CORE.with(|c| {
        if let Some(m) = c.get() {
            f(m)
        }
    })
}

/// The counters a new link to `peer` counts into: `None` when metrics are off.
pub(crate) fn link_meter(peer: NodeId) -> Option<Arc<PeerCounters>> {
    if !ON.with(Cell::get) {
        return None;
    }
    CORE.with(|c| c.get().map(|m| m.peer(peer)))
}

/// The time an ask starts, for its round trip, as nanoseconds since the
/// process's first measurement plus one (8 bytes in a pending entry, not an
/// `Instant`'s 16): 0 (no clock read) when metrics are off.
#[inline]
pub(crate) fn ask_started() -> u64 {
    if ON.with(Cell::get) {
        since_epoch_ns().saturating_add(1)
    } else {
        0
    }
}

/// An ask registered at `started` (from [`ask_started`]) got its reply
/// (0: not measured).
#[inline]
pub(crate) fn ask_replied(started: u64) {
    if started != 0 {
        let ns = since_epoch_ns().saturating_add(1).saturating_sub(started);
        with_core(|m| m.ask_rtt_ns.observe(ns));
    }
}

fn since_epoch_ns() -> u64 {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    let epoch = *EPOCH.get_or_init(crate::clock::now);
    u64::try_from(crate::clock::now().saturating_duration_since(epoch).as_nanos()).unwrap_or(u64::MAX)
}

fn elapsed_ns(t0: Instant) -> u64 {
    u64::try_from(crate::clock::now().saturating_duration_since(t0).as_nanos()).unwrap_or(u64::MAX)
}

/// A message of `bytes` (whole frame) was queued for a peer; `archive_start`
/// is when archiving it began (`None` for a frame forwarded as it was).
#[cold]
pub(crate) fn queued_for_peer(c: &PeerCounters, bytes: usize, archive_start: Option<Instant>) {
    c.messages_out.add(1);
    with_core(|m| {
        m.out_bytes.observe(bytes as u64);
        if let Some(t0) = archive_start {
            m.archive_ns.observe(elapsed_ns(t0));
        }
    });
}

/// A whole frame of `bytes` of `kind` was read from a peer.
#[cold]
pub(crate) fn read_from_peer(c: &PeerCounters, kind: FrameKind, bytes: usize) {
    c.bytes_in.add(bytes as u64);
    if kind != FrameKind::Tick {
        c.messages_in.add(1);
        with_core(|m| m.in_bytes.observe(bytes as u64));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_land_in_the_first_bucket_whose_bound_holds_them() {
        type H = Histogram<SIZE_BUCKETS>;
        let h = H::new(SIZE_FIRST_SHIFT);
        for (v, i) in [(0, 0), (1, 0), (32, 0), (33, 1), (64, 1), (65, 2), (4 << 20, 17), ((4 << 20) + 1, 18)]
        {
            assert_eq!(H::index(SIZE_FIRST_SHIFT, v), i, "value {v}");
        }
        assert_eq!(H::index(SIZE_FIRST_SHIFT, u64::MAX), SIZE_BUCKETS - 1);
        assert_eq!((h.bound(0), h.bound(17), h.bound(18)), (Some(32), Some(4 << 20), None));
        h.observe(40);
        h.observe(40);
        h.observe(1 << 30);
        let (b, sum) = h.read();
        assert_eq!((b[1], b[18], b.iter().sum::<u64>(), sum), (2, 1, 3, 80 + (1 << 30)));
    }

    #[test]
    fn peers_past_the_bound_share_one_series() {
        let m = CoreMetrics::new();
        let first = m.peer(NodeId(1));
        assert!(Arc::ptr_eq(&first, &m.peer(NodeId(1))), "one series per peer");
        for n in 2..=PEERS_MAX as u64 + 5 {
            m.peer(NodeId(n));
        }
        let peers = m.peers();
        assert_eq!(peers.len(), PEERS_MAX + 1);
        assert_eq!(peers.iter().filter(|(p, _)| p.is_none()).count(), 1);
    }

    #[test]
    fn hooks_do_nothing_off_core() {
        assert!(link_meter(NodeId(7)).is_none());
        assert_eq!(ask_started(), 0);
        ask_replied(0);
    }
}
