//! Starting and stopping a node: [`Node`].
//!
//! Owns: the worker threads (one glommio `LocalExecutor` pinned per worker CPU),
//! the control thread (pinned with core_affinity; it runs membership), the
//! mesh of rings between the workers, the metrics endpoint when configured
//! (`crate::metrics`), and clean shutdown on request or on SIGINT/SIGTERM. Must never: return from `shutdown` while a worker thread
//! still runs, or start a node whose workers could not all be pinned.

pub(crate) mod answers;
pub(crate) mod fatal;
pub(crate) mod handle;
pub(crate) mod hooks;
pub mod local;

use std::ops::Deref;
use std::rc::Rc;
use std::sync::mpsc;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use glommio::{LocalExecutorBuilder, Placement};

use crate::config::Config;
use crate::core::service::{run_service, ServiceExit};
use crate::core::shared::{register_node, CoreShared, NodeShared, INBOX_COMMANDS_MAX};
use crate::core::CoreRt;
use crate::error::NodeError;
use crate::ids::{CoreId, NodeId};
use crate::node::fatal::{run_worker, WorkerEnd};
use crate::node::handle::NodeHandle;
use crate::stats::CoreStats;
use crate::sync::flag::Flag;
use crate::sync::inbox::Inbox;
use crate::sync::ring::{ring, RingRx, RingTx};
use crate::sync::signal::CoreSignal;

/// glommio reserves this much registered memory for storage I/O per executor;
/// coremesh does none, so it asks for glommio's minimum and leaves the
/// locked-memory limit to io_uring rings.
const IO_MEMORY_BYTES: usize = 64 * 1024;
/// How long `start` waits for every worker to report it is running.
const START_TIMEOUT: Duration = Duration::from_secs(10);

/// A running node: worker cores, the control thread, and a [`NodeHandle`]
/// (which `Node` derefs to).
///
/// ```no_run
/// use coremesh::{Config, Node};
/// let node = Node::start(Config::from_env()?)?;
/// println!("{} runs {} worker cores", node.id(), node.cores());
/// node.shutdown()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Node {
    handle: NodeHandle,
    workers: Vec<(CoreId, JoinHandle<Result<ServiceExit, WorkerEnd>>)>,
    control: Option<(JoinHandle<()>, mpsc::Sender<()>)>,
    metrics: Option<crate::metrics::server::MetricsServer>,
}

impl Deref for Node {
    type Target = NodeHandle;
    fn deref(&self) -> &NodeHandle {
        &self.handle
    }
}

fn random_node_id() -> NodeId {
    let mut bytes = [0u8; 8];
    // getrandom(2) cannot fail for 8 bytes once the pool is initialised; fall back to
    // time and pid mixing if it does, since a node id needs uniqueness, not secrecy.
    // SAFETY: `bytes` is a valid writable buffer of the length passed.
    let n = unsafe { libc::getrandom(bytes.as_mut_ptr().cast(), bytes.len(), 0) };
    if n != 8 {
        let t = crate::clock::unix_now_ns();
        bytes = (t ^ (u64::from(std::process::id()) << 32)).to_le_bytes();
    }
    NodeId(u64::from_le_bytes(bytes) | 1)
}

impl Node {
    /// A handle to this node for other threads (`Send + Sync + Clone`).
    pub fn handle(&self) -> NodeHandle {
        self.handle.clone()
    }

    /// Where the metrics endpoint listens (`GET /metrics`), if the config asked
    /// for one ([`Config::metrics_addr`]); with port 0, the port it got.
    pub fn metrics_addr(&self) -> Option<std::net::SocketAddr> {
        self.metrics.as_ref().map(|m| m.addr())
    }

    /// Starts the worker cores and the control thread.
    pub fn start(config: Config) -> Result<Node, NodeError> {
        // The type table every handshake sends: a build that contradicts itself stops here.
        let type_table = crate::actor::message::type_table()?;
        let cpus = config.worker_cpus().to_vec();
        let n = cpus.len();
        if config.control_shares_worker_cpu() {
            tracing::info!(
                control_cpu = config.control_cpu(),
                "the control thread shares CPU {} with a worker (not enough CPUs to give it its own)",
                config.control_cpu()
            );
        }
        // The mesh: tx[source][target] and rx[target][source].
        let mut tx: Vec<Vec<Option<RingTx>>> = (0..n).map(|_| (0..n).map(|_| None).collect()).collect();
        let mut rx: Vec<Vec<Option<RingRx>>> = (0..n).map(|_| (0..n).map(|_| None).collect()).collect();
        for (t, rx_row) in rx.iter_mut().enumerate() {
            for (s, tx_row) in tx.iter_mut().enumerate() {
                if s != t {
                    let (a, b) = ring(config.ring_bytes())?;
                    tx_row[t] = Some(a);
                    rx_row[s] = Some(b);
                }
            }
        }
        let id = random_node_id();
        let shared = Arc::new(NodeShared {
            id,
            type_table,
            membership: crate::cluster::membership::MembershipShared::new(id),
            // At most 1 GiB (checked by the config), so it fits the wire's u32.
            max_payload_bytes: config.max_frame_bytes() as u32,
            cores: (0..n)
                .map(|_| CoreShared {
                    signal: CoreSignal::default(),
                    inbox: Inbox::new(INBOX_COMMANDS_MAX),
                    stats: CoreStats::default(),
                })
                .collect(),
            config: config.clone(),
            stopping: Flag::default(),
            directory: Default::default(),
            registry: Default::default(),
            ports: std::sync::Mutex::new(vec![0; n]),
            handshakes: crate::core::shared::HandshakeBounds::new(&config),
            fatal: std::sync::Mutex::new(None),
        });
        register_node(&shared);
        let handle = NodeHandle::from_shared(shared.clone());
        let mut node = Node { handle, workers: Vec::with_capacity(n), control: None, metrics: None };
        let metrics = config.metrics_addr().map(|_| crate::metrics::NodeMetrics::new(n));

        let (ready_tx, ready_rx) = mpsc::channel::<Result<(CoreId, u16), NodeError>>();
        for (i, ((cpu, txs), rxs)) in cpus.iter().copied().zip(tx).zip(rx).enumerate() {
            let core = CoreId(i as u16);
            let shared = shared.clone();
            let ready = ready_tx.clone();
            let core_metrics = metrics.as_ref().map(|m| m.cores[i].clone());
            let builder = LocalExecutorBuilder::new(Placement::Fixed(cpu))
                .name(&format!("coremesh-w{i}"))
                .io_memory(IO_MEMORY_BYTES);
            let spawned = std::thread::Builder::new().name(format!("coremesh-w{i}")).spawn(move || {
                let ex = match builder.make() {
                    Ok(ex) => ex,
                    Err(e) => {
                        let reason = e.to_string();
                        let _ = ready.send(Err(NodeError::Executor { core, cpu, reason: reason.clone() }));
                        return Err(WorkerEnd::NeverStarted(reason));
                    }
                };
                let fatal_to = shared.clone();
                run_worker(&fatal_to, core, move || {
                    ex.run(async move {
                        // Core 0 listens on the configured address, the others on a port
                        // of their own on the same IP, advertised in the handshake.
                        let listen = shared.config.listen();
                        let addr = if i == 0 { listen } else { std::net::SocketAddr::new(listen.ip(), 0) };
                        let listener = match glommio::net::TcpListener::bind(addr).and_then(|l| {
                            let port = l.local_addr().map(|a| a.port())?;
                            Ok((l, port))
                        }) {
                            Ok(l) => l,
                            Err(e) => {
                                let reason = e.to_string();
                                let _ = ready.send(Err(NodeError::Listen {
                                    core,
                                    addr: addr.to_string(),
                                    reason,
                                }));
                                return ServiceExit::default();
                            }
                        };
                        crate::metrics::enter_core(core_metrics);
                        let rt: Rc<CoreRt> = CoreRt::new(shared, core, txs, rxs);
                        let _guard = rt.enter();
                        // The system actor is the first of every core: (slot 0, generation 1).
                        let sys =
                            rt.spawn(crate::cluster::system::SystemActor { shared: rt.shared().clone() });
                        debug_assert_eq!((sys.id().slot, sys.id().generation), (0, 1));
                        glommio::spawn_local(crate::transport::accept_loop(rt.clone(), listener.0)).detach();
                        glommio::spawn_local(crate::transport::heartbeat::heartbeat_loop(rt.clone()))
                            .detach();
                        glommio::spawn_local(crate::core::pending::timer::run_expiry(rt.clone())).detach();
                        let _ = ready.send(Ok((core, listener.1)));
                        run_service(rt).await
                    })
                })
            });
            match spawned {
                Ok(h) => node.workers.push((core, h)),
                Err(e) => {
                    let err = NodeError::Executor { core, cpu, reason: e.to_string() };
                    let _ = node.stop_threads();
                    return Err(err);
                }
            }
        }
        drop(ready_tx);
        for _ in 0..n {
            match ready_rx.recv_timeout(START_TIMEOUT) {
                Ok(Ok((core, port))) => {
                    shared.ports.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
                        [usize::from(core.0)] = port;
                }
                Ok(Err(e)) => {
                    let _ = node.stop_threads();
                    return Err(e);
                }
                Err(_) => {
                    let _ = node.stop_threads();
                    return Err(NodeError::Executor {
                        core: CoreId(0),
                        cpu: cpus.first().copied().unwrap_or(0),
                        reason: "a worker did not start within 10 s".into(),
                    });
                }
            }
        }
        if let (Some(addr), Some(metrics)) = (config.metrics_addr(), metrics) {
            match crate::metrics::server::MetricsServer::start(addr, shared.clone(), metrics) {
                Ok(server) => node.metrics = Some(server),
                Err(e) => {
                    let _ = node.stop_threads();
                    let addr = format!("{addr} (metrics, COREMESH_METRICS)");
                    return Err(NodeError::Listen { core: CoreId(0), addr, reason: e.to_string() });
                }
            }
        }
        node.start_control(&config)?;
        tracing::info!(node = %node.id(), cores = n, cpus = ?cpus, "node started");
        Ok(node)
    }

    fn start_control(&mut self, config: &Config) -> Result<(), NodeError> {
        use crate::cluster::membership::control;
        let cpu = config.control_cpu();
        let shared = self.handle.shared().clone();
        let port = shared.listen_ports().first().copied().unwrap_or(0);
        let addr = std::net::SocketAddr::new(config.listen().ip(), port);
        let socket = control::bind(addr).map_err(|e| NodeError::Listen {
            core: CoreId(0),
            addr: format!("{addr} (UDP, gossip)"),
            reason: e.to_string(),
        })?;
        let ip = control::advertised_ip(config.listen(), config.seeds());
        let (reports_tx, reports_rx) = mpsc::sync_channel(crate::cluster::membership::CONTROL_REPORTS_MAX);
        let control = control::Control::new(shared.clone(), socket, ip, reports_rx)
            .map_err(|reason| NodeError::Control { cpu, reason })?;
        shared.membership.set_control(Some(reports_tx));
        let (stop_tx, stop_rx) = mpsc::channel::<()>();
        let (ready_tx, ready_rx) = mpsc::channel::<Result<(), String>>();
        let h = std::thread::Builder::new()
            .name("coremesh-control".into())
            .spawn(move || {
                if !core_affinity::set_for_current(core_affinity::CoreId { id: cpu }) {
                    let _ = ready_tx.send(Err(format!("sched_setaffinity to CPU {cpu} failed")));
                    return;
                }
                let _ = ready_tx.send(Ok(()));
                control.run(stop_rx);
            })
            .map_err(|e| NodeError::Control { cpu, reason: e.to_string() })?;
        match ready_rx.recv_timeout(START_TIMEOUT) {
            Ok(Ok(())) => {
                self.control = Some((h, stop_tx));
                Ok(())
            }
            Ok(Err(reason)) => {
                let _ = h.join();
                let _ = self.stop_threads();
                Err(NodeError::Control { cpu, reason })
            }
            Err(_) => {
                let _ = self.stop_threads();
                Err(NodeError::Control { cpu, reason: "did not start within 10 s".into() })
            }
        }
    }

    /// Stops every actor (their `stopping` and `stopped` hooks run), then every
    /// core and the control thread, and waits for all threads.
    pub fn shutdown(mut self) -> Result<(), NodeError> {
        self.stop_threads()
    }

    /// Blocks until SIGINT or SIGTERM (or until another thread requests shutdown
    /// through a [`NodeHandle`]), then shuts down cleanly. It returns
    /// [`NodeError::WorkerPanicked`] when the node stopped itself because the
    /// runtime panicked (`crate::node::fatal`).
    ///
    /// `run_until_signal` and [`Node::shutdown`] consume the node; take a
    /// [`NodeHandle`] first to read the counters at the end (they stay
    /// readable after shutdown):
    ///
    /// ```no_run
    /// let node = coremesh::Node::start(coremesh::Config::from_env()?)?;
    /// let handle = node.handle();
    /// node.run_until_signal()?;
    /// println!("dead letters: {}", handle.stats().total().dead_letters);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn run_until_signal(self) -> Result<(), NodeError> {
        self.run_until_signal_with(|| {})
    }

    /// Like [`Node::run_until_signal`], calling `installed` once the signal
    /// handlers are in place (print "ready" there, so a supervisor that signals
    /// right after reading it never kills the process by the default action).
    pub fn run_until_signal_with(self, installed: impl FnOnce()) -> Result<(), NodeError> {
        let term =
            crate::sync::flag::TermSignals::install().map_err(|e| NodeError::Signals(e.to_string()))?;
        installed();
        while !term.received() && !self.is_stopping() {
            std::thread::sleep(Duration::from_millis(20));
        }
        tracing::info!(node = %self.id(), "signal received; shutting down");
        self.shutdown()
    }

    fn stop_threads(&mut self) -> Result<(), NodeError> {
        // The endpoint first: a scrape asks the cores for their gauges.
        if let Some(mut server) = self.metrics.take() {
            server.stop();
        }
        // Leave the cluster first, while the connections are still up, so that
        // peers see MemberLeft rather than a closed connection.
        if let Some((h, stop)) = self.control.take() {
            let _ = stop.send(());
            let _ = h.join();
        }
        self.handle.shared().membership.set_control(None);
        self.handle.request_shutdown();
        let mut result = Ok(());
        for (core, h) in self.workers.drain(..) {
            match h.join() {
                Ok(Ok(exit)) if exit.actors_left > 0 => {
                    result = result.and(Err(NodeError::ShutdownTimeout {
                        core,
                        remaining: exit.actors_left,
                        waited_ms: exit.waited.as_millis() as u64,
                    }));
                }
                Ok(Ok(_)) => {}
                Ok(Err(WorkerEnd::NeverStarted(reason))) => {
                    tracing::debug!(%core, %reason, "worker never started")
                }
                Ok(Err(WorkerEnd::Panicked(fatal))) => result = result.and(Err(fatal.to_error())),
                Err(p) => {
                    let reason = p
                        .downcast_ref::<&str>()
                        .map(|s| s.to_string())
                        .or_else(|| p.downcast_ref::<String>().cloned())
                        .unwrap_or_default();
                    result = result.and(Err(NodeError::WorkerPanicked { core, reason }));
                }
            }
        }
        result
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        if !self.workers.is_empty() || self.control.is_some() || self.metrics.is_some() {
            let _ = self.stop_threads();
        }
    }
}
