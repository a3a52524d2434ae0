//! The tasks of one connection: the handshake, the reader, the writer.
//!
//! Owns: [`handshake`] (drives coremesh-wire's sans-IO `Handshake` over a
//! socket; a server asks its [`Judge`], the rules' duplicate check, before it
//! accepts), [`by_deadline`] (races a whole handshake, dial included, against
//! one glommio timer: a peer that trickles bytes gains no time),
//! [`run_reader`] (reads into one large 16-aligned buffer, checks every frame
//! with the network decoder, takes heartbeat ticks itself, tells the
//! connection rules whenever the peer was heard, and hands every other frame
//! to the host's frame sink, which routes it: an idle target actor's sync
//! handler reads it where it lies) and
//! [`run_writer`] (writes everything a link has queued in one call).
//!
//! Must never: bound a handshake by the time between reads (a byte every
//! second would then hold the connection for as long as the peer likes),
//! decide what a connection is to its link, or when it ends (`rules.rs`
//! does), trust a byte from the peer before the decoder checked it, allocate
//! for an incoming length before checking it against the limit, or keep reading
//! while the target of the frame in hand has no room (the reader waits, and TCP
//! pushes back on the peer), or hold the core past glommio's time slice while
//! frames keep coming (the heartbeat task must run).

use std::future::poll_fn;
use std::rc::Rc;
use std::task::Poll;
use std::time::{Duration, Instant};

use coremesh_wire::{Decoder, FrameKind, Handshake, HandshakeError, PeerInfo, Progress, RefuseReason};
use futures_lite::{AsyncReadExt, AsyncWriteExt};
use std::os::unix::io::AsRawFd;

use glommio::net::TcpStream;
use rkyv::util::AlignedVec;

use super::host::{Delivered, Host};
use super::link::Link;
use super::rules::LinkState;
use super::tls::{Session, Writer};

/// The receive buffer's starting size; it grows only to hold one frame larger
/// than this (at most the frame limit, which the decoder checks first).
const RECV_BYTES: usize = 256 * 1024;

/// Why a connection ended.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ConnError {
    /// The socket failed or the peer closed it.
    #[error("connection to {addr} failed: {source}")]
    Io {
        /// The peer's address.
        addr: String,
        /// What the OS said.
        source: std::io::Error,
    },
    /// TLS failed: the peer's certificate was refused (or it refused ours), or one
    /// side speaks TLS and the other does not.
    #[error("TLS with {addr} failed: {reason}")]
    Tls {
        /// The peer's address.
        addr: String,
        /// What went wrong (the certificate check, a plaintext peer, ...).
        reason: String,
    },
    /// The handshake was refused (by either side).
    #[error("handshake with {addr} failed: {source}")]
    Handshake {
        /// The peer's address.
        addr: String,
        /// Which check failed.
        source: HandshakeError,
    },
    /// The peer broke the frame protocol; the connection was closed.
    #[error("peer {addr} sent a bad frame: {reason}")]
    Protocol {
        /// The peer's address.
        addr: String,
        /// What was wrong.
        reason: String,
    },
    /// Both nodes dialed each other at once and this connection is the one
    /// dropped: `ours` when this side refused it (a server), else the peer did.
    #[error("duplicate connection with {addr} (both nodes dialed at once)")]
    Duplicate {
        /// The peer's address.
        addr: String,
        /// The peer, authenticated.
        peer: PeerInfo,
        /// Whether this side refused.
        ours: bool,
    },
    /// The handshake did not finish by its deadline (`COREMESH_HANDSHAKE_TIMEOUT_MS`).
    #[error(
        "handshake with {addr} did not finish within the handshake deadline of {deadline_ms} ms \
         (COREMESH_HANDSHAKE_TIMEOUT_MS)"
    )]
    Timeout {
        /// The peer's address.
        addr: String,
        /// The deadline, in milliseconds from the accept or the start of the dial.
        deadline_ms: u64,
    },
}

impl ConnError {
    /// An I/O error on the connection with `addr`: [`ConnError::Tls`] when TLS
    /// failed, else [`ConnError::Io`].
    pub(crate) fn io(addr: &str, source: std::io::Error) -> ConnError {
        match super::tls::failure(&source) {
            Some(reason) => ConnError::Tls { addr: addr.to_owned(), reason },
            None => ConnError::Io { addr: addr.to_owned(), source },
        }
    }
}

/// Whether `bytes`, received where a Hello or an Accept was expected, start a TLS
/// record (a handshake or an alert, TLS 1.x): the peer speaks TLS and this node does not.
fn looks_like_tls(bytes: &[u8]) -> bool {
    matches!(bytes, [0x15 | 0x16, 0x03, ..])
}

/// Runs `work` (a handshake, or a dial and its handshake) until it ends or
/// `deadline` passes, whichever comes first; at the deadline `work` is dropped
/// (its socket with it, unless the caller owns that) and the result is
/// [`ConnError::Timeout`] naming `addr` and `deadline_ms`. One timer for the
/// whole of it: how the peer spaces its bytes does not matter.
pub(crate) async fn by_deadline<T>(
    deadline: Instant,
    deadline_ms: u64,
    addr: impl FnOnce() -> String,
    work: impl std::future::Future<Output = Result<T, ConnError>>,
) -> Result<T, ConnError> {
    let left = deadline.saturating_duration_since(crate::clock::now());
    let timer = async {
        glommio::timer::sleep(left).await;
        None
    };
    match futures_lite::future::or(async { Some(work.await) }, timer).await {
        Some(done) => done,
        None => Err(ConnError::Timeout { addr: addr(), deadline_ms }),
    }
}

fn addr_of(stream: &TcpStream) -> String {
    stream.peer_addr().map(|a| a.to_string()).unwrap_or_else(|_| "an unknown address".into())
}

/// A server's last word on an authenticated peer: `None` accepts it, a reason
/// replaces the Accept with a Refuse (a duplicate of a connection being dialed;
/// the rules decide: `rules.rs`, `Conns::on_inbound`).
pub(crate) type Judge<'a> = &'a dyn Fn(&PeerInfo) -> Option<RefuseReason>;

/// The handshake's receive buffer starts this large (a Hello with a few hundred
/// message types fits) ...
const HANDSHAKE_BUFFER_START_BYTES: usize = 8 << 10;
/// ... and grows up to twice the longest handshake message.
const HANDSHAKE_BUFFER_MAX_BYTES: usize = 2 * Handshake::MAX_MESSAGE_BYTES;

/// Runs the handshake on `stream`, inside `tls` when TLS is on. `first` holds the
/// client's Hello (empty for a server); a server's `judge` is asked once it has
/// verified the client's proof.
/// Returns the peer and any bytes that followed the handshake (frames). A client
/// refused as a duplicate gets [`ConnError::Duplicate`] naming the peer. Nothing
/// here bounds the time: the caller runs it under [`by_deadline`].
pub(crate) async fn handshake(
    stream: &mut TcpStream,
    mut tls: Option<&mut Session>,
    mut hs: Handshake,
    first: Vec<u8>,
    judge: Option<Judge<'_>>,
) -> Result<(PeerInfo, Vec<u8>), ConnError> {
    let addr = addr_of(stream);
    let io = |source| ConnError::io(&addr, source);
    if !first.is_empty() {
        send(stream, tls.as_deref(), &first).await.map_err(io)?;
    }
    // A Hello is 72 bytes to 66,728 (a full type table): start small and grow while
    // a message is still incomplete, up to twice the longest message (a whole message
    // plus what follows it always fits, so the handshake always makes progress).
    let mut buf = vec![0u8; HANDSHAKE_BUFFER_START_BYTES];
    let mut filled = 0;
    loop {
        if filled == buf.len() {
            if buf.len() >= HANDSHAKE_BUFFER_MAX_BYTES {
                return Err(ConnError::Protocol { addr, reason: "handshake message too long".into() });
            }
            buf.resize((2 * buf.len()).min(HANDSHAKE_BUFFER_MAX_BYTES), 0);
        }
        let got = match tls.as_deref_mut() {
            Some(session) => session.read(stream, &mut buf[filled..]).await,
            None => stream.read(&mut buf[filled..]).await,
        };
        let n = match got {
            Ok(0) => {
                let source =
                    std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "closed in the handshake");
                return Err(io(source));
            }
            Ok(n) => n,
            Err(e) => return Err(io(e)),
        };
        filled += n;
        if tls.is_none() && looks_like_tls(&buf[..filled]) {
            let reason = "the peer speaks TLS but TLS is off on this node (COREMESH_TLS_*)".to_owned();
            return Err(ConnError::Tls { addr, reason });
        }
        loop {
            let mut out = Vec::new();
            let mut step = hs.on_bytes(&buf[..filled], &mut out);
            let refused = match &step {
                // A server's `out` holds only its Accept now: replace it.
                Ok((_, Progress::Done(peer))) => judge.and_then(|j| j(peer)),
                _ => None,
            };
            if let Some(reason) = refused {
                out.clear();
                Handshake::write_refuse(reason, &mut out);
                step = Err(HandshakeError::Refused { reason });
            }
            if !out.is_empty() {
                // A refusal is sent too, so the peer can log which check failed.
                let sent = send(stream, tls.as_deref(), &out).await;
                if step.is_ok() {
                    sent.map_err(io)?;
                }
            }
            let (consumed, progress) = step.map_err(|source| match (&source, hs.verified_peer()) {
                (HandshakeError::Refused { reason: RefuseReason::Duplicate }, Some(peer)) => {
                    ConnError::Duplicate { addr: addr.clone(), peer: peer.clone(), ours: refused.is_some() }
                }
                _ => ConnError::Handshake { addr: addr.clone(), source },
            })?;
            buf.copy_within(consumed..filled, 0);
            filled -= consumed;
            match progress {
                Progress::Done(peer) => return Ok((peer, buf[..filled].to_vec())),
                Progress::NeedMore if consumed == 0 => break,
                Progress::NeedMore => {}
            }
        }
    }
}

/// Writes `bytes` to `stream`, encrypted when TLS is on.
async fn send(stream: &mut TcpStream, tls: Option<&Session>, bytes: &[u8]) -> std::io::Result<()> {
    match tls {
        Some(session) => session.write_all(stream, bytes).await,
        None => stream.write_all(bytes).await,
    }
}

thread_local! {
    /// The receive buffer whose frames are being handed over right now (start,
    /// length), so a test can prove a handler read its message in place.
    static RECEIVING: std::cell::Cell<(usize, usize)> = const { std::cell::Cell::new((0, 0)) };
}

/// Whether `addr` lies in the receive buffer of the connection whose frames
/// this thread is handing over right now. For tests of the zero-copy path.
pub fn in_receive_buffer(addr: usize) -> bool {
    let (start, len) = RECEIVING.with(std::cell::Cell::get);
    addr >= start && addr < start + len
}

/// Reads frames from `stream` (decrypted by `tls` when TLS is on) until it closes
/// or breaks the protocol. `first` holds bytes that arrived with the handshake.
pub(crate) async fn run_reader<H: Host>(
    host: &H,
    link: Rc<Link>,
    mut stream: TcpStream,
    mut tls: Option<Session>,
    first: Vec<u8>,
    decoder: Decoder,
) -> Result<(), ConnError> {
    let addr = addr_of(&stream);
    let spin = Duration::from_micros(host.config().idle_spin_us());
    let mut buf = AlignedVec::<16>::with_capacity(RECV_BYTES);
    buf.resize(RECV_BYTES.max(first.len()), 0);
    buf[..first.len()].copy_from_slice(&first);
    let (mut start, mut filled) = (0usize, first.len());
    loop {
        // Hand over every whole frame in the buffer.
        RECEIVING.with(|r| r.set((buf.as_ptr() as usize, filled)));
        loop {
            let frame = match decoder.decode(&buf[start..filled]) {
                Ok(Some(f)) => f,
                Ok(None) => break,
                Err(e) => {
                    host.stats().invalid_frames.add(1);
                    return Err(ConnError::Protocol { addr, reason: e.to_string() });
                }
            };
            let len = frame.frame_len();
            let delivered = if frame.header().kind == FrameKind::Tick {
                tick(host, &link, &frame);
                Delivered::Done
            } else {
                host.frame_from_peer(link.peer, frame)
            };
            if delivered == Delivered::Blocked {
                // No room for it yet: stop reading (TCP pushes back on the peer)
                // until an actor of this core takes its mail or the ring drains.
                RECEIVING.with(|r| r.set((0, 0)));
                host.wait_for_room().await;
                host.transport().heard(link.peer, crate::clock::now());
                RECEIVING.with(|r| r.set((buf.as_ptr() as usize, filled)));
                continue;
            }
            start += len;
            link.read(&frame);
            // A buffer of frames for slow handlers must not keep this core's
            // other tasks (the writer, heartbeats) waiting: give way once
            // glommio's time slice is used up (a cheap check of two indices).
            if glommio::executor().need_preempt() {
                RECEIVING.with(|r| r.set((0, 0)));
                // Still working through what the peer sent: its silence since
                // cannot be judged before the reader gets back to the socket
                // (a tick it sent waits there, behind this backlog).
                host.transport().heard(link.peer, crate::clock::now());
                glommio::yield_if_needed().await;
                RECEIVING.with(|r| r.set((buf.as_ptr() as usize, filled)));
            }
        }
        RECEIVING.with(|r| r.set((0, 0)));
        if link.state() == LinkState::Down {
            return Ok(());
        }
        // Make room: move a partial frame to the front, grow for a large one.
        if start == filled {
            start = 0;
            filled = 0;
        } else if start > 0 {
            buf.copy_within(start..filled, 0);
            filled -= start;
            start = 0;
        }
        if filled == buf.len() {
            let need = match frame_len_hint(&buf[..filled]) {
                Some(n) if n > buf.len() => n,
                _ => return Err(ConnError::Protocol { addr, reason: "frame longer than its buffer".into() }),
            };
            buf.resize(need, 0);
        }
        // Nor must a peer that never stops sending.
        glommio::yield_if_needed().await;
        let got = match tls.as_mut() {
            None => recv(host, &link, &mut stream, &mut buf[filled..], spin).await,
            // Decrypt what was read already, and read more ciphertext only when that
            // gave nothing (the plaintext lands in the same aligned buffer).
            Some(session) => loop {
                match session.pump(&mut buf[filled..]) {
                    Ok(Some(n)) => break Some(Ok(n)),
                    Ok(None) => {}
                    Err(e) => break Some(Err(e)),
                }
                match recv(host, &link, &mut stream, session.spare(), spin).await {
                    Some(Ok(n)) if n > 0 => session.filled(n),
                    other => break other,
                }
            },
        };
        match got {
            // The link went down (the node was declared gone): the socket closes.
            None | Some(Ok(0)) => return Ok(()),
            Some(Ok(n)) => filled += n,
            Some(Err(source)) => return Err(ConnError::io(&addr, source)),
        }
    }
}

/// Reads what `stream` has into `dst` (not empty): `Some(Ok(0))` at its end,
/// `None` when the link went down first. Busy-polls the socket while the core
/// would spin anyway (a reply often arrives within microseconds); only then
/// waits for io_uring readiness, whose completions glommio reaps once per turn
/// of its loop. Tells the rules the peer was heard.
async fn recv<H: Host>(
    host: &H,
    link: &Link,
    stream: &mut TcpStream,
    dst: &mut [u8],
    spin: Duration,
) -> Option<std::io::Result<usize>> {
    let now = crate::clock::now();
    let spin_until = now + spin;
    loop {
        match super::socket::try_recv(stream.as_raw_fd(), dst) {
            Ok(Some(n)) => {
                // Busy-polled bytes arrived within the spin, right after `now`
                // (the rules keep the later of this and what they last heard).
                host.transport().heard(link.peer, now);
                return Some(Ok(n));
            }
            Ok(None) if crate::clock::now() < spin_until => futures_lite::future::yield_now().await,
            Ok(None) => {
                // Wait for bytes, or for the link to go down (the node was
                // declared gone): then the reader stops and the socket closes.
                let read = async { Some(stream.read(dst).await) };
                let got = futures_lite::future::or(read, async {
                    link.closed().await;
                    None
                })
                .await;
                if got.is_some() {
                    host.transport().heard(link.peer, crate::clock::now());
                }
                return got;
            }
            Err(e) => return Some(Err(e)),
        }
    }
}

/// A heartbeat tick read from `link`'s peer: its link on this core is alive,
/// or, for another core of this node, the host forwards it there. A tick
/// that names another node than the connection's peer is dropped and
/// counted: a peer cannot keep a third node's links alive.
fn tick<H: Host>(host: &H, link: &Link, frame: &coremesh_wire::CheckedFrame<'_>) {
    let h = frame.header();
    if h.corr != link.peer.0 {
        host.stats().ticks_refused.add(1);
        return;
    }
    host.transport().heard(link.peer, crate::clock::now());
    if h.core != host.core_id().0 && host.frame_from_peer(link.peer, *frame) == Delivered::Blocked {
        // A full ring to that core: the tick is skipped, as a full link skips one.
        host.stats().heartbeats_skipped.add(1);
    }
}

/// The whole length of the frame a checked prefix starts (the decoder already
/// refused lengths past the limit, so this is bounded).
fn frame_len_hint(buf: &[u8]) -> Option<usize> {
    let head = buf.first_chunk::<{ coremesh_wire::HEADER_BYTES }>()?;
    let payload = u32::from_le_bytes([head[0], head[1], head[2], head[3]]) as usize;
    let kind = FrameKind::from_u8(head[4]).ok()?;
    Some(coremesh_wire::frame_len(kind, payload))
}

/// Writes what `link` queues (encrypted by `tls` when TLS is on) until the link
/// goes down or the socket fails.
pub(crate) async fn run_writer(
    link: Rc<Link>,
    mut stream: TcpStream,
    mut tls: Option<Writer>,
) -> Result<(), std::io::Error> {
    let mut spare = AlignedVec::<16>::new();
    loop {
        poll_fn(|cx| {
            if link.state() == LinkState::Down || link.take_or_wait(&mut spare, cx.waker()) {
                Poll::Ready(())
            } else {
                Poll::Pending
            }
        })
        .await;
        if link.state() == LinkState::Down {
            let _ = stream.shutdown(std::net::Shutdown::Both).await;
            return Ok(());
        }
        match tls.as_mut() {
            None => stream.write_all(&spare).await?,
            Some(tls) => stream.write_all(tls.seal(&spare)?).await?,
        }
        link.wrote(spare.len());
        spare.clear();
    }
}
