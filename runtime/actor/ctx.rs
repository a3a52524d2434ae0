//! What a handler can do besides reading its message: [`Ctx`].
//!
//! Owns: the per-actor context handed to every hook and handler: its own ref,
//! spawning on this core, stopping itself, monitors and links (the calls; the
//! machinery is `crate::cluster::monitor`), and the way back to the node. Must never:
//! be sent to another thread (it holds the core's `Rc`).

use std::rc::Rc;

use crate::actor::down::{ActorDown, Kind, NodeDown};
use crate::actor::glue::{Delivery, InvalidPayload, ReplyTarget};
use crate::actor::message::Wire;
use crate::actor::send::Handles;
use crate::actor::{Dispatch, StopReason};
use crate::core::CoreRt;
use crate::ids::{ActorRef, CoreId, NodeId};
use crate::node::handle::NodeHandle;

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
        NodeHandle::from_shared(self.core.shared().clone())
    }

    /// Stops this actor after the current message: `stopping` runs, the mailbox
    /// closes, queued asks fail with `ActorStopped`, then `stopped` runs.
    pub fn stop(&mut self) {
        if self.stop.is_none() {
            self.stop = Some(StopReason::Normal);
        }
    }

    /// Runs `task` on this core beside its actors (it starts once the
    /// current handler returns), with no glommio dependency in the caller's
    /// `Cargo.toml`: sleeps with [`crate::time::sleep`], sends to refs.
    /// A panic in `task` stops this actor with `Panicked`, as a handler's would.
    pub fn spawn_task(&mut self, task: impl std::future::Future<Output = ()> + 'static) {
        crate::core::actor_task::spawn_actor_task(self.me.id(), task);
    }

    /// Spawns an actor on this core. It starts running once the current handler
    /// returns; messages sent to it meanwhile wait in its mailbox.
    pub fn spawn<B: Dispatch>(&mut self, actor: B) -> ActorRef<B> {
        self.core.spawn(actor)
    }

    /// Monitors `target`, here or on any node: when it stops, or its node is
    /// declared down or leaves, this actor gets one [`ActorDown`] saying why.
    /// A target already stopped (or unknown) when the request reaches its core
    /// is reported at once (`DownReason::NoActor`). Monitoring an actor twice
    /// is one monitor; monitoring itself does nothing.
    ///
    /// Only an actor that handles [`ActorDown`] may monitor:
    ///
    /// ```compile_fail
    /// use coremesh::{Actor, ActorRef, Ctx};
    /// struct Deaf { other: ActorRef<Deaf> }
    /// impl Actor for Deaf {
    ///     async fn started(&mut self, ctx: &mut Ctx<Self>) -> Result<(), coremesh::InitError> {
    ///         ctx.monitor(&self.other); // error: Deaf does not handle ActorDown
    ///         Ok(())
    ///     }
    /// }
    /// coremesh::handlers!(Deaf:);
    /// ```
    pub fn monitor<B>(&mut self, target: &ActorRef<B>)
    where
        A: Handles<ActorDown>,
    {
        self.core.watch_start(self.me.id(), target.id(), Kind::Monitor);
    }

    /// Drops the monitor of `target`: no `ActorDown` for it arrives after this
    /// call returns, unless one was already queued in this actor's mailbox.
    pub fn demonitor<B>(&mut self, target: &ActorRef<B>) {
        self.core.watch_stop(self.me.id(), target.id(), Kind::Monitor);
    }

    /// Monitors `node`: when the cluster declares it down, or it leaves, this
    /// actor gets one [`NodeDown`]. A node this core cannot reach (not
    /// connected, or gone) is reported at once.
    pub fn monitor_node(&mut self, node: NodeId)
    where
        A: Handles<NodeDown>,
    {
        self.core.monitor_node_start(self.me.id(), node);
    }

    /// Drops the monitor of `node`.
    pub fn demonitor_node(&mut self, node: NodeId) {
        self.core.monitor_node_stop(self.me.id(), node);
    }

    /// Links this actor with `other`, here or on any node, both ways: when
    /// either fails (stops for any reason but `Normal`: a panic, a failed
    /// init, a linked failure, its node going down), the other is stopped
    /// with [`StopReason::LinkedFailure`], unless it traps links
    /// ([`Ctx::trap_links`]) and gets an [`ActorDown`] instead. A `Normal`
    /// stop ends the link and stops nobody. Linking with an actor that is
    /// already gone counts as its failure (`DownReason::NoActor`).
    pub fn link<B>(&mut self, other: &ActorRef<B>) {
        self.core.watch_start(self.me.id(), other.id(), Kind::Link);
    }

    /// Ends the link with `other`, on both sides.
    pub fn unlink<B>(&mut self, other: &ActorRef<B>) {
        self.core.watch_stop(self.me.id(), other.id(), Kind::Link);
    }

    /// With `true`, a linked actor's stop (failure or `Normal`) reaches this
    /// actor as an [`ActorDown`] message instead of stopping it (Erlang's
    /// `trap_exit`).
    pub fn trap_links(&mut self, trap: bool)
    where
        A: Handles<ActorDown>,
    {
        self.core.set_trap_links(self.me.id(), trap);
    }

    pub(crate) fn core(&self) -> &Rc<CoreRt> {
        &self.core
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
