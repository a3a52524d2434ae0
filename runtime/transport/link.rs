//! One core's way to one peer node: [`Link`], the bounded outbound buffer that
//! the core's sends archive into and a writer task drains into the socket.
//!
//! Owns: the outbound bytes and the link's state. A send appends whole frames
//! (coremesh-wire format) and wakes the writer, which sends everything queued in
//! one `write`: many frames per syscall, flushed once the core has run the
//! tasks that were ready. Exactly one connection writes a link's frames (the
//! first to [`Link::claim_writer`]); any other connection to the same peer is
//! only read. Must never: grow past its bound (a full link is an error or a
//! wait for the sender), accept frames once the link is down, or have two
//! writers (frames of one pair would race on two sockets).

use std::cell::{Cell, RefCell};
use std::task::Waker;

use rkyv::util::AlignedVec;

use crate::ids::NodeId;

/// Where a link stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LinkState {
    /// Dialing or in the handshake: frames queue, bounded.
    Connecting,
    /// Connected: the writer drains frames as they come.
    Up,
    /// Closed; no frame is accepted and asks to the peer have failed.
    Down,
}

/// One core's outbound path to one peer node.
pub(crate) struct Link {
    pub peer: NodeId,
    out: RefCell<AlignedVec<16>>,
    out_max: usize,
    writer: RefCell<Option<Waker>>,
    state: Cell<LinkState>,
    writer_core: Cell<Option<u16>>,
    dialing: Cell<Option<u16>>,
    /// When something last arrived from the peer (bytes on a connection of
    /// this link, or a heartbeat forwarded by another core).
    last_alive: Cell<std::time::Instant>,
    /// The peer core at the other end of each connection of this link being
    /// read now (the writing one included): each gets this core's heartbeats.
    readers: RefCell<Vec<u16>>,
    /// Readers waiting for the link to go down (they stop reading then).
    closed: RefCell<crate::sync::waiters::Waiters>,
}

impl Link {
    pub(crate) fn new(peer: NodeId, out_max: usize) -> Self {
        Link {
            peer,
            out: RefCell::new(AlignedVec::new()),
            out_max,
            writer: RefCell::new(None),
            state: Cell::new(LinkState::Connecting),
            writer_core: Cell::new(None),
            dialing: Cell::new(None),
            last_alive: Cell::new(crate::clock::now()),
            readers: RefCell::new(Vec::new()),
            closed: RefCell::new(crate::sync::waiters::Waiters::default()),
        }
    }

    /// Something arrived from the peer at `now`.
    #[inline]
    pub(crate) fn touch(&self, now: std::time::Instant) {
        self.last_alive.set(now);
    }

    pub(crate) fn last_alive(&self) -> std::time::Instant {
        self.last_alive.get()
    }

    /// A connection from the peer's core `peer_core` is being read from now on.
    pub(crate) fn add_reader(&self, peer_core: u16) {
        self.readers.borrow_mut().push(peer_core);
    }

    /// One connection from `peer_core` stopped being read.
    pub(crate) fn remove_reader(&self, peer_core: u16) {
        let mut readers = self.readers.borrow_mut();
        if let Some(i) = readers.iter().position(|c| *c == peer_core) {
            readers.swap_remove(i);
        }
    }

    /// Calls `f` with each peer core this core reads from over this link, once
    /// each. `f` must not add or remove readers.
    pub(crate) fn each_reader_core(&self, mut f: impl FnMut(u16)) {
        let readers = self.readers.borrow();
        for (i, core) in readers.iter().enumerate() {
            if !readers[..i].contains(core) {
                f(*core);
            }
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

    /// Makes the caller's connection (to the peer's core `peer_core`) the one
    /// that writes this link's frames; false if another connection already does.
    pub(crate) fn claim_writer(&self, peer_core: u16) -> bool {
        if self.writer_core.get().is_some() {
            return false;
        }
        self.writer_core.set(Some(peer_core));
        true
    }

    /// Whether a connection writes this link's frames.
    pub(crate) fn has_writer(&self) -> bool {
        self.writer_core.get().is_some()
    }

    /// The peer core at the other end of the connection that writes this link.
    pub(crate) fn writer_core(&self) -> Option<u16> {
        self.writer_core.get()
    }

    /// The peer core this core's own dial for this link is handshaking with, if
    /// one is in flight.
    pub(crate) fn dialing(&self) -> Option<u16> {
        self.dialing.get()
    }

    /// Records (or with `None` clears) a dial in flight to `peer_core`.
    pub(crate) fn set_dialing(&self, peer_core: Option<u16>) {
        self.dialing.set(peer_core);
    }

    pub(crate) fn state(&self) -> LinkState {
        self.state.get()
    }

    pub(crate) fn set_up(&self) {
        if self.state.get() == LinkState::Connecting {
            self.state.set(LinkState::Up);
            self.touch(crate::clock::now());
            self.wake_writer();
        }
    }

    /// Marks the link down, drops what it still queued, and wakes its writer
    /// (which closes the socket) and its readers (which stop).
    pub(crate) fn set_down(&self) {
        self.state.set(LinkState::Down);
        self.out.borrow_mut().clear();
        self.wake_writer();
        self.closed.borrow_mut().wake_all();
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
}
