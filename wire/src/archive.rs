//! Checked access to rkyv payloads, and a 16-aligned copy helper.
//!
//! Owns the one call into rkyv's validating access (bytecheck) for bytes from the
//! network. A payload from a [`crate::CheckedFrame`] is 16-aligned and bounded; this
//! module adds the per-type check that its archived bytes are a valid `T::Archived`.
//! It must never use rkyv's unchecked access: that is for the runtime, and only on
//! bytes that already passed [`check_archived`].

use rkyv::api::high::HighValidator;
use rkyv::bytecheck::CheckBytes;
use rkyv::rancor;
use rkyv::util::AlignedVec;

use crate::FRAME_ALIGN;

/// Why an archived payload was refused.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    /// rkyv's validation failed; the text is rkyv's description of the fault.
    #[error("archived payload failed validation: {0}")]
    Invalid(String),
}

/// Validates `payload` as the archived form of `T` (bounds, alignment, every
/// pointer and enum tag) and returns the archived root, which rkyv places at the
/// end of the bytes.
///
/// `payload` must start on a 16-byte boundary, as every `CheckedFrame` payload does;
/// otherwise validation fails for any type with alignment over 1. Allocates only to
/// describe a failure.
pub fn check_archived<T>(payload: &[u8]) -> Result<&T::Archived, ArchiveError>
where
    T: rkyv::Archive,
    T::Archived: for<'a> CheckBytes<HighValidator<'a, rancor::Error>>,
{
    rkyv::access::<T::Archived, rancor::Error>(payload).map_err(|e| ArchiveError::Invalid(e.to_string()))
}

/// Copies `bytes` into a fresh 16-aligned buffer (for tests, fuzzing, and handlers
/// that need an owned payload).
pub fn aligned_copy(bytes: &[u8]) -> AlignedVec<FRAME_ALIGN> {
    let mut v = AlignedVec::<FRAME_ALIGN>::with_capacity(bytes.len());
    v.extend_from_slice(bytes);
    v
}
