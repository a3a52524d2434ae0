//! The one send path: archive a value into a frame and route it to this core's
//! mailbox, another core's ring, or (later) a peer connection.
//!
//! Owns: [`encode_into`], which writes a coremesh-wire frame (header, ask
//! extension, archived payload, padding) at the end of a 16-aligned buffer;
//! `CoreRt::send`, the routing function (local case first); the reply path; and
//! the delivery of already-encoded frames arriving from rings and the inbox.
//!
//! Must never: leave a partial frame in a buffer after an error, or let a frame
//! reach a mailbox without the type id of the value it was archived from (R1 of
//! `crate::actor::glue`).
//!
//! # Rules the `unsafe` block relies on
//! - R3: `AlignedVec::reserve(n)` leaves at least `n` bytes of capacity past
//!   `len()`, and `set_len` is only called with a length whose bytes are all
//!   initialised.

use std::rc::Rc;

use coremesh_wire::{
    prefix_len, write_prefix, AskExt, CheckedFrame, FrameHeader, FrameKind, ReplyErrorCode, ASK_EXT_BYTES,
    HEADER_BYTES,
};
use rkyv::rancor;
use rkyv::ser::allocator::SubAllocator;
use rkyv::util::AlignedVec;

use super::mailbox::MailboxState;
use super::pending::Outcome;
use super::CoreRt;
use crate::actor::glue::{Delivery, InvalidPayload, ReplyTarget, Trust};
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

impl CoreRt {
    fn max_payload(&self) -> usize {
        self.decoder.max_payload_bytes() as usize
    }

    /// [`encode_into`] with this core's scratch space and frame limit.
    #[inline]
    fn encode<M: Wire>(
        &self,
        buf: &mut AlignedVec<16>,
        header: &FrameHeader,
        ext: Option<&AskExt>,
        msg: &M,
    ) -> Result<usize, SendFail> {
        encode_into(buf, self.scratch_space.borrow_mut().allocator(), header, ext, msg, self.max_payload())
    }

    /// Sends `msg` as a Tell or Ask frame to `to`: same core, other core, other node.
    #[inline]
    pub(crate) fn send<M: Wire>(
        self: &Rc<Self>,
        to: ActorId,
        type_id: u64,
        corr: u64,
        ext: Option<&AskExt>,
        msg: &M,
    ) -> Result<(), SendFail> {
        let kind = if ext.is_some() { FrameKind::Ask } else { FrameKind::Tell };
        let header = FrameHeader {
            payload_len: 0,
            kind,
            core: to.core.0,
            type_id,
            slot: to.slot,
            generation: to.generation,
            corr,
        };
        if to.node != self.node {
            return self.send_remote(to, &header, ext, msg);
        }
        if to.core != self.core {
            return self.push_ring(to, &header, ext, msg);
        }
        self.deliver_local(to, &header, ext, msg)
    }

    /// Other node: archive straight into the link's outbound buffer.
    fn send_remote<M: Wire>(
        self: &Rc<Self>,
        to: ActorId,
        header: &FrameHeader,
        ext: Option<&AskExt>,
        msg: &M,
    ) -> Result<(), SendFail> {
        let Some(link) = self.link_to(to.node) else {
            return Err(self.shared().directory.unreachable(to.node).into());
        };
        if !link.has_room() {
            return Err(SendFail::LinkFull { bytes: link.queued() });
        }
        self.encode(&mut link.out(), header, ext, msg)?;
        link.wake_writer();
        Ok(())
    }

    /// Same core: archive straight into the target's mailbox.
    #[inline]
    fn deliver_local<M: Wire>(
        &self,
        to: ActorId,
        header: &FrameHeader,
        ext: Option<&AskExt>,
        msg: &M,
    ) -> Result<(), SendFail> {
        let Some(cell) = self.cell(to.slot, to.generation) else {
            self.stats().dead_letters.add(1);
            return Err(SendFail::ActorStopped);
        };
        let mut mb = cell.mailbox().borrow_mut();
        if mb.state() == MailboxState::Closed {
            self.stats().dead_letters.add(1);
            return Err(SendFail::ActorStopped);
        }
        if !mb.has_room() {
            return Err(SendFail::MailboxFull { bytes: mb.queued_bytes() });
        }
        self.encode(mb.buffer(), header, ext, msg)?;
        mb.wake_actor();
        Ok(())
    }

    /// Other core of this node: archive into scratch, copy into the ring.
    fn push_ring<M: Wire>(
        &self,
        to: ActorId,
        header: &FrameHeader,
        ext: Option<&AskExt>,
        msg: &M,
    ) -> Result<(), SendFail> {
        let target = usize::from(to.core.0);
        if target >= self.cores() {
            return Err(TellError::NoSuchCore { actor: to, core: to.core.0, cores: self.cores() }.into());
        }
        let mut scratch = self.scratch.borrow_mut();
        scratch.clear();
        self.encode(&mut scratch, header, ext, msg)?;
        self.push_frame_bytes(to.core, &scratch)
    }

    /// Copies one whole encoded frame into the ring to `core`.
    fn push_frame_bytes(&self, core: CoreId, frame: &[u8]) -> Result<(), SendFail> {
        self.push_frame_flagged(core, frame, 0)
    }

    /// Copies one whole frame into the ring to `core`, setting its flags byte
    /// (`FLAG_UNTRUSTED` for a frame read from a peer).
    pub(crate) fn push_frame_flagged(&self, core: CoreId, frame: &[u8], flags: u8) -> Result<(), SendFail> {
        let target = usize::from(core.0);
        let mut txs = self.tx.borrow_mut();
        let tx = txs[target].as_mut().expect("a ring to every other core");
        if frame.len() > tx.max_frame_bytes() {
            return Err(TellError::TooLarge { bytes: frame.len(), max: tx.max_frame_bytes() }.into());
        }
        let pushed = tx.try_push_with(frame.len(), |dst| {
            dst.copy_from_slice(frame);
            if flags != 0 {
                coremesh_wire::set_local_flags(dst, flags);
            }
        });
        if !pushed {
            // Let the consumer see what is there, then report the ring full.
            if tx.publish() {
                self.shared.cores[target].signal.notify();
            }
            return Err(SendFail::RingFull);
        }
        if tx.unpublished() >= tx.max_frame_bytes() / 4 {
            tx.publish();
            self.shared.cores[target].signal.notify();
        } else if !self.dirty.get() {
            self.dirty.set(true);
            self.wake_service();
        }
        Ok(())
    }

    /// Publishes every outbound ring with unpublished frames and wakes their cores.
    pub(crate) fn flush_rings(&self) {
        if !self.dirty.replace(false) {
            return;
        }
        let mut txs = self.tx.borrow_mut();
        for (i, tx) in txs.iter_mut().enumerate() {
            if let Some(tx) = tx {
                if tx.publish() {
                    self.shared.cores[i].signal.notify();
                }
            }
        }
    }

    /// Sends a handler's reply to the asking core.
    pub(crate) fn send_reply<R: Wire>(&self, target: ReplyTarget, reply: &R) {
        let header = FrameHeader {
            payload_len: 0,
            kind: FrameKind::Reply,
            core: target.core.0,
            type_id: 0,
            slot: 0,
            generation: 0,
            corr: target.corr,
        };
        if target.node != self.node {
            let Some(link) = self.link_for_reply(target.node) else {
                self.stats().late_replies.add(1);
                return;
            };
            let sent = self.encode(&mut link.out(), &header, None, reply);
            if let Err(e) = sent {
                tracing::warn!(core = %self.core, error = ?e, "reply not sent");
            }
            link.wake_writer();
            return;
        }
        if target.core == self.core {
            let mut pending = self.pending.borrow_mut();
            let Some(buf) = pending.reply_buffer(target.corr) else {
                self.stats().late_replies.add(1);
                return;
            };
            buf.clear();
            let mut space = self.scratch_space.borrow_mut();
            let outcome = match rkyv::api::low::to_bytes_in_with_alloc::<_, _, rancor::Error>(
                reply,
                &mut *buf,
                space.allocator(),
            ) {
                Ok(_) => Outcome::Replied,
                Err(e) => Outcome::Failed(AskError::BadReply(e.to_string())),
            };
            pending.complete(target.corr, outcome);
            return;
        }
        let mut scratch = self.scratch.borrow_mut();
        scratch.clear();
        let sent = self
            .encode(&mut scratch, &header, None, reply)
            .and_then(|_| self.push_frame_bytes(target.core, &scratch));
        drop(scratch);
        if let Err(e) = sent {
            tracing::warn!(core = %self.core, to = %target.core, error = ?e, "reply not sent");
            self.send_error_reply(target, ReplyErrorCode::HandlerFailed);
        }
    }

    /// The link a reply to `node` leaves by: this core's, or a new one dialed now
    /// (an ask can reach this core through another core's connection, and the
    /// asking node may have no core that connects to this one).
    fn link_for_reply(&self, node: crate::ids::NodeId) -> Option<std::rc::Rc<crate::transport::link::Link>> {
        self.transport.get_link(node).or_else(|| super::current().and_then(|rc| rc.link_to(node)))
    }

    /// Fails an ask at its origin with an error code.
    pub(crate) fn send_error_reply(&self, target: ReplyTarget, code: ReplyErrorCode) {
        if target.node == self.node && target.core == self.core {
            self.pending.borrow_mut().fail_code(target.corr, code);
            return;
        }
        let header = FrameHeader {
            payload_len: 4,
            kind: FrameKind::ReplyError,
            core: target.core.0,
            type_id: 0,
            slot: 0,
            generation: 0,
            corr: target.corr,
        };
        let mut frame = [0u8; 48];
        write_prefix(&mut frame[..32], &header, None).expect("32-byte header");
        frame[32..36].copy_from_slice(&(code as u32).to_le_bytes());
        if target.node != self.node {
            match self.link_for_reply(target.node) {
                Some(link) => {
                    link.out().extend_from_slice(&frame);
                    link.wake_writer();
                }
                None => self.stats().late_replies.add(1),
            }
            return;
        }
        if let Err(e) = self.push_frame_bytes(target.core, &frame) {
            // The asker's own timeout ends the ask.
            tracing::warn!(core = %self.core, error = ?e, "error reply not sent");
        }
    }

    /// A payload failed validation: fail the ask, count it.
    pub(crate) fn reject_invalid(&self, actor: ActorId, delivery: &Delivery<'_>, err: &InvalidPayload) {
        self.stats().invalid_frames.add(1);
        tracing::warn!(%actor, error = %err, "message refused");
        if let Some(t) = delivery.reply_target() {
            self.send_error_reply(t, ReplyErrorCode::HandlerFailed);
        }
    }

    /// Delivers one already-encoded frame that arrived on this core (from a ring
    /// or the inbox): to a mailbox, or to a pending ask. A frame for a full
    /// mailbox is refused with [`Delivered::Blocked`] when `may_block` (ring
    /// frames wait in their ring, which pushes back on the sender) and dropped
    /// with an error reply otherwise.
    pub(crate) fn deliver_frame(&self, frame: CheckedFrame<'_>, trust: Trust, may_block: bool) -> Delivered {
        self.deliver_frame_from(frame, trust, may_block, self.node)
    }

    /// [`CoreRt::deliver_frame`] for a frame `sender` sent (a peer, for frames
    /// read from a connection).
    pub(crate) fn deliver_frame_from(
        &self,
        frame: CheckedFrame<'_>,
        trust: Trust,
        may_block: bool,
        sender: crate::ids::NodeId,
    ) -> Delivered {
        let h = frame.header();
        match h.kind {
            FrameKind::Tell | FrameKind::Ask => {
                let to = ActorId { node: self.node, core: self.core, slot: h.slot, generation: h.generation };
                let cell = self.cell(h.slot, h.generation);
                let refused = match &cell {
                    None => Some(ReplyErrorCode::ActorStopped),
                    // Idle with nothing queued: the handler reads the frame where it lies.
                    Some(cell) if cell.try_inline(&frame, trust, self) => None,
                    Some(cell) => {
                        let mut mb = cell.mailbox().borrow_mut();
                        if mb.state() == MailboxState::Closed {
                            Some(ReplyErrorCode::ActorStopped)
                        } else if !mb.has_room() {
                            if may_block {
                                self.blocked_any.set(true);
                                return Delivered::Blocked;
                            }
                            Some(ReplyErrorCode::MailboxFull)
                        } else {
                            mb.push_bytes(frame.as_bytes(), trust);
                            mb.wake_actor();
                            None
                        }
                    }
                };
                if let Some(code) = refused {
                    self.stats().dead_letters.add(1);
                    let d = Delivery::new(&frame, trust, sender);
                    if let Some(t) = d.reply_target() {
                        self.send_error_reply(t, code);
                    } else {
                        tracing::debug!(actor = %to, ?code, "tell dropped");
                    }
                }
            }
            FrameKind::Reply => {
                let mut pending = self.pending.borrow_mut();
                match pending.reply_buffer(h.corr) {
                    Some(buf) => {
                        buf.clear();
                        buf.extend_from_slice(frame.payload());
                        pending.complete(h.corr, Outcome::Replied);
                    }
                    None => self.stats().late_replies.add(1),
                }
            }
            FrameKind::ReplyError => {
                let code = frame
                    .payload()
                    .get(..4)
                    .and_then(|b| b.try_into().ok())
                    .map(u32::from_le_bytes)
                    .and_then(|c| ReplyErrorCode::from_u32(c).ok())
                    .unwrap_or(ReplyErrorCode::HandlerFailed);
                if !self.pending.borrow_mut().fail_code(h.corr, code) {
                    self.stats().late_replies.add(1);
                }
            }
        }
        Delivered::Done
    }
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

/// What became of a frame handed to [`CoreRt::deliver_frame`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Delivered {
    /// Queued, completed, or refused with a counted drop / error reply.
    Done,
    /// Its mailbox is full: leave it where it is and retry once the actor drains.
    Blocked,
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
    }
}
