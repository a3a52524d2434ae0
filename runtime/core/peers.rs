//! What a worker core is to its transport, and what it does when a peer is
//! lost.
//!
//! Owns: `impl Host for CoreRt` (the narrow interface of `crate::transport`:
//! settings, the node's handshake bounds, the frame sink, lost links, reports
//! for the cluster), the core's
//! way to a peer ([`CoreRt::link`], dialing one on first use), and
//! [`CoreRt::node_gone`], run on every core when the cluster declares a node
//! down or left.
//!
//! Must never: let transport reach past this interface, or block the core.

use std::net::{IpAddr, SocketAddr};
use std::rc::Rc;

use coremesh_wire::{CheckedFrame, HandshakeError, RefuseReason, TypeTable};

use super::route::Origin;
use super::shared::CoreCommand;
use super::CoreRt;
use crate::config::Config;
use crate::error::{AskError, ConnectError, HandshakeRefusal, TellError};
use crate::ids::{CoreId, NodeId};
use crate::stats::CoreStats;
use crate::sync::oneshot;
use crate::transport::conn::ConnError;
use crate::transport::directory::Directory;
use crate::transport::host::Shed;
use crate::transport::link::Link;
use crate::transport::{Delivered, Host, NoLink, PeerReport, Transport};

impl Host for CoreRt {
    type Admission = super::shared::Admission;
    fn transport(&self) -> &Transport {
        &self.transport
    }
    fn node_id(&self) -> NodeId {
        self.node
    }
    fn core_id(&self) -> CoreId {
        self.core
    }
    fn config(&self) -> &Config {
        &self.shared.config
    }
    fn directory(&self) -> &Directory {
        &self.shared.directory
    }
    fn listen_ports(&self) -> Vec<u16> {
        self.shared.listen_ports()
    }
    fn type_table(&self) -> &'static TypeTable {
        self.shared.type_table
    }
    fn max_payload_bytes(&self) -> u32 {
        self.shared.max_payload_bytes
    }
    fn stopping(&self) -> bool {
        self.shared.stopping.is_set()
    }
    fn stats(&self) -> &CoreStats {
        CoreRt::stats(self)
    }
    fn admit(&self, from: IpAddr) -> Result<Self::Admission, Shed> {
        self.shared.handshakes.admit(from)
    }
    #[inline]
    fn frame_from_peer(&self, peer: NodeId, frame: CheckedFrame<'_>) -> Delivered {
        self.route_frame(self.node, frame, Origin::Peer(peer))
    }
    async fn wait_for_room(&self) {
        let mut registered = false;
        let woken = std::future::poll_fn(|cx| {
            if registered {
                return std::task::Poll::Ready(());
            }
            registered = true;
            self.add_room_waiter(cx.waker());
            std::task::Poll::Pending
        });
        futures_lite::FutureExt::or(woken, glommio::timer::sleep(std::time::Duration::from_millis(1))).await;
    }
    fn link_lost(&self, peer: NodeId) {
        self.pending.borrow_mut().fail_node(peer, &AskError::ConnectionLost { node: peer });
    }
    fn report(&self, report: PeerReport) {
        // A full queue is counted and logged there; SWIM still judges the peer.
        self.shared.membership.report(report);
    }
}

impl CoreRt {
    /// This core's link to `node`, dialing one if the node is known but this
    /// core has no link yet (an ask can reach this core through another
    /// core's connection, and the asking node may have no core that connects
    /// to this one). An error says why there is none: the node is unknown
    /// or gone (`UnknownNode`, `NodeGone`), or its connection was lost and the
    /// cluster has not yet said whether it lives (`ConnectionLost`).
    #[inline]
    pub(crate) fn link(&self, node: NodeId) -> Result<Rc<Link>, TellError> {
        if let Some(link) = self.transport.get(node) {
            return Ok(link);
        }
        let dialed = super::current().map(|rc| crate::transport::link_to(&rc, node));
        match dialed {
            Some(Ok(link)) => Ok(link),
            Some(Err(NoLink::Lost)) => Err(TellError::ConnectionLost { node }),
            Some(Err(NoLink::Unknown)) | None => Err(self.shared.directory.unreachable(node)),
        }
    }

    /// The cluster declared `node` down, or it left: drop this core's link to
    /// it (closing its connections), fail every ask in flight to it, and tell
    /// the monitors.
    pub(crate) fn node_gone(self: &Rc<Self>, node: NodeId) {
        crate::transport::close(&**self, node);
        self.pending.borrow_mut().fail_node(node, &AskError::ConnectionLost { node });
        self.monitors_node_down(node);
    }

    /// Closes `link` because its peer reads nothing back (see
    /// `route.rs`, `reply_room`).
    pub(crate) fn close_too_slow(&self, link: &Rc<Link>) {
        crate::transport::close(self, link.peer);
    }
}

/// [`Command::Connect`] on `core` (core 0): dial `addr`; once the handshake is
/// done, tell the control thread to join the node's cluster and every other
/// core to dial the node, then answer.
pub(crate) fn connect_from(
    core: &Rc<CoreRt>,
    addr: SocketAddr,
    reply: oneshot::Sender<Result<NodeId, ConnectError>>,
) {
    let core = core.clone();
    glommio::spawn_local(async move {
        let result = crate::transport::connect(&core, addr)
            .await
            .map_err(|e| connect_error(addr, core.shared().config.cluster(), e));
        if let Ok(node) = result {
            let shared = core.shared();
            shared.membership.report(crate::cluster::membership::ControlReport::Joined(addr));
            for i in 1..shared.cores.len() {
                shared.core_command(CoreId(i as u16), CoreCommand::Dial(node));
            }
        }
        reply.send(result);
    })
    .detach();
}

/// The typed [`ConnectError`] for a failed dial of `addr`: which check refused
/// it and the values this side knows (`cluster`: ours; never the cookie).
fn connect_error(addr: SocketAddr, cluster: &str, e: ConnError) -> ConnectError {
    let refused = |reason| ConnectError::Refused { addr, reason };
    match e {
        ConnError::Io { source, .. } => {
            ConnectError::Io { addr, kind: source.kind(), message: source.to_string() }
        }
        ConnError::Handshake { source, .. } => refused(refusal(cluster, source)),
        ConnError::Protocol { reason, .. } => ConnectError::Protocol { addr, reason },
        ConnError::Duplicate { .. } => refused(HandshakeRefusal::Duplicate),
        ConnError::Timeout { deadline_ms, .. } => ConnectError::HandshakeTimeout { addr, deadline_ms },
        tls @ ConnError::Tls { .. } => ConnectError::Tls(tls.to_string()),
    }
}

/// The check a handshake error names, found here or told by the peer.
pub(crate) fn refusal(cluster: &str, e: HandshakeError) -> HandshakeRefusal {
    let ours = || cluster.to_string();
    match e {
        HandshakeError::BadMagic { .. } => HandshakeRefusal::NotCoremesh,
        HandshakeError::Version { ours, theirs } => {
            HandshakeRefusal::VersionMismatch { ours, theirs: Some(theirs) }
        }
        HandshakeError::Cluster { ours, theirs } => {
            HandshakeRefusal::ClusterMismatch { ours, theirs: Some(theirs) }
        }
        HandshakeError::Format { ours, theirs } => HandshakeRefusal::FormatMismatch { ours, theirs },
        HandshakeError::TypeTable { type_id, name, ours, theirs } => {
            HandshakeRefusal::SchemaMismatch { type_name: name.to_string(), type_id, ours, theirs }
        }
        HandshakeError::BadCookie => HandshakeRefusal::CookieMismatch { by_peer: false },
        HandshakeError::SelfConnection { .. } => HandshakeRefusal::SelfConnection,
        HandshakeError::Refused { reason } => match reason {
            RefuseReason::BadMagic => {
                HandshakeRefusal::Malformed { reason: "the peer saw bad magic from us".into() }
            }
            RefuseReason::Version => {
                HandshakeRefusal::VersionMismatch { ours: coremesh_wire::PROTOCOL_VERSION, theirs: None }
            }
            RefuseReason::Cluster => HandshakeRefusal::ClusterMismatch { ours: ours(), theirs: None },
            RefuseReason::TypeTable => HandshakeRefusal::BuildMismatch,
            RefuseReason::Cookie => HandshakeRefusal::CookieMismatch { by_peer: true },
            RefuseReason::Malformed => {
                HandshakeRefusal::Malformed { reason: "the peer found our handshake malformed".into() }
            }
            RefuseReason::SelfConnection => HandshakeRefusal::SelfConnection,
            RefuseReason::WrongRole => {
                HandshakeRefusal::Malformed { reason: "the peer saw the wrong role".into() }
            }
            RefuseReason::Duplicate => HandshakeRefusal::Duplicate,
        },
        HandshakeError::Malformed(reason) => HandshakeRefusal::Malformed { reason },
        HandshakeError::Unexpected { found, state } => HandshakeRefusal::Malformed {
            reason: format!("unexpected handshake message type {found} in state {state}"),
        },
        HandshakeError::TooLong => HandshakeRefusal::TooLong,
    }
}
