//! Plain synchronous tests of the membership machine: a few machines wired
//! together in memory, a fake clock that moves only when a test says so, and
//! seeded RNGs; no socket, no thread. Packets arrive at once; a dead machine
//! neither hears nor speaks. Each test asserts on the effects.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use rand::SeedableRng;

use super::*;
use crate::cluster::membership::envelope::{Envelope, Kind, Stamp};

const INTERVAL: Duration = Duration::from_millis(100);
const TIMEOUT: Duration = Duration::from_millis(1000);
const COOKIE: &[u8] = b"the cookie";
const CLUSTER: &str = "machines";

/// What a machine did, in order (packets and timers are kept apart).
#[derive(Debug, Clone, PartialEq, Eq)]
enum Seen {
    Learned(NodeId),
    Gone(NodeId),
    Command(CoreCommand),
    Member(NodeId, MemberStatus),
}

/// The effects sink of one machine.
struct Fx {
    now: Instant,
    sent: Vec<(SocketAddr, Vec<u8>)>,
    timers: Vec<(Instant, Timer)>,
    seen: Vec<Seen>,
}

impl Effects for Fx {
    fn send_to(&mut self, to: SocketAddr, packet: Vec<u8>) {
        self.sent.push((to, packet));
    }
    fn set_timer(&mut self, after: Duration, timer: Timer) {
        self.timers.push((self.now + after, timer));
    }
    fn peer_learned(&mut self, node: NodeId, cores: Vec<SocketAddr>) {
        assert_eq!(cores.len(), 2, "every test node runs two cores");
        self.seen.push(Seen::Learned(node));
    }
    fn peer_gone(&mut self, node: NodeId) {
        self.seen.push(Seen::Gone(node));
    }
    fn core_command(&mut self, cmd: CoreCommand) {
        self.seen.push(Seen::Command(cmd));
    }
    fn member_changed(&mut self, member: Member) {
        self.seen.push(Seen::Member(member.node, member.status));
    }
}

impl Fx {
    fn saw(&self, what: &Seen) -> bool {
        self.seen.contains(what)
    }
    fn position(&self, what: &Seen) -> Option<usize> {
        self.seen.iter().position(|s| s == what)
    }
    fn dials(&self) -> Vec<NodeId> {
        self.seen
            .iter()
            .filter_map(|s| if let Seen::Command(CoreCommand::Dial(n)) = s { Some(*n) } else { None })
            .collect()
    }
}

struct Peer {
    m: Membership,
    fx: Fx,
    alive: bool,
}

/// One packet on the simulated wire.
#[derive(Debug)]
struct Wire {
    from: usize,
    to: SocketAddr,
    kind: Kind,
    delivered: bool,
}

struct Sim {
    now: Instant,
    peers: Vec<Peer>,
    wire: Vec<Wire>,
}

fn id(i: usize) -> NodeId {
    NodeId(i as u64 + 1)
}

fn addr(i: usize) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 7000 + 10 * i as u16))
}

fn settings(seeds: Vec<SocketAddr>) -> Settings {
    Settings {
        cluster: CLUSTER.into(),
        cookie: COOKIE.to_vec(),
        seeds,
        heartbeat_interval: INTERVAL,
        connection_timeout: TIMEOUT,
    }
}

impl Sim {
    /// `n` started machines: node 1 (index 0) has no seed, every other one has
    /// node 1 as its seed.
    fn new(n: usize) -> Sim {
        let now = crate::clock::now();
        let peers = (0..n)
            .map(|i| {
                let a = addr(i);
                let me = GossipId {
                    node: id(i).0,
                    addr: a,
                    ports: vec![a.port(), a.port() + 1],
                    started_ns: 1,
                    bump: 0,
                };
                let seeds = if i == 0 { vec![] } else { vec![addr(0)] };
                let rng = rand::rngs::StdRng::seed_from_u64(42 + i as u64);
                let m = Membership::new(me, &settings(seeds), rng).expect("a machine");
                let fx = Fx { now, sent: vec![], timers: vec![], seen: vec![] };
                Peer { m, fx, alive: true }
            })
            .collect();
        let mut sim = Sim { now, peers, wire: vec![] };
        for p in &mut sim.peers {
            p.m.start(now, &mut p.fx);
        }
        sim
    }

    fn p(&mut self, i: usize) -> &mut Peer {
        let now = self.now;
        let p = &mut self.peers[i];
        p.fx.now = now;
        p
    }

    /// Starts the cluster and runs it until every machine sees every other up.
    fn joined(n: usize) -> Sim {
        let mut sim = Sim::new(n);
        sim.run_for(Duration::from_secs(2));
        for i in 0..n {
            for j in 0..n {
                assert_eq!(sim.peers[i].m.status(id(j)), Some(MemberStatus::Up), "{} sees {}", id(i), id(j));
            }
        }
        sim
    }

    /// Delivers every packet in flight, and the answers, until none is left.
    fn deliver(&mut self) {
        let envelope = Envelope::new(COOKIE, CLUSTER).expect("an envelope");
        loop {
            let mut moved = false;
            for from in 0..self.peers.len() {
                for (to, packet) in std::mem::take(&mut self.peers[from].fx.sent) {
                    moved = true;
                    let kind = envelope.open(&packet).expect("machines seal what they send").0;
                    let target = (0..self.peers.len()).find(|j| addr(*j) == to);
                    let delivered = target.is_some_and(|j| self.peers[j].alive) && self.peers[from].alive;
                    self.wire.push(Wire { from, to, kind, delivered });
                    if let Some(j) = target.filter(|_| delivered) {
                        let now = self.now;
                        let p = self.p(j);
                        p.m.on_packet(now, addr(from), &packet, &mut p.fx);
                    }
                }
            }
            if !moved {
                return;
            }
        }
    }

    /// Runs the cluster for `d` of fake time: timers fire in order of their
    /// deadlines, on live machines only.
    fn run_for(&mut self, d: Duration) {
        let end = self.now + d;
        for _ in 0..1_000_000 {
            self.deliver();
            let next = self
                .peers
                .iter()
                .filter(|p| p.alive)
                .flat_map(|p| p.fx.timers.iter().map(|t| t.0))
                .min()
                .filter(|at| *at <= end);
            let Some(at) = next else {
                self.now = end;
                return;
            };
            self.now = self.now.max(at);
            for i in 0..self.peers.len() {
                if !self.peers[i].alive {
                    continue;
                }
                let (mut due, later): (Vec<_>, Vec<_>) =
                    std::mem::take(&mut self.peers[i].fx.timers).into_iter().partition(|t| t.0 <= self.now);
                self.peers[i].fx.timers = later;
                due.sort_by_key(|t| t.0);
                for (_, timer) in due {
                    let now = self.now;
                    let p = self.p(i);
                    p.m.on_timer(now, timer, &mut p.fx);
                }
            }
        }
        panic!("the simulation did not reach its end: a timer loop");
    }

    /// Kills (or revives) machine `i`: a dead one hears nothing and its timers wait.
    fn set_alive(&mut self, i: usize, alive: bool) {
        self.peers[i].alive = alive;
    }

    /// How many packets of `kind` machine `from` sent to machine `to`.
    fn wire_count(&self, from: usize, to: usize, kind: Kind) -> usize {
        self.wire.iter().filter(|w| w.from == from && w.to == addr(to) && w.kind == kind).count()
    }

    /// How many of those arrived.
    fn delivered_count(&self, from: usize, to: usize, kind: Kind) -> usize {
        self.wire
            .iter()
            .filter(|w| w.from == from && w.to == addr(to) && w.kind == kind && w.delivered)
            .count()
    }
}

#[test]
fn a_node_joins_through_its_seed_and_the_lower_id_dials() {
    let mut sim = Sim::new(2);
    // Each machine publishes itself first.
    assert_eq!(sim.peers[1].fx.seen.first(), Some(&Seen::Member(id(1), MemberStatus::Up)));
    sim.run_for(Duration::from_secs(2));
    for (i, other) in [(0, 1), (1, 0)] {
        let fx = &sim.peers[i].fx;
        assert!(fx.saw(&Seen::Member(id(other), MemberStatus::Up)), "{} never saw {} up", id(i), id(other));
        let learned = fx.position(&Seen::Learned(id(other))).expect("learned where it listens");
        assert!(learned < fx.position(&Seen::Member(id(other), MemberStatus::Up)).unwrap());
    }
    // Node 1 < node 2: node 1's cores dial, once; node 2's wait for it.
    assert_eq!(sim.peers[0].fx.dials(), vec![id(1)]);
    assert_eq!(sim.peers[1].fx.dials(), vec![]);
    let dial = sim.peers[0].fx.position(&Seen::Command(CoreCommand::Dial(id(1)))).unwrap();
    assert!(sim.peers[0].fx.position(&Seen::Learned(id(1))).unwrap() < dial);
    assert!(sim.wire_count(1, 0, Kind::Foca) > 0, "node 2 announced to its seed");
}

#[test]
fn three_nodes_join_from_one_seed_and_each_pair_is_dialed_by_its_lower_id() {
    let sim = Sim::joined(3);
    assert_eq!(sim.peers[0].fx.dials().len(), 2);
    assert_eq!(sim.peers[1].fx.dials(), vec![id(2)]);
    assert_eq!(sim.peers[2].fx.dials(), vec![]);
    assert!(sim.peers.iter().all(|p| !p.fx.seen.iter().any(|s| matches!(s, Seen::Gone(_)))));
}

#[test]
fn a_member_that_stops_answering_is_declared_down_and_every_core_drops_it() {
    let mut sim = Sim::joined(3);
    sim.set_alive(2, false);
    // Foca suspects it within a probe period or two, then waits the timeout.
    sim.run_for(TIMEOUT + 10 * INTERVAL);
    for i in [0, 1] {
        let fx = &sim.peers[i].fx;
        assert_eq!(sim.peers[i].m.status(id(2)), Some(MemberStatus::Down), "{} sees node 3", id(i));
        let gone = fx.position(&Seen::Gone(id(2))).expect("marked gone");
        let cmd =
            fx.position(&Seen::Command(CoreCommand::NodeGone(id(2)))).expect("NodeGone sent to the cores");
        assert!(gone < cmd, "sends fail as gone before the cores drop the node");
        assert!(fx.saw(&Seen::Member(id(2), MemberStatus::Down)));
        let gone_commands =
            fx.seen.iter().filter(|s| **s == Seen::Command(CoreCommand::NodeGone(id(2)))).count();
        assert_eq!(gone_commands, 1, "the cores drop it once");
        assert!(!fx.saw(&Seen::Command(CoreCommand::NodeGone(id(if i == 0 { 1 } else { 0 })))));
    }
}

#[test]
fn a_paused_member_is_declared_down_and_rejoins_under_the_same_id() {
    let mut sim = Sim::joined(2);
    sim.set_alive(1, false);
    sim.run_for(TIMEOUT + 10 * INTERVAL);
    assert_eq!(sim.peers[0].m.status(id(1)), Some(MemberStatus::Down));
    sim.set_alive(1, true);
    sim.run_for(Duration::from_secs(3));
    assert_eq!(sim.peers[0].m.status(id(1)), Some(MemberStatus::Up), "node 2 came back");
    assert!(sim.peers[1].m.me.bump > 0, "node 2 rejoined one incarnation later");
    assert_eq!(sim.peers[0].fx.dials(), vec![id(1), id(1)], "node 1's cores dial it again");
}

#[test]
fn a_graceful_leave_is_acknowledged_and_seen_as_left_not_down() {
    let mut sim = Sim::joined(3);
    let now = sim.now;
    let p = sim.p(2);
    p.m.leave(now, &mut p.fx);
    assert!(!sim.peers[2].m.has_left(), "it waits for the acknowledgements");
    sim.deliver();
    assert!(sim.peers[2].m.has_left(), "both members acknowledged at once");
    assert_eq!(sim.wire_count(2, 0, Kind::Leave), 1);
    assert_eq!(sim.wire_count(0, 2, Kind::LeaveAck), 1);
    for i in [0, 1] {
        let fx = &sim.peers[i].fx;
        assert!(fx.saw(&Seen::Member(id(2), MemberStatus::Left)));
        assert!(fx.saw(&Seen::Command(CoreCommand::NodeGone(id(2)))));
    }
    // Nothing later turns the leave into a failure.
    sim.run_for(TIMEOUT * 3);
    for i in [0, 1] {
        assert_eq!(sim.peers[i].m.status(id(2)), Some(MemberStatus::Left));
        assert_eq!(sim.peers[i].m.status(id(if i == 0 { 1 } else { 0 })), Some(MemberStatus::Up));
    }
}

#[test]
fn a_leave_nobody_acknowledges_is_repeated_and_ends_at_the_deadline() {
    let mut sim = Sim::joined(2);
    sim.set_alive(0, false);
    let now = sim.now;
    let p = sim.p(1);
    p.m.leave(now, &mut p.fx);
    sim.run_for(LEAVE_WAIT - Duration::from_millis(1));
    assert!(!sim.peers[1].m.has_left());
    assert!(sim.wire_count(1, 0, Kind::Leave) >= 5, "a Leave every {LEAVE_RESEND:?}");
    assert_eq!(sim.delivered_count(1, 0, Kind::Leave), 0);
    sim.run_for(Duration::from_millis(1));
    assert!(sim.peers[1].m.has_left(), "done at the deadline");
    let leaves = sim.wire_count(1, 0, Kind::Leave);
    sim.run_for(Duration::from_secs(1));
    assert_eq!(sim.wire_count(1, 0, Kind::Leave), leaves, "nothing more once left");
}

#[test]
fn a_packet_with_a_bad_tag_is_dropped_unread() {
    let mut sim = Sim::new(1);
    let body = 7u64.to_le_bytes();
    let stamp = Stamp { sender: 7, seq: 1 };
    let good = Envelope::new(COOKIE, CLUSTER).unwrap().seal(Kind::Probe, stamp, &body);
    let mut flipped = good.clone();
    flipped[3] ^= 1;
    let mut restamped = good.clone();
    restamped[17 + 8] ^= 1;
    let other_cookie = Envelope::new(b"another cookie", CLUSTER).unwrap().seal(Kind::Probe, stamp, &body);
    let other_cluster = Envelope::new(COOKIE, "another cluster").unwrap().seal(Kind::Probe, stamp, &body);
    let now = sim.now;
    let p = sim.p(0);
    let seen = p.fx.seen.len();
    for bad in [&flipped[..], &restamped, &other_cookie, &other_cluster, &good[..20], &good[..10], &[]] {
        p.m.on_packet(now, addr(5), bad, &mut p.fx);
        assert!(p.fx.sent.is_empty() && p.fx.seen.len() == seen && p.fx.timers.is_empty());
    }
    // The same probe with a good tag is answered.
    p.m.on_packet(now, addr(5), &good, &mut p.fx);
    assert_eq!(p.fx.sent.len(), 1);
    let (kind, body) = Envelope::new(COOKIE, CLUSTER)
        .unwrap()
        .open(&p.fx.sent[0].1)
        .map(|(k, _, b)| (k, b.to_vec()))
        .unwrap();
    // The answer names this node and echoes the probe's number.
    let expected = [id(0).0.to_le_bytes(), 1u64.to_le_bytes()].concat();
    assert_eq!((p.fx.sent[0].0, kind, body), (addr(5), Kind::ProbeAck, expected));
}

#[test]
fn a_replayed_packet_is_dropped() {
    let mut sim = Sim::new(1);
    let seal =
        |seq| Envelope::new(COOKIE, CLUSTER).unwrap().seal(Kind::Probe, Stamp { sender: 7, seq }, &[7; 8]);
    let now = sim.now;
    let p = sim.p(0);
    let mut answers = |packet: &[u8]| {
        p.m.on_packet(now, addr(5), packet, &mut p.fx);
        std::mem::take(&mut p.fx.sent).len()
    };
    assert_eq!(answers(&seal(5)), 1, "a new packet is answered");
    assert_eq!(answers(&seal(5)), 0, "the same bytes again: a replay");
    assert_eq!(answers(&seal(3)), 1, "an older packet never seen, inside the window");
    assert_eq!(answers(&seal(3)), 0);
    assert_eq!(answers(&seal(500)), 1);
    assert_eq!(answers(&seal(4)), 0, "older than the window");
}

#[test]
fn a_replayed_probe_ack_does_not_keep_a_killed_node_up() {
    // Regression: a captured ProbeAck replayed every 20 ms hid a kill -9 for
    // seconds; its bytes depended only on cookie, cluster, kind and node id.
    let mut sim = Sim::joined(2);
    let now = sim.now;
    // A closed connection to a live node: probe and answer, captured.
    let p = sim.p(0);
    p.m.on_report(now, ControlReport::Peer(PeerReport::Closed(id(1))), &mut p.fx);
    let (_, probe) = p.fx.sent.iter().find(|(to, _)| *to == addr(1)).cloned().expect("a probe");
    p.fx.sent.clear();
    let q = sim.p(1);
    q.m.on_packet(now, addr(0), &probe, &mut q.fx);
    let (_, ack) = q.fx.sent.iter().find(|(to, _)| *to == addr(0)).cloned().expect("a probe ack");
    q.fx.sent.clear();
    let p = sim.p(0);
    p.m.on_packet(now, addr(1), &ack, &mut p.fx);
    sim.run_for(PROBE_WAIT + INTERVAL);
    assert_eq!(sim.peers[0].m.status(id(1)), Some(MemberStatus::Up), "the live node answered");
    // Now it dies, its connection closes again, and the captured ack is replayed.
    sim.set_alive(1, false);
    let now = sim.now;
    let p = sim.p(0);
    p.m.on_report(now, ControlReport::Peer(PeerReport::Closed(id(1))), &mut p.fx);
    for _ in 0..(PROBE_WAIT.as_millis() / 20) {
        let now = sim.now;
        let p = sim.p(0);
        p.m.on_packet(now, addr(1), &ack, &mut p.fx);
        sim.run_for(Duration::from_millis(20));
    }
    sim.run_for(Duration::from_millis(20));
    assert_eq!(
        sim.peers[0].m.status(id(1)),
        Some(MemberStatus::Down),
        "declared down at the probe's deadline"
    );
}

#[test]
fn a_closed_connection_to_a_dead_node_is_probed_and_declared_down_at_once() {
    let mut sim = Sim::joined(2);
    sim.set_alive(1, false);
    let now = sim.now;
    let p = sim.p(0);
    p.m.on_report(now, ControlReport::Peer(PeerReport::Closed(id(1))), &mut p.fx);
    p.m.on_report(now, ControlReport::Peer(PeerReport::Closed(id(1))), &mut p.fx);
    sim.run_for(PROBE_WAIT - Duration::from_millis(1));
    assert_eq!(sim.wire_count(0, 1, Kind::Probe), 1, "one probe for two reports");
    assert_eq!(sim.peers[0].m.status(id(1)), Some(MemberStatus::Up), "not before the probe is due");
    sim.run_for(Duration::from_millis(1));
    // Well before foca's suspicion would have run out.
    assert_eq!(sim.peers[0].m.status(id(1)), Some(MemberStatus::Down));
    assert!(sim.peers[0].fx.saw(&Seen::Command(CoreCommand::NodeGone(id(1)))));
}

#[test]
fn a_closed_connection_to_a_live_node_is_probed_and_it_stays_up() {
    let mut sim = Sim::joined(2);
    let now = sim.now;
    let p = sim.p(0);
    p.m.on_report(now, ControlReport::Peer(PeerReport::Closed(id(1))), &mut p.fx);
    sim.run_for(PROBE_WAIT + TIMEOUT);
    assert_eq!((sim.delivered_count(0, 1, Kind::Probe), sim.delivered_count(1, 0, Kind::ProbeAck)), (1, 1));
    assert_eq!(sim.peers[0].m.status(id(1)), Some(MemberStatus::Up));
    assert!(!sim.peers[0].fx.saw(&Seen::Gone(id(1))));
}

#[test]
fn an_unresponsive_report_declares_an_up_member_down_at_once() {
    let mut sim = Sim::joined(2);
    let now = sim.now;
    let p = sim.p(0);
    let before = p.fx.seen.len();
    p.m.on_report(now, ControlReport::Peer(PeerReport::Unresponsive(id(1))), &mut p.fx);
    assert_eq!(
        p.fx.seen[before..],
        [
            Seen::Member(id(1), MemberStatus::Down),
            Seen::Gone(id(1)),
            Seen::Command(CoreCommand::NodeGone(id(1)))
        ]
    );
    // Already down: nothing more.
    let before = p.fx.seen.len();
    p.m.on_report(now, ControlReport::Peer(PeerReport::Unresponsive(id(1))), &mut p.fx);
    assert_eq!(p.fx.seen.len(), before);
    // A node the gossip never named: its links are dropped, no member changes.
    p.m.on_report(now, ControlReport::Peer(PeerReport::Unresponsive(NodeId(99))), &mut p.fx);
    assert_eq!(
        p.fx.seen[before..],
        [Seen::Gone(NodeId(99)), Seen::Command(CoreCommand::NodeGone(NodeId(99)))]
    );
}
