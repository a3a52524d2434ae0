//! What can be sent: the [`Message`] trait, the [`message!`](crate::actor::message)
//! macro (and, in `coremesh-macros`, the `#[message_type]` attribute), and the
//! link-time registry of this build's message types (`message/schema.rs`).
//!
//! Owns: the link between a Rust type and its stable 64-bit type id (FNV-1a 64 of
//! a name chosen by the user, see `wire/FORMAT.md`) and its schema fingerprint,
//! and the rkyv bounds every message and reply must meet. Must never: derive a
//! type id or a fingerprint from anything the compiler chooses (`type_name`,
//! `TypeId`, how it prints tokens): both must agree across builds.

mod schema;

pub(crate) use schema::name_of;
#[doc(hidden)]
pub use schema::MESSAGE_TYPES;
pub use schema::{type_table, MessageType, SchemaError};

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

/// A message type: archivable, with a stable name, the 64-bit id derived from it,
/// and a schema fingerprint that peers compare in the handshake.
///
/// Declare one with `#[coremesh::message_type("stable.name")]` (the fingerprint
/// covers the declaration's shape) or, the weaker form, with
/// [`message!`](crate::message!) (the fingerprint covers the archived size
/// and alignment only); see the crate docs, "Declaring a message".
///
/// ```
/// use rkyv::{Archive, Serialize, Deserialize};
/// #[derive(Archive, Serialize, Deserialize)]
/// struct Add { n: u64 }
/// coremesh::message!(Add = "counter.Add");
/// use coremesh::Message;
/// assert_eq!(Add::NAME, "counter.Add");
/// assert_eq!(Add::TYPE_ID, coremesh::wire::type_id_of("counter.Add"));
/// assert_eq!(Add::FINGERPRINT, coremesh::wire::layout_fingerprint("counter.Add", 8, 8));
/// ```
pub trait Message: Wire {
    /// The stable name the type id is derived from; unique within a cluster.
    const NAME: &'static str;
    /// `type_id_of(NAME)`.
    const TYPE_ID: u64;
    /// The schema fingerprint, computed at compile time: `wire::layout_fingerprint`
    /// (from [`message!`](crate::message!)) or `wire::shape_fingerprint` (from
    /// `#[coremesh::message_type]`) of the name and the archived type.
    const FINGERPRINT: u64;
}

/// Declares a [`Message`]: `coremesh::message!(Type = "stable.name");` on a type
/// that derives rkyv's `Archive`, `Serialize` and `Deserialize`.
///
/// The name, not the Rust path, fixes the wire type id, so renaming or moving
/// the type keeps compatibility while the name stays. The fingerprint is the
/// weaker form: the name and the size and alignment of the archived type, so a
/// peer whose same-named type archives to another size or alignment is refused,
/// but one that swaps `u32` for `i32` or renames a field is not (the attribute
/// `#[coremesh::message_type]` catches those). The type is registered in this
/// build's type table.
#[macro_export]
macro_rules! message {
    ($($t:ty = $name:literal),+ $(,)?) => {$(
        impl $crate::Message for $t {
            const NAME: &'static str = $name;
            const TYPE_ID: u64 = $crate::wire::type_id_of($name);
            const FINGERPRINT: u64 = $crate::wire::layout_fingerprint(
                $name,
                ::core::mem::size_of::<$crate::rkyv::Archived<$t>>(),
                ::core::mem::align_of::<$crate::rkyv::Archived<$t>>(),
            );
        }
        $crate::__register_message!($t);
    )+};
}

/// Registers a [`Message`] type in this build's type table (link time); used by
/// [`message!`](crate::actor::message) and `#[coremesh::message_type]`.
#[doc(hidden)]
#[macro_export]
macro_rules! __register_message {
    ($t:ty) => {
        const _: () = {
            #[$crate::__private::linkme::distributed_slice($crate::__private::MESSAGE_TYPES)]
            #[linkme(crate = $crate::__private::linkme)]
            static MESSAGE_TYPE: $crate::MessageType =
                $crate::MessageType::of::<$t>(concat!(module_path!(), "::", stringify!($t)));
        };
    };
}
