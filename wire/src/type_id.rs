//! Message type ids: the stable 64-bit id of a message type's name.
//!
//! Owns the rule: FNV-1a 64 over the UTF-8 bytes of the stable name given when the
//! message type is declared (for example `"counter.Add"`), never Rust's `TypeId` or
//! `type_name`, which change between builds. This module must never change the
//! hash: a different function is a different wire protocol.

const FNV_OFFSET_BASIS: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

/// FNV-1a 64 of `name`'s UTF-8 bytes; usable in `const` items.
pub const fn type_id_of(name: &str) -> u64 {
    let bytes = name.as_bytes();
    let mut hash = FNV_OFFSET_BASIS;
    let mut i = 0;
    while i < bytes.len() {
        hash ^= bytes[i] as u64;
        hash = hash.wrapping_mul(FNV_PRIME);
        i += 1;
    }
    hash
}
