//! What can be sent: the [`Message`] trait and the [`message!`](crate::actor::message) macro.
//!
//! Owns: the link between a Rust type and its stable 64-bit type id (FNV-1a 64 of
//! a name chosen by the user, see `wire/FORMAT.md`), and the rkyv bounds every
//! message and reply must meet. Must never: derive a type id from anything the
//! compiler chooses (`type_name`, `TypeId`): ids must agree across builds.

use rkyv::api::high::{HighDeserializer, HighValidator};
use rkyv::api::low::LowSerializer;
use rkyv::bytecheck::CheckBytes;
use rkyv::rancor;
use rkyv::ser::allocator::SubAllocator;
use rkyv::util::AlignedVec;

/// The serializer every message is written with: straight into a 16-aligned
/// frame buffer (a mailbox, or a scratch buffer for rings and sockets), with
/// [`SCRATCH_BYTES`] of per-core scratch space. It is rkyv's low-level
/// serializer: shared pointers (`Rc`, `Arc`) cannot be archived in messages, and
/// a message whose archiving needs more scratch than that (a vector of hundreds
/// of thousands of strings) fails with `TellError::Serialize`.
pub type Ser<'a, 'w> = LowSerializer<&'w mut AlignedVec<16>, SubAllocator<'a>, rancor::Error>;

/// Scratch space rkyv may use while archiving one message.
pub const SCRATCH_BYTES: usize = 1 << 20;

/// Reusable scratch space for archiving (one per core, one per outside thread).
pub(crate) struct Scratch(Box<[std::mem::MaybeUninit<u8>]>);

impl Scratch {
    pub(crate) fn new() -> Self {
        Scratch(Box::new_uninit_slice(SCRATCH_BYTES))
    }

    /// An allocator over the whole scratch space, for one message.
    #[inline]
    pub(crate) fn allocator(&mut self) -> SubAllocator<'_> {
        SubAllocator::new(&mut self.0)
    }
}

/// A type that can be archived into a frame and read back in place (checked
/// when it comes from the network). Implemented for you by [`Message`]s and
/// primitives through the blanket impl.
pub trait Wire:
    rkyv::Archive<Archived: rkyv::Portable + for<'v> CheckBytes<HighValidator<'v, rancor::Error>>>
    + for<'a, 'w> rkyv::Serialize<Ser<'a, 'w>>
    + 'static
{
}

impl<T> Wire for T where
    T: rkyv::Archive<Archived: rkyv::Portable + for<'v> CheckBytes<HighValidator<'v, rancor::Error>>>
        + for<'a, 'w> rkyv::Serialize<Ser<'a, 'w>>
        + 'static
{
}

/// A type that an ask's reply can be: archivable, and deserializable back into
/// an owned value for the asker.
pub trait Reply: Sized + Wire<Archived: rkyv::Deserialize<Self, HighDeserializer<rancor::Error>>> {}

impl<T> Reply for T where T: Wire<Archived: rkyv::Deserialize<T, HighDeserializer<rancor::Error>>> {}

/// A message type: archivable, with a stable name and the 64-bit id derived from it.
///
/// Declare one with [`message!`](crate::actor::message):
///
/// ```
/// use rkyv::{Archive, Serialize, Deserialize};
/// #[derive(Archive, Serialize, Deserialize)]
/// struct Add { n: u64 }
/// coremesh::message!(Add = "counter.Add");
/// use coremesh::Message;
/// assert_eq!(Add::NAME, "counter.Add");
/// assert_eq!(Add::TYPE_ID, coremesh::wire::type_id_of("counter.Add"));
/// ```
pub trait Message: Wire {
    /// The stable name the type id is derived from; unique within a cluster.
    const NAME: &'static str;
    /// `type_id_of(NAME)`.
    const TYPE_ID: u64;
}

/// Declares a [`Message`]: `coremesh::message!(Type = "stable.name");`.
///
/// The name, not the Rust path, fixes the wire type id, so renaming or moving
/// the type keeps compatibility while the name stays.
#[macro_export]
macro_rules! message {
    ($($t:ty = $name:literal),+ $(,)?) => {$(
        impl $crate::Message for $t {
            const NAME: &'static str = $name;
            const TYPE_ID: u64 = $crate::wire::type_id_of($name);
        }
    )+};
}
