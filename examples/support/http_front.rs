//! The service behind `examples/http_front.rs`, in a module of its own so that
//! `tests/http_front.rs` runs the very same code.
//!
//! An HTTP/1.1 front on plain std threads (no async runtime): one thread
//! accepts, each connection gets a thread of its own (at most
//! [`CONNECTIONS_MAX`] at once; past that a client gets 503), reads one
//! request head (at most [`HEAD_BYTES_MAX`] bytes within [`HEAD_DEADLINE`]),
//! and forwards it to an actor with `ask`, blocking that thread, never a core:
//! `GET /counter/<key>` adds one to the key's count in the [`Counts`] actor of
//! the core the key hashes to and answers the new value. Every answer closes
//! its connection.

use std::collections::hash_map::DefaultHasher;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use coremesh::{Actor, ActorRef, CoreId, Ctx, Handler, NodeHandle};
use rkyv::{Archive, Deserialize, Serialize};

/// Connections served at once; one more is answered 503.
pub const CONNECTIONS_MAX: usize = 64;
/// The most bytes of request line and headers read.
pub const HEAD_BYTES_MAX: usize = 8 * 1024;
/// How long a client has for its request head.
pub const HEAD_DEADLINE: Duration = Duration::from_secs(5);
/// How long a request waits for its actor.
pub const ASK_TIMEOUT: Duration = Duration::from_secs(2);

/// Adds one to a key's count; answers the new count.
#[derive(Archive, Serialize, Deserialize)]
pub struct Incr {
    pub key: String,
}
coremesh::message!(Incr = "http_front.Incr");

/// The counts of the keys that hash to one core.
#[derive(Default)]
pub struct Counts {
    counts: HashMap<String, u64>,
}
impl Actor for Counts {}
impl Handler<Incr> for Counts {
    type Reply = u64;
    fn handle(&mut self, msg: &ArchivedIncr, _ctx: &mut Ctx<Self>) -> u64 {
        let n = self.counts.entry(msg.key.as_str().to_owned()).or_default();
        *n += 1;
        *n
    }
}
coremesh::handlers!(Counts: Incr);

/// A running front: its address, and a way to stop it.
pub struct Front {
    pub addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Front {
    /// Spawns one [`Counts`] actor per core of `node` and serves on `addr`.
    pub fn start(node: NodeHandle, addr: SocketAddr) -> Result<Front, Box<dyn std::error::Error>> {
        let mut counts = Vec::new();
        for core in 0..node.cores() {
            counts.push(node.spawn_on(CoreId(core as u16), Counts::default).wait()?);
        }
        let listener = TcpListener::bind(addr)?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::Builder::new()
            .name("http-front".into())
            .spawn(move || accept_loop(&listener, &flag, &node, &Arc::new(counts)))?;
        Ok(Front { addr, stop, thread: Some(thread) })
    }

    /// Stops accepting and waits for the accept thread.
    pub fn stop(mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn accept_loop(
    listener: &TcpListener,
    stop: &AtomicBool,
    node: &NodeHandle,
    counts: &Arc<Vec<ActorRef<Counts>>>,
) {
    let active = Arc::new(AtomicUsize::new(0));
    while !stop.load(Ordering::Relaxed) {
        let mut stream = match listener.accept() {
            Ok((s, _)) => s,
            Err(_) => {
                std::thread::sleep(Duration::from_millis(10));
                continue;
            }
        };
        if active.fetch_add(1, Ordering::AcqRel) >= CONNECTIONS_MAX {
            active.fetch_sub(1, Ordering::AcqRel);
            let _ = respond(&mut stream, "503 Service Unavailable", "busy\n");
            continue;
        }
        let (node, counts, held) = (node.clone(), counts.clone(), active.clone());
        let spawned = std::thread::Builder::new().name("http-conn".into()).spawn(move || {
            let _ = serve_one(stream, &node, &counts);
            held.fetch_sub(1, Ordering::AcqRel);
        });
        if spawned.is_err() {
            active.fetch_sub(1, Ordering::AcqRel);
        }
    }
}

/// Reads one request head, forwards it, answers, closes.
fn serve_one(mut stream: TcpStream, node: &NodeHandle, counts: &[ActorRef<Counts>]) -> std::io::Result<()> {
    stream.set_nonblocking(false)?;
    stream.set_write_timeout(Some(HEAD_DEADLINE))?;
    let deadline = Instant::now() + HEAD_DEADLINE;
    let mut head = Vec::new();
    let mut chunk = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        if head.len() >= HEAD_BYTES_MAX {
            return respond(&mut stream, "431 Request Header Fields Too Large", "request head too large\n");
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return respond(&mut stream, "408 Request Timeout", "request head too slow\n");
        }
        stream.set_read_timeout(Some(left))?;
        match stream.read(&mut chunk) {
            Ok(0) => return Ok(()),
            Ok(n) => head.extend_from_slice(&chunk[..n]),
            Err(_) => return respond(&mut stream, "408 Request Timeout", "request head too slow\n"),
        }
    }
    let line = head.split(|&b| b == b'\r').next().unwrap_or(&[]);
    let line = String::from_utf8_lossy(line);
    let mut parts = line.split(' ');
    let (method, target, version) = (parts.next(), parts.next(), parts.next());
    if !version.is_some_and(|v| v.starts_with("HTTP/1.")) || parts.next().is_some() {
        return respond(&mut stream, "400 Bad Request", "not an HTTP/1.x request line\n");
    }
    if method != Some("GET") {
        return respond(&mut stream, "405 Method Not Allowed", "GET only\n");
    }
    let target = target.unwrap_or("");
    match target.strip_prefix("/counter/") {
        Some(key) if valid_key(key) => {
            let to = &counts[core_of(key, counts.len())];
            match node.ask(to, Incr { key: key.to_owned() }).timeout(ASK_TIMEOUT).wait() {
                Ok(n) => respond(&mut stream, "200 OK", &format!("{n}\n")),
                Err(e) => respond(&mut stream, "503 Service Unavailable", &format!("{e}\n")),
            }
        }
        Some(_) => respond(&mut stream, "400 Bad Request", "a key is 1..=64 of A-Z a-z 0-9 - _ .\n"),
        None if target == "/" => respond(&mut stream, "200 OK", "try GET /counter/<key>\n"),
        None => respond(&mut stream, "404 Not Found", "no such path\n"),
    }
}

fn valid_key(key: &str) -> bool {
    (1..=64).contains(&key.len()) && key.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
}

/// The core whose actor counts `key`: the same for a key every time.
pub fn core_of(key: &str, cores: usize) -> usize {
    let mut h = DefaultHasher::new();
    key.hash(&mut h);
    (h.finish() % cores as u64) as usize
}

fn respond(stream: &mut TcpStream, status: &str, body: &str) -> std::io::Result<()> {
    let answer = format!(
        "HTTP/1.1 {status}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(answer.as_bytes())
}
