//! The membership glue as a sans-IO state machine: [`Membership`].
//!
//! Owns: foca (SWIM) and what it buffers, the members this node knows (each
//! one's latest gossip identity and its status as this node published it),
//! announcing to seeds until some member answers, the liveness probe of a node
//! whose connection closed (Probe, ProbeAck: a killed node is declared down at
//! once, a live one is not), the graceful-leave exchange (Leave, LeaveAck), the
//! packet envelope check (`envelope.rs`), and turning every membership change
//! into [`Effects`]: packets to send, timers to set, where peers listen, typed
//! commands for the worker cores, and members to publish.
//!
//! It is driven by `control.rs` (the control thread: socket, clock, timer
//! heap) and, in `machine_tests.rs`, by a few machines wired together in
//! memory with a fake clock.
//!
//! Must never: read a clock (it takes `now`), touch a socket, a thread, a
//! channel or shared state (everything it does goes out through [`Effects`]),
//! draw randomness from anything but the seeded RNG it was given, or act on a
//! packet whose tag does not verify.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use foca::{AccumulatingRuntime, Foca, Member as FocaMember, OwnedNotification, PostcardCodec};

use super::envelope::{Envelope, Kind, Refused, Stamp};
use super::identity::GossipId;
use super::replay::ReplayGuard;
use super::{step, ControlReport, Member, MemberStatus, Step};
use crate::core::shared::CoreCommand;
use crate::ids::NodeId;
use crate::transport::PeerReport;

/// How long a node that closed a connection has to answer a probe.
pub(crate) const PROBE_WAIT: Duration = Duration::from_millis(300);
/// How long a leaving node waits for its members to acknowledge.
pub(crate) const LEAVE_WAIT: Duration = Duration::from_millis(500);
/// How often a leaving node repeats its Leave to members that did not answer.
pub(crate) const LEAVE_RESEND: Duration = Duration::from_millis(50);
/// How often a node with no member yet announces itself to its seeds again.
pub(crate) const SEED_RETRY: Duration = Duration::from_millis(300);

type Fc = Foca<GossipId, PostcardCodec, rand::rngs::StdRng, foca::NoCustomBroadcast>;

/// What the machine asks of the world. The driver carries each effect out in
/// the order it was emitted.
pub(crate) trait Effects {
    /// Send `packet` (already sealed) to the gossip socket at `to`.
    fn send_to(&mut self, to: SocketAddr, packet: Vec<u8>);
    /// Call [`Membership::on_timer`] with `timer` once `after` has passed.
    /// Timers are never cancelled: one that is no longer wanted finds nothing
    /// to do.
    fn set_timer(&mut self, after: Duration, timer: Timer);
    /// `node`'s worker cores listen at `cores` (in core order): the directory
    /// every core dials from. Comes before any [`CoreCommand::Dial`] for it.
    fn peer_learned(&mut self, node: NodeId, cores: Vec<SocketAddr>);
    /// `node` left or was declared down: sends to it now fail as gone. Comes
    /// right before [`CoreCommand::NodeGone`] for it.
    fn peer_gone(&mut self, node: NodeId);
    /// Every worker core carries out `cmd`.
    fn core_command(&mut self, cmd: CoreCommand);
    /// Publish `member` in the node's view (subscribers hear of a change by
    /// the rule of [`step`]).
    fn member_changed(&mut self, member: Member);
}

/// What a timer set through [`Effects::set_timer`] is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Timer {
    /// One of foca's own timers.
    Foca(foca::Timer<GossipId>),
    /// Announce to the seeds again if no member answered yet.
    SeedAnnounce,
    /// The probe of this node is due: no ProbeAck by now means down.
    Probe(NodeId),
    /// Repeat the Leave, or give up waiting for acknowledgements.
    LeaveResend,
}

/// Everything the machine is told once, at the start.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    /// The cluster name every packet's tag covers.
    pub cluster: String,
    /// The shared secret that keys the tags.
    pub cookie: Vec<u8>,
    /// Where to announce this node until some member answers.
    pub seeds: Vec<SocketAddr>,
    /// `COREMESH_HEARTBEAT_MS`: foca probes a member this often.
    pub heartbeat_interval: Duration,
    /// `COREMESH_CONNECTION_TIMEOUT_MS`: how long a member stays suspect.
    pub connection_timeout: Duration,
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

/// Where this node stands in leaving the cluster.
#[derive(Debug)]
enum Leave {
    /// A member, not leaving.
    Staying,
    /// Waiting until `deadline` for these members to acknowledge the Leave.
    Leaving { waiting: HashMap<NodeId, SocketAddr>, deadline: Instant },
    /// Left: foca said goodbye; the machine does nothing more.
    Left,
}

/// One node's membership: foca plus what follows from it.
pub(crate) struct Membership {
    me: GossipId,
    foca: Fc,
    rt: AccumulatingRuntime<GossipId>,
    envelope: Envelope,
    /// The seeds, this node's own address left out.
    seeds: Vec<SocketAddr>,
    /// The latest identity of every member foca told us about, by node.
    known: HashMap<NodeId, GossipId>,
    /// Every member's status as published ([`Effects::member_changed`]).
    status: HashMap<NodeId, MemberStatus>,
    /// Nodes probed after a closed connection: when the probe is due, and
    /// the number of the Probe packet, which its ProbeAck must echo.
    probes: HashMap<NodeId, (Instant, u64)>,
    leave: Leave,
    /// The number of the last packet this node sealed.
    seq: u64,
    /// The packets acted on, so none is acted on twice.
    replay: ReplayGuard,
}

impl Membership {
    /// A machine for the node `me`; `rng` is foca's only source of randomness.
    pub(crate) fn new(
        me: GossipId,
        settings: &Settings,
        rng: rand::rngs::StdRng,
    ) -> Result<Membership, String> {
        let config = foca_config(settings.heartbeat_interval, settings.connection_timeout);
        let envelope = Envelope::new(&settings.cookie, &settings.cluster)?;
        let seeds = settings.seeds.iter().copied().filter(|s| *s != me.addr).collect();
        Ok(Membership {
            foca: Foca::new(me.clone(), config, rng, PostcardCodec),
            me,
            rt: AccumulatingRuntime::new(),
            envelope,
            seeds,
            known: HashMap::new(),
            status: HashMap::new(),
            probes: HashMap::new(),
            leave: Leave::Staying,
            seq: 0,
            replay: ReplayGuard::default(),
        })
    }

    /// Publishes this node as a member and announces it to the seeds.
    pub(crate) fn start(&mut self, _now: Instant, fx: &mut impl Effects) {
        let me = self.me.clone();
        self.publish(&me, MemberStatus::Up, fx);
        if !self.seeds.is_empty() {
            self.announce_to_seeds();
            fx.set_timer(SEED_RETRY, Timer::SeedAnnounce);
        }
        self.flush(fx);
    }

    /// `node`'s status as this machine last published it.
    pub(crate) fn status(&self, node: NodeId) -> Option<MemberStatus> {
        self.status.get(&node).copied()
    }

    /// Whether [`Membership::leave`] has finished.
    pub(crate) fn has_left(&self) -> bool {
        matches!(self.leave, Leave::Left)
    }

    /// A packet from `from`. One whose tag does not verify is dropped unread;
    /// while leaving only LeaveAcks are read.
    pub(crate) fn on_packet(
        &mut self,
        _now: Instant,
        from: SocketAddr,
        packet: &[u8],
        fx: &mut impl Effects,
    ) {
        let (kind, stamp, body) = match self.envelope.open(packet) {
            Ok(opened) => opened,
            Err(Refused::UnknownKind(kind)) => {
                return tracing::debug!(%from, kind, "gossip packet of unknown kind dropped");
            }
            Err(why) => {
                return tracing::debug!(%from, bytes = packet.len(), ?why, "gossip packet dropped: bad tag (another cluster or cookie)");
            }
        };
        if !self.replay.accept(stamp) {
            return tracing::debug!(%from, sender = stamp.sender, seq = stamp.seq, "gossip packet dropped: a replay");
        }
        let node = body.first_chunk::<8>().map(|b| NodeId(u64::from_le_bytes(*b)));
        if let Leave::Leaving { waiting, .. } = &mut self.leave {
            if let (Kind::LeaveAck, Some(node)) = (kind, node) {
                waiting.remove(&node);
                if waiting.is_empty() {
                    self.finish_leave(fx);
                }
            }
            return;
        }
        if self.has_left() {
            return;
        }
        match (kind, node) {
            (Kind::Foca, _) => {
                if let Err(e) = self.foca.handle_data(body, &mut self.rt) {
                    tracing::debug!(%from, error = %e, "gossip packet refused by foca");
                }
            }
            (Kind::Leave, Some(node)) => {
                self.send(fx, from, Kind::LeaveAck);
                if let Some(id) = self.known.get(&node).cloned() {
                    self.member_gone(&id, MemberStatus::Left, fx);
                }
            }
            // The answer echoes the probe's number: an old ProbeAck answers nothing.
            (Kind::Probe, Some(_)) => self.send_body(fx, from, Kind::ProbeAck, &stamp.seq.to_le_bytes()),
            (Kind::ProbeAck, Some(node)) => {
                let echo = body.get(8..16).and_then(|b| b.try_into().ok()).map(u64::from_le_bytes);
                if self.probes.get(&node).is_some_and(|p| Some(p.1) == echo) {
                    self.probes.remove(&node);
                    // It lives: the cores that lost their connection to it dial again.
                    fx.core_command(CoreCommand::Dial(node));
                }
            }
            (Kind::LeaveAck, _) => {}
            (_, None) => tracing::debug!(%from, ?kind, "gossip packet without a node id dropped"),
        }
        self.flush(fx);
    }

    /// A timer set through [`Effects::set_timer`] is due.
    pub(crate) fn on_timer(&mut self, now: Instant, timer: Timer, fx: &mut impl Effects) {
        match (&self.leave, timer) {
            (Leave::Staying, Timer::Foca(t)) => {
                if let Err(e) = self.foca.handle_timer(t, &mut self.rt) {
                    tracing::debug!(error = %e, "foca timer failed");
                }
            }
            (Leave::Staying, Timer::SeedAnnounce) => {
                if self.foca.iter_members().next().is_none() {
                    self.announce_to_seeds();
                }
                fx.set_timer(SEED_RETRY, Timer::SeedAnnounce);
            }
            // A ProbeAck removed the probe; a later probe has a later deadline.
            (Leave::Staying, Timer::Probe(node)) if self.probes.get(&node).is_some_and(|p| p.0 <= now) => {
                self.probes.remove(&node);
                if let Some(id) = self.known.get(&node).cloned() {
                    tracing::warn!(%node, "connection closed and the node does not answer; declaring it down");
                    self.member_gone(&id, MemberStatus::Down, fx);
                }
            }
            (Leave::Leaving { deadline, .. }, Timer::LeaveResend) if now >= *deadline => {
                self.finish_leave(fx);
            }
            (Leave::Leaving { deadline, .. }, Timer::LeaveResend) => {
                let after = LEAVE_RESEND.min(*deadline - now);
                self.send_leaves(fx);
                fx.set_timer(after, Timer::LeaveResend);
            }
            // Foca's timers wait while leaving, and nothing runs once left.
            _ => {}
        }
        self.flush(fx);
    }

    /// What the rest of the node saw: a worker core's verdict on a peer, or
    /// `NodeHandle::connect` reaching a node. Ignored once leaving.
    pub(crate) fn on_report(&mut self, now: Instant, report: ControlReport, fx: &mut impl Effects) {
        if !matches!(self.leave, Leave::Staying) {
            return;
        }
        match report {
            ControlReport::Peer(PeerReport::Unresponsive(node)) => match self.known.get(&node).cloned() {
                Some(id) if self.status(node) == Some(MemberStatus::Up) => {
                    tracing::warn!(%node, "no heartbeat within the connection timeout; declaring it down");
                    self.member_gone(&id, MemberStatus::Down, fx);
                }
                Some(_) => {}
                None => self.node_gone(node, fx),
            },
            ControlReport::Peer(PeerReport::Closed(node)) => {
                let Some(to) = self.known.get(&node).map(|id| id.addr) else { return };
                if self.status(node) == Some(MemberStatus::Up) && !self.probes.contains_key(&node) {
                    // The Probe is the next packet sealed: its number.
                    self.probes.insert(node, (now + PROBE_WAIT, self.seq + 1));
                    self.send(fx, to, Kind::Probe);
                    fx.set_timer(PROBE_WAIT, Timer::Probe(node));
                }
            }
            ControlReport::Joined(addr) => {
                if let Err(e) = self.foca.announce(GossipId::seed(addr), &mut self.rt) {
                    tracing::debug!(%addr, error = %e, "announce failed");
                }
            }
        }
        self.flush(fx);
    }

    /// Leaves the cluster: a Leave to every member up, repeated every
    /// [`LEAVE_RESEND`] until each acknowledged or [`LEAVE_WAIT`] passed, then
    /// foca's own leave, so that peers hear "left" before the gossip says
    /// "down". [`Membership::has_left`] says when it is done.
    pub(crate) fn leave(&mut self, now: Instant, fx: &mut impl Effects) {
        if !matches!(self.leave, Leave::Staying) {
            return;
        }
        let waiting: HashMap<NodeId, SocketAddr> = self
            .known
            .values()
            .filter(|id| self.status(id.node_id()) == Some(MemberStatus::Up))
            .map(|id| (id.node_id(), id.addr))
            .collect();
        if waiting.is_empty() {
            return self.finish_leave(fx);
        }
        self.leave = Leave::Leaving { waiting, deadline: now + LEAVE_WAIT };
        self.send_leaves(fx);
        fx.set_timer(LEAVE_RESEND, Timer::LeaveResend);
    }

    fn send_leaves(&mut self, fx: &mut impl Effects) {
        let to: Vec<SocketAddr> = match &self.leave {
            Leave::Leaving { waiting, .. } => waiting.values().copied().collect(),
            _ => return,
        };
        for to in to {
            self.send(fx, to, Kind::Leave);
        }
    }

    fn finish_leave(&mut self, fx: &mut impl Effects) {
        if let Leave::Leaving { waiting, .. } = &self.leave {
            if !waiting.is_empty() {
                tracing::info!(
                    unacknowledged = waiting.len(),
                    "leaving the cluster; some members did not acknowledge"
                );
            }
        }
        self.leave = Leave::Left;
        if let Err(e) = self.foca.leave_cluster(&mut self.rt) {
            tracing::debug!(error = %e, "foca leave failed");
        }
        self.flush(fx);
    }

    /// Announces this node to every seed.
    fn announce_to_seeds(&mut self) {
        for seed in &self.seeds {
            if let Err(e) = self.foca.announce(GossipId::seed(*seed), &mut self.rt) {
                tracing::debug!(%seed, error = %e, "announce failed");
            }
        }
    }

    /// Sends a packet of `kind` whose body is this node's id.
    fn send(&mut self, fx: &mut impl Effects, to: SocketAddr, kind: Kind) {
        self.send_body(fx, to, kind, &[]);
    }

    /// Sends a packet of `kind` whose body is this node's id, then `more`.
    fn send_body(&mut self, fx: &mut impl Effects, to: SocketAddr, kind: Kind, more: &[u8]) {
        let mut body = self.me.node.to_le_bytes().to_vec();
        body.extend_from_slice(more);
        let packet = self.seal(kind, &body);
        fx.send_to(to, packet);
    }

    /// Seals `body` as the next packet of this node.
    fn seal(&mut self, kind: Kind, body: &[u8]) -> Vec<u8> {
        self.seq += 1;
        self.envelope.seal(kind, Stamp { sender: self.me.node, seq: self.seq }, body)
    }

    /// Sends what foca wrote, sets its timers, and acts on its news, until
    /// acting on the news gave foca nothing more to say.
    fn flush(&mut self, fx: &mut impl Effects) {
        loop {
            let mut any = false;
            while let Some((to, data)) = self.rt.to_send() {
                any = true;
                let packet = self.seal(Kind::Foca, &data);
                fx.send_to(to.addr, packet);
            }
            while let Some((after, timer)) = self.rt.to_schedule() {
                any = true;
                fx.set_timer(after, Timer::Foca(timer));
            }
            while let Some(n) = self.rt.to_notify() {
                any = true;
                self.on_notification(n, fx);
            }
            if !any {
                return;
            }
        }
    }

    fn on_notification(&mut self, n: OwnedNotification<GossipId>, fx: &mut impl Effects) {
        match n {
            OwnedNotification::MemberUp(id) => self.member_up(id, fx),
            // Foca's own word after this machine declared the member down
            // (or saw it leave) changes nothing: the cores already dropped it.
            OwnedNotification::MemberDown(id)
                if self.known.get(&id.node_id()) == Some(&id)
                    && !matches!(
                        self.status(id.node_id()),
                        Some(MemberStatus::Down | MemberStatus::Left)
                    ) =>
            {
                self.member_gone(&id, MemberStatus::Down, fx);
            }
            OwnedNotification::Rename(old, new) => {
                if old.node != new.node {
                    // Restarted at the same address: the old node id is gone for
                    // good, and the new one is a member of its own. foca raises
                    // no MemberUp for it when the old identity was still active
                    // (the active set did not change), so it is raised here.
                    self.member_gone(&old, MemberStatus::Down, fx);
                    if self.foca.iter_members().any(|m| m.id() == &new) {
                        return self.member_up(new, fx);
                    }
                }
                self.known.insert(new.node_id(), new);
            }
            OwnedNotification::Rejoin(id) => {
                tracing::info!(node = %id.node_id(), bump = id.bump, "declared down by the cluster; rejoined");
                self.me = id;
            }
            OwnedNotification::Defunct if matches!(self.leave, Leave::Staying) => {
                tracing::warn!("declared down by the cluster and cannot rejoin")
            }
            OwnedNotification::Active | OwnedNotification::Idle => {}
            #[allow(unreachable_patterns)]
            _ => {}
        }
    }

    /// Publishes `id` with `status`; returns whether subscribers heard of it.
    fn publish(&mut self, id: &GossipId, status: MemberStatus, fx: &mut impl Effects) -> bool {
        let member = Member { node: id.node_id(), addr: id.addr, cores: id.ports.len() as u16, status };
        // This node's own entry is always taken, and raises no event.
        let step = if member.node == self.me.node_id() {
            Step::Quiet
        } else {
            step(self.status(member.node), status)
        };
        if step != Step::Ignore {
            self.status.insert(member.node, status);
        }
        fx.member_changed(member);
        step == Step::Event
    }

    fn member_up(&mut self, id: GossipId, fx: &mut impl Effects) {
        let node = id.node_id();
        self.known.insert(node, id.clone());
        self.probes.remove(&node);
        fx.peer_learned(node, id.core_addrs());
        if !self.publish(&id, MemberStatus::Up, fx) {
            return;
        }
        tracing::info!(%node, addr = %id.addr, cores = id.ports.len(), "member up");
        // The lower node id dials; the other side's cores dial on their first
        // send, and a simultaneous dial keeps one connection.
        if self.me.node_id() < node {
            fx.core_command(CoreCommand::Dial(node));
        }
    }

    /// `id` left or was declared down: every core drops its links to it, fails
    /// asks in flight to it and tells monitors; sends to it now fail as gone.
    fn member_gone(&mut self, id: &GossipId, status: MemberStatus, fx: &mut impl Effects) {
        let node = id.node_id();
        self.probes.remove(&node);
        let event = self.publish(id, status, fx);
        if status == MemberStatus::Down {
            let update = FocaMember::down(id.clone());
            if let Err(e) = self.foca.apply_many(std::iter::once(update), true, &mut self.rt) {
                tracing::debug!(%node, error = %e, "could not declare down in the gossip");
            }
        }
        if event {
            tracing::info!(%node, ?status, "member gone");
        }
        self.node_gone(node, fx);
    }

    fn node_gone(&mut self, node: NodeId, fx: &mut impl Effects) {
        fx.peer_gone(node);
        fx.core_command(CoreCommand::NodeGone(node));
    }
}

#[cfg(test)]
#[path = "machine_tests.rs"]
mod tests;
