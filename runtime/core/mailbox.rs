//! One actor's mailbox: archived frames waiting for the actor's task.
//!
//! Owns: [`Mailbox`], a bounded, contiguous, 16-aligned byte buffer of whole
//! frames that senders on this core append to, and that the actor task swaps out
//! whole and reads in place. Two buffers are swapped back and forth, so once both
//! have grown to the working size, no message allocates.
//!
//! Must never: grow past `max_bytes` plus one frame, or accept a frame after the
//! actor has stopped.

use std::task::Waker;

use rkyv::util::AlignedVec;

use crate::actor::glue::Trust;

/// The state of the actor behind a mailbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MailboxState {
    /// Accepting frames.
    Open,
    /// Stop requested from outside (shutdown): the actor finishes its batch and stops.
    StopRequested,
    /// The actor has stopped; frames are refused.
    Closed,
}

/// The bounded byte queue of one actor.
pub struct Mailbox {
    incoming: AlignedVec<16>,
    max_bytes: usize,
    actor_waker: Option<Waker>,
    state: MailboxState,
}

impl Mailbox {
    pub(crate) fn new(max_bytes: usize) -> Self {
        Mailbox { incoming: AlignedVec::new(), max_bytes, actor_waker: None, state: MailboxState::Open }
    }

    /// Bytes queued.
    #[inline]
    pub fn queued_bytes(&self) -> usize {
        self.incoming.len()
    }

    /// Whether one more frame may be appended.
    #[inline]
    pub fn has_room(&self) -> bool {
        self.incoming.len() < self.max_bytes
    }

    pub(crate) fn state(&self) -> MailboxState {
        self.state
    }

    /// The buffer to append frames to (the caller checked `has_room` and the state).
    #[inline]
    pub(crate) fn buffer(&mut self) -> &mut AlignedVec<16> {
        &mut self.incoming
    }

    /// Appends one whole frame's bytes, marking a frame from the network as
    /// still to be validated (see `crate::actor::glue`, R1).
    #[inline]
    pub(crate) fn push_bytes(&mut self, frame: &[u8], trust: Trust) {
        let start = self.incoming.len();
        self.incoming.extend_from_slice(frame);
        if trust == Trust::Network {
            coremesh_wire::set_local_flags(&mut self.incoming[start..], coremesh_wire::FLAG_UNTRUSTED);
        }
    }

    /// Wakes the actor task if it is waiting for mail.
    #[inline]
    pub(crate) fn wake_actor(&mut self) {
        if let Some(w) = self.actor_waker.take() {
            w.wake();
        }
    }

    /// Called by the actor task: whether there is work, registering `waker` if not.
    pub(crate) fn poll_ready(&mut self, waker: &Waker) -> bool {
        if !self.incoming.is_empty() || self.state != MailboxState::Open {
            return true;
        }
        match &self.actor_waker {
            Some(w) if w.will_wake(waker) => {}
            _ => self.actor_waker = Some(waker.clone()),
        }
        false
    }

    /// Called by the actor task: takes every queued frame, leaving `spare` (an
    /// empty buffer with capacity) in its place. (Senders waiting for room yield
    /// and retry; they run after the actor's batch.)
    pub(crate) fn swap_out(&mut self, spare: &mut AlignedVec<16>) {
        std::mem::swap(&mut self.incoming, spare);
    }

    /// Asks the actor to stop after its current batch.
    pub(crate) fn request_stop(&mut self) {
        if self.state == MailboxState::Open {
            self.state = MailboxState::StopRequested;
        }
        self.wake_actor();
    }

    /// Closes the mailbox for good and returns what was still queued.
    pub(crate) fn close(&mut self) -> AlignedVec<16> {
        self.state = MailboxState::Closed;
        std::mem::take(&mut self.incoming)
    }
}
