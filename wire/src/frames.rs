//! Whole fixed-size frames, built in one call: the 48-byte `ReplyError` frame, the
//! 32-byte `Tick` heartbeat, and the reader of a `ReplyError` payload.
//!
//! Owns the shape of the frames whose length never varies, so that the runtime sends
//! them without writing a byte offset of its own. Every builder goes through
//! [`write_frame`] or [`FrameHeader::write_to`] (the offsets live in `header.rs`
//! only), and every frame it returns is one that [`Decoder::decode`] accepts.
//!
//! This module must never: write a byte at an offset of its own, build a frame the
//! decoder would refuse, allocate, or panic on any input ([`reply_error_code`] reads
//! bytes from the network and answers every byte string with a value).
//!
//! [`Decoder::decode`]: crate::Decoder::decode

use crate::error::FrameError;
use crate::header::{write_frame, FrameHeader, FrameKind, ReplyErrorCode};
use crate::{REPLY_ERROR_FRAME_BYTES, REPLY_ERROR_PAYLOAD_BYTES, TICK_FRAME_BYTES};

/// A whole `ReplyError` frame: the ask `corr` failed with `code`; `core` is the core
/// on the asking node that waits for the reply.
///
/// Layout: the 32-byte header (kind `ReplyError`, `payload_len` 4, `flags`,
/// `type_id`, `slot` and `generation` 0), then `code` as a little-endian `u32` at
/// offset 32, then zero padding to 48 bytes.
///
/// ```
/// use coremesh_wire::{aligned_copy, reply_error_code, reply_error_frame, Decoder, FrameKind, ReplyErrorCode};
///
/// let frame = reply_error_frame(3, 0xC0FFEE, ReplyErrorCode::MailboxFull);
/// let buf = aligned_copy(&frame);
/// let f = Decoder::default().decode(&buf).unwrap().expect("one whole frame");
/// let h = f.header();
/// assert_eq!((h.kind, h.core, h.corr, h.type_id), (FrameKind::ReplyError, 3, 0xC0FFEE, 0));
/// assert_eq!(f.frame_len(), 48);
/// assert_eq!(reply_error_code(f.payload()), Ok(ReplyErrorCode::MailboxFull));
/// ```
#[inline]
pub fn reply_error_frame(core: u16, corr: u64, code: ReplyErrorCode) -> [u8; REPLY_ERROR_FRAME_BYTES] {
    let header = FrameHeader {
        payload_len: REPLY_ERROR_PAYLOAD_BYTES,
        kind: FrameKind::ReplyError,
        core,
        type_id: 0,
        slot: 0,
        generation: 0,
        corr,
    };
    let mut frame = [0u8; REPLY_ERROR_FRAME_BYTES];
    let written = write_frame(&mut frame, &header, None, &code.to_payload());
    // Our own bug if it fails: the header keeps the ReplyError rules (4-byte payload,
    // no ask extension) and the array is exactly frame_len(ReplyError, 4) bytes long
    // (asserted at compile time in lib.rs).
    assert_eq!(written, Ok(REPLY_ERROR_FRAME_BYTES), "a ReplyError frame fills its 48 bytes");
    frame
}

/// A whole `Tick` frame, the connection heartbeat: to core `core` of the receiving
/// node, from the node whose id is `sender_node`.
///
/// Layout: the 32-byte header alone, with kind `Tick`, `payload_len` 0, `core`, and
/// `corr` = `sender_node`; `flags`, `type_id`, `slot` and `generation` are 0. No
/// payload, no padding.
///
/// ```
/// use coremesh_wire::{aligned_copy, tick_frame, Decoder, FrameKind};
///
/// let frame = tick_frame(1, 0x0123_4567_89AB_CDEF);
/// let buf = aligned_copy(&frame);
/// let f = Decoder::default().decode(&buf).unwrap().expect("one whole frame");
/// let h = f.header();
/// assert_eq!((h.kind, h.core, h.corr), (FrameKind::Tick, 1, 0x0123_4567_89AB_CDEF));
/// assert_eq!((f.payload().len(), f.frame_len()), (0, 32));
/// ```
#[inline]
pub fn tick_frame(core: u16, sender_node: u64) -> [u8; TICK_FRAME_BYTES] {
    let header = FrameHeader {
        payload_len: 0,
        kind: FrameKind::Tick,
        core,
        type_id: 0,
        slot: 0,
        generation: 0,
        corr: sender_node,
    };
    let mut frame = [0u8; TICK_FRAME_BYTES];
    header.write_to(&mut frame);
    frame
}

/// Reads the code back from the payload of a `ReplyError` frame
/// ([`CheckedFrame::payload`](crate::CheckedFrame::payload)): exactly 4 bytes, a
/// little-endian `u32` that [`ReplyErrorCode`] knows.
///
/// Errors: `BadErrorPayload` if `payload` is not exactly 4 bytes long (shorter or
/// longer; a `ReplyError` payload is never anything else), `UnknownErrorCode` for a
/// code this build does not know. Never panics.
///
/// ```
/// use coremesh_wire::{reply_error_code, FrameError, ReplyErrorCode};
///
/// assert_eq!(reply_error_code(&5u32.to_le_bytes()), Ok(ReplyErrorCode::HandlerFailed));
/// assert_eq!(reply_error_code(&[5, 0]), Err(FrameError::BadErrorPayload { payload_len: 2 }));
/// assert_eq!(reply_error_code(&99u32.to_le_bytes()), Err(FrameError::UnknownErrorCode { code: 99 }));
/// ```
#[inline]
pub fn reply_error_code(payload: &[u8]) -> Result<ReplyErrorCode, FrameError> {
    ReplyErrorCode::from_payload(payload)
}

#[cfg(test)]
mod tests;
