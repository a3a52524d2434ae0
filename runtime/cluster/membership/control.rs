//! The control thread: the driver of the membership machine.
//!
//! Owns: the gossip socket (UDP, on core 0's listen address and port), the
//! clock reads, the timer heap, the receiving end of the worker cores' reports,
//! and carrying out the machine's [`Effects`]: sending packets, publishing
//! members in the shared view, updating the peer directory, and queueing typed
//! [`CoreCommand`]s on every worker core. What membership *decides* lives in
//! `machine.rs`.
//!
//! Must never: decide anything about membership itself, block on a worker
//! core, send a core code to run (only [`CoreCommand`]s), or sleep longer than
//! the next timer or [`MAX_SLEEP`] (worker reports wait that long at most).

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::net::{SocketAddr, UdpSocket};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use rand::SeedableRng;

use super::identity::GossipId;
use super::machine::{Effects, Membership, Settings, Timer, LEAVE_WAIT};
use super::{ControlReport, Member};
use crate::core::shared::{CoreCommand, NodeShared};
use crate::ids::{CoreId, NodeId};
use crate::transport::directory::PeerRecord;

/// The longest the loop sleeps, so reports from worker cores wait no longer.
const MAX_SLEEP: Duration = Duration::from_millis(10);
/// The largest gossip packet read.
const PACKET_BYTES_MAX: usize = 64 * 1024;

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

/// A timer set by the machine, due at `at`; `seq` keeps equal deadlines in
/// the order they were set.
struct Due {
    at: Instant,
    seq: u64,
    timer: Timer,
}

impl PartialEq for Due {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}
impl Eq for Due {}
impl PartialOrd for Due {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Due {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.at, self.seq).cmp(&(other.at, other.seq))
    }
}

/// The world as the machine's effects reach it.
struct Io {
    shared: Arc<NodeShared>,
    socket: UdpSocket,
    /// The time the machine was called with: timers count from it.
    now: Instant,
    timers: BinaryHeap<Reverse<Due>>,
    next_seq: u64,
}

impl Io {
    /// The next timer due by `now`, taken off the heap.
    fn pop_due(&mut self, now: Instant) -> Option<Timer> {
        if self.timers.peek().is_some_and(|Reverse(d)| d.at <= now) {
            return self.timers.pop().map(|Reverse(d)| d.timer);
        }
        None
    }

    /// How long to wait for a packet: until the next timer, within [1 ms, MAX_SLEEP].
    fn wait(&self, now: Instant) -> Duration {
        self.timers.peek().map_or(MAX_SLEEP, |Reverse(d)| {
            d.at.saturating_duration_since(now).clamp(Duration::from_millis(1), MAX_SLEEP)
        })
    }
}

impl Effects for Io {
    fn send_to(&mut self, to: SocketAddr, packet: Vec<u8>) {
        if let Err(e) = self.socket.send_to(&packet, to) {
            tracing::debug!(%to, error = %e, "gossip send failed");
        }
    }

    fn set_timer(&mut self, after: Duration, timer: Timer) {
        self.next_seq += 1;
        self.timers.push(Reverse(Due { at: self.now + after, seq: self.next_seq, timer }));
    }

    fn peer_learned(&mut self, node: NodeId, cores: Vec<SocketAddr>) {
        self.shared.directory.insert(node, PeerRecord { cores });
    }

    fn peer_gone(&mut self, node: NodeId) {
        self.shared.directory.mark_gone(node);
    }

    fn core_command(&mut self, cmd: CoreCommand) {
        for core in 0..self.shared.cores.len() {
            self.shared.core_command(CoreId(core as u16), cmd);
        }
    }

    fn member_changed(&mut self, member: Member) {
        self.shared.membership.update(member);
    }
}

/// Everything the control thread needs, made on the starting thread.
pub(crate) struct Control {
    machine: Membership,
    io: Io,
    reports: mpsc::Receiver<ControlReport>,
}

impl Control {
    /// Makes the machine for this node and starts it: this node is a member
    /// from the start (before `Node::start` returns), and it announces itself
    /// to its seeds.
    pub(crate) fn new(
        shared: Arc<NodeShared>,
        socket: UdpSocket,
        ip: std::net::IpAddr,
        reports: mpsc::Receiver<ControlReport>,
    ) -> Result<Control, String> {
        let port = socket.local_addr().map_err(|e| e.to_string())?.port();
        let me = GossipId {
            node: shared.id.0,
            addr: SocketAddr::new(ip, port),
            ports: shared.listen_ports(),
            started_ns: crate::clock::unix_now_ns(),
            bump: 0,
        };
        let cfg = &shared.config;
        let settings = Settings {
            cluster: cfg.cluster().to_string(),
            cookie: cfg.cookie().to_vec(),
            seeds: cfg.seeds().to_vec(),
            heartbeat_interval: Duration::from_millis(cfg.heartbeat_interval_ms()),
            connection_timeout: Duration::from_millis(cfg.connection_timeout_ms()),
        };
        let rng = rand::rngs::StdRng::seed_from_u64(me.node ^ me.started_ns);
        let mut machine = Membership::new(me, &settings, rng)?;
        socket.set_read_timeout(Some(MAX_SLEEP)).map_err(|e| e.to_string())?;
        let now = crate::clock::now();
        let mut io = Io { shared, socket, now, timers: BinaryHeap::new(), next_seq: 0 };
        machine.start(now, &mut io);
        Ok(Control { machine, io, reports })
    }

    /// Runs membership until `stop` says so (or its sender is gone), then
    /// leaves the cluster.
    pub(crate) fn run(mut self, stop: mpsc::Receiver<()>) {
        let mut buf = vec![0u8; PACKET_BYTES_MAX];
        // A shutdown requested through any handle (or by a runtime panic,
        // `crate::node::fatal`) is a leave too, not only `Node::shutdown`.
        while let Err(mpsc::TryRecvError::Empty) = stop.try_recv() {
            if self.io.shared.stopping.is_set() {
                break;
            }
            self.receive(&mut buf);
            self.fire_timers();
            while let Ok(report) = self.reports.try_recv() {
                self.io.now = crate::clock::now();
                self.machine.on_report(self.io.now, report, &mut self.io);
            }
        }
        self.io.now = crate::clock::now();
        // The machine ends the leave by LEAVE_WAIT; the driver's own bound
        // only guards against a bug there.
        let give_up = self.io.now + 2 * LEAVE_WAIT;
        self.machine.leave(self.io.now, &mut self.io);
        while !self.machine.has_left() {
            if crate::clock::now() >= give_up {
                tracing::warn!("the leave did not finish in time; stopping anyway");
                break;
            }
            self.receive(&mut buf);
            self.fire_timers();
        }
    }

    /// Waits for one packet, until the next timer at most, and hands it in.
    fn receive(&mut self, buf: &mut [u8]) {
        let _ = self.io.socket.set_read_timeout(Some(self.io.wait(crate::clock::now())));
        if let Ok((n, from)) = self.io.socket.recv_from(buf) {
            self.io.now = crate::clock::now();
            self.machine.on_packet(self.io.now, from, &buf[..n], &mut self.io);
        }
    }

    fn fire_timers(&mut self) {
        let now = crate::clock::now();
        while let Some(timer) = self.io.pop_due(now) {
            self.io.now = now;
            self.machine.on_timer(now, timer, &mut self.io);
        }
    }
}
