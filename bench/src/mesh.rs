//! coremesh's own remote figures, beside the raw baselines: the client side
//! (`remote/ask_rtt`, `remote/tell_u64`, `remote/tell_1k`, each driven from a
//! glommio task on the client node's core 0) and the server side run by
//! `coremesh-bench peer` (a node that lets the client spawn a [`Sink`]).
//!
//! It owns the client [`Node`] and the peer's node. It uses only coremesh's
//! public API, must never block without a bound (every ask has
//! [`IO_TIMEOUT`], every measurement a deadline) and never panic on a peer or
//! network failure: errors come back as `io::Error` naming the step.

use std::future::Future;
use std::io::{self, Write};
use std::net::SocketAddr;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use coremesh::{ActorRef, Config, ConfigError, CoreId, Handles, Message, Node, NodeId, TellError};

use crate::actors::{Add, Kilo, Sink};
use crate::alloc_count;
use crate::measure::{self, Stop};
use crate::raw::{Latencies, Throughput, IO_TIMEOUT};

pub const ASK_RTT: &str = "remote/ask_rtt";
pub const TELL_U64: &str = "remote/tell_u64";
pub const TELL_1K: &str = "remote/tell_1k";
/// Every coremesh figure name, in run order.
pub const FIGURES: [&str; 3] = [ASK_RTT, TELL_U64, TELL_1K];

/// Bytes of one `remote/tell_1k` payload.
pub const KILO_BYTES: usize = 1024;
/// Tells between two looks at the clock.
const TELL_BATCH: u64 = 256;
/// How much longer than its minimum a measurement may take before it fails.
const SLACK: Duration = Duration::from_secs(60);

/// A client node connected to a coremesh peer, holding a [`Sink`] spawned there.
pub struct MeshClient {
    node: Node,
    peer: NodeId,
    sink: ActorRef<Sink>,
}

impl MeshClient {
    /// Starts a node listening on `listen` with one worker core on
    /// `client_cpu` (defaults without it), connects to the peer at `peer_addr`
    /// and spawns a [`Sink`] there.
    pub fn connect(peer_addr: SocketAddr, client_cpu: Option<usize>, listen: SocketAddr) -> io::Result<Self> {
        // A bench cluster: COREMESH_COOKIE applies when set, else the development
        // default (both ends are this binary; see `peer_config`).
        let mut builder = Config::builder().listen(listen).dev_mode(true);
        if let Some(cpu) = client_cpu {
            builder = builder.cores([cpu]);
        }
        let config = builder.build().map_err(|e| io::Error::other(format!("client node config: {e}")))?;
        let node =
            Node::start(config).map_err(|e| io::Error::other(format!("starting the client node: {e}")))?;
        let peer = node
            .connect(peer_addr)
            .wait()
            .map_err(|e| io::Error::other(format!("connecting to the coremesh peer {peer_addr}: {e}")))?;
        let sink = node
            .spawn_remote::<Sink>(peer, 0)
            .timeout(IO_TIMEOUT)
            .wait()
            .map_err(|e| io::Error::other(format!("spawning bench.Sink on {peer}: {e}")))?;
        Ok(MeshClient { node, peer, sink })
    }

    /// The peer's node id.
    pub fn peer(&self) -> NodeId {
        self.peer
    }

    /// Sequential asks (`Add { n: 0 }`) timed by [`measure::rtt`].
    pub fn ask_rtt(&self, min_duration: Duration) -> io::Result<Latencies> {
        let sink = self.sink;
        on_core0(&self.node, min_duration, move || async move {
            measure::rtt(min_duration, || async move { total(sink).await.map(drop) })
                .await?
                .ok_or_else(|| io::Error::other("no samples taken"))
        })
    }

    /// Tells of `Add { n: 1 }` for at least `min_duration`, then one ask.
    pub fn tell_u64(&self, min_duration: Duration) -> io::Result<Throughput> {
        let sink = self.sink;
        on_core0(&self.node, min_duration, move || tells(sink, Add { n: 1 }, 1, 8, Stop::After(min_duration)))
    }

    /// Tells of `Kilo` with [`KILO_BYTES`] of payload for at least
    /// `min_duration`, then one ask.
    pub fn tell_1k(&self, min_duration: Duration) -> io::Result<Throughput> {
        let sink = self.sink;
        let msg = Kilo { bytes: (0..KILO_BYTES).map(|i| i as u8).collect() };
        let (adds, bytes) = (KILO_BYTES as u64, KILO_BYTES as u64);
        on_core0(&self.node, min_duration, move || tells(sink, msg, adds, bytes, Stop::After(min_duration)))
    }

    /// Shuts the client node down.
    pub fn shutdown(self) -> io::Result<()> {
        self.node.shutdown().map_err(|e| io::Error::other(format!("shutting the client node down: {e}")))
    }
}

/// Runs the future `f` makes as a task on `node`'s core 0 and waits for its
/// output, at most `min_duration` + [`SLACK`].
pub fn on_core0<T, F>(
    node: &Node,
    min_duration: Duration,
    f: impl FnOnce() -> F + Send + 'static,
) -> io::Result<T>
where
    T: Send + 'static,
    F: Future<Output = io::Result<T>> + 'static,
{
    let (tx, rx) = mpsc::channel();
    node.run_on(CoreId(0), move || {
        glommio::spawn_local(async move {
            let _ = tx.send(f().await);
        })
        .detach();
    })
    .wait()
    .map_err(|e| io::Error::other(format!("starting the measurement on core 0: {e}")))?;
    let limit = min_duration + SLACK;
    rx.recv_timeout(limit).map_err(|_| {
        io::Error::new(io::ErrorKind::TimedOut, format!("the measurement did not finish within {limit:?}"))
    })?
}

/// The sink's total, by one ask of `Add { n: 0 }`.
async fn total(sink: ActorRef<Sink>) -> io::Result<u64> {
    sink.ask(Add { n: 0 }).timeout(IO_TIMEOUT).await.map_err(|e| io::Error::other(format!("ask: {e}")))
}

/// Tells `msg` (each adds `adds` to the sink's total and carries `bytes` of
/// payload) until `stop`, waiting with `send` whenever a path is full, then
/// asks once so every tell was handled before the clock stops, and checks the
/// total grew by exactly what was sent.
pub async fn tells<M>(
    sink: ActorRef<Sink>,
    msg: M,
    adds: u64,
    bytes: u64,
    stop: Stop,
) -> io::Result<Throughput>
where
    M: Message + Clone,
    Sink: Handles<M>,
{
    let before = total(sink).await?;
    let mut sent: u64 = 0;
    let start = Instant::now();
    loop {
        let batch = stop.next_batch(sent, TELL_BATCH);
        for _ in 0..batch {
            match sink.tell_ref(&msg) {
                Ok(()) => {}
                Err(
                    TellError::MailboxFull { .. } | TellError::RingFull { .. } | TellError::LinkFull { .. },
                ) => sink.send(msg.clone()).await.map_err(|e| io::Error::other(format!("send: {e}")))?,
                Err(e) => return Err(io::Error::other(format!("tell: {e}"))),
            }
        }
        sent += batch;
        if stop.done(sent, start) {
            break;
        }
    }
    let after = total(sink).await?;
    let elapsed = start.elapsed();
    let expected = sent.wrapping_mul(adds);
    if after.wrapping_sub(before) != expected {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("sink total grew by {}, expected {expected}", after.wrapping_sub(before)),
        ));
    }
    Ok(Throughput::new(sent, sent * bytes, elapsed))
}

/// The peer node's config: listening on `listen`, one worker core on `cpu`
/// when given (else the defaults and `COREMESH_*` variables).
pub fn peer_config(listen: SocketAddr, cpu: Option<usize>) -> Result<Config, ConfigError> {
    let mut builder = Config::builder().listen(listen).dev_mode(true);
    if let Some(cpu) = cpu {
        builder = builder.cores([cpu]);
    }
    builder.build()
}

/// `coremesh-bench peer`: starts a node, lets others spawn [`Sink`]s on it,
/// prints `listening <addr> <node id, hex>` and runs until stdin closes,
/// SIGINT or SIGTERM. With `count_allocs` (the counting allocator must be
/// installed) it prints allocations per received message to stderr at exit.
pub fn serve(config: Config, count_allocs: bool) -> io::Result<()> {
    if count_allocs {
        alloc_count::start().map_err(io::Error::other)?;
    }
    let node = Node::start(config).map_err(|e| io::Error::other(format!("starting the node: {e}")))?;
    node.register_remote::<Sink>();
    let handle = node.handle();
    crate::process::on_stdin_eof(move || handle.request_shutdown())?;
    let (addr, id) = (node.listen_addr(), node.id().0);
    let mut printed = Ok(());
    node.run_until_signal_with(|| {
        let mut out = io::stdout().lock();
        printed = writeln!(out, "listening {addr} {id:016x}").and_then(|()| out.flush());
    })
    .map_err(|e| io::Error::other(format!("node: {e}")))?;
    if count_allocs {
        eprint!("{}", alloc_count::report());
    }
    printed
}
