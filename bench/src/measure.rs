//! The measuring loops every system's figures share, so coremesh, ractor
//! and the raw baselines are timed the same way: when a run stops
//! ([`Stop`]), the warm-up before round trips ([`warm_up`]), and the
//! sequential round-trip loop for async clients ([`rtt`]).
//!
//! It owns no sockets, actors or runtimes: callers pass in one round trip.
//! It must never decide what a round trip is, and never stop a timed run
//! before its minimum (a figure is at least as long as asked for).

use std::future::Future;
use std::time::{Duration, Instant};

use crate::raw::Latencies;

/// When a stream of tells stops.
#[derive(Clone, Copy, Debug)]
pub enum Stop {
    /// After this many messages (criterion's iteration count).
    Count(u64),
    /// Once at least this long has passed (the fixed-time figures).
    After(Duration),
}

impl Stop {
    /// How many of the next `batch` messages to send, `sent` being sent so far.
    pub fn next_batch(self, sent: u64, batch: u64) -> u64 {
        match self {
            Stop::Count(n) => batch.min(n.saturating_sub(sent)),
            Stop::After(_) => batch,
        }
    }

    /// Whether the run is over after `sent` messages, started at `start`.
    pub fn done(self, sent: u64, start: Instant) -> bool {
        match self {
            Stop::Count(n) => sent >= n,
            Stop::After(d) => start.elapsed() >= d,
        }
    }
}

/// The untimed warm-up before a run of round trips of at least `min`: a
/// tenth of it, at most 200 ms.
pub fn warm_up(min: Duration) -> Duration {
    (min / 10).min(Duration::from_millis(200))
}

/// Sequential round trips: [`warm_up`] of `min` untimed, then every call of
/// `round_trip` timed until `min` has passed. `None` if no sample was taken
/// (never, since at least one is).
pub async fn rtt<E, F, Fut>(min: Duration, mut round_trip: F) -> Result<Option<Latencies>, E>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<(), E>>,
{
    let warm = warm_up(min);
    let start = Instant::now();
    while start.elapsed() < warm {
        round_trip().await?;
    }
    let mut samples: Vec<u64> = Vec::with_capacity(1 << 16);
    let start = Instant::now();
    loop {
        let t = Instant::now();
        round_trip().await?;
        let end = Instant::now();
        samples.push(end.duration_since(t).as_nanos() as u64);
        if end.duration_since(start) >= min {
            break;
        }
    }
    Ok(Latencies::from_samples(&mut samples))
}

/// The output of `fut` if it completes at its first poll (a future built
/// only from ready futures, such as a loop of blocking calls), else `None`.
pub fn ready_now<F: Future>(fut: F) -> Option<F::Output> {
    let mut fut = std::pin::pin!(fut);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    match fut.as_mut().poll(&mut cx) {
        std::task::Poll::Ready(out) => Some(out),
        std::task::Poll::Pending => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn count_stops_exactly() {
        let s = Stop::Count(300);
        assert_eq!(s.next_batch(0, 256), 256);
        assert_eq!(s.next_batch(256, 256), 44);
        assert!(!s.done(256, Instant::now()));
        assert!(s.done(300, Instant::now()));
        assert_eq!(Stop::Count(0).next_batch(0, 256), 0);
    }

    #[test]
    fn warm_up_is_a_tenth_capped() {
        assert_eq!(warm_up(Duration::from_millis(500)), Duration::from_millis(50));
        assert_eq!(warm_up(Duration::from_secs(10)), Duration::from_millis(200));
    }
}
