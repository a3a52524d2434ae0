//! What a handler can do besides reading its message: [`Ctx`].
//!
//! Owns: the per-actor context handed to every hook and handler: its own ref,
//! spawning on this core, stopping itself, and the way back to the node. Must
//! never: be sent to another thread (it holds the core's `Rc`).

use std::rc::Rc;

use crate::actor::{Dispatch, StopReason};
use crate::core::CoreRt;
use crate::dispatch::{Delivery, InvalidPayload, ReplyTarget};
use crate::handle::NodeHandle;
use crate::ids::{ActorRef, CoreId, NodeId};
use crate::message::Wire;

/// The context of one actor, given to its hooks and handlers.
pub struct Ctx<A> {
    me: ActorRef<A>,
    core: Rc<CoreRt>,
    stop: Option<StopReason>,
}

impl<A> Ctx<A> {
    pub(crate) fn new(me: ActorRef<A>, core: Rc<CoreRt>) -> Self {
        Ctx { me, core, stop: None }
    }

    /// This actor's own ref.
    pub fn myself(&self) -> ActorRef<A> {
        self.me
    }

    /// The node this actor runs on.
    pub fn node_id(&self) -> NodeId {
        self.core.node_id()
    }

    /// The core this actor runs on.
    pub fn core_id(&self) -> CoreId {
        self.core.core_id()
    }

    /// A handle to this actor's node, for `spawn_on` another core and the like.
    pub fn node(&self) -> NodeHandle {
        self.core.node_handle()
    }

    /// Stops this actor after the current message: `stopping` runs, the mailbox
    /// closes, queued asks fail with `ActorStopped`, then `stopped` runs.
    pub fn stop(&mut self) {
        if self.stop.is_none() {
            self.stop = Some(StopReason::Normal);
        }
    }

    /// Spawns an actor on this core. It starts running once the current handler
    /// returns; messages sent to it meanwhile wait in its mailbox.
    pub fn spawn<B: Dispatch>(&mut self, actor: B) -> ActorRef<B> {
        self.core.spawn(actor)
    }

    pub(crate) fn stop_requested(&self) -> Option<&StopReason> {
        self.stop.as_ref()
    }

    pub(crate) fn set_stop(&mut self, reason: StopReason) {
        if self.stop.is_none() {
            self.stop = Some(reason);
        }
    }

    pub(crate) fn send_reply<R: Wire>(&self, target: ReplyTarget, reply: &R) {
        self.core.send_reply(target, reply);
    }

    pub(crate) fn reject_invalid(&self, delivery: &Delivery<'_>, err: &InvalidPayload) {
        self.core.reject_invalid(self.me.id(), delivery, err);
    }
}
