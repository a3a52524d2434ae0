//! Monitors and links: an actor learns that another actor stopped, or that a
//! node went down, wherever they are; linked actors fail together.
//!
//! Owns: the public messages [`ActorDown`] and [`NodeDown`] and the reason
//! [`DownReason`] (archivable: it crosses the network); each core's watch
//! table (`table`, a state machine without I/O) and the glue that carries
//! out its effects on the core: `CoreRt::monitors_actor_stopped` (run when an
//! actor of the core stops) and `CoreRt::monitors_node_down` (run on every
//! worker core when the cluster declares a node down or gone). Requests
//! between cores and nodes travel as messages to the target core's system
//! actor (`crate::cluster::system_watch`). A watch message whose path is full
//! waits in the core's bounded retry queue (`retry`, [`WATCH_RETRY_MAX`]
//! messages), which one task per core, alive only while the queue is not
//! empty, tries every millisecond for up to 10 s; a message that finds the
//! queue full, or whose path stays full that long, is dropped, counted
//! (`watch_messages_dropped`) and logged, and a dropped watch request is
//! reported to its watcher as a down (`NoConnection`).
//!
//! Must never: touch the send or dispatch path of ordinary messages (the table
//! is consulted only when an actor stops, watches or unwatches), stop an actor
//! while its own handler runs (link failures that arise inside a handler are
//! reported through the system actor, after it), wait for an answer from a
//! node that is down (node-down reports come from this core's own table), or
//! trust a request from the network before checking that it names an actor of
//! this core, or spawn a task per message (retries share one task per core).

mod retry;
mod table;

use std::rc::Rc;
use std::time::Duration;

pub(crate) use retry::WATCH_RETRY_MAX;
use retry::{Attempt, RetryQueue};
use table::Effect;
pub(crate) use table::{Kind, WatchTable};

use crate::actor::message::Message;
use crate::actor::StopReason;
use crate::cluster::system_watch::{Down, Unwatch, Watch};
use crate::core::frames::SendFail;
use crate::core::CoreRt;
use crate::error::TellError;
use crate::ids::{ActorId, NodeId};

use crate::actor::down::{ActorDown, DownReason, NodeDown};

/// How long a report or request whose path is full (mailbox, ring, link) is
/// retried before it is given up and logged.
const CONTROL_RETRY_FOR: Duration = Duration::from_secs(10);
/// The pause between two tries.
const CONTROL_RETRY_EVERY: Duration = Duration::from_millis(1);

/// One message of the watch machinery, kept whole for a retry.
pub(crate) enum Control {
    Watch(Watch),
    Unwatch(Unwatch),
    Down(Down),
    ActorDown(ActorDown),
    NodeDown(NodeDown),
}

/// The watch messages of one core waiting for room on their path.
pub(crate) type ControlRetry = RetryQueue<Control>;

/// Whether a send failed only because its path is full for now.
fn path_full(fail: &SendFail) -> bool {
    matches!(fail, SendFail::MailboxFull { .. } | SendFail::RingFull | SendFail::LinkFull { .. })
}

impl CoreRt {
    /// THE node-down hook: `node` was declared down or left the cluster. Run
    /// on every worker core of this node (only then). Every actor of this core
    /// that monitors an actor there gets `ActorDown { reason: NodeDown }`,
    /// every monitor of the node gets `NodeDown`, every actor linked with an
    /// actor there is stopped (or, trapping, gets `ActorDown`), and the
    /// table forgets the node. A second call for the same node does nothing.
    pub(crate) fn monitors_node_down(self: &Rc<Self>, node: NodeId) {
        let mut fx = Vec::new();
        self.watches.borrow_mut().node_down(node, &mut fx);
        self.apply_watch_effects(fx);
    }

    /// `actor` of this core stopped (its slot is retired): report it to its
    /// watchers and drop its own watches.
    pub(crate) fn monitors_actor_stopped(self: &Rc<Self>, actor: ActorId, reason: &StopReason) {
        if self.watches.borrow().is_empty() {
            return;
        }
        let mut fx = Vec::new();
        self.watches.borrow_mut().stopped(actor, &DownReason::from(reason), &mut fx);
        self.apply_watch_effects(fx);
    }

    /// `watcher` (of this core) starts a monitor or a link to `target`.
    pub(crate) fn watch_start(self: &Rc<Self>, watcher: ActorId, target: ActorId, kind: Kind) {
        if watcher == target || !self.watches.borrow_mut().start_watching(watcher, target, kind) {
            return;
        }
        if !self.is_here(target) {
            let watch = Watch { target, watcher, link: kind == Kind::Link };
            return self.send_control(system_id(target), Control::Watch(watch));
        }
        if self.cell(target.slot, target.generation).is_some() {
            self.watches.borrow_mut().watched(target, watcher, kind);
        } else {
            // Reported through this core's system actor, so that a link to a
            // dead actor stops the watcher after its handler, not inside it.
            let down = Down { target, watcher, link: kind == Kind::Link, reason: DownReason::NoActor };
            self.send_control(system_id(watcher), Control::Down(down));
        }
    }

    /// `watcher` (of this core) drops its monitor or link to `target`.
    pub(crate) fn watch_stop(self: &Rc<Self>, watcher: ActorId, target: ActorId, kind: Kind) {
        if !self.watches.borrow_mut().stop_watching(watcher, target, kind) {
            return;
        }
        if self.is_here(target) {
            self.watches.borrow_mut().unwatched(target, watcher, kind);
        } else {
            let unwatch = Unwatch { target, watcher, link: kind == Kind::Link };
            self.send_control(system_id(target), Control::Unwatch(unwatch));
        }
    }

    /// `watcher` (of this core) monitors `node`. A node this core cannot reach
    /// (unknown here, or gone) is reported down at once.
    pub(crate) fn monitor_node_start(self: &Rc<Self>, watcher: ActorId, node: NodeId) {
        if !self.watches.borrow_mut().monitor_node(watcher, node) {
            return;
        }
        if node != self.node_id() && self.link(node).is_err() {
            self.watches.borrow_mut().demonitor_node(watcher, node);
            self.send_control(watcher, Control::NodeDown(NodeDown { node }));
        }
    }

    /// `watcher` (of this core) no longer monitors `node`.
    pub(crate) fn monitor_node_stop(&self, watcher: ActorId, node: NodeId) {
        self.watches.borrow_mut().demonitor_node(watcher, node);
    }

    /// Whether linked failures reach `actor` (of this core) as `ActorDown`.
    pub(crate) fn set_trap_links(&self, actor: ActorId, trap: bool) {
        self.watches.borrow_mut().set_trap(actor, trap);
    }

    /// A watch request for `target` (of this core) arrived from `watcher`.
    pub(crate) fn watch_arrived(self: &Rc<Self>, target: ActorId, watcher: ActorId, kind: Kind) {
        if self.cell(target.slot, target.generation).is_some() {
            self.watches.borrow_mut().watched(target, watcher, kind);
        } else if self.is_here(watcher) {
            self.down_arrived(watcher, target, kind, DownReason::NoActor);
        } else {
            let down = Effect::SendDown { watcher, target, kind, reason: DownReason::NoActor };
            self.apply_watch_effects(vec![down]);
        }
    }

    /// `watcher` dropped its watch of `target` (of this core).
    pub(crate) fn unwatch_arrived(&self, target: ActorId, watcher: ActorId, kind: Kind) {
        self.watches.borrow_mut().unwatched(target, watcher, kind);
    }

    /// `target` is down, reported to `watcher` (of this core).
    pub(crate) fn down_arrived(
        self: &Rc<Self>,
        watcher: ActorId,
        target: ActorId,
        kind: Kind,
        reason: DownReason,
    ) {
        let mut fx = Vec::new();
        self.watches.borrow_mut().down(watcher, target, kind, reason, &mut fx);
        self.apply_watch_effects(fx);
    }

    /// Whether `actor` lives on this core.
    pub(crate) fn is_here(&self, actor: ActorId) -> bool {
        actor.node == self.node_id() && actor.core == self.core_id()
    }

    fn apply_watch_effects(self: &Rc<Self>, fx: Vec<Effect>) {
        for effect in fx {
            match effect {
                Effect::ActorDown { to, actor, reason } => {
                    self.send_control(to, Control::ActorDown(ActorDown { actor, reason }))
                }
                Effect::NodeDown { to, node } => self.send_control(to, Control::NodeDown(NodeDown { node })),
                Effect::Kill { actor, peer, reason } => {
                    if let Some(cell) = self.cell(actor.slot, actor.generation) {
                        tracing::debug!(%actor, %peer, ?reason, "linked actor failed; stopping");
                        cell.kill(StopReason::LinkedFailure { actor: peer, reason });
                    }
                }
                Effect::SendDown { watcher, target, kind, reason } => {
                    let down = Down { target, watcher, link: kind == Kind::Link, reason };
                    self.send_control(system_id(watcher), Control::Down(down));
                }
                Effect::SendUnwatch { target, watcher, kind } => {
                    let unwatch = Unwatch { target, watcher, link: kind == Kind::Link };
                    self.send_control(system_id(target), Control::Unwatch(unwatch));
                }
            }
        }
    }

    /// Sends one control message. A full path, or an earlier message to `to`
    /// still waiting, puts it in this core's retry queue.
    fn send_control(self: &Rc<Self>, to: ActorId, msg: Control) {
        if self.watch_retry.borrow().holds_for(to) {
            return self.queue_control(to, msg);
        }
        match self.try_control(to, &msg) {
            Ok(()) => {}
            Err(fail) if path_full(&fail) => self.queue_control(to, msg),
            Err(fail) => self.control_lost(to, msg, Some(fail.into_tell(to, self.core_id()))),
        }
    }

    /// Queues a control message for a retry for up to [`CONTROL_RETRY_FOR`];
    /// a full queue drops it (counted, logged).
    fn queue_control(self: &Rc<Self>, to: ActorId, msg: Control) {
        let give_up = crate::clock::now() + CONTROL_RETRY_FOR;
        let pushed = self.watch_retry.borrow_mut().push(to, msg, give_up);
        match pushed {
            Ok(true) => {
                glommio::spawn_local(self.clone().retry_controls()).detach();
            }
            Ok(false) => {}
            Err(msg) => self.control_lost(to, msg, None),
        }
    }

    /// The one retry task of this core: a round every [`CONTROL_RETRY_EVERY`]
    /// until the queue is empty.
    async fn retry_controls(self: Rc<Self>) {
        let mut timer = glommio::timer::Timer::new(CONTROL_RETRY_EVERY);
        loop {
            (&mut timer).await;
            let now = crate::clock::now();
            let given_up =
                self.watch_retry.borrow_mut().round(now, |to, msg| match self.try_control(to, msg) {
                    Ok(()) => Attempt::Sent,
                    Err(fail) if path_full(&fail) => Attempt::Full,
                    Err(fail) => Attempt::Failed(fail.into_tell(to, self.core_id())),
                });
            for (to, msg, err) in given_up {
                self.control_lost(to, msg, err);
            }
            if self.watch_retry.borrow_mut().finish_if_empty() {
                return;
            }
            timer.reset(CONTROL_RETRY_EVERY);
        }
    }

    fn try_control(self: &Rc<Self>, to: ActorId, msg: &Control) -> Result<(), SendFail> {
        match msg {
            Control::Watch(m) => self.send(to, Watch::TYPE_ID, 0, None, m),
            Control::Unwatch(m) => self.send(to, Unwatch::TYPE_ID, 0, None, m),
            Control::Down(m) => self.send(to, Down::TYPE_ID, 0, None, m),
            Control::ActorDown(m) => self.send(to, ActorDown::TYPE_ID, 0, None, m),
            Control::NodeDown(m) => self.send(to, NodeDown::TYPE_ID, 0, None, m),
        }
    }

    /// A control message could not be sent: `err` says why, or is `None` when
    /// its path stayed full (for [`CONTROL_RETRY_FOR`], or with the retry queue
    /// full); those are counted. A watch request that cannot reach its target's
    /// core is reported to the watcher as a down at once.
    fn control_lost(self: &Rc<Self>, to: ActorId, msg: Control, err: Option<TellError>) {
        if err.is_none() {
            self.stats().watch_messages_dropped.add(1);
        }
        let why = err.as_ref().map_or_else(|| "its path stayed full".to_owned(), ToString::to_string);
        match msg {
            Control::Watch(w) => {
                let reason = match err {
                    Some(TellError::NodeGone { .. }) => DownReason::NodeDown,
                    Some(TellError::NoSuchCore { .. }) => DownReason::NoActor,
                    _ => DownReason::NoConnection,
                };
                let down = Down { target: w.target, watcher: w.watcher, link: w.link, reason };
                self.send_control(system_id(w.watcher), Control::Down(down));
            }
            Control::ActorDown(_) | Control::NodeDown(_)
                if !matches!(err, Some(TellError::ActorStopped { .. })) =>
            {
                tracing::warn!(core = %self.core_id(), watcher = %to, error = %why, "down report not delivered");
            }
            _ => tracing::debug!(core = %self.core_id(), %to, error = %why, "watch message not sent"),
        }
    }
}

/// The system actor of `actor`'s core.
fn system_id(actor: ActorId) -> ActorId {
    crate::cluster::system::system_actor(actor.node, actor.core).id()
}
