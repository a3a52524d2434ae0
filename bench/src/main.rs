//! `coremesh-bench`: the peer processes of the remote benches (a raw-TCP
//! peer, a coremesh node, a ractor_cluster node, or all three at once), a
//! stand-alone client for the raw-TCP baselines, and `report`, the whole
//! suite side by side with ractor as a markdown table and an SVG chart.
//!
//! It owns argument parsing, process exit codes and the global allocator (the
//! system one, counting allocations only after `peer --count-allocs` turns it
//! on): the serving lives in `coremesh_bench::peer`, `coremesh_bench::mesh`
//! and `coremesh_bench::ractor_sink`, the measuring in `coremesh_bench::suite`
//! and the modules it calls. It must
//! never panic on bad input: a bad argument is named on stderr and exits 2,
//! any other failure exits 1.

use std::io::Write;
use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use coremesh_bench::alloc_count::CountingAlloc;
use coremesh_bench::process::{self, PeerKind};
use coremesh_bench::suite::{self, Measured, Plan};
use coremesh_bench::{chart, compare, mesh, peer, ractor_sink, raw, report};

/// Counts nothing until `peer --count-allocs` turns counting on.
#[global_allocator]
static GLOBAL: CountingAlloc = CountingAlloc;

const USAGE: &str = "usage:
  coremesh-bench peer --listen ADDR [--cpu N] [--count-allocs]
      a coremesh node that lets the bench spawn bench.Sink (prints `listening <addr> <node id>`),
      one worker core on CPU N if given; runs until stdin closes, SIGINT or SIGTERM;
      --count-allocs prints heap allocations per received message to stderr at exit
  coremesh-bench raw-peer --listen ADDR [--cpu N]
      serve the raw baselines (prints `listening <addr>`), one connection at a time
  coremesh-bench ractor-peer --listen ADDR [--cpu N]
      a ractor_cluster node server with one sink in pg group bench.ractor.Sink (prints `listening <addr>`),
      on a tokio current_thread runtime on CPU N if given; runs until stdin closes
  coremesh-bench peers --listen IP:PORT [--cpu N]
      all three peers for a bench on another machine: raw at PORT, coremesh at PORT+1, ractor at PORT+2;
      prints their listening lines, then `ready`; runs until stdin closes
  coremesh-bench raw --peer HOST:PORT [--cpu N] [--secs S]
      run the raw baselines against a running raw-peer, each for at least S seconds (default 1)
  coremesh-bench report [--secs S] [--svg PATH]
      the whole suite (same-core and remote, coremesh, ractor, raw TCP), each figure for at least S seconds
      (default 3, or COREMESH_BENCH_SECS); prints markdown tables and writes a bar chart to PATH
      (default target/coremesh-report.svg); COREMESH_BENCH_PEER* name peers on another machine";

enum Failure {
    /// Bad command line: exit 2.
    Usage(String),
    /// Anything else: exit 1.
    Io(std::io::Error),
}

impl From<std::io::Error> for Failure {
    fn from(e: std::io::Error) -> Self {
        Failure::Io(e)
    }
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Usage(msg)) => {
            eprintln!("coremesh-bench: {msg}\n{USAGE}");
            ExitCode::from(2)
        }
        Err(Failure::Io(e)) => {
            eprintln!("coremesh-bench: {e}");
            ExitCode::from(1)
        }
    }
}

fn run() -> Result<(), Failure> {
    let mut args = Vec::new();
    for a in std::env::args_os().skip(1) {
        let a = a.into_string().map_err(|a| Failure::Usage(format!("argument {a:?} is not UTF-8")))?;
        args.push(a);
    }
    let Some((cmd, rest)) = args.split_first() else {
        return Err(Failure::Usage("missing subcommand".into()));
    };
    match cmd.as_str() {
        "peer" => coremesh_peer(&Flags::parse(rest, &["--listen", "--cpu"], &["--count-allocs"])?),
        "raw-peer" => raw_peer(&Flags::parse(rest, &["--listen", "--cpu"], &[])?),
        "raw" => raw_client(&Flags::parse(rest, &["--peer", "--cpu", "--secs"], &[])?),
        "ractor-peer" => ractor_peer(&Flags::parse(rest, &["--listen", "--cpu"], &[])?),
        "peers" => all_peers(&Flags::parse(rest, &["--listen", "--cpu"], &[])?),
        "report" => run_report(&Flags::parse(rest, &["--secs", "--svg"], &[])?),
        "-h" | "--help" | "help" => {
            println!("{USAGE}");
            Ok(())
        }
        other => Err(Failure::Usage(format!("unknown subcommand {other:?}"))),
    }
}

/// `peer`: a coremesh node serving the bench `Sink` until stdin closes or a signal.
fn coremesh_peer(flags: &Flags) -> Result<(), Failure> {
    let listen = flags.required("--listen")?;
    let addr = parse_addr("--listen", listen)?;
    let cpu = flags.cpu()?;
    let config = mesh::peer_config(addr, cpu).map_err(|e| Failure::Usage(format!("node config: {e}")))?;
    mesh::serve(config, flags.get("--count-allocs").is_some()).map_err(Failure::Io)
}

/// `raw-peer`: pin, bind, announce, serve forever.
fn raw_peer(flags: &Flags) -> Result<(), Failure> {
    let listen = flags.required("--listen")?;
    let addr = parse_addr("--listen", listen)?;
    if let Some(cpu) = flags.cpu()? {
        raw::pin_current_thread(cpu)?;
    }
    let listener = TcpListener::bind(addr).map_err(|e| raw::context(e, &format!("binding {addr}")))?;
    let local = listener.local_addr()?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "listening {local}")?;
    out.flush()?;
    drop(out);
    peer::serve(&listener).map_err(|e| Failure::Io(raw::context(e, "accepting")))
}

/// `raw`: run every baseline against `--peer` and print the table.
fn raw_client(flags: &Flags) -> Result<(), Failure> {
    let peer = flags.required("--peer")?;
    let addr = parse_addr("--peer", peer)?;
    let cpu = flags.cpu()?;
    let secs = flags.secs()?.unwrap_or(1.0);
    // Read before pinning, which narrows the allowed CPUs to one.
    let host = report::host_line();
    let rows = report::run_baselines(addr, cpu, Duration::from_secs_f64(secs), |_| true)?;
    println!("{host}");
    let pinning = cpu.map_or("client unpinned".to_string(), |c| format!("client pinned to cpu {c}"));
    println!("peer {addr}, {pinning}, each baseline >= {secs} s\n");
    print!("{}", report::markdown_table(&rows));
    Ok(())
}

/// `ractor-peer`: a ractor_cluster node serving the ractor sink until stdin closes.
fn ractor_peer(flags: &Flags) -> Result<(), Failure> {
    let addr = parse_addr("--listen", flags.required("--listen")?)?;
    let cpu = flags.cpu()?;
    ractor_sink::serve_peer(addr, cpu).map_err(|e| Failure::Io(std::io::Error::other(e.to_string())))
}

/// `peers`: the raw peer on a thread of this process, the coremesh and
/// ractor peers as children on the next two ports; all end when stdin closes.
fn all_peers(flags: &Flags) -> Result<(), Failure> {
    let listen = flags.required("--listen")?;
    let addr = parse_addr("--listen", listen)?;
    let ports = addr.port().checked_add(2).filter(|_| addr.port() != 0);
    if ports.is_none() {
        return Err(Failure::Usage(format!(
            "--listen {listen:?}: needs a fixed port below 65534 (the coremesh and ractor peers take the next two)"
        )));
    }
    let cpu = flags.cpu()?;
    let exe = process::find_peer_exe()?;
    let listener = TcpListener::bind(addr).map_err(|e| raw::context(e, &format!("binding {addr}")))?;
    let raw_addr = listener.local_addr()?;
    std::thread::Builder::new().name("raw-peer".into()).spawn(move || {
        if let Some(cpu) = cpu {
            if let Err(e) = raw::pin_current_thread(cpu) {
                eprintln!("coremesh-bench peers: raw peer: {e}");
                return;
            }
        }
        if let Err(e) = peer::serve(&listener) {
            eprintln!("coremesh-bench peers: raw peer: {e}");
        }
    })?;
    let at = |offset: u16| SocketAddr::new(addr.ip(), addr.port() + offset);
    let mesh = process::spawn(&exe, PeerKind::Coremesh, at(1), cpu, &[])?;
    let ractor = process::spawn(&exe, PeerKind::Ractor, at(2), cpu, &[])?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "raw listening {raw_addr}")?;
    writeln!(out, "coremesh listening {}", mesh.addr())?;
    writeln!(out, "ractor listening {}", ractor.addr())?;
    writeln!(out, "ready")?;
    out.flush()?;
    drop(out);
    process::wait_for_stdin_eof();
    mesh.finish(Duration::from_secs(10))?;
    ractor.finish(Duration::from_secs(10))?;
    Ok(())
}

/// `report`: the whole suite, the tables, and the chart.
fn run_report(flags: &Flags) -> Result<(), Failure> {
    let secs = flags.secs()?;
    let svg = PathBuf::from(flags.get("--svg").unwrap_or("target/coremesh-report.svg"));
    if let Some(dir) = svg.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .map_err(|e| raw::context(e, &format!("--svg: creating {}", dir.display())))?;
    }
    let fail = |e: suite::SuiteError| match e {
        suite::SuiteError::Env { .. } => Failure::Usage(e.to_string()),
        _ => Failure::Io(std::io::Error::other(e.to_string())),
    };
    let plan = Plan::from_env(process::find_peer_exe()?, secs, 3.0).map_err(fail)?;
    for note in &plan.notes {
        println!("{note}");
    }
    let host = report::host_line();
    let all = |_: &str| true;
    let mut measured = Measured::default();
    plan.same_core(&mut measured).map_err(fail)?;
    plan.raw(&all, &mut measured).map_err(fail)?;
    plan.mesh(&all, &mut measured).map_err(fail)?;
    plan.ractor(&all, &mut measured).map_err(fail)?;
    print!("{}", report::document(&host, &measured.setup, plan.min, &measured.rows));
    let title = format!("coremesh, ractor + ractor_cluster and raw TCP ({})", plan.pinning());
    chart::write_svg(&svg, &title, &compare::versus(&measured.rows))
        .map_err(|e| Failure::Io(std::io::Error::other(e.to_string())))?;
    let shown = std::fs::canonicalize(&svg).unwrap_or(svg);
    println!("\nchart: {}", shown.display());
    Ok(())
}

fn parse_addr(flag: &str, value: &str) -> Result<SocketAddr, Failure> {
    raw::resolve(value).map_err(|e| Failure::Usage(format!("{flag} {value:?}: expected HOST:PORT ({e})")))
}

/// `--name value` or `--name=value` pairs, each from a fixed list, and
/// switches (`--name` alone, recorded with the value `true`).
struct Flags(Vec<(String, String)>);

impl Flags {
    fn parse(args: &[String], known: &[&str], switches: &[&str]) -> Result<Flags, Failure> {
        let mut out = Vec::new();
        let mut it = args.iter();
        while let Some(arg) = it.next() {
            let (name, inline) = match arg.split_once('=') {
                Some((n, v)) => (n, Some(v.to_string())),
                None => (arg.as_str(), None),
            };
            if switches.contains(&name) {
                if inline.is_some() {
                    return Err(Failure::Usage(format!("{name} takes no value")));
                }
                out.push((name.to_string(), "true".to_string()));
                continue;
            }
            if !known.contains(&name) {
                let all: Vec<&str> = known.iter().chain(switches).copied().collect();
                return Err(Failure::Usage(format!("unknown argument {arg:?} (expected one of {all:?})")));
            }
            let value = match inline {
                Some(v) => v,
                None => it.next().cloned().ok_or_else(|| Failure::Usage(format!("{name} needs a value")))?,
            };
            out.push((name.to_string(), value));
        }
        Ok(Flags(out))
    }

    /// The last value given for `name`.
    fn get(&self, name: &str) -> Option<&str> {
        self.0.iter().rev().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }

    fn required(&self, name: &str) -> Result<&str, Failure> {
        self.get(name).ok_or_else(|| Failure::Usage(format!("missing {name}")))
    }

    /// `--secs S`, seconds in (0, 3600], if given.
    fn secs(&self) -> Result<Option<f64>, Failure> {
        let Some(s) = self.get("--secs") else { return Ok(None) };
        suite::parse_secs(s)
            .map(Some)
            .ok_or_else(|| Failure::Usage(format!("--secs: expected seconds in (0, 3600], got {s:?}")))
    }

    /// `--cpu N`, checked against the CPUs this process may run on.
    fn cpu(&self) -> Result<Option<usize>, Failure> {
        let Some(v) = self.get("--cpu") else { return Ok(None) };
        let cpu: usize =
            v.parse().map_err(|_| Failure::Usage(format!("--cpu: expected a CPU number, got {v:?}")))?;
        let allowed = raw::allowed_cpus()?;
        if !allowed.contains(&cpu) {
            return Err(Failure::Usage(format!("--cpu {cpu}: not one of the CPUs allowed here {allowed:?}")));
        }
        Ok(Some(cpu))
    }
}
