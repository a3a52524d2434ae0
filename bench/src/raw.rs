//! Client side of the raw-TCP baselines that every remote coremesh figure is
//! printed beside: blocking ping-pong, busy-poll ping-pong and a packed
//! record stream, each against a `coremesh-bench raw-peer` process.
//!
//! It owns the client sockets (the peer processes are [`crate::process`]'s).
//! It must never block without a timeout, never panic on
//! a network or peer failure (every error is an `io::Error` with context), and
//! never use coremesh itself: these are the numbers coremesh is judged by.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

use crate::measure;
pub use crate::pin::{allowed_cpus, pin_current_thread};

/// Bound on every blocking read, write and connect, and on every spin wait.
pub const IO_TIMEOUT: Duration = Duration::from_secs(10);
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

impl Throughput {
    /// `records` carrying `bytes` of payload in all, over `elapsed`.
    pub fn new(records: u64, bytes: u64, elapsed: Duration) -> Throughput {
        let secs = elapsed.as_secs_f64().max(f64::MIN_POSITIVE);
        Throughput {
            records_per_s: records as f64 / secs,
            mb_per_s: bytes as f64 / secs / 1e6,
            records,
            bytes,
            elapsed,
        }
    }
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
    Ok(Throughput::new(writes * per_write as u64, bytes, elapsed))
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

/// Runs `round_trip(seq)` as [`measure::rtt`] does (warm-up, then each call
/// timed until `min_duration` has passed), on this thread: every round trip
/// here blocks, so the loop's future is ready at its first poll.
fn measure_rtt(
    min_duration: Duration,
    mut round_trip: impl FnMut(u64) -> io::Result<()>,
) -> io::Result<Latencies> {
    let mut seq: u64 = 0;
    let run = measure::rtt(min_duration, || {
        let done = round_trip(seq);
        seq += 1;
        std::future::ready(done)
    });
    measure::ready_now(run)
        .ok_or_else(|| io::Error::other("a blocking round trip loop was not ready at once"))??
        .ok_or_else(|| io::Error::other("no samples taken"))
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
