//! The frame prefix: the 32-byte [`FrameHeader`], the 32-byte [`AskExt`], frame
//! lengths, and the writers that put a prefix (or a whole frame) into a buffer.
//!
//! Owns the byte offsets of every header field (see `wire/FORMAT.md`), and the rules
//! a kind puts on the other header fields (a `ReplyError` payload is 4 bytes; a
//! `Tick` has no payload and zero `type_id`, `slot` and `generation`), which the
//! writers keep and the decoder checks. Reading a header checks only its kind and
//! flags; limits that depend on the receiver (maximum payload) belong to the decoder.
//! This module must never read past the fixed-size arrays it is given, allocate, or
//! panic on input.

use crate::error::FrameError;
use crate::type_id::Fnv64;
use crate::{ASK_EXT_BYTES, FRAME_ALIGN, HEADER_BYTES, REPLY_ERROR_PAYLOAD_BYTES};

/// What a frame carries, header byte 4.
#[repr(u8)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FrameKind {
    /// A one-way message to an actor; `corr` is 0.
    Tell = 1,
    /// A request expecting a reply; followed by an [`AskExt`].
    Ask = 2,
    /// The successful reply to an ask, matched by `corr`.
    Reply = 3,
    /// The failed reply to an ask, matched by `corr`; payload is a 4-byte
    /// [`ReplyErrorCode`].
    ReplyError = 4,
    /// A connection heartbeat: no payload; `core` is the target core on the
    /// receiving node, `corr` the sending node's id, and `type_id`, `slot` and
    /// `generation` are 0; [`crate::tick_frame`] builds one.
    Tick = 5,
}

impl FrameKind {
    /// The kind for a received kind byte.
    #[inline]
    pub const fn from_u8(kind: u8) -> Result<FrameKind, FrameError> {
        match kind {
            1 => Ok(FrameKind::Tell),
            2 => Ok(FrameKind::Ask),
            3 => Ok(FrameKind::Reply),
            4 => Ok(FrameKind::ReplyError),
            5 => Ok(FrameKind::Tick),
            _ => Err(FrameError::UnknownKind { kind }),
        }
    }
}

/// Why an ask failed on the receiving node, the payload of a `ReplyError` frame
/// ([`crate::reply_error_frame`] builds one, [`crate::reply_error_code`] reads it).
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReplyErrorCode {
    /// No actor can be at (core, slot, generation) on this node: the runtime sends it
    /// for a core the node does not have.
    UnknownActor = 1,
    /// The actor exists but has no handler for the message type id.
    UnknownType = 2,
    /// No live actor at (slot, generation): it stopped, before the request arrived or
    /// with it still queued, or never existed.
    ActorStopped = 3,
    /// The deadline in the ask extension passed before the handler ran.
    DeadlineExpired = 4,
    /// The request was taken but no reply can come: the handler panicked, the payload
    /// failed validation as the type its id names, or the reply could not be passed
    /// on. (A handler's own error is part of its reply type and travels in a `Reply`.)
    HandlerFailed = 5,
    /// The target mailbox was full; the request was not enqueued.
    MailboxFull = 6,
    /// The handler took a deferred reply handle (`Ctx::reply_later`) and the
    /// handle was dropped without replying: the request ran, no reply will come.
    ReplyDropped = 7,
}

impl ReplyErrorCode {
    /// The code for a received `u32`.
    #[inline]
    pub const fn from_u32(code: u32) -> Result<ReplyErrorCode, FrameError> {
        match code {
            1 => Ok(ReplyErrorCode::UnknownActor),
            2 => Ok(ReplyErrorCode::UnknownType),
            3 => Ok(ReplyErrorCode::ActorStopped),
            4 => Ok(ReplyErrorCode::DeadlineExpired),
            5 => Ok(ReplyErrorCode::HandlerFailed),
            6 => Ok(ReplyErrorCode::MailboxFull),
            7 => Ok(ReplyErrorCode::ReplyDropped),
            _ => Err(FrameError::UnknownErrorCode { code }),
        }
    }

    /// The code as a `u32`.
    #[inline]
    pub const fn as_u32(self) -> u32 {
        self as u32
    }

    /// The 4-byte payload of a `ReplyError` frame carrying this code.
    #[inline]
    pub const fn to_payload(self) -> [u8; 4] {
        self.as_u32().to_le_bytes()
    }

    /// Reads a `ReplyError` payload: exactly 4 bytes, a known little-endian code.
    #[inline]
    pub fn from_payload(payload: &[u8]) -> Result<ReplyErrorCode, FrameError> {
        match payload.first_chunk::<4>() {
            Some(code) if payload.len() == 4 => Self::from_u32(u32::from_le_bytes(*code)),
            _ => Err(FrameError::BadErrorPayload {
                payload_len: u32::try_from(payload.len()).unwrap_or(u32::MAX),
            }),
        }
    }
}

/// The fixed 32-byte header at the start of every frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrameHeader {
    /// Length of the archived payload in bytes, without padding.
    pub payload_len: u32,
    /// What the frame carries.
    pub kind: FrameKind,
    /// Target core on the receiving node; for replies, the core waiting for the
    /// reply; for `Tick`, the core the heartbeat is for.
    pub core: u16,
    /// Message type id ([`crate::type_id_of`]) for `Tell` and `Ask`. `Reply` and
    /// `ReplyError` carry 0 (the receiver matches them by `corr` and ignores this
    /// field); `Tick` must carry 0.
    pub type_id: u64,
    /// Target actor slot (`Tell`, `Ask`); 0 for `Reply` and `ReplyError` (ignored);
    /// must be 0 for `Tick`.
    pub slot: u32,
    /// Target actor generation (`Tell`, `Ask`); 0 for `Reply` and `ReplyError`
    /// (ignored); must be 0 for `Tick`.
    pub generation: u32,
    /// Correlation id of the ask (`Ask`, `Reply`, `ReplyError`); 0 for `Tell`; the
    /// sending node's 64-bit id for `Tick`.
    pub corr: u64,
}

/// Byte offsets of the header fields.
mod off {
    pub const PAYLOAD_LEN: usize = 0;
    pub const KIND: usize = 4;
    pub const FLAGS: usize = 5;
    pub const CORE: usize = 6;
    pub const TYPE_ID: usize = 8;
    pub const SLOT: usize = 16;
    pub const GENERATION: usize = 20;
    pub const CORR: usize = 24;
    /// Offsets inside the ask extension (add `HEADER_BYTES` for frame offsets).
    pub const EXT_DEADLINE: usize = 0;
    pub const EXT_REPLY_NODE: usize = 8;
    pub const EXT_REPLY_CORE: usize = 16;
    pub const EXT_RESERVED: usize = 18;
}

// Each field ends where the next begins, and the last ends at the header's end.
const _: () = assert!(off::CORR + 8 == HEADER_BYTES);
const _: () = assert!(off::EXT_RESERVED + 14 == ASK_EXT_BYTES);

/// Feeds the header and ask extension layout into `h`, for [`crate::FORMAT_HASH`]:
/// the three sizes, then each field's name, frame offset and size, in order.
pub(crate) const fn fold_frame_layout(h: Fnv64) -> Fnv64 {
    const FIELDS: [(&str, usize, usize); 12] = [
        ("payload_len", off::PAYLOAD_LEN, 4),
        ("kind", off::KIND, 1),
        ("flags", off::FLAGS, 1),
        ("core", off::CORE, 2),
        ("type_id", off::TYPE_ID, 8),
        ("slot", off::SLOT, 4),
        ("generation", off::GENERATION, 4),
        ("corr", off::CORR, 8),
        ("deadline_unix_ns", HEADER_BYTES + off::EXT_DEADLINE, 8),
        ("reply_node", HEADER_BYTES + off::EXT_REPLY_NODE, 8),
        ("reply_core", HEADER_BYTES + off::EXT_REPLY_CORE, 2),
        ("reserved", HEADER_BYTES + off::EXT_RESERVED, 14),
    ];
    let mut h = h.u64(HEADER_BYTES as u64).u64(ASK_EXT_BYTES as u64).u64(FRAME_ALIGN as u64);
    let mut i = 0;
    while i < FIELDS.len() {
        let (name, offset, size) = FIELDS[i];
        h = h.str(name).u64(offset as u64).u64(size as u64);
        i += 1;
    }
    h
}

/// `n` rounded up to a multiple of [`FRAME_ALIGN`].
///
/// # Panics
/// Overflows (a panic in debug builds) if `n > usize::MAX - 15`; the decoder never
/// calls it with a length from the network that large.
#[inline]
pub const fn padded_len(n: usize) -> usize {
    (n + (FRAME_ALIGN - 1)) & !(FRAME_ALIGN - 1)
}

/// Bytes before the payload: the header, plus the ask extension for `Ask`.
#[inline]
pub const fn prefix_len(kind: FrameKind) -> usize {
    match kind {
        FrameKind::Ask => HEADER_BYTES + ASK_EXT_BYTES,
        FrameKind::Tell | FrameKind::Reply | FrameKind::ReplyError | FrameKind::Tick => HEADER_BYTES,
    }
}

/// Total frame length: prefix + payload + zero padding to a multiple of 16.
#[inline]
pub const fn frame_len(kind: FrameKind, payload_len: usize) -> usize {
    // The prefix is a multiple of FRAME_ALIGN, so padding the payload pads the frame.
    prefix_len(kind) + padded_len(payload_len)
}

#[inline]
fn put<const N: usize>(out: &mut [u8], at: usize, bytes: [u8; N]) {
    out[at..at + N].copy_from_slice(&bytes);
}

#[inline]
fn get<const N: usize>(bytes: &[u8], at: usize) -> [u8; N] {
    let mut a = [0u8; N];
    a.copy_from_slice(&bytes[at..at + N]);
    a
}

impl FrameHeader {
    /// Writes the header's 32 bytes (flags 0).
    #[inline]
    pub fn write_to(&self, out: &mut [u8; HEADER_BYTES]) {
        put(out, off::PAYLOAD_LEN, self.payload_len.to_le_bytes());
        put(out, off::KIND, [self.kind as u8]);
        put(out, off::FLAGS, [0u8]);
        put(out, off::CORE, self.core.to_le_bytes());
        put(out, off::TYPE_ID, self.type_id.to_le_bytes());
        put(out, off::SLOT, self.slot.to_le_bytes());
        put(out, off::GENERATION, self.generation.to_le_bytes());
        put(out, off::CORR, self.corr.to_le_bytes());
    }

    /// Reads a header, checking the kind byte and that the flags byte is 0.
    #[inline]
    pub fn read_from(bytes: &[u8; HEADER_BYTES]) -> Result<FrameHeader, FrameError> {
        let flags = bytes[off::FLAGS];
        if flags != 0 {
            return Err(FrameError::ReservedFlags { flags });
        }
        Self::read_any_flags(bytes)
    }

    /// Reads a header whatever its flags byte (frames inside one process may
    /// carry [`FLAG_UNTRUSTED`](crate::FLAG_UNTRUSTED)); checks the kind byte.
    #[inline]
    pub(crate) fn read_any_flags(bytes: &[u8; HEADER_BYTES]) -> Result<FrameHeader, FrameError> {
        let kind = FrameKind::from_u8(bytes[off::KIND])?;
        Ok(FrameHeader {
            payload_len: u32::from_le_bytes(get(bytes, off::PAYLOAD_LEN)),
            kind,
            core: u16::from_le_bytes(get(bytes, off::CORE)),
            type_id: u64::from_le_bytes(get(bytes, off::TYPE_ID)),
            slot: u32::from_le_bytes(get(bytes, off::SLOT)),
            generation: u32::from_le_bytes(get(bytes, off::GENERATION)),
            corr: u64::from_le_bytes(get(bytes, off::CORR)),
        })
    }

    /// Total length of the frame this header starts, padding included.
    ///
    /// Uses the same arithmetic as [`frame_len`]; on a 64-bit target it cannot
    /// overflow for any `u32` payload length.
    #[inline]
    pub fn frame_len(&self) -> usize {
        frame_len(self.kind, self.payload_len as usize)
    }
}

/// The 32 bytes that follow the header on `Ask` frames: where the reply goes and
/// by when it is wanted, so a request forwarded between cores or nodes carries
/// its own way back.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct AskExt {
    /// Unix time in nanoseconds after which the receiver may drop the request and
    /// answer `DeadlineExpired`; 0 means no deadline.
    pub deadline_unix_ns: u64,
    /// Node id of the asking node (the sender; a node fills in its own id).
    pub reply_node: u64,
    /// Core on the asking node that waits for the reply.
    pub reply_core: u16,
}

impl AskExt {
    /// Writes the extension's 32 bytes (reserved bytes 0).
    #[inline]
    pub fn write_to(&self, out: &mut [u8; ASK_EXT_BYTES]) {
        put(out, off::EXT_DEADLINE, self.deadline_unix_ns.to_le_bytes());
        put(out, off::EXT_REPLY_NODE, self.reply_node.to_le_bytes());
        put(out, off::EXT_REPLY_CORE, self.reply_core.to_le_bytes());
        put(out, off::EXT_RESERVED, [0u8; 14]);
    }

    /// Reads an extension, checking that the reserved bytes are 0.
    #[inline]
    pub fn read_from(b: &[u8; ASK_EXT_BYTES]) -> Result<AskExt, FrameError> {
        if b[off::EXT_RESERVED..].iter().any(|&x| x != 0) {
            return Err(FrameError::ReservedBytes);
        }
        Ok(AskExt {
            deadline_unix_ns: u64::from_le_bytes(get(b, off::EXT_DEADLINE)),
            reply_node: u64::from_le_bytes(get(b, off::EXT_REPLY_NODE)),
            reply_core: u16::from_le_bytes(get(b, off::EXT_REPLY_CORE)),
        })
    }
}

/// Writes the header (and the ask extension when `header.kind` is `Ask`, which must
/// then be `Some`) into the first [`prefix_len`] bytes of `out`.
///
/// Errors, with nothing written: `AskExtMismatch` if `ext` is `Some` for a kind other
/// than `Ask` or `None` for `Ask`; `BadErrorPayload` for a `ReplyError` header whose
/// `payload_len` is not 4; `BadTickPayload` or `TickFieldNotZero` for a `Tick` header
/// with a payload or a nonzero `type_id`, `slot` or `generation`; `BufferTooSmall` if
/// `out` is shorter than the prefix.
#[inline]
pub fn write_prefix(out: &mut [u8], header: &FrameHeader, ext: Option<&AskExt>) -> Result<(), FrameError> {
    check_writable(header, ext)?;
    let needed = prefix_len(header.kind);
    if out.len() < needed {
        return Err(FrameError::BufferTooSmall { needed, got: out.len() });
    }
    let (head, rest) = out.split_at_mut(HEADER_BYTES);
    if let Some(h) = head.first_chunk_mut::<HEADER_BYTES>() {
        header.write_to(h);
    }
    if let (Some(ext), Some(e)) = (ext, rest.first_chunk_mut::<ASK_EXT_BYTES>()) {
        ext.write_to(e);
    }
    Ok(())
}

/// Writes a whole frame: prefix, `payload`, and zero padding; returns the frame
/// length ([`FrameHeader::frame_len`]), the bytes of `out` now used.
///
/// For senders whose payload is already archived elsewhere (replies, error replies,
/// tests). Same errors as [`write_prefix`], plus `PayloadLenMismatch` if
/// `payload.len() != header.payload_len`; `BufferTooSmall` covers the whole frame.
/// Nothing is written on error.
#[inline]
pub fn write_frame(
    out: &mut [u8],
    header: &FrameHeader,
    ext: Option<&AskExt>,
    payload: &[u8],
) -> Result<usize, FrameError> {
    if payload.len() != header.payload_len as usize {
        return Err(FrameError::PayloadLenMismatch {
            payload_len: header.payload_len,
            actual: payload.len(),
        });
    }
    check_writable(header, ext)?;
    let total = header.frame_len();
    if out.len() < total {
        return Err(FrameError::BufferTooSmall { needed: total, got: out.len() });
    }
    write_prefix(out, header, ext)?;
    let start = prefix_len(header.kind);
    let end = start + payload.len();
    out[start..end].copy_from_slice(payload);
    out[end..total].fill(0);
    Ok(total)
}

#[inline]
fn check_writable(header: &FrameHeader, ext: Option<&AskExt>) -> Result<(), FrameError> {
    let is_ask = header.kind == FrameKind::Ask;
    if is_ask != ext.is_some() {
        return Err(FrameError::AskExtMismatch { kind: header.kind, ext_given: ext.is_some() });
    }
    check_kind_fields(header)
}

/// The rules a kind puts on the other header fields, checkable from the 32 header
/// bytes alone; the decoder applies them to every frame from the network, and the
/// writers refuse to break them.
///
/// - `ReplyError`: `payload_len` is [`REPLY_ERROR_PAYLOAD_BYTES`] (`BadErrorPayload`).
/// - `Tick`: `payload_len` is 0 (`BadTickPayload`); `type_id`, `slot` and
///   `generation` are 0, checked in that order (`TickFieldNotZero`).
#[inline]
pub(crate) fn check_kind_fields(header: &FrameHeader) -> Result<(), FrameError> {
    match header.kind {
        FrameKind::ReplyError if header.payload_len != REPLY_ERROR_PAYLOAD_BYTES => {
            Err(FrameError::BadErrorPayload { payload_len: header.payload_len })
        }
        FrameKind::Tick if header.payload_len != 0 => {
            Err(FrameError::BadTickPayload { payload_len: header.payload_len })
        }
        FrameKind::Tick if header.type_id != 0 => {
            Err(FrameError::TickFieldNotZero { field: "type_id", value: header.type_id })
        }
        FrameKind::Tick if header.slot != 0 => {
            Err(FrameError::TickFieldNotZero { field: "slot", value: u64::from(header.slot) })
        }
        FrameKind::Tick if header.generation != 0 => {
            Err(FrameError::TickFieldNotZero { field: "generation", value: u64::from(header.generation) })
        }
        _ => Ok(()),
    }
}

/// Sets the flags byte of the frame that starts `frame` (a frame inside this
/// process: a mailbox or a ring between its cores). Does nothing to a slice
/// shorter than a header.
#[inline]
pub fn set_local_flags(frame: &mut [u8], flags: u8) {
    if let Some(b) = frame.get_mut(off::FLAGS) {
        *b = flags;
    }
}
