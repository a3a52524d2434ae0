//! One actor's life on its core: init, the message loop, stop.
//!
//! Owns: `run_actor`, the glommio task of one actor. It waits for mail, swaps the
//! mailbox's buffer out whole, and hands each frame to the actor's dispatch table
//! in place; then it stops the actor, failing what is left in its mailbox.
//!
//! Must never: run two messages of one actor at once, or lose an ask without an
//! answer (every queued ask left at stop gets an `ActorStopped` error reply).

use std::cell::RefCell;
use std::future::poll_fn;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::rc::Rc;
use std::task::Poll;
use std::time::Duration;

use coremesh_wire::{FrameKind, ReplyErrorCode};
use futures_lite::FutureExt;
use rkyv::util::AlignedVec;

use super::mailbox::{Mailbox, MailboxState};
use super::CoreRt;
use crate::actor::{Dispatch, Dispatched, StopReason};
use crate::clock;
use crate::ctx::Ctx;
use crate::dispatch::{Delivery, Trust};
use crate::ids::ActorRef;

/// The task of one actor, from `started` to `stopped`.
pub(crate) async fn run_actor<A: Dispatch>(
    mut actor: A,
    mailbox: Rc<RefCell<Mailbox>>,
    core: Rc<CoreRt>,
    me: ActorRef<A>,
) {
    let mut ctx = Ctx::new(me, core.clone());
    let init_timeout = Duration::from_millis(core.shared().config.init_timeout_ms());
    let init = async { Some(actor.started(&mut ctx).await) }
        .or(async {
            glommio::timer::sleep(init_timeout).await;
            None
        })
        .await;
    let reason = match init {
        Some(Ok(())) => {
            let reason = message_loop(&mut actor, &mailbox, &core, &mut ctx).await;
            actor.stopping(&mut ctx);
            reason
        }
        Some(Err(e)) => StopReason::InitFailed(e.to_string()),
        None => StopReason::InitTimeout,
    };
    let left = mailbox.borrow_mut().close();
    fail_queued(&core, &left, 0);
    core.retire(me.id());
    if let StopReason::Panicked { message, type_id } = &reason {
        tracing::error!(actor = %me.id(), type_id = format_args!("{type_id:#018x}"), %message, "handler panicked; actor stopped");
    }
    actor.stopped(&reason);
}

/// Handles mail until the actor stops; returns why it stopped.
async fn message_loop<A: Dispatch>(
    actor: &mut A,
    mailbox: &Rc<RefCell<Mailbox>>,
    core: &Rc<CoreRt>,
    ctx: &mut Ctx<A>,
) -> StopReason {
    let mut batch = AlignedVec::<16>::new();
    let decoder = core.decoder;
    loop {
        poll_fn(
            |cx| if mailbox.borrow_mut().poll_ready(cx.waker()) { Poll::Ready(()) } else { Poll::Pending },
        )
        .await;
        let state = {
            let mut mb = mailbox.borrow_mut();
            mb.swap_out(&mut batch);
            mb.state()
        };
        core.mailbox_drained();
        let mut off = 0;
        while off < batch.len() {
            let frame = match decoder.decode(&batch[off..]) {
                Ok(Some(f)) => f,
                other => unreachable!("mailbox holds whole frames written by this core: {other:?}"),
            };
            off += frame.frame_len();
            let delivery = Delivery::new(frame, Trust::Local, core.node_id());
            if let Some(ext) = frame.ask_ext() {
                if ext.deadline_unix_ns != 0 && clock::unix_now_ns() > ext.deadline_unix_ns {
                    core.stats().expired_asks.add(1);
                    if let Some(t) = delivery.reply_target() {
                        core.send_error_reply(t, ReplyErrorCode::DeadlineExpired);
                    }
                    continue;
                }
            }
            let type_id = delivery.type_id();
            let reply_target = delivery.reply_target();
            let panicked = {
                let (a, c) = (&mut *actor, &mut *ctx);
                match catch_unwind(AssertUnwindSafe(move || {
                    let (a, c) = (a, c);
                    a.dispatch(delivery, c)
                })) {
                    Ok(Dispatched::Done) => None,
                    Ok(Dispatched::Later(fut)) => AssertUnwindSafe(fut).catch_unwind().await.err(),
                    Ok(Dispatched::UnknownType) => {
                        core.stats().unknown_type.add(1);
                        if let Some(t) = reply_target {
                            core.send_error_reply(t, ReplyErrorCode::UnknownType);
                        }
                        None
                    }
                    Err(p) => Some(p),
                }
            };
            core.stats().delivered.add(1);
            if let Some(p) = panicked {
                if let Some(t) = reply_target {
                    core.send_error_reply(t, ReplyErrorCode::HandlerFailed);
                }
                ctx.set_stop(StopReason::Panicked { message: panic_message(&p), type_id });
            }
            if ctx.stop_requested().is_some() {
                fail_queued(core, &batch, off);
                batch.clear();
                return ctx.stop_requested().cloned().unwrap_or(StopReason::Normal);
            }
        }
        batch.clear();
        if state == MailboxState::StopRequested {
            return StopReason::NodeShutdown;
        }
        glommio::yield_if_needed().await;
    }
}

/// Fails every frame left in `buf` from `off`: asks get `ActorStopped`, tells
/// are counted as dead letters.
fn fail_queued(core: &CoreRt, buf: &[u8], mut off: usize) {
    while off < buf.len() {
        let Ok(Some(frame)) = core.decoder.decode(&buf[off..]) else { return };
        off += frame.frame_len();
        core.stats().dead_letters.add(1);
        if frame.header().kind == FrameKind::Ask {
            if let Some(t) = Delivery::new(frame, Trust::Local, core.node_id()).reply_target() {
                core.send_error_reply(t, ReplyErrorCode::ActorStopped);
            }
        }
    }
}

fn panic_message(p: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = p.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = p.downcast_ref::<String>() {
        s.clone()
    } else {
        "a non-string panic payload".to_string()
    }
}
