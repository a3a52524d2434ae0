//! Counters of what each core did, readable from any thread.
//!
//! Owns: [`CoreStats`] (written by its core only) and the [`NodeStats`]
//! snapshot. Each counter is named once, in the `counters!` list below, which
//! makes the live struct, its snapshot, the sum and the list the metrics
//! endpoint exports (`crate::metrics`). Must never: be updated from a thread
//! other than the owning core.

use crate::sync::counter::Counter;

macro_rules! counters {
    ($($(#[doc = $doc:literal])+ $name:ident,)+) => {
        /// The counters of one core.
        #[derive(Debug, Default)]
        pub struct CoreStats {
            $($(#[doc = $doc])+ pub $name: Counter,)+
        }

        /// A snapshot of one core's counters (each field as documented on
        /// [`CoreStats`]).
        #[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
        pub struct CoreStatsSnapshot {
            $($(#[doc = $doc])+ pub $name: u64,)+
        }

        impl CoreStats {
            /// Reads every counter.
            pub fn snapshot(&self) -> CoreStatsSnapshot {
                CoreStatsSnapshot { $($name: self.$name.get(),)+ }
            }
        }

        impl CoreStatsSnapshot {
            /// Every counter's name and doc, in declaration order (the
            /// metrics endpoint exports each as `coremesh_<name>_total`).
            pub(crate) const FIELDS: &'static [(&'static str, &'static str)] =
                &[$((stringify!($name), concat!($($doc),+)),)+];

            /// Every counter's value, in the order of [`Self::FIELDS`].
            pub(crate) fn values(&self) -> Vec<u64> {
                vec![$(self.$name,)+]
            }

            fn add(&mut self, other: &CoreStatsSnapshot) {
                $(self.$name += other.$name;)+
            }
        }
    };
}

counters! {
    /// Messages handed to a handler.
    delivered,
    /// Of those, messages handled inline: read where they arrived (a ring or a
    /// receive buffer), with no copy into a mailbox.
    inline,
    /// Messages dropped because their target had stopped or its mailbox was full.
    dead_letters,
    /// Asks dropped unrun because their deadline had passed on arrival.
    expired_asks,
    /// Replies that found no waiting ask (it timed out or was dropped).
    late_replies,
    /// Asks this core failed with `Timeout`: their deadline passed in its
    /// pending table with no reply (from a task of this core or an outside thread).
    asks_timed_out,
    /// Asks refused with `TooManyInFlight`: this core already had
    /// `COREMESH_INFLIGHT_ASKS_MAX` asks waiting; nothing was sent.
    asks_refused,
    /// Frames whose payload failed validation.
    invalid_frames,
    /// Messages of a type their target does not handle.
    unknown_type,
    /// Inbound connections that ended in the handshake without a link: a
    /// failed check, the peer's refusal or close, a bad advert, or the
    /// handshake deadline missed.
    refused_connections,
    /// Of those, inbound connections closed because their handshake missed
    /// its deadline (`COREMESH_HANDSHAKE_TIMEOUT_MS` from the accept).
    handshake_timeouts,
    /// Inbound connections closed right after accept, unread, because the
    /// node already had `COREMESH_HANDSHAKES_MAX` connections in the
    /// handshake, or their source `COREMESH_HANDSHAKES_PER_SOURCE_MAX`.
    handshakes_shed,
    /// Of those, the ones over their source's bound.
    handshakes_shed_per_source,
    /// Accepts that failed (most likely the process or the system out of file
    /// descriptors: EMFILE, ENFILE); the accept loop waits 10 ms after each.
    accept_errors,
    /// Connections whose handshake succeeded (dialed or accepted).
    connections_opened,
    /// Of those, connections that have ended.
    connections_closed,
    /// Inbound connections refused as duplicates: both nodes dialed at once and
    /// this core kept its own dial.
    duplicate_connections,
    /// Heartbeat ticks not sent because the link to the peer was full.
    heartbeats_skipped,
    /// Tick frames read from a connection that named another node than the
    /// connection's peer (dropped: a peer cannot vouch for another node).
    ticks_refused,
    /// Replies and error replies that could not be queued (no way to the
    /// asking node, a full ring, a link closed as too slow): the asker's own
    /// deadline ends its ask.
    replies_dropped,
    /// Bytes of frames queued on a link (tells, asks, replies) dropped unsent
    /// because the link went down: what was accepted before the core knew the
    /// connection was lost. Asks among them fail with `ConnectionLost`.
    bytes_dropped_link_down,
    /// Connections closed because their peer read nothing back while this
    /// core's replies to it passed twice the link's bound.
    slow_links_closed,
    /// Watch messages (requests, down reports) dropped because their path
    /// stayed full for 10 s or this core's retry queue was full (logged).
    watch_messages_dropped,
    /// Reports to the control thread (a peer unresponsive or closed, a
    /// `connect` done) dropped because its queue was full
    /// (`CONTROL_REPORTS_MAX`).
    control_reports_dropped,
    /// Actors spawned.
    actors_spawned,
    /// Actors stopped.
    actors_stopped,
}

/// The counters of every core of a node, and their sum.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct NodeStats {
    /// One entry per worker core, in core order.
    pub cores: Vec<CoreStatsSnapshot>,
}

impl NodeStats {
    /// The sum over all cores.
    pub fn total(&self) -> CoreStatsSnapshot {
        let mut t = CoreStatsSnapshot::default();
        for c in &self.cores {
            t.add(c);
        }
        t
    }
}
