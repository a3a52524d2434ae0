//! Counters of what each core did, readable from any thread.
//!
//! Owns: [`CoreStats`] (written by its core only) and the [`NodeStats`]
//! snapshot. Must never: be updated from a thread other than the owning core.

use crate::sync::counter::Counter;

/// The counters of one core.
#[derive(Debug, Default)]
pub struct CoreStats {
    /// Messages handed to a handler.
    pub delivered: Counter,
    /// Of those, messages handled inline: read where they arrived (a ring),
    /// with no copy into a mailbox.
    pub inline: Counter,
    /// Messages dropped because their target had stopped or its mailbox was full.
    pub dead_letters: Counter,
    /// Asks dropped unrun because their deadline had passed on arrival.
    pub expired_asks: Counter,
    /// Replies that found no waiting ask (it timed out or was dropped).
    pub late_replies: Counter,
    /// Frames whose payload failed validation.
    pub invalid_frames: Counter,
    /// Messages of a type their target does not handle.
    pub unknown_type: Counter,
    /// Inbound connections refused in the handshake.
    pub refused_connections: Counter,
    /// Actors spawned.
    pub actors_spawned: Counter,
    /// Actors stopped.
    pub actors_stopped: Counter,
}

/// A snapshot of one core's counters.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct CoreStatsSnapshot {
    /// See [`CoreStats::delivered`].
    pub delivered: u64,
    /// See [`CoreStats::inline`].
    pub inline: u64,
    /// See [`CoreStats::dead_letters`].
    pub dead_letters: u64,
    /// See [`CoreStats::expired_asks`].
    pub expired_asks: u64,
    /// See [`CoreStats::late_replies`].
    pub late_replies: u64,
    /// See [`CoreStats::invalid_frames`].
    pub invalid_frames: u64,
    /// See [`CoreStats::unknown_type`].
    pub unknown_type: u64,
    /// See [`CoreStats::refused_connections`].
    pub refused_connections: u64,
    /// See [`CoreStats::actors_spawned`].
    pub actors_spawned: u64,
    /// See [`CoreStats::actors_stopped`].
    pub actors_stopped: u64,
}

impl CoreStats {
    /// Reads every counter.
    pub fn snapshot(&self) -> CoreStatsSnapshot {
        CoreStatsSnapshot {
            delivered: self.delivered.get(),
            inline: self.inline.get(),
            dead_letters: self.dead_letters.get(),
            expired_asks: self.expired_asks.get(),
            late_replies: self.late_replies.get(),
            invalid_frames: self.invalid_frames.get(),
            unknown_type: self.unknown_type.get(),
            refused_connections: self.refused_connections.get(),
            actors_spawned: self.actors_spawned.get(),
            actors_stopped: self.actors_stopped.get(),
        }
    }
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
            t.delivered += c.delivered;
            t.inline += c.inline;
            t.dead_letters += c.dead_letters;
            t.expired_asks += c.expired_asks;
            t.late_replies += c.late_replies;
            t.invalid_frames += c.invalid_frames;
            t.unknown_type += c.unknown_type;
            t.refused_connections += c.refused_connections;
            t.actors_spawned += c.actors_spawned;
            t.actors_stopped += c.actors_stopped;
        }
        t
    }
}
