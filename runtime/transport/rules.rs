//! The connection rules of one core, as a state machine without I/O: which
//! peer core to dial and when, which connection survives when two nodes dial
//! each other at once, which connection writes a link, when a link goes down
//! and what the cluster is told, and when heartbeat ticks go out.
//!
//! Owns: [`Conns`] (per peer node: whether its link is connecting or up, the
//! connection that writes it, this core's dial in flight, the connections
//! being read, when the peer was last heard; plus the dials by address and the
//! tick clock), the inputs it takes (`on_*`, each with `now` where time
//! matters), and the [`Effects`] it asks for (open a link's buffer, dial, take
//! a link down, report a peer, send a tick). The driver (`mod.rs`,
//! `heartbeat.rs`) feeds it what sockets and timers did and carries out the
//! effects; these unit tests (`rules_tests.rs`) drive it alone.
//!
//! The rules:
//! - Dial: a send to a node with no link, whose address is known, opens the
//!   link (frames queue, bounded, in its buffer) and dials the peer's core
//!   (this core mod its core count). Further sends queue; they never dial a
//!   second time.
//! - Duplicates (`wire/FORMAT.md`, "Simultaneous connect"): an inbound
//!   connection is refused if a connection from the same peer core already
//!   writes the link, or, when this node's id is the lower, if this core is
//!   dialing that same peer core (by node, before any connection writes the
//!   link, or by address). The refused dialer keeps its link, waits at most
//!   the connection timeout for the peer's connection, and its queued frames
//!   go out on that one.
//! - Writer: the first connection of a link (dialed or accepted) writes it and
//!   brings it up; later ones are only read.
//! - Down: a link goes down when its writing connection ends, when it stays
//!   silent past the connection timeout, when its dial fails (or the refused
//!   dialer's wait runs out) with no connection writing it, or when this node
//!   closes it. Each end of a connection of a live link is reported
//!   [`PeerReport::Closed`] unless the node is stopping; silence is reported
//!   [`PeerReport::Unresponsive`], once. A link that went down leaves nothing
//!   behind: the next send dials again; nothing redials by itself.
//! - Ticks: every heartbeat interval, one tick to each peer core this core
//!   reads an up link from, once per core.
//!
//! Must never: touch a socket, a task, the clock or the host (time comes in as
//! `now`; what must happen goes out as effects), name actors, the system actor
//! or membership, or sit on the per-message send path (the driver's map of
//! outbound buffers answers that; this table is asked only when a send finds
//! no link, and when connections come, go, or are heard from).

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::directory::PeerRecord;
use super::host::PeerReport;
use super::NodeMap;
use crate::ids::NodeId;

/// One connection (or the dial that will become one), unique on this core.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct ConnId(u64);

/// Where a link stands. A link that is down is gone from the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LinkState {
    /// Dialing or in the handshake: frames queue, bounded.
    Connecting,
    /// A connection writes it: frames go out as they come.
    Up,
    /// Closed; no frame is accepted and asks to the peer have failed.
    Down,
}

/// The heartbeat settings the rules judge by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Timing {
    /// How often a tick goes to each peer core read from.
    pub heartbeat_interval: Duration,
    /// Silence past this takes a link down; also how long a refused dialer
    /// waits for the peer's connection.
    pub connection_timeout: Duration,
}

impl Timing {
    /// How often the driver should call [`Conns::on_timer`]: every tenth of
    /// the connection timeout, at most every heartbeat interval, at least
    /// every 5 ms apart.
    pub(crate) fn check_period(&self) -> Duration {
        (self.connection_timeout / 10).min(self.heartbeat_interval).max(Duration::from_millis(5))
    }
}

/// One dial this core has in flight; the driver hands it back with the
/// outcome (`on_dial_done`, `on_dial_refused`, `on_dial_failed`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Dial {
    /// The connection it becomes.
    pub conn: ConnId,
    /// The node dialed (its link waits for this dial), or `None` for a dial by
    /// address (`NodeHandle::connect`: the peer's id is learned in the
    /// handshake).
    pub node: Option<NodeId>,
    /// The peer core dialed.
    pub peer_core: u16,
}

/// What happens to a send that found no link (`on_send`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Route {
    /// It queues on the node's link (just opened, or already there).
    Queue,
    /// The node's address is not known here: the send fails.
    Unknown,
    /// The node's connection closed or went silent, and the cluster has not
    /// yet said whether it lives: the send fails, nothing is queued.
    Lost,
}

/// A server's word on an authenticated inbound connection (`on_inbound`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Answer Accept; then `on_accepted`.
    Accept,
    /// Answer Refuse(Duplicate): another connection of the pair is kept.
    RefuseDuplicate,
}

/// What an established connection is to its link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    /// The first of its link: it writes the link's frames (and is read).
    Writer,
    /// Only read: another connection writes the link.
    Reader,
    /// Its link went down while it was being dialed, or another node answered
    /// the dial: close it unused.
    Close,
}

/// What the rules ask the driver to do. The driver carries them out in the
/// order given, after the call that produced them returns.
pub(crate) trait Effects {
    /// Make `node`'s outbound buffer: its link is connecting, sends queue there.
    fn open(&mut self, node: NodeId);
    /// Dial `addr` (where `dial.node` listens on `dial.peer_core`) and hand
    /// the outcome back with `dial`.
    fn dial(&mut self, dial: Dial, addr: SocketAddr);
    /// `node`'s link is down: drop its buffer, stop its connections, and fail
    /// what this core has in flight to the node.
    fn link_down(&mut self, node: NodeId);
    /// Tell the cluster what this core saw of a peer.
    fn report(&mut self, report: PeerReport);
    /// Queue one heartbeat tick to `node`'s core `peer_core` on its link.
    fn tick(&mut self, node: NodeId, peer_core: u16);
}

/// One effect, as a value: what `Vec<Effect>` records (the driver's sink and
/// the tests'). Each variant is the [`Effects`] method of the same name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Effect {
    /// [`Effects::open`].
    Open(NodeId),
    /// [`Effects::dial`].
    Dial(Dial, SocketAddr),
    /// [`Effects::link_down`].
    LinkDown(NodeId),
    /// [`Effects::report`].
    Report(PeerReport),
    /// [`Effects::tick`]: the node and its core.
    Tick(NodeId, u16),
}

impl Effects for Vec<Effect> {
    fn open(&mut self, node: NodeId) {
        self.push(Effect::Open(node));
    }
    fn dial(&mut self, dial: Dial, addr: SocketAddr) {
        self.push(Effect::Dial(dial, addr));
    }
    fn link_down(&mut self, node: NodeId) {
        self.push(Effect::LinkDown(node));
    }
    fn report(&mut self, report: PeerReport) {
        self.push(Effect::Report(report));
    }
    fn tick(&mut self, node: NodeId, peer_core: u16) {
        self.push(Effect::Tick(node, peer_core));
    }
}

/// A connection of a link, and the peer core at its other end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Conn {
    id: ConnId,
    peer_core: u16,
}

/// This core's link to one peer node (absent: down, or never opened).
#[derive(Debug)]
struct Peer {
    /// The connection that writes the link; `Some` iff the link is up.
    writer: Option<Conn>,
    /// This core's dial for the link, while in flight.
    dialing: Option<Conn>,
    /// Every connection of the link being read (the writer included): each
    /// peer core here gets this core's ticks.
    readers: Vec<Conn>,
    /// When something last arrived from the peer (or the link came up).
    last_heard: Instant,
    /// The peer refused this core's dial as a duplicate: its own connection
    /// must come by then, or the link goes down.
    wait_until: Option<Instant>,
}

impl Peer {
    fn new(now: Instant, dialing: Option<Conn>) -> Self {
        Peer { writer: None, dialing, readers: Vec::new(), last_heard: now, wait_until: None }
    }
}

/// A dial by address in flight.
#[derive(Debug, Clone, Copy)]
struct AddrDial {
    conn: ConnId,
    addr: SocketAddr,
}

/// One core's links to peer nodes, as far as the rules go.
#[derive(Debug)]
pub(crate) struct Conns {
    me: NodeId,
    core: u16,
    timing: Timing,
    peers: NodeMap<Peer>,
    /// Nodes whose writing connection ended or went silent: sends to them
    /// fail until the node connects again, the cluster says it is alive
    /// (`on_alive`) or gone (`on_close`), or the deadline set by the next
    /// check (a connection timeout later) passes.
    lost: NodeMap<Option<Instant>>,
    addr_dials: Vec<AddrDial>,
    next_conn: u64,
    last_tick: Instant,
}

impl Conns {
    /// The table of core `core` of node `me`, empty at `now`.
    pub(crate) fn new(me: NodeId, core: u16, timing: Timing, now: Instant) -> Self {
        Conns {
            me,
            core,
            timing,
            peers: NodeMap::default(),
            lost: NodeMap::default(),
            addr_dials: Vec::new(),
            next_conn: 0,
            last_tick: now,
        }
    }

    pub(crate) fn timing(&self) -> Timing {
        self.timing
    }

    /// Where the link to `node` stands.
    pub(crate) fn state(&self, node: NodeId) -> LinkState {
        match self.peers.get(&node) {
            None => LinkState::Down,
            Some(p) if p.writer.is_some() => LinkState::Up,
            Some(_) => LinkState::Connecting,
        }
    }

    fn conn_id(&mut self) -> ConnId {
        self.next_conn += 1;
        ConnId(self.next_conn)
    }

    /// A send to `node` found no link. `record`: where the node listens, if
    /// known. Opens the link and dials the peer core this core talks to.
    pub(crate) fn on_send(
        &mut self,
        now: Instant,
        node: NodeId,
        record: Option<&PeerRecord>,
        fx: &mut impl Effects,
    ) -> Route {
        if self.peers.contains_key(&node) {
            return Route::Queue;
        }
        match self.lost.get(&node) {
            Some(Some(until)) if now >= *until => drop(self.lost.remove(&node)),
            Some(_) => return Route::Lost,
            None => {}
        }
        let Some(record) = record.filter(|r| !r.cores.is_empty()) else {
            return Route::Unknown;
        };
        let index = usize::from(self.core) % record.cores.len();
        let conn = Conn { id: self.conn_id(), peer_core: index as u16 };
        self.peers.insert(node, Peer::new(now, Some(conn)));
        fx.open(node);
        fx.dial(Dial { conn: conn.id, node: Some(node), peer_core: conn.peer_core }, record.cores[index]);
        Route::Queue
    }

    /// The driver dials `addr` (a node's core `peer_core`) without knowing
    /// the node yet. No link waits for it.
    pub(crate) fn on_dial_addr(&mut self, addr: SocketAddr, peer_core: u16) -> Dial {
        let conn = self.conn_id();
        self.addr_dials.push(AddrDial { conn, addr });
        Dial { conn, node: None, peer_core }
    }

    /// Removes `dial` from what is in flight. For a dial by node: whether it
    /// was still the dial of that node's link (the link did not go down
    /// meanwhile).
    fn dial_ended(&mut self, dial: Dial) -> bool {
        match dial.node {
            None => {
                self.addr_dials.retain(|d| d.conn != dial.conn);
                false
            }
            Some(node) => match self.peers.get_mut(&node) {
                Some(p) if p.dialing.is_some_and(|c| c.id == dial.conn) => {
                    p.dialing = None;
                    true
                }
                _ => false,
            },
        }
    }

    /// `dial`'s handshake is done: `answered` is the node at the other end.
    pub(crate) fn on_dial_done(
        &mut self,
        now: Instant,
        dial: Dial,
        answered: NodeId,
        fx: &mut impl Effects,
    ) -> Role {
        let current = self.dial_ended(dial);
        match dial.node {
            None => self.connected(now, answered, Conn { id: dial.conn, peer_core: dial.peer_core }, fx),
            Some(_) if !current => Role::Close,
            Some(node) if node != answered => {
                // Another process listens there now (the node restarted): the
                // node dialed is not reachable this way.
                self.down_unless_written(node, fx);
                Role::Close
            }
            Some(node) => self.connected(now, node, Conn { id: dial.conn, peer_core: dial.peer_core }, fx),
        }
    }

    /// The peer refused `dial` as a duplicate of its own dial: that one is to
    /// carry the link, and must come within the connection timeout.
    pub(crate) fn on_dial_refused(&mut self, now: Instant, dial: Dial) {
        if !self.dial_ended(dial) {
            return;
        }
        let deadline = now + self.timing.connection_timeout;
        if let Some(p) = dial.node.and_then(|n| self.peers.get_mut(&n)) {
            if p.writer.is_none() {
                p.wait_until = Some(deadline);
            }
        }
    }

    /// `dial` failed (refused, unreachable, timed out): its link goes down,
    /// unless another connection writes it.
    pub(crate) fn on_dial_failed(&mut self, dial: Dial, fx: &mut impl Effects) {
        if self.dial_ended(dial) {
            if let Some(node) = dial.node {
                self.down_unless_written(node, fx);
            }
        }
    }

    fn down_unless_written(&mut self, node: NodeId, fx: &mut impl Effects) {
        if self.peers.get(&node).is_some_and(|p| p.writer.is_none()) {
            self.peers.remove(&node);
            fx.link_down(node);
        }
    }

    /// An inbound connection from `peer`'s core `peer_core` passed the
    /// handshake's checks; `peer_addr`: where that core listens, from its
    /// advert. Refused if it duplicates a connection of the same core pair.
    pub(crate) fn on_inbound(&self, peer: NodeId, peer_core: u16, peer_addr: Option<SocketAddr>) -> Verdict {
        if self.refuse_as_duplicate(peer, peer_core, peer_addr) {
            Verdict::RefuseDuplicate
        } else {
            Verdict::Accept
        }
    }

    fn refuse_as_duplicate(&self, peer: NodeId, peer_core: u16, peer_addr: Option<SocketAddr>) -> bool {
        let link = self.peers.get(&peer);
        if link.and_then(|p| p.writer).is_some_and(|w| w.peer_core == peer_core) {
            return true;
        }
        if self.me.0 >= peer.0 {
            return false;
        }
        let by_node =
            link.is_some_and(|p| p.writer.is_none() && p.dialing.is_some_and(|d| d.peer_core == peer_core));
        by_node || peer_addr.is_some_and(|a| self.addr_dials.iter().any(|d| d.addr == a))
    }

    /// An inbound connection from `node`'s core `peer_core` was accepted.
    pub(crate) fn on_accepted(
        &mut self,
        now: Instant,
        node: NodeId,
        peer_core: u16,
        fx: &mut impl Effects,
    ) -> (ConnId, Role) {
        let conn = Conn { id: self.conn_id(), peer_core };
        (conn.id, self.connected(now, node, conn, fx))
    }

    /// `conn` to `node` is established: it is read, and writes the link if it
    /// is the first (opening the link if there was none).
    fn connected(&mut self, now: Instant, node: NodeId, conn: Conn, fx: &mut impl Effects) -> Role {
        self.lost.remove(&node);
        let p = self.peers.entry(node).or_insert_with(|| {
            fx.open(node);
            Peer::new(now, None)
        });
        p.readers.push(conn);
        if p.writer.is_some() {
            return Role::Reader;
        }
        p.writer = Some(conn);
        p.wait_until = None;
        p.last_heard = p.last_heard.max(now);
        Role::Writer
    }

    /// `conn` to `node` ended (the peer closed it, it failed, or its link went
    /// down). `stopping`: the node is shutting down. Returns whether the end
    /// is news for the cluster (reported `Closed`).
    pub(crate) fn on_connection_ended(
        &mut self,
        node: NodeId,
        conn: ConnId,
        stopping: bool,
        fx: &mut impl Effects,
    ) -> bool {
        let Some(p) = self.peers.get_mut(&node) else { return false };
        let Some(i) = p.readers.iter().position(|c| c.id == conn) else { return false };
        p.readers.swap_remove(i);
        let writing = p.writer.is_some_and(|w| w.id == conn);
        if !stopping {
            fx.report(PeerReport::Closed(node));
        }
        if writing {
            self.peers.remove(&node);
            fx.link_down(node);
            if !stopping {
                self.lost.insert(node, None);
            }
        }
        !stopping
    }

    /// This node closes its link to `node` (the node was declared gone, its
    /// peer reads nothing back, or the socket could not be set up): no report.
    pub(crate) fn on_close(&mut self, node: NodeId, fx: &mut impl Effects) {
        self.lost.remove(&node);
        if self.peers.remove(&node).is_some() {
            fx.link_down(node);
        }
    }

    /// The cluster heard from `node` after its connection was lost (it
    /// answered a probe): sends to it may dial again.
    pub(crate) fn on_alive(&mut self, node: NodeId) {
        self.lost.remove(&node);
    }

    /// Something arrived from `node` at `now` (bytes on one of its
    /// connections, or a tick another core of this node forwarded).
    #[inline]
    pub(crate) fn on_heard(&mut self, now: Instant, node: NodeId) {
        if let Some(p) = self.peers.get_mut(&node) {
            p.last_heard = p.last_heard.max(now);
        }
    }

    /// The periodic check (every [`Timing::check_period`]): an up link silent
    /// past the connection timeout goes down and is reported unresponsive; a
    /// refused dialer whose wait ran out goes down; every heartbeat interval
    /// each up link's peer cores get a tick.
    pub(crate) fn on_timer(&mut self, now: Instant, fx: &mut impl Effects) {
        let tick = now.saturating_duration_since(self.last_tick) >= self.timing.heartbeat_interval;
        if tick {
            self.last_tick = now;
        }
        let timeout = self.timing.connection_timeout;
        self.lost.retain(|_, until| match until {
            None => {
                *until = Some(now + timeout);
                true
            }
            Some(t) => now < *t,
        });
        let lost = &mut self.lost;
        self.peers.retain(|&node, p| {
            if p.writer.is_none() {
                let gave_up = p.dialing.is_none() && p.wait_until.is_some_and(|t| now >= t);
                if gave_up {
                    fx.link_down(node);
                }
                return !gave_up;
            }
            if now.saturating_duration_since(p.last_heard) > timeout {
                fx.link_down(node);
                fx.report(PeerReport::Unresponsive(node));
                lost.insert(node, Some(now + timeout));
                return false;
            }
            if tick {
                for (i, c) in p.readers.iter().enumerate() {
                    if !p.readers[..i].iter().any(|r| r.peer_core == c.peer_core) {
                        fx.tick(node, c.peer_core);
                    }
                }
            }
            true
        });
    }
}

#[cfg(test)]
#[path = "rules_tests.rs"]
mod tests;
