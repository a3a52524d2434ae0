//! The type table over real sockets: a node whose build declares `schema.Ping` with
//! `#[coremesh::message_type]` serves it, refuses a peer whose Hello gives
//! `schema.Ping` another fingerprint (Refuse(TypeTable), counted), accepts a peer
//! that declares types it never heard of, and, dialing a peer whose Hello disagrees
//! on `schema.Ping`, fails to connect with an error that names the type.
//!
//! The peer is a blocking `TcpStream` running the sans-IO `Handshake` by hand. Every
//! wait is bounded (read timeouts, a deadline on accept, polled counters).

#[path = "fixture/procs.rs"]
mod procs;
use std::io::{ErrorKind, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

use coremesh::wire::{
    type_id_of, Handshake, HandshakeError, LocalInfo, Progress, RefuseReason, TypeEntry, TypeTable,
};
use coremesh::{Actor, Config, CoreId, Ctx, Handler, Message, Node};

/// Declared with the attribute: no rkyv derives written here.
#[coremesh::message_type("schema.Ping")]
struct Ping {
    n: u64,
}

struct Ponger;
impl Actor for Ponger {}
impl Handler<Ping> for Ponger {
    type Reply = u64;
    fn handle(&mut self, msg: &ArchivedPing, _ctx: &mut Ctx<Self>) -> u64 {
        msg.n.to_native() + 1
    }
}
coremesh::handlers!(Ponger: Ping);

/// The bound on every wait in this file.
const T: Duration = Duration::from_secs(10);

fn node() -> Node {
    let b = Config::builder()
        .env_source(|_| None)
        .dev_mode(true)
        .listen("127.0.0.1:0".parse().unwrap())
        .cores([0]);
    Node::start(b.build().expect("config")).expect("node starts")
}

/// This build's table with `schema.Ping` at `fingerprint`, plus a type the node does
/// not declare.
fn table_with_ping(fingerprint: u64) -> TypeTable {
    let ours = coremesh::type_table().expect("this build's types agree");
    let ping = TypeEntry { type_id: Ping::TYPE_ID, fingerprint, name: Ping::NAME };
    let stranger =
        TypeEntry { type_id: type_id_of("elsewhere.Only"), fingerprint: 42, name: "elsewhere.Only" };
    let rest = ours.entries().iter().copied().filter(|e| e.type_id != Ping::TYPE_ID);
    TypeTable::new(rest.chain([ping, stranger])).unwrap()
}

fn info(node_id: u64, type_table: TypeTable) -> LocalInfo {
    // Advert v1: version 1, IPv4, 127.0.0.1, 1 core, core 0's port 1.
    let advert = vec![1, 4, 127, 0, 0, 1, 1, 0, 1, 0];
    LocalInfo { node_id, cores: 1, core: 0, target_core: 0, type_table, cluster: "coremesh".into(), advert }
}

/// Feeds what arrives on `stream` to `hs` (sending what it writes) until it ends.
fn run(stream: &mut TcpStream, hs: &mut Handshake) -> Result<(), HandshakeError> {
    let deadline = Instant::now() + T;
    let (mut buf, mut chunk) = (Vec::new(), [0u8; 4096]);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(!left.is_zero(), "the handshake did not end within {T:?}");
        stream.set_read_timeout(Some(left)).unwrap();
        match stream.read(&mut chunk) {
            Ok(0) => panic!("closed before the handshake ended"),
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => panic!("reading the handshake: {e}"),
        }
        let mut out = Vec::new();
        let step = hs.on_bytes(&buf, &mut out);
        stream.write_all(&out).unwrap();
        match step? {
            (_, Progress::Done(_)) => return Ok(()),
            (used, Progress::NeedMore) => drop(buf.drain(..used)),
        }
    }
}

/// Connects to `node` as a client with `table`; how the handshake ended.
fn dial(node: &Node, table: TypeTable) -> Result<(), HandshakeError> {
    let mut stream = TcpStream::connect_timeout(&node.listen_addr(), T).expect("connect");
    let mut hello = Vec::new();
    let mut hs = Handshake::client(info(node.id().0 ^ 1, table), Config::DEFAULT_COOKIE, [3; 32], &mut hello)
        .expect("our Hello");
    stream.write_all(&hello).unwrap();
    run(&mut stream, &mut hs)
}

fn wait_refused(node: &Node, before: u64) {
    let deadline = Instant::now() + T;
    while node.stats().total().refused_connections <= before {
        assert!(Instant::now() < deadline, "no refusal counted within {T:?}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn a_node_serves_an_attribute_declared_message_and_accepts_peers_with_other_types() {
    let node = node();
    let ponger = node.spawn_on(CoreId(0), || Ponger).wait().expect("spawn");
    assert_eq!(node.ask(&ponger, Ping { n: 41 }).timeout(T).wait(), Ok(42));
    // A peer that agrees on `schema.Ping` and declares a type the node does not know.
    assert_eq!(dial(&node, table_with_ping(Ping::FINGERPRINT)), Ok(()));
    node.shutdown().expect("clean shutdown");
}

#[test]
fn a_node_refuses_a_peer_that_gives_a_shared_type_another_fingerprint() {
    let node = node();
    let before = node.stats().total().refused_connections;
    let refused = dial(&node, table_with_ping(Ping::FINGERPRINT ^ 1));
    assert_eq!(refused, Err(HandshakeError::Refused { reason: RefuseReason::TypeTable }));
    wait_refused(&node, before);
    node.shutdown().expect("clean shutdown");
}

#[test]
fn a_node_dialing_a_peer_that_disagrees_on_a_type_fails_naming_it() {
    let node = node();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let peer = std::thread::spawn(move || {
        let mut stream = procs::accept_within(&listener, T, "dial from the node");
        stream.set_nonblocking(false).unwrap();
        // A server whose build gives `schema.Ping` another fingerprint would refuse the
        // node first; this one sends such a Hello anyway, so the node is the one to judge.
        let mut hs =
            Handshake::server(info(7, table_with_ping(Ping::FINGERPRINT)), Config::DEFAULT_COOKIE, [4; 32]);
        let (mut buf, mut chunk) = (Vec::new(), [0u8; 4096]);
        stream.set_read_timeout(Some(T)).unwrap();
        let mut hello = Vec::new();
        while hello.is_empty() {
            let n = stream.read(&mut chunk).expect("the node's Hello");
            assert!(n > 0, "the node closed before its Hello");
            buf.extend_from_slice(&chunk[..n]);
            hs.on_bytes(&buf, &mut hello).expect("the node's Hello is fine");
        }
        let mut at_ping = Ping::TYPE_ID.to_le_bytes().to_vec();
        at_ping.extend_from_slice(&Ping::FINGERPRINT.to_le_bytes());
        let at = hello.windows(16).position(|w| w == at_ping).expect("schema.Ping in our Hello") + 8;
        hello[at] ^= 1;
        stream.write_all(&hello).unwrap();
        let mut rest = Vec::new();
        let _ = stream.read_to_end(&mut rest); // the node's Refuse, then its close
        rest
    });
    // Bounded by the node's handshake timeout (COREMESH_CONNECTION_TIMEOUT_MS).
    let error = node.connect(addr).wait().expect_err("the node refuses the peer");
    let text = error.to_string();
    assert!(text.contains("`schema.Ping`"), "the error names the type: {text}");
    let mut refuse = coremesh::wire::HANDSHAKE_MAGIC.to_vec();
    refuse.extend_from_slice(&[4, RefuseReason::TypeTable as u8]);
    assert_eq!(peer.join().expect("peer thread"), refuse, "the node sent Refuse(TypeTable)");
    node.shutdown().expect("clean shutdown");
}
