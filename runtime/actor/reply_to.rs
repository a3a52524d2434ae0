//! Deferred replies: [`ReplyTo`], the handle a handler takes with
//! [`Ctx::reply_later`](crate::Ctx::reply_later) to answer its ask later, and
//! [`ReplyPort`], the same address as plain archivable data, to put inside a
//! message to another actor.
//!
//! Owns: what a deferred reply is (the asker's node, core and correlation id,
//! the ask's deadline, the reply type in the type) and the three ways it ends:
//! a reply before the deadline (a Reply frame, through the routing function of
//! the core it is given on), a drop before the deadline (a `ReplyDropped`
//! error reply, so the asker fails at once rather than at its timeout), or the
//! deadline passing (nothing is sent: the asker already has `Timeout`).
//!
//! Off a worker core (a plain thread, a tokio task), a reply or a drop is
//! archived there and handed to a core of the node that took the handle,
//! through that node's inbox, like an outside thread's tell.
//!
//! Must never: send more than one answer per handle, send after the deadline,
//! or block the thread it is used on.

use std::marker::PhantomData;

use coremesh_wire::{FrameHeader, FrameKind, ReplyErrorCode};
use rkyv::util::AlignedVec;
use rkyv::{Archive, Deserialize, Serialize};

use crate::actor::glue::ReplyTarget;
use crate::actor::message::Wire;
use crate::clock;
use crate::core::shared::node_for;
use crate::error::TellError;
use crate::ids::{ActorId, CoreId, NodeId};
use crate::node::handle::NodeHandle;

thread_local! {
    /// Archiving scratch for replies made off a worker core.
    static REPLY_SCRATCH: std::cell::RefCell<crate::actor::message::Scratch> =
        std::cell::RefCell::new(crate::actor::message::Scratch::new());
}

/// Why [`ReplyTo::reply`] sent nothing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReplyError {
    /// The ask's deadline passed: the asker already ended with
    /// [`AskError::Timeout`](crate::AskError::Timeout), and the reply was dropped.
    #[error(
        "the ask's deadline passed {late_ms} ms ago; the asker already timed out and the reply was dropped"
    )]
    Expired {
        /// How long ago the deadline passed, in milliseconds.
        late_ms: u64,
    },
    /// Off a worker core, the reply could not be handed to a core of `node`
    /// (the node that took the handle): it is stopping or gone, or its inbox
    /// is full.
    #[error("the reply could not be handed to a core of {node}: {reason}")]
    NotSent {
        /// The node the reply was to go through.
        node: NodeId,
        /// Why not.
        reason: TellError,
    },
}

/// A deferred reply to one ask, with the reply type `R` of the handler that
/// took it ([`Ctx::reply_later`](crate::Ctx::reply_later)).
///
/// Plain data (`Send`, no pointer): keep it in the actor's state, hand it to a
/// task, or send it to another actor inside a message as a [`ReplyPort`]
/// ([`ReplyTo::into_port`]). It ends in one of three ways:
/// - [`ReplyTo::reply`] before the ask's deadline: the asker gets the value;
/// - dropped unanswered before the deadline (also with the actor that holds
///   it, when it stops): the asker fails at once with
///   [`AskError::ReplyDropped`](crate::AskError::ReplyDropped);
/// - the deadline passes: nothing is sent (the asker got `Timeout`), and
///   `reply` returns [`ReplyError::Expired`].
///
/// On a worker core the reply goes straight down that core's send path; off
/// a core it is archived on the calling thread and handed to a core of the
/// node that took the handle, through its inbox.
#[must_use = "dropping a ReplyTo fails the ask with AskError::ReplyDropped"]
pub struct ReplyTo<R> {
    target: ReplyTarget,
    deadline_unix_ns: u64,
    /// The node (in this process) that took the handle: off a core, the reply
    /// goes through one of its cores.
    via: NodeId,
    armed: bool,
    _reply: PhantomData<fn(R)>,
}

impl<R> std::fmt::Debug for ReplyTo<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReplyTo")
            .field("node", &self.target.node)
            .field("core", &self.target.core)
            .field("corr", &self.target.corr)
            .field("deadline_unix_ns", &self.deadline_unix_ns)
            .finish()
    }
}

impl<R> ReplyTo<R> {
    pub(crate) fn new(target: ReplyTarget, deadline_unix_ns: u64, via: NodeId) -> Self {
        ReplyTo { target, deadline_unix_ns, via, armed: true, _reply: PhantomData }
    }

    /// The ask's deadline as Unix time in nanoseconds (0: none).
    pub fn deadline_unix_ns(&self) -> u64 {
        self.deadline_unix_ns
    }

    /// Whether the ask's deadline has passed (the asker has given up).
    pub fn is_expired(&self) -> bool {
        self.late_ms().is_some()
    }

    fn late_ms(&self) -> Option<u64> {
        let now = clock::unix_now_ns();
        (self.deadline_unix_ns != 0 && now > self.deadline_unix_ns)
            .then(|| (now - self.deadline_unix_ns) / 1_000_000)
    }

    /// The same address as plain archivable data, to put in a message to
    /// another actor (this node or another). The duty to answer moves with it:
    /// the receiver turns it back into a handle with
    /// [`ArchivedReplyPort::reply_to`], and if that handle is dropped the asker
    /// gets `ReplyDropped`. A port that is never turned back (the message was
    /// lost, or its handler ignored it) leaves the asker to its timeout.
    pub fn into_port(mut self) -> ReplyPort<R> {
        self.armed = false;
        ReplyPort {
            node: self.target.node,
            core: self.target.core,
            corr: self.target.corr,
            deadline_unix_ns: self.deadline_unix_ns,
            _reply: PhantomData,
        }
    }

    /// Ends the handle without a word to the asker (its deadline ends its ask).
    pub(crate) fn disarm(mut self) {
        self.armed = false;
    }

    /// Sends the error reply `ReplyDropped`, unless expired.
    fn send_dropped(&self) {
        if self.is_expired() {
            return;
        }
        let (target, code) = (self.target, ReplyErrorCode::ReplyDropped);
        if crate::core::with_current(|c| c.send_error_reply(target, code)).is_some() {
            return;
        }
        let frame = coremesh_wire::reply_error_frame(target.core.0, target.corr, code);
        let mut bytes = AlignedVec::<16>::with_capacity(frame.len());
        bytes.extend_from_slice(&frame);
        if let Err(e) = self.push_off_core(bytes) {
            tracing::debug!(error = %e, "dropped reply handle not reported");
        }
    }

    /// Off a core: hands a whole Reply or ReplyError frame to a core of the
    /// node that took the handle.
    fn push_off_core(&self, bytes: AlignedVec<16>) -> Result<(), ReplyError> {
        let node = self.via;
        let Some(shared) = node_for(node).ok().filter(|s| s.id == node) else {
            return Err(ReplyError::NotSent { node, reason: TellError::NodeStopped });
        };
        let to = ActorId { node: self.target.node, core: self.target.core, slot: 0, generation: 0 };
        NodeHandle::from_shared(shared)
            .push_frame(to, bytes, None)
            .map_err(|reason| ReplyError::NotSent { node, reason })
    }
}

impl<R: Wire> ReplyTo<R> {
    /// Answers the ask with `value`. After the ask's deadline nothing is sent
    /// ([`ReplyError::Expired`]: the asker already got `Timeout`). A reply that
    /// its path cannot take (a full link, a node gone) is counted
    /// (`replies_dropped`) as a handler's reply would be; the asker's deadline
    /// ends its ask.
    pub fn reply(mut self, value: R) -> Result<(), ReplyError> {
        self.armed = false;
        if let Some(late_ms) = self.late_ms() {
            return Err(ReplyError::Expired { late_ms });
        }
        let target = self.target;
        if crate::core::with_current(|c| c.send_reply(target, &value)).is_some() {
            return Ok(());
        }
        let node = self.via;
        let Some(shared) = node_for(node).ok().filter(|s| s.id == node) else {
            return Err(ReplyError::NotSent { node, reason: TellError::NodeStopped });
        };
        let header = FrameHeader {
            payload_len: 0,
            kind: FrameKind::Reply,
            core: target.core.0,
            type_id: 0,
            slot: 0,
            generation: 0,
            corr: target.corr,
        };
        let mut bytes = AlignedVec::<16>::new();
        let max = shared.max_payload_bytes as usize;
        let to = ActorId { node: target.node, core: target.core, slot: 0, generation: 0 };
        REPLY_SCRATCH
            .with(|s| {
                crate::core::frames::encode_into(
                    &mut bytes,
                    s.borrow_mut().allocator(),
                    &header,
                    None,
                    &value,
                    max,
                )
            })
            .map_err(|f| ReplyError::NotSent { node, reason: f.into_tell(to, target.core) })?;
        self.push_off_core(bytes)
    }
}

impl<R> Drop for ReplyTo<R> {
    fn drop(&mut self) {
        if self.armed {
            self.armed = false;
            self.send_dropped();
        }
    }
}

/// A [`ReplyTo`]'s address as plain data, to travel inside a message
/// ([`ReplyTo::into_port`]). Its receiver reads an [`ArchivedReplyPort`] and
/// takes the duty to answer with [`ArchivedReplyPort::reply_to`].
///
/// ```
/// use coremesh::{Actor, ArchivedReplyPort, Ctx, Handler, ReplyPort};
///
/// #[coremesh::message_type("doc.Square")]
/// struct Square { n: u64 }
/// /// Work handed on, with the way back to the original asker.
/// #[coremesh::message_type("doc.SquareFor")]
/// struct SquareFor { n: u64, port: ReplyPort<u64> }
///
/// struct Worker;
/// impl Actor for Worker {}
/// impl Handler<SquareFor> for Worker {
///     type Reply = ();
///     fn handle(&mut self, msg: &ArchivedSquareFor, _ctx: &mut Ctx<Self>) {
///         let n = msg.n.to_native();
///         let _ = msg.port.reply_to().reply(n * n);
///     }
/// }
/// coremesh::handlers!(Worker: SquareFor);
///
/// struct Front { worker: coremesh::ActorRef<Worker> }
/// impl Actor for Front {}
/// impl Handler<Square> for Front {
///     type Reply = u64;
///     fn handle(&mut self, msg: &ArchivedSquare, ctx: &mut Ctx<Self>) -> u64 {
///         if let Some(port) = ctx.reply_later::<Square>() {
///             let work = SquareFor { n: msg.n.to_native(), port: port.into_port() };
///             let _ = self.worker.tell(work);
///         }
///         0 // not sent: the reply was taken for later
///     }
/// }
/// coremesh::handlers!(Front: Square);
/// ```
#[derive(Archive, Serialize, Deserialize)]
pub struct ReplyPort<R> {
    node: NodeId,
    core: CoreId,
    corr: u64,
    deadline_unix_ns: u64,
    #[rkyv(with = rkyv::with::Skip)]
    _reply: PhantomData<fn(R)>,
}

impl<R> ReplyPort<R> {
    /// Takes the duty to answer back as a handle, on this thread.
    pub fn into_reply_to(self) -> ReplyTo<R> {
        let target = ReplyTarget { node: self.node, core: self.core, corr: self.corr };
        ReplyTo::new(target, self.deadline_unix_ns, via_here(self.node))
    }
}

impl<R> ArchivedReplyPort<R> {
    /// Takes the duty to answer as a live handle: reply with it, or drop it
    /// (the asker then gets `ReplyDropped`). Calling it twice makes two
    /// handles for one ask: the first answer wins, the other is counted late.
    pub fn reply_to(&self) -> ReplyTo<R> {
        let node = NodeId(self.node.0.to_native());
        let target = ReplyTarget { node, core: CoreId(self.core.0.to_native()), corr: self.corr.to_native() };
        ReplyTo::new(target, self.deadline_unix_ns.to_native(), via_here(node))
    }
}

/// The node whose core runs this code, else the asker's node (off a core).
fn via_here(asker: NodeId) -> NodeId {
    crate::core::with_current(|c| c.node_id()).unwrap_or(asker)
}
