//! One node's workloads, shared by the `local` criterion bench and the
//! report: coremesh tells and asks from a task on worker core 0 to a
//! [`Sink`] on any core of the same node (`tell/same_core`,
//! `tell/cross_core`, `ask/...`), and, beside them, ractor's same-core
//! tells ([`crate::ractor_load::RactorLocal`]).
//!
//! It owns the bench's one-node [`Node`] ([`MeshLocal`]). It must never time
//! anything but the loop itself (each run is timed on core 0 and handed
//! back), and never wait without a bound.

use std::io;
use std::time::{Duration, Instant};

use coremesh::{ActorRef, Config, CoreId, Node};

use crate::actors::{Add, Sink};
use crate::measure::Stop;
use crate::mesh::{on_core0, tells};
use crate::raw::{Throughput, IO_TIMEOUT};

pub const TELL_SAME_CORE: &str = "tell/same_core";

/// A node with its worker cores on `cpus` and a [`Sink`] on each core.
pub struct MeshLocal {
    node: Node,
    sinks: Vec<ActorRef<Sink>>,
}

impl MeshLocal {
    /// Starts the node (one worker core per CPU of `cpus`, in order) and one
    /// sink on each of its cores.
    pub fn start(cpus: &[usize]) -> io::Result<MeshLocal> {
        // A node of its own, reached by nobody: a development node (no cookie needed).
        let config = Config::builder()
            .dev_mode(true)
            .cores(cpus.iter().copied())
            .build()
            .map_err(|e| io::Error::other(format!("local node config: {e}")))?;
        let node =
            Node::start(config).map_err(|e| io::Error::other(format!("starting the local node: {e}")))?;
        let mut sinks = Vec::new();
        for core in 0..cpus.len() {
            let core = u16::try_from(core).map_err(|_| io::Error::other("too many cores"))?;
            let sink = node
                .spawn_on(CoreId(core), || Sink::new(0))
                .wait()
                .map_err(|e| io::Error::other(format!("spawning a sink on core {core}: {e}")))?;
            sinks.push(sink);
        }
        Ok(MeshLocal { node, sinks })
    }

    /// The sink on core `core`, if the node has that core.
    pub fn sink(&self, core: usize) -> Option<ActorRef<Sink>> {
        self.sinks.get(core).copied()
    }

    /// Tells of `Add { n: 1 }` from a task on core 0 to `sink` until `stop`
    /// (then one ask, inside the timed part, so every tell was handled).
    pub fn tells(&self, sink: ActorRef<Sink>, stop: Stop) -> io::Result<Throughput> {
        let min = match stop {
            Stop::After(min) => min,
            Stop::Count(_) => Duration::ZERO,
        };
        on_core0(&self.node, min, move || tells(sink, Add { n: 1 }, 1, 8, stop))
    }

    /// `count` sequential asks of `Add { n: 1 }` from a task on core 0 to
    /// `sink`; the time they took.
    pub fn asks(&self, sink: ActorRef<Sink>, count: u64) -> io::Result<Duration> {
        on_core0(&self.node, Duration::ZERO, move || async move {
            let start = Instant::now();
            for _ in 0..count {
                sink.ask(Add { n: 1 })
                    .timeout(IO_TIMEOUT)
                    .await
                    .map_err(|e| io::Error::other(format!("ask: {e}")))?;
            }
            Ok(start.elapsed())
        })
    }

    /// Shuts the node down.
    pub fn shutdown(self) -> io::Result<()> {
        self.node.shutdown().map_err(|e| io::Error::other(format!("shutting the local node down: {e}")))
    }
}
