//! The errors of sending, asking, spawning and running a node.
//!
//! Owns: [`TellError`], [`AskError`], [`SpawnError`], [`NodeError`]. Each variant
//! says what happened to the message. Must never: carry a bare string where the
//! caller could branch on a cause.

use crate::ids::{ActorId, CoreId, NodeId};

/// Why a `tell` did not enqueue its message. In every case nothing was enqueued.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TellError {
    /// The target's mailbox is at its bound (`COREMESH_MAILBOX_BYTES`).
    #[error("mailbox of {actor} is full ({bytes} bytes queued); nothing was enqueued")]
    MailboxFull {
        /// The target.
        actor: ActorId,
        /// Bytes already queued.
        bytes: usize,
    },
    /// The ring to the target's core is full (`COREMESH_RING_BYTES`).
    #[error("ring from {from} to {to} is full; nothing was enqueued")]
    RingFull {
        /// This core.
        from: CoreId,
        /// The target's core.
        to: CoreId,
    },
    /// The target has stopped (the drop is counted as a dead letter).
    #[error("{actor} has stopped; the message was dropped and counted")]
    ActorStopped {
        /// The target.
        actor: ActorId,
    },
    /// The target names a core this node does not have.
    #[error("{actor} names core {core}, but this node has {cores} cores")]
    NoSuchCore {
        /// The target.
        actor: ActorId,
        /// The core it names.
        core: u16,
        /// How many this node has.
        cores: usize,
    },
    /// The target lives on a node this node has no connection to.
    #[error("{node} is not connected to this node (NodeHandle::connect to it first)")]
    UnknownNode {
        /// The node.
        node: NodeId,
    },
    /// The target's node is no longer a member of the cluster: it was declared
    /// down, it left, or it was restarted (a restarted node has a new node id, so
    /// refs to the old one never work again; a node that was only declared down
    /// may rejoin under its id).
    #[error("{node} is gone from the cluster (down, left, or restarted under a new node id)")]
    NodeGone {
        /// The node.
        node: NodeId,
    },
    /// The connection to the target's node closed or went silent, and the
    /// cluster has not yet said whether the node lives (it probes it at once);
    /// nothing was enqueued. Later sends either reach it again (the node
    /// answered and is dialed anew) or fail with [`TellError::NodeGone`].
    #[error("the connection to {node} was lost and the cluster is checking whether it lives; nothing was enqueued")]
    ConnectionLost {
        /// The node.
        node: NodeId,
    },
    /// The connection to the target's node holds its bound of queued bytes.
    #[error("connection to {node} has {bytes} bytes queued, its bound; nothing was enqueued")]
    LinkFull {
        /// The target's node.
        node: NodeId,
        /// Bytes queued.
        bytes: usize,
    },
    /// The inbox through which threads outside the runtime send to worker
    /// `core` holds its bound of commands (`INBOX_COMMANDS_MAX`): the core
    /// holds them back while a frame at their head waits for a full mailbox
    /// or a full connection. Retry, or use the awaiting `ActorRef::send`,
    /// which waits for room.
    #[error("the inbox of {core} holds {commands} commands from outside threads, its bound (they wait for a full mailbox or connection); nothing was enqueued: retry, or use the awaiting ActorRef::send")]
    InboxFull {
        /// The worker core whose inbox is full.
        core: CoreId,
        /// Its bound, in commands.
        commands: usize,
    },
    /// A thread outside the runtime sent to `node`, and no node running in
    /// this process can reach it: none is connected to it, and there is not
    /// exactly one to ask.
    #[error("no node running in this process can reach {node} ({running} running, none connected to it): connect one to it (NodeHandle::connect), or send through the NodeHandle of the one that is")]
    NoLocalNode {
        /// The target's node.
        node: NodeId,
        /// How many nodes run in this process.
        running: usize,
    },
    /// The archived message is larger than the frame limit.
    #[error("message of {bytes} bytes exceeds the frame limit of {max} bytes")]
    TooLarge {
        /// The archived size.
        bytes: usize,
        /// The limit.
        max: usize,
    },
    /// rkyv could not archive the value.
    #[error("could not archive the message: {0}")]
    Serialize(String),
    /// The node has shut down.
    #[error("the node has shut down")]
    NodeStopped,
}

impl TellError {
    /// Whether the path to the target was full ([`TellError::MailboxFull`],
    /// [`TellError::RingFull`], [`TellError::LinkFull`],
    /// [`TellError::InboxFull`]): nothing was enqueued, and the same send
    /// may succeed once the target catches up (`ActorRef::send` waits for it).
    pub fn is_full(&self) -> bool {
        matches!(
            self,
            TellError::MailboxFull { .. }
                | TellError::RingFull { .. }
                | TellError::LinkFull { .. }
                | TellError::InboxFull { .. }
        )
    }

    /// Whether the target's node is lost: its connection is known lost
    /// ([`TellError::ConnectionLost`]) or it was declared gone
    /// ([`TellError::NodeGone`]). See [`AskError::is_node_lost`].
    pub fn is_node_lost(&self) -> bool {
        matches!(self, TellError::ConnectionLost { .. } | TellError::NodeGone { .. })
    }
}

/// Why an `ask` produced no reply.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AskError {
    /// The request could not be enqueued; it did not run.
    #[error("request not sent: {0}")]
    NotSent(#[from] TellError),
    /// The target stopped before handling the request; it did not run.
    #[error("{actor} has stopped; the request did not run")]
    ActorStopped {
        /// The target.
        actor: ActorId,
    },
    /// The target's actor does not handle this message type (a ref of the wrong
    /// type, or a stale slot); the request did not run.
    #[error("{actor} does not handle message type {type_id:#018x}; the request did not run")]
    UnknownType {
        /// The target.
        actor: ActorId,
        /// The message's type id.
        type_id: u64,
    },
    /// No reply before the deadline; the request may still run.
    #[error("no reply within the timeout; the request may still run")]
    Timeout,
    /// The asking core already had its bound of asks waiting for replies
    /// (`COREMESH_INFLIGHT_ASKS_MAX`); nothing was sent. Retry once some end.
    #[error("{core} already has {max} asks in flight, its bound; nothing was sent")]
    TooManyInFlight {
        /// The asking core (for an ask from outside the runtime: the core it
        /// was handed to, which owns its table entry).
        core: CoreId,
        /// The bound.
        max: usize,
    },
    /// The request reached the target after its deadline and was dropped unrun.
    #[error("the request arrived after its deadline and was dropped without running")]
    DeadlineExpired,
    /// The target's node was lost before replying; the request may or may not have run.
    #[error("connection to {node} lost before the reply; the request may or may not have run")]
    ConnectionLost {
        /// The lost node.
        node: NodeId,
    },
    /// The handler panicked or failed; the request ran but produced no reply.
    #[error("the handler failed while handling the request")]
    HandlerFailed,
    /// The handler deferred its reply ([`Ctx::reply_later`](crate::Ctx::reply_later))
    /// and the [`ReplyTo`](crate::ReplyTo) handle was dropped without replying
    /// (also when the actor holding it stopped); the request ran, no reply will come.
    #[error("{actor} took the reply for later and dropped it without replying; the request ran")]
    ReplyDropped {
        /// The asked actor.
        actor: ActorId,
    },
    /// The node asked with [`NodeHandle::lookup_wait`](crate::NodeHandle::lookup_wait)
    /// already holds its bound of waiting lookups; this one was not held. Retry
    /// later, or use `lookup`.
    #[error("{node} already holds {max} waiting lookups, its bound; this lookup was refused")]
    LookupsFull {
        /// The node asked.
        node: NodeId,
        /// The bound.
        max: usize,
    },
    /// The reply could not be read back.
    #[error("the reply could not be read: {0}")]
    BadReply(String),
    /// The node shut down before the reply.
    #[error("the node shut down before the reply")]
    NodeStopped,
    /// A blocking wait was called on a worker core; it would stop the core that
    /// must deliver the reply. Await the ask instead.
    #[error("a blocking wait on a worker core would stall it; .await the ask instead")]
    WouldBlock,
}

impl AskError {
    /// Whether the target's node is lost, however it showed: the connection
    /// closed with the ask in flight ([`AskError::ConnectionLost`]), or the
    /// ask was not sent because the connection was known lost
    /// ([`TellError::ConnectionLost`]) or the node was declared gone
    /// ([`TellError::NodeGone`]). One branch for the sequence a dying node
    /// shows a sender: `ConnectionLost` for what was in flight, then
    /// `NotSent(ConnectionLost)` while the cluster checks it, then
    /// `NotSent(NodeGone)` once it is declared down.
    ///
    /// ```
    /// use coremesh::{AskError, NodeId, TellError};
    /// let node = NodeId(7);
    /// assert!(AskError::ConnectionLost { node }.is_node_lost());
    /// assert!(AskError::NotSent(TellError::NodeGone { node }).is_node_lost());
    /// assert!(!AskError::Timeout.is_node_lost());
    /// ```
    pub fn is_node_lost(&self) -> bool {
        match self {
            AskError::ConnectionLost { .. } => true,
            AskError::NotSent(e) => e.is_node_lost(),
            _ => false,
        }
    }
}

/// Why an actor was not spawned.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SpawnError {
    /// The core named does not exist on this node.
    #[error("core {core} does not exist; this node has {cores} cores")]
    NoSuchCore {
        /// The core asked for.
        core: u16,
        /// How many this node has.
        cores: usize,
    },
    /// The call was made on a thread that is not a coremesh worker core.
    #[error("not on a coremesh worker core: use NodeHandle::spawn_on from other threads")]
    NotOnCore,
    /// The core's actor table is full (2^32 slots).
    #[error("the actor table of {core} is full")]
    TableFull {
        /// The core.
        core: CoreId,
    },
    /// The node has shut down.
    #[error("the node has shut down")]
    NodeStopped,
    /// The other node refused the spawn; the variant says which check failed.
    #[error("remote spawn refused: {0}")]
    Remote(#[from] RemoteSpawnError),
    /// The spawn request reached no answer from the other node (not sent, lost
    /// with its connection, timed out); the variant says what happened to it.
    #[error("remote spawn request failed: {0}")]
    NotAnswered(AskError),
    /// The arguments could not be archived; nothing was sent.
    #[error("could not archive the spawn arguments: {reason}")]
    BadArgs {
        /// What rkyv said.
        reason: String,
    },
    /// No answer from the core within the wait's timeout; the request may
    /// still run there.
    #[error("no answer from the core within {waited:?}; the request may still run")]
    Timeout {
        /// How long the caller waited.
        waited: std::time::Duration,
    },
    /// The core's inbox of commands from other threads is full (it holds
    /// `INBOX_COMMANDS_MAX` commands, or frames for a full path wait there):
    /// nothing was queued; try again later.
    #[error("the inbox of {core} is full; nothing was queued, try again later")]
    InboxFull {
        /// The core.
        core: CoreId,
    },
    /// The closure given to `run_on` (or the task of `spawn_task_on`)
    /// panicked; the core runs on.
    #[error("the code run on {core} panicked: {message}")]
    TaskPanicked {
        /// The core it ran on.
        core: CoreId,
        /// The panic's message.
        message: String,
    },
}

/// Why a node did not start, or did not stop cleanly.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    /// The configuration was refused.
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    /// An executor could not be built or pinned.
    #[error("could not start worker {core} on CPU {cpu}: {reason}")]
    Executor {
        /// The worker.
        core: CoreId,
        /// Its CPU.
        cpu: usize,
        /// What glommio or the OS said.
        reason: String,
    },
    /// The control thread could not be started or pinned.
    #[error("could not start the control thread on CPU {cpu}: {reason}")]
    Control {
        /// Its CPU.
        cpu: usize,
        /// What the OS said.
        reason: String,
    },
    /// This build's message types contradict each other (one type id, two
    /// fingerprints) or do not fit a handshake; nothing was started.
    #[error("this build's message types cannot be advertised: {0}")]
    Schema(#[from] SchemaError),
    /// A mesh ring could not be allocated.
    #[error("could not allocate the mesh: {0}")]
    Mesh(#[from] crate::sync::ring::RingError),
    /// A worker thread panicked.
    #[error("worker {core} panicked: {reason}")]
    WorkerPanicked {
        /// The worker.
        core: CoreId,
        /// The panic message.
        reason: String,
    },
    /// Actors did not stop within the shutdown deadline.
    #[error("{remaining} actors on {core} did not stop within {waited_ms} ms")]
    ShutdownTimeout {
        /// The worker.
        core: CoreId,
        /// Actors still alive.
        remaining: usize,
        /// How long shutdown waited.
        waited_ms: u64,
    },
    /// A worker core could not listen.
    #[error("worker {core} could not listen on {addr}: {reason}")]
    Listen {
        /// The worker.
        core: CoreId,
        /// The address.
        addr: String,
        /// What the OS said.
        reason: String,
    },
    /// Signal handling could not be installed.
    #[error("could not install signal handlers: {0}")]
    Signals(String),
}

/// Why `NodeHandle::connect` did not join a peer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConnectError {
    /// The handshake with `addr` was refused, by this side or by the peer; the
    /// reason names the check.
    #[error("handshake with {addr} refused: {reason}")]
    Refused {
        /// The peer's address.
        addr: std::net::SocketAddr,
        /// Which check failed.
        reason: HandshakeRefusal,
    },
    /// Dialing `addr` or the socket failed (refused, reset, closed).
    #[error("connection to {addr} failed: {kind:?}: {message}")]
    Io {
        /// The peer's address.
        addr: std::net::SocketAddr,
        /// The OS error's kind.
        kind: std::io::ErrorKind,
        /// What the OS said.
        message: String,
    },
    /// The handshake did not finish within `COREMESH_HANDSHAKE_TIMEOUT_MS`.
    #[error("handshake with {addr} did not finish within the handshake deadline of {deadline_ms} ms (COREMESH_HANDSHAKE_TIMEOUT_MS)")]
    HandshakeTimeout {
        /// The peer's address.
        addr: std::net::SocketAddr,
        /// The deadline.
        deadline_ms: u64,
    },
    /// The peer broke the protocol after the handshake (a bad advert or frame).
    #[error("peer {addr} broke the protocol: {reason}")]
    Protocol {
        /// The peer's address.
        addr: std::net::SocketAddr,
        /// What was wrong.
        reason: String,
    },
    /// Core 0's inbox of commands from other threads is full: nothing was
    /// queued; try again later.
    #[error("the inbox of {core} is full; the connect was not queued, try again later")]
    InboxFull {
        /// The core (core 0 dials).
        core: crate::ids::CoreId,
    },
    /// TLS failed (TLS on here or on the peer): the peer's certificate was refused,
    /// the peer refused this node's, or only one of the two speaks TLS; the text
    /// says which.
    #[error("{0}")]
    Tls(String),
    /// The node has shut down.
    #[error("the node has shut down")]
    NodeStopped,
    /// No answer within the wait's timeout; the connection may still be made.
    #[error("no answer from the connecting core within {waited:?}")]
    Timeout {
        /// How long the caller waited.
        waited: std::time::Duration,
    },
}

/// Which handshake check refused a connection ([`ConnectError::Refused`]).
/// Values this side cannot know are `None`: when the peer refused, its Refuse
/// message carries the check but not its own value (`wire/FORMAT.md`,
/// "Refuse"); the peer logs both. The cookie is never named.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HandshakeRefusal {
    /// The nodes belong to different clusters (`COREMESH_CLUSTER`).
    #[error("cluster name mismatch: ours {ours:?}, the peer's {}", theirs.as_deref().map_or("another (the peer refused; its log names it)".to_string(), |t| format!("{t:?}")))]
    ClusterMismatch {
        /// Our cluster name.
        ours: String,
        /// The peer's, when this side found the mismatch.
        theirs: Option<String>,
    },
    /// The nodes hold different cookies (`COREMESH_COOKIE`); the cookies are never shown.
    #[error("cookie mismatch: the peer holds another COREMESH_COOKIE ({})", if *by_peer { "the peer refused our proof" } else { "the peer's proof was wrong" })]
    CookieMismatch {
        /// Whether the peer found it (else this side did).
        by_peer: bool,
    },
    /// Another coremesh frame format (another coremesh version).
    #[error(
        "frame format mismatch: ours {ours:#018x}, the peer's {theirs:#018x} (another coremesh wire format)"
    )]
    FormatMismatch {
        /// Ours.
        ours: u64,
        /// The peer's.
        theirs: u64,
    },
    /// A message type both builds declare has different schemas.
    #[error("message type `{type_name}` ({type_id:#018x}) has another schema on the peer: fingerprint ours {ours:#018x}, the peer's {theirs:#018x}")]
    SchemaMismatch {
        /// Its stable name.
        type_name: String,
        /// Its type id.
        type_id: u64,
        /// Our fingerprint.
        ours: u64,
        /// The peer's.
        theirs: u64,
    },
    /// The peer refused our frame format or type table (another build); its
    /// log names the type and both fingerprints.
    #[error(
        "build mismatch: the peer refused our frame format or message type table (its log names the type)"
    )]
    BuildMismatch,
    /// Another handshake protocol version.
    #[error("protocol version mismatch: ours {ours}, the peer's {}", theirs.map_or("another (the peer refused)".to_string(), |t| t.to_string()))]
    VersionMismatch {
        /// Ours.
        ours: u16,
        /// The peer's, when this side found the mismatch.
        theirs: Option<u16>,
    },
    /// The peer is this very node (same node id).
    #[error("the peer is this node itself")]
    SelfConnection,
    /// Both nodes dialed each other at once and the peer's connection won,
    /// but it did not come up in time.
    #[error("duplicate connection (both nodes dialed at once) and the surviving one did not come up")]
    Duplicate,
    /// The peer is not a coremesh node (bad magic).
    #[error("the peer is not a coremesh node (bad handshake magic)")]
    NotCoremesh,
    /// The peer's handshake message was invalid (or it found ours invalid).
    #[error("malformed handshake: {reason}")]
    Malformed {
        /// What was wrong.
        reason: String,
    },
    /// Our own cluster name or advert is over the handshake's limit.
    #[error("our cluster name or advert is over the handshake's limit")]
    TooLong,
}

pub use remote_spawn::RemoteSpawnError;

/// The refusal of a remote spawn is archived (it is the system actor's reply);
/// its archived form and resolver stay private to the crate.
mod remote_spawn {
    use crate::ids::NodeId;

    /// Why the other node refused a `spawn_remote` (the system actor's typed
    /// answer, archived across the wire: `wire/FORMAT.md`, `coremesh.sys.Spawn`).
    #[derive(
        Debug, Clone, PartialEq, Eq, thiserror::Error, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize,
    )]
    pub enum RemoteSpawnError {
        /// The actor kind is not registered on the peer (`register_remote` there).
        #[error("actor kind `{kind_name}` is not registered on {node} (call register_remote there)")]
        NotRegistered {
            /// The kind's stable name (`RemoteSpawn::NAME`).
            kind_name: String,
            /// The peer.
            node: NodeId,
        },
        /// The arguments failed validation as the kind's `Args` on the peer.
        #[error("the arguments for `{kind_name}` failed validation on the peer: {reason}")]
        BadArgs {
            /// The kind.
            kind_name: String,
            /// What the validator said.
            reason: String,
        },
        /// The kind's `create` panicked on the peer; nothing was spawned.
        #[error("`{kind_name}`'s create panicked on the peer: {message}")]
        CreatePanicked {
            /// The kind.
            kind_name: String,
            /// The panic's message.
            message: String,
        },
        /// The placement named a core the peer does not have.
        #[error("core {core} does not exist on {node}, which has {cores} cores")]
        NoSuchCore {
            /// The peer.
            node: NodeId,
            /// The core asked for.
            core: u16,
            /// How many the peer has.
            cores: u16,
        },
        /// The chosen core could not take the creation (its inbox is full or the
        /// peer is stopping); nothing was spawned.
        #[error("core {core} of {node} could not take the creation (inbox full or stopping)")]
        CoreUnavailable {
            /// The peer.
            node: NodeId,
            /// The chosen core.
            core: u16,
        },
    }
}

/// Why this build's message types do not make a type table; `Node::start` fails with it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SchemaError {
    /// Two declarations in this build give one type id different fingerprints.
    #[error(
        "message type `{}` (type id {:#018x}) is declared twice in this build with different \
         schemas: as {} (fingerprint {:#018x}) and as {} (fingerprint {:#018x}); declare it once, \
         or give one of them another stable name",
        first.name, first.type_id, first.rust_type, first.fingerprint, second.rust_type, second.fingerprint
    )]
    Conflict {
        /// One declaration.
        first: crate::ids::MessageType,
        /// The other (same type id).
        second: crate::ids::MessageType,
    },
    /// A stable name whose type id is 0, which frames without a message use.
    #[error("message type `{}` ({}) has type id 0, which is reserved; choose another stable name", message.name, message.rust_type)]
    ReservedTypeId {
        /// The declaration.
        message: crate::ids::MessageType,
    },
    /// More message types than a Hello carries.
    #[error("this build declares {count} message types; a handshake carries at most {max}")]
    TooMany {
        /// Distinct type ids declared.
        count: usize,
        /// `MAX_TYPE_TABLE_ENTRIES`.
        max: usize,
    },
}
