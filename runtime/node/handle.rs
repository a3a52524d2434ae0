//! The node as seen from any thread: [`NodeHandle`].
//!
//! Owns: [`NodeHandle`]'s methods: spawning, telling and asking from any
//! thread, running code on a core, connecting, reading stats and the cluster
//! view. What a node's threads share and the commands a core takes are
//! `crate::core::shared`; the answers to cross-thread requests are
//! `answers.rs`.
//!
//! Must never: touch a core's actors directly; everything goes through the
//! core's inbox and runs on the core.

use std::net::SocketAddr;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;
use std::time::Duration;

use coremesh_wire::{AskExt, FrameHeader, FrameKind};
use rkyv::util::AlignedVec;

use crate::actor::message::Message;
use crate::actor::send::Handles;
use crate::actor::Dispatch;
use crate::cluster::membership::{ClusterState, Subscription, WaitTimeout};
use crate::config::Config;
use crate::core::frames::encode_into;
use crate::core::pending::ForeignReply;
use crate::core::shared::{Command, CoreShared, NodeShared, INBOX_COMMANDS_MAX};
use crate::error::{AskError, ConnectError, NodeError, SpawnError, TellError};
use crate::ids::{ActorId, ActorRef, CoreId, NodeId};
use crate::node::answers::{ForeignAsk, Lookup, LookupWaiting, RemoteSpawning, Waiting};
use crate::stats::NodeStats;
use crate::sync::oneshot;

thread_local! {
    /// Archiving scratch for threads outside the runtime.
    static OUTSIDE_SCRATCH: std::cell::RefCell<crate::actor::message::Scratch> =
        std::cell::RefCell::new(crate::actor::message::Scratch::new());
}

/// A handle to a running node: `Send + Sync + Clone`, usable from any thread,
/// inside or outside the runtime (a std thread, a tokio task).
#[derive(Clone)]
pub struct NodeHandle {
    shared: Arc<NodeShared>,
}

impl std::fmt::Debug for NodeHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeHandle").field("id", &self.shared.id).finish()
    }
}

impl NodeHandle {
    pub(crate) fn from_shared(shared: Arc<NodeShared>) -> Self {
        NodeHandle { shared }
    }

    pub(crate) fn shared(&self) -> &Arc<NodeShared> {
        &self.shared
    }

    /// This node's id.
    pub fn id(&self) -> NodeId {
        self.shared.id
    }

    /// How many worker cores this node runs.
    pub fn cores(&self) -> usize {
        self.shared.cores.len()
    }

    /// The configuration the node runs with.
    pub fn config(&self) -> &Config {
        &self.shared.config
    }

    /// A snapshot of every core's counters.
    pub fn stats(&self) -> NodeStats {
        NodeStats { cores: self.shared.cores.iter().map(|c| c.stats.snapshot()).collect() }
    }

    fn core_shared(&self, core: CoreId) -> Result<&CoreShared, SpawnError> {
        self.shared
            .cores
            .get(usize::from(core.0))
            .ok_or(SpawnError::NoSuchCore { core: core.0, cores: self.cores() })
    }

    fn command(&self, core: CoreId, cmd: Command) -> Result<(), Command> {
        if self.shared.stopping.is_set() {
            return Err(cmd);
        }
        let Some(c) = self.shared.cores.get(usize::from(core.0)) else { return Err(cmd) };
        c.inbox.push(cmd)?;
        c.signal.notify();
        Ok(())
    }

    /// Why `command` refused: the node is stopping (`stopped`), else the
    /// core's inbox is full (`full`); the core number was checked before.
    fn refused<E>(&self, stopped: E, full: E) -> E {
        if self.shared.stopping.is_set() {
            stopped
        } else {
            full
        }
    }

    /// How long a blocking `wait` waits by default: the node's ask timeout.
    fn wait_timeout(&self) -> Duration {
        Duration::from_millis(self.shared.config.ask_timeout_ms())
    }

    /// How long dialing and a handshake may take.
    fn connect_timeout(&self) -> Duration {
        Duration::from_millis(self.shared.config.connection_timeout_ms())
    }

    /// Runs a task on worker `core`: `make` runs there and returns a future
    /// that the core polls beside its actors, with no glommio dependency in
    /// the caller's `Cargo.toml`. The answer is the future's output; waiting
    /// for it is optional (drop the [`Waiting`] and the task still runs), and
    /// [`Waiting::wait`] gives up at its timeout.
    ///
    /// ```no_run
    /// # let node = coremesh::Node::start(coremesh::Config::from_env()?)?;
    /// use std::time::Duration;
    /// let n = node
    ///     .spawn_task_on(coremesh::CoreId(0), || async {
    ///         coremesh::time::sleep(Duration::from_millis(1)).await;
    ///         42
    ///     })
    ///     .wait()?;
    /// assert_eq!(n, 42);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn spawn_task_on<R, Fut, F>(&self, core: CoreId, make: F) -> Waiting<R, SpawnError>
    where
        R: Send + 'static,
        Fut: std::future::Future<Output = R> + 'static,
        F: FnOnce() -> Fut + Send + 'static,
    {
        if let Err(e) = self.core_shared(core) {
            return Waiting::failed(e);
        }
        let (tx, rx) = oneshot::channel();
        let cmd = Command::Run(Box::new(move |core| {
            let core_id = core.core_id();
            // The caller's code: a panic in it (making the future or polling
            // it) is the caller's error, never the core's end.
            let fut = match catch_unwind(AssertUnwindSafe(make)) {
                Ok(fut) => fut,
                Err(p) => return tx.send(Err(task_panicked(core_id, &*p))),
            };
            glommio::spawn_local(async move {
                let done = futures_lite::FutureExt::catch_unwind(AssertUnwindSafe(fut)).await;
                tx.send(done.map_err(|p| task_panicked(core_id, &*p)))
            })
            .detach();
        }));
        match self.command(core, cmd) {
            Ok(()) => Waiting::new(rx, SpawnError::NodeStopped, self.wait_timeout()),
            Err(_) => Waiting::failed(self.refused(SpawnError::NodeStopped, SpawnError::InboxFull { core })),
        }
    }

    /// Runs `f` on worker `core` and returns its result. Inside `f`,
    /// [`crate::node::local`] functions work (spawn on that core, and so on).
    pub fn run_on<R, F>(&self, core: CoreId, f: F) -> Waiting<R, SpawnError>
    where
        R: Send + 'static,
        F: FnOnce() -> R + Send + 'static,
    {
        if let Err(e) = self.core_shared(core) {
            return Waiting::failed(e);
        }
        let (tx, rx) = oneshot::channel();
        let cmd = Command::Run(Box::new(move |core| {
            // The caller's code: its panic is the caller's error, never the core's end.
            tx.send(catch_unwind(AssertUnwindSafe(f)).map_err(|p| task_panicked(core.core_id(), &*p)))
        }));
        match self.command(core, cmd) {
            Ok(()) => Waiting::new(rx, SpawnError::NodeStopped, self.wait_timeout()),
            Err(_) => Waiting::failed(self.refused(SpawnError::NodeStopped, SpawnError::InboxFull { core })),
        }
    }

    /// Spawns an actor made by `make` on worker `core` of this node.
    pub fn spawn_on<A, F>(&self, core: CoreId, make: F) -> Waiting<ActorRef<A>, SpawnError>
    where
        A: Dispatch,
        F: FnOnce() -> A + Send + 'static,
    {
        self.run_on(core, move || {
            crate::node::local::spawn(make()).expect("run_on closures run on a worker core")
        })
    }

    /// Sends `msg` to `to` from any thread. Off-core the message is archived
    /// into an owned buffer and queued in the inbox of the core that sends it
    /// (the target's core; for another node, the core of the same number).
    /// A tell that returns `Ok` is never dropped for lack of room: while its
    /// mailbox or connection is full the core holds it, in order, and the
    /// inbox fills behind it; a tell to a full inbox fails with
    /// [`TellError::InboxFull`] and nothing is enqueued (the awaiting
    /// [`ActorRef::send`] waits instead). Only the node's loss drops an
    /// accepted tell: if the target's node is declared gone or its connection
    /// is lost while the tell waits, it is counted as a dead letter.
    pub fn tell<A, M>(&self, to: &ActorRef<A>, msg: M) -> Result<(), TellError>
    where
        A: Handles<M>,
        M: Message,
    {
        self.tell_ref(to, &msg)
    }

    /// [`NodeHandle::tell`] without giving up the message.
    pub fn tell_ref<A, M>(&self, to: &ActorRef<A>, msg: &M) -> Result<(), TellError>
    where
        A: Handles<M>,
        M: Message,
    {
        if let Some(r) = crate::core::with_current(|c| {
            (c.node_id() == self.shared.id).then(|| {
                c.send(to.id(), M::TYPE_ID, 0, None, msg).map_err(|f| f.into_tell(to.id(), c.core_id()))
            })
        })
        .flatten()
        {
            return r;
        }
        let bytes = self.encode(to.id(), M::TYPE_ID, None, msg)?;
        self.push_frame(to.id(), bytes, None)
    }

    /// Asks `to` from any thread; the future is `Send` (await it in tokio or any
    /// executor) and [`ForeignAsk::wait`] blocks instead. The default timeout is
    /// `COREMESH_ASK_TIMEOUT_MS`. Like [`NodeHandle::tell`], a request whose
    /// mailbox or connection is full waits in order (its timeout runs), and a
    /// full inbox fails it at once with [`TellError::InboxFull`].
    pub fn ask<A, M>(&self, to: &ActorRef<A>, msg: M) -> ForeignAsk<<A as Handles<M>>::Reply>
    where
        A: Handles<M>,
        M: Message,
    {
        let timeout = Duration::from_millis(self.shared.config.ask_timeout_ms());
        let mut ask = ForeignAsk { unsent: None, error: None, timeout, _reply: std::marker::PhantomData };
        // The deadline is written when the ask is sent, once its timeout is final.
        let ext = AskExt { deadline_unix_ns: 0, reply_node: self.shared.id.0, reply_core: 0 };
        match self.encode(to.id(), M::TYPE_ID, Some(&ext), &msg) {
            Ok(bytes) => ask.unsent = Some((self.clone(), to.id(), bytes)),
            Err(e) => ask.error = Some(AskError::NotSent(e)),
        }
        ask
    }

    fn encode<M: Message>(
        &self,
        to: ActorId,
        type_id: u64,
        ext: Option<&AskExt>,
        msg: &M,
    ) -> Result<AlignedVec<16>, TellError> {
        if to.node != self.shared.id && self.shared.directory.get(to.node).is_none() {
            return Err(self.shared.directory.unreachable(to.node));
        }
        if to.node == self.shared.id && usize::from(to.core.0) >= self.cores() {
            return Err(TellError::NoSuchCore { actor: to, core: to.core.0, cores: self.cores() });
        }
        let header = FrameHeader {
            payload_len: 0,
            kind: if ext.is_some() { FrameKind::Ask } else { FrameKind::Tell },
            core: to.core.0,
            type_id,
            slot: to.slot,
            generation: to.generation,
            corr: 0,
        };
        let mut buf = AlignedVec::new();
        let max = self.shared.max_payload_bytes as usize;
        OUTSIDE_SCRATCH
            .with(|s| encode_into(&mut buf, s.borrow_mut().allocator(), &header, ext, msg, max))
            .map_err(|f| f.into_tell(to, to.core))?;
        Ok(buf)
    }

    pub(crate) fn push_frame(
        &self,
        to: ActorId,
        bytes: AlignedVec<16>,
        reply: Option<ForeignReply>,
    ) -> Result<(), TellError> {
        // A frame for another node leaves through the core of the same number
        // (modulo this node's cores), so one outside thread's frames to one
        // actor keep their order.
        let via = if to.node == self.shared.id { to.core } else { CoreId(to.core.0 % self.cores() as u16) };
        match self.command(via, Command::Frame { to_node: to.node, bytes, reply }) {
            Ok(()) => Ok(()),
            Err(_) if self.shared.stopping.is_set() => Err(TellError::NodeStopped),
            Err(_) => Err(TellError::InboxFull { core: via, commands: INBOX_COMMANDS_MAX }),
        }
    }

    /// The address core 0 listens on: give it to `connect` on another node.
    pub fn listen_addr(&self) -> std::net::SocketAddr {
        let port = self.shared.listen_ports().first().copied().unwrap_or(0);
        std::net::SocketAddr::new(self.shared.config.listen().ip(), port)
    }

    /// Connects to the node listening at `addr`: a handshake (cluster, build and
    /// cookie must match) from core 0, then every other core opens its own
    /// connection to the peer's matching core. Returns the peer's node id once
    /// core 0 is connected; frames the other cores send meanwhile wait in their
    /// links until their connections are up.
    pub fn connect(&self, addr: SocketAddr) -> Waiting<NodeId, ConnectError> {
        let (reply, rx) = oneshot::channel();
        match self.command(CoreId(0), Command::Connect { addr, reply }) {
            // Dialing and the handshake are bounded by the connection timeout.
            Ok(()) => {
                Waiting::new(rx, ConnectError::NodeStopped, self.connect_timeout() + self.wait_timeout())
            }
            Err(_) => Waiting::failed(
                self.refused(ConnectError::NodeStopped, ConnectError::InboxFull { core: CoreId(0) }),
            ),
        }
    }

    /// Lets other nodes spawn actors of type `A` here with `spawn_remote`.
    pub fn register_remote<A: crate::cluster::system::RemoteSpawn>(&self) {
        self.shared.registry.register::<A>();
    }

    /// Publishes `actor` under `name` on this node, for `lookup` from any node.
    pub fn publish<A>(&self, name: &str, actor: &ActorRef<A>) {
        self.shared.registry.publish(name, actor.id());
    }

    /// Looks `name` up on `node` (this node or a connected one): `.wait()` from a
    /// plain thread, `.await` anywhere (on a worker core, always await).
    pub fn lookup<A>(&self, node: NodeId, name: &str) -> Lookup<A> {
        if node == self.shared.id {
            return Lookup {
                local: Some(self.shared.registry.lookup(name)),
                ask: None,
                _actor: Default::default(),
            };
        }
        let sys = crate::cluster::system::system_actor(node, CoreId(0));
        let ask = self.ask(&sys, crate::cluster::system::Lookup { name: name.to_string() });
        Lookup { local: None, ask: Some(ask), _actor: Default::default() }
    }

    /// Looks `name` up on `node` (this node or a connected one), waiting until
    /// it is published there or `timeout` passes: the node asked holds the
    /// lookup and answers it when `publish` runs, so nobody polls. Ends with
    /// [`AskError::Timeout`] at the deadline, or [`AskError::LookupsFull`] at
    /// once when that node holds its bound of waiting lookups. `.wait()` from
    /// a plain thread, `.await` anywhere (on a worker core, always await).
    ///
    /// ```no_run
    /// # struct Counter;
    /// # let node = coremesh::Node::start(coremesh::Config::from_env()?)?;
    /// # let peer = node.id();
    /// use std::time::Duration;
    /// let counter = node.lookup_wait::<Counter>(peer, "counter", Duration::from_secs(5)).wait()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn lookup_wait<A>(&self, node: NodeId, name: &str, timeout: Duration) -> LookupWaiting<A> {
        let sys = crate::cluster::system::system_actor(node, CoreId(0));
        let ask =
            self.ask(&sys, crate::cluster::system::LookupWait { name: name.to_string() }).timeout(timeout);
        LookupWaiting { node, ask, _actor: Default::default() }
    }

    /// Spawns an actor of type `A` on `node`, which must have registered `A`
    /// (`register_remote`); `args` are archived, sent, validated there and
    /// given to `A::create`. It lands on the core the peer chooses by the
    /// request's [`Placement`](crate::Placement): round-robin over its cores
    /// unless `.on_core(c)` or `.placement(p)` says otherwise; the new ref's
    /// `core()` says where. A refusal is [`SpawnError::Remote`] with a typed
    /// [`RemoteSpawnError`](crate::RemoteSpawnError).
    ///
    /// ```no_run
    /// # use coremesh::{Actor, Ctx, Handler, RemoteSpawn};
    /// # struct Worker;
    /// # impl Actor for Worker {}
    /// # coremesh::handlers!(Worker:);
    /// # impl RemoteSpawn for Worker {
    /// #     const NAME: &'static str = "doc.Worker";
    /// #     type Args = u64;
    /// #     fn create(_: &coremesh::rkyv::Archived<u64>) -> Self { Worker }
    /// # }
    /// # let node = coremesh::Node::start(coremesh::Config::from_env()?)?;
    /// # let peer = node.connect("127.0.0.1:7000".parse()?).wait()?;
    /// use coremesh::{CoreId, Placement};
    /// let w = node.spawn_remote::<Worker>(peer, 1).on_core(CoreId(1)).wait()?;
    /// assert_eq!(w.core(), CoreId(1));
    /// let by_key = node.spawn_remote::<Worker>(peer, 2).placement(Placement::ByKey(42)).wait()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn spawn_remote<A: crate::cluster::system::RemoteSpawn>(
        &self,
        node: NodeId,
        args: A::Args,
    ) -> RemoteSpawning<A> {
        let mut args_buf = AlignedVec::<16>::new();
        let archived = OUTSIDE_SCRATCH.with(|s| {
            rkyv::api::low::to_bytes_in_with_alloc::<_, _, rkyv::rancor::Error>(
                &args,
                &mut args_buf,
                s.borrow_mut().allocator(),
            )
            .map(|_| ())
        });
        RemoteSpawning {
            node: self.clone(),
            peer: node,
            args: archived
                .map(|()| args_buf.to_vec())
                .map_err(|e| SpawnError::BadArgs { reason: e.to_string() }),
            placement: crate::cluster::system::Placement::default(),
            timeout: None,
            _actor: std::marker::PhantomData,
        }
    }

    /// Asks every core to stop its actors and exit. Returns at once; `Node::shutdown`
    /// waits for the threads.
    pub fn request_shutdown(&self) {
        if self.shared.stopping.is_set() {
            return;
        }
        self.shared.stopping.set();
        for c in &self.shared.cores {
            c.inbox.push_control(Command::Shutdown);
            c.signal.force_wake();
        }
    }

    /// Whether shutdown has been requested.
    pub fn is_stopping(&self) -> bool {
        self.shared.stopping.is_set()
    }

    /// The runtime panic that stopped this node, if one did: the runtime's own
    /// code (never an actor's, whose panic stops only that actor) panicked on
    /// a worker core, and the node left the cluster, failed its pending asks
    /// and stopped rather than run on with a dead core. A service that does
    /// not sit in [`Node::run_until_signal`](crate::Node::run_until_signal)
    /// (which returns this error) can poll it beside
    /// [`NodeHandle::is_stopping`] and decide whether to exit or restart.
    pub fn fatal(&self) -> Option<NodeError> {
        let fatal = self.shared.fatal.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        fatal.as_ref().map(crate::node::fatal::Fatal::to_error)
    }
}

/// The error for a `run_on` closure or `spawn_task_on` task that panicked.
fn task_panicked(core: CoreId, p: &(dyn std::any::Any + Send)) -> SpawnError {
    SpawnError::TaskPanicked { core, message: crate::core::cell::panic_message(p) }
}

/// The cluster as this node sees it (`crate::cluster::membership`).
impl NodeHandle {
    /// The cluster as this node sees it now.
    ///
    /// ```no_run
    /// # let node = coremesh::Node::start(coremesh::Config::from_env()?)?;
    /// for m in node.cluster_state().members {
    ///     println!("{} at {} is {:?}", m.node, m.addr, m.status);
    /// }
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn cluster_state(&self) -> ClusterState {
        self.shared.membership.snapshot()
    }

    /// Blocks until `pred` holds for the cluster state (checked now and after
    /// every change), or `timeout` passes: then the error carries the last view.
    /// Call it from a plain thread, not from a worker core.
    ///
    /// ```no_run
    /// # let node = coremesh::Node::start(coremesh::Config::from_env()?)?;
    /// use std::time::Duration;
    /// let state = node.wait_for(|s| s.up_nodes().len() == 3, Duration::from_secs(5))?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn wait_for(
        &self,
        pred: impl FnMut(&ClusterState) -> bool,
        timeout: Duration,
    ) -> Result<ClusterState, WaitTimeout> {
        self.shared.membership.wait_for(pred, timeout)
    }

    /// Membership events: first a MemberUp for every other member that is up
    /// now (so no member is missed between reading the state and subscribing),
    /// then every MemberUp, MemberLeft and MemberDown as it happens. At most
    /// [`SUBSCRIBER_EVENTS_MAX`](crate::membership::SUBSCRIBER_EVENTS_MAX) wait unread; past that, events are dropped and
    /// the subscriber reads one [`MemberEvent::Lagged`](crate::MemberEvent::Lagged) in their place.
    pub fn subscribe(&self) -> Subscription {
        self.shared.membership.subscribe()
    }
}
