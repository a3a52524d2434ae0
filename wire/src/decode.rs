//! The frame decoder: turns the front of a receive buffer into a [`CheckedFrame`].
//!
//! Owns every check on frame bytes from the network: buffer alignment, header kind
//! and flags, the payload limit, the fields each kind fixes (a `ReplyError`'s 4-byte
//! payload, a `Tick`'s empty payload and zero type id, slot and generation), the ask
//! extension's reserved bytes, the `ReplyError` code, and zero padding.
//! [`CheckedFrame`] has private fields, so a value of it is proof that these checks
//! passed ("check once, then trust").
//!
//! This module must never: allocate, panic on any input, block or wait for bytes
//! (it answers `Ok(None)` and the caller reads more), or check the archived payload
//! itself (that is [`crate::check_archived`], done per message type).

use crate::error::FrameError;
use crate::header::{check_kind_fields, AskExt, FrameHeader, FrameKind, ReplyErrorCode};
use crate::{ASK_EXT_BYTES, DEFAULT_MAX_PAYLOAD_BYTES, FRAME_ALIGN, HEADER_BYTES};

/// A frame that passed every [`Decoder`] check; only this crate can make one.
///
/// Equality compares the decoded fields and the frame's bytes by value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CheckedFrame<'a> {
    header: FrameHeader,
    local_flags: u8,
    ext: Option<AskExt>,
    payload: &'a [u8],
    bytes: &'a [u8],
}

impl<'a> CheckedFrame<'a> {
    /// The flags byte of a frame read with [`Decoder::decode_local`] (always 0
    /// for one read with [`Decoder::decode`], which refuses nonzero flags).
    #[inline]
    pub fn local_flags(&self) -> u8 {
        self.local_flags
    }

    /// Whether the payload came from the network and still needs validation.
    #[inline]
    pub fn is_untrusted(&self) -> bool {
        self.local_flags & crate::FLAG_UNTRUSTED != 0
    }

    /// The decoded header.
    #[inline]
    pub fn header(&self) -> &FrameHeader {
        &self.header
    }

    /// The ask extension: `Some` exactly when the kind is `Ask`.
    #[inline]
    pub fn ask_ext(&self) -> Option<&AskExt> {
        self.ext.as_ref()
    }

    /// The archived payload: exactly `payload_len` bytes, 16-aligned in memory.
    #[inline]
    pub fn payload(&self) -> &'a [u8] {
        self.payload
    }

    /// Bytes this frame occupies at the front of the decoded buffer, padding
    /// included; the caller consumes this many before decoding the next frame.
    #[inline]
    pub fn frame_len(&self) -> usize {
        self.bytes.len()
    }

    /// The whole frame as received (prefix, payload, zero padding), for forwarding
    /// it unchanged to another core.
    #[inline]
    pub fn as_bytes(&self) -> &'a [u8] {
        self.bytes
    }

    /// For a `ReplyError` frame, its error code (checked by the decoder); `None`
    /// for every other kind.
    #[inline]
    pub fn reply_error_code(&self) -> Option<ReplyErrorCode> {
        match self.header.kind {
            FrameKind::ReplyError => ReplyErrorCode::from_payload(self.payload).ok(),
            FrameKind::Tell | FrameKind::Ask | FrameKind::Reply | FrameKind::Tick => None,
        }
    }
}

/// Checks frames at the front of a receive buffer against a payload limit.
#[derive(Clone, Copy, Debug)]
pub struct Decoder {
    max_payload_bytes: u32,
}

impl Default for Decoder {
    fn default() -> Decoder {
        Decoder::new(DEFAULT_MAX_PAYLOAD_BYTES)
    }
}

impl Decoder {
    /// A decoder that refuses payloads over `max_payload_bytes`.
    #[inline]
    pub const fn new(max_payload_bytes: u32) -> Decoder {
        Decoder { max_payload_bytes }
    }

    /// The payload limit.
    #[inline]
    pub fn max_payload_bytes(&self) -> u32 {
        self.max_payload_bytes
    }

    /// Reads a frame that this process wrote itself (a mailbox, or a ring between
    /// its own cores): the header and the lengths, skipping the checks that guard
    /// against a peer (alignment, flags, size limit, the fields each kind fixes,
    /// padding, error codes). Still bounds-checked, so it never panics; `None` when
    /// `buf` does not start with a whole frame, has an unknown kind, or has a
    /// nonzero reserved byte in its ask extension. Never use it on bytes from the
    /// network.
    #[inline]
    pub fn decode_local<'a>(&self, buf: &'a [u8]) -> Option<CheckedFrame<'a>> {
        let head = buf.first_chunk::<HEADER_BYTES>()?;
        let header = FrameHeader::read_any_flags(head).ok()?;
        let local_flags = head[5];
        let (ext, prefix) = match header.kind {
            FrameKind::Ask => {
                let e = buf.get(HEADER_BYTES..)?.first_chunk::<ASK_EXT_BYTES>()?;
                (Some(AskExt::read_from(e).ok()?), HEADER_BYTES + ASK_EXT_BYTES)
            }
            FrameKind::Tell | FrameKind::Reply | FrameKind::ReplyError | FrameKind::Tick => {
                (None, HEADER_BYTES)
            }
        };
        let payload_end = prefix.checked_add(header.payload_len as usize)?;
        let total = payload_end.checked_add(FRAME_ALIGN - 1)? & !(FRAME_ALIGN - 1);
        let bytes = buf.get(..total)?;
        let payload = bytes.get(prefix..payload_end)?;
        Some(CheckedFrame { header, local_flags, ext, payload, bytes })
    }

    /// Decodes the frame at the start of `buf`.
    ///
    /// - `Ok(None)`: `buf` is empty or holds a prefix of a frame that is valid so
    ///   far; read more bytes and call again with the same start.
    /// - `Ok(Some(frame))`: one whole frame; the caller consumes
    ///   `frame.frame_len()` bytes. Bytes after it are not looked at.
    /// - `Err(_)`: a protocol violation; the connection should be closed.
    ///
    /// Checks, in order: `buf` starts 16-aligned in memory (`Misaligned`); the
    /// header's kind and flags; as soon as the 32 header bytes are present,
    /// `payload_len <= max` (`TooLarge`), for `ReplyError` `payload_len == 4`
    /// (`BadErrorPayload`), and for `Tick` `payload_len == 0` (`BadTickPayload`) and
    /// `type_id`, `slot`, `generation` all 0 (`TickFieldNotZero`); the ask extension's
    /// reserved bytes (`ReservedBytes`); the padding bytes (`NonZeroPadding`); a
    /// `ReplyError`'s code (`UnknownErrorCode`). Never panics, never allocates.
    #[inline]
    pub fn decode<'a>(&self, buf: &'a [u8]) -> Result<Option<CheckedFrame<'a>>, FrameError> {
        if buf.is_empty() {
            // No frame has started; an empty slice's address means nothing.
            return Ok(None);
        }
        let addr_mod_16 = buf.as_ptr() as usize % FRAME_ALIGN;
        if addr_mod_16 != 0 {
            return Err(FrameError::Misaligned { addr_mod_16 });
        }
        let Some(head) = buf.first_chunk::<HEADER_BYTES>() else {
            return Ok(None);
        };
        let header = FrameHeader::read_from(head)?;
        if header.payload_len > self.max_payload_bytes {
            return Err(FrameError::TooLarge {
                payload_len: header.payload_len,
                max: self.max_payload_bytes,
            });
        }
        check_kind_fields(&header)?;
        let rest = &buf[HEADER_BYTES..];
        let (ext, prefix) = match header.kind {
            FrameKind::Ask => {
                let Some(e) = rest.first_chunk::<ASK_EXT_BYTES>() else {
                    return Ok(None);
                };
                (Some(AskExt::read_from(e)?), HEADER_BYTES + ASK_EXT_BYTES)
            }
            FrameKind::Tell | FrameKind::Reply | FrameKind::ReplyError | FrameKind::Tick => {
                (None, HEADER_BYTES)
            }
        };
        // Checked arithmetic: payload_len is at most u32::MAX, which would overflow
        // a 32-bit usize once the prefix and padding are added.
        let payload_end = prefix.checked_add(header.payload_len as usize);
        let total = payload_end.and_then(|n| n.checked_add(FRAME_ALIGN - 1)).map(|n| n & !(FRAME_ALIGN - 1));
        let (Some(payload_end), Some(total)) = (payload_end, total) else {
            return Err(FrameError::TooLarge {
                payload_len: header.payload_len,
                max: self.max_payload_bytes,
            });
        };
        let Some(bytes) = buf.get(..total) else {
            return Ok(None);
        };
        let (before_pad, padding) = bytes.split_at(payload_end);
        if padding.iter().any(|&b| b != 0) {
            return Err(FrameError::NonZeroPadding);
        }
        let payload = &before_pad[prefix..];
        if header.kind == FrameKind::ReplyError {
            ReplyErrorCode::from_payload(payload)?;
        }
        Ok(Some(CheckedFrame { header, local_flags: 0, ext, payload, bytes }))
    }
}
