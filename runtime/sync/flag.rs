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

/// SIGINT / SIGTERM turned into a flag the node's waiting thread polls.
#[derive(Debug)]
pub struct TermSignals(std::sync::Arc<AtomicBool>);

impl TermSignals {
    /// Installs handlers for SIGINT and SIGTERM that set the flag.
    pub fn install() -> std::io::Result<TermSignals> {
        let flag = std::sync::Arc::new(AtomicBool::new(false));
        for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
            signal_hook::flag::register(sig, flag.clone())?;
        }
        Ok(TermSignals(flag))
    }

    /// Whether either signal has arrived.
    pub fn received(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}
