//! The rules a supervisor decides by, without I/O: [`Strategy`] (which
//! children one failure restarts), [`Restart`] (whether a child that stopped
//! is started again), [`Backoff`] (how long to wait first), and the sliding
//! window that counts restarts for the intensity limit and the backoff.
//!
//! Owns: these decisions only; they take `now` as an argument and are tested
//! with plain unit tests (`policy_tests.rs`). Must never: read the clock, touch
//! a core or an actor, or sleep.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::actor::down::DownReason;

/// Which children one child's failure restarts (OTP's strategies).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Strategy {
    /// Only the child that stopped.
    #[default]
    OneForOne,
    /// Every child: the others are stopped in reverse start order, then all
    /// are started again in start order.
    OneForAll,
    /// The child that stopped and every child started after it: those are
    /// stopped in reverse start order, then started again in start order.
    RestForOne,
}

/// Whether a child that stopped is started again (OTP's restart types).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Restart {
    /// Always, whatever the reason (also after a `Normal` stop).
    #[default]
    Permanent,
    /// Only after a failure ([`DownReason::is_failure`]): a `Normal` stop
    /// removes it.
    Transient,
    /// Never: once it stops it is removed, and a restart of its siblings
    /// (one_for_all, rest_for_one) stops it without starting it again.
    Temporary,
}

impl Restart {
    /// Whether a child of this kind that stopped for `reason` is started again.
    pub fn restarts_after(self, reason: &DownReason) -> bool {
        match self {
            Restart::Permanent => true,
            Restart::Transient => reason.is_failure(),
            Restart::Temporary => false,
        }
    }
}

/// How long a supervisor waits before it starts a stopped child again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backoff {
    /// The same delay before every restart (zero: at once).
    Fixed(Duration),
    /// `first` before the first restart within the intensity window, doubled
    /// for each further one, never more than `max`.
    Exponential {
        /// The delay before the first restart.
        first: Duration,
        /// The bound.
        max: Duration,
    },
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff::Fixed(Duration::ZERO)
    }
}

impl Backoff {
    /// No delay: a failed child is started again at once.
    pub fn none() -> Backoff {
        Backoff::Fixed(Duration::ZERO)
    }

    /// The same `delay` before every restart.
    pub fn fixed(delay: Duration) -> Backoff {
        Backoff::Fixed(delay)
    }

    /// `first`, doubled per restart, bounded by `max` (a `max` under `first`
    /// is taken as `first`).
    pub fn exponential(first: Duration, max: Duration) -> Backoff {
        Backoff::Exponential { first, max: max.max(first) }
    }

    /// The delay before the `nth` restart of a child within the intensity
    /// window (1 is the first).
    pub fn delay(self, nth: u32) -> Duration {
        match self {
            Backoff::Fixed(d) => d,
            Backoff::Exponential { first, max } => {
                let doublings = nth.saturating_sub(1).min(31);
                first.saturating_mul(1u32 << doublings).min(max)
            }
        }
    }
}

/// The times of recent restarts, forgetting those older than a window.
#[derive(Debug, Clone, Default)]
pub(crate) struct Window {
    at: VecDeque<Instant>,
}

impl Window {
    /// Records a restart at `now` and returns how many fall within `within`
    /// of it, this one included.
    pub(crate) fn record(&mut self, now: Instant, within: Duration) -> u32 {
        while self.at.front().is_some_and(|t| now.saturating_duration_since(*t) > within) {
            self.at.pop_front();
        }
        self.at.push_back(now);
        u32::try_from(self.at.len()).unwrap_or(u32::MAX)
    }
}

#[cfg(test)]
#[path = "policy_tests.rs"]
mod tests;
