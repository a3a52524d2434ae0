//! The timer of one core's pending asks: the only code that gives the
//! [`PendingTable`](super::PendingTable) its `now`.
//!
//! Owns: [`run_expiry`], one task per worker core (started beside the core's
//! other tasks in `crate::node`), which sleeps on one glommio timer until the
//! table's next deadline, fails what is due with `AskError::Timeout` and counts
//! it (`asks_timed_out`); and [`pending_asks`], a debug accessor for tests.
//! An ask arms no timer of its own: the table wakes this task only when a new
//! deadline is earlier than the one it sleeps for.
//!
//! Must never: hold the table borrowed across an await, or end before its
//! core does (a core without it would keep foreign entries forever).

use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::rc::Rc;
use std::task::Poll;
use std::time::Duration;

use crate::clock;
use crate::core::CoreRt;

/// How long the timer is set for while no ask waits (it is reset before use).
const IDLE: Duration = Duration::from_secs(3600);

/// Expires the asks of `core` at their deadlines, for as long as the core runs.
pub(crate) async fn run_expiry(core: Rc<CoreRt>) {
    let mut timer = glommio::timer::Timer::new(IDLE);
    loop {
        let now = clock::now();
        let failed = core.pending.borrow_mut().expire(now);
        if failed > 0 {
            core.stats().asks_timed_out.add(failed as u64);
        }
        let next = core.pending.borrow().next_deadline();
        if let Some(at) = next {
            timer.reset(at.saturating_duration_since(now));
        }
        // Sleep until the deadline, or until the table wakes this task for an
        // earlier one; either way, look again.
        let mut armed = false;
        poll_fn(|cx| {
            if armed {
                return Poll::Ready(());
            }
            armed = true;
            core.pending.borrow_mut().arm(cx.waker());
            match next {
                Some(_) => Pin::new(&mut timer).poll(cx).map(|_| ()),
                None => Poll::Pending,
            }
        })
        .await;
    }
}
