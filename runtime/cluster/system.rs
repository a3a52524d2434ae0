//! The node's own actor on every core: remote spawn and name lookup, and
//! (with `system_watch`) the watch requests of monitors and links.
//!
//! Owns: [`RemoteSpawn`] (actor types that other nodes may spawn here), the
//! registry of their factories and of published names (node-wide, behind a
//! mutex: touched only when spawning, publishing or looking up, never per
//! message), and the system actor that answers `Spawn` and `Lookup` requests.
//! The system actor is the first actor of every core, so its address is known
//! without asking: (node, core, slot 0, generation 1).
//!
//! Must never: spawn a type that was not registered on this node (the request
//! gets an error naming the type), or trust request bytes before validating them.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use rkyv::{rancor, Archive, Deserialize, Serialize};

use crate::actor::ctx::Ctx;
use crate::actor::message::Wire;
use crate::actor::{Actor, Dispatch, Handler};
use crate::core::shared::NodeShared;
use crate::ids::{ActorId, CoreId, NodeId};

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
type Factory = fn(&[u8]) -> Result<ActorId, String>;

/// Factories and published names of one node.
#[derive(Default)]
pub(crate) struct Registry {
    factories: Mutex<HashMap<u64, (&'static str, Factory)>>,
    names: Mutex<HashMap<String, ActorId>>,
}

impl Registry {
    pub(crate) fn register<A: RemoteSpawn>(&self) {
        let kind = coremesh_wire::type_id_of(A::NAME);
        self.factories
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(kind, (A::NAME, spawn_from::<A>));
    }

    pub(crate) fn publish(&self, name: &str, id: ActorId) {
        self.names.lock().unwrap_or_else(PoisonError::into_inner).insert(name.to_string(), id);
    }

    pub(crate) fn lookup(&self, name: &str) -> Option<ActorId> {
        self.names.lock().unwrap_or_else(PoisonError::into_inner).get(name).copied()
    }

    fn factory(&self, kind: u64) -> Option<Factory> {
        self.factories.lock().unwrap_or_else(PoisonError::into_inner).get(&kind).map(|f| f.1)
    }
}

fn spawn_from<A: RemoteSpawn>(args: &[u8]) -> Result<ActorId, String> {
    // The bytes arrived inside another message: copy them to an aligned buffer and
    // validate them as `A::Args` before anything reads them.
    let aligned = coremesh_wire::aligned_copy(args);
    let archived = rkyv::access::<rkyv::Archived<A::Args>, rancor::Error>(&aligned)
        .map_err(|e| format!("arguments for {} failed validation: {e}", A::NAME))?;
    let actor = A::create(archived);
    // The system actor runs on a worker core, so there is one.
    crate::core::with_current(|c| c.spawn(actor).id()).ok_or_else(|| "not on a worker core".to_string())
}

/// Spawn a registered actor type on this core.
#[derive(Archive, Serialize, Deserialize)]
pub(crate) struct Spawn {
    pub kind: u64,
    pub name: String,
    pub args: Vec<u8>,
}

/// Look up a published name.
#[derive(Archive, Serialize, Deserialize)]
pub(crate) struct Lookup {
    pub name: String,
}
crate::message!(Spawn = "coremesh.sys.Spawn", Lookup = "coremesh.sys.Lookup");

/// The node's own actor, first on every core.
pub(crate) struct SystemActor {
    pub shared: Arc<NodeShared>,
}

impl Actor for SystemActor {}

impl Handler<Spawn> for SystemActor {
    type Reply = Result<ActorId, String>;
    fn handle(&mut self, msg: &ArchivedSpawn, ctx: &mut Ctx<Self>) -> Result<ActorId, String> {
        let Some(factory) = self.shared.registry.factory(msg.kind.to_native()) else {
            return Err(format!(
                "actor type {:?} is not registered on {} (call register_remote there)",
                msg.name.as_str(),
                ctx.node_id()
            ));
        };
        factory(msg.args.as_slice())
    }
}

impl Handler<Lookup> for SystemActor {
    type Reply = Option<ActorId>;
    fn handle(&mut self, msg: &ArchivedLookup, _ctx: &mut Ctx<Self>) -> Option<ActorId> {
        self.shared.registry.lookup(msg.name.as_str())
    }
}
crate::handlers!(
    SystemActor: Spawn,
    Lookup,
    crate::cluster::system_watch::Watch,
    crate::cluster::system_watch::Unwatch,
    crate::cluster::system_watch::Down,
);

/// The address of the system actor of `node`'s `core`.
pub(crate) fn system_actor(node: NodeId, core: CoreId) -> crate::ids::ActorRef<SystemActor> {
    crate::ids::ActorRef::from_id(ActorId { node, core, slot: 0, generation: 1 })
}
