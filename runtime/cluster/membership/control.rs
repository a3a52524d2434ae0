//! The control thread's work: SWIM membership with foca over UDP, and what
//! follows from it.
//!
//! Owns: the gossip socket (UDP, on core 0's listen address and port), the
//! packet envelope (a 16-byte HMAC-SHA256 tag over the cluster name and the
//! body, keyed with the cookie, so a packet from outside the cluster is dropped
//! unread), foca's timers, announcing to seeds until a member answers, the
//! graceful-leave exchange (Leave, LeaveAck), the liveness probe of a node whose
//! connection closed (Probe, ProbeAck: a killed node is declared down at once,
//! a live one is not), and turning every membership change into work for the
//! worker cores (learn the member's addresses and dial it; or drop its links,
//! fail asks to it, and tell monitors).
//!
//! Must never: block on a worker core, sleep longer than the next foca timer or
//! 10 ms (worker reports wait that long at most), or act on a packet whose tag
//! does not verify.

use std::collections::HashMap;
use std::net::{SocketAddr, UdpSocket};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use foca::{AccumulatingRuntime, Foca, Member as FocaMember, OwnedNotification, PostcardCodec, Timer};
use hmac::{Hmac, Mac};
use rand::SeedableRng;
use sha2::Sha256;

use super::identity::GossipId;
use super::{ControlReport, Member, MemberStatus};
use crate::ids::{CoreId, NodeId};
use crate::node::handle::{CoreCommand, NodeHandle, NodeShared};
use crate::transport::directory::PeerRecord;
use crate::transport::heartbeat::PeerReport;

const TAG_BYTES: usize = 16;
const KIND_FOCA: u8 = 0;
const KIND_LEAVE: u8 = 1;
const KIND_LEAVE_ACK: u8 = 2;
const KIND_PROBE: u8 = 3;
const KIND_PROBE_ACK: u8 = 4;
/// The longest the loop sleeps, so reports from worker cores wait no longer.
const MAX_SLEEP: Duration = Duration::from_millis(10);
/// How long a node that closed a connection has to answer a probe.
const PROBE_WAIT: Duration = Duration::from_millis(300);
/// How long a leaving node waits for its members to acknowledge.
const LEAVE_WAIT: Duration = Duration::from_millis(500);
/// How often a node with no member yet announces itself to its seeds again.
const SEED_RETRY: Duration = Duration::from_millis(300);

type Fc = Foca<GossipId, PostcardCodec, rand::rngs::StdRng, foca::NoCustomBroadcast>;

/// Everything the control thread needs, made on the starting thread.
pub(crate) struct Control {
    shared: Arc<NodeShared>,
    handle: NodeHandle,
    socket: UdpSocket,
    me: GossipId,
    foca: Fc,
    rt: AccumulatingRuntime<GossipId>,
    timers: Vec<(Instant, Timer<GossipId>)>,
    /// The latest identity of every member foca told us about, by node.
    known: HashMap<NodeId, GossipId>,
    probes: HashMap<NodeId, Instant>,
    key: Hmac<Sha256>,
    events: mpsc::Receiver<ControlReport>,
    next_seed_announce: Instant,
    /// Set once this node leaves: foca then calls it down, which is expected.
    leaving: bool,
}

/// The foca settings derived from the node's heartbeat settings: a probe every
/// heartbeat interval, suspicion lasting the connection timeout, and quick
/// re-announcing to members declared down, so a healed partition converges.
fn foca_config(interval: Duration, timeout: Duration) -> foca::Config {
    let mut c = foca::Config::new_lan(std::num::NonZeroU32::new(16).unwrap_or(std::num::NonZeroU32::MIN));
    c.probe_period = interval.max(Duration::from_millis(50));
    c.probe_rtt = (interval / 2).max(Duration::from_millis(20));
    c.suspect_to_down_after = timeout;
    c.periodic_announce_to_down_members = Some(foca::PeriodicParams {
        frequency: Duration::from_secs(1),
        num_members: std::num::NonZeroUsize::MIN,
    });
    c
}

/// Binds the gossip socket on core 0's TCP address (same IP and port, UDP).
pub(crate) fn bind(addr: SocketAddr) -> std::io::Result<UdpSocket> {
    UdpSocket::bind(addr)
}

/// The IP other nodes reach this one at: the listen IP, or, for an unspecified
/// one, the address this host would send from (to the first seed, else to any
/// route; loopback if it has none).
pub(crate) fn advertised_ip(listen: SocketAddr, seeds: &[SocketAddr]) -> std::net::IpAddr {
    if !listen.ip().is_unspecified() {
        return listen.ip();
    }
    let probe_to = seeds.first().copied().unwrap_or_else(|| "192.0.2.1:9".parse().expect("literal"));
    UdpSocket::bind(SocketAddr::new(listen.ip(), 0))
        .and_then(|s| s.connect(probe_to).and_then(|()| s.local_addr()))
        .map(|a| a.ip())
        .ok()
        .filter(|ip| !ip.is_unspecified())
        .unwrap_or(std::net::Ipv4Addr::LOCALHOST.into())
}

impl Control {
    pub(crate) fn new(
        shared: Arc<NodeShared>,
        socket: UdpSocket,
        ip: std::net::IpAddr,
        events: mpsc::Receiver<ControlReport>,
    ) -> Result<Control, String> {
        let ports = shared.listen_ports();
        let port = socket.local_addr().map_err(|e| e.to_string())?.port();
        let me = GossipId {
            node: shared.id.0,
            addr: SocketAddr::new(ip, port),
            ports,
            started_ns: crate::clock::unix_now_ns(),
            bump: 0,
        };
        let cfg = &shared.config;
        let config = foca_config(
            Duration::from_millis(cfg.heartbeat_interval_ms()),
            Duration::from_millis(cfg.connection_timeout_ms()),
        );
        let rng = rand::rngs::StdRng::seed_from_u64(me.node ^ me.started_ns);
        let foca = Foca::new(me.clone(), config, rng, PostcardCodec);
        let key = Hmac::<Sha256>::new_from_slice(cfg.cookie()).map_err(|e| e.to_string())?;
        socket.set_read_timeout(Some(MAX_SLEEP)).map_err(|e| e.to_string())?;
        // This node is a member from the start (before `Node::start` returns).
        let myself = Member {
            node: me.node_id(),
            addr: me.addr,
            cores: me.ports.len() as u16,
            status: MemberStatus::Up,
        };
        shared.membership.update(myself);
        Ok(Control {
            handle: NodeHandle::from_shared(shared.clone()),
            shared,
            socket,
            me,
            foca,
            rt: AccumulatingRuntime::new(),
            timers: Vec::new(),
            known: HashMap::new(),
            probes: HashMap::new(),
            key,
            events,
            next_seed_announce: crate::clock::now(),
            leaving: false,
        })
    }

    /// Runs membership until `stop` says so (or its sender is gone), then
    /// leaves the cluster.
    pub(crate) fn run(mut self, stop: mpsc::Receiver<()>) {
        let mut buf = vec![0u8; 64 * 1024];
        while let Err(mpsc::TryRecvError::Empty) = stop.try_recv() {
            self.announce_to_seeds();
            self.flush();
            let wait = self.timers.iter().map(|t| t.0).min().map_or(MAX_SLEEP, |at| {
                at.saturating_duration_since(crate::clock::now()).clamp(Duration::from_millis(1), MAX_SLEEP)
            });
            let _ = self.socket.set_read_timeout(Some(wait));
            if let Ok((n, from)) = self.socket.recv_from(&mut buf) {
                let packet = buf[..n].to_vec();
                self.on_packet(&packet, from);
            }
            self.fire_timers();
            while let Ok(event) = self.events.try_recv() {
                self.on_event(event);
            }
            self.expire_probes();
        }
        self.leave(&mut buf);
    }

    fn member_of(&self, id: &GossipId, status: MemberStatus) -> Member {
        Member { node: id.node_id(), addr: id.addr, cores: id.ports.len() as u16, status }
    }

    /// Until some member answered, announce to every seed now and then.
    fn announce_to_seeds(&mut self) {
        let now = crate::clock::now();
        let seeds = self.shared.config.seeds();
        if seeds.is_empty() || now < self.next_seed_announce || self.foca.iter_members().next().is_some() {
            return;
        }
        self.next_seed_announce = now + SEED_RETRY;
        for seed in seeds.iter().copied().filter(|s| *s != self.me.addr) {
            if let Err(e) = self.foca.announce(GossipId::seed(seed), &mut self.rt) {
                tracing::debug!(%seed, error = %e, "announce failed");
            }
        }
    }

    /// Joins the member at `addr` (after `NodeHandle::connect` reached it).
    fn announce_to(&mut self, addr: SocketAddr) {
        if let Err(e) = self.foca.announce(GossipId::seed(addr), &mut self.rt) {
            tracing::debug!(%addr, error = %e, "announce failed");
        }
    }

    fn seal(&self, kind: u8, body: &[u8]) -> Vec<u8> {
        let mut mac = self.key.clone();
        mac.update(self.shared.config.cluster().as_bytes());
        mac.update(&[kind]);
        mac.update(body);
        let tag = mac.finalize().into_bytes();
        let mut out = Vec::with_capacity(TAG_BYTES + 1 + body.len());
        out.extend_from_slice(&tag[..TAG_BYTES]);
        out.push(kind);
        out.extend_from_slice(body);
        out
    }

    /// The kind and body of a packet whose tag verifies.
    fn open<'p>(&self, packet: &'p [u8]) -> Option<(u8, &'p [u8])> {
        let (tag, rest) = packet.split_at_checked(TAG_BYTES)?;
        let (&kind, body) = rest.split_first()?;
        let mut mac = self.key.clone();
        mac.update(self.shared.config.cluster().as_bytes());
        mac.update(&[kind]);
        mac.update(body);
        mac.verify_truncated_left(tag).ok()?;
        Some((kind, body))
    }

    fn send(&self, to: SocketAddr, kind: u8, body: &[u8]) {
        if let Err(e) = self.socket.send_to(&self.seal(kind, body), to) {
            tracing::debug!(%to, error = %e, "gossip send failed");
        }
    }

    fn on_packet(&mut self, packet: &[u8], from: SocketAddr) {
        let Some((kind, body)) = self.open(packet) else {
            tracing::debug!(%from, bytes = packet.len(), "gossip packet dropped: bad tag (another cluster or cookie)");
            return;
        };
        let node = body.first_chunk::<8>().map(|b| NodeId(u64::from_le_bytes(*b)));
        match (kind, node) {
            (KIND_FOCA, _) => {
                if let Err(e) = self.foca.handle_data(body, &mut self.rt) {
                    tracing::debug!(%from, error = %e, "gossip packet refused by foca");
                }
            }
            (KIND_LEAVE, Some(node)) => {
                self.send(from, KIND_LEAVE_ACK, &self.me.node.to_le_bytes());
                if let Some(id) = self.known.get(&node).cloned() {
                    self.member_gone(&id, MemberStatus::Left);
                }
            }
            (KIND_PROBE, Some(_)) => self.send(from, KIND_PROBE_ACK, &self.me.node.to_le_bytes()),
            (KIND_PROBE_ACK, Some(node)) => {
                self.probes.remove(&node);
            }
            (KIND_LEAVE_ACK, _) => {}
            _ => tracing::debug!(%from, kind, "gossip packet of unknown kind dropped"),
        }
    }

    fn fire_timers(&mut self) {
        let now = crate::clock::now();
        let mut due = Vec::new();
        self.timers.retain(|(at, t)| {
            if *at <= now {
                due.push(t.clone());
                false
            } else {
                true
            }
        });
        for t in due {
            if let Err(e) = self.foca.handle_timer(t, &mut self.rt) {
                tracing::debug!(error = %e, "foca timer failed");
            }
        }
    }

    /// Sends what foca wrote, schedules its timers, and acts on its news.
    fn flush(&mut self) {
        while let Some((to, data)) = self.rt.to_send() {
            self.send(to.addr, KIND_FOCA, &data);
        }
        let now = crate::clock::now();
        while let Some((after, timer)) = self.rt.to_schedule() {
            self.timers.push((now + after, timer));
        }
        while let Some(n) = self.rt.to_notify() {
            self.on_notification(n);
        }
    }

    fn on_notification(&mut self, n: OwnedNotification<GossipId>) {
        match n {
            OwnedNotification::MemberUp(id) => self.member_up(id),
            OwnedNotification::MemberDown(id) if self.known.get(&id.node_id()) == Some(&id) => {
                self.member_gone(&id, MemberStatus::Down);
            }
            OwnedNotification::Rename(old, new) => {
                if old.node != new.node {
                    // Restarted at the same address: the old node id is gone for
                    // good, and the new one is a member of its own. foca raises
                    // no MemberUp for it when the old identity was still active
                    // (the active set did not change), so it is raised here.
                    self.member_gone(&old, MemberStatus::Down);
                    if self.foca.iter_members().any(|m| m.id() == &new) {
                        self.member_up(new);
                        return;
                    }
                }
                self.known.insert(new.node_id(), new);
            }
            OwnedNotification::Rejoin(id) => {
                tracing::info!(node = %id.node_id(), bump = id.bump, "declared down by the cluster; rejoined");
                self.me = id;
            }
            OwnedNotification::Defunct if !self.leaving => {
                tracing::warn!("declared down by the cluster and cannot rejoin")
            }
            OwnedNotification::Active | OwnedNotification::Idle => {}
            #[allow(unreachable_patterns)]
            _ => {}
        }
    }

    fn member_up(&mut self, id: GossipId) {
        let node = id.node_id();
        self.known.insert(node, id.clone());
        self.probes.remove(&node);
        self.shared.directory.insert(node, PeerRecord { cores: id.core_addrs() });
        if self.shared.membership.update(self.member_of(&id, MemberStatus::Up)).is_none() {
            return;
        }
        tracing::info!(%node, addr = %id.addr, cores = id.ports.len(), "member up");
        // The lower node id dials; the other side's cores dial on their first
        // send, and a simultaneous dial keeps one connection.
        if self.shared.id < node {
            for core in 0..self.handle.cores() {
                self.handle.core_command(CoreId(core as u16), CoreCommand::Dial(node));
            }
        }
    }

    /// `id` left or was declared down: every core drops its links to it, fails
    /// asks in flight to it and tells monitors; sends to it now fail as gone.
    fn member_gone(&mut self, id: &GossipId, status: MemberStatus) {
        let node = id.node_id();
        self.probes.remove(&node);
        let event = self.shared.membership.update(self.member_of(id, status));
        if status == MemberStatus::Down {
            let update = FocaMember::down(id.clone());
            if let Err(e) = self.foca.apply_many(std::iter::once(update), true, &mut self.rt) {
                tracing::debug!(%node, error = %e, "could not declare down in the gossip");
            }
        }
        if event.is_some() {
            tracing::info!(%node, ?status, "member gone");
        }
        self.node_gone(node);
    }

    fn node_gone(&self, node: NodeId) {
        self.shared.directory.mark_gone(node);
        for core in 0..self.handle.cores() {
            self.handle.core_command(CoreId(core as u16), CoreCommand::NodeGone(node));
        }
    }

    fn on_event(&mut self, event: ControlReport) {
        match event {
            ControlReport::Peer(PeerReport::Unresponsive(node)) => match self.known.get(&node).cloned() {
                Some(id) if self.shared.membership.status(node) == Some(MemberStatus::Up) => {
                    tracing::warn!(%node, "no heartbeat within the connection timeout; declaring it down");
                    self.member_gone(&id, MemberStatus::Down);
                }
                Some(_) => {}
                None => self.node_gone(node),
            },
            ControlReport::Peer(PeerReport::Closed(node)) => {
                let Some(id) = self.known.get(&node) else { return };
                if self.shared.membership.status(node) == Some(MemberStatus::Up)
                    && !self.probes.contains_key(&node)
                {
                    let to = id.addr;
                    self.probes.insert(node, crate::clock::now() + PROBE_WAIT);
                    self.send(to, KIND_PROBE, &self.me.node.to_le_bytes());
                }
            }
            ControlReport::Joined(addr) => self.announce_to(addr),
        }
    }

    /// A node that closed a connection and did not answer the probe is gone.
    fn expire_probes(&mut self) {
        let now = crate::clock::now();
        let expired: Vec<NodeId> =
            self.probes.iter().filter(|(_, at)| **at <= now).map(|(n, _)| *n).collect();
        for node in expired {
            self.probes.remove(&node);
            if let Some(id) = self.known.get(&node).cloned() {
                tracing::warn!(%node, "connection closed and the node does not answer; declaring it down");
                self.member_gone(&id, MemberStatus::Down);
            }
        }
    }

    /// Tells every member this node leaves: a Leave each member acknowledges
    /// (waiting at most [`LEAVE_WAIT`]), then foca's own leave, so that peers
    /// hear "left" before the gossip says "down".
    fn leave(&mut self, buf: &mut [u8]) {
        self.leaving = true;
        let mut waiting: HashMap<NodeId, SocketAddr> = self
            .known
            .values()
            .filter(|id| self.shared.membership.status(id.node_id()) == Some(MemberStatus::Up))
            .map(|id| (id.node_id(), id.addr))
            .collect();
        let deadline = crate::clock::now() + LEAVE_WAIT;
        let mut next_send = crate::clock::now();
        while !waiting.is_empty() && crate::clock::now() < deadline {
            if crate::clock::now() >= next_send {
                for to in waiting.values() {
                    self.send(*to, KIND_LEAVE, &self.me.node.to_le_bytes());
                }
                next_send = crate::clock::now() + Duration::from_millis(50);
            }
            let _ = self.socket.set_read_timeout(Some(Duration::from_millis(10)));
            if let Ok((n, _)) = self.socket.recv_from(buf) {
                if let Some((KIND_LEAVE_ACK, body)) = self.open(&buf[..n]) {
                    if let Some(b) = body.first_chunk::<8>() {
                        waiting.remove(&NodeId(u64::from_le_bytes(*b)));
                    }
                }
            }
        }
        if !waiting.is_empty() {
            tracing::info!(
                unacknowledged = waiting.len(),
                "leaving the cluster; some members did not acknowledge"
            );
        }
        if let Err(e) = self.foca.leave_cluster(&mut self.rt) {
            tracing::debug!(error = %e, "foca leave failed");
        }
        self.flush();
    }
}
