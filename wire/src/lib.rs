//! coremesh-wire: the coremesh frame format, and the checks applied to bytes from
//! the network.
//!
//! This crate owns:
//! - the byte layout of a frame (32-byte [`FrameHeader`], 32-byte [`AskExt`] for asks,
//!   the payload, zero padding to [`FRAME_ALIGN`]); `wire/FORMAT.md` is the same layout
//!   in prose, and the constants below assert it at compile time;
//! - the [`Decoder`], the only maker of [`CheckedFrame`]: a frame that reached the
//!   runtime's dispatch code has passed every length, alignment and reserved-byte check;
//! - the builders of the fixed-size frames ([`reply_error_frame`], [`tick_frame`]) and
//!   the reader of a `ReplyError` payload ([`reply_error_code`]), so that no other
//!   crate writes a byte offset of its own;
//! - [`check_archived`], the checked (bytecheck) access to an rkyv payload;
//! - [`type_id_of`], the stable 64-bit id of a message type name, and the schema
//!   fingerprints (`schema`: [`FORMAT_HASH`] for the frame format, one fingerprint per
//!   message type, the [`TypeTable`] a Hello carries);
//! - the connection [`Handshake`] (Hello, Proof, Accept, Refuse and the cookie's
//!   HMAC challenge-response) as a state machine over bytes, run before any frame;
//! - the pinned rkyv format: `pub use rkyv` so that every crate archives with the
//!   features this crate was built with (little endian, aligned, 32-bit pointers).
//!
//! This crate must never: do I/O, spawn or depend on an executor, allocate in the
//! decode path, use `unsafe`, or panic on any input byte string. A bad frame is a
//! [`FrameError`] value; the receiver decides what to do with the connection.
//!
//! # Life of a frame
//!
//! ```text
//! sender:   write_prefix / write_frame ──► archive payload in place ──► send
//! receiver: recv into a 16-aligned buffer ──► Decoder::decode ──► CheckedFrame
//!           ──► check_archived::<M>(frame.payload()) ──► handler(&Archived<M>)
//! ```
//!
//! Why payloads are 16-aligned: rkyv's `aligned` feature lays archived values out at
//! their natural alignment, so the handler can read `&Archived<M>` straight out of
//! the receive buffer without copying. Every frame length is a multiple of 16 and the
//! receive buffer starts 16-aligned, so every payload in a batch of frames is too.
#![forbid(unsafe_code)]

mod archive;
mod decode;
mod error;
mod frames;
pub mod handshake;
mod header;
pub mod schema;
mod type_id;

#[cfg(test)]
mod tests;

pub use rkyv;

pub use archive::{aligned_copy, check_archived, ArchiveError};
pub use decode::{CheckedFrame, Decoder};
pub use error::FrameError;
pub use frames::{reply_error_code, reply_error_frame, tick_frame};
pub use handshake::{
    Handshake, HandshakeError, LocalInfo, PeerInfo, Progress, RefuseReason, HANDSHAKE_MAGIC, MAX_ADVERT,
    MAX_CLUSTER_NAME, PROTOCOL_VERSION,
};
pub use header::{
    frame_len, padded_len, prefix_len, set_local_flags, write_frame, write_prefix, AskExt, FrameHeader,
    FrameKind, ReplyErrorCode,
};
pub use schema::{
    layout_fingerprint, shape_fingerprint, TypeEntry, TypeTable, TypeTableError, FORMAT_HASH,
    MAX_TYPE_TABLE_ENTRIES,
};
pub use type_id::{type_id_of, Fnv64};

/// Bytes in the fixed frame header, present on every frame.
pub const HEADER_BYTES: usize = 32;
/// Bytes in the ask extension that follows the header on `Ask` frames only.
pub const ASK_EXT_BYTES: usize = 32;
/// Alignment of every payload and of every frame length, in bytes.
pub const FRAME_ALIGN: usize = 16;

/// Flags bit for frames inside one process only: the payload came from the
/// network and has not been validated yet (it is validated where its type is
/// known, at the handler). A peer must always send flags 0; the network
/// [`Decoder::decode`] refuses anything else.
pub const FLAG_UNTRUSTED: u8 = 0x01;
/// Default largest payload a [`Decoder`] accepts: 4 MiB.
pub const DEFAULT_MAX_PAYLOAD_BYTES: u32 = 4 << 20;
/// Bytes in a `ReplyError` payload: one little-endian `u32` error code.
pub const REPLY_ERROR_PAYLOAD_BYTES: u32 = 4;
/// Bytes in a whole `ReplyError` frame ([`reply_error_frame`]), derived:
///   header 32 + payload 4 rounded up to 16 (16) = 48.
pub const REPLY_ERROR_FRAME_BYTES: usize = 48;
/// Bytes in a whole `Tick` frame ([`tick_frame`]): the 32-byte header, no payload.
pub const TICK_FRAME_BYTES: usize = 32;

// Layout checks. A payload starts right after the prefix, so both prefix lengths
// must keep it 16-aligned; FRAME_ALIGN must be a power of two for `padded_len`.
const _: () = assert!(HEADER_BYTES == 32);
const _: () = assert!(ASK_EXT_BYTES == 32);
const _: () = assert!(FRAME_ALIGN == 16);
const _: () = assert!(FRAME_ALIGN.is_power_of_two());
const _: () = assert!(HEADER_BYTES % FRAME_ALIGN == 0);
const _: () = assert!((HEADER_BYTES + ASK_EXT_BYTES) % FRAME_ALIGN == 0);
const _: () = assert!(prefix_len(FrameKind::Tell) == 32);
const _: () = assert!(prefix_len(FrameKind::Ask) == 64);
const _: () = assert!(frame_len(FrameKind::Tell, 0) == 32);
const _: () = assert!(frame_len(FrameKind::Tell, 1) == 48);
const _: () = assert!(frame_len(FrameKind::Ask, 16) == 80);
const _: () = assert!(frame_len(FrameKind::ReplyError, 4) == 48);
const _: () = assert!(prefix_len(FrameKind::Tick) == 32);
const _: () = assert!(frame_len(FrameKind::Tick, 0) == 32);
// The fixed-size frames are exactly as long as the frame rule says.
const _: () =
    assert!(frame_len(FrameKind::ReplyError, REPLY_ERROR_PAYLOAD_BYTES as usize) == REPLY_ERROR_FRAME_BYTES);
const _: () = assert!(frame_len(FrameKind::Tick, 0) == TICK_FRAME_BYTES);
const _: () = assert!(TICK_FRAME_BYTES == HEADER_BYTES);
// The largest frame a default decoder accepts, derived:
//   prefix (at most 64) + DEFAULT_MAX_PAYLOAD_BYTES (4 MiB) rounded up to 16
//   = 64 + 4_194_304 = 4_194_368 bytes.
const _: () = assert!(frame_len(FrameKind::Ask, DEFAULT_MAX_PAYLOAD_BYTES as usize) == 4_194_368);
// The pinned rkyv format, checked: little-endian primitives (the archived u32 *is*
// rend's u32_le), 32-bit archived sizes, natural alignment.
const _: fn(rkyv::Archived<u32>) -> rkyv::rend::u32_le = |x| x;
const _: fn(rkyv::Archived<usize>) -> rkyv::rend::u32_le = |x| x;
const _: () = assert!(align_of::<rkyv::Archived<u64>>() == 8);
