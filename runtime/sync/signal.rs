//! Waking a parked worker core from another thread.
//!
//! Owns: [`CoreSignal`], one per worker core, shared by every thread that feeds
//! that core (other cores through rings, outside threads through the inbox).
//!
//! Protocol (no lost wake-ups):
//! - consumer: `prepare_park(waker)` stores the waker and sets `sleeping`
//!   (SeqCst), then re-checks every input; only if all are still empty does it
//!   return `Pending`. If it finds work it calls `cancel_park`.
//! - producer: publishes its data (Release), then calls `notify`, which issues a
//!   SeqCst fence before it reads `sleeping`. Either the consumer's re-check sees
//!   the data, or the producer sees `sleeping == true` and wakes it.
//!
//! Must never: take the mutex unless the core is actually parked.

use std::sync::atomic::{fence, AtomicBool, Ordering};
use std::sync::{Mutex, PoisonError};
use std::task::Waker;

use crossbeam_utils::CachePadded;

/// The parked/awake state of one worker core and the waker that un-parks it.
#[derive(Debug, Default)]
pub struct CoreSignal {
    sleeping: CachePadded<AtomicBool>,
    waker: Mutex<Option<Waker>>,
}

impl CoreSignal {
    /// Consumer side: about to park. Re-check all inputs after this call.
    pub fn prepare_park(&self, waker: &Waker) {
        {
            let mut slot = self.waker.lock().unwrap_or_else(PoisonError::into_inner);
            match &*slot {
                Some(w) if w.will_wake(waker) => {}
                _ => *slot = Some(waker.clone()),
            }
        }
        self.sleeping.store(true, Ordering::SeqCst);
    }

    /// Consumer side: found work after `prepare_park`; stay awake.
    pub fn cancel_park(&self) {
        self.sleeping.store(false, Ordering::Relaxed);
    }

    /// Producer side: call after publishing data the consumer may be waiting for.
    #[inline]
    pub fn notify(&self) {
        fence(Ordering::SeqCst);
        if self.sleeping.load(Ordering::Relaxed) && self.sleeping.swap(false, Ordering::AcqRel) {
            let waker = self.waker.lock().unwrap_or_else(PoisonError::into_inner).take();
            if let Some(w) = waker {
                w.wake();
            }
        }
    }

    /// Drops the stored waker. The core calls this on its own thread before its
    /// executor ends: a glommio waker dropped last on another thread is queued
    /// back to its (gone) executor and its task is never freed.
    pub fn clear(&self) {
        self.sleeping.store(false, Ordering::SeqCst);
        drop(self.waker.lock().unwrap_or_else(PoisonError::into_inner).take());
    }

    /// Wakes the core whatever its state (shutdown, commands).
    pub fn force_wake(&self) {
        self.sleeping.store(false, Ordering::SeqCst);
        let waker = self.waker.lock().unwrap_or_else(PoisonError::into_inner).take();
        if let Some(w) = waker {
            w.wake();
        }
    }
}
