//! Writing a frame: archive a value behind a coremesh-wire header.
//!
//! Owns: [`encode_into`], which writes a coremesh-wire frame (header, ask
//! extension, archived payload, padding) at the end of a 16-aligned buffer,
//! and the small error type of the send path ([`SendFail`]) with the ask error
//! each error-reply code stands for. Where a frame goes is `route.rs`.
//!
//! Must never: leave a partial frame in a buffer after an error, or let a frame
//! reach a mailbox without the type id of the value it was archived from (R1 of
//! `crate::actor::glue`).
//!
//! # Rules the `unsafe` block relies on
//! - R3: `AlignedVec::reserve(n)` leaves at least `n` bytes of capacity past
//!   `len()`, and `set_len` is only called with a length whose bytes are all
//!   initialised.

use coremesh_wire::{
    prefix_len, write_prefix, AskExt, FrameHeader, ReplyErrorCode, ASK_EXT_BYTES, HEADER_BYTES,
};
use rkyv::rancor;
use rkyv::ser::allocator::SubAllocator;
use rkyv::util::AlignedVec;

use crate::actor::message::Wire;
use crate::error::{AskError, TellError};
use crate::ids::{ActorId, CoreId};

/// Appends one frame carrying `msg` to `buf`; returns the frame's length. On
/// error `buf` is as it was.
///
/// The prefix is written whole before the payload (its length patched after),
/// and the padding with one 16-byte store: no zero-fill pass, no second header write.
#[inline]
pub(crate) fn encode_into<M: Wire>(
    buf: &mut AlignedVec<16>,
    alloc: SubAllocator<'_>,
    header: &FrameHeader,
    ext: Option<&AskExt>,
    msg: &M,
    max_payload: usize,
) -> Result<usize, SendFail> {
    let start = buf.len();
    debug_assert_eq!(start % 16, 0);
    let mut prefix = [0u8; HEADER_BYTES + ASK_EXT_BYTES];
    let prefix_bytes = prefix_len(header.kind);
    write_prefix(&mut prefix, header, ext).map_err(|e| TellError::Serialize(e.to_string()))?;
    buf.reserve(HEADER_BYTES + ASK_EXT_BYTES);
    // SAFETY:
    // - `reserve` left at least HEADER_BYTES + ASK_EXT_BYTES bytes of capacity
    //   past `start` (R3);
    // - the unaligned store of that size is valid anywhere in that capacity, and
    //   the first `prefix_bytes` (at most that size) it wrote are initialised before
    //   `set_len` exposes them. (A fixed-size store avoids a memcpy call.)
    unsafe {
        buf.as_mut_ptr().add(start).cast::<[u8; HEADER_BYTES + ASK_EXT_BYTES]>().write_unaligned(prefix);
        buf.set_len(start + prefix_bytes);
    }
    let payload_start = buf.len();
    if let Err(e) = rkyv::api::low::to_bytes_in_with_alloc::<_, _, rancor::Error>(msg, &mut *buf, alloc) {
        buf.resize(start, 0);
        return Err(TellError::Serialize(e.to_string()).into());
    }
    let payload_len = buf.len() - payload_start;
    if payload_len > max_payload {
        buf.resize(start, 0);
        return Err(TellError::TooLarge { bytes: payload_len, max: max_payload }.into());
    }
    buf[start..start + 4].copy_from_slice(&(payload_len as u32).to_le_bytes());
    let end = buf.len();
    let padded = coremesh_wire::padded_len(end);
    buf.reserve(16);
    // SAFETY:
    // - `reserve(16)` guarantees 16 bytes of capacity past `end` (R3 of this module);
    // - an unaligned 16-byte store is valid for any address in that capacity;
    // - `padded - end < 16`, so every byte up to `padded` is now initialised
    //   before `set_len` exposes it.
    unsafe {
        buf.as_mut_ptr().add(end).cast::<[u8; 16]>().write_unaligned([0u8; 16]);
        buf.set_len(padded);
    }
    Ok(padded - start)
}

/// Why the send path refused a frame. Small enough to come back in registers on
/// the hot path (a large error type returned through several layers costs more
/// than the send itself); [`SendFail::into_tell`] adds the context.
#[derive(Debug)]
pub(crate) enum SendFail {
    /// The target's mailbox holds this many bytes, at or past its bound.
    MailboxFull { bytes: usize },
    /// The ring to the target's core is full.
    RingFull,
    /// The link to the target's node holds this many bytes, its bound.
    LinkFull { bytes: usize },
    /// The target has stopped.
    ActorStopped,
    /// This node has no core with this number (a frame from a peer named it).
    NoSuchCore { core: u16 },
    /// Anything else (rare: bad target, too large, archiving failed).
    Other(Box<TellError>),
}

impl SendFail {
    /// The public error, for a send from core `from` to `to`.
    #[cold]
    pub(crate) fn into_tell(self, to: ActorId, from: CoreId) -> TellError {
        match self {
            SendFail::MailboxFull { bytes } => TellError::MailboxFull { actor: to, bytes },
            SendFail::RingFull => TellError::RingFull { from, to: to.core },
            SendFail::LinkFull { bytes } => TellError::LinkFull { node: to.node, bytes },
            SendFail::ActorStopped => TellError::ActorStopped { actor: to },
            SendFail::NoSuchCore { core } => TellError::NoSuchCore { actor: to, core, cores: 0 },
            SendFail::Other(e) => *e,
        }
    }
}

impl From<TellError> for SendFail {
    #[cold]
    fn from(e: TellError) -> Self {
        SendFail::Other(Box::new(e))
    }
}

/// The ask error an error code stands for.
pub(crate) fn ask_error(code: ReplyErrorCode, actor: Option<ActorId>, type_id: u64) -> AskError {
    let actor =
        actor.unwrap_or(ActorId { node: crate::ids::NodeId(0), core: CoreId(0), slot: 0, generation: 0 });
    match code {
        ReplyErrorCode::UnknownActor | ReplyErrorCode::ActorStopped => AskError::ActorStopped { actor },
        ReplyErrorCode::UnknownType => AskError::UnknownType { actor, type_id },
        ReplyErrorCode::DeadlineExpired => AskError::DeadlineExpired,
        ReplyErrorCode::MailboxFull => AskError::NotSent(TellError::MailboxFull { actor, bytes: 0 }),
        ReplyErrorCode::HandlerFailed => AskError::HandlerFailed,
        ReplyErrorCode::ReplyDropped => AskError::ReplyDropped { actor },
    }
}
