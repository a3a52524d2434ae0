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
//! Must never: block the core, let bytes from a peer reach the host before the
//! network decoder checked them, or keep more than a link's bound of frames
//! queued for a peer.
//!
//! When two nodes dial each other at once, the connection dialed by the lower
//! node id survives: the higher one's dial is refused as a duplicate after its
//! handshake, before either side sent a frame on it, and the refused side's
//! queued frames go out on the survivor (`wire/FORMAT.md`, "Simultaneous
//! connect"). A link has at most one writing connection; any other connection
//! from the same peer is only read.
//!
//! Heartbeats live in `heartbeat.rs`. A link that went down is not redialed by
//! itself: the next send to a node that is still a member dials again.
//!
//! Transport knows its core only through [`Host`] (`host.rs`): it hands every
//! checked frame to the host's frame sink, whatever core it is for, and
//! reports lost links and silent peers; it never names actors, the handler
//! glue, the system actor or membership.

pub(crate) mod conn;
pub(crate) mod directory;
pub(crate) mod heartbeat;
pub(crate) mod host;
pub(crate) mod link;
pub(crate) mod socket;

use std::cell::RefCell;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Duration;

use coremesh_wire::{Decoder, Handshake, LocalInfo};
use glommio::net::{TcpListener, TcpStream};

use crate::ids::NodeId;
use conn::ConnError;
use directory::{decode_advert, encode_advert, PeerRecord};
pub(crate) use host::{Delivered, Host, PeerReport};
use link::{Link, LinkState};

/// The most bytes one link queues before sends to that peer report it full.
pub(crate) const LINK_OUT_BYTES_MAX: usize = 4 << 20;

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
    #[inline]
    pub(crate) fn get(&self, node: NodeId) -> Option<Rc<Link>> {
        self.links.borrow().get(&node).filter(|l| l.state() != LinkState::Down).cloned()
    }

    /// A tick from `node` reached this core (possibly forwarded by another
    /// core of this node): its link here is alive.
    pub(crate) fn heard_from(&self, node: NodeId) {
        if let Some(link) = self.get(node) {
            link.touch(crate::clock::now());
        }
    }

    /// The links whose connection is up.
    pub(crate) fn up_links(&self) -> Vec<Rc<Link>> {
        self.links.borrow().values().filter(|l| l.state() == LinkState::Up).cloned().collect()
    }

    fn new_link(&self, node: NodeId) -> Rc<Link> {
        let l = Rc::new(Link::new(node, LINK_OUT_BYTES_MAX));
        self.links.borrow_mut().insert(node, l.clone());
        l
    }
}

fn local_info<H: Host>(host: &H, target_core: u16) -> LocalInfo {
    let config = host.config();
    LocalInfo {
        node_id: host.node_id().0,
        cores: host.listen_ports().len() as u16,
        core: host.core_id().0,
        target_core,
        // The frame format fingerprint goes into every Hello by itself; the table
        // is this build's message types, checked when the node started.
        type_table: crate::actor::message::type_table().expect("checked by Node::start").clone(),
        cluster: config.cluster().to_string(),
        advert: encode_advert(config.listen().ip(), &host.listen_ports()),
    }
}

fn handshake_timeout<H: Host>(host: &H) -> Duration {
    Duration::from_millis(host.config().connection_timeout_ms())
}

/// The link to `node`, dialing it if this core has none but the node is
/// known (another core met it). `None`: the node is unknown here.
pub(crate) fn link_to<H: Host>(host: &Rc<H>, node: NodeId) -> Option<Rc<Link>> {
    let transport = host.transport();
    if let Some(link) = transport.get(node) {
        return Some(link);
    }
    let record = host.directory().get(node)?;
    let peer_core = (usize::from(host.core_id().0) % record.cores.len()) as u16;
    let link = transport.new_link(node);
    let addr = record.cores[usize::from(peer_core)];
    let host = host.clone();
    let l = link.clone();
    glommio::spawn_local(async move {
        let result = dial(&host, addr, peer_core, Some(l.clone())).await;
        if let Err(e) = result {
            if !l.has_writer() {
                tracing::warn!(core = %host.core_id(), peer = %node, %addr, error = %e, "could not connect");
                link_down(&*host, &l);
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
pub(crate) async fn dial<H: Host>(
    host: &Rc<H>,
    addr: SocketAddr,
    peer_core: u16,
    link: Option<Rc<Link>>,
) -> Result<NodeId, ConnError> {
    let transport = host.transport();
    if let Some(l) = &link {
        l.set_dialing(Some(peer_core));
    } else {
        transport.dialing_addrs.borrow_mut().push(addr);
    }
    let result = dial_handshake(&**host, addr, peer_core).await;
    match &link {
        Some(l) => l.set_dialing(None),
        None => transport.dialing_addrs.borrow_mut().retain(|a| *a != addr),
    }
    match result {
        Ok((node, stream, first)) => {
            let link = link.or_else(|| transport.get(node)).unwrap_or_else(|| transport.new_link(node));
            let host = host.clone();
            glommio::spawn_local(async move { run_connection(host, link, peer_core, stream, first).await })
                .detach();
            Ok(node)
        }
        Err(ConnError::Duplicate { peer, .. }) => {
            let node = NodeId(peer.node_id);
            tracing::debug!(core = %host.core_id(), peer = %node, "both nodes dialed; using the peer's connection");
            wait_for_writer(transport, node, handshake_timeout(&**host)).await?;
            Ok(node)
        }
        Err(e) => Err(e),
    }
}

/// Waits until this core's link to `node` has a connection writing it (the
/// peer's dial that won over ours), at most `timeout`.
async fn wait_for_writer(transport: &Transport, node: NodeId, timeout: Duration) -> Result<(), ConnError> {
    let deadline = crate::clock::now() + timeout;
    loop {
        if transport.get(node).is_some_and(|l| l.has_writer()) {
            return Ok(());
        }
        if crate::clock::now() >= deadline {
            return Err(ConnError::Timeout { addr: format!("node {node}") });
        }
        glommio::timer::sleep(Duration::from_millis(1)).await;
    }
}

async fn dial_handshake<H: Host>(
    host: &H,
    addr: SocketAddr,
    peer_core: u16,
) -> Result<(NodeId, TcpStream, Vec<u8>), ConnError> {
    let io = |source| ConnError::Io { addr: addr.to_string(), source };
    let mut stream = TcpStream::connect_timeout(addr, handshake_timeout(host))
        .await
        .map_err(|e| io(std::io::Error::other(e.to_string())))?;
    let mut nonce = [0u8; 32];
    socket::random_bytes(&mut nonce).map_err(io)?;
    let mut hello = Vec::new();
    let hs = Handshake::client(local_info(host, peer_core), host.config().cookie(), nonce, &mut hello)
        .map_err(|source| ConnError::Handshake { addr: addr.to_string(), source })?;
    let (peer, first) = conn::handshake(&mut stream, hs, hello, handshake_timeout(host), None).await?;
    let node = learn_peer(host, &peer, addr.ip())?;
    Ok((node, stream, first))
}

/// Whether an inbound connection from `peer` (authenticated) duplicates a
/// connection of the same core pair: one that already writes this core's
/// link to the peer, or a dial this core has in flight to the same peer core
/// when this node's dial is the one to keep (the lower node id's).
fn refuse_as_duplicate<H: Host>(
    host: &H,
    peer: &coremesh_wire::PeerInfo,
    seen_from: std::net::IpAddr,
) -> bool {
    let transport = host.transport();
    let link = transport.get(NodeId(peer.node_id));
    if link.as_ref().is_some_and(|l| l.writer_core() == Some(peer.core)) {
        return true;
    }
    if host.node_id().0 >= peer.node_id {
        return false;
    }
    let by_node = link.is_some_and(|l| !l.has_writer() && l.dialing() == Some(peer.core));
    by_node
        || decode_advert(&peer.advert, seen_from).is_ok_and(|record| {
            let dialing = transport.dialing_addrs.borrow();
            record.cores.get(usize::from(peer.core)).is_some_and(|a| dialing.contains(a))
        })
}

/// Records a peer's listening addresses from its handshake.
fn learn_peer<H: Host>(
    host: &H,
    peer: &coremesh_wire::PeerInfo,
    seen_from: std::net::IpAddr,
) -> Result<NodeId, ConnError> {
    let record: PeerRecord = decode_advert(&peer.advert, seen_from)
        .map_err(|e| ConnError::Protocol { addr: seen_from.to_string(), reason: e.to_string() })?;
    let node = NodeId(peer.node_id);
    host.directory().insert(node, record);
    Ok(node)
}

/// Runs an established connection. If it is the first to claim `link`, a
/// writer task sends the link's frames on it, and the link goes down when it
/// ends; otherwise it is only read (the peer writes on it).
async fn run_connection<H: Host>(
    host: Rc<H>,
    link: Rc<Link>,
    peer_core: u16,
    stream: TcpStream,
    first: Vec<u8>,
) {
    host.stats().connections_opened.add(1);
    // Read for as long as it runs: this core's heartbeats go to `peer_core`.
    link.add_reader(peer_core);
    run_claimed(&host, link.clone(), peer_core, stream, first).await;
    link.remove_reader(peer_core);
    host.stats().connections_closed.add(1);
}

async fn run_claimed<H: Host>(
    host: &Rc<H>,
    link: Rc<Link>,
    peer_core: u16,
    stream: TcpStream,
    first: Vec<u8>,
) {
    let decoder = Decoder::new(host.max_payload_bytes());
    if !link.claim_writer(peer_core) {
        let result = conn::run_reader(&**host, link.clone(), stream, first, decoder).await;
        connection_ended(&**host, &link, result);
        return;
    }
    let (reader, writer) = match socket::split(stream) {
        Ok(halves) => halves,
        Err(e) => {
            tracing::warn!(core = %host.core_id(), peer = %link.peer, error = %e, "could not split socket");
            link_down(&**host, &link);
            return;
        }
    };
    link.set_up();
    let l = link.clone();
    glommio::spawn_local(async move {
        let _ = conn::run_writer(l, writer).await;
    })
    .detach();
    let result = conn::run_reader(&**host, link.clone(), reader, first, decoder).await;
    connection_ended(&**host, &link, result);
    link_down(&**host, &link);
}

/// Logs how a connection ended and, unless this node closed it, tells the
/// cluster (which checks whether the peer still lives).
fn connection_ended<H: Host>(host: &H, link: &Rc<Link>, result: Result<(), ConnError>) {
    if link.state() == LinkState::Down || host.stopping() {
        return;
    }
    match result {
        Ok(()) => tracing::info!(core = %host.core_id(), peer = %link.peer, "peer closed the connection"),
        Err(e) => {
            tracing::warn!(core = %host.core_id(), peer = %link.peer, error = %e, "connection closed")
        }
    }
    host.report(PeerReport::Closed(link.peer));
}

/// A link went down: drop it, and let the host fail what it had in flight to
/// its node.
pub(crate) fn link_down<H: Host>(host: &H, link: &Rc<Link>) {
    link.set_down();
    let mut links = host.transport().links.borrow_mut();
    if links.get(&link.peer).is_some_and(|l| Rc::ptr_eq(l, link)) {
        links.remove(&link.peer);
    }
    drop(links);
    host.link_lost(link.peer);
}

/// Accepts connections on this core's listener for as long as the core runs.
pub(crate) async fn accept_loop<H: Host>(host: Rc<H>, listener: TcpListener) {
    loop {
        match listener.accept().await {
            Ok(stream) => {
                let host = host.clone();
                glommio::spawn_local(async move { serve_inbound(host, stream).await }).detach();
            }
            Err(e) => {
                tracing::warn!(core = %host.core_id(), error = %e, "accept failed");
                glommio::timer::sleep(Duration::from_millis(10)).await;
            }
        }
    }
}

async fn serve_inbound<H: Host>(host: Rc<H>, mut stream: TcpStream) {
    let seen_from = stream.peer_addr().map(|a| a.ip()).unwrap_or(std::net::Ipv4Addr::LOCALHOST.into());
    let mut nonce = [0u8; 32];
    if let Err(e) = socket::random_bytes(&mut nonce) {
        tracing::warn!(error = %e, "no entropy for a handshake nonce");
        return;
    }
    let hs = Handshake::server(local_info(&*host, host.core_id().0), host.config().cookie(), nonce);
    let verdict = |peer: &coremesh_wire::PeerInfo| {
        refuse_as_duplicate(&*host, peer, seen_from).then_some(coremesh_wire::RefuseReason::Duplicate)
    };
    let timeout = handshake_timeout(&*host);
    let done = conn::handshake(&mut stream, hs, Vec::new(), timeout, Some(&verdict)).await;
    let (peer, first) = match done {
        Ok(done) => done,
        Err(ConnError::Duplicate { peer, .. }) => {
            tracing::debug!(core = %host.core_id(), peer = %NodeId(peer.node_id), "both nodes dialed; keeping ours");
            host.stats().duplicate_connections.add(1);
            return;
        }
        Err(e) => {
            tracing::warn!(core = %host.core_id(), error = %e, "inbound connection refused");
            host.stats().refused_connections.add(1);
            return;
        }
    };
    let node = match learn_peer(&*host, &peer, seen_from) {
        Ok(n) => n,
        Err(e) => {
            tracing::warn!(core = %host.core_id(), error = %e, "inbound connection refused");
            host.stats().refused_connections.add(1);
            return;
        }
    };
    // The first connection to claim this core's link to the node writes it
    // (this one, unless a dial of another core pair did); others are only
    // read.
    let link = host.transport().get(node).unwrap_or_else(|| host.transport().new_link(node));
    run_connection(host, link, peer.core, stream, first).await;
}
