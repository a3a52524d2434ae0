//! What the threads of one node share, and how other threads reach a core.
//!
//! Owns: [`NodeShared`] (config, the node's type table, per-core signal, inbox
//! and counters, the directory of peers, the registry, the membership view and
//! the bounds on inbound connections in the handshake, [`HandshakeBounds`]),
//! the commands other threads send a core ([`Command`]; membership's
//! work for the cores is typed, [`CoreCommand`], so the control thread never
//! sends code), the bound on a core's inbox, and the process-wide list of
//! running nodes (so an `ActorRef` used off-core finds the node that sends
//! for it, [`node_for`]).
//!
//! Must never: hold anything that is not `Send + Sync` (every thread of the
//! node reads it), or be read on a per-message path except the counters and
//! the signal (the handshake bounds are taken on accept and given back when the
//! handshake ends, never per message).

use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::rc::Rc;
use std::sync::{Arc, Mutex, PoisonError, Weak};

use rkyv::util::AlignedVec;

use super::pending::ForeignReply;
use super::CoreRt;
use crate::config::Config;
use crate::error::{ConnectError, TellError};
use crate::ids::{CoreId, NodeId};
use crate::stats::CoreStats;
use crate::sync::flag::Flag;
use crate::sync::gauge::{Gauge, GaugePermit, KeyedGauge, KeyedPermit};
use crate::sync::inbox::{Inbox, Passing};
use crate::sync::oneshot;
use crate::sync::signal::CoreSignal;
use crate::transport::host::Shed;

/// Code sent to run on a core.
pub(crate) type CoreTask = Box<dyn FnOnce(&Rc<CoreRt>) + Send>;

/// Commands a core takes from other threads.
pub(crate) enum Command {
    /// An encoded Tell or Ask frame for an actor on the core.
    Frame { to_node: NodeId, bytes: AlignedVec<16>, reply: Option<ForeignReply> },
    /// Code to run on the core: [`NodeHandle::run_on`] (user code, and the
    /// test hooks built on it), and a remote spawn that core 0's system actor
    /// places on this core (`cluster/system.rs`: the registered factory);
    /// the rest of the runtime's glue uses typed commands.
    Run(CoreTask),
    /// Membership's work for the core.
    Core(CoreCommand),
    /// [`NodeHandle::connect`]: dial `addr` from this core (core 0), then join
    /// its cluster and have every other core dial the node.
    Connect { addr: SocketAddr, reply: oneshot::Sender<Result<NodeId, ConnectError>> },
    /// Stop every actor, then the core.
    Shutdown,
    /// The metrics endpoint samples the core's gauges (`crate::metrics`).
    Sample(crate::metrics::SampleReply),
}

/// While a core holds back frames from outside threads (their mailbox or link
/// is full), every other command still reaches it: membership's, connects,
/// code to run and shutdown (`service.rs`).
impl Passing for Command {
    fn passes(&self) -> bool {
        !matches!(self, Command::Frame { .. })
    }
}

/// What the membership asks of a worker core, as data rather than code: the
/// control thread never sends a closure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CoreCommand {
    /// The node is up and this node dials it (the lower node id dials; see
    /// `transport`): open this core's link to it (`CoreRt::link`).
    Dial(NodeId),
    /// The node left or was declared down: drop this core's link to it, fail
    /// its asks and tell monitors (`CoreRt::node_gone`).
    NodeGone(NodeId),
}

/// What one core shares with other threads.
pub(crate) struct CoreShared {
    pub signal: CoreSignal,
    pub inbox: Inbox<Command>,
    pub stats: CoreStats,
}

/// What a node's threads share.
pub(crate) struct NodeShared {
    pub id: NodeId,
    pub config: Config,
    pub cores: Vec<CoreShared>,
    pub max_payload_bytes: u32,
    /// This build's message types (checked by `Node::start`), sent in every Hello.
    pub type_table: &'static coremesh_wire::TypeTable,
    pub stopping: Flag,
    /// Where this node's peers listen, learned from handshakes.
    pub directory: crate::transport::directory::Directory,
    /// The port each worker core listens on, in core order (set at start).
    pub ports: Mutex<Vec<u16>>,
    /// Remotely spawnable actor types and published names.
    pub registry: crate::cluster::system::Registry,
    /// Who is in the cluster, shared with the control thread.
    pub membership: crate::cluster::membership::MembershipShared,
    /// How many inbound connections are in the handshake, on all cores.
    pub handshakes: HandshakeBounds,
    /// The runtime panic that stopped the node, if one did (`crate::node::fatal`).
    pub fatal: Mutex<Option<crate::node::fatal::Fatal>>,
}

/// The node's bounds on inbound connections in the handshake, all cores
/// together: `COREMESH_HANDSHAKES_MAX` in all and
/// `COREMESH_HANDSHAKES_PER_SOURCE_MAX` per source.
pub(crate) struct HandshakeBounds {
    node: Arc<Gauge>,
    sources: Arc<KeyedGauge<IpAddr>>,
}

/// One inbound connection's place in the [`HandshakeBounds`], held while its
/// handshake runs and given back when dropped.
pub(crate) struct Admission {
    _node: GaugePermit,
    _source: KeyedPermit<IpAddr>,
}

impl HandshakeBounds {
    pub(crate) fn new(config: &Config) -> HandshakeBounds {
        HandshakeBounds {
            node: Arc::new(Gauge::new(config.handshakes_max())),
            sources: Arc::new(KeyedGauge::new(config.handshakes_per_source_max())),
        }
    }

    /// A place for a connection from `from`, or the bound it is over.
    pub(crate) fn admit(&self, from: IpAddr) -> Result<Admission, Shed> {
        let node = self.node.try_acquire().ok_or(Shed::Node)?;
        let source = self.sources.try_acquire(source_of(from)).ok_or(Shed::Source)?;
        Ok(Admission { _node: node, _source: source })
    }
}

/// The source a connection counts against: its IPv4 address (also when it
/// arrives mapped into IPv6 on a dual-stack listener), or the /64 prefix of
/// its IPv6 address (one host commonly holds a whole /64).
fn source_of(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V6(v6) => {
            let prefix = u128::from(v6) & !((1u128 << 64) - 1);
            IpAddr::V6(Ipv6Addr::from(prefix))
        }
        v4 => v4,
    }
}

impl NodeShared {
    /// The port each worker core listens on.
    pub(crate) fn listen_ports(&self) -> Vec<u16> {
        self.ports.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// Queues membership's `cmd` on worker `core`. It is never lost to a full
    /// inbox: past the bound it is queued anyway (as shutdown is; there is at
    /// most one per membership change and core), and that is logged with a
    /// count. Returns `false` only when the node is stopping or has no such
    /// core (nothing is queued then).
    pub(crate) fn core_command(&self, core: CoreId, cmd: CoreCommand) -> bool {
        if self.stopping.is_set() {
            return false;
        }
        let Some(c) = self.cores.get(usize::from(core.0)) else { return false };
        if let Err(refused) = c.inbox.push(Command::Core(cmd)) {
            c.inbox.push_control(refused);
            let past = self.membership.note_command_past_bound();
            if past.is_power_of_two() {
                tracing::warn!(%core, past_bound = past, ?cmd, "core inbox full; membership command queued past its bound");
            }
        }
        c.signal.notify();
        true
    }
}

/// How many commands a core's inbox holds before `tell` from outside reports it full.
pub(crate) const INBOX_COMMANDS_MAX: usize = 65_536;

static NODES: Mutex<Vec<Weak<NodeShared>>> = Mutex::new(Vec::new());

/// Lists a started node, so refs used off-core find it.
pub(crate) fn register_node(shared: &Arc<NodeShared>) {
    let mut nodes = NODES.lock().unwrap_or_else(PoisonError::into_inner);
    nodes.retain(|w| w.strong_count() > 0);
    nodes.push(Arc::downgrade(shared));
}

/// The node of this process that sends to node `to` for a thread outside the
/// runtime: `to` itself when it runs here; else a running node whose directory
/// knows `to` (it is connected to it); else the only running node (its send
/// then says why `to` cannot be reached). With several running nodes, none of
/// which knows `to`, or none at all: [`TellError::NoLocalNode`]. A node that is
/// shutting down is taken only when no other is left (its send says so).
pub(crate) fn node_for(to: NodeId) -> Result<Arc<NodeShared>, TellError> {
    let nodes: Vec<Arc<NodeShared>> =
        NODES.lock().unwrap_or_else(PoisonError::into_inner).iter().filter_map(Weak::upgrade).collect();
    if let Some(n) = nodes.iter().find(|n| n.id == to) {
        return Ok(n.clone());
    }
    let running: Vec<&Arc<NodeShared>> = nodes.iter().filter(|n| !n.stopping.is_set()).collect();
    if let Some(n) = running.iter().find(|n| n.directory.get(to).is_some()) {
        return Ok((*n).clone());
    }
    match (running.as_slice(), nodes.as_slice()) {
        ([only], _) => Ok((*only).clone()),
        ([], [stopping, ..]) => Ok(stopping.clone()),
        _ => Err(TellError::NoLocalNode { node: to, running: running.len() }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_are_ipv4_addresses_and_ipv6_prefixes() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert_eq!(source_of(ip("10.1.2.3")), ip("10.1.2.3"));
        assert_eq!(source_of(ip("::ffff:10.1.2.3")), ip("10.1.2.3"));
        assert_eq!(source_of(ip("2001:db8:1:2:aaaa::1")), ip("2001:db8:1:2::"));
        assert_eq!(source_of(ip("2001:db8:1:2:bbbb::9")), source_of(ip("2001:db8:1:2::77")));
        assert_ne!(source_of(ip("2001:db8:1:3::1")), source_of(ip("2001:db8:1:2::1")));
    }

    #[test]
    fn the_node_bound_and_the_source_bound_each_shed() {
        let config = Config::builder()
            .env_source(|_| None)
            .dev_mode(true)
            .allowed_cpus([0])
            .handshakes_max(3)
            .handshakes_per_source_max(2)
            .build()
            .unwrap();
        let bounds = HandshakeBounds::new(&config);
        let (a, b) = ("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap());
        let held = [bounds.admit(a).unwrap(), bounds.admit(a).unwrap()];
        assert_eq!(bounds.admit(a).err(), Some(Shed::Source));
        let third = bounds.admit(b).unwrap();
        assert_eq!(bounds.admit(b).err(), Some(Shed::Node));
        drop(held);
        // A source refused by the node bound did not keep a place.
        let again = [bounds.admit(b).unwrap(), bounds.admit(a).unwrap()];
        drop((third, again));
        assert_eq!((bounds.node.held(), bounds.sources.keys()), (0, 0));
    }
}
