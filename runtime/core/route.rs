//! The one routing function: every frame that moves on this core, whatever
//! made it, goes where [`CoreRt::hop`] says.
//!
//! Owns: the routing decision (same core, another core of this node, or a
//! peer node: local case last, remote first, as DESIGN.md's `dispatch`), and
//! its two users:
//! - values being sent ([`CoreRt::send`] for tells and asks,
//!   [`CoreRt::send_reply`] for replies), archived straight into the next
//!   hop's buffer: the target's mailbox, a scratch buffer copied once into the
//!   target core's ring, or the peer link's outbound buffer;
//! - frames already encoded ([`CoreRt::route_frame`]): read from a socket,
//!   taken from a ring or the outside-thread inbox, or made here (error
//!   replies, built by coremesh-wire's `reply_error_frame`). A frame for this
//!   core goes to its actor (inline when the actor is idle, else its mailbox),
//!   to a pending ask (Reply, ReplyError) or to transport (Tick).
//!
//! Must never: index a core, slot or table with a number from a frame before
//! checking it (a bad core from the network is refused with an error reply,
//! never a panic), leave a partial frame in a buffer, let a frame read from
//! the network lose its untrusted mark on the way to another core, or grow a
//! queue past its bound (a full path is `SendFail` or `Delivered::Blocked`).

use std::rc::Rc;

use coremesh_wire::{AskExt, CheckedFrame, FrameHeader, FrameKind, ReplyErrorCode};
use rkyv::rancor;
use rkyv::util::AlignedVec;

use super::frames::SendFail;
use super::mailbox::MailboxState;
use super::pending::Outcome;
use super::CoreRt;
use crate::actor::glue::{Delivery, InvalidPayload, ReplyTarget, Trust};
use crate::actor::message::Wire;
use crate::error::{AskError, TellError};
use crate::ids::{ActorId, NodeId};
use crate::transport::link::Link;
use crate::transport::Delivered;

/// Where a frame handed to [`CoreRt::route_frame`] came from: what it may be
/// trusted with, and who sent it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Origin {
    /// Made on this core (an error reply).
    Here,
    /// Another core of this node (its ring), or an outside thread (the
    /// inbox): trusted unless it carries `FLAG_UNTRUSTED` (it was read from a
    /// peer by another core).
    Node,
    /// Read from a connection to this peer: never trusted.
    Peer(NodeId),
}

/// The next hop of a frame from this core.
pub(crate) enum Hop {
    /// The target is on this core.
    Here,
    /// The target is on this node's core with this index (checked: below
    /// the core count, not this core).
    Ring(usize),
    /// The target is on another node, through this core's link to it.
    Link(Rc<Link>),
}

impl CoreRt {
    /// The routing decision for a frame to core `core` of node `node`. A core
    /// number that this node does not have is refused (it may come from a peer).
    #[inline]
    pub(crate) fn hop(&self, node: NodeId, core: u16) -> Result<Hop, SendFail> {
        if node != self.node {
            return match self.link(node) {
                Ok(link) => Ok(Hop::Link(link)),
                Err(e) => Err(e.into()),
            };
        }
        if core == self.core.0 {
            return Ok(Hop::Here);
        }
        let target = usize::from(core);
        if target >= self.cores() {
            return Err(SendFail::NoSuchCore { core });
        }
        Ok(Hop::Ring(target))
    }

    /// Sends `msg` as a Tell (no `ext`) or Ask frame to `to`.
    #[inline]
    pub(crate) fn send<M: Wire>(
        &self,
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
        match self.hop(to.node, to.core.0) {
            Ok(Hop::Link(link)) => {
                if !link.has_room() {
                    return Err(SendFail::LinkFull { bytes: link.queued() });
                }
                let t0 = link.stamp();
                let n = self.encode(&mut link.out(), &header, ext, msg)?;
                link.count_queued(n, t0);
                link.wake_writer();
                Ok(())
            }
            Ok(Hop::Ring(core)) => {
                let mut scratch = self.scratch.borrow_mut();
                scratch.clear();
                self.encode(&mut scratch, &header, ext, msg)?;
                self.push_ring(core, &scratch, 0)
            }
            Ok(Hop::Here) => self.deliver_local(to, &header, ext, msg),
            Err(SendFail::NoSuchCore { core }) => {
                Err(TellError::NoSuchCore { actor: to, core, cores: self.cores() }.into())
            }
            Err(e) => Err(e),
        }
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

    /// Sends a handler's reply to the asking core. A reply that cannot go
    /// (no way to the node, a full path) is counted; the asker's own deadline
    /// ends its ask.
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
        let sent = match self.hop(target.node, target.core.0) {
            Ok(Hop::Link(link)) => self.reply_room(&link).and_then(|()| {
                let t0 = link.stamp();
                let n = self.encode(&mut link.out(), &header, None, reply)?;
                link.count_queued(n, t0);
                link.wake_writer();
                Ok(())
            }),
            Ok(Hop::Ring(core)) => {
                let mut scratch = self.scratch.borrow_mut();
                scratch.clear();
                self.encode(&mut scratch, &header, None, reply)
                    .and_then(|_| self.push_ring(core, &scratch, 0))
            }
            Ok(Hop::Here) => {
                self.complete_here(target.corr, reply);
                Ok(())
            }
            Err(e) => Err(e),
        };
        if let Err(e) = sent {
            self.reply_failed(target, e);
        }
    }

    /// Same core: archive the reply straight into the pending ask's buffer.
    fn complete_here<R: Wire>(&self, corr: u64, reply: &R) {
        let mut pending = self.pending.borrow_mut();
        let Some(buf) = pending.reply_buffer(corr) else {
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
        pending.complete(corr, outcome);
    }

    /// A reply or error reply could not be queued: count it, and tell the
    /// asker with an error reply where that can still go (a reply too large
    /// for a ring or a link is answered `HandlerFailed`).
    #[cold]
    fn reply_failed(&self, target: ReplyTarget, e: SendFail) {
        self.stats().replies_dropped.add(1);
        tracing::debug!(core = %self.core, to = %target.node, error = ?e, "reply not sent");
        if matches!(e, SendFail::Other(_)) {
            self.send_error_reply(target, ReplyErrorCode::HandlerFailed);
        }
    }

    /// Replies may overrun a link's bound by one bound again (asks already
    /// accepted must be answered); past that the link is too slow: its peer
    /// does not read what this node sends, and its connection is closed.
    fn reply_room(&self, link: &Rc<Link>) -> Result<(), SendFail> {
        if link.queued() < 2 * link.max_bytes() {
            return Ok(());
        }
        tracing::warn!(core = %self.core, peer = %link.peer, queued = link.queued(), "peer reads nothing back; closing its connection");
        self.stats().slow_links_closed.add(1);
        self.close_too_slow(link);
        Err(SendFail::LinkFull { bytes: link.queued() })
    }

    /// Fails an ask at its origin with an error code: a ReplyError frame from
    /// coremesh-wire's builder, routed like any other frame.
    pub(crate) fn send_error_reply(&self, target: ReplyTarget, code: ReplyErrorCode) {
        let bytes = coremesh_wire::reply_error_frame(target.core.0, target.corr, code);
        let frame = match self.decoder.decode(&bytes) {
            Ok(Some(frame)) => frame,
            other => unreachable!("coremesh-wire builds whole error replies: {other:?}"),
        };
        if self.route_frame(target.node, frame, Origin::Here) == Delivered::Blocked {
            self.stats().replies_dropped.add(1);
            tracing::debug!(core = %self.core, to = %target.node, ?code, "error reply not sent: its path is full");
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

    /// Routes one frame that is already encoded (see [`Origin`]) to core
    /// `frame.header().core` of node `to`: onward to a peer's link or another
    /// core's ring, or here to an actor, a pending ask or transport. Returns
    /// [`Delivered::Blocked`] when its next stop is full: the caller keeps it
    /// and tries again once this core's actors take their mail (a frame for
    /// a full link: the caller refuses it, see `service.rs`).
    // Inlined into the socket reader: as a call it cost a 48-byte remote tell
    // about 12 % of its throughput (coremesh-bench report, remote/tell_u64).
    #[inline]
    pub(crate) fn route_frame(&self, to: NodeId, frame: CheckedFrame<'_>, origin: Origin) -> Delivered {
        let h = frame.header();
        let (trust, sender) = match origin {
            Origin::Here => (Trust::Local, self.node),
            Origin::Node => (Trust::of(&frame), self.node),
            Origin::Peer(peer) => (Trust::Network, peer),
        };
        match self.hop(to, h.core) {
            Ok(Hop::Here) => self.arrived(frame, trust, sender),
            // Only frames made on this node travel on (a peer's frame names
            // this node): whole, trusted frames go out as they are.
            Ok(Hop::Link(link)) if trust == Trust::Local => {
                let room = match origin {
                    // An error reply: answers an ask already accepted.
                    Origin::Here => self.reply_room(&link).is_ok(),
                    _ => link.has_room(),
                };
                if !room {
                    return Delivered::Blocked;
                }
                link.out().extend_from_slice(frame.as_bytes());
                link.count_queued(frame.as_bytes().len(), None);
                link.wake_writer();
                Delivered::Done
            }
            Ok(Hop::Ring(core)) => {
                let flags = if trust == Trust::Network { coremesh_wire::FLAG_UNTRUSTED } else { 0 };
                match self.push_ring(core, frame.as_bytes(), flags) {
                    Ok(()) => Delivered::Done,
                    Err(SendFail::RingFull) => Delivered::Blocked,
                    Err(e) => {
                        tracing::warn!(core = %self.core, error = ?e, "frame not forwarded");
                        self.refuse(&frame, trust, sender, ReplyErrorCode::HandlerFailed);
                        Delivered::Done
                    }
                }
            }
            // A core this node does not have (only a peer can name one), or
            // a node this core cannot reach.
            Ok(Hop::Link(_)) | Err(_) => {
                self.refuse(&frame, trust, sender, ReplyErrorCode::UnknownActor);
                Delivered::Done
            }
        }
    }

    /// A frame for this core.
    #[inline]
    fn arrived(&self, frame: CheckedFrame<'_>, trust: Trust, sender: NodeId) -> Delivered {
        let h = frame.header();
        match h.kind {
            FrameKind::Tell | FrameKind::Ask => {
                let refused = match self.cell(h.slot, h.generation) {
                    None => Some(ReplyErrorCode::ActorStopped),
                    // Idle with nothing queued: the handler reads the frame where it lies.
                    Some(cell) if cell.try_inline(&frame, trust, sender, self) => None,
                    Some(cell) => {
                        let mut mb = cell.mailbox().borrow_mut();
                        if mb.state() == MailboxState::Closed {
                            Some(ReplyErrorCode::ActorStopped)
                        } else if !mb.has_room() {
                            self.blocked_any.set(true);
                            return Delivered::Blocked;
                        } else {
                            mb.push_bytes(frame.as_bytes(), trust);
                            mb.wake_actor();
                            None
                        }
                    }
                };
                if let Some(code) = refused {
                    self.refuse(&frame, trust, sender, code);
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
                // The decoder checked the code already; a frame made here is whole.
                let code = frame.reply_error_code().unwrap_or(ReplyErrorCode::HandlerFailed);
                if !self.pending.borrow_mut().fail_code(h.corr, code) {
                    self.stats().late_replies.add(1);
                }
            }
            FrameKind::Tick => self.transport.heard_from(NodeId(h.corr)),
        }
        Delivered::Done
    }

    /// A Tell or Ask that cannot be delivered: counted; an ask is answered
    /// with `code`.
    fn refuse(&self, frame: &CheckedFrame<'_>, trust: Trust, sender: NodeId, code: ReplyErrorCode) {
        self.stats().dead_letters.add(1);
        match Delivery::new(frame, trust, sender).reply_target() {
            Some(t) => self.send_error_reply(t, code),
            None => tracing::debug!(core = %self.core, ?code, kind = ?frame.header().kind, "frame dropped"),
        }
    }

    /// Copies one whole frame into the ring to core `target` (checked by
    /// [`CoreRt::hop`]), setting its flags byte (`FLAG_UNTRUSTED` for a frame
    /// read from a peer).
    fn push_ring(&self, target: usize, frame: &[u8], flags: u8) -> Result<(), SendFail> {
        let mut txs = self.tx.borrow_mut();
        let Some(tx) = txs.get_mut(target).and_then(Option::as_mut) else {
            return Err(SendFail::NoSuchCore { core: target as u16 });
        };
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

    /// Archives `msg` into `buf` with this core's scratch space and frame limit.
    #[inline]
    fn encode<M: Wire>(
        &self,
        buf: &mut AlignedVec<16>,
        header: &FrameHeader,
        ext: Option<&AskExt>,
        msg: &M,
    ) -> Result<usize, SendFail> {
        let max = self.decoder.max_payload_bytes() as usize;
        super::frames::encode_into(buf, self.scratch_space.borrow_mut().allocator(), header, ext, msg, max)
    }
}
