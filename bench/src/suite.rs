//! The whole remote suite as the `remote` bench and the report run it: where
//! each peer is (a local child pinned to the second CPU, or one named by
//! `COREMESH_BENCH_PEER*` on another machine), which CPU the client uses,
//! and the figures of each system in turn (raw TCP, coremesh, ractor), one
//! peer busy at a time.
//!
//! It owns the settings read from the environment ([`Plan`]) and the peer
//! children it spawns (each stopped before the next system runs). It must
//! never measure against a peer it does not name in the setup lines, never
//! pin the calling thread (children inherit its affinity), and never panic:
//! every failure is a [`SuiteError`] naming the step.

use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use crate::local::{self, MeshLocal};
use crate::measure::Stop;
use crate::mesh::{self, MeshClient};
use crate::process::{self, PeerKind, PeerProcess};
use crate::ractor_load::{self, RactorClient, RactorLocal};
use crate::ractor_sink::RactorError;
use crate::raw;
use crate::report::{self, Figure, Row};

/// `COREMESH_BENCH_PEER=host:port`: the raw peer; the coremesh and ractor
/// peers are then at port + 1 and port + 2 (the layout `coremesh-bench
/// peers` starts), unless named by their own variables below.
pub const PEER_VAR: &str = "COREMESH_BENCH_PEER";
pub const PEER_COREMESH_VAR: &str = "COREMESH_BENCH_PEER_COREMESH";
pub const PEER_RACTOR_VAR: &str = "COREMESH_BENCH_PEER_RACTOR";
pub const SECS_VAR: &str = "COREMESH_BENCH_SECS";
pub const COUNT_ALLOCS_VAR: &str = "COREMESH_BENCH_COUNT_ALLOCS";

/// Why the suite stopped.
#[derive(Debug, thiserror::Error)]
pub enum SuiteError {
    /// A bench variable has a value the suite cannot use.
    #[error("{var}={value:?}: {reason}")]
    Env { var: &'static str, value: String, reason: String },
    /// A step on the coremesh or raw side failed.
    #[error("{step}: {source}")]
    Step { step: String, source: io::Error },
    /// A step on the ractor side failed.
    #[error("{step}: {source}")]
    Ractor { step: &'static str, source: RactorError },
}

fn step(step: impl Into<String>) -> impl FnOnce(io::Error) -> SuiteError {
    let step = step.into();
    move |source| SuiteError::Step { step, source }
}

fn ractor_step(step: &'static str) -> impl FnOnce(RactorError) -> SuiteError {
    move |source| SuiteError::Ractor { step, source }
}

/// Where the figures were measured, and what they are.
#[derive(Default)]
pub struct Measured {
    /// One line per system: peer, address, pinning.
    pub setup: Vec<String>,
    pub rows: Vec<Row>,
}

/// What the suite runs against, and how long each figure runs.
pub struct Plan {
    /// Each figure's minimum run time.
    pub min: Duration,
    pub client_cpu: Option<usize>,
    pub peer_cpu: Option<usize>,
    /// Pass `--count-allocs` to a spawned coremesh peer.
    pub count_allocs: bool,
    /// The `coremesh-bench` binary the peers are started from.
    exe: PathBuf,
    /// Each external peer, with the variable it came from.
    raw_peer: Option<(SocketAddr, &'static str)>,
    mesh_peer: Option<(SocketAddr, &'static str)>,
    ractor_peer: Option<(SocketAddr, &'static str)>,
    /// Printed above the tables (such as: nothing could be pinned).
    pub notes: Vec<String>,
}

impl Plan {
    /// Reads the `COREMESH_BENCH_*` variables. `secs` (a command-line value)
    /// wins over `COREMESH_BENCH_SECS`, which wins over `default_secs`.
    pub fn from_env(exe: PathBuf, secs: Option<f64>, default_secs: f64) -> Result<Plan, SuiteError> {
        let env = |var: &'static str| std::env::var(var).ok().map(|v| (var, v));
        let secs = match (secs, env(SECS_VAR)) {
            (Some(s), _) => s,
            (None, Some((var, v))) => parse_secs(&v).ok_or_else(|| SuiteError::Env {
                var,
                value: v,
                reason: "expected seconds in (0, 3600]".into(),
            })?,
            (None, None) => default_secs,
        };
        let addr = |(var, v): (&'static str, String)| match raw::resolve(&v) {
            Ok(a) => Ok((a, var)),
            Err(e) => Err(SuiteError::Env { var, value: v, reason: e.to_string() }),
        };
        let raw_peer = env(PEER_VAR).map(addr).transpose()?;
        let at = |offset: u16| {
            let (a, _) = raw_peer?;
            Some((SocketAddr::new(a.ip(), a.port().checked_add(offset)?), PEER_VAR))
        };
        let mesh_peer = env(PEER_COREMESH_VAR).map(addr).transpose()?.or_else(|| at(1));
        let ractor_peer = env(PEER_RACTOR_VAR).map(addr).transpose()?.or_else(|| at(2));
        let count_allocs = env(COUNT_ALLOCS_VAR).is_some_and(|(_, v)| v == "1");
        let all_external = raw_peer.is_some() && mesh_peer.is_some() && ractor_peer.is_some();
        let cpus = raw::allowed_cpus().map_err(step("reading the allowed CPUs"))?;
        let mut notes = Vec::new();
        let (client_cpu, peer_cpu) = match cpus[..] {
            [c, p, ..] => (Some(c), Some(p)),
            [c] if all_external => (Some(c), None),
            _ => {
                notes.push("note: fewer than two CPUs are allowed; clients and peers run unpinned".into());
                (None, None)
            }
        };
        let min = Duration::from_secs_f64(secs);
        Ok(Plan { min, client_cpu, peer_cpu, count_allocs, exe, raw_peer, mesh_peer, ractor_peer, notes })
    }

    /// `client pinned to cpu C, peer to cpu P` or what stands in for it.
    pub fn pinning(&self) -> String {
        let client = self.client_pin();
        match self.peer_cpu {
            Some(p) => format!("{client}, peer to cpu {p}"),
            None => format!("{client}, peer unpinned"),
        }
    }

    fn client_pin(&self) -> String {
        self.client_cpu.map_or("client unpinned".to_string(), |c| format!("client pinned to cpu {c}"))
    }

    /// The client's listening IP: every interface when the peer is on
    /// another machine (it may dial back), loopback otherwise.
    fn listen_ip(external: bool) -> IpAddr {
        if external {
            IpAddr::V4(Ipv4Addr::UNSPECIFIED)
        } else {
            IpAddr::V4(Ipv4Addr::LOCALHOST)
        }
    }

    /// The peer of `kind`: the external one if named, else a local child.
    fn peer(&self, kind: PeerKind, external: Option<(SocketAddr, &str)>) -> Result<Peer, SuiteError> {
        let name = kind.subcommand();
        if let Some((addr, var)) = external {
            return Ok(Peer { addr, child: None, line: format!("external {name} at {addr} ({var})") });
        }
        let extra: &[&str] =
            if kind == PeerKind::Coremesh && self.count_allocs { &["--count-allocs"] } else { &[] };
        let listen = SocketAddr::new(Self::listen_ip(false), 0);
        let child = process::spawn(&self.exe, kind, listen, self.peer_cpu, extra)
            .map_err(step(format!("starting the {name}")))?;
        let addr = child.addr();
        let line = format!("local {name} pid {} at {addr}", child.pid());
        Ok(Peer { addr, child: Some(child), line })
    }

    /// The raw-TCP baselines `wanted` accepts.
    pub fn raw(&self, wanted: &(dyn Fn(&str) -> bool + Sync), out: &mut Measured) -> Result<(), SuiteError> {
        if !report::BASELINES.iter().any(|n| wanted(n)) {
            return Ok(());
        }
        let peer = self.peer(PeerKind::Raw, self.raw_peer)?;
        out.setup.push(format!("raw: {}, {}", peer.line, self.pinning_for(&peer)));
        // On a thread of its own: pinning narrows the affinity of the pinned
        // thread and of every process it spawns, and more peers come next.
        let (addr, cpu, min) = (peer.addr, self.client_cpu, self.min);
        let rows = std::thread::scope(|s| s.spawn(|| report::run_baselines(addr, cpu, min, wanted)).join())
            .map_err(|_| SuiteError::Step {
                step: "raw baselines".into(),
                source: io::Error::other("panicked"),
            })?
            .map_err(step("raw baselines"))?;
        out.rows.extend(rows);
        Ok(())
    }

    /// coremesh's remote figures `wanted` accepts.
    pub fn mesh(&self, wanted: &(dyn Fn(&str) -> bool + Sync), out: &mut Measured) -> Result<(), SuiteError> {
        if !mesh::FIGURES.iter().any(|n| wanted(n)) {
            return Ok(());
        }
        let peer = self.peer(PeerKind::Coremesh, self.mesh_peer)?;
        let listen = SocketAddr::new(Self::listen_ip(peer.child.is_none()), 0);
        let client =
            MeshClient::connect(peer.addr, self.client_cpu, listen).map_err(step("coremesh client"))?;
        out.setup.push(format!(
            "coremesh: {} (node {}), one worker core each, {}",
            peer.line,
            client.peer(),
            self.pinning_for(&peer)
        ));
        each(&mesh::FIGURES, wanted, out, |name| {
            match name {
                mesh::ASK_RTT => client.ask_rtt(self.min).map(Figure::Latency),
                mesh::TELL_U64 => client.tell_u64(self.min).map(Figure::Throughput),
                _ => client.tell_1k(self.min).map(Figure::Throughput),
            }
            .map_err(step(name))
        })?;
        client.shutdown().map_err(step("coremesh client"))?;
        peer.finish("coremesh peer")
    }

    /// ractor's remote figures `wanted` accepts.
    pub fn ractor(
        &self,
        wanted: &(dyn Fn(&str) -> bool + Sync),
        out: &mut Measured,
    ) -> Result<(), SuiteError> {
        if !ractor_load::FIGURES.iter().any(|n| wanted(n)) {
            return Ok(());
        }
        let peer = self.peer(PeerKind::Ractor, self.ractor_peer)?;
        let listen = Self::listen_ip(peer.child.is_none());
        let client = RactorClient::connect(peer.addr, self.client_cpu, listen)
            .map_err(ractor_step("ractor client"))?;
        out.setup.push(format!(
            "ractor: {}, ractor_cluster NodeServer over TCP, tokio current_thread runtime on one thread each, {}",
            peer.line,
            self.pinning_for(&peer)
        ));
        each(&ractor_load::FIGURES, wanted, out, |name| {
            match name {
                ractor_load::ASK_RTT => client.ask_rtt(self.min).map(Figure::Latency),
                ractor_load::TELL_U64 => client.tell_u64(self.min).map(Figure::Throughput),
                _ => client.tell_1k(self.min).map(Figure::Throughput),
            }
            .map_err(ractor_step(name))
        })?;
        drop(client);
        peer.finish("ractor peer")
    }

    /// Same-core tells on coremesh (one worker core) and on ractor (one
    /// thread), both on the client CPU, each for at least the run time.
    pub fn same_core(&self, out: &mut Measured) -> Result<(), SuiteError> {
        let cpu = match self.client_cpu {
            Some(c) => c,
            None => *raw::allowed_cpus().map_err(step("reading the allowed CPUs"))?.first().unwrap_or(&0),
        };
        let node = MeshLocal::start(&[cpu]).map_err(step("coremesh local node"))?;
        let sink = node.sink(0).ok_or_else(|| SuiteError::Step {
            step: "coremesh local node".into(),
            source: io::Error::other("no sink on core 0"),
        })?;
        let t = node.tells(sink, Stop::After(self.min)).map_err(step(local::TELL_SAME_CORE))?;
        out.rows.push(Row { name: local::TELL_SAME_CORE, figure: Figure::Throughput(t) });
        node.shutdown().map_err(step("coremesh local node"))?;
        let ractor = RactorLocal::start(Some(cpu)).map_err(ractor_step("ractor local sink"))?;
        let t = ractor.tells(Stop::After(self.min)).map_err(ractor_step(ractor_load::TELL_SAME_CORE))?;
        out.rows.push(Row { name: ractor_load::TELL_SAME_CORE, figure: Figure::Throughput(t) });
        out.setup.push(format!(
            "same core: coremesh one worker core on cpu {cpu}, ractor one tokio current_thread runtime on cpu {cpu}"
        ));
        Ok(())
    }

    fn pinning_for(&self, peer: &Peer) -> String {
        if peer.child.is_some() {
            self.pinning()
        } else {
            self.client_pin()
        }
    }
}

/// Measures each of `names` that `wanted` accepts, in order, into `out`.
fn each(
    names: &[&'static str],
    wanted: &(dyn Fn(&str) -> bool + Sync),
    out: &mut Measured,
    mut measure: impl FnMut(&'static str) -> Result<Figure, SuiteError>,
) -> Result<(), SuiteError> {
    for &name in names.iter().filter(|n| wanted(n)) {
        let figure = measure(name)?;
        out.rows.push(Row { name, figure });
    }
    Ok(())
}

/// A peer in use: where it is, and the child process if this run started it.
struct Peer {
    addr: SocketAddr,
    child: Option<PeerProcess>,
    line: String,
}

impl Peer {
    /// Lets a spawned peer exit cleanly (closing its stdin), so what it
    /// prints at exit (allocation counts) is seen before the tables.
    fn finish(self, what: &str) -> Result<(), SuiteError> {
        let Some(child) = self.child else { return Ok(()) };
        let status = child.finish(Duration::from_secs(10)).map_err(step(format!("stopping the {what}")))?;
        if !status.success() {
            return Err(SuiteError::Step {
                step: format!("stopping the {what}"),
                source: io::Error::other(format!("it exited with {status}")),
            });
        }
        Ok(())
    }
}

/// Seconds in (0, 3600], or `None`.
pub fn parse_secs(s: &str) -> Option<f64> {
    s.trim().parse::<f64>().ok().filter(|v| v.is_finite() && *v > 0.0 && *v <= 3600.0)
}
