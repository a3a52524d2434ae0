//! Supervision: a [`Supervisor`] actor starts its children from
//! [`ChildSpec`]s, watches them with the ordinary monitors
//! ([`Ctx::monitor`](crate::Ctx::monitor)), restarts them by its
//! [`Strategy`], each child's [`Restart`] type and its [`Backoff`], gives up
//! past its restart intensity (stopping with
//! [`StopReason::RestartIntensity`](crate::StopReason::RestartIntensity), which
//! its own monitors and links hear), and stops its children in reverse start
//! order, each bounded by its shutdown timeout, before it stops itself.
//!
//! Owns: the child specs and the builder (here), the rules (`policy.rs`,
//! sans-IO), and the supervisor actor (`actor.rs`). Children live on any core
//! of the supervisor's node (started there with `NodeHandle::run_on`); a
//! child's failure is whatever its monitor reports, so a node or core going
//! away is a failure like a panic. Must never: detect failures any other way
//! than through monitors, block its core while it waits for a child, or start
//! children on another node (not done yet).

mod actor;
mod policy;

use std::sync::Arc;
use std::time::Duration;

use rkyv::{Archive, Deserialize, Serialize};

pub use actor::Supervisor;
pub use policy::{Backoff, Restart, Strategy};

use crate::actor::down::DownReason;
use crate::actor::Dispatch;
use crate::error::{AskError, SpawnError};
use crate::ids::{ActorId, ActorRef, CoreId};
use crate::node::handle::NodeHandle;

/// How long a child may take to stop when its supervisor stops it, unless
/// its spec says otherwise ([`ChildSpec::shutdown`]).
pub const CHILD_SHUTDOWN_DEFAULT: Duration = Duration::from_secs(5);

/// Starts one child on the calling core and returns its id.
type StartFn = Arc<dyn Fn() -> Result<ActorId, SpawnError> + Send + Sync>;

/// What a supervisor reports as it works, to the callback given to
/// [`SupervisorBuilder::on_event`] (run on the supervisor's core, so keep it
/// short: push to a channel, count, log).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SupervisorEvent {
    /// A child was started; `incarnation` 0 is its first start.
    Started {
        /// The child's id in its spec.
        child: String,
        /// Its actor now.
        actor: ActorId,
        /// How many times it was started before.
        incarnation: u32,
    },
    /// A child will be started again after `delay`: `cause` (itself, or a
    /// sibling under one_for_all / rest_for_one) stopped for `reason`.
    Restarting {
        /// The child that will be started again.
        child: String,
        /// The child whose stop caused it.
        cause: String,
        /// Why `cause` stopped.
        reason: DownReason,
        /// The backoff before the start.
        delay: Duration,
    },
    /// The supervisor stopped a child (a sibling's restart, or its own stop);
    /// `in_time` is false when it did not stop within its shutdown timeout
    /// (the supervisor then went on without it).
    Stopped {
        /// The child's id in its spec.
        child: String,
        /// The actor that was stopped.
        actor: ActorId,
        /// Whether it stopped within its shutdown timeout.
        in_time: bool,
    },
    /// A child stopped and, by its [`Restart`] type, is not started again.
    Removed {
        /// The child's id in its spec.
        child: String,
        /// Why it stopped.
        reason: DownReason,
    },
    /// More than `max_restarts` restarts within `within`: the supervisor
    /// stopped its children and stops with `RestartIntensity`.
    GaveUp {
        /// The intensity's restart count.
        max_restarts: u32,
        /// The intensity's window.
        within: Duration,
    },
}

type EventFn = Arc<dyn Fn(&SupervisorEvent) + Send + Sync>;

/// How to start one child and what to do when it stops.
#[derive(Clone)]
pub struct ChildSpec {
    pub(crate) id: String,
    pub(crate) core: CoreId,
    pub(crate) start: StartFn,
    pub(crate) restart: Restart,
    pub(crate) shutdown: Duration,
}

impl std::fmt::Debug for ChildSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChildSpec")
            .field("id", &self.id)
            .field("core", &self.core)
            .field("restart", &self.restart)
            .field("shutdown", &self.shutdown)
            .finish()
    }
}

impl ChildSpec {
    /// A child named `id` (unique within its supervisor), made by `make` on
    /// worker `core` of the supervisor's node each time it is started;
    /// [`Restart::Permanent`], shut down within [`CHILD_SHUTDOWN_DEFAULT`].
    pub fn new<A, F>(id: impl Into<String>, core: CoreId, make: F) -> ChildSpec
    where
        A: Dispatch,
        F: Fn() -> A + Send + Sync + 'static,
    {
        let start: StartFn = Arc::new(move || crate::node::local::spawn(make()).map(|r| r.id()));
        ChildSpec {
            id: id.into(),
            core,
            start,
            restart: Restart::Permanent,
            shutdown: CHILD_SHUTDOWN_DEFAULT,
        }
    }

    /// Whether the child is started again after it stops.
    pub fn restart(mut self, restart: Restart) -> ChildSpec {
        self.restart = restart;
        self
    }

    /// How long the supervisor waits for the child to stop when it stops it
    /// (its `stopping` hook included) before it goes on without it.
    pub fn shutdown(mut self, timeout: Duration) -> ChildSpec {
        self.shutdown = timeout;
        self
    }

    /// The child's id.
    pub fn id(&self) -> &str {
        &self.id
    }
}

/// A supervisor's configuration: [`Supervisor::builder`].
#[derive(Clone)]
pub struct SupervisorBuilder {
    pub(crate) strategy: Strategy,
    pub(crate) max_restarts: u32,
    pub(crate) within: Duration,
    pub(crate) backoff: Backoff,
    pub(crate) children: Vec<ChildSpec>,
    pub(crate) on_event: Option<EventFn>,
}

/// A supervisor's configuration that cannot work.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SupervisorError {
    /// Two child specs have the same id.
    #[error("two children of one supervisor are both named {id:?}; child ids must be unique")]
    DuplicateChild {
        /// The id.
        id: String,
    },
    /// A child spec names a core the node does not run.
    #[error("child {child:?} is to run on core {core}, but the node runs {cores} cores")]
    NoSuchCore {
        /// The child's id.
        child: String,
        /// The core it names.
        core: u16,
        /// How many cores the node runs.
        cores: usize,
    },
    /// Spawning the supervisor failed.
    #[error("spawning the supervisor failed: {0}")]
    Spawn(#[from] SpawnError),
}

impl SupervisorBuilder {
    pub(crate) fn new() -> SupervisorBuilder {
        SupervisorBuilder {
            strategy: Strategy::OneForOne,
            max_restarts: 3,
            within: Duration::from_secs(5),
            backoff: Backoff::none(),
            children: Vec::new(),
            on_event: None,
        }
    }

    /// Which children a failure restarts (default one_for_one).
    pub fn strategy(mut self, strategy: Strategy) -> Self {
        self.strategy = strategy;
        self
    }

    /// At most `max_restarts` restarts within `within` (default 3 in 5 s);
    /// one more and the supervisor gives up: it stops its children and stops
    /// with [`StopReason::RestartIntensity`](crate::StopReason::RestartIntensity).
    pub fn intensity(mut self, max_restarts: u32, within: Duration) -> Self {
        self.max_restarts = max_restarts;
        self.within = within;
        self
    }

    /// The delay before a restart (default none); the nth restart of one
    /// child within the intensity window takes `backoff.delay(n)`.
    pub fn backoff(mut self, backoff: Backoff) -> Self {
        self.backoff = backoff;
        self
    }

    /// Adds a child; children start in the order they are added.
    pub fn child(mut self, spec: ChildSpec) -> Self {
        self.children.push(spec);
        self
    }

    /// Calls `f` with every [`SupervisorEvent`], on the supervisor's core.
    pub fn on_event(mut self, f: impl Fn(&SupervisorEvent) + Send + Sync + 'static) -> Self {
        self.on_event = Some(Arc::new(f));
        self
    }

    /// The supervisor actor, to spawn yourself (for example as a child of
    /// another supervisor: `ChildSpec::new("sub", core, move || b.build().unwrap())`).
    pub fn build(self) -> Result<Supervisor, SupervisorError> {
        for (i, c) in self.children.iter().enumerate() {
            if self.children[..i].iter().any(|d| d.id == c.id) {
                return Err(SupervisorError::DuplicateChild { id: c.id.clone() });
            }
        }
        Ok(Supervisor::new(self))
    }

    /// Spawns the supervisor on worker `core` of `node` and waits (from a
    /// plain thread, at most the node's ask timeout) until it is spawned;
    /// it starts its children in order before it handles any message.
    pub fn spawn_on(self, node: &NodeHandle, core: CoreId) -> Result<SupervisorHandle, SupervisorError> {
        let cores = node.cores();
        if let Some(c) = self.children.iter().find(|c| usize::from(c.core.0) >= cores) {
            return Err(SupervisorError::NoSuchCore { child: c.id.clone(), core: c.core.0, cores });
        }
        let sup = self.build()?;
        let actor = node.spawn_on(core, move || sup).wait()?;
        Ok(SupervisorHandle { actor, node: node.clone() })
    }
}

/// Which actor is child `id` now (`None`: no such child, or it is stopped,
/// waiting for its restart, or removed). Ask it of a [`Supervisor`].
#[derive(Archive, Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct WhichChild {
    /// The child's id in its spec.
    pub id: String,
}

/// Stops a supervisor: its children in reverse start order, each within its
/// shutdown timeout, then itself. The reply (how many children were
/// stopped) comes once the children are stopped.
#[derive(Archive, Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
pub struct StopSupervisor;

crate::message!(
    WhichChild = "coremesh.supervision.WhichChild",
    StopSupervisor = "coremesh.supervision.StopSupervisor",
);

/// A running supervisor, from any thread.
#[derive(Debug, Clone)]
pub struct SupervisorHandle {
    actor: ActorRef<Supervisor>,
    node: NodeHandle,
}

impl SupervisorHandle {
    /// The supervisor actor (to monitor or link it, or ask it [`WhichChild`]).
    pub fn actor(&self) -> ActorRef<Supervisor> {
        self.actor
    }

    /// The current actor of child `id` (it changes on each restart). Blocks
    /// this thread (never a worker core) at most `timeout`.
    pub fn child(&self, id: &str, timeout: Duration) -> Result<Option<ActorId>, AskError> {
        self.node.ask(&self.actor, WhichChild { id: id.to_owned() }).timeout(timeout).wait()
    }

    /// Stops the supervisor ([`StopSupervisor`]) and waits, at most
    /// `timeout`, until its children are stopped; returns how many were.
    pub fn stop(&self, timeout: Duration) -> Result<u32, AskError> {
        self.node.ask(&self.actor, StopSupervisor).timeout(timeout).wait()
    }
}
