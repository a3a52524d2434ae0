//! From a checked frame to a handler call: [`Delivery`], [`Owned`] and the glue
//! the [`handlers!`](crate::handlers) macro expands to.
//!
//! Owns: the one place where archived bytes become `&Archived<M>`. Frames made by
//! this process are trusted (they were written by rkyv's serializer for the type
//! their id names, R1); frames from the network are validated with rkyv's
//! checked access here, where the message type is known, before any handler sees
//! them. Debug builds validate local frames too.
//!
//! Must never: hand a handler bytes that were neither written by this process for
//! that type nor validated for it.
//!
//! # Rules the `unsafe` blocks rely on
//! - R1: a `Delivery` with `Trust::Local` carries a payload that this process
//!   archived from a value of the type whose `TYPE_ID` is in its header (the
//!   frame writers in `core::frames` are the only producers of local frames, and
//!   they take the type id from `M::TYPE_ID` of the value they archive). A
//!   frame that came from the network keeps `FLAG_UNTRUSTED` in its flags byte
//!   in every mailbox and ring it passes through, so `Trust::of` never calls it
//!   local.
//! - R2: every payload starts 16-aligned (coremesh-wire's frame rule, checked by
//!   its decoder), which covers the alignment of every archived root.

use std::marker::PhantomData;
use std::ops::Deref;

use coremesh_wire::{CheckedFrame, FrameKind};
use rkyv::rancor;
use rkyv::util::AlignedVec;

use std::future::Future;
use std::pin::Pin;

use crate::actor::ctx::Ctx;
use crate::actor::message::{Message, Wire};
use crate::actor::{AsyncHandler, Handler};
use crate::ids::{CoreId, NodeId};

/// Where a frame's payload came from, and so whether it must be validated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trust {
    /// Archived by this process (R1).
    Local,
    /// Bytes from the network: validate before use.
    Network,
}

impl Trust {
    /// The trust of a frame read from this process's own buffers (mailboxes,
    /// rings): local unless it carries `FLAG_UNTRUSTED`.
    #[inline]
    pub fn of(frame: &CheckedFrame<'_>) -> Trust {
        if frame.is_untrusted() {
            Trust::Network
        } else {
            Trust::Local
        }
    }
}

/// Where an ask's reply goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReplyTarget {
    /// The asking node.
    pub node: NodeId,
    /// The asking core on it.
    pub core: CoreId,
    /// The correlation id of the pending ask.
    pub corr: u64,
}

/// One frame on its way to a handler.
#[derive(Debug, Clone, Copy)]
pub struct Delivery<'a> {
    payload: &'a [u8],
    type_id: u64,
    trust: Trust,
    reply: Option<ReplyTarget>,
    /// An ask's deadline (Unix ns, 0: none); 0 for a tell.
    deadline_unix_ns: u64,
}

/// Why a payload could not be read as the type its id names.
#[derive(Debug, Clone, thiserror::Error)]
#[error("archived payload of type {type_id:#018x} failed validation: {reason}")]
pub struct InvalidPayload {
    /// The type id in the frame.
    pub type_id: u64,
    /// What rkyv's validator said.
    pub reason: String,
}

impl<'a> Delivery<'a> {
    #[inline]
    pub(crate) fn new(frame: &CheckedFrame<'a>, trust: Trust, sender_node: NodeId) -> Self {
        let h = frame.header();
        let (reply, deadline_unix_ns) = match (h.kind, frame.ask_ext()) {
            (FrameKind::Ask, Some(ext)) => {
                // The ask names its asker; a peer that left it 0 means itself.
                let node = if ext.reply_node == 0 { sender_node } else { NodeId(ext.reply_node) };
                (Some(ReplyTarget { node, core: CoreId(ext.reply_core), corr: h.corr }), ext.deadline_unix_ns)
            }
            _ => (None, 0),
        };
        Delivery { payload: frame.payload(), type_id: h.type_id, trust, reply, deadline_unix_ns }
    }

    /// An ask's deadline as Unix time in ns (0: none, or a tell).
    #[inline]
    pub fn deadline_unix_ns(&self) -> u64 {
        self.deadline_unix_ns
    }

    /// The message type id in the frame header.
    #[inline]
    pub fn type_id(&self) -> u64 {
        self.type_id
    }

    /// Where the reply goes, for an ask.
    #[inline]
    pub fn reply_target(&self) -> Option<ReplyTarget> {
        self.reply
    }

    /// The payload as `&Archived<M>`, validated first unless it is local (R1).
    #[inline]
    pub fn archived<M: Wire>(&self) -> Result<&'a M::Archived, InvalidPayload> {
        let payload = self.payload;
        if self.trust == Trust::Network || cfg!(debug_assertions) {
            return rkyv::access::<M::Archived, rancor::Error>(payload)
                .map_err(|e| InvalidPayload { type_id: self.type_id(), reason: e.to_string() });
        }
        // SAFETY:
        // - the payload was archived by this process from a value of type M (R1:
        //   trust is Local and the dispatch table matched M::TYPE_ID);
        // - it starts 16-aligned (R2) and is exactly the archived bytes (the
        //   header's payload_len, checked by the decoder).
        Ok(unsafe { rkyv::access_unchecked::<M::Archived>(payload) })
    }

    /// Copies the payload into an owned aligned buffer (for async handlers).
    pub fn to_owned<M: Wire>(&self) -> Result<Owned<M>, InvalidPayload> {
        self.archived::<M>()?;
        let mut buf = AlignedVec::<16>::with_capacity(self.payload.len());
        buf.extend_from_slice(self.payload);
        Ok(Owned { buf, _message: PhantomData })
    }
}

/// A message copied out of its receive buffer into an owned, 16-aligned buffer,
/// as async handlers need. Derefs to `Archived<M>`.
pub struct Owned<M: Wire> {
    buf: AlignedVec<16>,
    _message: PhantomData<fn() -> M>,
}

impl<M: Wire> Deref for Owned<M> {
    type Target = M::Archived;
    fn deref(&self) -> &M::Archived {
        // SAFETY: `buf` holds bytes that were validated as (or archived from) an
        // `M` in `Delivery::to_owned` (R1), copied whole into a 16-aligned buffer (R2).
        unsafe { rkyv::access_unchecked::<M::Archived>(&self.buf) }
    }
}

/// The sync handler glue: read in place, handle, reply if asked (unless the
/// handler took the reply for later with `Ctx::reply_later`).
#[inline]
pub fn run_sync<A: Handler<M>, M: Message>(actor: &mut A, delivery: Delivery<'_>, ctx: &mut Ctx<A>) {
    let msg = match delivery.archived::<M>() {
        Ok(m) => m,
        Err(e) => {
            ctx.reject_invalid(&delivery, &e);
            return;
        }
    };
    let target = delivery.reply_target();
    if let Some(t) = target {
        ctx.begin_ask(t, delivery.deadline_unix_ns(), M::TYPE_ID);
    }
    let reply = <A as Handler<M>>::handle(actor, msg, ctx);
    if let Some(t) = target {
        if ctx.end_ask() {
            ctx.send_reply(t, &reply);
        }
    }
}

/// The async handler glue: copy once, then handle in a future.
#[allow(clippy::type_complexity)]
pub fn run_async<'a, A: AsyncHandler<M>, M: Message>(
    actor: &'a mut A,
    delivery: Delivery<'a>,
    ctx: &'a mut Ctx<A>,
) -> Option<Pin<Box<dyn Future<Output = ()> + 'a>>> {
    let owned = match delivery.to_owned::<M>() {
        Ok(m) => m,
        Err(e) => {
            ctx.reject_invalid(&delivery, &e);
            return None;
        }
    };
    let target = delivery.reply_target();
    let deadline_unix_ns = delivery.deadline_unix_ns();
    Some(Box::pin(async move {
        if let Some(t) = target {
            ctx.begin_ask(t, deadline_unix_ns, M::TYPE_ID);
        }
        let reply = <A as AsyncHandler<M>>::handle(actor, owned, ctx).await;
        if let Some(t) = target {
            if ctx.end_ask() {
                ctx.send_reply(t, &reply);
            }
        }
    }))
}
