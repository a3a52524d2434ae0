//! What two builds must agree on before they exchange frames: the frame format
//! fingerprint ([`FORMAT_HASH`]) and, per message type, a schema fingerprint; the
//! bounded, sorted [`TypeTable`] of (type id, fingerprint) that a Hello carries
//! (`wire/FORMAT.md`, "Message schema fingerprint").
//!
//! Owns the fingerprint formulas (const fns over [`Fnv64`], so a fingerprint is a
//! `const` computed at compile time and the same on every platform), the table's
//! invariants (ascending type ids, no id twice, no id 0, at most
//! [`MAX_TYPE_TABLE_ENTRIES`]) and the comparison of two tables: only a type id
//! both contain can conflict. This module must never compare whole tables (two
//! nodes of one cluster legitimately declare different sets of messages), read a
//! Rust `TypeId` or `type_name`, or put a name on the wire.

use std::sync::Arc;

use crate::header::fold_frame_layout;
use crate::type_id::Fnv64;
use crate::PROTOCOL_VERSION;

/// The most entries a type table may have, in a Hello and in a build: 4,096 message
/// types, 64 KiB of entries.
pub const MAX_TYPE_TABLE_ENTRIES: usize = 4096;
/// Bytes of one table entry in a Hello: `type_id: u64` then `fingerprint: u64`, LE.
pub const TYPE_ENTRY_BYTES: usize = 16;

/// Fingerprint form 1: the stable name and the archived type's size and alignment
/// (`coremesh::message!`).
pub const FORM_LAYOUT: u8 = 1;
/// Fingerprint form 2: form 1 plus the declaration's shape string (field names and
/// types as tokens, their order, enum variants), from `#[coremesh::message_type]`.
pub const FORM_SHAPE: u8 = 2;

/// The weaker fingerprint: FNV-1a 64 over `FORM_LAYOUT (u8) ‖ str(name) ‖
/// u64(archived_size) ‖ u64(archived_align)`, where `str` is a u64 LE length then the
/// UTF-8 bytes and `u64` is 8 bytes LE ([`Fnv64`]).
pub const fn layout_fingerprint(name: &str, archived_size: usize, archived_align: usize) -> u64 {
    Fnv64::new().u8(FORM_LAYOUT).str(name).u64(archived_size as u64).u64(archived_align as u64).finish()
}

/// The fingerprint with the declaration's shape: FNV-1a 64 over `FORM_SHAPE (u8) ‖
/// str(name) ‖ u64(archived_size) ‖ u64(archived_align) ‖ str(shape)`.
pub const fn shape_fingerprint(name: &str, archived_size: usize, archived_align: usize, shape: &str) -> u64 {
    Fnv64::new()
        .u8(FORM_SHAPE)
        .str(name)
        .u64(archived_size as u64)
        .u64(archived_align as u64)
        .str(shape)
        .finish()
}

/// The fingerprint of the frame format and handshake layout this build speaks, in the
/// Hello at offset 26; a peer with another value is refused before its table is read.
/// See [`format_hash`] for what it covers.
pub const FORMAT_HASH: u64 = format_hash();

/// What [`FORMAT_HASH`] is computed from, in this order (FORMAT.md lists it too):
/// the text `"coremesh frame format"`, [`PROTOCOL_VERSION`], the frame header and
/// ask extension layout (each field's name, offset and size), every frame kind the
/// decoder accepts with its prefix length (Tell … Tick), every `ReplyError` code it
/// accepts, the pinned rkyv format (a text naming it, then the size of an archived
/// `usize` and the alignment of an archived `u64`), the type table's bounds and
/// entry size, and the two fingerprint forms.
pub const fn format_hash() -> u64 {
    let mut h = Fnv64::new().str("coremesh frame format").u64(PROTOCOL_VERSION as u64);
    h = fold_frame_layout(h);
    let mut kind = 0u16;
    while kind <= 255 {
        if let Ok(k) = crate::FrameKind::from_u8(kind as u8) {
            h = h.u8(kind as u8).u64(crate::prefix_len(k) as u64);
        }
        kind += 1;
    }
    let mut code = 0u32;
    while code <= 255 {
        if crate::ReplyErrorCode::from_u32(code).is_ok() {
            h = h.u64(code as u64);
        }
        code += 1;
    }
    h.str("rkyv 0.8 little_endian aligned pointer_width_32")
        .u64(size_of::<rkyv::Archived<usize>>() as u64)
        .u64(align_of::<rkyv::Archived<u64>>() as u64)
        .str("type table")
        .u64(MAX_TYPE_TABLE_ENTRIES as u64)
        .u64(TYPE_ENTRY_BYTES as u64)
        .u8(FORM_LAYOUT)
        .u8(FORM_SHAPE)
        .finish()
}

/// One message type of a build: what a Hello carries (`type_id`, `fingerprint`) and
/// the stable name, kept on this side for error messages (it never crosses the wire).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TypeEntry {
    /// `type_id_of(name)`.
    pub type_id: u64,
    /// The type's schema fingerprint ([`layout_fingerprint`] or [`shape_fingerprint`]).
    pub fingerprint: u64,
    /// The stable name.
    pub name: &'static str,
}

/// Why a list of entries is not a valid [`TypeTable`].
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TypeTableError {
    /// One type id with two different fingerprints: two declarations of the same
    /// stable name (or two names with the same FNV-1a hash) disagree.
    #[error(
        "message type id {type_id:#018x} is declared twice with different schemas: \
         `{}` (fingerprint {:#018x}) and `{}` (fingerprint {:#018x})",
        first.name, first.fingerprint, second.name, second.fingerprint
    )]
    Conflict {
        /// The shared type id.
        type_id: u64,
        /// One declaration.
        first: TypeEntry,
        /// The other.
        second: TypeEntry,
    },
    /// More distinct type ids than a Hello carries.
    #[error("{count} message types, more than a Hello carries ({max})")]
    TooMany {
        /// Distinct type ids.
        count: usize,
        /// [`MAX_TYPE_TABLE_ENTRIES`].
        max: usize,
    },
    /// Type id 0 is reserved (frames that carry no message have `type_id` 0).
    #[error("message type `{name}` has type id 0, which is reserved; choose another stable name")]
    ReservedTypeId {
        /// The stable name whose hash is 0.
        name: &'static str,
    },
}

/// A build's message types, sorted by type id, each id once, at most
/// [`MAX_TYPE_TABLE_ENTRIES`]: only [`TypeTable::new`] makes one, so a table in a
/// [`crate::LocalInfo`] always fits a Hello. Cheap to clone (shared).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TypeTable(Arc<[TypeEntry]>);

impl TypeTable {
    /// Sorts `entries` by type id and checks them. An entry repeated with the same id
    /// and fingerprint (one type declared twice the same way) is kept once.
    pub fn new(entries: impl IntoIterator<Item = TypeEntry>) -> Result<TypeTable, TypeTableError> {
        let mut v: Vec<TypeEntry> = entries.into_iter().collect();
        v.sort_by_key(|e| (e.type_id, e.fingerprint));
        v.dedup_by(|b, a| a.type_id == b.type_id && a.fingerprint == b.fingerprint);
        for pair in v.windows(2) {
            if pair[0].type_id == pair[1].type_id {
                return Err(TypeTableError::Conflict {
                    type_id: pair[0].type_id,
                    first: pair[0],
                    second: pair[1],
                });
            }
        }
        if let Some(e) = v.iter().find(|e| e.type_id == 0) {
            return Err(TypeTableError::ReservedTypeId { name: e.name });
        }
        if v.len() > MAX_TYPE_TABLE_ENTRIES {
            return Err(TypeTableError::TooMany { count: v.len(), max: MAX_TYPE_TABLE_ENTRIES });
        }
        Ok(TypeTable(v.into()))
    }

    /// The entries, in ascending type id order.
    pub fn entries(&self) -> &[TypeEntry] {
        &self.0
    }

    /// The entry for `type_id`, if this table has one.
    pub fn get(&self, type_id: u64) -> Option<&TypeEntry> {
        self.0.binary_search_by_key(&type_id, |e| e.type_id).ok().map(|i| &self.0[i])
    }

    /// The first type id (in ascending order) that both tables contain with different
    /// fingerprints: (our entry, the other's fingerprint). Ids only one side has are
    /// never a conflict.
    pub fn first_conflict(&self, other: &TypeTable) -> Option<(TypeEntry, u64)> {
        first_conflict(self.entries(), other.0.iter().map(|e| (e.type_id, e.fingerprint)))
    }
}

/// Merge-walks `ours` and `theirs` (both ascending by type id) and returns the first
/// shared type id whose fingerprints differ: (our entry, their fingerprint).
pub(crate) fn first_conflict(
    ours: &[TypeEntry],
    theirs: impl IntoIterator<Item = (u64, u64)>,
) -> Option<(TypeEntry, u64)> {
    let mut i = 0;
    for (type_id, fingerprint) in theirs {
        while i < ours.len() && ours[i].type_id < type_id {
            i += 1;
        }
        match ours.get(i) {
            None => return None,
            Some(e) if e.type_id == type_id && e.fingerprint != fingerprint => {
                return Some((*e, fingerprint))
            }
            Some(_) => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::type_id_of;

    fn entry(name: &'static str, fingerprint: u64) -> TypeEntry {
        TypeEntry { type_id: type_id_of(name), fingerprint, name }
    }

    #[test]
    fn fingerprints_follow_the_documented_bytes() {
        // FORMAT.md: form ‖ str(name) ‖ u64(size) ‖ u64(align) [‖ str(shape)].
        let mut bytes = vec![FORM_LAYOUT];
        bytes.extend_from_slice(&3u64.to_le_bytes());
        bytes.extend_from_slice(b"a.B");
        bytes.extend_from_slice(&8u64.to_le_bytes());
        bytes.extend_from_slice(&4u64.to_le_bytes());
        assert_eq!(layout_fingerprint("a.B", 8, 4), type_id_of_bytes(&bytes));
        bytes[0] = FORM_SHAPE;
        bytes.extend_from_slice(&5u64.to_le_bytes());
        bytes.extend_from_slice(b"{n:u}");
        assert_eq!(shape_fingerprint("a.B", 8, 4, "{n:u}"), type_id_of_bytes(&bytes));
        // Each input counts.
        assert_ne!(layout_fingerprint("a.B", 8, 4), layout_fingerprint("a.C", 8, 4));
        assert_ne!(layout_fingerprint("a.B", 8, 4), layout_fingerprint("a.B", 16, 4));
        assert_ne!(layout_fingerprint("a.B", 8, 4), layout_fingerprint("a.B", 8, 8));
        assert_ne!(shape_fingerprint("a.B", 8, 4, "{n:u32}"), shape_fingerprint("a.B", 8, 4, "{n:i32}"));
    }

    fn type_id_of_bytes(bytes: &[u8]) -> u64 {
        Fnv64::new().bytes(bytes).finish()
    }

    #[test]
    fn format_hash_is_pinned() {
        // A change of the frame format must change this value on purpose (and FORMAT.md).
        assert_eq!(FORMAT_HASH, 0x567e_f692_b21d_6642, "FORMAT_HASH is {FORMAT_HASH:#018x}");
    }

    #[test]
    fn a_table_is_sorted_deduplicated_and_checked() {
        let t = TypeTable::new([entry("b", 2), entry("a", 1), entry("b", 2)]).unwrap();
        let mut ids = [type_id_of("a"), type_id_of("b")];
        ids.sort();
        assert_eq!(t.entries().iter().map(|e| e.type_id).collect::<Vec<_>>(), ids);
        assert_eq!(t.get(type_id_of("a")).map(|e| e.fingerprint), Some(1));
        let e = TypeTable::new([entry("a", 1), entry("a", 2)]).unwrap_err();
        assert_eq!(
            e,
            TypeTableError::Conflict {
                type_id: type_id_of("a"),
                first: entry("a", 1),
                second: entry("a", 2)
            }
        );
        assert!(e.to_string().contains("`a`"), "{e}");
        let zero = TypeEntry { type_id: 0, fingerprint: 1, name: "zero" };
        assert_eq!(TypeTable::new([zero]), Err(TypeTableError::ReservedTypeId { name: "zero" }));
        let many = (1..=MAX_TYPE_TABLE_ENTRIES as u64 + 1).map(|id| TypeEntry {
            type_id: id,
            fingerprint: 0,
            name: "n",
        });
        assert_eq!(TypeTable::new(many), Err(TypeTableError::TooMany { count: 4097, max: 4096 }));
        let full = (1..=MAX_TYPE_TABLE_ENTRIES as u64).map(|id| TypeEntry {
            type_id: id,
            fingerprint: 0,
            name: "n",
        });
        assert_eq!(TypeTable::new(full).unwrap().entries().len(), MAX_TYPE_TABLE_ENTRIES);
    }

    #[test]
    fn only_shared_type_ids_can_conflict() {
        let ours = TypeTable::new([entry("a", 1), entry("b", 2), entry("c", 3)]).unwrap();
        let disjoint = TypeTable::new([entry("x", 9), entry("y", 9)]).unwrap();
        assert_eq!(ours.first_conflict(&disjoint), None);
        let agreeing = TypeTable::new([entry("b", 2), entry("z", 7)]).unwrap();
        assert_eq!(ours.first_conflict(&agreeing), None);
        let other = TypeTable::new([entry("a", 1), entry("b", 20), entry("c", 30)]).unwrap();
        // The first in ascending type id order.
        let (first, theirs) = ours.first_conflict(&other).unwrap();
        let expect = if type_id_of("b") < type_id_of("c") { ("b", 20) } else { ("c", 30) };
        assert_eq!((first.name, theirs), expect);
        assert_eq!(ours.first_conflict(&TypeTable::default()), None);
    }
}
