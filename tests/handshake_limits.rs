//! The handshake's one deadline and the node's bounds on connections in the
//! handshake, against real sockets (issue 16; issue 10, item 4): a Hello or a
//! Proof trickled one byte at a time is closed at the deadline and counted
//! while a legitimate peer is served; a dialer whose server trickles its Hello
//! gives up at the same deadline with an error that names it; connections over
//! the node's or a source's bound are closed at once, unread, and counted.
//!
//! Every wait is bounded (`T`, or the deadline plus `MARGIN`); nothing here
//! asserts a speed. The times printed (`eprintln!`) are figures for the notes:
//! `cargo test --test handshake_limits -- --nocapture`.

#[path = "fixture/procs.rs"]
mod procs;
mod raw_peer;
mod trickle;

use std::io::{ErrorKind, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use coremesh::wire::{Handshake, Progress};
use coremesh::{Config, ConnectError};
use raw_peer::*;
use trickle::{connect_from, spread, trickle, Conn};

/// The handshake deadline of these tests.
const DEADLINE_MS: u64 = 1000;
const DEADLINE: Duration = Duration::from_millis(DEADLINE_MS);
/// One byte per this: far shorter than any idle timeout (the connection
/// timeout is 3000 ms), so only a deadline for the whole handshake ends it.
const EVERY: Duration = Duration::from_millis(100);
/// How long past its deadline a trickled handshake may stay open here: a
/// bound for a loaded 2-CPU machine, not a claim about speed.
const MARGIN: Duration = Duration::from_secs(3);
/// Trickling connections per test.
const TRICKLERS: usize = 16;

fn good_info(fx: &Fixture) -> coremesh::wire::LocalInfo {
    local_info(fake_node_id(fx.node.id().0))
}

/// A valid client Hello for `fx`'s node.
fn hello(fx: &Fixture) -> Vec<u8> {
    let mut hello = Vec::new();
    Handshake::client(good_info(fx), Config::DEFAULT_COOKIE, nonce(), &mut hello).expect("our Hello");
    hello
}

/// Checks what the trickle left: every connection closed by the node before
/// it could finish, no earlier than the deadline (the node let a slow but
/// valid handshake run its time) and no later than the deadline plus
/// `MARGIN`. Prints the spread, for the notes.
fn closed_at_the_deadline(what: &str, conns: &[Conn]) {
    let lived: Vec<Duration> = conns
        .iter()
        .map(|c| {
            assert!(!c.all_sent(), "{what}: the whole message went out before the node closed");
            c.lived()
                .unwrap_or_else(|| panic!("{what}: still open {:?} after its connect", DEADLINE + MARGIN))
        })
        .collect();
    let (min, mid, max) = spread(&lived);
    eprintln!("{what}: connect to close of {} connections: min {min:?}, median {mid:?}, max {max:?} (deadline {DEADLINE:?})", lived.len());
    // The node's deadline runs from its accept, which comes after our connect returned.
    assert!(min >= DEADLINE - Duration::from_millis(20), "{what}: closed before the deadline: {min:?}");
    assert!(max <= DEADLINE + MARGIN, "{what}: closed {max:?} after its connect");
}

/// A legitimate raw peer, during the trickle: it completes its handshake and
/// gets its answer. Returns how long that took (a figure, not an assertion).
fn legitimate_peer_is_served(fx: &Fixture, total: u64) -> Duration {
    let started = Instant::now();
    let mut c = fx.client();
    assert_eq!(c.ask_add(fx, 7, 0), Answer::Reply(total), "a legitimate peer's ask");
    started.elapsed()
}

#[test]
fn a_hello_trickled_one_byte_at_a_time_is_closed_at_the_deadline() {
    let fx = fixture(|b| b.handshake_timeout_ms(DEADLINE_MS));
    let before = fx.stats();
    let hello = hello(&fx);
    // It cannot finish before it is judged: the node must cut it off.
    assert!(EVERY * hello.len() as u32 > DEADLINE + MARGIN, "a Hello of {} bytes", hello.len());
    let addr = fx.node.listen_addr();
    let (open_tx, open_rx) = mpsc::channel();
    let trickler = std::thread::spawn(move || {
        let mut conns: Vec<Conn> = (0..TRICKLERS)
            .map(|_| Conn::new(TcpStream::connect_timeout(&addr, T).expect("connect"), hello.clone()))
            .collect();
        conns.iter_mut().for_each(|c| assert!(c.step(), "closed at once"));
        open_tx.send(()).unwrap();
        let until = Instant::now() + DEADLINE + MARGIN;
        trickle(&mut conns, EVERY, until);
        conns
    });
    open_rx.recv_timeout(T).expect("the trickling connections open");
    let took = legitimate_peer_is_served(&fx, 0);
    eprintln!("a legitimate raw peer's handshake and ask during the trickle: {took:?}");
    let conns = trickler.join().expect("the trickler");
    closed_at_the_deadline("trickled Hello", &conns);
    let n = TRICKLERS as u64;
    fx.wait_count("handshake_timeouts", before.handshake_timeouts + n - 1, |s| s.handshake_timeouts);
    fx.wait_count("refused_connections", before.refused_connections + n - 1, |s| s.refused_connections);
    fx.done(0);
}

/// Connects, sends a whole valid Hello, reads the node's, and returns the
/// stream, when the connect returned, and the Proof our side would send next.
fn up_to_the_proof(fx: &Fixture) -> (TcpStream, Instant, Vec<u8>) {
    let mut stream = TcpStream::connect_timeout(&fx.node.listen_addr(), T).expect("connect");
    let opened = Instant::now();
    let mut hello = Vec::new();
    let mut hs = Handshake::client(good_info(fx), Config::DEFAULT_COOKIE, nonce(), &mut hello).unwrap();
    stream.write_all(&hello).expect("send Hello");
    let deadline = Instant::now() + T;
    let (mut buf, mut chunk) = (Vec::new(), [0u8; 2048]);
    loop {
        let n = read_some(&mut stream, &mut chunk, deadline, "no Hello from the node in").expect("read");
        assert_ne!(n, 0, "the node closed before its Hello");
        buf.extend_from_slice(&chunk[..n]);
        let mut out = Vec::new();
        match hs.on_bytes(&buf, &mut out) {
            Ok((_, Progress::NeedMore)) if !out.is_empty() => return (stream, opened, out),
            Ok((used, Progress::NeedMore)) => drop(buf.drain(..used)),
            other => panic!("the node's Hello: {other:?}"),
        }
    }
}

#[test]
fn a_proof_trickled_one_byte_at_a_time_is_closed_at_the_deadline() {
    let fx = fixture(|b| b.handshake_timeout_ms(DEADLINE_MS));
    let before = fx.stats();
    let mut conns: Vec<Conn> = (0..TRICKLERS)
        .map(|_| {
            let (stream, opened, proof) = up_to_the_proof(&fx);
            Conn::new(stream, proof).opened_at(opened)
        })
        .collect();
    // A Proof is 41 bytes: slower still, so that it cannot finish in time.
    let every = EVERY * 3 / 2;
    assert!(every * 41 > DEADLINE + MARGIN);
    conns.iter_mut().for_each(|c| assert!(c.step(), "closed at once"));
    let took = legitimate_peer_is_served(&fx, 0);
    eprintln!("a legitimate raw peer's handshake and ask during the Proof trickle: {took:?}");
    let opened = conns.iter().map(|c| c.opened).min().unwrap();
    trickle(&mut conns, every, opened + DEADLINE + MARGIN);
    closed_at_the_deadline("trickled Proof", &conns);
    let n = TRICKLERS as u64;
    fx.wait_count("handshake_timeouts", before.handshake_timeouts + n - 1, |s| s.handshake_timeouts);
    fx.done(0);
}

/// A server that accepts one connection, reads the client's Hello and sends
/// back a valid server Hello one byte per `EVERY`. The thread returns how long
/// the connection lived from its accept to the dialer's close (`None`: still
/// open after `T`).
fn trickling_server() -> (SocketAddr, std::thread::JoinHandle<Option<Duration>>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().unwrap();
    let server = std::thread::spawn(move || {
        let deadline = Instant::now() + T;
        let mut stream = procs::accept_within(&listener, T, "dial");
        let accepted = Instant::now();
        stream.set_nonblocking(false).unwrap();
        let mut hs = Handshake::server(local_info(fake_node_id(0)), Config::DEFAULT_COOKIE, nonce());
        let (mut buf, mut chunk, mut hello) = (Vec::new(), [0u8; 4096], Vec::new());
        while hello.is_empty() {
            let n = read_some(&mut stream, &mut chunk, deadline, "no Hello from the dialer in").unwrap();
            assert_ne!(n, 0, "the dialer closed before its Hello");
            buf.extend_from_slice(&chunk[..n]);
            let (used, _) = hs.on_bytes(&buf, &mut hello).expect("the dialer's Hello is valid");
            buf.drain(..used);
        }
        assert!(EVERY * hello.len() as u32 > DEADLINE + MARGIN, "a server Hello of {} bytes", hello.len());
        let mut conns = [Conn::new(stream, hello).opened_at(accepted)];
        trickle(&mut conns, EVERY, deadline);
        conns[0].lived()
    });
    (addr, server)
}

#[test]
fn a_dialer_whose_server_trickles_its_hello_gives_up_at_the_deadline() {
    let fx = fixture(|b| b.handshake_timeout_ms(DEADLINE_MS));
    let (addr, server) = trickling_server();
    let (tx, rx) = mpsc::channel();
    let handle = fx.node.handle();
    let started = Instant::now();
    std::thread::spawn(move || tx.send(handle.connect(addr).wait()));
    let got = rx.recv_timeout(T).unwrap_or_else(|_| panic!("connect still waiting after {T:?}"));
    let took = started.elapsed();
    let Err(e @ ConnectError::HandshakeTimeout { addr: at, deadline_ms }) = got else {
        panic!("expected a handshake timeout, got {got:?}")
    };
    assert_eq!((at, deadline_ms), (addr, DEADLINE_MS));
    let text = e.to_string();
    let want = format!("did not finish within the handshake deadline of {DEADLINE_MS} ms");
    assert!(text.contains(&want) && text.contains(&addr.to_string()), "{text}");
    let lived = server.join().expect("the server").expect("the dialer closed its connection");
    eprintln!(
        "a dialer facing a trickled server Hello gave up after {took:?} ({lived:?} from the accept): {text}"
    );
    assert!(took >= DEADLINE && took <= DEADLINE + MARGIN, "gave up after {took:?}");
    assert!(lived <= DEADLINE + MARGIN, "the dialer's socket stayed open {lived:?}");
    fx.done(0);
}

/// Whether the node still holds `stream` open (nothing to read, no close).
fn still_open(stream: &mut TcpStream) -> bool {
    stream.set_nonblocking(true).unwrap();
    let open = matches!(stream.read(&mut [0u8; 16]), Err(e) if e.kind() == ErrorKind::WouldBlock);
    stream.set_nonblocking(false).unwrap();
    open
}

/// Opens `n` connections from `from` that send nothing.
fn idle_from(from: Ipv4Addr, fx: &Fixture, n: usize) -> Vec<TcpStream> {
    (0..n).map(|_| connect_from(from, fx.node.listen_addr(), T).expect("connect")).collect()
}

#[test]
fn connections_over_the_node_or_source_bound_are_closed_at_once_and_counted() {
    const NODE_MAX: usize = 8;
    const SOURCE_MAX: usize = 4;
    // A deadline far past this test: only the bounds close connections here.
    let fx = fixture(|b| {
        b.handshakes_max(NODE_MAX).handshakes_per_source_max(SOURCE_MAX).handshake_timeout_ms(60_000)
    });
    let before = fx.stats();
    let (a, b, c) = (Ipv4Addr::new(127, 0, 0, 2), Ipv4Addr::new(127, 0, 0, 3), Ipv4Addr::new(127, 0, 0, 4));

    // One source opens three times its bound: the excess is closed unread.
    let mut from_a = idle_from(a, &fx, 3 * SOURCE_MAX);
    let shed = (2 * SOURCE_MAX) as u64;
    fx.wait_count("handshakes_shed_per_source", before.handshakes_shed_per_source + shed - 1, |s| {
        s.handshakes_shed_per_source
    });
    for s in &mut from_a[SOURCE_MAX..] {
        assert!(read_to_close(s).is_empty(), "a shed connection is closed without a word");
    }
    assert!(from_a[..SOURCE_MAX].iter_mut().all(still_open), "the first {SOURCE_MAX} are in the handshake");
    // Another source is not held back by it.
    legitimate_peer_is_served(&fx, 0);

    // Two more sources fill the node's bound: the next connection from
    // anywhere is closed at once, a legitimate one too.
    let mut from_b = idle_from(b, &fx, NODE_MAX - SOURCE_MAX);
    let mut from_c = idle_from(c, &fx, 1);
    let mut legit = TcpStream::connect_timeout(&fx.node.listen_addr(), T).expect("connect");
    fx.wait_count("handshakes_shed", before.handshakes_shed + shed + 1, |s| s.handshakes_shed);
    assert!(read_to_close(&mut from_c[0]).is_empty());
    assert!(read_to_close(&mut legit).is_empty());
    assert!(from_b.iter_mut().all(still_open), "the second source's are in the handshake");
    let after = fx.stats();
    assert_eq!(after.handshakes_shed - before.handshakes_shed, shed + 2);
    assert_eq!(after.handshakes_shed_per_source - before.handshakes_shed_per_source, shed);
    assert_eq!(after.handshake_timeouts, before.handshake_timeouts);

    // The first source gives up: its places come back, and a legitimate peer
    // is served again.
    let refused = fx.stats().refused_connections;
    drop(from_a);
    fx.wait_count("refused_connections", refused + SOURCE_MAX as u64 - 1, |s| s.refused_connections);
    legitimate_peer_is_served(&fx, 0);
    drop(from_b);
    fx.done(0);
}
