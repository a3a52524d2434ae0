//! A node in this process and a hostile or broken peer against it: a blocking
//! `TcpStream` that runs the client `Handshake` by hand, then writes raw frames.
//! Shared by `tests/remote_bad_input.rs` (frames) and
//! `tests/remote_bad_handshake.rs` (handshakes); each uses part of it.
#![allow(dead_code)]

use std::hash::{BuildHasher, RandomState};
use std::io::{self, ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use coremesh::stats::CoreStatsSnapshot;
use coremesh::wire::{
    aligned_copy, frame_len, type_id_of, write_frame, AskExt, Decoder, FrameHeader, FrameKind, Handshake,
    HandshakeError, LocalInfo, PeerInfo, Progress, ReplyErrorCode,
};
use coremesh::{Actor, ActorId, ActorRef, Config, ConfigBuilder, CoreId, Ctx, Handler, Node};
use rkyv::{Archive, Deserialize, Serialize};

#[derive(Archive, Serialize, Deserialize)]
pub struct Add {
    pub n: u64,
}
coremesh::message!(Add = "bad.Add");

/// Adds and answers its running total, so a bad frame that reached the handler shows.
pub struct Counter {
    pub total: u64,
}
impl Actor for Counter {}
impl Handler<Add> for Counter {
    type Reply = u64;
    fn handle(&mut self, msg: &ArchivedAdd, _ctx: &mut Ctx<Self>) -> u64 {
        // Wrapping: a fuzzed `n` may be anything, and this counter must not panic.
        self.total = self.total.wrapping_add(msg.n.to_native());
        self.total
    }
}
coremesh::handlers!(Counter: Add);

/// The bound on every wait in this file.
pub const T: Duration = Duration::from_secs(10);

/// A node with one `Counter` on core 0 (the core whose port `listen_addr` names).
pub struct Fixture {
    pub node: Node,
    pub counter: ActorRef<Counter>,
    pub id: ActorId,
}

/// `tweak` adjusts the config (`|b| b` for the defaults).
pub fn fixture(tweak: impl FnOnce(ConfigBuilder) -> ConfigBuilder) -> Fixture {
    let b = Config::builder().env_source(|_| None).dev_mode(true).listen("127.0.0.1:0".parse().unwrap());
    let node = Node::start(tweak(b).build().expect("config")).expect("node starts");
    let counter = node.spawn_on(CoreId(0), || Counter { total: 0 }).wait().expect("spawn");
    let id = counter.id();
    Fixture { node, counter, id }
}

impl Fixture {
    pub fn stats(&self) -> CoreStatsSnapshot {
        self.node.stats().total()
    }

    /// An Ask header for the counter's `Add`; change fields with `..`.
    pub fn ask_header(&self, corr: u64, payload_len: usize) -> FrameHeader {
        FrameHeader {
            payload_len: payload_len as u32,
            kind: FrameKind::Ask,
            core: self.id.core.0,
            type_id: type_id_of("bad.Add"),
            slot: self.id.slot,
            generation: self.id.generation,
            corr,
        }
    }

    /// A raw peer that completed the handshake.
    pub fn client(&self) -> Raw {
        let node_id = fake_node_id(self.node.id().0);
        let (stream, end) = start(self, local_info(node_id), Config::DEFAULT_COOKIE, |_| {});
        match end {
            HsEnd::Done(peer, rest) => {
                assert_eq!(peer.node_id, self.node.id().0);
                Raw { stream, node_id, peer_id: peer.node_id, rx: rest }
            }
            other => panic!("a well-behaved client's handshake failed: {other:?}"),
        }
    }

    /// The node still serves: a fresh raw peer and an in-process ask both get
    /// the counter's `total` (so no bad frame reached the handler).
    pub fn assert_serves(&self, total: u64) {
        let mut c = self.client();
        assert_eq!(c.ask_add(self, 0xC0FFEE, 0), Answer::Reply(total), "a fresh raw peer's ask");
        drop(c);
        let r = self.node.ask(&self.counter, Add { n: 0 }).timeout(T).wait();
        assert_eq!(r, Ok(total), "an in-process ask");
    }

    /// Polls `pick(stats)` until it passes `before` (bounded by `T`).
    pub fn wait_count(&self, what: &str, before: u64, pick: impl Fn(&CoreStatsSnapshot) -> u64) {
        let deadline = Instant::now() + T;
        while pick(&self.stats()) <= before {
            assert!(Instant::now() < deadline, "{what} stayed at {before} for {T:?}: {:?}", self.stats());
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Checks that the node serves with the counter at `total`, and shuts it down.
    pub fn done(self, total: u64) {
        self.assert_serves(total);
        self.node.shutdown().expect("clean shutdown");
    }
}

/// A random nonzero node id other than `avoid` (the node's own).
pub fn fake_node_id(avoid: u64) -> u64 {
    std::iter::repeat_with(|| RandomState::new().hash_one(avoid) | 1).find(|&id| id != avoid).unwrap()
}

pub fn nonce() -> [u8; 32] {
    let mut n = [0u8; 32];
    for chunk in n.chunks_mut(8) {
        chunk.copy_from_slice(&RandomState::new().hash_one(0u8).to_le_bytes());
    }
    n
}

/// What a one-core peer on 127.0.0.1 says about itself (its advert names port 1:
/// the node never needs to dial it back, it replies on this connection).
pub fn local_info(node_id: u64) -> LocalInfo {
    // Advert v1: version 1, IPv4, 127.0.0.1, 1 core (u16 LE), core 0's port 1 (u16 LE).
    let advert = vec![1, 4, 127, 0, 0, 1, 1, 0, 1, 0];
    LocalInfo {
        node_id,
        cores: 1,
        core: 0,
        target_core: 0,
        type_table: coremesh::type_table().expect("this build's types agree").clone(),
        cluster: "coremesh".into(),
        advert,
    }
}

/// One read, waiting at most until `deadline` (then the test fails: `waiting`);
/// `Ok(0)` is the node's close, `Err` a reset.
pub fn read_some(
    stream: &mut TcpStream,
    buf: &mut [u8],
    deadline: Instant,
    waiting: &str,
) -> io::Result<usize> {
    let left = deadline.saturating_duration_since(Instant::now()).max(Duration::from_millis(1));
    stream.set_read_timeout(Some(left))?;
    match stream.read(buf) {
        Err(e) if e.kind() == ErrorKind::Interrupted => read_some(stream, buf, deadline, waiting),
        Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
            panic!("{waiting}: {T:?}")
        }
        r => r,
    }
}

/// Reads until the node closes (EOF or reset) and returns what came before;
/// fails the test if the connection is still open after `T`.
pub fn read_to_close(stream: &mut TcpStream) -> Vec<u8> {
    let deadline = Instant::now() + T;
    let mut got = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        match read_some(stream, &mut chunk, deadline, "the node kept the connection open for") {
            Ok(0) => return got,
            Ok(n) => got.extend_from_slice(&chunk[..n]),
            Err(_) => return got, // reset: closed too
        }
    }
}

/// How a client handshake ended: accepted (with the bytes that followed), failed on
/// our side (a Refuse from the node, or a check of ours), or closed by the node.
#[derive(Debug)]
pub enum HsEnd {
    Done(PeerInfo, Vec<u8>),
    Failed(HandshakeError),
    Closed,
}

/// Connects and runs the client handshake: `patch` may corrupt our Hello before it
/// is sent. What our `Handshake` writes (a Proof, or a Refuse) is sent too.
pub fn start(
    fx: &Fixture,
    info: LocalInfo,
    cookie: &[u8],
    patch: impl FnOnce(&mut [u8]),
) -> (TcpStream, HsEnd) {
    let mut stream = TcpStream::connect_timeout(&fx.node.listen_addr(), T).expect("connect");
    let mut hello = Vec::new();
    let mut hs = Handshake::client(info, cookie, nonce(), &mut hello).expect("our Hello");
    patch(&mut hello);
    stream.write_all(&hello).expect("send Hello");
    let deadline = Instant::now() + T;
    let (mut buf, mut chunk) = (Vec::new(), [0u8; 2048]);
    loop {
        match read_some(&mut stream, &mut chunk, deadline, "the node said nothing in the handshake for") {
            Ok(0) => return (stream, HsEnd::Closed),
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(_) => return (stream, HsEnd::Closed),
        }
        let mut out = Vec::new();
        let step = hs.on_bytes(&buf, &mut out);
        if !out.is_empty() {
            let _ = stream.write_all(&out);
        }
        match step {
            Ok((used, Progress::Done(peer))) => {
                buf.drain(..used);
                return (stream, HsEnd::Done(peer, buf));
            }
            Ok((used, Progress::NeedMore)) => drop(buf.drain(..used)),
            Err(e) => return (stream, HsEnd::Failed(e)),
        }
    }
}

/// A whole frame as bytes (valid unless the caller corrupts them afterwards).
pub fn frame(header: &FrameHeader, ext: Option<&AskExt>, payload: &[u8]) -> Vec<u8> {
    let mut out = vec![0u8; frame_len(header.kind, payload.len())];
    write_frame(&mut out, header, ext, payload).expect("a writable frame");
    out
}

pub fn add_payload(n: u64) -> Vec<u8> {
    rkyv::to_bytes::<rkyv::rancor::Error>(&Add { n }).expect("archive Add").to_vec()
}

/// What the node answered an ask with.
#[derive(Debug, PartialEq, Eq)]
pub enum Answer {
    Reply(u64),
    Error(ReplyErrorCode),
}

/// A raw peer after a completed handshake; `rx` holds received bytes not yet decoded.
pub struct Raw {
    pub stream: TcpStream,
    pub node_id: u64,
    /// The node's id, as its handshake said.
    pub peer_id: u64,
    pub rx: Vec<u8>,
}

impl Raw {
    pub fn ext(&self) -> AskExt {
        AskExt { deadline_unix_ns: 0, reply_node: self.node_id, reply_core: 0 }
    }

    /// An Ask frame with `header` (from `Fixture::ask_header`) and `payload`.
    pub fn ask(&self, header: FrameHeader, payload: &[u8]) -> Vec<u8> {
        frame(&header, Some(&self.ext()), payload)
    }

    pub fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).expect("write to the node");
    }

    /// The next frame from the node, checked with the network decoder.
    pub fn recv(&mut self) -> (FrameHeader, Answer) {
        let deadline = Instant::now() + T;
        let mut chunk = [0u8; 4096];
        loop {
            let buf = aligned_copy(&self.rx);
            match Decoder::default().decode(&buf[..]) {
                Ok(Some(f)) if f.header().kind == FrameKind::Tick => {
                    // The node's heartbeat: it names the node that sent it.
                    assert_eq!(f.header().corr, self.peer_id, "a tick names its sender");
                    self.rx.drain(..f.frame_len());
                    continue;
                }
                Ok(Some(f)) => {
                    let answer = match f.header().kind {
                        FrameKind::Reply => {
                            Answer::Reply(u64::from_le_bytes(f.payload().try_into().expect("a u64")))
                        }
                        FrameKind::ReplyError => Answer::Error(f.reply_error_code().expect("a code")),
                        kind => panic!("the node sent a {kind:?} frame to a peer that has no actors"),
                    };
                    self.rx.drain(..f.frame_len());
                    return (*f.header(), answer);
                }
                Ok(None) => {}
                Err(e) => panic!("the node sent a bad frame: {e}"),
            }
            match read_some(&mut self.stream, &mut chunk, deadline, "no frame from the node in") {
                Ok(0) => panic!("the node closed the connection instead of answering"),
                Ok(n) => self.rx.extend_from_slice(&chunk[..n]),
                Err(e) => panic!("no frame from the node within {T:?}: {e}"),
            }
        }
    }

    /// Sends `frame` (an ask with `corr`) and returns the answer, checking its corr.
    pub fn answer(&mut self, frame: &[u8], corr: u64) -> Answer {
        self.send(frame);
        let (h, answer) = self.recv();
        assert_eq!(h.corr, corr, "the answer names the ask's corr ({answer:?})");
        assert_eq!(h.core, 0, "the answer names our reply core");
        answer
    }

    /// Asks the counter for `Add { n }` with a valid frame.
    pub fn ask_add(&mut self, fx: &Fixture, corr: u64, n: u64) -> Answer {
        let p = add_payload(n);
        let f = self.ask(fx.ask_header(corr, p.len()), &p);
        self.answer(&f, corr)
    }
}
