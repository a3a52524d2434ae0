//! Commands from other threads to one worker core.
//!
//! Owns: [`Inbox`], a mutex-guarded queue with a lock-free "anything there?"
//! flag, so the core's poll loop pays one relaxed load when it is empty, and a
//! count of the queued commands that may pass held ones ([`Passing`]), so a
//! core that holds back part of its input still takes its control commands.
//! Must never: carry per-message traffic between cores (that is the rings' job);
//! it serves threads outside the runtime, spawns and shutdown.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Mutex, PoisonError};

/// Which commands a core takes while it holds the others back
/// ([`Inbox::drain_passing_into`]).
pub trait Passing {
    /// Whether this command is taken even while the core holds others back.
    fn passes(&self) -> bool;
}

/// A multi-producer queue drained by one core.
#[derive(Debug)]
pub struct Inbox<T> {
    nonempty: AtomicBool,
    /// How many queued commands pass (changed under the lock).
    passing: AtomicUsize,
    queue: Mutex<VecDeque<T>>,
    capacity: usize,
}

impl<T: Passing> Inbox<T> {
    /// An inbox that holds at most `capacity` commands.
    pub fn new(capacity: usize) -> Self {
        Inbox {
            nonempty: AtomicBool::new(false),
            passing: AtomicUsize::new(0),
            queue: Mutex::new(VecDeque::new()),
            capacity,
        }
    }

    /// Queues one command (wake the core afterwards). Gives it back when full.
    pub fn push(&self, item: T) -> Result<(), T> {
        let mut q = self.queue.lock().unwrap_or_else(PoisonError::into_inner);
        if q.len() >= self.capacity {
            return Err(item);
        }
        self.queued(&mut q, item);
        Ok(())
    }

    /// Queues a command even past the bound (control commands such as shutdown,
    /// which must never be refused).
    pub fn push_control(&self, item: T) {
        let mut q = self.queue.lock().unwrap_or_else(PoisonError::into_inner);
        self.queued(&mut q, item);
    }

    fn queued(&self, q: &mut VecDeque<T>, item: T) {
        if item.passes() {
            self.passing.fetch_add(1, Ordering::Relaxed);
        }
        q.push_back(item);
        self.nonempty.store(true, Ordering::Release);
    }

    /// Whether anything is queued (one atomic load).
    #[inline]
    pub fn is_nonempty(&self) -> bool {
        self.nonempty.load(Ordering::Acquire)
    }

    /// Whether a command that passes is queued (one atomic load).
    #[inline]
    pub fn has_passing(&self) -> bool {
        self.passing.load(Ordering::Acquire) > 0
    }

    /// Moves everything queued into `out`. Returns whether anything was.
    pub fn drain_into(&self, out: &mut VecDeque<T>) -> bool {
        if !self.is_nonempty() {
            return false;
        }
        let mut q = self.queue.lock().unwrap_or_else(PoisonError::into_inner);
        self.nonempty.store(false, Ordering::Relaxed);
        self.passing.store(0, Ordering::Relaxed);
        let any = !q.is_empty();
        out.extend(q.drain(..));
        any
    }

    /// Moves only the commands that pass into `out`, in order; the others stay
    /// queued in order and keep counting against the bound. Returns whether
    /// any moved. Costs one atomic load when none passes, and one pass over
    /// the queue when some do (control commands are rare).
    pub fn drain_passing_into(&self, out: &mut VecDeque<T>) -> bool {
        if !self.has_passing() {
            return false;
        }
        let mut q = self.queue.lock().unwrap_or_else(PoisonError::into_inner);
        self.passing.store(0, Ordering::Relaxed);
        let before = out.len();
        let mut kept = VecDeque::with_capacity(q.len());
        for item in q.drain(..) {
            if item.passes() {
                out.push_back(item);
            } else {
                kept.push_back(item);
            }
        }
        *q = kept;
        self.nonempty.store(!q.is_empty(), Ordering::Relaxed);
        out.len() > before
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    impl Passing for (bool, u32) {
        fn passes(&self) -> bool {
            self.0
        }
    }

    #[test]
    fn passing_commands_leave_the_held_ones_in_order_and_counted() {
        let inbox = Inbox::new(4);
        for item in [(false, 1), (true, 2), (false, 3), (true, 4)] {
            inbox.push(item).unwrap();
        }
        assert_eq!(inbox.push((false, 5)), Err((false, 5)));
        let mut out = VecDeque::new();
        assert!(inbox.drain_passing_into(&mut out));
        assert_eq!(out, [(true, 2), (true, 4)]);
        assert!(!inbox.has_passing() && inbox.is_nonempty());
        assert!(!inbox.drain_passing_into(&mut out));
        // The held ones still count: two more fit, not four.
        inbox.push((false, 6)).unwrap();
        inbox.push((true, 7)).unwrap();
        assert_eq!(inbox.push((false, 8)), Err((false, 8)));
        out.clear();
        assert!(inbox.drain_into(&mut out));
        assert_eq!(out, [(false, 1), (false, 3), (false, 6), (true, 7)]);
        assert!(!inbox.is_nonempty() && !inbox.has_passing());
    }
}
