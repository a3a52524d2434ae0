//! The node's own actor on every core: remote spawn and name lookup, and
//! (with `system_watch`) the watch requests of monitors and links.
//!
//! Owns: [`RemoteSpawn`] (actor types that other nodes may spawn here), the
//! registry of their factories and of published names (node-wide, behind a
//! mutex: touched only when spawning, publishing or looking up, never per
//! message), and the system actor that answers `Spawn`, `Lookup` and
//! `LookupWait` requests. A `LookupWait` for a name not yet published is held
//! (its reply taken with `Ctx::reply_later`) in the registry, at most
//! [`LOOKUP_WAITS_MAX`] per node, and answered by the `publish` of that name;
//! one past the bound is answered `None` (the asker reads
//! `AskError::LookupsFull`), one past its deadline is dropped unanswered (its
//! asker has `Timeout`).
//! The system actor is the first actor of every core, so its address is known
//! without asking: (node, core, slot 0, generation 1).
//!
//! Must never: spawn a type that was not registered on this node (the request
//! gets an error naming the type), or trust request bytes before validating them.

use std::collections::HashMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, Mutex, PoisonError};

use rkyv::{rancor, Archive, Deserialize, Serialize};

use crate::actor::ctx::Ctx;
use crate::actor::message::Wire;
use crate::actor::reply_to::ReplyTo;
use crate::actor::{Actor, AsyncHandler, Dispatch, Handler, Owned};
use crate::core::shared::{Command, NodeShared};
use crate::error::RemoteSpawnError;
use crate::ids::{ActorId, CoreId, NodeId};
use crate::sync::oneshot;

/// An actor type that other nodes may spawn on this one, by name, once it is
/// registered with [`NodeHandle::register_remote`](crate::NodeHandle::register_remote).
///
/// ```
/// use coremesh::{Actor, Ctx, Handler, RemoteSpawn};
/// use rkyv::{Archive, Deserialize, Serialize};
///
/// #[derive(Archive, Serialize, Deserialize)]
/// struct Ping { n: u64 }
/// coremesh::message!(Ping = "example.Ping");
///
/// struct Ponger { base: u64 }
/// impl Actor for Ponger {}
/// impl Handler<Ping> for Ponger {
///     type Reply = u64;
///     fn handle(&mut self, msg: &ArchivedPing, _ctx: &mut Ctx<Self>) -> u64 { self.base + msg.n.to_native() }
/// }
/// coremesh::handlers!(Ponger: Ping);
/// impl RemoteSpawn for Ponger {
///     const NAME: &'static str = "example.Ponger";
///     type Args = u64;
///     fn create(base: &rkyv::Archived<u64>) -> Self { Ponger { base: base.to_native() } }
/// }
/// ```
pub trait RemoteSpawn: Dispatch {
    /// The stable name other nodes spawn it by.
    const NAME: &'static str;
    /// What the spawner sends along.
    type Args: Wire;
    /// Makes the actor from its (validated) arguments, on the core it will run on.
    fn create(args: &rkyv::Archived<Self::Args>) -> Self;
}

/// Spawns from archived arguments on the calling core.
type Factory = fn(&[u8]) -> Result<ActorId, RemoteSpawnError>;

/// How many `lookup_wait`s one node holds at once, waiting for their name.
pub const LOOKUP_WAITS_MAX: usize = 1024;

/// The answer a held lookup gets: the actor, or `None` (refused: full).
type LookupPort = ReplyTo<Option<ActorId>>;

/// Published names, and the lookups waiting for a name.
#[derive(Default)]
struct Names {
    published: HashMap<String, ActorId>,
    waiting: Vec<(String, LookupPort)>,
}

impl Drop for Names {
    fn drop(&mut self) {
        // The node is gone: its askers end with ConnectionLost or their
        // deadline; nothing is sent from a node being torn down.
        for (_, port) in self.waiting.drain(..) {
            port.disarm();
        }
    }
}

/// Factories and published names of one node.
#[derive(Default)]
pub(crate) struct Registry {
    factories: Mutex<HashMap<u64, (&'static str, Factory)>>,
    names: Mutex<Names>,
    /// The next core of [`Placement::RoundRobin`].
    next_core: Mutex<usize>,
}

impl Registry {
    pub(crate) fn register<A: RemoteSpawn>(&self) {
        let kind = coremesh_wire::type_id_of(A::NAME);
        self.factories
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(kind, (A::NAME, spawn_from::<A>));
    }

    /// Publishes `name`, and answers the lookups waiting for it (after the
    /// lock is released).
    pub(crate) fn publish(&self, name: &str, id: ActorId) {
        let ready: Vec<LookupPort> = {
            let mut names = self.names.lock().unwrap_or_else(PoisonError::into_inner);
            names.published.insert(name.to_string(), id);
            let (ready, rest) = std::mem::take(&mut names.waiting).into_iter().partition(|(n, _)| n == name);
            names.waiting = rest;
            ready.into_iter().map(|(_, port)| port).collect()
        };
        for port in ready {
            if let Err(e) = port.reply(Some(id)) {
                tracing::debug!(name, error = %e, "a waiting lookup was not answered");
            }
        }
    }

    pub(crate) fn lookup(&self, name: &str) -> Option<ActorId> {
        self.names.lock().unwrap_or_else(PoisonError::into_inner).published.get(name).copied()
    }

    /// The name's actor now; else holds `port` until it is published (false
    /// when the node holds its bound of waiting lookups: `port` is answered
    /// `None`). Lookups past their deadline are dropped first.
    fn lookup_or_wait(&self, name: &str, port: Option<LookupPort>) -> Option<ActorId> {
        let mut names = self.names.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(id) = names.published.get(name).copied() {
            if let Some(port) = port {
                drop(names);
                let _ = port.reply(Some(id));
                return None;
            }
            return Some(id);
        }
        let port = port?;
        names.waiting.retain(|(_, p)| !p.is_expired());
        if names.waiting.len() >= LOOKUP_WAITS_MAX {
            drop(names);
            let _ = port.reply(None);
            return None;
        }
        names.waiting.push((name.to_string(), port));
        None
    }

    /// How many lookups wait for a name (expired ones included until pruned).
    pub(crate) fn lookups_waiting(&self) -> usize {
        self.names.lock().unwrap_or_else(PoisonError::into_inner).waiting.len()
    }

    fn factory(&self, kind: u64) -> Option<Factory> {
        self.factories.lock().unwrap_or_else(PoisonError::into_inner).get(&kind).map(|f| f.1)
    }
}

fn spawn_from<A: RemoteSpawn>(args: &[u8]) -> Result<ActorId, RemoteSpawnError> {
    let kind_name = || A::NAME.to_string();
    // The bytes arrived inside another message: copy them to an aligned buffer and
    // validate them as `A::Args` before anything reads them.
    let aligned = coremesh_wire::aligned_copy(args);
    let archived = rkyv::access::<rkyv::Archived<A::Args>, rancor::Error>(&aligned)
        .map_err(|e| RemoteSpawnError::BadArgs { kind_name: kind_name(), reason: e.to_string() })?;
    // A panic in user code must not stop this core's system actor.
    let actor = catch_unwind(AssertUnwindSafe(|| A::create(archived))).map_err(|p| {
        RemoteSpawnError::CreatePanicked {
            kind_name: kind_name(),
            message: crate::core::cell::panic_message(&*p),
        }
    })?;
    // Runs on a worker core (the system actor's, or one it handed the creation to).
    crate::core::with_current(|c| c.spawn(actor).id())
        .ok_or(RemoteSpawnError::CoreUnavailable { node: NodeId(0), core: u16::MAX })
}

/// Which of the peer's cores a remote spawn lands on
/// ([`RemoteSpawning::placement`](crate::RemoteSpawning::placement)); the
/// peer decides, since it knows its cores and their load.
#[derive(Archive, Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Placement {
    /// The default: each spawn on the peer takes its next core in turn (one
    /// cursor per peer node, shared by every spawner).
    #[default]
    RoundRobin,
    /// The peer's core with the fewest live actors (spawned minus stopped;
    /// the lowest core on a tie).
    LeastLoaded,
    /// Core `key % cores`: one key always lands on one core of a given peer.
    ByKey(u64),
    /// This core; one the peer does not have is
    /// [`RemoteSpawnError::NoSuchCore`].
    Core(CoreId),
}

impl Placement {
    /// The core of `shared`'s node this placement names.
    fn choose(self, shared: &NodeShared) -> Result<CoreId, RemoteSpawnError> {
        let cores = shared.cores.len();
        let core = match self {
            Placement::RoundRobin => {
                let mut next = shared.registry.next_core.lock().unwrap_or_else(PoisonError::into_inner);
                let core = *next % cores;
                *next = (core + 1) % cores;
                core
            }
            Placement::LeastLoaded => (0..cores)
                .min_by_key(|&i| {
                    let s = &shared.cores[i].stats;
                    s.actors_spawned.get().saturating_sub(s.actors_stopped.get())
                })
                .unwrap_or(0),
            Placement::ByKey(key) => (key % cores as u64) as usize,
            Placement::Core(c) if usize::from(c.0) < cores => usize::from(c.0),
            Placement::Core(c) => {
                return Err(RemoteSpawnError::NoSuchCore { node: shared.id, core: c.0, cores: cores as u16 })
            }
        };
        Ok(CoreId(core as u16))
    }
}

/// Spawn a registered actor type on one of this node's cores, chosen by `placement`.
#[derive(Archive, Serialize, Deserialize)]
pub(crate) struct Spawn {
    pub kind: u64,
    pub name: String,
    pub args: Vec<u8>,
    pub placement: Placement,
}

/// Look up a published name.
#[derive(Archive, Serialize, Deserialize)]
pub(crate) struct Lookup {
    pub name: String,
}
/// Look up a name, waiting until it is published or the ask's deadline.
#[derive(Archive, Serialize, Deserialize)]
pub(crate) struct LookupWait {
    pub name: String,
}
crate::message!(Spawn = "coremesh.sys.Spawn", Lookup = "coremesh.sys.Lookup");
crate::message!(LookupWait = "coremesh.sys.LookupWait");

/// The node's own actor, first on every core.
pub(crate) struct SystemActor {
    pub shared: Arc<NodeShared>,
}

impl Actor for SystemActor {}

impl AsyncHandler<Spawn> for SystemActor {
    type Reply = Result<ActorId, RemoteSpawnError>;
    /// Creates the actor on the core `placement` names: here, or on another
    /// core through its inbox (this actor waits for the answer, a cross-core
    /// round trip, and handles nothing else meanwhile).
    async fn handle(&mut self, msg: Owned<Spawn>, ctx: &mut Ctx<Self>) -> Result<ActorId, RemoteSpawnError> {
        let node = ctx.node_id();
        let Some(factory) = self.shared.registry.factory(msg.kind.to_native()) else {
            return Err(RemoteSpawnError::NotRegistered { kind_name: msg.name.as_str().to_string(), node });
        };
        let placement = rkyv::deserialize::<Placement, rancor::Error>(&msg.placement).map_err(|_| {
            RemoteSpawnError::NoSuchCore { node, core: u16::MAX, cores: self.shared.cores.len() as u16 }
        })?;
        let core = placement.choose(&self.shared)?;
        if core == ctx.core_id() {
            return factory(msg.args.as_slice()).map_err(|e| on_node(e, node, core));
        }
        let unavailable = RemoteSpawnError::CoreUnavailable { node, core: core.0 };
        let args = msg.args.as_slice().to_vec();
        let (tx, rx) = oneshot::channel();
        let run = Command::Run(Box::new(move |_core| tx.send(factory(&args))));
        let target = &self.shared.cores[usize::from(core.0)];
        if self.shared.stopping.is_set() || target.inbox.push(run).is_err() {
            return Err(unavailable);
        }
        target.signal.notify();
        match rx.await {
            Ok(answer) => answer.map_err(|e| on_node(e, node, core)),
            Err(_) => Err(unavailable),
        }
    }
}

/// Fills in the node and core of a creation that found no worker core.
fn on_node(e: RemoteSpawnError, node: NodeId, core: CoreId) -> RemoteSpawnError {
    match e {
        RemoteSpawnError::CoreUnavailable { .. } => RemoteSpawnError::CoreUnavailable { node, core: core.0 },
        e => e,
    }
}

impl Handler<Lookup> for SystemActor {
    type Reply = Option<ActorId>;
    fn handle(&mut self, msg: &ArchivedLookup, _ctx: &mut Ctx<Self>) -> Option<ActorId> {
        self.shared.registry.lookup(msg.name.as_str())
    }
}
impl Handler<LookupWait> for SystemActor {
    /// `None`: refused, the node holds [`LOOKUP_WAITS_MAX`] lookups already.
    type Reply = Option<ActorId>;
    fn handle(&mut self, msg: &ArchivedLookupWait, ctx: &mut Ctx<Self>) -> Option<ActorId> {
        // The reply is taken for later either way: answered here, or held.
        let port = ctx.reply_later::<LookupWait>();
        self.shared.registry.lookup_or_wait(msg.name.as_str(), port)
    }
}
crate::handlers!(
    SystemActor: Lookup,
    LookupWait,
    crate::cluster::system_watch::Watch,
    crate::cluster::system_watch::Unwatch,
    crate::cluster::system_watch::Down;
    async Spawn
);

/// The address of the system actor of `node`'s `core`.
pub(crate) fn system_actor(node: NodeId, core: CoreId) -> crate::ids::ActorRef<SystemActor> {
    crate::ids::ActorRef::from_id(ActorId { node, core, slot: 0, generation: 1 })
}
