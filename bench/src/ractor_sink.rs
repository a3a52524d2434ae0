//! The ractor side of the comparison: the sink actor and its messages (the
//! same workloads as [`crate::actors`], as a `RactorClusterMessage` so
//! ractor_cluster can carry them), the pinned single-thread tokio runtime
//! every ractor figure runs on ([`RactorThread`]), and the
//! `coremesh-bench ractor-peer` process (a ractor_cluster `NodeServer` with
//! one sink in the pg group [`SINK_GROUP`]).
//!
//! It owns the ractor actors and runtimes of this process. It must never
//! touch coremesh (the two are measured apart), never block without a bound
//! (every wait has a deadline) and never panic on a peer or network failure:
//! errors come back as [`RactorError`].

use std::future::Future;
use std::io::{self, Write};
use std::net::{SocketAddr, TcpListener};
use std::pin::Pin;
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use ractor_cluster::{NodeServer, RactorClusterMessage};

use crate::pin::pin_current_thread;

/// The pg group the peer's sink joins; clients find it there.
pub const SINK_GROUP: &str = "bench.ractor.Sink";
/// The cookie both ends of the bench present (ractor_cluster's handshake).
pub const COOKIE: &str = "coremesh-bench";
/// Bound on starting a runtime, a node server or a sink, and on connecting.
pub const START_TIMEOUT: Duration = Duration::from_secs(10);

/// What went wrong on the ractor side; each variant names the step.
#[derive(Debug, thiserror::Error)]
pub enum RactorError {
    /// An OS call failed (pinning, binding, starting a thread or runtime).
    #[error("{step}: {source}")]
    Io { step: &'static str, source: io::Error },
    /// ractor refused to spawn an actor.
    #[error("spawning {what}: {reason}")]
    Spawn { what: &'static str, reason: String },
    /// Connecting to the peer's node server failed.
    #[error("connecting to the ractor peer {addr}: {reason}")]
    Connect { addr: SocketAddr, reason: String },
    /// The peer's sink did not show up in the pg group in time.
    #[error("no remote member of pg group {SINK_GROUP} within {0:?} of connecting")]
    NoSink(Duration),
    /// A cast or call could not be sent (the actor is gone).
    #[error("{step}: {reason}")]
    Send { step: &'static str, reason: String },
    /// A call or a measurement ran past its deadline.
    #[error("{step}: no answer within {limit:?}")]
    Timeout { step: &'static str, limit: Duration },
    /// The sink's total did not grow by what was sent.
    #[error("sink total grew by {got}, expected {expected}")]
    Lost { got: u64, expected: u64 },
    /// The runtime thread ended before answering (it panicked or was stopped).
    #[error("the ractor runtime thread ended before answering")]
    ThreadGone,
}

impl RactorError {
    pub(crate) fn io(step: &'static str) -> impl FnOnce(io::Error) -> RactorError {
        move |source| RactorError::Io { step, source }
    }
}

/// The sink's messages: the same three workloads as coremesh's `bench.Sink`.
#[derive(RactorClusterMessage)]
pub enum SinkMsg {
    /// Adds `n` to the total (the one-u64 tell).
    Add(u64),
    /// Adds the payload's length to the total (the 1 KiB tell).
    Kilo(Vec<u8>),
    /// Replies with the total (the ask).
    #[rpc]
    Total(RpcReplyPort<u64>),
}

/// Sums what it is sent; joins `group` when started with one.
pub struct Sink;

impl Actor for Sink {
    type Msg = SinkMsg;
    type State = u64;
    type Arguments = Option<String>;

    async fn pre_start(
        &self,
        myself: ActorRef<SinkMsg>,
        group: Option<String>,
    ) -> Result<u64, ActorProcessingErr> {
        if let Some(group) = group {
            ractor::pg::join(group, vec![myself.get_cell()]);
        }
        Ok(0)
    }

    async fn handle(
        &self,
        _: ActorRef<SinkMsg>,
        msg: SinkMsg,
        total: &mut u64,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            SinkMsg::Add(n) => *total = total.wrapping_add(n),
            SinkMsg::Kilo(bytes) => *total = total.wrapping_add(bytes.len() as u64),
            SinkMsg::Total(reply) => {
                // The asker may have given up; nothing to do then.
                let _ = reply.send(*total);
            }
        }
        Ok(())
    }
}

/// Spawns a [`Sink`] on the current runtime, in `group` if given.
pub async fn spawn_sink(group: Option<String>) -> Result<ActorRef<SinkMsg>, RactorError> {
    let spawned = tokio::time::timeout(START_TIMEOUT, Actor::spawn(None, Sink, group)).await;
    match spawned {
        Ok(Ok((sink, _join))) => Ok(sink),
        Ok(Err(e)) => Err(RactorError::Spawn { what: "the ractor sink", reason: e.to_string() }),
        Err(_) => Err(RactorError::Timeout { step: "spawning the ractor sink", limit: START_TIMEOUT }),
    }
}

/// Starts a ractor_cluster node server listening on `ip:port` (port 0 is
/// not reported back by ractor_cluster, so the caller picks one: see
/// [`free_port`]).
pub async fn start_node_server(
    name: &str,
    ip: std::net::IpAddr,
    port: u16,
) -> Result<ActorRef<ractor_cluster::NodeServerMessage>, RactorError> {
    let server =
        NodeServer::new(port, COOKIE.into(), name.into(), ip.to_string(), None, None).with_listen_addr(ip);
    match tokio::time::timeout(START_TIMEOUT, Actor::spawn(None, server, ())).await {
        Ok(Ok((server, _join))) => Ok(server),
        Ok(Err(e)) => {
            Err(RactorError::Spawn { what: "the ractor_cluster node server", reason: e.to_string() })
        }
        Err(_) => Err(RactorError::Timeout {
            step: "starting the ractor_cluster node server",
            limit: START_TIMEOUT,
        }),
    }
}

/// A port that was free on `ip` a moment ago (bound and released).
pub fn free_port(ip: std::net::IpAddr) -> Result<u16, RactorError> {
    let probe = TcpListener::bind((ip, 0)).map_err(RactorError::io("finding a free port"))?;
    Ok(probe.local_addr().map_err(RactorError::io("finding a free port"))?.port())
}

type Job = Box<dyn FnOnce() -> Pin<Box<dyn Future<Output = ()>>> + Send>;

/// One OS thread, pinned to a CPU if given, running a tokio current_thread
/// runtime: every ractor actor this process spawns through it (sinks, the
/// node server and its sessions) runs on that one thread, like a coremesh
/// core. Jobs run one at a time; the runtime and its actors end on drop.
pub struct RactorThread {
    jobs: Option<tokio::sync::mpsc::UnboundedSender<Job>>,
    thread: Option<JoinHandle<()>>,
}

impl RactorThread {
    /// Starts the thread (pinned to `cpu` when given) and its runtime.
    pub fn start(cpu: Option<usize>) -> Result<RactorThread, RactorError> {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Job>();
        let (ready_tx, ready_rx) = mpsc::channel::<Result<(), RactorError>>();
        let thread = std::thread::Builder::new()
            .name("ractor".into())
            .spawn(move || {
                let started = cpu
                    .map_or(Ok(()), pin_current_thread)
                    .map_err(RactorError::io("pinning the ractor thread"))
                    .and_then(|()| {
                        tokio::runtime::Builder::new_current_thread()
                            .enable_all()
                            .build()
                            .map_err(RactorError::io("building the tokio runtime"))
                    });
                let rt = match started {
                    Ok(rt) => rt,
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                        return;
                    }
                };
                let _ = ready_tx.send(Ok(()));
                rt.block_on(async move {
                    while let Some(job) = rx.recv().await {
                        job().await;
                    }
                });
            })
            .map_err(RactorError::io("starting the ractor thread"))?;
        let me = RactorThread { jobs: Some(tx), thread: Some(thread) };
        match ready_rx.recv_timeout(START_TIMEOUT) {
            Ok(Ok(())) => Ok(me),
            Ok(Err(e)) => Err(e),
            Err(mpsc::RecvTimeoutError::Timeout) => {
                Err(RactorError::Timeout { step: "starting the ractor thread", limit: START_TIMEOUT })
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => Err(RactorError::ThreadGone),
        }
    }

    /// Runs the future `make` returns on the thread and waits up to `limit`
    /// for its output.
    pub fn run<T, F>(
        &self,
        limit: Duration,
        make: impl FnOnce() -> F + Send + 'static,
    ) -> Result<T, RactorError>
    where
        T: Send + 'static,
        F: Future<Output = Result<T, RactorError>> + 'static,
    {
        let (tx, rx) = mpsc::channel();
        let job: Job = Box::new(move || {
            Box::pin(async move {
                let _ = tx.send(make().await);
            })
        });
        self.jobs.as_ref().ok_or(RactorError::ThreadGone)?.send(job).map_err(|_| RactorError::ThreadGone)?;
        match rx.recv_timeout(limit) {
            Ok(out) => out,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                Err(RactorError::Timeout { step: "a ractor measurement", limit })
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => Err(RactorError::ThreadGone),
        }
    }
}

impl Drop for RactorThread {
    fn drop(&mut self) {
        // Closing the queue ends the thread's loop once the job in hand is
        // done (every job is bounded), and dropping the runtime ends its actors.
        drop(self.jobs.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// `coremesh-bench ractor-peer`: pins this thread to `cpu` when given, starts
/// a ractor_cluster node server on `listen` (a free port when its port is 0)
/// and a [`Sink`] in [`SINK_GROUP`], prints `listening <addr>` and runs until
/// stdin closes (or the process is killed).
pub fn serve_peer(listen: SocketAddr, cpu: Option<usize>) -> Result<(), RactorError> {
    if let Some(cpu) = cpu {
        pin_current_thread(cpu).map_err(RactorError::io("pinning the ractor peer"))?;
    }
    let port = if listen.port() == 0 { free_port(listen.ip())? } else { listen.port() };
    let addr = SocketAddr::new(listen.ip(), port);
    let (closed_tx, closed_rx) = tokio::sync::oneshot::channel::<()>();
    crate::process::on_stdin_eof(move || {
        let _ = closed_tx.send(());
    })
    .map_err(RactorError::io("starting the stdin watcher"))?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(RactorError::io("building the tokio runtime"))?;
    rt.block_on(async move {
        let name = format!("coremesh-bench-peer-{}", std::process::id());
        let server = start_node_server(&name, addr.ip(), port).await?;
        let sink = spawn_sink(Some(SINK_GROUP.to_string())).await?;
        let mut out = io::stdout().lock();
        writeln!(out, "listening {addr}")
            .and_then(|()| out.flush())
            .map_err(RactorError::io("printing the listening line"))?;
        drop(out);
        let _ = closed_rx.await;
        sink.stop(None);
        server.stop(None);
        Ok(())
    })
}
