//! What a handler can do besides reading its message: [`Ctx`].
//!
//! Owns: the per-actor context handed to every hook and handler: its own ref,
//! spawning on this core, stopping itself, monitors and links (the calls; the
//! machinery is `crate::cluster::monitor`), deferred replies (the ask being
//! handled, taken by [`Ctx::reply_later`]; the handle is `reply_to.rs`), the
//! actor's timers (`timers.rs`, cancelled when the `Ctx` is dropped with its
//! actor), and the way back to the node. Must never: be sent to another thread
//! (it holds the core's `Rc`).

use std::rc::Rc;

use crate::actor::down::{ActorDown, Kind, NodeDown};
use crate::actor::glue::{Delivery, InvalidPayload, ReplyTarget};
use crate::actor::message::{Message, Wire};
use crate::actor::reply_to::ReplyTo;
use crate::actor::send::Handles;
use crate::actor::timers::{self, TimerHandle, Timers};
use crate::actor::{Dispatch, StopReason};
use crate::core::CoreRt;
use crate::ids::{ActorRef, CoreId, NodeId};
use crate::node::handle::NodeHandle;

/// The context of one actor, given to its hooks and handlers.
pub struct Ctx<A> {
    me: ActorRef<A>,
    core: Rc<CoreRt>,
    stop: Option<StopReason>,
    /// The ask being handled, until its reply is sent or taken for later.
    asking: Option<Asking>,
    timers: Timers,
}

/// The ask a handler is running for: where its reply goes.
#[derive(Clone, Copy)]
struct Asking {
    target: ReplyTarget,
    deadline_unix_ns: u64,
    type_id: u64,
}

impl<A> Drop for Ctx<A> {
    fn drop(&mut self) {
        self.timers.cancel_all();
    }
}

impl<A> Ctx<A> {
    pub(crate) fn new(me: ActorRef<A>, core: Rc<CoreRt>) -> Self {
        Ctx { me, core, stop: None, asking: None, timers: Timers::default() }
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

    /// Takes the reply of the ask being handled for later: the handler's own
    /// return value is then not sent, and the asker waits until the returned
    /// [`ReplyTo`] is answered ([`ReplyTo::reply`]), dropped (the asker gets
    /// [`AskError::ReplyDropped`](crate::AskError::ReplyDropped) at once) or
    /// the ask's deadline passes (`Timeout`). Keep the handle in the actor's
    /// state, or pass it to another actor inside a message
    /// ([`ReplyTo::into_port`]); the actor meanwhile handles other messages.
    ///
    /// `M` is the message being handled, and fixes the reply type at compile
    /// time (the handler's `Reply`). `None` when the message is a tell (no one
    /// waits), when `M` is not the message being handled, when the reply was
    /// already taken, or outside a handler.
    ///
    /// ```
    /// use coremesh::{Actor, Ctx, Handler, ReplyTo};
    ///
    /// #[coremesh::message_type("doc.Wait")]
    /// struct Wait;
    /// #[coremesh::message_type("doc.Open")]
    /// struct Open { value: u64 }
    ///
    /// /// Answers every `Wait` once an `Open` arrives.
    /// struct Gate { waiting: Vec<ReplyTo<u64>> }
    /// impl Actor for Gate {}
    /// impl Handler<Wait> for Gate {
    ///     type Reply = u64;
    ///     fn handle(&mut self, _msg: &ArchivedWait, ctx: &mut Ctx<Self>) -> u64 {
    ///         if let Some(port) = ctx.reply_later::<Wait>() {
    ///             self.waiting.push(port);
    ///         }
    ///         0 // not sent when the reply was taken
    ///     }
    /// }
    /// impl Handler<Open> for Gate {
    ///     type Reply = ();
    ///     fn handle(&mut self, msg: &ArchivedOpen, _ctx: &mut Ctx<Self>) {
    ///         for port in self.waiting.drain(..) {
    ///             let _ = port.reply(msg.value.to_native()); // Err: that asker timed out
    ///         }
    ///     }
    /// }
    /// coremesh::handlers!(Gate: Wait, Open);
    /// ```
    pub fn reply_later<M: Message>(&mut self) -> Option<ReplyTo<<A as Handles<M>>::Reply>>
    where
        A: Handles<M>,
    {
        let asking = self.asking.filter(|a| a.type_id == M::TYPE_ID)?;
        self.asking = None;
        Some(ReplyTo::new(asking.target, asking.deadline_unix_ns, self.core.node_id()))
    }

    /// Tells this actor `msg` once, after `delay`, through its mailbox like
    /// any tell. Returns a handle that cancels it; the actor's stop cancels it
    /// too. A message that finds the mailbox full is dropped.
    pub fn send_after<M: Message>(&mut self, msg: M, delay: std::time::Duration) -> TimerHandle
    where
        A: Handles<M>,
    {
        let mut msg = Some(msg);
        let me = self.me;
        timers::start(&mut self.timers, me, delay, None, move || {
            msg.take().expect("a one-shot timer fires once")
        })
    }

    /// Tells this actor a clone of `msg` every `period` (the first after one
    /// period), until the handle is cancelled or the actor stops. A tick that
    /// finds the mailbox full is skipped, and ticks missed while the core was
    /// busy are not made up. A period under 1 ms is taken as 1 ms.
    pub fn interval<M: Message + Clone>(&mut self, msg: M, period: std::time::Duration) -> TimerHandle
    where
        A: Handles<M>,
    {
        self.interval_with(period, move || msg.clone())
    }

    /// [`Ctx::interval`] with a closure that makes each tick's message (for
    /// a message that is not `Clone`, or one that carries a count).
    pub fn interval_with<M: Message>(
        &mut self,
        period: std::time::Duration,
        make: impl FnMut() -> M + 'static,
    ) -> TimerHandle
    where
        A: Handles<M>,
    {
        let me = self.me;
        timers::start(&mut self.timers, me, period, Some(period), make)
    }

    /// A handler starts running for an ask (the glue calls it).
    #[inline]
    pub(crate) fn begin_ask(&mut self, target: ReplyTarget, deadline_unix_ns: u64, type_id: u64) {
        self.asking = Some(Asking { target, deadline_unix_ns, type_id });
    }

    /// The handler returned: whether its return value is the reply (false:
    /// the reply was taken with `reply_later`).
    #[inline]
    pub(crate) fn end_ask(&mut self) -> bool {
        self.asking.take().is_some()
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
