//! One actor's home on its core: its state, its context and its mailbox, and
//! the inline path that runs a sync handler straight from the buffer a frame
//! arrived in.
//!
//! Owns: [`ActorCell`] and the type-erased [`ErasedCell`] the core's actor table
//! holds. A frame that arrives on this core from a ring (and, with the
//! transport, from a socket) is handed to [`ErasedCell::try_inline`]: when the
//! actor is idle and has nothing queued, its handler reads the frame where it
//! lies, with no copy; otherwise the frame joins the mailbox.
//!
//! A cell can also be stopped from outside ([`ErasedCell::kill`], when a linked
//! actor fails): the reason waits in the cell for the actor's task.
//!
//! Must never: run a handler while the actor is already running one (the state's
//! `RefCell` borrow is the proof), or let a frame overtake one queued before it
//! (inline only when the mailbox is empty).

use std::cell::{Cell, RefCell};
use std::panic::{catch_unwind, AssertUnwindSafe};

use coremesh_wire::{CheckedFrame, ReplyErrorCode};

use super::mailbox::{Mailbox, MailboxState};
use super::CoreRt;
use crate::actor::ctx::Ctx;
use crate::actor::glue::{Delivery, Trust};
use crate::actor::{Dispatch, StopReason, SyncDispatch};
use crate::clock;
use crate::ids::NodeId;

/// An actor and its context.
pub(crate) struct ActorState<A> {
    pub actor: A,
    pub ctx: Ctx<A>,
}

/// Everything one actor owns on its core.
pub(crate) struct ActorCell<A> {
    pub state: RefCell<ActorState<A>>,
    pub mailbox: RefCell<Mailbox>,
    /// Initialised and not stopping: frames may be handled inline.
    pub ready: Cell<bool>,
    /// Stopped from outside (a linked actor failed): the reason, taken by the
    /// actor's task before its next batch.
    pub killed: RefCell<Option<StopReason>>,
}

impl<A> ActorCell<A> {
    /// The reason the actor was stopped from outside, if it was.
    pub(crate) fn take_kill(&self) -> Option<StopReason> {
        self.killed.borrow_mut().take()
    }
}

/// What the core's actor table sees of a cell.
pub(crate) trait ErasedCell {
    /// The mailbox.
    fn mailbox(&self) -> &RefCell<Mailbox>;
    /// Handles `frame` now, in place, if the actor is idle with an empty mailbox
    /// and the message has a sync handler. Returns whether it did (false: the
    /// caller queues the frame).
    fn try_inline(&self, frame: &CheckedFrame<'_>, trust: Trust, sender: NodeId, core: &CoreRt) -> bool;
    /// Stops the actor from outside before its next message, unless it is
    /// already stopping from outside (then that reason stands). Not meant to be
    /// called while the actor's own handler runs (it would finish its batch).
    fn kill(&self, reason: StopReason);
}

impl<A: Dispatch> ErasedCell for ActorCell<A> {
    fn mailbox(&self) -> &RefCell<Mailbox> {
        &self.mailbox
    }

    fn kill(&self, reason: StopReason) {
        let mut mb = self.mailbox.borrow_mut();
        if mb.state() != MailboxState::Open {
            // Already stopping from outside (node shutdown, an earlier kill)
            // or stopped: the first reason stands.
            return;
        }
        *self.killed.borrow_mut() = Some(reason);
        self.ready.set(false);
        // No more inline handling (the mailbox is no longer `Open`), and the
        // task wakes up to stop.
        mb.request_stop();
    }

    #[inline]
    fn try_inline(&self, frame: &CheckedFrame<'_>, trust: Trust, sender: NodeId, core: &CoreRt) -> bool {
        if !self.ready.get() {
            return false;
        }
        {
            let mb = self.mailbox.borrow();
            if mb.queued_bytes() != 0 || mb.state() != MailboxState::Open {
                return false;
            }
        }
        let Ok(mut state) = self.state.try_borrow_mut() else { return false };
        let state = &mut *state;
        let delivery = Delivery::new(frame, trust, sender);
        let (actor, ctx) = (&mut state.actor, &mut state.ctx);
        match catch_unwind(AssertUnwindSafe(|| run_sync_one(actor, ctx, frame, delivery, core))) {
            Ok(Ran::Handled) => {
                core.stats().delivered.add(1);
                core.stats().inline.add(1);
            }
            Ok(Ran::Skipped) => {}
            Ok(Ran::Async) => return false,
            Err(p) => {
                let reason = panicked(core, &delivery, &*p);
                ctx.set_stop(reason);
            }
        }
        if ctx.stop_requested().is_some() {
            // The actor's task runs the stop sequence; wake it.
            self.ready.set(false);
            self.mailbox.borrow_mut().wake_actor();
        }
        true
    }
}

/// What [`run_sync_one`] did with a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ran {
    /// Its sync handler ran (the caller counts it as delivered).
    Handled,
    /// Answered without running: the ask was past its deadline, or the actor
    /// does not handle its type (both counted).
    Skipped,
    /// Its handler is async: the actor's task runs it.
    Async,
}

/// One frame through an actor's sync handler, the same from the inline path
/// (`try_inline`) and the actor's task (`actor_task.rs`): an expired ask is
/// answered and skipped, an unknown type is answered. The caller catches a
/// panic and hands it to [`panicked`].
#[inline]
pub(crate) fn run_sync_one<A: Dispatch>(
    actor: &mut A,
    ctx: &mut Ctx<A>,
    frame: &CheckedFrame<'_>,
    delivery: Delivery<'_>,
    core: &CoreRt,
) -> Ran {
    if expired(frame, &delivery, core) {
        return Ran::Skipped;
    }
    match actor.dispatch_sync(delivery, ctx) {
        SyncDispatch::Done => Ran::Handled,
        SyncDispatch::Async => Ran::Async,
        SyncDispatch::UnknownType => {
            unknown_type(&delivery, core);
            Ran::Skipped
        }
    }
}

/// A handler panicked on `delivery`: its asker gets `HandlerFailed`, and the
/// actor stops with the reason this returns.
#[cold]
pub(crate) fn panicked(core: &CoreRt, delivery: &Delivery<'_>, p: &(dyn std::any::Any + Send)) -> StopReason {
    if let Some(t) = delivery.reply_target() {
        core.send_error_reply(t, ReplyErrorCode::HandlerFailed);
    }
    let type_id = delivery.type_id();
    let message_type = crate::actor::message::name_of(type_id).map(str::to_string);
    StopReason::Panicked { message: panic_message(p), type_id, message_type }
}

/// An ask that arrives after its deadline is dropped unrun, answered and counted.
#[inline]
fn expired(frame: &CheckedFrame<'_>, delivery: &Delivery<'_>, core: &CoreRt) -> bool {
    let Some(ext) = frame.ask_ext() else { return false };
    if ext.deadline_unix_ns == 0 || clock::unix_now_ns() <= ext.deadline_unix_ns {
        return false;
    }
    core.stats().expired_asks.add(1);
    if let Some(t) = delivery.reply_target() {
        core.send_error_reply(t, ReplyErrorCode::DeadlineExpired);
    }
    true
}

/// A message of a type the actor does not handle: answered and counted.
fn unknown_type(delivery: &Delivery<'_>, core: &CoreRt) {
    core.stats().unknown_type.add(1);
    if let Some(t) = delivery.reply_target() {
        core.send_error_reply(t, ReplyErrorCode::UnknownType);
    }
}

pub(crate) fn panic_message(p: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = p.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = p.downcast_ref::<String>() {
        s.clone()
    } else {
        "a non-string panic payload".to_string()
    }
}
