//! Unit tests of the supervision rules (`policy.rs`): restart types, backoff
//! growth and bound, the restart window. Must never: touch a core.

use std::time::Duration;

use super::{Backoff, Restart, Window};
use crate::actor::down::DownReason;

const MS: Duration = Duration::from_millis(1);

#[test]
fn restart_types_follow_otp() {
    let failure = DownReason::Panicked { message: "boom".into(), type_id: 1, message_type: None };
    assert!(Restart::Permanent.restarts_after(&DownReason::Normal));
    assert!(Restart::Permanent.restarts_after(&failure));
    assert!(!Restart::Transient.restarts_after(&DownReason::Normal));
    assert!(Restart::Transient.restarts_after(&failure));
    assert!(Restart::Transient.restarts_after(&DownReason::NodeDown));
    assert!(!Restart::Temporary.restarts_after(&failure));
}

#[test]
fn exponential_backoff_doubles_up_to_its_bound() {
    let b = Backoff::exponential(10 * MS, 100 * MS);
    let delays: Vec<_> = (1..=6).map(|n| b.delay(n)).collect();
    assert_eq!(delays, [10 * MS, 20 * MS, 40 * MS, 80 * MS, 100 * MS, 100 * MS]);
    assert_eq!(b.delay(u32::MAX), 100 * MS);
    assert_eq!(Backoff::fixed(7 * MS).delay(9), 7 * MS);
    assert_eq!(Backoff::none().delay(1), Duration::ZERO);
    // A bound under the first delay is the first delay.
    assert_eq!(Backoff::exponential(10 * MS, MS).delay(3), 10 * MS);
}

#[test]
fn the_window_forgets_restarts_older_than_it() {
    let t0 = crate::clock::now();
    let mut w = Window::default();
    let within = 100 * MS;
    assert_eq!(w.record(t0, within), 1);
    assert_eq!(w.record(t0 + 50 * MS, within), 2);
    assert_eq!(w.record(t0 + 100 * MS, within), 3);
    // t0 is now 101 ms old.
    assert_eq!(w.record(t0 + 101 * MS, within), 3);
    assert_eq!(w.record(t0 + 500 * MS, within), 1);
}
