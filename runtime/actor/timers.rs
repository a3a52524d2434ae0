//! An actor's timers: [`Ctx::send_after`](crate::Ctx::send_after) and
//! [`Ctx::interval`](crate::Ctx::interval), and the [`TimerHandle`] that
//! cancels one.
//!
//! Owns: one glommio task per timer (not per message), which sleeps on the
//! core's timer wheel and then tells the actor its message, through its
//! mailbox like any tell; and the list of an actor's timers ([`Timers`]),
//! cancelled all at once when the actor stops (its `Ctx` is dropped).
//!
//! Must never: run the actor's code on the timer's task (the message goes
//! through the mailbox, so the actor still handles one message at a time), or
//! keep an ended timer's task alive.

use std::cell::{Cell, RefCell};
use std::rc::{Rc, Weak};
use std::time::{Duration, Instant};

use crate::actor::message::Message;
use crate::actor::send::Handles;
use crate::actor::Actor;
use crate::clock;
use crate::error::TellError;
use crate::ids::ActorRef;

/// The state one timer's task and its handle share.
#[derive(Default)]
struct TimerState {
    cancelled: Cell<bool>,
    finished: Cell<bool>,
    task: RefCell<Option<glommio::task::JoinHandle<()>>>,
}

impl TimerState {
    fn cancel(&self) {
        self.cancelled.set(true);
        if let Some(task) = self.task.borrow_mut().take() {
            task.cancel();
        }
    }
}

/// Cancels a timer made with [`Ctx::send_after`](crate::Ctx::send_after) or
/// [`Ctx::interval`](crate::Ctx::interval). Dropping the handle does not
/// cancel the timer; the actor's stop does. Use it on the actor's core (it is
/// not `Send`).
pub struct TimerHandle {
    state: Rc<TimerState>,
}

impl TimerHandle {
    /// Stops the timer: no message is sent by it after this returns. A message
    /// it already put in the mailbox is still handled.
    pub fn cancel(&self) {
        self.state.cancel();
    }

    /// Whether the timer is over: cancelled, its actor stopped, or (for
    /// `send_after`) its message sent.
    pub fn is_finished(&self) -> bool {
        self.state.cancelled.get() || self.state.finished.get()
    }
}

impl std::fmt::Debug for TimerHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TimerHandle").field("finished", &self.is_finished()).finish()
    }
}

/// The timers of one actor, kept (weakly) by its `Ctx` so its stop cancels
/// them. Ended timers are pruned as new ones are made (amortised: when the
/// list doubles), so the list is bounded by twice the live timers plus 16.
#[derive(Default)]
pub(crate) struct Timers {
    list: Vec<Weak<TimerState>>,
    prune_at: usize,
}

impl Timers {
    fn add(&mut self, state: &Rc<TimerState>) {
        if self.list.len() >= self.prune_at {
            self.list.retain(|w| w.upgrade().is_some_and(|s| !s.finished.get() && !s.cancelled.get()));
            self.prune_at = (2 * self.list.len()).max(16);
        }
        self.list.push(Rc::downgrade(state));
    }

    /// Cancels every timer still running (the actor stops).
    pub(crate) fn cancel_all(&mut self) {
        for w in self.list.drain(..) {
            if let Some(s) = w.upgrade() {
                s.cancel();
            }
        }
    }
}

/// The shortest period of an interval; a shorter one is taken as this.
pub const MIN_INTERVAL: Duration = Duration::from_millis(1);

/// Starts a timer task for `me` that tells it `next()` at `first`, then, for
/// an interval, every `every` after. A tick that finds the mailbox full is
/// skipped; a stopped actor ends the timer. Late ticks do not pile up: after a
/// stall the next tick is `every` after the late one.
pub(crate) fn start<A, M>(
    timers: &mut Timers,
    me: ActorRef<A>,
    first: Duration,
    every: Option<Duration>,
    mut next: impl FnMut() -> M + 'static,
) -> TimerHandle
where
    A: Actor + Handles<M>,
    M: Message,
{
    // A zero period would tell the actor on every poll of the core.
    let every = every.map(|d| d.max(MIN_INTERVAL));
    let state = Rc::new(TimerState::default());
    let task_state = Rc::clone(&state);
    let task = glommio::spawn_local(async move {
        let mut due = after(clock::now(), first);
        loop {
            crate::time::sleep(due.saturating_duration_since(clock::now())).await;
            if task_state.cancelled.get() {
                break;
            }
            match me.tell(next()) {
                Ok(())
                | Err(
                    TellError::MailboxFull { .. } | TellError::RingFull { .. } | TellError::LinkFull { .. },
                ) => {}
                Err(_) => break,
            }
            let Some(every) = every else { break };
            let now = clock::now();
            due = after(due, every);
            if due < now {
                due = after(now, every);
            }
        }
        task_state.finished.set(true);
        task_state.task.borrow_mut().take();
    })
    .detach();
    if !state.finished.get() {
        *state.task.borrow_mut() = Some(task);
    }
    timers.add(&state);
    TimerHandle { state }
}

/// `base + d`, saturating at a century (a timer that never fires).
fn after(base: Instant, d: Duration) -> Instant {
    crate::actor::send::deadline_after(base, d)
}
