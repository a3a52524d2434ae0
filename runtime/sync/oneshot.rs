//! A one-shot value handed from a worker core to any thread.
//!
//! Owns: [`OneShot`], which a thread outside the runtime either awaits (from any
//! executor, tokio included) or blocks on with a deadline. Must never: be used on a
//! per-message path inside the runtime (it takes a mutex and allocates once).

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::task::{Context, Poll, Waker};
use std::time::Instant;

#[derive(Debug)]
struct State<T> {
    value: Option<T>,
    waker: Option<Waker>,
    closed: bool,
}

#[derive(Debug)]
struct Inner<T> {
    state: Mutex<State<T>>,
    ready: Condvar,
}

/// The sending half: completes the value once.
#[derive(Debug)]
pub struct Sender<T>(Arc<Inner<T>>);

/// The receiving half: a future, or a blocking wait.
#[derive(Debug)]
pub struct Receiver<T>(Arc<Inner<T>>);

/// Makes a connected pair.
pub fn channel<T>() -> (Sender<T>, Receiver<T>) {
    let inner = Arc::new(Inner {
        state: Mutex::new(State { value: None, waker: None, closed: false }),
        ready: Condvar::new(),
    });
    (Sender(inner.clone()), Receiver(inner))
}

impl<T> Sender<T> {
    /// Delivers the value and wakes the receiver.
    pub fn send(self, value: T) {
        let waker = {
            let mut st = self.0.state.lock().unwrap_or_else(PoisonError::into_inner);
            st.value = Some(value);
            st.waker.take()
        };
        self.0.ready.notify_all();
        if let Some(w) = waker {
            w.wake();
        }
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        let waker = {
            let mut st = self.0.state.lock().unwrap_or_else(PoisonError::into_inner);
            st.closed = true;
            st.waker.take()
        };
        self.0.ready.notify_all();
        if let Some(w) = waker {
            w.wake();
        }
    }
}

/// Why no value came.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecvError {
    /// The sender was dropped without a value (its core stopped).
    Closed,
    /// The deadline passed first.
    Timeout,
}

impl<T> Receiver<T> {
    /// Blocks the calling thread until the value arrives or `deadline` passes.
    /// Never call this on a worker core: it would block the core.
    pub fn wait_until(self, deadline: Option<Instant>) -> Result<T, RecvError> {
        let mut st = self.0.state.lock().unwrap_or_else(PoisonError::into_inner);
        loop {
            if let Some(v) = st.value.take() {
                return Ok(v);
            }
            if st.closed {
                return Err(RecvError::Closed);
            }
            st = match deadline {
                None => self.0.ready.wait(st).unwrap_or_else(PoisonError::into_inner),
                Some(d) => {
                    let now = crate::clock::now();
                    if now >= d {
                        return Err(RecvError::Timeout);
                    }
                    self.0.ready.wait_timeout(st, d - now).unwrap_or_else(PoisonError::into_inner).0
                }
            };
        }
    }
}

impl<T> Future for Receiver<T> {
    type Output = Result<T, RecvError>;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut st = self.0.state.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(v) = st.value.take() {
            return Poll::Ready(Ok(v));
        }
        if st.closed {
            return Poll::Ready(Err(RecvError::Closed));
        }
        match &st.waker {
            Some(w) if w.will_wake(cx.waker()) => {}
            _ => st.waker = Some(cx.waker().clone()),
        }
        Poll::Pending
    }
}
