//! Connections to other nodes: one TCP connection per (this core, peer node),
//! driven by glommio's io_uring sockets on the core that owns it.
//!
//! Owns: the per-core [`Transport`] (this core's links, by peer node), the
//! accept loop of this core's listener, dialing (by address for
//! `NodeHandle::connect`, by node id when a core first sends to a peer another
//! core already met), and what happens when a connection ends: its link goes
//! down and every ask this core has in flight to that node fails at once with
//! `ConnectionLost`.
//!
//! Core i talks to peer core (i mod peer cores); every core listens on its own
//! port, advertised in the handshake, so a connection lands on the core that
//! owns it with no hop. Frames for another core of this node are forwarded over
//! the rings, still marked untrusted.
//!
//! Must never: block the core, or let bytes from a peer reach a handler before
//! the network decoder and the handler-side validation checked them.
//!
//! When two nodes dial each other at once, the connection dialed by the lower
//! node id survives: the higher one's dial is refused as a duplicate after its
//! handshake, before either side sent a frame on it, and the refused side's
//! queued frames go out on the survivor (`wire/FORMAT.md`, "Simultaneous
//! connect"). A link has at most one writing connection; any other connection
//! from the same peer is only read.
//!
//! Heartbeats and the handling of a gone node live in `heartbeat.rs`. A link
//! that went down is not redialed by itself: the next send to a node that is
//! still a member dials again.

pub(crate) mod conn;
pub(crate) mod directory;
pub(crate) mod heartbeat;
pub(crate) mod link;
pub(crate) mod socket;

use std::cell::RefCell;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Duration;

use coremesh_wire::{CheckedFrame, Decoder, Handshake, LocalInfo, ReplyErrorCode};
use glommio::net::{TcpListener, TcpStream};

use crate::actor::glue::{Delivery, Trust};
use crate::core::frames::Delivered;
use crate::core::CoreRt;
use crate::error::AskError;
use crate::ids::NodeId;
use conn::ConnError;
use directory::{decode_advert, encode_advert, PeerRecord};
use link::{Link, LinkState};

/// The most bytes one link queues before sends to that peer report it full.
pub(crate) const LINK_OUT_BYTES_MAX: usize = 4 << 20;

/// A stable hash of what this build puts on the wire, compared in the
/// handshake so two incompatible builds refuse each other.
pub(crate) const TYPE_TABLE_HASH: u64 =
    coremesh_wire::type_id_of(concat!("coremesh/", env!("CARGO_PKG_VERSION"), "/frame-v1"));

/// Node ids are random 64-bit numbers, so they hash to themselves: the map
/// lookup on every remote send costs no SipHash rounds (it was a quarter of the
/// sender's time).
#[derive(Default)]
pub(crate) struct NodeIdHasher(u64);

impl std::hash::Hasher for NodeIdHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

type NodeMap<V> = HashMap<NodeId, V, std::hash::BuildHasherDefault<NodeIdHasher>>;

/// This core's links to other nodes.
#[derive(Default)]
pub(crate) struct Transport {
    links: RefCell<NodeMap<Rc<Link>>>,
    /// Addresses this core is dialing for `NodeHandle::connect` (the peer's
    /// id is not known before its Hello).
    dialing_addrs: RefCell<Vec<SocketAddr>>,
}

impl Transport {
    /// The live link to `node`, if this core has one.
    pub(crate) fn get_link(&self, node: NodeId) -> Option<Rc<Link>> {
        self.get(node)
    }

    #[inline]
    fn get(&self, node: NodeId) -> Option<Rc<Link>> {
        self.links.borrow().get(&node).filter(|l| l.state() != LinkState::Down).cloned()
    }
}

impl CoreRt {
    fn local_info(&self, target_core: u16) -> LocalInfo {
        let shared = self.shared();
        LocalInfo {
            node_id: self.node_id().0,
            cores: self.cores() as u16,
            core: self.core_id().0,
            target_core,
            type_table_hash: TYPE_TABLE_HASH,
            cluster: shared.config.cluster().to_string(),
            advert: encode_advert(shared.config.listen().ip(), &shared.listen_ports()),
        }
    }

    fn handshake_timeout(&self) -> Duration {
        Duration::from_millis(self.shared().config.connection_timeout_ms())
    }

    fn network_decoder(&self) -> Decoder {
        Decoder::new(self.shared().max_payload_bytes)
    }

    /// The link to `node`, dialing it if this core has none but the node is
    /// known (another core met it). `None`: the node is unknown here.
    pub(crate) fn link_to(self: &Rc<Self>, node: NodeId) -> Option<Rc<Link>> {
        if let Some(link) = self.transport.get(node) {
            return Some(link);
        }
        let record = self.shared().directory.get(node)?;
        let peer_core = (usize::from(self.core_id().0) % record.cores.len()) as u16;
        let link = Rc::new(Link::new(node, LINK_OUT_BYTES_MAX));
        self.transport.links.borrow_mut().insert(node, link.clone());
        let addr = record.cores[usize::from(peer_core)];
        let core = self.clone();
        let l = link.clone();
        glommio::spawn_local(async move {
            let result = core.dial(addr, peer_core, Some(l.clone())).await;
            if let Err(e) = result {
                if !l.has_writer() {
                    tracing::warn!(core = %core.core_id(), peer = %node, %addr, error = %e, "could not connect");
                    core.link_down(&l);
                }
            }
        })
        .detach();
        Some(link)
    }

    /// Dials `addr` (the peer's core `peer_core`), runs the handshake, then runs
    /// the connection until it ends. `link` is the link waiting for it (dial by
    /// node id); `None` to find or create one (dial by address). Returns the
    /// peer's node id once the handshake is done and the connection runs in its
    /// own task, or, when the peer refused this dial as a duplicate of its own,
    /// once the peer's connection is up here.
    pub(crate) async fn dial(
        self: &Rc<Self>,
        addr: SocketAddr,
        peer_core: u16,
        link: Option<Rc<Link>>,
    ) -> Result<NodeId, ConnError> {
        if let Some(l) = &link {
            l.set_dialing(Some(peer_core));
        } else {
            self.transport.dialing_addrs.borrow_mut().push(addr);
        }
        let result = self.dial_handshake(addr, peer_core).await;
        match &link {
            Some(l) => l.set_dialing(None),
            None => self.transport.dialing_addrs.borrow_mut().retain(|a| *a != addr),
        }
        match result {
            Ok((node, stream, first)) => {
                let link = link.or_else(|| self.transport.get(node)).unwrap_or_else(|| self.new_link(node));
                let core = self.clone();
                glommio::spawn_local(
                    async move { core.run_connection(link, peer_core, stream, first).await },
                )
                .detach();
                Ok(node)
            }
            Err(ConnError::Duplicate { peer, .. }) => {
                let node = NodeId(peer.node_id);
                tracing::debug!(core = %self.core_id(), peer = %node, "both nodes dialed; using the peer's connection");
                self.wait_for_writer(node, self.handshake_timeout()).await?;
                Ok(node)
            }
            Err(e) => Err(e),
        }
    }

    /// Waits until this core's link to `node` has a connection writing it (the
    /// peer's dial that won over ours), at most `timeout`.
    async fn wait_for_writer(&self, node: NodeId, timeout: Duration) -> Result<(), ConnError> {
        let deadline = crate::clock::now() + timeout;
        loop {
            if self.transport.get(node).is_some_and(|l| l.has_writer()) {
                return Ok(());
            }
            if crate::clock::now() >= deadline {
                return Err(ConnError::Timeout { addr: format!("node {node}") });
            }
            glommio::timer::sleep(Duration::from_millis(1)).await;
        }
    }

    fn new_link(&self, node: NodeId) -> Rc<Link> {
        let l = Rc::new(Link::new(node, LINK_OUT_BYTES_MAX));
        self.transport.links.borrow_mut().insert(node, l.clone());
        l
    }

    async fn dial_handshake(
        self: &Rc<Self>,
        addr: SocketAddr,
        peer_core: u16,
    ) -> Result<(NodeId, TcpStream, Vec<u8>), ConnError> {
        let io = |source| ConnError::Io { addr: addr.to_string(), source };
        let mut stream = TcpStream::connect_timeout(addr, self.handshake_timeout())
            .await
            .map_err(|e| io(std::io::Error::other(e.to_string())))?;
        let mut nonce = [0u8; 32];
        socket::random_bytes(&mut nonce).map_err(io)?;
        let mut hello = Vec::new();
        let hs =
            Handshake::client(self.local_info(peer_core), self.shared().config.cookie(), nonce, &mut hello)
                .map_err(|source| ConnError::Handshake { addr: addr.to_string(), source })?;
        let (peer, first) = conn::handshake(&mut stream, hs, hello, self.handshake_timeout(), None).await?;
        let node = self.learn_peer(&peer, addr.ip())?;
        Ok((node, stream, first))
    }

    /// Whether an inbound connection from `peer` (authenticated) duplicates a
    /// connection of the same core pair: one that already writes this core's
    /// link to the peer, or a dial this core has in flight to the same peer core
    /// when this node's dial is the one to keep (the lower node id's).
    fn refuse_as_duplicate(&self, peer: &coremesh_wire::PeerInfo, seen_from: std::net::IpAddr) -> bool {
        let link = self.transport.get(NodeId(peer.node_id));
        if link.as_ref().is_some_and(|l| l.writer_core() == Some(peer.core)) {
            return true;
        }
        if self.node_id().0 >= peer.node_id {
            return false;
        }
        let by_node = link.is_some_and(|l| !l.has_writer() && l.dialing() == Some(peer.core));
        by_node
            || decode_advert(&peer.advert, seen_from).is_ok_and(|record| {
                let dialing = self.transport.dialing_addrs.borrow();
                record.cores.get(usize::from(peer.core)).is_some_and(|a| dialing.contains(a))
            })
    }

    /// Records a peer's listening addresses from its handshake.
    fn learn_peer(
        &self,
        peer: &coremesh_wire::PeerInfo,
        seen_from: std::net::IpAddr,
    ) -> Result<NodeId, ConnError> {
        let record: PeerRecord = decode_advert(&peer.advert, seen_from)
            .map_err(|e| ConnError::Protocol { addr: seen_from.to_string(), reason: e.to_string() })?;
        let node = NodeId(peer.node_id);
        self.shared().directory.insert(node, record);
        Ok(node)
    }

    /// Runs an established connection. If it is the first to claim `link`, a
    /// writer task sends the link's frames on it, and the link goes down when it
    /// ends; otherwise it is only read (the peer writes on it).
    async fn run_connection(
        self: Rc<Self>,
        link: Rc<Link>,
        peer_core: u16,
        stream: TcpStream,
        first: Vec<u8>,
    ) {
        self.stats().connections_opened.add(1);
        // Read for as long as it runs: this core's heartbeats go to `peer_core`.
        link.add_reader(peer_core);
        self.run_claimed(link.clone(), peer_core, stream, first).await;
        link.remove_reader(peer_core);
        self.stats().connections_closed.add(1);
    }

    async fn run_claimed(self: &Rc<Self>, link: Rc<Link>, peer_core: u16, stream: TcpStream, first: Vec<u8>) {
        let decoder = self.network_decoder();
        if !link.claim_writer(peer_core) {
            let result = conn::run_reader(self.clone(), link.clone(), stream, first, decoder).await;
            self.connection_ended(&link, result);
            return;
        }
        let (reader, writer) = match socket::split(stream) {
            Ok(halves) => halves,
            Err(e) => {
                tracing::warn!(core = %self.core_id(), peer = %link.peer, error = %e, "could not split socket");
                self.link_down(&link);
                return;
            }
        };
        link.set_up();
        let l = link.clone();
        glommio::spawn_local(async move {
            let _ = conn::run_writer(l, writer).await;
        })
        .detach();
        let result = conn::run_reader(self.clone(), link.clone(), reader, first, decoder).await;
        self.connection_ended(&link, result);
        self.link_down(&link);
    }

    /// Logs how a connection ended and, unless this node closed it, tells the
    /// control thread (which checks whether the peer still lives).
    fn connection_ended(&self, link: &Rc<Link>, result: Result<(), ConnError>) {
        if link.state() == LinkState::Down || self.shared().stopping.is_set() {
            return;
        }
        match result {
            Ok(()) => tracing::info!(core = %self.core_id(), peer = %link.peer, "peer closed the connection"),
            Err(e) => {
                tracing::warn!(core = %self.core_id(), peer = %link.peer, error = %e, "connection closed")
            }
        }
        self.shared().membership.report(heartbeat::PeerReport::Closed(link.peer));
    }

    /// A link went down: drop it, and fail every ask in flight to its node.
    pub(crate) fn link_down(&self, link: &Rc<Link>) {
        link.set_down();
        let mut links = self.transport.links.borrow_mut();
        if links.get(&link.peer).is_some_and(|l| Rc::ptr_eq(l, link)) {
            links.remove(&link.peer);
        }
        drop(links);
        let err = AskError::ConnectionLost { node: link.peer };
        self.pending.borrow_mut().fail_node(link.peer, &err);
    }

    /// Accepts connections on this core's listener for as long as the core runs.
    pub(crate) async fn accept_loop(self: Rc<Self>, listener: TcpListener) {
        loop {
            match listener.accept().await {
                Ok(stream) => {
                    let core = self.clone();
                    glommio::spawn_local(async move { core.serve_inbound(stream).await }).detach();
                }
                Err(e) => {
                    tracing::warn!(core = %self.core_id(), error = %e, "accept failed");
                    glommio::timer::sleep(Duration::from_millis(10)).await;
                }
            }
        }
    }

    async fn serve_inbound(self: Rc<Self>, mut stream: TcpStream) {
        let seen_from = stream.peer_addr().map(|a| a.ip()).unwrap_or(std::net::Ipv4Addr::LOCALHOST.into());
        let mut nonce = [0u8; 32];
        if let Err(e) = socket::random_bytes(&mut nonce) {
            tracing::warn!(error = %e, "no entropy for a handshake nonce");
            return;
        }
        let hs = Handshake::server(self.local_info(self.core_id().0), self.shared().config.cookie(), nonce);
        let verdict = |peer: &coremesh_wire::PeerInfo| {
            self.refuse_as_duplicate(peer, seen_from).then_some(coremesh_wire::RefuseReason::Duplicate)
        };
        let timeout = self.handshake_timeout();
        let done = conn::handshake(&mut stream, hs, Vec::new(), timeout, Some(&verdict)).await;
        let (peer, first) = match done {
            Ok(done) => done,
            Err(ConnError::Duplicate { peer, .. }) => {
                tracing::debug!(core = %self.core_id(), peer = %NodeId(peer.node_id), "both nodes dialed; keeping ours");
                self.stats().duplicate_connections.add(1);
                return;
            }
            Err(e) => {
                tracing::warn!(core = %self.core_id(), error = %e, "inbound connection refused");
                self.stats().refused_connections.add(1);
                return;
            }
        };
        let node = match self.learn_peer(&peer, seen_from) {
            Ok(n) => n,
            Err(e) => {
                tracing::warn!(core = %self.core_id(), error = %e, "inbound connection refused");
                self.stats().refused_connections.add(1);
                return;
            }
        };
        // The first connection to claim this core's link to the node writes it
        // (this one, unless a dial of another core pair did); others are only
        // read.
        let link = self.transport.get(node).unwrap_or_else(|| self.new_link(node));
        self.run_connection(link, peer.core, stream, first).await;
    }

    /// A Tell, Ask, Reply or ReplyError for this core, read from a peer.
    pub(crate) fn deliver_network(&self, frame: CheckedFrame<'_>, peer: NodeId) -> Delivered {
        self.deliver_frame_from(frame, Trust::Network, true, peer)
    }

    /// A frame for another core of this node: into that core's ring, still
    /// marked untrusted. Blocked when the ring is full.
    pub(crate) fn forward_network(&self, frame: CheckedFrame<'_>) -> Delivered {
        let core = crate::ids::CoreId(frame.header().core);
        match self.push_frame_flagged(core, frame.as_bytes(), coremesh_wire::FLAG_UNTRUSTED) {
            Ok(()) => Delivered::Done,
            Err(crate::core::frames::SendFail::RingFull) => Delivered::Blocked,
            Err(e) => {
                tracing::warn!(core = %self.core_id(), error = ?e, "frame from a peer not forwarded");
                Delivered::Done
            }
        }
    }

    /// A frame naming a core this node does not have: an ask is answered with an
    /// error, a tell is dropped and counted.
    pub(crate) fn refuse_bad_core(&self, frame: &CheckedFrame<'_>, peer: NodeId) {
        self.stats().dead_letters.add(1);
        let d = Delivery::new(frame, Trust::Network, peer);
        if let Some(t) = d.reply_target() {
            self.send_error_reply(t, ReplyErrorCode::UnknownActor);
        }
    }

    /// Waits until an actor of this core takes its mail, or a millisecond.
    pub(crate) async fn wait_for_room(&self) {
        let mut registered = false;
        let woken = std::future::poll_fn(|cx| {
            if registered {
                return std::task::Poll::Ready(());
            }
            registered = true;
            self.add_room_waiter(cx.waker());
            std::task::Poll::Pending
        });
        futures_lite::FutureExt::or(woken, glommio::timer::sleep(Duration::from_millis(1))).await;
    }
}
