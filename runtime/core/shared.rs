//! What the threads of one node share, and how other threads reach a core.
//!
//! Owns: [`NodeShared`] (config, the node's type table, per-core signal, inbox
//! and counters, the directory of peers, the registry and the membership
//! view), the commands other threads send a core ([`Command`]; membership's
//! work for the cores is typed, [`CoreCommand`], so the control thread never
//! sends code), the bound on a core's inbox, and the process-wide list of
//! running nodes (so an `ActorRef` used off-core finds its node).
//!
//! Must never: hold anything that is not `Send + Sync` (every thread of the
//! node reads it), or be read on a per-message path except the counters and
//! the signal.

use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::{Arc, Mutex, PoisonError, Weak};

use rkyv::util::AlignedVec;

use super::pending::ForeignReply;
use super::CoreRt;
use crate::config::Config;
use crate::error::ConnectError;
use crate::ids::{CoreId, NodeId};
use crate::stats::CoreStats;
use crate::sync::flag::Flag;
use crate::sync::inbox::Inbox;
use crate::sync::oneshot;
use crate::sync::signal::CoreSignal;

/// Code sent to run on a core.
pub(crate) type CoreTask = Box<dyn FnOnce(&Rc<CoreRt>) + Send>;

/// Commands a core takes from other threads.
pub(crate) enum Command {
    /// An encoded Tell or Ask frame for an actor on the core.
    Frame { to_node: NodeId, bytes: AlignedVec<16>, reply: Option<ForeignReply> },
    /// Code to run on the core: [`NodeHandle::run_on`] only (user code, and
    /// the test hooks built on it); the runtime's own glue uses typed commands.
    Run(CoreTask),
    /// Membership's work for the core.
    Core(CoreCommand),
    /// [`NodeHandle::connect`]: dial `addr` from this core (core 0), then join
    /// its cluster and have every other core dial the node.
    Connect { addr: SocketAddr, reply: oneshot::Sender<Result<NodeId, ConnectError>> },
    /// Stop every actor, then the core.
    Shutdown,
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

/// The running node with this id, if any.
pub(crate) fn find_node(id: NodeId) -> Option<Arc<NodeShared>> {
    let nodes = NODES.lock().unwrap_or_else(PoisonError::into_inner);
    nodes.iter().filter_map(Weak::upgrade).find(|n| n.id == id)
}
