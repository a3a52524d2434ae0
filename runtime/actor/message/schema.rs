//! The registry of this build's message types, filled at link time, and the type
//! table built from it once.
//!
//! Owns: [`MESSAGE_TYPES`] (a `linkme` distributed slice: every
//! [`message!`](crate::message) and `#[coremesh::message_type]` adds one
//! [`MessageType`] to it, in whichever crate of the build it is written), the check
//! that no type id is declared twice with different fingerprints, and the
//! [`TypeTable`] this node sends in every Hello ([`type_table`]). `Node::start` runs
//! the check, so a build that contradicts itself does not start.
//!
//! Must never: be filled at run time (the table a node advertises is fixed by its
//! build), or let a contradiction through as "the first declaration wins".

use std::sync::OnceLock;

use coremesh_wire::{TypeEntry, TypeTable, TypeTableError, MAX_TYPE_TABLE_ENTRIES};

use super::Message;
pub use crate::error::SchemaError;
pub use crate::ids::MessageType;

impl MessageType {
    /// The registry entry of `M`, declared as `rust_type`.
    pub const fn of<M: Message>(rust_type: &'static str) -> MessageType {
        MessageType { name: M::NAME, type_id: M::TYPE_ID, fingerprint: M::FINGERPRINT, rust_type }
    }

    fn entry(&self) -> TypeEntry {
        TypeEntry { type_id: self.type_id, fingerprint: self.fingerprint, name: self.name }
    }
}

/// Every message type declared in this build, in link order (unsorted, and a type
/// declared alike in two places is in it twice).
#[linkme::distributed_slice]
pub static MESSAGE_TYPES: [MessageType];

/// This build's type table: every registered message type, checked. Built on first
/// use and kept; the same answer every time.
pub fn type_table() -> Result<&'static TypeTable, SchemaError> {
    static TABLE: OnceLock<Result<TypeTable, SchemaError>> = OnceLock::new();
    TABLE.get_or_init(|| build(&MESSAGE_TYPES)).as_ref().map_err(Clone::clone)
}

/// The stable name of `type_id` among this build's message types, if one has
/// it (a cold path: a scan of the registry, for error reports).
pub(crate) fn name_of(type_id: u64) -> Option<&'static str> {
    MESSAGE_TYPES.iter().find(|t| t.type_id == type_id).map(|t| t.name)
}

/// Checks `types` and makes the table.
fn build(types: &[MessageType]) -> Result<TypeTable, SchemaError> {
    let mut sorted = types.to_vec();
    sorted.sort_by_key(|t| (t.type_id, t.fingerprint));
    for pair in sorted.windows(2) {
        if pair[0].type_id == pair[1].type_id && pair[0].fingerprint != pair[1].fingerprint {
            return Err(SchemaError::Conflict { first: pair[0], second: pair[1] });
        }
    }
    if let Some(&message) = sorted.iter().find(|t| t.type_id == 0) {
        return Err(SchemaError::ReservedTypeId { message });
    }
    TypeTable::new(sorted.iter().map(MessageType::entry)).map_err(|e| match e {
        TypeTableError::TooMany { count, max } => SchemaError::TooMany { count, max },
        // Both were checked above, with the Rust types at hand.
        TypeTableError::Conflict { .. } | TypeTableError::ReservedTypeId { .. } => {
            unreachable!("checked before: {e}")
        }
    })
}

const _: () = assert!(MAX_TYPE_TABLE_ENTRIES == 4096);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::actor::message::Message;

    fn t(name: &'static str, fingerprint: u64, rust_type: &'static str) -> MessageType {
        MessageType { name, type_id: coremesh_wire::type_id_of(name), fingerprint, rust_type }
    }

    #[test]
    fn the_registry_holds_the_runtime_system_messages() {
        let table = type_table().expect("this crate's own messages agree");
        for (name, type_id, fingerprint) in [
            (crate::ActorDown::NAME, crate::ActorDown::TYPE_ID, crate::ActorDown::FINGERPRINT),
            (crate::NodeDown::NAME, crate::NodeDown::TYPE_ID, crate::NodeDown::FINGERPRINT),
        ] {
            let e = table.get(type_id).unwrap_or_else(|| panic!("{name} is registered"));
            assert_eq!((e.name, e.fingerprint), (name, fingerprint));
        }
        for name in
            ["coremesh.sys.Spawn", "coremesh.sys.Lookup", "coremesh.sys.Watch", "coremesh.sys.Unwatch"]
        {
            assert!(table.get(coremesh_wire::type_id_of(name)).is_some(), "{name} is registered");
        }
    }

    #[test]
    fn a_type_id_with_two_fingerprints_is_an_error_naming_both_declarations() {
        let a = t("app.A", 1, "app::v1::A");
        let b = t("app.A", 2, "app::v2::A");
        let e = build(&[t("app.Other", 9, "app::Other"), b, a]).unwrap_err();
        assert_eq!(e, SchemaError::Conflict { first: a, second: b });
        let text = e.to_string();
        for needle in ["`app.A`", "app::v1::A", "app::v2::A"] {
            assert!(text.contains(needle), "{needle} in {text}");
        }
        // The same type declared alike twice is fine, and kept once.
        assert_eq!(build(&[a, t("app.A", 1, "app::copy::A")]).unwrap().entries().len(), 1);
    }

    #[test]
    fn too_many_types_and_a_zero_type_id_are_errors() {
        let many: Vec<MessageType> = (1..=MAX_TYPE_TABLE_ENTRIES as u64 + 1)
            .map(|id| MessageType { name: "n", type_id: id, fingerprint: 0, rust_type: "n" })
            .collect();
        assert_eq!(build(&many), Err(SchemaError::TooMany { count: 4097, max: 4096 }));
        let zero = MessageType { name: "z", type_id: 0, fingerprint: 0, rust_type: "z" };
        assert_eq!(build(&[zero]), Err(SchemaError::ReservedTypeId { message: zero }));
    }
}
