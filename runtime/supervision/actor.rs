//! The supervisor actor: [`Supervisor`]. It starts its children in order in
//! `started`, monitors each, and on a child's [`ActorDown`] applies the
//! child's restart type, the intensity limit, the strategy and the backoff;
//! a delayed restart is a timer message to itself (`RestartDue`), so the
//! supervisor answers [`WhichChild`] meanwhile.
//!
//! Owns: the children's current actors and restart state. Must never: block
//! its core (a child on another core is started and stopped with a task on
//! that core, awaited here), or act on an `ActorDown` of an actor that is no
//! longer a current child (a child it stopped itself, or a former
//! incarnation): those are ignored by id.

use std::sync::Arc;
use std::time::Duration;

use rkyv::{Archive, Deserialize, Serialize};

use super::policy::{Backoff, Restart, Strategy, Window};
use super::{ChildSpec, EventFn, StopSupervisor, SupervisorBuilder, SupervisorEvent, WhichChild};
use crate::actor::ctx::Ctx;
use crate::actor::down::{ActorDown, DownReason};
use crate::actor::glue::Owned;
use crate::actor::{Actor, AsyncHandler, Handler, InitError, StopReason};
use crate::clock;
use crate::error::SpawnError;
use crate::ids::{ActorId, ActorRef};

/// A delayed restart is due: start the children marked with `epoch`.
#[derive(Archive, Serialize, Deserialize)]
pub struct RestartDue {
    epoch: u64,
}

/// Starting child `index` failed (its spawn, not its `started`): handled as
/// its stop with `InitFailed`.
#[derive(Archive, Serialize, Deserialize)]
pub struct StartFailed {
    index: u32,
    message: String,
}

crate::message!(
    RestartDue = "coremesh.supervision.RestartDue",
    StartFailed = "coremesh.supervision.StartFailed",
);

/// One child as its supervisor keeps it.
struct Child {
    spec: ChildSpec,
    /// Its actor while it runs.
    current: Option<ActorId>,
    /// Waiting for the restart of this epoch.
    pending: Option<u64>,
    /// Stopped for good (its restart type said so).
    removed: bool,
    starts: u32,
    /// Its recent restarts, for the backoff.
    restarts: Window,
}

/// A supervisor: build one with [`Supervisor::builder`].
///
/// ```no_run
/// use coremesh::supervision::{Backoff, ChildSpec, Restart, Strategy, Supervisor};
/// use coremesh::{Actor, CoreId};
/// use std::time::Duration;
///
/// struct Worker;
/// impl Actor for Worker {}
/// coremesh::handlers!(Worker:);
///
/// # let node = coremesh::Node::start(coremesh::Config::from_env()?)?;
/// let sup = Supervisor::builder()
///     .strategy(Strategy::OneForOne)
///     .intensity(3, Duration::from_secs(5))
///     .backoff(Backoff::exponential(Duration::from_millis(10), Duration::from_secs(1)))
///     .child(ChildSpec::new("worker-1", CoreId(0), || Worker).restart(Restart::Permanent))
///     .on_event(|e| println!("{e:?}"))
///     .spawn_on(&node, CoreId(0))?;
/// let worker = sup.child("worker-1", Duration::from_secs(1))?;
/// sup.stop(Duration::from_secs(10))?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Supervisor {
    strategy: Strategy,
    max_restarts: u32,
    within: Duration,
    backoff: Backoff,
    on_event: Option<EventFn>,
    children: Vec<Child>,
    /// The restarts of all children, for the intensity limit.
    restarts: Window,
    epoch: u64,
}

impl Supervisor {
    /// A supervisor's configuration: one_for_one, 3 restarts in 5 s, no
    /// backoff, no children yet.
    pub fn builder() -> SupervisorBuilder {
        SupervisorBuilder::new()
    }

    pub(crate) fn new(b: SupervisorBuilder) -> Supervisor {
        let children = b
            .children
            .into_iter()
            .map(|spec| Child {
                spec,
                current: None,
                pending: None,
                removed: false,
                starts: 0,
                restarts: Window::default(),
            })
            .collect();
        Supervisor {
            strategy: b.strategy,
            max_restarts: b.max_restarts,
            within: b.within,
            backoff: b.backoff,
            on_event: b.on_event,
            children,
            restarts: Window::default(),
            epoch: 0,
        }
    }

    fn emit(&self, event: SupervisorEvent) {
        tracing::debug!(?event, "supervisor");
        if let Some(f) = &self.on_event {
            f(&event);
        }
    }

    /// Starts child `i` on its core and monitors it.
    async fn start_child(&mut self, i: usize, ctx: &mut Ctx<Self>) -> Result<ActorId, SpawnError> {
        let spec = &self.children[i].spec;
        let id = if spec.core == ctx.core_id() {
            (spec.start)()?
        } else {
            let start = Arc::clone(&spec.start);
            ctx.node().run_on(spec.core, move || start()).await??
        };
        ctx.monitor(&ActorRef::<()>::from_id(id));
        let c = &mut self.children[i];
        c.current = Some(id);
        let incarnation = c.starts;
        c.starts = c.starts.saturating_add(1);
        let child = c.spec.id.clone();
        self.emit(SupervisorEvent::Started { child, actor: id, incarnation });
        Ok(id)
    }

    /// Stops child `i` if it runs and waits, at most its shutdown timeout,
    /// until it is gone.
    async fn stop_child(&mut self, i: usize, ctx: &mut Ctx<Self>) -> bool {
        let Some(id) = self.children[i].current.take() else { return false };
        ctx.demonitor(&ActorRef::<()>::from_id(id));
        let timeout = self.children[i].spec.shutdown;
        let in_time = if id.core == ctx.core_id() {
            stop_here(id, timeout).await
        } else {
            let waited = ctx.node().spawn_task_on(id.core, move || stop_here(id, timeout));
            // The task ends by itself at the timeout; the margin covers the trip.
            waited.timeout(timeout + Duration::from_secs(1)).await.unwrap_or(false)
        };
        if !in_time {
            tracing::warn!(child = %self.children[i].spec.id, actor = %id, ?timeout, "child did not stop within its shutdown timeout; going on without it");
        }
        let child = self.children[i].spec.id.clone();
        self.emit(SupervisorEvent::Stopped { child, actor: id, in_time });
        true
    }

    /// Stops every running child of `which`, in reverse order; returns how many.
    async fn stop_children(&mut self, which: &[usize], ctx: &mut Ctx<Self>) -> u32 {
        let mut n = 0;
        for &i in which.iter().rev() {
            n += u32::from(self.stop_child(i, ctx).await);
        }
        n
    }

    /// Child `i` stopped for `reason` (it is no longer current).
    async fn child_down(&mut self, i: usize, reason: DownReason, ctx: &mut Ctx<Self>) {
        self.children[i].current = None;
        self.children[i].pending = None;
        if !self.children[i].spec.restart.restarts_after(&reason) {
            self.children[i].removed = true;
            let child = self.children[i].spec.id.clone();
            return self.emit(SupervisorEvent::Removed { child, reason });
        }
        let now = clock::now();
        if self.restarts.record(now, self.within) > self.max_restarts {
            return self.give_up(ctx).await;
        }
        let nth = self.children[i].restarts.record(now, self.within);
        let delay = self.backoff.delay(nth);
        let live = |c: &Child| !c.removed;
        let group: Vec<usize> = match self.strategy {
            Strategy::OneForOne => vec![i],
            Strategy::OneForAll => (0..self.children.len()).filter(|&j| live(&self.children[j])).collect(),
            Strategy::RestForOne => (i..self.children.len()).filter(|&j| live(&self.children[j])).collect(),
        };
        self.stop_children(&group, ctx).await;
        self.epoch += 1;
        let cause = self.children[i].spec.id.clone();
        for &j in &group {
            let c = &mut self.children[j];
            if j != i && c.spec.restart == Restart::Temporary {
                c.removed = true;
                let child = c.spec.id.clone();
                self.emit(SupervisorEvent::Removed { child, reason: DownReason::Normal });
                continue;
            }
            c.pending = Some(self.epoch);
            let child = c.spec.id.clone();
            let reason = reason.clone();
            self.emit(SupervisorEvent::Restarting { child, cause: cause.clone(), reason, delay });
        }
        if delay.is_zero() {
            self.restart_due(self.epoch, ctx).await;
        } else {
            ctx.send_after(RestartDue { epoch: self.epoch }, delay);
        }
    }

    /// Starts, in order, the children waiting for the restart of `epoch`.
    async fn restart_due(&mut self, epoch: u64, ctx: &mut Ctx<Self>) {
        for i in 0..self.children.len() {
            if self.children[i].pending != Some(epoch) {
                continue;
            }
            self.children[i].pending = None;
            if let Err(e) = self.start_child(i, ctx).await {
                let index = u32::try_from(i).unwrap_or(u32::MAX);
                let failed = StartFailed { index, message: e.to_string() };
                if ctx.myself().tell(failed).is_err() {
                    tracing::error!(child = %self.children[i].spec.id, "supervisor could not queue a failed start; the child stays down");
                }
            }
        }
    }

    /// Past the intensity: stop every child, then stop with a reason saying so.
    async fn give_up(&mut self, ctx: &mut Ctx<Self>) {
        let (max_restarts, within) = (self.max_restarts, self.within);
        tracing::error!(max_restarts, ?within, "supervisor restart intensity exceeded; giving up");
        self.emit(SupervisorEvent::GaveUp { max_restarts, within });
        let all: Vec<usize> = (0..self.children.len()).collect();
        self.stop_children(&all, ctx).await;
        for c in &mut self.children {
            c.pending = None;
        }
        let within_ms = u64::try_from(within.as_millis()).unwrap_or(u64::MAX);
        ctx.set_stop(StopReason::RestartIntensity { max_restarts, within_ms });
    }
}

/// Stops actor `id` of the calling core and waits until its slot is retired
/// (its `stopping` hook ran) or `timeout` passes; returns whether it is gone.
async fn stop_here(id: ActorId, timeout: Duration) -> bool {
    let gone = |kill: bool| {
        crate::core::with_current(|core| match core.cell(id.slot, id.generation) {
            Some(cell) => {
                if kill {
                    cell.kill(StopReason::Normal);
                }
                false
            }
            None => true,
        })
        .unwrap_or(true)
    };
    if gone(true) {
        return true;
    }
    let deadline = clock::now() + timeout;
    while clock::now() < deadline {
        crate::time::sleep(Duration::from_millis(1)).await;
        if gone(false) {
            return true;
        }
    }
    gone(false)
}

impl Actor for Supervisor {
    async fn started(&mut self, ctx: &mut Ctx<Self>) -> Result<(), InitError> {
        for i in 0..self.children.len() {
            if let Err(e) = self.start_child(i, ctx).await {
                let started: Vec<usize> = (0..i).collect();
                self.stop_children(&started, ctx).await;
                let id = &self.children[i].spec.id;
                return Err(format!("starting child {id:?} failed: {e}").into());
            }
        }
        Ok(())
    }

    /// Stopped any other way than [`StopSupervisor`] or giving up (a link,
    /// a panic, the node's shutdown): the children still running are told
    /// to stop, not waited for.
    fn stopping(&mut self, ctx: &mut Ctx<Self>) {
        for c in self.children.iter_mut().rev() {
            let Some(id) = c.current.take() else { continue };
            if id.core == ctx.core_id() {
                crate::core::with_current(|core| {
                    if let Some(cell) = core.cell(id.slot, id.generation) {
                        cell.kill(StopReason::Normal);
                    }
                });
            } else {
                let timeout = c.spec.shutdown;
                drop(ctx.node().spawn_task_on(id.core, move || stop_here(id, timeout)));
            }
        }
    }
}

impl AsyncHandler<ActorDown> for Supervisor {
    type Reply = ();
    async fn handle(&mut self, msg: Owned<ActorDown>, ctx: &mut Ctx<Self>) {
        let actor = msg.actor.to_native();
        let Some(i) = self.children.iter().position(|c| c.current == Some(actor)) else { return };
        self.child_down(i, msg.reason.to_native(), ctx).await;
    }
}

impl AsyncHandler<RestartDue> for Supervisor {
    type Reply = ();
    async fn handle(&mut self, msg: Owned<RestartDue>, ctx: &mut Ctx<Self>) {
        self.restart_due(msg.epoch.to_native(), ctx).await;
    }
}

impl AsyncHandler<StartFailed> for Supervisor {
    type Reply = ();
    async fn handle(&mut self, msg: Owned<StartFailed>, ctx: &mut Ctx<Self>) {
        let Ok(i) = usize::try_from(msg.index.to_native()) else { return };
        if i >= self.children.len() || self.children[i].current.is_some() || self.children[i].removed {
            return;
        }
        let reason = DownReason::InitFailed { message: msg.message.as_str().to_owned() };
        self.child_down(i, reason, ctx).await;
    }
}

impl AsyncHandler<StopSupervisor> for Supervisor {
    type Reply = u32;
    async fn handle(&mut self, _msg: Owned<StopSupervisor>, ctx: &mut Ctx<Self>) -> u32 {
        let all: Vec<usize> = (0..self.children.len()).collect();
        let n = self.stop_children(&all, ctx).await;
        for c in &mut self.children {
            c.pending = None;
        }
        ctx.stop();
        n
    }
}

impl Handler<WhichChild> for Supervisor {
    type Reply = Option<ActorId>;
    fn handle(&mut self, msg: &ArchivedWhichChild, _ctx: &mut Ctx<Self>) -> Option<ActorId> {
        self.children.iter().find(|c| c.spec.id == msg.id.as_str()).and_then(|c| c.current)
    }
}

use super::ArchivedWhichChild;

crate::handlers!(Supervisor: WhichChild; async ActorDown, RestartDue, StartFailed, StopSupervisor);
