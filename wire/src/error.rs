//! Frame errors: every way a byte string can fail to be a frame, and every way a frame
//! cannot be written.
//!
//! Owns [`FrameError`] only. Each message names the offending values so that the
//! receiver can log one line that explains why it closed a connection. This module
//! must never decide policy (close, retry, count): that belongs to the transport.

use crate::header::FrameKind;

/// Why bytes are not a valid frame, or why a frame could not be written.
///
/// On the receive side every variant is a protocol violation by the peer: the
/// receiver closes that one connection, logs the message and counts it; the frames
/// decoded before it were valid and have been delivered.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum FrameError {
    /// Header byte 4 is not a known frame kind (1 Tell, 2 Ask, 3 Reply, 4 ReplyError,
    /// 5 Tick).
    #[error("unknown frame kind {kind} (expected 1 Tell, 2 Ask, 3 Reply, 4 ReplyError or 5 Tick)")]
    UnknownKind {
        /// The kind byte as received.
        kind: u8,
    },
    /// Header byte 5 (flags) is not zero; no flags are defined yet.
    #[error("frame flags {flags:#04x} are reserved and must be 0")]
    ReservedFlags {
        /// The flags byte as received.
        flags: u8,
    },
    /// The payload length is over the receiver's limit; detected as soon as the
    /// header is present, before the payload is buffered.
    #[error("frame payload length {payload_len} exceeds the maximum {max}")]
    TooLarge {
        /// The payload length from the header.
        payload_len: u32,
        /// The decoder's limit.
        max: u32,
    },
    /// The buffer handed to the decoder does not start on a 16-byte boundary, so the
    /// payload could not be read in place.
    #[error("frame buffer starts at an address that is {addr_mod_16} mod 16, expected 0")]
    Misaligned {
        /// The buffer's start address modulo 16.
        addr_mod_16: usize,
    },
    /// The reserved bytes 10..16 of the ask extension (frame bytes 42..48) are not zero.
    #[error("ask extension reserved bytes (frame offsets 42..48) are not zero")]
    ReservedBytes,
    /// A padding byte after the payload is not zero.
    #[error("frame padding after the payload is not zero")]
    NonZeroPadding,
    /// A `ReplyError` frame whose payload is not exactly 4 bytes.
    #[error("reply-error payload length {payload_len} must be exactly 4")]
    BadErrorPayload {
        /// The payload length from the header.
        payload_len: u32,
    },
    /// A `Tick` frame whose `payload_len` is not 0; detected as soon as the header
    /// is present.
    #[error("tick frame payload length {payload_len} must be 0")]
    BadTickPayload {
        /// The payload length from the header.
        payload_len: u32,
    },
    /// A `Tick` frame whose `type_id`, `slot` or `generation` is not 0; detected as
    /// soon as the header is present.
    #[error("tick frame field {field} is {value}, must be 0")]
    TickFieldNotZero {
        /// The header field: `"type_id"`, `"slot"` or `"generation"`.
        field: &'static str,
        /// Its value as received.
        value: u64,
    },
    /// The output buffer is too short for what is being written.
    #[error("buffer too small: {needed} bytes needed, {got} available")]
    BufferTooSmall {
        /// Bytes the write needs.
        needed: usize,
        /// Bytes the buffer has.
        got: usize,
    },
    /// A `ReplyError` payload carries a code that [`crate::ReplyErrorCode`] does not know.
    #[error("unknown reply error code {code}")]
    UnknownErrorCode {
        /// The code as received.
        code: u32,
    },
    /// Writing: the ask extension was given for a kind other than `Ask`, or left out
    /// for an `Ask`. Nothing was written.
    #[error("ask extension {} for a {kind:?} frame", if *.ext_given { "given" } else { "missing" })]
    AskExtMismatch {
        /// The kind in the header being written.
        kind: FrameKind,
        /// Whether an ask extension was passed.
        ext_given: bool,
    },
    /// Writing: the payload slice length differs from `header.payload_len`.
    /// Nothing was written.
    #[error("payload is {actual} bytes but the header says {payload_len}")]
    PayloadLenMismatch {
        /// The payload length in the header.
        payload_len: u32,
        /// The length of the payload slice.
        actual: usize,
    },
}
