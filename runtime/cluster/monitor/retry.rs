//! The watch messages of one core whose path was full, waiting to be sent
//! again: a bounded queue without I/O.
//!
//! Owns: [`RetryQueue`] and its bound [`WATCH_RETRY_MAX`]. The caller
//! (`crate::cluster::monitor`) queues a message whose path (mailbox, ring, link)
//! was full, runs one task per core while the queue is not empty, and on each
//! tick calls [`RetryQueue::round`] with `now` and a function that tries one
//! send. Messages to one destination leave in the order they were queued, and a
//! new message to a destination that has one queued must queue behind it
//! ([`RetryQueue::holds_for`]).
//!
//! When the queue is full, [`RetryQueue::push`] gives the message back: the
//! caller drops it, counts it (`watch_messages_dropped`) and logs it, and a
//! dropped watch request is reported to its watcher as a down (`NoConnection`).
//!
//! Must never: grow past its bound, send or read the clock itself, or let a
//! message to one destination overtake an earlier one to the same destination.

use std::collections::{HashSet, VecDeque};
use std::time::Instant;

use crate::ids::ActorId;

/// How many watch messages one core keeps for a retry. Each is a few dozen
/// bytes (a down report carries its reason's text, such as a panic message).
pub(crate) const WATCH_RETRY_MAX: usize = 4096;

/// What one try to send a queued message did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Attempt<E> {
    /// It left.
    Sent,
    /// Its path is still full: try again next round, until its give-up time.
    Full,
    /// It can never be sent (`E` says why): give it up now.
    Failed(E),
}

struct Queued<T> {
    to: ActorId,
    msg: T,
    give_up: Instant,
}

/// A message given up by a round: failed for good (`Some(why)`), or its path
/// stayed full until its give-up time (`None`).
pub(crate) type GivenUp<T, E> = (ActorId, T, Option<E>);

/// The bounded retry queue of one core.
pub(crate) struct RetryQueue<T> {
    items: VecDeque<Queued<T>>,
    max: usize,
    /// Destinations whose message stayed full in the current round (kept for
    /// its capacity).
    blocked: HashSet<ActorId>,
    /// A task runs rounds: set by the push that finds none, cleared by
    /// [`RetryQueue::finish_if_empty`].
    running: bool,
}

impl<T> Default for RetryQueue<T> {
    fn default() -> Self {
        RetryQueue::new(WATCH_RETRY_MAX)
    }
}

impl<T> RetryQueue<T> {
    /// An empty queue that holds at most `max` messages.
    pub fn new(max: usize) -> Self {
        RetryQueue { items: VecDeque::new(), max, blocked: HashSet::new(), running: false }
    }

    /// How many messages wait.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Whether a message to `to` waits (a new one to `to` must queue behind it).
    pub fn holds_for(&self, to: ActorId) -> bool {
        self.items.iter().any(|q| q.to == to)
    }

    /// Queues `msg` for `to` until `give_up`. `Ok(true)`: no task runs rounds
    /// yet, start one. `Err(msg)`: the queue is full; nothing was queued.
    pub fn push(&mut self, to: ActorId, msg: T, give_up: Instant) -> Result<bool, T> {
        if self.items.len() >= self.max {
            return Err(msg);
        }
        self.items.push_back(Queued { to, msg, give_up });
        Ok(!std::mem::replace(&mut self.running, true))
    }

    /// One round: offers every queued message, oldest first, to `attempt`; a
    /// message whose destination already stayed full this round waits without
    /// a try. Returns the messages given up, in queue order: `attempt` failed
    /// them, or their path was still full at or after their give-up time.
    pub fn round<E>(
        &mut self,
        now: Instant,
        mut attempt: impl FnMut(ActorId, &T) -> Attempt<E>,
    ) -> Vec<GivenUp<T, E>> {
        let mut given_up = Vec::new();
        self.blocked.clear();
        // Rotate once through the queue: what stays is pushed back in order.
        for _ in 0..self.items.len() {
            let Some(q) = self.items.pop_front() else { break };
            if self.blocked.contains(&q.to) {
                self.items.push_back(q);
                continue;
            }
            match attempt(q.to, &q.msg) {
                Attempt::Sent => {}
                Attempt::Failed(why) => given_up.push((q.to, q.msg, Some(why))),
                Attempt::Full => {
                    self.blocked.insert(q.to);
                    if now >= q.give_up {
                        given_up.push((q.to, q.msg, None));
                    } else {
                        self.items.push_back(q);
                    }
                }
            }
        }
        given_up
    }

    /// Called by the task after a round: true, and the task must end, when
    /// nothing waits (the next push starts a new one).
    pub fn finish_if_empty(&mut self) -> bool {
        if self.items.is_empty() {
            self.running = false;
        }
        !self.running
    }
}

#[cfg(test)]
#[path = "retry_tests.rs"]
mod tests;
