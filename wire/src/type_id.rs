//! Message type ids and the one hash function of the protocol: FNV-1a 64.
//!
//! Owns the rule: a type id is FNV-1a 64 over the UTF-8 bytes of the stable name given
//! when the message type is declared (for example `"counter.Add"`), never Rust's
//! `TypeId` or `type_name`, which change between builds. The same FNV-1a 64, as a
//! const streaming hasher ([`Fnv64`]), makes the schema fingerprints of `schema.rs`.
//! This module must never change the hash: a different function is a different wire
//! protocol.

const FNV_OFFSET_BASIS: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

/// FNV-1a 64 of `name`'s UTF-8 bytes; usable in `const` items.
pub const fn type_id_of(name: &str) -> u64 {
    Fnv64::new().bytes(name.as_bytes()).finish()
}

/// FNV-1a 64 as a streaming hasher usable in `const` items: the hash of the
/// concatenation of every byte fed to it, in order. It does the same on every
/// platform and in every build (integers are fed little-endian, lengths as `u64`).
///
/// ```
/// use coremesh_wire::{type_id_of, Fnv64};
/// assert_eq!(Fnv64::new().bytes(b"counter.Add").finish(), type_id_of("counter.Add"));
/// // `str` feeds the length (u64 LE) first, so that "ab" + "c" differs from "a" + "bc".
/// assert_ne!(Fnv64::new().str("ab").str("c").finish(), Fnv64::new().str("a").str("bc").finish());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fnv64(u64);

impl Fnv64 {
    /// A hasher that has been fed nothing (the FNV-1a 64 offset basis).
    pub const fn new() -> Fnv64 {
        Fnv64(FNV_OFFSET_BASIS)
    }

    /// Feeds `bytes` as they are.
    pub const fn bytes(self, bytes: &[u8]) -> Fnv64 {
        let mut hash = self.0;
        let mut i = 0;
        while i < bytes.len() {
            hash ^= bytes[i] as u64;
            hash = hash.wrapping_mul(FNV_PRIME);
            i += 1;
        }
        Fnv64(hash)
    }

    /// Feeds one byte.
    pub const fn u8(self, n: u8) -> Fnv64 {
        self.bytes(&[n])
    }

    /// Feeds `n`'s 8 little-endian bytes.
    pub const fn u64(self, n: u64) -> Fnv64 {
        self.bytes(&n.to_le_bytes())
    }

    /// Feeds `s`'s length in bytes (as [`Fnv64::u64`]), then its UTF-8 bytes.
    pub const fn str(self, s: &str) -> Fnv64 {
        self.u64(s.len() as u64).bytes(s.as_bytes())
    }

    /// The hash of everything fed so far.
    pub const fn finish(self) -> u64 {
        self.0
    }
}

impl Default for Fnv64 {
    fn default() -> Fnv64 {
        Fnv64::new()
    }
}
