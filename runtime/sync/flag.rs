//! A boolean set by one thread and read by others.
//!
//! Owns: [`Flag`]. Must never: be used to hand over data (it orders nothing
//! beyond itself; use the inbox or a ring for that).

use std::sync::atomic::{AtomicBool, Ordering};

/// A sticky cross-thread boolean.
#[derive(Debug, Default)]
pub struct Flag(AtomicBool);

impl Flag {
    /// Sets it.
    pub fn set(&self) {
        self.0.store(true, Ordering::SeqCst);
    }
    /// Reads it.
    pub fn is_set(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}
