//! One subscriber's membership events: [`Subscription`] and the bounded
//! queue behind it.
//!
//! Owns: the queue between the thread that publishes membership changes (the
//! control thread, under the state lock) and one subscriber, its bound
//! ([`SUBSCRIBER_EVENTS_MAX`]) and what happens past it: events that find the
//! queue full are dropped and counted, and the subscriber reads one
//! [`MemberEvent::Lagged`] saying how many, where they would have been, before
//! any later event.
//!
//! Must never: block the publisher (it holds the membership state lock), grow
//! past its bound, or drop an event without the subscriber reading that it
//! did.

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::Duration;

use super::MemberEvent;

/// How many membership events wait for one subscriber at most (a
/// [`MemberEvent::Lagged`] marker takes one of the places). A subscriber that
/// does not read loses the events past this bound, and then reads
/// `Lagged { missed }`; `NodeHandle::cluster_state` gives the view to resync
/// from.
pub const SUBSCRIBER_EVENTS_MAX: usize = 1024;

#[derive(Debug)]
struct Queue {
    events: VecDeque<MemberEvent>,
    /// Events dropped since the last one queued.
    missed: u64,
    /// The node is gone: nothing more will come.
    closed: bool,
}

/// The queue one publisher fills and one [`Subscription`] drains.
#[derive(Debug)]
pub(crate) struct EventQueue {
    queue: Mutex<Queue>,
    ready: Condvar,
    max: usize,
}

impl EventQueue {
    /// An empty queue holding at most `max` events (`max` ≥ 1).
    pub(crate) fn new(max: usize) -> Arc<EventQueue> {
        assert!(max >= 1, "a subscription holds at least one event");
        let queue = Queue { events: VecDeque::new(), missed: 0, closed: false };
        Arc::new(EventQueue { queue: Mutex::new(queue), ready: Condvar::new(), max })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Queues `event`, never waiting: when the queue is full it is dropped
    /// and counted. After a drop, the next event that finds room for itself
    /// and the marker goes in behind a `Lagged` marker.
    pub(crate) fn push(&self, event: MemberEvent) {
        let mut q = self.lock();
        let needed = if q.missed > 0 { 2 } else { 1 };
        if q.events.len() + needed > self.max {
            q.missed += 1;
            return;
        }
        if q.missed > 0 {
            let missed = std::mem::take(&mut q.missed);
            q.events.push_back(MemberEvent::Lagged { missed });
        }
        q.events.push_back(event);
        drop(q);
        self.ready.notify_one();
    }

    /// Nothing more will come; the subscriber reads what is queued, then `None`.
    pub(crate) fn close(&self) {
        self.lock().closed = true;
        self.ready.notify_all();
    }

    /// The next event, or the marker for the ones dropped after the last.
    fn pop(q: &mut Queue) -> Option<MemberEvent> {
        if let Some(e) = q.events.pop_front() {
            return Some(e);
        }
        (q.missed > 0).then(|| MemberEvent::Lagged { missed: std::mem::take(&mut q.missed) })
    }
}

/// Membership events, in the order this node saw them: the members up at
/// [`NodeHandle::subscribe`](crate::NodeHandle::subscribe), then every change.
/// Dropping it unsubscribes.
///
/// Bounded: at most [`SUBSCRIBER_EVENTS_MAX`] events wait. A subscriber that
/// falls that far behind loses the later events, and reads one
/// [`MemberEvent::Lagged`] in their place.
#[derive(Debug)]
pub struct Subscription {
    queue: Arc<EventQueue>,
}

impl Subscription {
    pub(crate) fn new(queue: Arc<EventQueue>) -> Self {
        Subscription { queue }
    }

    /// The next event, waiting at most `timeout`; `None` if none came (or the
    /// node stopped).
    pub fn next_timeout(&self, timeout: Duration) -> Option<MemberEvent> {
        let deadline = crate::clock::now() + timeout;
        let mut q = self.queue.lock();
        loop {
            if let Some(e) = EventQueue::pop(&mut q) {
                return Some(e);
            }
            let now = crate::clock::now();
            if q.closed || now >= deadline {
                return None;
            }
            q = self.queue.ready.wait_timeout(q, deadline - now).unwrap_or_else(PoisonError::into_inner).0;
        }
    }

    /// The next event if one is waiting.
    pub fn try_next(&self) -> Option<MemberEvent> {
        EventQueue::pop(&mut self.queue.lock())
    }
}
