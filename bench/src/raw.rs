//! Client side of the raw-TCP baselines that every remote coremesh figure is
//! printed beside: blocking ping-pong, busy-poll ping-pong and a packed
//! record stream, each against a `coremesh-bench raw-peer` process.
//!
//! It owns the client sockets and the peer child process it spawns (killed
//! and reaped on drop). It must never block without a timeout, never panic on
//! a network or peer failure (every error is an `io::Error` with context), and
//! never use coremesh itself: these are the numbers coremesh is judged by.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

pub use crate::pin::{allowed_cpus, pin_current_thread};

/// Bound on every blocking read, write and connect, and on every spin wait.
pub const IO_TIMEOUT: Duration = Duration::from_secs(10);
/// How long [`spawn_peer`] waits for the peer's `listening` line.
pub const PEER_START_TIMEOUT: Duration = Duration::from_secs(10);
/// Size of one ping and of its echo.
pub const PING_BYTES: usize = 8;
/// Default size of one stream `write` (records are packed into it).
pub const STREAM_WRITE_BYTES: usize = 64 * 1024;

pub const BLOCKING_RTT: &str = "raw/blocking_pingpong_rtt";
pub const BUSY_RTT: &str = "raw/busy_pingpong_rtt";
pub const STREAM_16B: &str = "raw/stream_16b";
pub const STREAM_1K: &str = "raw/stream_1k";

/// What the peer does with a connection; sent as its first byte.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// `P`: blocking reads, echo every 8 bytes.
    Blocking,
    /// `B`: non-blocking socket, spin on `recv`, echo every 8 bytes.
    Busy,
    /// `S`: discard everything, then answer the byte count (u64 LE) at EOF.
    Stream,
}

impl Mode {
    pub fn byte(self) -> u8 {
        match self {
            Mode::Blocking => b'P',
            Mode::Busy => b'B',
            Mode::Stream => b'S',
        }
    }

    pub fn from_byte(b: u8) -> Option<Mode> {
        match b {
            b'P' => Some(Mode::Blocking),
            b'B' => Some(Mode::Busy),
            b'S' => Some(Mode::Stream),
            _ => None,
        }
    }
}

/// Round-trip times over every measured sample (warm-up excluded).
#[derive(Clone, Copy, Debug)]
pub struct Latencies {
    pub p50: Duration,
    pub p99: Duration,
    pub mean: Duration,
    pub count: u64,
}

impl Latencies {
    /// Nearest-rank percentiles over `samples_ns`, which it sorts.
    pub fn from_samples(samples_ns: &mut [u64]) -> Option<Latencies> {
        if samples_ns.is_empty() {
            return None;
        }
        samples_ns.sort_unstable();
        let n = samples_ns.len();
        let rank = |pct: usize| samples_ns[(n * pct).div_ceil(100).clamp(1, n) - 1];
        let sum: u128 = samples_ns.iter().map(|&s| u128::from(s)).sum();
        Some(Latencies {
            p50: Duration::from_nanos(rank(50)),
            p99: Duration::from_nanos(rank(99)),
            mean: Duration::from_nanos((sum / n as u128) as u64),
            count: n as u64,
        })
    }
}

/// One stream run: records and payload bytes the peer confirmed, over the
/// time from the first write until the peer's byte count arrived.
#[derive(Clone, Copy, Debug)]
pub struct Throughput {
    pub records_per_s: f64,
    /// Payload megabytes (10^6 bytes) per second.
    pub mb_per_s: f64,
    pub records: u64,
    pub bytes: u64,
    pub elapsed: Duration,
}

/// A `raw-peer` or `peer` child process; killed and reaped on drop.
pub struct PeerProcess {
    child: Child,
    addr: SocketAddr,
    /// Kept open so the peer never writes into a closed pipe.
    _stdout: Option<BufReader<ChildStdout>>,
    /// A coremesh `peer` runs until this closes.
    stdin: Option<ChildStdin>,
}

impl PeerProcess {
    /// The address the peer printed in its `listening` line.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Closes the peer's stdin (a coremesh `peer` then shuts down cleanly and
    /// prints what it has to say at exit) and waits up to `timeout` for it to
    /// exit; kills it after that.
    pub fn finish(mut self, timeout: Duration) -> io::Result<ExitStatus> {
        drop(self.stdin.take());
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait()? {
                return Ok(status);
            }
            if start.elapsed() > timeout {
                self.child.kill()?;
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("peer did not exit within {timeout:?} of its stdin closing; killed"),
                ));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for PeerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Finds the `coremesh-bench` binary: the current executable itself, or a
/// file of that name in one of its three nearest parent directories (a bench
/// runs from `target/release/deps/`, the binary is in `target/release/`).
/// Benches and integration tests should prefer `env!("CARGO_BIN_EXE_coremesh-bench")`.
pub fn find_peer_exe() -> io::Result<PathBuf> {
    let exe = std::env::current_exe().map_err(|e| context(e, "locating the current executable"))?;
    let name = format!("coremesh-bench{}", std::env::consts::EXE_SUFFIX);
    if exe.file_name().is_some_and(|f| f == name.as_str()) {
        return Ok(exe);
    }
    for dir in exe.ancestors().skip(1).take(3) {
        let candidate = dir.join(&name);
        if candidate.is_file() {
            return Ok(candidate);
        }
    }
    Err(io::Error::new(
        io::ErrorKind::NotFound,
        format!("no {name} next to {} (build it: cargo build -p coremesh-bench --release)", exe.display()),
    ))
}

/// Starts `coremesh-bench raw-peer` (found by [`find_peer_exe`]) on
/// 127.0.0.1, pinned to `cpu` if given.
pub fn spawn_local_peer(cpu: Option<usize>) -> io::Result<PeerProcess> {
    spawn_peer(&find_peer_exe()?, cpu)
}

/// Starts `exe raw-peer --listen 127.0.0.1:0 [--cpu N]` and waits up to
/// [`PEER_START_TIMEOUT`] for its `listening <addr>` line.
pub fn spawn_peer(exe: &Path, cpu: Option<usize>) -> io::Result<PeerProcess> {
    spawn_child(exe, &["raw-peer", "--listen", "127.0.0.1:0"], cpu, false)
}

/// Starts `exe peer --listen 127.0.0.1:0 [--cpu N] [--count-allocs]` (a
/// coremesh node serving the bench `Sink`) and waits up to
/// [`PEER_START_TIMEOUT`] for its `listening <addr> <node id>` line. It runs
/// until [`PeerProcess::finish`] closes its stdin, or is killed on drop.
pub fn spawn_coremesh_peer(exe: &Path, cpu: Option<usize>, count_allocs: bool) -> io::Result<PeerProcess> {
    let mut args = vec!["peer", "--listen", "127.0.0.1:0"];
    if count_allocs {
        args.push("--count-allocs");
    }
    spawn_child(exe, &args, cpu, true)
}

fn spawn_child(exe: &Path, args: &[&str], cpu: Option<usize>, pipe_stdin: bool) -> io::Result<PeerProcess> {
    let mut cmd = Command::new(exe);
    cmd.args(args);
    if let Some(cpu) = cpu {
        cmd.args(["--cpu", &cpu.to_string()]);
    }
    let stdin = if pipe_stdin { Stdio::piped() } else { Stdio::null() };
    cmd.stdin(stdin).stdout(Stdio::piped()).stderr(Stdio::inherit());
    let mut child = cmd.spawn().map_err(|e| context(e, &format!("starting {}", exe.display())))?;
    let stdout = child.stdout.take();
    let stdin = child.stdin.take();
    // From here on, dropping `peer` kills the child on every error path.
    let mut peer = PeerProcess { child, addr: SocketAddr::from(([127, 0, 0, 1], 0)), _stdout: None, stdin };
    let stdout = stdout.ok_or_else(|| io::Error::other("peer stdout was not captured"))?;

    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut reader = BufReader::new(stdout);
        let mut line = String::new();
        let got = reader.read_line(&mut line).map(|_| line);
        let _ = tx.send((got, reader));
    });
    let (line, reader) = match rx.recv_timeout(PEER_START_TIMEOUT) {
        Ok((got, reader)) => (got.map_err(|e| context(e, "reading the peer's listening line"))?, reader),
        Err(_) => {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!("peer printed no listening line within {PEER_START_TIMEOUT:?}"),
            ))
        }
    };
    peer._stdout = Some(reader);
    peer.addr = line
        .trim()
        .strip_prefix("listening ")
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|a| a.parse().ok())
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, format!("peer said {line:?}")))?;
    Ok(peer)
}

/// Resolves `host:port` to its first address.
pub fn resolve(peer: &str) -> io::Result<SocketAddr> {
    peer.to_socket_addrs()
        .map_err(|e| context(e, &format!("resolving {peer:?}")))?
        .next()
        .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, format!("{peer:?} resolved to no address")))
}

/// Blocking ping-pong: one 8-byte ping outstanding, blocking reads on both
/// sides. Runs at least `min_duration` after a short warm-up.
pub fn blocking_pingpong(addr: SocketAddr, min_duration: Duration) -> io::Result<Latencies> {
    let mut s = connect(addr, Mode::Blocking)?;
    let mut echo = [0u8; PING_BYTES];
    measure_rtt(min_duration, |seq| {
        s.write_all(&seq.to_le_bytes()).map_err(|e| context(e, "writing a ping"))?;
        s.read_exact(&mut echo).map_err(|e| context(e, "reading an echo"))?;
        check_echo(seq, echo)
    })
}

/// Busy-poll ping-pong: both sides non-blocking, spinning on `recv`.
/// Runs at least `min_duration` after a short warm-up.
pub fn busy_pingpong(addr: SocketAddr, min_duration: Duration) -> io::Result<Latencies> {
    let mut s = connect(addr, Mode::Busy)?;
    s.set_nonblocking(true)?;
    let mut echo = [0u8; PING_BYTES];
    measure_rtt(min_duration, |seq| {
        spin_write_all(&mut s, &seq.to_le_bytes()).map_err(|e| context(e, "writing a ping"))?;
        spin_read_exact(&mut s, &mut echo).map_err(|e| context(e, "reading an echo"))?;
        check_echo(seq, echo)
    })
}

/// Streams `record_bytes`-byte records (no framing) packed into writes of
/// `write_bytes` (rounded down to whole records, at least one) for at least
/// `min_duration`, then shuts down the write half and checks that the peer
/// counted every byte. The clock runs from the first write to that count.
pub fn stream(
    addr: SocketAddr,
    record_bytes: usize,
    write_bytes: usize,
    min_duration: Duration,
) -> io::Result<Throughput> {
    if record_bytes == 0 || write_bytes == 0 {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, "record_bytes and write_bytes must be > 0"));
    }
    let per_write = (write_bytes / record_bytes).max(1);
    let buf: Vec<u8> = (0..per_write * record_bytes).map(|i| i as u8).collect();
    let mut s = connect(addr, Mode::Stream)?;
    let mut writes: u64 = 0;
    let start = Instant::now();
    loop {
        s.write_all(&buf).map_err(|e| context(e, "writing the stream"))?;
        writes += 1;
        if start.elapsed() >= min_duration {
            break;
        }
    }
    s.shutdown(Shutdown::Write).map_err(|e| context(e, "shutting down the write half"))?;
    let mut count = [0u8; 8];
    s.read_exact(&mut count).map_err(|e| context(e, "reading the peer's byte count"))?;
    let elapsed = start.elapsed();
    let bytes = writes * buf.len() as u64;
    let got = u64::from_le_bytes(count);
    if got != bytes {
        return Err(io::Error::new(io::ErrorKind::InvalidData, format!("peer got {got} of {bytes} bytes")));
    }
    let records = writes * per_write as u64;
    let secs = elapsed.as_secs_f64().max(f64::MIN_POSITIVE);
    Ok(Throughput {
        records_per_s: records as f64 / secs,
        mb_per_s: bytes as f64 / secs / 1e6,
        records,
        bytes,
        elapsed,
    })
}

/// Writes all of `buf` to a non-blocking socket, spinning on `WouldBlock`
/// for at most [`IO_TIMEOUT`].
pub fn spin_write_all(s: &mut TcpStream, mut buf: &[u8]) -> io::Result<()> {
    let mut stuck_since: Option<Instant> = None;
    while !buf.is_empty() {
        match s.write(buf) {
            Ok(0) => return Err(io::Error::new(io::ErrorKind::WriteZero, "socket accepted no bytes")),
            Ok(n) => buf = &buf[n..],
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => spin_wait(&mut stuck_since)?,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Fills `buf` from a non-blocking socket, spinning on `WouldBlock` for at
/// most [`IO_TIMEOUT`].
pub fn spin_read_exact(s: &mut TcpStream, buf: &mut [u8]) -> io::Result<()> {
    let mut got = 0;
    let mut stuck_since: Option<Instant> = None;
    while got < buf.len() {
        match s.read(&mut buf[got..]) {
            Ok(0) => return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "peer closed mid-read")),
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => spin_wait(&mut stuck_since)?,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

fn spin_wait(stuck_since: &mut Option<Instant>) -> io::Result<()> {
    let since = *stuck_since.get_or_insert_with(Instant::now);
    if since.elapsed() > IO_TIMEOUT {
        return Err(io::Error::new(io::ErrorKind::TimedOut, format!("no progress within {IO_TIMEOUT:?}")));
    }
    std::hint::spin_loop();
    Ok(())
}

/// Connects with timeouts and `TCP_NODELAY`, and sends the mode byte.
fn connect(addr: SocketAddr, mode: Mode) -> io::Result<TcpStream> {
    let mut s = TcpStream::connect_timeout(&addr, IO_TIMEOUT)
        .map_err(|e| context(e, &format!("connecting to peer {addr}")))?;
    s.set_nodelay(true)?;
    s.set_read_timeout(Some(IO_TIMEOUT))?;
    s.set_write_timeout(Some(IO_TIMEOUT))?;
    s.write_all(&[mode.byte()]).map_err(|e| context(e, "sending the mode byte"))?;
    Ok(s)
}

/// Runs `round_trip(seq)` for a warm-up (a tenth of `min_duration`, at most
/// 200 ms), then times each call until `min_duration` has passed.
fn measure_rtt(
    min_duration: Duration,
    mut round_trip: impl FnMut(u64) -> io::Result<()>,
) -> io::Result<Latencies> {
    let mut seq: u64 = 0;
    let warm_up = (min_duration / 10).min(Duration::from_millis(200));
    let start = Instant::now();
    while start.elapsed() < warm_up {
        round_trip(seq)?;
        seq += 1;
    }
    let mut samples: Vec<u64> = Vec::with_capacity(1 << 16);
    let start = Instant::now();
    loop {
        let t = Instant::now();
        round_trip(seq)?;
        let end = Instant::now();
        seq += 1;
        samples.push(end.duration_since(t).as_nanos() as u64);
        if end.duration_since(start) >= min_duration {
            break;
        }
    }
    Latencies::from_samples(&mut samples).ok_or_else(|| io::Error::other("no samples taken"))
}

fn check_echo(seq: u64, echo: [u8; PING_BYTES]) -> io::Result<()> {
    let got = u64::from_le_bytes(echo);
    if got != seq {
        return Err(io::Error::new(io::ErrorKind::InvalidData, format!("sent ping {seq}, echo was {got}")));
    }
    Ok(())
}

/// `e` with `what` in front of its message, kind kept.
pub fn context(e: io::Error, what: &str) -> io::Error {
    io::Error::new(e.kind(), format!("{what}: {e}"))
}

#[cfg(test)]
#[path = "raw_tests.rs"]
mod tests;
