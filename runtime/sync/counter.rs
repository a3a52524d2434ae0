//! Single-writer counters: one core increments, any thread reads.
//!
//! Owns: [`Counter`]. Must never: be written from two threads (the increment is a
//! relaxed load plus store, not a read-modify-write, so it costs no locked
//! instruction on the hot path).

use std::sync::atomic::{AtomicU64, Ordering};

/// A monotonically increasing count written by one thread and read by any.
#[derive(Debug, Default)]
pub struct Counter(AtomicU64);

impl Counter {
    /// Adds `n`. Only the owning core calls this.
    #[inline]
    pub fn add(&self, n: u64) {
        let v = self.0.load(Ordering::Relaxed);
        self.0.store(v.wrapping_add(n), Ordering::Relaxed);
    }

    /// The current value, as seen from any thread.
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}
