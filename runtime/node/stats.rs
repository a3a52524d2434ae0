//! Counters of what each core did, readable from any thread.
//!
//! Owns: [`CoreStats`] (written by its core only) and the [`NodeStats`]
//! snapshot. Each counter is named once, in the `counters!` list below, which
//! makes the live struct, its snapshot and the sum. Must never: be updated from
//! a thread other than the owning core.

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
    /// Frames whose payload failed validation.
    invalid_frames,
    /// Messages of a type their target does not handle.
    unknown_type,
    /// Inbound connections refused in the handshake (a failed check).
    refused_connections,
    /// Connections whose handshake succeeded (dialed or accepted).
    connections_opened,
    /// Of those, connections that have ended.
    connections_closed,
    /// Inbound connections refused as duplicates: both nodes dialed at once and
    /// this core kept its own dial.
    duplicate_connections,
    /// Heartbeat ticks not sent because the link to the peer was full.
    heartbeats_skipped,
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
