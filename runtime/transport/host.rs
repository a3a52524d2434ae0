//! The narrow interface between transport and the core that owns it.
//!
//! Owns: [`Host`], the one trait a worker core implements for its transport:
//! the settings and shared state transport reads (ids, config, directory,
//! counters, the node's bounds on connections in the handshake), the frame
//! sink that takes every checked frame read from a peer, and the reports
//! transport makes (a link lost, a peer gone silent). Also [`Delivered`] (what
//! the sink did with a frame), [`PeerReport`] and [`Shed`] (which bound an
//! inbound connection was over).
//!
//! Must never: grow to name actors, handlers, the system actor or membership
//! types: transport moves bytes and judges connections; what a frame means is
//! the core's business, and what a silent peer means is the cluster's.

use std::future::Future;
use std::net::IpAddr;

use coremesh_wire::{CheckedFrame, TypeTable};

use super::directory::Directory;
use super::Transport;
use crate::config::Config;
use crate::ids::{CoreId, NodeId};
use crate::stats::CoreStats;

/// What the sink did with a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Delivered {
    /// Queued, completed, or refused with a counted drop / error reply.
    Done,
    /// Its next stop (a mailbox, a ring) is full: the reader keeps the frame,
    /// stops reading (TCP pushes back on the peer) and offers it again after
    /// [`Host::wait_for_room`].
    Blocked,
}

/// What a core's transport saw of a peer, for the cluster to judge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PeerReport {
    /// Nothing arrived from the node within the connection timeout.
    Unresponsive(NodeId),
    /// A connection to the node closed without the node leaving.
    Closed(NodeId),
}

/// Why an inbound connection was closed right after accept, unread.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Shed {
    /// The node already had `COREMESH_HANDSHAKES_MAX` connections in the handshake.
    Node,
    /// Its source already had `COREMESH_HANDSHAKES_PER_SOURCE_MAX` in the handshake.
    Source,
}

/// The core that owns a [`Transport`], as transport sees it.
pub(crate) trait Host: 'static {
    /// What an inbound connection holds while its handshake runs: one place in
    /// the node's bounds, given back when it is dropped.
    type Admission: 'static;
    /// This core's links.
    fn transport(&self) -> &Transport;
    /// This node.
    fn node_id(&self) -> NodeId;
    /// This core.
    fn core_id(&self) -> CoreId;
    /// The node's settings.
    fn config(&self) -> &Config;
    /// Where peers listen, shared by the node's cores.
    fn directory(&self) -> &Directory;
    /// The port each of this node's cores listens on, in core order.
    fn listen_ports(&self) -> Vec<u16>;
    /// This build's message types, sent in every Hello.
    fn type_table(&self) -> &'static TypeTable;
    /// The largest payload a frame may carry.
    fn max_payload_bytes(&self) -> u32;
    /// Whether the node is shutting down (a closed connection is then no news).
    fn stopping(&self) -> bool;
    /// This core's counters.
    fn stats(&self) -> &CoreStats;
    /// Admits a connection just accepted from `from` into the handshake, or
    /// says which of the node's bounds it is over (it is then closed unread).
    fn admit(&self, from: IpAddr) -> Result<Self::Admission, Shed>;
    /// The frame sink: one checked frame read from `peer`, for any core of
    /// this node (the host routes it).
    fn frame_from_peer(&self, peer: NodeId, frame: CheckedFrame<'_>) -> Delivered;
    /// Resolves once the host may have room for a frame it refused as
    /// [`Delivered::Blocked`], or after at most a millisecond.
    fn wait_for_room(&self) -> impl Future<Output = ()>;
    /// This core's way to `peer` went down: whatever it had in flight to the
    /// peer has failed.
    fn link_lost(&self, peer: NodeId);
    /// Tells the cluster what this core saw of a peer.
    fn report(&self, report: PeerReport);
}
