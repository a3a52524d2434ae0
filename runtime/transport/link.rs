//! One core's way to one peer node: [`Link`], the bounded outbound buffer that
//! the core's sends archive into and a writer task drains into the socket.
//!
//! Owns: the outbound bytes, the writer's waker, and the readers' wait for the
//! link's end. A send appends whole frames (coremesh-wire format) and wakes
//! the writer, which sends everything queued in one `write`: many frames per
//! syscall, flushed once the core has run the tasks that were ready. Which
//! connection writes a link, and when a link is up or down, the connection
//! rules decide (`rules.rs`); the link holds a copy of that state, set only
//! by the driver carrying out their decisions, for its writer and readers to
//! read without asking the rules.
//!
//! With metrics on, a link also holds its peer's counters on this core
//! (`crate::metrics::PeerCounters`, `None` when off) and counts what passes.
//!
//! Must never: grow past its bound (a full link is an error or a wait for the
//! sender), hand its frames to a writer before it is up or once it is down,
//! or make a decision of the rules (it only holds what they decided).

use std::cell::{Cell, RefCell};
use std::sync::Arc;
use std::task::Waker;
use std::time::Instant;

use rkyv::util::AlignedVec;

use super::rules::LinkState;
use crate::ids::NodeId;
use crate::metrics::PeerCounters;

/// One core's outbound path to one peer node.
pub(crate) struct Link {
    pub peer: NodeId,
    out: RefCell<AlignedVec<16>>,
    out_max: usize,
    writer: RefCell<Option<Waker>>,
    /// The rules' state of this link, as the driver last carried it out.
    state: Cell<LinkState>,
    /// Readers waiting for the link to go down (they stop reading then).
    closed: RefCell<crate::sync::waiters::Waiters>,
    /// This core's counters of the peer; `None` when metrics are off.
    meter: Option<Arc<PeerCounters>>,
}

impl Link {
    pub(crate) fn new(peer: NodeId, out_max: usize) -> Self {
        Link {
            peer,
            out: RefCell::new(AlignedVec::new()),
            out_max,
            writer: RefCell::new(None),
            state: Cell::new(LinkState::Connecting),
            closed: RefCell::new(crate::sync::waiters::Waiters::default()),
            meter: crate::metrics::link_meter(peer),
        }
    }

    /// Resolves once the link is down.
    pub(crate) async fn closed(&self) {
        std::future::poll_fn(|cx| {
            if self.state.get() == LinkState::Down {
                return std::task::Poll::Ready(());
            }
            self.closed.borrow_mut().register(cx.waker());
            std::task::Poll::Pending
        })
        .await;
    }

    pub(crate) fn state(&self) -> LinkState {
        self.state.get()
    }

    /// The rules made a connection the link's writer, and it is ready: the
    /// writer may send what is queued.
    pub(crate) fn set_up(&self) {
        if self.state.get() == LinkState::Connecting {
            self.state.set(LinkState::Up);
            self.wake_writer();
        }
    }

    /// Marks the link down, drops what it still queued, and wakes its writer
    /// (which closes the socket) and its readers (which stop).
    /// Returns how many queued bytes were dropped unsent.
    pub(crate) fn set_down(&self) -> usize {
        self.state.set(LinkState::Down);
        let dropped = {
            let mut out = self.out.borrow_mut();
            let n = out.len();
            out.clear();
            n
        };
        self.wake_writer();
        self.closed.borrow_mut().wake_all();
        dropped
    }

    /// Whether one more frame may be queued.
    #[inline]
    pub(crate) fn has_room(&self) -> bool {
        self.out.borrow().len() < self.out_max
    }

    /// The bound on bytes queued (a send past it is refused as full).
    pub(crate) fn max_bytes(&self) -> usize {
        self.out_max
    }

    /// Bytes queued.
    pub(crate) fn queued(&self) -> usize {
        self.out.borrow().len()
    }

    /// The buffer to append frames to (the caller checked state and room).
    #[inline]
    pub(crate) fn out(&self) -> std::cell::RefMut<'_, AlignedVec<16>> {
        self.out.borrow_mut()
    }

    #[inline]
    pub(crate) fn wake_writer(&self) {
        if let Some(w) = self.writer.borrow_mut().take() {
            w.wake();
        }
    }

    /// The writer task: takes everything queued (leaving `spare`), or registers
    /// `waker` and returns false when nothing is.
    pub(crate) fn take_or_wait(&self, spare: &mut AlignedVec<16>, waker: &Waker) -> bool {
        let mut out = self.out.borrow_mut();
        if out.is_empty() || self.state.get() == LinkState::Connecting {
            *self.writer.borrow_mut() = Some(waker.clone());
            return false;
        }
        std::mem::swap(&mut *out, spare);
        true
    }

    /// When archiving a message for this link begins: `None` (no clock
    /// read) when metrics are off.
    #[inline]
    pub(crate) fn stamp(&self) -> Option<Instant> {
        self.meter.as_ref().map(|_| crate::clock::now())
    }

    /// A message frame of `bytes` was queued here; archiving it began at
    /// `archived_from` (`None` for a frame forwarded as it was).
    #[inline]
    pub(crate) fn count_queued(&self, bytes: usize, archived_from: Option<Instant>) {
        if let Some(m) = &self.meter {
            crate::metrics::queued_for_peer(m, bytes, archived_from);
        }
    }

    /// The writer wrote `bytes` to the peer.
    #[inline]
    pub(crate) fn wrote(&self, bytes: usize) {
        if let Some(m) = &self.meter {
            m.bytes_out.add(bytes as u64);
        }
    }

    /// The reader took a whole frame from the peer.
    #[inline]
    pub(crate) fn read(&self, frame: &coremesh_wire::CheckedFrame<'_>) {
        if let Some(m) = &self.meter {
            crate::metrics::read_from_peer(m, frame.header().kind, frame.frame_len());
        }
    }
}

impl super::Transport {
    /// Bytes queued on each of this core's links, by peer (for a metrics sample).
    pub(crate) fn link_queues(&self) -> Vec<(NodeId, usize)> {
        self.links.borrow().values().map(|l| (l.peer, l.queued())).collect()
    }
}
