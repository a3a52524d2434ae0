//! The metrics endpoint: one std thread serving `GET /metrics` over HTTP/1.1.
//!
//! Owns: [`MetricsServer`] (the listener and its thread, started by
//! `Node::start` when `COREMESH_METRICS` or `ConfigBuilder::metrics` asks for
//! it, stopped first at shutdown), the request parser and [`scrape`]. One
//! request at a time, each bounded: [`REQUEST_BYTES_MAX`] bytes of request head,
//! [`REQUEST_DEADLINE`] for the whole head (a client that trickles a byte a
//! second gains nothing) and for the answer, then the connection is closed.
//! Answers: 200 with the text format on `GET /metrics` (a query string is
//! ignored), 404 on any other path, 405 on any other method, 400 on a request
//! line that is not HTTP/1.x, 431 on a head too large, 408 when the head is
//! not complete in time.
//!
//! Must never: panic on anything a client sends, block a worker core (a scrape
//! asks each core for its gauges through the core's inbox and waits at most
//! [`SAMPLE_DEADLINE`] for all of them), or outlive its node.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use super::NodeMetrics;
use crate::clock;
use crate::core::shared::{Command, NodeShared};
use crate::stats::NodeStats;
use crate::sync::flag::Flag;
use crate::sync::oneshot;

/// The most bytes of request line and headers read from one client.
pub(crate) const REQUEST_BYTES_MAX: usize = 8 * 1024;
/// How long a client has to send its whole request head, and to take the answer.
pub(crate) const REQUEST_DEADLINE: Duration = Duration::from_secs(2);
/// How long a scrape waits for the cores' gauges.
pub(crate) const SAMPLE_DEADLINE: Duration = Duration::from_secs(1);
/// How often the idle accept loop looks at its stop flag.
const STOP_POLL: Duration = Duration::from_millis(20);

/// The running endpoint of one node.
#[derive(Debug)]
pub(crate) struct MetricsServer {
    addr: SocketAddr,
    stop: Arc<Flag>,
    thread: Option<JoinHandle<()>>,
}

impl MetricsServer {
    /// Binds `addr` and starts the thread.
    pub(crate) fn start(
        addr: SocketAddr,
        shared: Arc<NodeShared>,
        metrics: Arc<NodeMetrics>,
    ) -> std::io::Result<MetricsServer> {
        let listener = TcpListener::bind(addr)?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let stop = Arc::new(Flag::default());
        let flag = stop.clone();
        let thread = std::thread::Builder::new()
            .name("coremesh-metrics".into())
            .spawn(move || serve(&listener, &flag, &shared, &metrics))?;
        tracing::info!(%addr, "metrics endpoint serving GET /metrics");
        Ok(MetricsServer { addr, stop, thread: Some(thread) })
    }

    /// The address it listens on (the port chosen when port 0 was asked for).
    pub(crate) fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops the thread and waits for it (at most one request's deadlines).
    pub(crate) fn stop(&mut self) {
        self.stop.set();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for MetricsServer {
    fn drop(&mut self) {
        self.stop();
    }
}

fn serve(listener: &TcpListener, stop: &Flag, shared: &NodeShared, metrics: &NodeMetrics) {
    while !stop.is_set() {
        match listener.accept() {
            Ok((stream, _)) => {
                if let Err(e) = answer(stream, shared, metrics) {
                    tracing::debug!(error = %e, "metrics request ended early");
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => std::thread::sleep(STOP_POLL),
            Err(e) => {
                // Out of descriptors, most likely: wait, as the node's accept loops do.
                tracing::debug!(error = %e, "metrics accept failed");
                std::thread::sleep(STOP_POLL);
            }
        }
    }
}

/// What a request head asked for.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Request {
    Metrics,
    NotFound,
    MethodNotAllowed,
    Bad,
}

/// Reads one request head and answers it.
fn answer(mut stream: TcpStream, shared: &NodeShared, metrics: &NodeMetrics) -> std::io::Result<()> {
    stream.set_nonblocking(false)?;
    stream.set_write_timeout(Some(REQUEST_DEADLINE))?;
    let deadline = clock::now() + REQUEST_DEADLINE;
    let mut head = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    let status = loop {
        if let Some(end) = head_end(&head) {
            break match parse(&head[..end]) {
                Request::Metrics => {
                    let body = scrape(shared, metrics);
                    return respond(&mut stream, "200 OK", "text/plain; version=0.0.4; charset=utf-8", &body);
                }
                Request::NotFound => "404 Not Found",
                Request::MethodNotAllowed => "405 Method Not Allowed",
                Request::Bad => "400 Bad Request",
            };
        }
        if head.len() >= REQUEST_BYTES_MAX {
            break "431 Request Header Fields Too Large";
        }
        let left = deadline.saturating_duration_since(clock::now());
        if left.is_zero() {
            break "408 Request Timeout";
        }
        stream.set_read_timeout(Some(left))?;
        let room = chunk.len().min(REQUEST_BYTES_MAX - head.len());
        match stream.read(&mut chunk[..room]) {
            Ok(0) => return Ok(()),
            Ok(n) => head.extend_from_slice(&chunk[..n]),
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {
                break "408 Request Timeout";
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    };
    respond(&mut stream, status, "text/plain; charset=utf-8", &format!("{status}\n"))
}

/// Where the head ends (the blank line), if it has.
fn head_end(buf: &[u8]) -> Option<usize> {
    buf.windows(4).position(|w| w == b"\r\n\r\n").or_else(|| buf.windows(2).position(|w| w == b"\n\n"))
}

/// Judges a request head by its request line.
pub(crate) fn parse(head: &[u8]) -> Request {
    let Ok(text) = std::str::from_utf8(head) else { return Request::Bad };
    let line = text.lines().next().unwrap_or("");
    let mut parts = line.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Request::Bad;
    };
    if !version.starts_with("HTTP/1.") || !target.starts_with('/') || method.is_empty() {
        return Request::Bad;
    }
    if method != "GET" {
        return Request::MethodNotAllowed;
    }
    let path = target.split_once('?').map_or(target, |(p, _)| p);
    if path == "/metrics" {
        Request::Metrics
    } else {
        Request::NotFound
    }
}

fn respond(stream: &mut TcpStream, status: &str, content_type: &str, body: &str) -> std::io::Result<()> {
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes())?;
    stream.write_all(body.as_bytes())?;
    stream.flush()
}

/// The node's whole document: counters read here, gauges sampled on each
/// core (all asked at once, waited for until one deadline).
pub(crate) fn scrape(shared: &NodeShared, metrics: &NodeMetrics) -> String {
    let waiting: Vec<_> = shared
        .cores
        .iter()
        .map(|c| {
            if shared.stopping.is_set() {
                return None;
            }
            let (tx, rx) = oneshot::channel();
            c.inbox.push(Command::Sample(tx)).ok()?;
            c.signal.notify();
            Some(rx)
        })
        .collect();
    let deadline = clock::now() + SAMPLE_DEADLINE;
    let samples: Vec<_> =
        waiting.into_iter().map(|rx| rx.and_then(|rx| rx.wait_until(Some(deadline)).ok())).collect();
    let stats = NodeStats { cores: shared.cores.iter().map(|c| c.stats.snapshot()).collect() };
    super::exposition::render(&stats, metrics, &samples)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_judged_by_their_request_line() {
        assert_eq!(parse(b"GET /metrics HTTP/1.1\r\nHost: x\r\n"), Request::Metrics);
        assert_eq!(parse(b"GET /metrics?name[]=x HTTP/1.0"), Request::Metrics);
        assert_eq!(parse(b"GET / HTTP/1.1"), Request::NotFound);
        assert_eq!(parse(b"GET /metricsx HTTP/1.1"), Request::NotFound);
        assert_eq!(parse(b"POST /metrics HTTP/1.1"), Request::MethodNotAllowed);
        for bad in [
            &b""[..],
            b"GET",
            b"GET /metrics",
            b"GET /metrics HTTP/2",
            b"GET metrics HTTP/1.1",
            b"\xff\xfe",
            b"GET  /metrics HTTP/1.1",
            b"GET /metrics HTTP/1.1 extra",
        ] {
            assert_eq!(parse(bad), Request::Bad, "{bad:?}");
        }
    }

    #[test]
    fn the_head_ends_at_the_blank_line() {
        assert_eq!(head_end(b"GET / HTTP/1.1\r\nA: b\r\n\r\nbody"), Some(20));
        assert_eq!(head_end(b"GET / HTTP/1.1\n\n"), Some(14));
        assert_eq!(head_end(b"GET / HTTP/1.1\r\n"), None);
    }
}
