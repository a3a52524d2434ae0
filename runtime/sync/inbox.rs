//! Commands from other threads to one worker core.
//!
//! Owns: [`Inbox`], a mutex-guarded queue with a lock-free "anything there?"
//! flag, so the core's poll loop pays one relaxed load when it is empty. Must
//! never: carry per-message traffic between cores (that is the rings' job); it
//! serves threads outside the runtime, spawns and shutdown.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, PoisonError};

/// A multi-producer queue drained by one core.
#[derive(Debug)]
pub struct Inbox<T> {
    nonempty: AtomicBool,
    queue: Mutex<VecDeque<T>>,
    capacity: usize,
}

impl<T> Inbox<T> {
    /// An inbox that holds at most `capacity` commands.
    pub fn new(capacity: usize) -> Self {
        Inbox { nonempty: AtomicBool::new(false), queue: Mutex::new(VecDeque::new()), capacity }
    }

    /// Queues one command (wake the core afterwards). Gives it back when full.
    pub fn push(&self, item: T) -> Result<(), T> {
        let mut q = self.queue.lock().unwrap_or_else(PoisonError::into_inner);
        if q.len() >= self.capacity {
            return Err(item);
        }
        q.push_back(item);
        self.nonempty.store(true, Ordering::Release);
        Ok(())
    }

    /// Queues a command even past the bound (control commands such as shutdown,
    /// which must never be refused).
    pub fn push_control(&self, item: T) {
        let mut q = self.queue.lock().unwrap_or_else(PoisonError::into_inner);
        q.push_back(item);
        self.nonempty.store(true, Ordering::Release);
    }

    /// Whether anything is queued (one atomic load).
    #[inline]
    pub fn is_nonempty(&self) -> bool {
        self.nonempty.load(Ordering::Acquire)
    }

    /// Moves everything queued into `out`. Returns whether anything was.
    pub fn drain_into(&self, out: &mut VecDeque<T>) -> bool {
        if !self.is_nonempty() {
            return false;
        }
        let mut q = self.queue.lock().unwrap_or_else(PoisonError::into_inner);
        self.nonempty.store(false, Ordering::Relaxed);
        let any = !q.is_empty();
        out.extend(q.drain(..));
        any
    }
}
