//! Cluster membership: who is in the cluster, as this node sees it.
//!
//! Owns: the public view ([`ClusterState`], [`Member`], [`MemberStatus`]), the
//! events ([`MemberEvent`], delivered through [`Subscription`]), the state the
//! control thread and every other thread share (`MembershipShared`), and the
//! `NodeHandle` methods that read it (`cluster_state`, `wait_for`,
//! `subscribe`), and the rule every view follows (`step`).
//!
//! The parts: `machine.rs`, the membership glue as a sans-IO state machine
//! (foca, probes, the leave exchange, announcing to seeds; takes `now`, input
//! and an effects sink; unit-tested in `machine_tests.rs`), `envelope.rs`
//! (the HMAC-tagged packet), `identity.rs` (foca's identity type), and
//! `control.rs`, the control thread that drives the machine: the UDP socket,
//! the clock, the timer heap, and the effects carried out (typed
//! `CoreCommand`s to the worker cores, never code). Worker cores report what
//! their connections see (transport's `PeerReport`, inside a
//! `ControlReport`).
//!
//! **Incarnations.** A node's id is drawn at random when it starts. A node that
//! is restarted, even at the same address, is a new member with a new id: refs
//! naming the old id fail with `TellError::NodeGone` and never work again, and
//! refs to the new node's actors work. A node that was only declared down (a
//! pause longer than the connection timeout, a partition) and then comes back
//! rejoins under its old id: it is `Down`, then `Up` again; what was sent to it
//! meanwhile failed or was dropped, and nothing is ever resent, so no message
//! is delivered twice.
//!
//! Must never: block a worker core (worker cores only send to the control
//! thread through a channel), or let an event reach subscribers out of order
//! (events are emitted under the state lock).

pub(crate) mod control;
pub(crate) mod envelope;
pub(crate) mod identity;
pub(crate) mod machine;
pub(crate) mod replay;
mod subscription;

use subscription::EventQueue;
pub use subscription::{Subscription, SUBSCRIBER_EVENTS_MAX};

use std::net::SocketAddr;
use std::sync::{mpsc, Arc, Condvar, Mutex, PoisonError, Weak};
use std::time::Duration;

use crate::ids::NodeId;
use crate::transport::PeerReport;

/// Where a member stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemberStatus {
    /// Reachable and taking messages.
    Up,
    /// It shut down gracefully and said so.
    Left,
    /// It stopped answering (killed, paused, partitioned away) and was declared
    /// down. It may come back under the same id if it was only paused or cut off.
    Down,
}

/// One member of the cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// Its node id.
    pub node: NodeId,
    /// Where its core 0 listens (also its gossip address).
    pub addr: SocketAddr,
    /// How many worker cores it runs.
    pub cores: u16,
    /// Where it stands.
    pub status: MemberStatus,
}

/// The cluster as this node sees it: every member it has heard of, itself
/// included.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterState {
    /// This node.
    pub this_node: NodeId,
    /// Every member this node has heard of, in the order it learned of them.
    pub members: Vec<Member>,
}

impl ClusterState {
    /// The member `node`, if this node has heard of it.
    pub fn member(&self, node: NodeId) -> Option<&Member> {
        self.members.iter().find(|m| m.node == node)
    }

    /// Whether `node` is up.
    pub fn is_up(&self, node: NodeId) -> bool {
        self.member(node).is_some_and(|m| m.status == MemberStatus::Up)
    }

    /// The nodes that are up, this one included.
    pub fn up_nodes(&self) -> Vec<NodeId> {
        self.members.iter().filter(|m| m.status == MemberStatus::Up).map(|m| m.node).collect()
    }
}

/// A change of membership.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MemberEvent {
    /// A member joined, or rejoined after being declared down.
    MemberUp(Member),
    /// A member shut down gracefully.
    MemberLeft(Member),
    /// A member was declared down.
    MemberDown(Member),
    /// This subscriber fell [`SUBSCRIBER_EVENTS_MAX`] events behind: `missed`
    /// events that would have come here were dropped. Read
    /// `NodeHandle::cluster_state` to catch up.
    Lagged {
        /// How many events were dropped.
        missed: u64,
    },
}

/// `wait_for` gave up: the predicate did not hold within the timeout.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the cluster state did not reach the condition within {waited:?}; last view: {} of {} members up", .last.up_nodes().len(), .last.members.len())]
pub struct WaitTimeout {
    /// How long it waited.
    pub waited: Duration,
    /// The last view it saw.
    pub last: ClusterState,
}

/// What the control thread hears from the rest of the node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ControlReport {
    /// A worker core's verdict on a peer (transport's report type).
    Peer(PeerReport),
    /// `NodeHandle::connect` reached a node at this address: join its cluster.
    Joined(SocketAddr),
}

impl From<PeerReport> for ControlReport {
    fn from(r: PeerReport) -> Self {
        ControlReport::Peer(r)
    }
}

/// What seeing a member with a new status does to the view.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Step {
    /// The view keeps what it had.
    Ignore,
    /// The view takes the new entry; subscribers hear nothing.
    Quiet,
    /// The view takes the new entry, and subscribers hear of it.
    Event,
}

/// The rule for a member seen `after` that was `before`: Up after anything
/// else is MemberUp; Left or Down after Up is MemberLeft or MemberDown; a
/// member that left and is then seen down stays Left. Both the shared view and
/// the membership machine follow it.
pub(crate) fn step(before: Option<MemberStatus>, after: MemberStatus) -> Step {
    match (before, after) {
        (Some(MemberStatus::Up), MemberStatus::Up) => Step::Quiet,
        (_, MemberStatus::Up) => Step::Event,
        (Some(MemberStatus::Up), MemberStatus::Left | MemberStatus::Down) => Step::Event,
        (Some(MemberStatus::Left), MemberStatus::Down) => Step::Ignore,
        _ => Step::Quiet,
    }
}

/// How many reports from the worker cores wait for the control thread at
/// most. A core never waits for room: a report that finds the queue full is
/// dropped, counted in the core's `control_reports_dropped` and logged (the
/// 1st, 2nd, 4th, 8th… drop). The control thread drains the queue every 10 ms
/// at most, so only a stuck control thread fills it.
pub(crate) const CONTROL_REPORTS_MAX: usize = 1024;

/// The way to the control thread.
struct ToControl {
    tx: Option<mpsc::SyncSender<ControlReport>>,
    /// Reports dropped because the queue was full, for the rate-limited log.
    dropped: u64,
}

/// The membership state shared by a node's threads.
pub(crate) struct MembershipShared {
    state: Mutex<ClusterState>,
    changed: Condvar,
    /// Every subscription's queue; a dropped `Subscription` leaves a dead one.
    subscribers: Mutex<Vec<Weak<EventQueue>>>,
    to_control: Mutex<ToControl>,
    /// How many membership commands were queued past a full core inbox
    /// (`NodeShared::core_command`), for its rate-limited log.
    commands_past_bound: Mutex<u64>,
}

impl MembershipShared {
    pub(crate) fn new(this_node: NodeId) -> Self {
        MembershipShared {
            state: Mutex::new(ClusterState { this_node, members: Vec::new() }),
            changed: Condvar::new(),
            subscribers: Mutex::new(Vec::new()),
            to_control: Mutex::new(ToControl { tx: None, dropped: 0 }),
            commands_past_bound: Mutex::new(0),
        }
    }

    pub(crate) fn snapshot(&self) -> ClusterState {
        self.state.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// Sets `member`'s status and tells subscribers about a change, by the
    /// rule of [`step`]; this node's own entry changes no event.
    /// Returns the event, if there was one.
    pub(crate) fn update(&self, member: Member) -> Option<MemberEvent> {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let before = state.member(member.node).map(|m| m.status);
        let step = if member.node == state.this_node { Step::Quiet } else { step(before, member.status) };
        let event = match (step, member.status) {
            (Step::Ignore, _) => return None,
            (Step::Quiet, _) => None,
            (Step::Event, MemberStatus::Up) => Some(MemberEvent::MemberUp(member.clone())),
            (Step::Event, MemberStatus::Left) => Some(MemberEvent::MemberLeft(member.clone())),
            (Step::Event, MemberStatus::Down) => Some(MemberEvent::MemberDown(member.clone())),
        };
        match state.members.iter_mut().find(|m| m.node == member.node) {
            Some(m) => *m = member,
            None => state.members.push(member),
        }
        if let Some(e) = &event {
            // Never waits: a full queue drops the event and counts it.
            self.subscribers.lock().unwrap_or_else(PoisonError::into_inner).retain(|q| match q.upgrade() {
                Some(q) => {
                    q.push(e.clone());
                    true
                }
                None => false,
            });
        }
        drop(state);
        self.changed.notify_all();
        event
    }

    pub(crate) fn set_control(&self, tx: Option<mpsc::SyncSender<ControlReport>>) {
        self.to_control.lock().unwrap_or_else(PoisonError::into_inner).tx = tx;
    }

    /// Tells the control thread what a core saw, never waiting (see
    /// [`CONTROL_REPORTS_MAX`]). Returns whether the report was queued: not
    /// when the queue is full, nor once the control thread has stopped.
    pub(crate) fn report(&self, report: impl Into<ControlReport>) -> bool {
        let report = report.into();
        let mut to = self.to_control.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(tx) = &to.tx else { return false };
        match tx.try_send(report) {
            Ok(()) => true,
            Err(mpsc::TrySendError::Disconnected(_)) => false,
            Err(mpsc::TrySendError::Full(_)) => {
                to.dropped += 1;
                let dropped = to.dropped;
                drop(to);
                crate::core::with_current(|c| c.stats().control_reports_dropped.add(1));
                if dropped.is_power_of_two() {
                    tracing::warn!(
                        dropped,
                        ?report,
                        "the control thread's report queue is full; report dropped"
                    );
                }
                false
            }
        }
    }

    /// Counts one membership command queued past a full core inbox; returns
    /// the count so far.
    pub(crate) fn note_command_past_bound(&self) -> u64 {
        let mut n = self.commands_past_bound.lock().unwrap_or_else(PoisonError::into_inner);
        *n += 1;
        *n
    }

    pub(crate) fn wait_for(
        &self,
        mut pred: impl FnMut(&ClusterState) -> bool,
        timeout: Duration,
    ) -> Result<ClusterState, WaitTimeout> {
        let deadline = crate::clock::now() + timeout;
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        loop {
            if pred(&state) {
                return Ok(state.clone());
            }
            let now = crate::clock::now();
            if now >= deadline {
                return Err(WaitTimeout { waited: timeout, last: state.clone() });
            }
            state =
                self.changed.wait_timeout(state, deadline - now).unwrap_or_else(PoisonError::into_inner).0;
        }
    }

    pub(crate) fn subscribe(&self) -> Subscription {
        let queue = EventQueue::new(SUBSCRIBER_EVENTS_MAX);
        // Under the state lock, so no event falls between the replay and the
        // live ones.
        let state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        for m in state.members.iter().filter(|m| m.status == MemberStatus::Up && m.node != state.this_node) {
            queue.push(MemberEvent::MemberUp(m.clone()));
        }
        self.subscribers.lock().unwrap_or_else(PoisonError::into_inner).push(Arc::downgrade(&queue));
        drop(state);
        Subscription::new(queue)
    }
}

impl Drop for MembershipShared {
    /// The node is gone: subscribers read what is queued, then `None` at once.
    fn drop(&mut self) {
        for q in self.subscribers.get_mut().unwrap_or_else(PoisonError::into_inner).drain(..) {
            if let Some(q) = q.upgrade() {
                q.close();
            }
        }
    }
}

#[cfg(test)]
#[path = "shared_tests.rs"]
mod tests;
