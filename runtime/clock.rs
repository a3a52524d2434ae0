//! The one place that reads the clocks.
//!
//! Owns: `now()` (monotonic) and `unix_now_ns()` (wall clock, for deadlines that
//! travel to other nodes). Must never: be bypassed (`tests/tidy.rs` rejects
//! `Instant::now` elsewhere), so a simulated clock can later replace it here.

use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// The monotonic clock.
#[inline]
pub fn now() -> Instant {
    Instant::now()
}

/// Nanoseconds since the Unix epoch (0 if the clock is before 1970).
#[inline]
pub fn unix_now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}
