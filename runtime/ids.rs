//! Names of nodes, cores and actors.
//!
//! Owns: [`NodeId`], [`CoreId`], [`ActorId`] and the typed [`ActorRef`]. They are
//! plain data: copyable, comparable, hashable and archivable, so refs travel
//! inside messages. Must never: hold a pointer, a handle or anything tied to one
//! thread; an `ActorRef` is an address, not a capability.

use std::fmt;
use std::marker::PhantomData;

use rkyv::{Archive, Deserialize, Serialize};

/// One node (process) of a cluster: a random 64-bit id chosen at start. A process
/// that restarts is a new node with a new id.
#[derive(Archive, Serialize, Deserialize, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[rkyv(derive(Debug, PartialEq, Eq))]
pub struct NodeId(pub u64);

impl fmt::Debug for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "node:{:016x}", self.0)
    }
}

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// A worker core of one node, numbered from 0 in the order of `COREMESH_CORES`.
#[derive(Archive, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[rkyv(derive(Debug, PartialEq, Eq))]
pub struct CoreId(pub u16);

impl fmt::Display for CoreId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "core {}", self.0)
    }
}

/// The untyped address of an actor: node, core, slot and generation. A slot is
/// reused after its actor stops, with the next generation, so a stale id never
/// reaches the new occupant.
#[derive(Archive, Serialize, Deserialize, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[rkyv(derive(Debug, PartialEq, Eq))]
pub struct ActorId {
    /// The node the actor lives on.
    pub node: NodeId,
    /// Its core on that node.
    pub core: CoreId,
    /// Its slot in that core's actor table.
    pub slot: u32,
    /// The slot's generation when the actor was spawned.
    pub generation: u32,
}

impl fmt::Debug for ActorId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "actor:{:016x}/{}/{}.{}", self.node.0, self.core.0, self.slot, self.generation)
    }
}

impl fmt::Display for ActorId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

impl ArchivedActorId {
    /// The native id.
    pub fn to_native(&self) -> ActorId {
        ActorId {
            node: NodeId(self.node.0.to_native()),
            core: CoreId(self.core.0.to_native()),
            slot: self.slot.to_native(),
            generation: self.generation.to_native(),
        }
    }
}

/// A typed address of an actor of type `A`, wherever it lives.
///
/// Plain data: `Copy`, `Send`, `Sync`, comparable and archivable. Put one in a
/// message and the receiver gets an [`ArchivedActorRef`], whose
/// [`get`](ArchivedActorRef::get) gives the ref back.
///
/// ```
/// # use coremesh::{ActorRef, ActorId, NodeId, CoreId};
/// struct Counter;
/// let id = ActorId { node: NodeId(7), core: CoreId(1), slot: 3, generation: 1 };
/// let r: ActorRef<Counter> = ActorRef::from_id(id);
/// assert_eq!(r.id().core, CoreId(1));
/// let copy = r;            // plain data
/// assert_eq!(copy, r);
/// ```
#[derive(Archive, Serialize, Deserialize)]
pub struct ActorRef<A> {
    id: ActorId,
    #[rkyv(with = rkyv::with::Skip)]
    _actor: PhantomData<fn() -> A>,
}

impl<A> ActorRef<A> {
    /// A typed ref from an untyped id. Messages sent through a ref of the wrong
    /// type are refused by the receiver with `UnknownType`, never misread.
    pub const fn from_id(id: ActorId) -> Self {
        ActorRef { id, _actor: PhantomData }
    }

    /// The untyped address.
    pub const fn id(&self) -> ActorId {
        self.id
    }

    /// The node the actor lives on.
    pub const fn node(&self) -> NodeId {
        self.id.node
    }

    /// The core the actor lives on.
    pub const fn core(&self) -> CoreId {
        self.id.core
    }
}

impl<A> ArchivedActorRef<A> {
    /// The ref this archive holds.
    pub fn get(&self) -> ActorRef<A> {
        ActorRef::from_id(self.id.to_native())
    }
}

impl<A> Clone for ActorRef<A> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<A> Copy for ActorRef<A> {}
impl<A> PartialEq for ActorRef<A> {
    fn eq(&self, other: &Self) -> bool {
        self.id == other.id
    }
}
impl<A> Eq for ActorRef<A> {}
impl<A> std::hash::Hash for ActorRef<A> {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.id.hash(state);
    }
}
impl<A> fmt::Debug for ActorRef<A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ActorRef<{}>({:?})", std::any::type_name::<A>(), self.id)
    }
}

/// One declared message type, as the registry holds it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MessageType {
    /// The stable name (`Message::NAME`).
    pub name: &'static str,
    /// `Message::TYPE_ID`.
    pub type_id: u64,
    /// `Message::FINGERPRINT`.
    pub fingerprint: u64,
    /// Where it was declared: the module path and the Rust type, for error messages.
    pub rust_type: &'static str,
}
