//! One actor's life on its core: init, the message loop, stop.
//!
//! Owns: `run_actor`, the glommio task of one actor. It waits for mail, swaps the
//! mailbox's buffer out whole, and hands each frame to the actor's dispatch table
//! in place; then it stops the actor, failing what is left in its mailbox, and
//! reports the stop to the core's watch table (monitors and links).
//!
//! Must never: run two messages of one actor at once, or lose an ask without an
//! answer (every queued ask left at stop gets an `ActorStopped` error reply).

use std::future::poll_fn;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::rc::Rc;
use std::task::Poll;
use std::time::Duration;

use coremesh_wire::{FrameKind, ReplyErrorCode};
use futures_lite::FutureExt;
use rkyv::util::AlignedVec;

use super::cell::{panicked, run_sync_one, ActorCell, Ran};
use super::mailbox::MailboxState;
use super::CoreRt;
use crate::actor::ctx::Ctx;
use crate::actor::glue::{Delivery, Trust};
use crate::actor::{Dispatch, StopReason};
use crate::ids::ActorRef;

/// The task of one actor, from `started` to `stopped`. It holds the state's
/// borrow only while it runs handlers (and across an async handler's awaits), so
/// between batches the core may run sync handlers inline (`cell::try_inline`).
///
/// Holding the state's borrow across an await is the point: it is how the
/// inline path (which only ever `try_borrow_mut`s) knows the actor is busy.
#[allow(clippy::await_holding_refcell_ref)]
pub(crate) async fn run_actor<A: Dispatch>(cell: Rc<ActorCell<A>>, core: Rc<CoreRt>, me: ActorRef<A>) {
    let init_timeout = Duration::from_millis(core.shared().config.init_timeout_ms());
    let init = {
        let mut guard = cell.state.borrow_mut();
        let st = &mut *guard;
        // A panic in `started` stops this actor only, never its core.
        AssertUnwindSafe(async { Some(st.actor.started(&mut st.ctx).await) })
            .catch_unwind()
            .or(async {
                glommio::timer::sleep(init_timeout).await;
                Ok(None)
            })
            .await
    };
    let reason = match init {
        Ok(Some(Ok(()))) => {
            cell.ready.set(true);
            let reason = message_loop(&cell, &core).await;
            cell.ready.set(false);
            let mut guard = cell.state.borrow_mut();
            let st = &mut *guard;
            match catch_unwind(AssertUnwindSafe(|| st.actor.stopping(&mut st.ctx))) {
                Ok(()) => reason,
                // A failure in its last words is a failure: linked actors hear of it.
                Err(p) => hook_panicked("stopping", &*p),
            }
        }
        Ok(Some(Err(e))) => StopReason::InitFailed(e.to_string()),
        Ok(None) => StopReason::InitTimeout,
        Err(p) => hook_panicked("started", &*p),
    };
    cell.ready.set(false);
    let left = cell.mailbox.borrow_mut().close();
    fail_queued(&core, &left, 0);
    core.retire(me.id());
    core.monitors_actor_stopped(me.id(), &reason);
    if let StopReason::Panicked { message, type_id, message_type } = &reason {
        let name = message_type.as_deref().unwrap_or("(none)");
        tracing::error!(actor = %me.id(), type_id = format_args!("{type_id:#018x}"), message_type = name, %message, "handler panicked; actor stopped");
    }
    let stopped = catch_unwind(AssertUnwindSafe(|| cell.state.borrow_mut().actor.stopped(&reason)));
    if let Err(p) = stopped {
        // Its watchers were told already; the core goes on.
        let StopReason::Panicked { message, .. } = hook_panicked("stopped", &*p) else { return };
        tracing::error!(actor = %me.id(), %message, "stopped hook panicked");
    }
}

/// The stop reason of an actor whose `hook` (started, stopping, stopped)
/// panicked: `Panicked`, with no message type (type id 0).
#[cold]
fn hook_panicked(hook: &str, p: &(dyn std::any::Any + Send)) -> StopReason {
    StopReason::Panicked {
        message: format!("in {hook}: {}", super::cell::panic_message(p)),
        type_id: 0,
        message_type: None,
    }
}

/// How a run of sync handlers over a batch ended.
enum Step {
    /// Every frame of the batch was handled.
    Done,
    /// The frame at the offset has an async handler.
    Async,
    /// The actor asked to stop; the offset is past the last handled frame.
    Stop,
}

/// Handles mail until the actor stops; returns why it stopped. The state's
/// borrow is held across async handlers' awaits on purpose (see `run_actor`).
#[allow(clippy::await_holding_refcell_ref)]
async fn message_loop<A: Dispatch>(cell: &ActorCell<A>, core: &Rc<CoreRt>) -> StopReason {
    let mut batch = AlignedVec::<16>::new();
    loop {
        poll_fn(|cx| {
            if cell.mailbox.borrow_mut().poll_ready(cx.waker()) || !cell.ready.get() {
                Poll::Ready(())
            } else {
                Poll::Pending
            }
        })
        .await;
        let mut guard = cell.state.borrow_mut();
        let st = &mut *guard;
        if let Some(reason) = st.ctx.stop_requested() {
            // Stopped by a handler that ran inline.
            return reason.clone();
        }
        if let Some(reason) = cell.take_kill() {
            // Stopped from outside (a linked actor failed); run_actor fails the mail.
            return reason;
        }
        let state = {
            let mut mb = cell.mailbox.borrow_mut();
            mb.swap_out(&mut batch);
            mb.state()
        };
        core.mailbox_drained();
        let mut off = 0;
        while off < batch.len() {
            // Sync handlers run in one stretch under one unwind guard; `off` always
            // names the frame being handled, so a panic is pinned to its message.
            let step = {
                let (a, c, b, at) = (&mut st.actor, &mut st.ctx, &batch[..], &mut off);
                catch_unwind(AssertUnwindSafe(move || run_sync_frames(a, c, core, b, at)))
            };
            let frame = match step {
                Ok(Step::Done) => break,
                Ok(Step::Stop) => {
                    fail_queued(core, &batch, off);
                    batch.clear();
                    return st.ctx.stop_requested().cloned().unwrap_or(StopReason::Normal);
                }
                Ok(Step::Async) => decode(&batch, off),
                Err(p) => {
                    let frame = decode(&batch, off);
                    let delivery = Delivery::new(&frame, Trust::of(&frame), core.node_id());
                    let reason = panicked(core, &delivery, &*p);
                    fail_queued(core, &batch, off + frame.frame_len());
                    batch.clear();
                    return reason;
                }
            };
            off += frame.frame_len();
            let delivery = Delivery::new(&frame, Trust::of(&frame), core.node_id());
            let failed = match st.actor.dispatch_async(delivery, &mut st.ctx) {
                Some(fut) => AssertUnwindSafe(fut).catch_unwind().await.err(),
                None => None,
            };
            core.stats().delivered.add(1);
            if let Some(p) = failed {
                let reason = panicked(core, &delivery, &*p);
                st.ctx.set_stop(reason);
            }
            let killed = if st.ctx.stop_requested().is_some() { None } else { cell.take_kill() };
            if st.ctx.stop_requested().is_some() || killed.is_some() {
                fail_queued(core, &batch, off);
                batch.clear();
                return killed.or_else(|| st.ctx.stop_requested().cloned()).unwrap_or(StopReason::Normal);
            }
        }
        batch.clear();
        drop(guard);
        if state == MailboxState::StopRequested {
            return cell.take_kill().unwrap_or(StopReason::NodeShutdown);
        }
        glommio::yield_if_needed().await;
    }
}

fn decode(batch: &[u8], off: usize) -> coremesh_wire::CheckedFrame<'_> {
    match batch.get(off..).and_then(|b| LOCAL.decode_local(b)) {
        Some(f) => f,
        None => unreachable!("a mailbox holds whole frames written by this process"),
    }
}

/// The decoder for frames this process wrote (limits were checked when written).
const LOCAL: coremesh_wire::Decoder = coremesh_wire::Decoder::new(u32::MAX);

/// Runs sync handlers over the frames of `batch` from `*off`, advancing `*off`
/// past each frame once it is handled.
#[inline]
fn run_sync_frames<A: Dispatch>(
    actor: &mut A,
    ctx: &mut Ctx<A>,
    core: &CoreRt,
    batch: &[u8],
    off: &mut usize,
) -> Step {
    let mut handled = 0;
    let step = loop {
        if *off >= batch.len() {
            break Step::Done;
        }
        let frame = decode(batch, *off);
        let delivery = Delivery::new(&frame, Trust::of(&frame), core.node_id());
        match run_sync_one(actor, ctx, &frame, delivery, core) {
            Ran::Handled => handled += 1,
            Ran::Skipped => {}
            Ran::Async => break Step::Async,
        }
        *off += frame.frame_len();
        if ctx.stop_requested().is_some() {
            break Step::Stop;
        }
    };
    core.stats().delivered.add(handled);
    step
}

/// Fails every frame left in `buf` from `off`: asks get `ActorStopped`, tells
/// are counted as dead letters.
fn fail_queued(core: &CoreRt, buf: &[u8], mut off: usize) {
    while off < buf.len() {
        let Some(frame) = buf.get(off..).and_then(|b| LOCAL.decode_local(b)) else { return };
        off += frame.frame_len();
        core.stats().dead_letters.add(1);
        if frame.header().kind == FrameKind::Ask {
            if let Some(t) = Delivery::new(&frame, Trust::of(&frame), core.node_id()).reply_target() {
                core.send_error_reply(t, ReplyErrorCode::ActorStopped);
            }
        }
    }
}

/// Runs `task`, spawned by actor `owner` with `ctx.spawn_task`, on this core.
/// A panic in it is the actor's code failing: the owner stops with
/// `Panicked` (`in a spawned task: …`) and its watchers are told, as for a
/// handler; the core runs on.
pub(crate) fn spawn_actor_task(
    owner: crate::ids::ActorId,
    task: impl std::future::Future<Output = ()> + 'static,
) {
    glommio::spawn_local(async move {
        let Err(p) = AssertUnwindSafe(task).catch_unwind().await else { return };
        let reason = hook_panicked("a spawned task", &*p);
        crate::core::with_current(|core| match core.cell(owner.slot, owner.generation) {
            Some(cell) => cell.kill(reason),
            None => tracing::error!(actor = %owner, ?reason, "a task spawned by a stopped actor panicked"),
        });
    })
    .detach();
}
