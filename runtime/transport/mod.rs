//! Connections to other nodes: one TCP connection per (this core, peer node),
//! driven by glommio's io_uring sockets on the core that owns it.
//!
//! Owns: the per-core [`Transport`] (this core's outbound buffers by peer
//! node, the one map a remote send reads, and the connection rules), and the
//! driver of those rules: the accept loop of this core's listener, dialing
//! (by address for `NodeHandle::connect`, by node id when a send finds no
//! link), running a connection once its handshake is done, and carrying out
//! what the rules decide ([`rules::Effect`]): a link whose connection ended
//! goes down, and every ask this core has in flight to that node fails at
//! once with `ConnectionLost`.
//!
//! The rules themselves (which peer core to dial, which connection survives
//! when two nodes dial each other at once, which connection writes a link,
//! when a link goes down and what is reported, when ticks go out) are a state
//! machine without I/O in `rules.rs`, with its own unit tests; this file only
//! feeds it what sockets did and does what it says. Heartbeats' timer and
//! tick frames live in `heartbeat.rs`; the handshake, reader and writer tasks
//! in `conn.rs`; the log line of what the accept loop turned away in
//! `summary.rs`; TLS (on when the node has certificates) in `tls.rs`: its
//! handshake runs first on every dialed and accepted socket, inside the same
//! deadline and handshake bounds as the Hello/HMAC handshake that follows it.
//!
//! Before a byte is read from an inbound connection it must find a place in
//! the node's bounds on connections in the handshake ([`Host::admit`]): over
//! one, it is closed at once, unread, and counted (`handshakes_shed`). Every
//! handshake, inbound or dialed, has one deadline from the accept or the start
//! of the dial (`COREMESH_HANDSHAKE_TIMEOUT_MS`); one that misses it is closed
//! and counted (`handshake_timeouts`). Refusals, sheds, timeouts and failed
//! accepts are logged as at most one summary line per core per second.
//!
//! Core i talks to peer core (i mod peer cores); every core listens on its own
//! port, advertised in the handshake, so a connection lands on the core that
//! owns it with no hop. Frames for another core of this node are forwarded over
//! the rings, still marked untrusted.
//!
//! Must never: block the core, read from an inbound connection that holds no
//! place in the node's handshake bounds, log one line per refused connection,
//! let bytes from a peer reach the host before the network decoder checked
//! them, keep more than a link's bound of frames queued for a peer, decide a connection rule itself (that is `rules.rs`'s),
//! or make the send path pay for the rules (a send reads only the map of
//! outbound buffers: one borrow, one lookup with [`NodeIdHasher`]).
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
pub(crate) mod rules;
pub(crate) mod socket;
pub(crate) mod summary;
pub(crate) mod tls;

use std::cell::{RefCell, RefMut};
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
use link::Link;
use rules::{ConnId, Conns, Dial, Effect, LinkState, Role, Timing, Verdict};

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
    /// The outbound buffer of every link that is not down (connecting or up):
    /// what a send reads. Kept in step with `rules` by [`carry_out`].
    links: RefCell<NodeMap<Rc<Link>>>,
    /// The connection rules of this core; made on first use from the host's
    /// settings ([`rules`]).
    rules: RefCell<Option<Conns>>,
    /// What this core turned away since its last summary line.
    turned: RefCell<summary::Summary>,
    /// This core's TLS configurations, made on first use: `None` when TLS is off.
    tls: std::cell::OnceCell<Result<Option<Rc<tls::Tls>>, String>>,
}

impl Transport {
    /// The live link to `node`, if this core has one.
    #[inline]
    pub(crate) fn get(&self, node: NodeId) -> Option<Rc<Link>> {
        self.links.borrow().get(&node).cloned()
    }

    /// Something arrived from `node` at `now`: its link here is alive.
    pub(crate) fn heard(&self, node: NodeId, now: std::time::Instant) {
        if let Some(rules) = self.rules.borrow_mut().as_mut() {
            rules.on_heard(now, node);
        }
    }

    /// A tick from `node` reached this core (possibly forwarded by another
    /// core of this node): its link here is alive.
    pub(crate) fn heard_from(&self, node: NodeId) {
        self.heard(node, crate::clock::now());
    }
}

/// This core's connection rules, made from the host's settings on first use
/// (the heartbeat task starts with it, before any tick is due).
fn rules<H: Host>(host: &H) -> RefMut<'_, Conns> {
    RefMut::map(host.transport().rules.borrow_mut(), |rules| {
        rules.get_or_insert_with(|| {
            let config = host.config();
            let timing = Timing {
                heartbeat_interval: Duration::from_millis(config.heartbeat_interval_ms()),
                connection_timeout: Duration::from_millis(config.connection_timeout_ms()),
            };
            Conns::new(host.node_id(), host.core_id().0, timing, crate::clock::now())
        })
    })
}

/// Carries out what the rules decided, in order (the rules are not borrowed
/// any more, so nothing here can reenter them).
fn carry_out<H: Host>(host: &Rc<H>, fx: Vec<Effect>) {
    for effect in fx {
        match effect {
            Effect::Dial(dial, addr) => spawn_dial(host, dial, addr),
            other => carry_out_here(&**host, other),
        }
    }
}

/// [`carry_out`] for the effects that need no task of their own.
fn carry_out_here<H: Host>(host: &H, effect: Effect) {
    let transport = host.transport();
    match effect {
        Effect::Open(node) => {
            let link = Rc::new(Link::new(node, LINK_OUT_BYTES_MAX));
            transport.links.borrow_mut().insert(node, link);
        }
        Effect::LinkDown(node) => {
            let link = transport.links.borrow_mut().remove(&node);
            if let Some(link) = link {
                let dropped = link.set_down();
                host.stats().bytes_dropped_link_down.add(dropped as u64);
            }
            host.link_lost(node);
        }
        Effect::Report(report) => {
            if let PeerReport::Unresponsive(peer) = report {
                let timeout = Duration::from_millis(host.config().connection_timeout_ms());
                tracing::warn!(core = %host.core_id(), %peer, ?timeout, "nothing from the peer within the connection timeout");
            }
            host.report(report);
        }
        Effect::Tick(node, peer_core) => heartbeat::send_tick(host, node, peer_core),
        Effect::Dial(..) => unreachable!("a dial needs its own task: carry_out runs it"),
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
        type_table: host.type_table().clone(),
        cluster: config.cluster().to_string(),
        advert: encode_advert(config.listen().ip(), &host.listen_ports()),
    }
}

/// A socket whose handshakes are done: the stream, its TLS session when TLS is
/// on, and the bytes that followed the handshake.
pub(crate) struct Wire {
    stream: TcpStream,
    tls: Option<tls::Session>,
    first: Vec<u8>,
}

/// Runs the TLS handshake on `stream` when TLS is on (as the client when
/// `dialing`), else nothing.
async fn start_tls<H: Host>(
    host: &H,
    stream: &mut TcpStream,
    addr: &str,
    dialing: bool,
) -> Result<Option<tls::Session>, ConnError> {
    let made = host.transport().tls.get_or_init(|| {
        let config = host.config();
        let Some(files) = config.tls_files() else { return Ok(None) };
        tls::Tls::new(files, config.cluster()).map(|t| Some(Rc::new(t)))
    });
    let tls = match made {
        Ok(Some(tls)) => tls.clone(),
        Ok(None) => return Ok(None),
        Err(reason) => return Err(ConnError::Tls { addr: addr.to_owned(), reason: reason.clone() }),
    };
    let session = if dialing { tls.connect(stream).await } else { tls.accept(stream).await };
    session.map(Some).map_err(|e| ConnError::io(addr, e))
}

/// The handshake's deadline, in milliseconds (`COREMESH_HANDSHAKE_TIMEOUT_MS`).
fn handshake_timeout_ms<H: Host>(host: &H) -> u64 {
    host.config().handshake_timeout_ms()
}

/// Counts a connection this core turned away (or a failed accept) in its
/// summary, and logs the summary line when one is due, now or (in a task of
/// its own) at the end of the interval.
fn turned_away<H: Host>(host: &Rc<H>, what: summary::Turned<'_>) {
    let next = host.transport().turned.borrow_mut().note(crate::clock::now(), what);
    match next {
        summary::Next::Log(line) => tracing::warn!(core = %host.core_id(), "{line}"),
        summary::Next::WakeAt(at) => {
            let host = host.clone();
            glommio::spawn_local(async move {
                glommio::timer::sleep(at.saturating_duration_since(crate::clock::now())).await;
                let line = host.transport().turned.borrow_mut().on_wake(crate::clock::now());
                if let Some(line) = line {
                    tracing::warn!(core = %host.core_id(), "{line}");
                }
            })
            .detach();
        }
        summary::Next::Nothing => {}
    }
}

/// The link to `node`, dialing it if this core has none but the node is
/// known (another core met it). `None`: the node is unknown here.
pub(crate) fn link_to<H: Host>(host: &Rc<H>, node: NodeId) -> Result<Rc<Link>, NoLink> {
    let transport = host.transport();
    if let Some(link) = transport.get(node) {
        return Ok(link);
    }
    let record = host.directory().get(node);
    let mut fx = Vec::new();
    let route = rules(&**host).on_send(crate::clock::now(), node, record.as_ref(), &mut fx);
    carry_out(host, fx);
    match route {
        rules::Route::Queue => transport.get(node).ok_or(NoLink::Unknown),
        rules::Route::Unknown => Err(NoLink::Unknown),
        rules::Route::Lost => Err(NoLink::Lost),
    }
}

/// Why a send found no link to its node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NoLink {
    /// Nothing here knows where the node listens.
    Unknown,
    /// Its connection closed or went silent, and the cluster has not said
    /// yet whether it lives (`rules.rs`, `Route::Lost`).
    Lost,
}

/// The cluster heard from `node` after its connection was lost: sends to it
/// may dial again.
pub(crate) fn alive<H: Host>(host: &H, node: NodeId) {
    rules(host).on_alive(node);
}

/// This node takes its link to `node` down (no report): the cluster declared
/// the node gone, or its peer reads nothing back.
pub(crate) fn close<H: Host>(host: &H, node: NodeId) {
    let mut fx = Vec::new();
    rules(host).on_close(node, &mut fx);
    for effect in fx {
        carry_out_here(host, effect);
    }
}

/// Dials a node's core by node id, as the rules asked, in a task of its own
/// that then runs the connection.
fn spawn_dial<H: Host>(host: &Rc<H>, dial: Dial, addr: SocketAddr) {
    let host = host.clone();
    glommio::spawn_local(async move {
        let Some(node) = dial.node else { return };
        match dial_handshake(&*host, addr, dial.peer_core).await {
            Ok((answered, wire)) => {
                if answered != node {
                    tracing::warn!(core = %host.core_id(), peer = %node, %addr, other = %answered, "another node answered the dial");
                }
                let mut fx = Vec::new();
                let role = rules(&*host).on_dial_done(crate::clock::now(), dial, answered, &mut fx);
                carry_out(&host, fx);
                run_connection(host, node, dial.conn, dial.peer_core, role, wire).await;
            }
            Err(ConnError::Duplicate { .. }) => {
                tracing::debug!(core = %host.core_id(), peer = %node, "both nodes dialed; using the peer's connection");
                rules(&*host).on_dial_refused(crate::clock::now(), dial);
            }
            Err(e) => {
                let mut fx = Vec::new();
                rules(&*host).on_dial_failed(dial, &mut fx);
                if !fx.is_empty() {
                    tracing::warn!(core = %host.core_id(), peer = %node, %addr, error = %e, "could not connect");
                }
                carry_out(&host, fx);
            }
        }
    })
    .detach();
}

/// Dials `addr` (a node's core 0: `NodeHandle::connect`), runs the handshake,
/// then runs the connection in a task of its own. Returns the peer's node id
/// once the handshake is done, or, when the peer refused this dial as a
/// duplicate of its own, once the peer's connection is up here.
pub(crate) async fn connect<H: Host>(host: &Rc<H>, addr: SocketAddr) -> Result<NodeId, ConnError> {
    let dial = rules(&**host).on_dial_addr(addr, 0);
    match dial_handshake(&**host, addr, dial.peer_core).await {
        Ok((node, wire)) => {
            let mut fx = Vec::new();
            let role = rules(&**host).on_dial_done(crate::clock::now(), dial, node, &mut fx);
            carry_out(host, fx);
            let host = host.clone();
            glommio::spawn_local(async move {
                run_connection(host, node, dial.conn, dial.peer_core, role, wire).await
            })
            .detach();
            Ok(node)
        }
        Err(ConnError::Duplicate { peer, .. }) => {
            rules(&**host).on_dial_refused(crate::clock::now(), dial);
            let node = NodeId(peer.node_id);
            tracing::debug!(core = %host.core_id(), peer = %node, "both nodes dialed; using the peer's connection");
            wait_until_up(&**host, node, handshake_timeout_ms(&**host)).await?;
            Ok(node)
        }
        Err(e) => {
            let mut fx = Vec::new();
            rules(&**host).on_dial_failed(dial, &mut fx);
            carry_out(host, fx);
            Err(e)
        }
    }
}

/// Waits until this core's link to `node` is up (the peer's dial that won
/// over ours), at most `timeout_ms` (the handshake deadline: the peer's
/// handshake with this core has as long).
async fn wait_until_up<H: Host>(host: &H, node: NodeId, timeout_ms: u64) -> Result<(), ConnError> {
    let deadline = crate::clock::now() + Duration::from_millis(timeout_ms);
    loop {
        if rules(host).state(node) == LinkState::Up {
            return Ok(());
        }
        if crate::clock::now() >= deadline {
            return Err(ConnError::Timeout { addr: format!("node {node}"), deadline_ms: timeout_ms });
        }
        glommio::timer::sleep(Duration::from_millis(1)).await;
    }
}

/// Dials `addr` and runs the client handshake, the two together bounded by
/// one deadline from now: a server that trickles its Hello, or never answers,
/// fails the dial with [`ConnError::Timeout`] when it passes.
async fn dial_handshake<H: Host>(
    host: &H,
    addr: SocketAddr,
    peer_core: u16,
) -> Result<(NodeId, Wire), ConnError> {
    let deadline_ms = handshake_timeout_ms(host);
    let deadline = crate::clock::now() + Duration::from_millis(deadline_ms);
    let dial = async {
        let io = |source| ConnError::Io { addr: addr.to_string(), source };
        let mut stream =
            TcpStream::connect(addr).await.map_err(|e| io(std::io::Error::other(e.to_string())))?;
        let mut nonce = [0u8; 32];
        socket::random_bytes(&mut nonce).map_err(io)?;
        let mut hello = Vec::new();
        let hs = Handshake::client(local_info(host, peer_core), host.config().cookie(), nonce, &mut hello)
            .map_err(|source| ConnError::Handshake { addr: addr.to_string(), source })?;
        let mut tls = start_tls(host, &mut stream, &addr.to_string(), true).await?;
        let (peer, first) = conn::handshake(&mut stream, tls.as_mut(), hs, hello, None).await?;
        Ok((peer, Wire { stream, tls, first }))
    };
    let (peer, wire) = conn::by_deadline(deadline, deadline_ms, || addr.to_string(), dial).await?;
    let node = learn_peer(host, &peer, addr.ip())?;
    Ok((node, wire))
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

/// Runs an established connection `conn` to `node`'s core `peer_core` in the
/// role the rules gave it: a writer sends the link's frames on it (and the
/// link goes down when it ends), a reader is only read, `Close` drops it.
async fn run_connection<H: Host>(
    host: Rc<H>,
    node: NodeId,
    conn: ConnId,
    peer_core: u16,
    role: Role,
    wire: Wire,
) {
    let Wire { stream, tls, first } = wire;
    let link = match (role, host.transport().get(node)) {
        (Role::Writer | Role::Reader, Some(link)) => link,
        _ => return,
    };
    host.stats().connections_opened.add(1);
    let decoder = Decoder::new(host.max_payload_bytes());
    let result = if role == Role::Reader {
        conn::run_reader(&*host, link, stream, tls, first, decoder).await
    } else {
        match socket::split(stream) {
            Ok((reader, writer)) => {
                link.set_up();
                let l = link.clone();
                let sealer = tls.as_ref().map(tls::Session::writer);
                glommio::spawn_local(async move {
                    let _ = conn::run_writer(l, writer, sealer).await;
                })
                .detach();
                conn::run_reader(&*host, link, reader, tls, first, decoder).await
            }
            Err(e) => {
                tracing::warn!(core = %host.core_id(), peer = %node, %peer_core, error = %e, "could not split socket");
                close(&*host, node);
                Ok(())
            }
        }
    };
    let mut fx = Vec::new();
    let news = rules(&*host).on_connection_ended(node, conn, host.stopping(), &mut fx);
    if news {
        match result {
            Ok(()) => tracing::info!(core = %host.core_id(), peer = %node, "peer closed the connection"),
            Err(e) => tracing::warn!(core = %host.core_id(), peer = %node, error = %e, "connection closed"),
        }
    }
    carry_out(&host, fx);
    host.stats().connections_closed.add(1);
}

/// How long the accept loop waits after a failed accept before it tries
/// again: a node out of file descriptors frees some as handshakes end, and
/// the connection waits in the kernel's backlog meanwhile.
const ACCEPT_RETRY: Duration = Duration::from_millis(10);

/// Accepts connections on this core's listener for as long as the core runs.
/// A connection over one of the node's handshake bounds is closed at once,
/// before a byte of it is read.
pub(crate) async fn accept_loop<H: Host>(host: Rc<H>, listener: TcpListener) {
    loop {
        match listener.accept().await {
            Ok(stream) => {
                let accepted = crate::clock::now();
                let from = stream.peer_addr().map(|a| a.ip()).unwrap_or(std::net::Ipv4Addr::LOCALHOST.into());
                match host.admit(from) {
                    Ok(admission) => {
                        let host = host.clone();
                        glommio::spawn_local(serve_inbound(host, stream, from, accepted, admission)).detach();
                    }
                    Err(shed) => {
                        drop(stream);
                        host.stats().handshakes_shed.add(1);
                        if shed == host::Shed::Source {
                            host.stats().handshakes_shed_per_source.add(1);
                        }
                        turned_away(&host, summary::Turned::Shed(shed));
                    }
                }
            }
            Err(e) => {
                host.stats().accept_errors.add(1);
                let e = std::io::Error::other(e.to_string());
                turned_away(&host, summary::Turned::AcceptFailed(&e));
                glommio::timer::sleep(ACCEPT_RETRY).await;
            }
        }
    }
}

/// Runs the server handshake on a connection accepted at `accepted` from
/// `seen_from`, which holds `admission` (its place in the node's handshake
/// bounds) until the handshake ends, then runs the connection.
async fn serve_inbound<H: Host>(
    host: Rc<H>,
    mut stream: TcpStream,
    seen_from: std::net::IpAddr,
    accepted: std::time::Instant,
    admission: H::Admission,
) {
    let mut nonce = [0u8; 32];
    if let Err(e) = socket::random_bytes(&mut nonce) {
        tracing::warn!(error = %e, "no entropy for a handshake nonce");
        return;
    }
    let hs = Handshake::server(local_info(&*host, host.core_id().0), host.config().cookie(), nonce);
    let judge = |peer: &coremesh_wire::PeerInfo| {
        let record = decode_advert(&peer.advert, seen_from).ok();
        let addr = record.and_then(|r| r.cores.get(usize::from(peer.core)).copied());
        match rules(&*host).on_inbound(NodeId(peer.node_id), peer.core, addr) {
            Verdict::Accept => None,
            Verdict::RefuseDuplicate => Some(coremesh_wire::RefuseReason::Duplicate),
        }
    };
    let deadline_ms = handshake_timeout_ms(&*host);
    let deadline = accepted + Duration::from_millis(deadline_ms);
    let from = seen_from.to_string();
    let shake = async {
        let mut tls = start_tls(&*host, &mut stream, &from, false).await?;
        let (peer, first) = conn::handshake(&mut stream, tls.as_mut(), hs, Vec::new(), Some(&judge)).await?;
        Ok((peer, tls, first))
    };
    let done = conn::by_deadline(deadline, deadline_ms, || seen_from.to_string(), shake).await;
    drop(admission);
    let done =
        done.and_then(|(peer, tls, first)| Ok((learn_peer(&*host, &peer, seen_from)?, peer, tls, first)));
    let (node, peer, tls, first) = match done {
        Ok(done) => done,
        Err(ConnError::Duplicate { peer, .. }) => {
            tracing::debug!(core = %host.core_id(), peer = %NodeId(peer.node_id), "both nodes dialed; keeping ours");
            host.stats().duplicate_connections.add(1);
            return;
        }
        Err(e) => {
            // Closed before it is counted and logged.
            drop(stream);
            host.stats().refused_connections.add(1);
            if matches!(e, ConnError::Timeout { .. }) {
                host.stats().handshake_timeouts.add(1);
                turned_away(&host, summary::Turned::TimedOut);
            } else {
                turned_away(&host, summary::Turned::Refused(&e));
            }
            return;
        }
    };
    let mut fx = Vec::new();
    let (conn, role) = rules(&*host).on_accepted(crate::clock::now(), node, peer.core, &mut fx);
    carry_out(&host, fx);
    run_connection(host, node, conn, peer.core, role, Wire { stream, tls, first }).await;
}
