//! A list of tasks waiting for one condition on a core.
//!
//! Owns: [`Waiters`], which keeps each waiting task once however often it
//! registers, and wakes them all at once. A task that polls again before the
//! condition holds (a reader that also wakes on a 1 ms timer) must not add a
//! waker each time: the list would grow without bound, and glommio counts a
//! task's wakers in an `i16` that overflows (and panics) past 32,767.
//!
//! Must never: be shared between threads (glommio's wakers wake their own
//! executor only), or hold two wakers of one task.

use std::task::Waker;

/// The tasks waiting for one condition, each once.
#[derive(Default)]
pub(crate) struct Waiters {
    wakers: Vec<Waker>,
}

impl Waiters {
    /// Adds `waker`'s task unless it already waits here.
    pub(crate) fn register(&mut self, waker: &Waker) {
        if !self.wakers.iter().any(|w| w.will_wake(waker)) {
            self.wakers.push(waker.clone());
        }
    }

    /// Wakes every waiting task and forgets them.
    pub(crate) fn wake_all(&mut self) {
        for w in self.wakers.drain(..) {
            w.wake();
        }
    }

    /// How many tasks wait.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.wakers.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};
    use std::task::Wake;

    struct Count(Mutex<usize>);
    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            *self.0.lock().unwrap() += 1;
        }
    }

    #[test]
    fn a_task_registering_again_and_again_is_kept_once_and_woken_once() {
        let (a, b) = (Arc::new(Count(Mutex::new(0))), Arc::new(Count(Mutex::new(0))));
        let (wa, wb) = (Waker::from(a.clone()), Waker::from(b.clone()));
        let mut w = Waiters::default();
        for _ in 0..100_000 {
            w.register(&wa);
        }
        w.register(&wb);
        w.register(&wb.clone());
        assert_eq!(w.len(), 2);
        w.wake_all();
        assert_eq!((*a.0.lock().unwrap(), *b.0.lock().unwrap()), (1, 1));
        assert_eq!(w.len(), 0);
        w.register(&wa);
        assert_eq!(w.len(), 1, "a woken task may wait again");
    }
}
