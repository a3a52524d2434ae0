//! Unit tests of the handshake: both sides driven through an in-memory pipe (whole
//! messages and one byte at a time), one test per refusal (the refusing side's error
//! and the other side's `Refused`), the type table comparison (a conflict refused by
//! either side, disjoint tables accepted, an over-long table refused), the byte layout
//! of FORMAT.md, the proof formula, and a property test that no byte string makes
//! `on_bytes` panic.
//!
//! Synchronous and deterministic: nonces are fixed, randomness comes only from
//! proptest (which prints and keeps failing seeds). No I/O, no clock.

use super::*;
use crate::schema::{TypeEntry, FORMAT_HASH, MAX_TYPE_TABLE_ENTRIES};
use crate::type_id_of;
use hmac::Hmac;
use proptest::prelude::*;
use sha2::Sha256;
use std::collections::VecDeque;

/// Distinctive, so that a search of the written bytes cannot miss it by accident.
const COOKIE: &[u8] = b"cookie:7f3a9c1e-not-on-the-wire";
const CLIENT_NONCE: [u8; 32] = [0xC1; 32];
const SERVER_NONCE: [u8; 32] = [0x5E; 32];

fn entry(name: &'static str, fingerprint: u64) -> TypeEntry {
    TypeEntry { type_id: type_id_of(name), fingerprint, name }
}

fn table(entries: &[TypeEntry]) -> TypeTable {
    TypeTable::new(entries.iter().copied()).unwrap()
}

/// Both sides declare `shared.Ping` and `shared.Pong` alike; each has one of its own.
fn client_table() -> TypeTable {
    table(&[entry("shared.Ping", 0x1111), entry("shared.Pong", 0x2222), entry("client.Only", 0x3333)])
}

fn server_table() -> TypeTable {
    table(&[entry("shared.Ping", 0x1111), entry("shared.Pong", 0x2222), entry("server.Only", 0x4444)])
}

fn info(node_id: u64, core: u16, target_core: u16) -> LocalInfo {
    LocalInfo {
        node_id,
        cores: 4,
        core,
        target_core,
        type_table: if node_id == 0xA { client_table() } else { server_table() },
        cluster: "prod-eu".to_owned(),
        advert: format!("10.0.0.{node_id}:7000;ports=7001,7002,7003,7004").into_bytes(),
    }
}

fn client_info() -> LocalInfo {
    info(0xA, 1, 2)
}

fn server_info() -> LocalInfo {
    info(0xB, 2, 2)
}

fn refuse_bytes(reason: RefuseReason) -> Vec<u8> {
    let mut v = HANDSHAKE_MAGIC.to_vec();
    v.extend_from_slice(&[4, reason as u8]);
    v
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

type Outcome = Option<Result<PeerInfo, HandshakeError>>;

/// One end of the pipe: the machine, its unconsumed received bytes, how it ended.
struct End {
    hs: Handshake,
    inbox: Vec<u8>,
    outcome: Outcome,
}

impl End {
    /// Moves up to `chunk` bytes from `wire` into the inbox and feeds the inbox;
    /// whatever the machine writes goes onto `reply`. Returns whether anything moved.
    fn pump(&mut self, wire: &mut VecDeque<u8>, chunk: usize, reply: &mut VecDeque<u8>) -> bool {
        if self.outcome.is_some() || wire.is_empty() {
            return false;
        }
        let n = chunk.min(wire.len());
        self.inbox.extend(wire.drain(..n));
        let mut out = Vec::new();
        match self.hs.on_bytes(&self.inbox, &mut out) {
            Ok((used, progress)) => {
                self.inbox.drain(..used);
                if let Progress::Done(peer) = progress {
                    self.outcome = Some(Ok(peer));
                }
            }
            Err(e) => self.outcome = Some(Err(e)),
        }
        reply.extend(out);
        true
    }
}

/// Runs a handshake between `client` and `server` over an in-memory pipe that
/// delivers at most `chunk` bytes per call. Returns both outcomes and every byte
/// either side wrote, and checks that the cookie is in none of them.
fn drive(client: LocalInfo, client_cookie: &[u8], server: LocalInfo, chunk: usize) -> (Outcome, Outcome) {
    let mut c2s = VecDeque::new();
    let mut first = Vec::new();
    let hs = Handshake::client(client, client_cookie, CLIENT_NONCE, &mut first).unwrap();
    c2s.extend(first);
    let mut c = End { hs, inbox: Vec::new(), outcome: None };
    let mut s = End { hs: Handshake::server(server, COOKIE, SERVER_NONCE), inbox: Vec::new(), outcome: None };
    let mut s2c = VecDeque::new();
    let mut written: Vec<u8> = c2s.iter().copied().collect();
    loop {
        let before = (c2s.len(), s2c.len());
        let moved_s = s.pump(&mut c2s, chunk, &mut s2c);
        written.extend(s2c.iter().skip(before.1));
        let len_c2s = c2s.len();
        let moved_c = c.pump(&mut s2c, chunk, &mut c2s);
        written.extend(c2s.iter().skip(len_c2s));
        if !moved_s && !moved_c {
            break;
        }
    }
    assert!(!contains(&written, COOKIE), "the cookie crossed the wire");
    assert!(!contains(&written, client_cookie), "the client's cookie crossed the wire");
    (c.outcome, s.outcome)
}

#[test]
fn handshake_succeeds_whole_messages_and_byte_by_byte() {
    for chunk in [usize::MAX, 1, 7] {
        let (c, s) = drive(client_info(), COOKIE, server_info(), chunk);
        let s_info = server_info();
        let c_info = client_info();
        let expect_server = PeerInfo {
            node_id: s_info.node_id,
            cores: s_info.cores,
            core: s_info.core,
            target_core: s_info.target_core,
            advert: s_info.advert,
        };
        let expect_client = PeerInfo {
            node_id: c_info.node_id,
            cores: c_info.cores,
            core: c_info.core,
            target_core: c_info.target_core,
            advert: c_info.advert,
        };
        assert_eq!(c, Some(Ok(expect_server)), "chunk {chunk}");
        assert_eq!(s, Some(Ok(expect_client)), "chunk {chunk}");
    }
}

/// Runs client Hello → server Hello by hand; returns (client, server, server's Hello).
fn to_server_hello(client_cookie: &[u8]) -> (Handshake, Handshake, Vec<u8>) {
    let mut c_hello = Vec::new();
    let c = Handshake::client(client_info(), client_cookie, CLIENT_NONCE, &mut c_hello).unwrap();
    let mut s = Handshake::server(server_info(), COOKIE, SERVER_NONCE);
    let mut s_hello = Vec::new();
    assert_eq!(s.on_bytes(&c_hello, &mut s_hello), Ok((c_hello.len(), Progress::NeedMore)));
    (c, s, s_hello)
}

#[test]
fn frames_after_accept_are_not_consumed_and_done_is_sticky() {
    let (mut c, mut s, s_hello) = to_server_hello(COOKIE);
    let mut proof = Vec::new();
    assert_eq!(c.on_bytes(&s_hello, &mut proof), Ok((s_hello.len(), Progress::NeedMore)));
    assert_eq!(proof.len(), 41);
    let mut accept = Vec::new();
    let (used, progress) = s.on_bytes(&proof, &mut accept).unwrap();
    assert_eq!((used, &accept[..]), (41, &b"CMESHHS1\x03"[..]));
    assert!(matches!(progress, Progress::Done(ref p) if p.node_id == 0xA));
    let mut bytes = accept.clone();
    bytes.extend_from_slice(b"first frame bytes");
    let mut out = Vec::new();
    let (used, progress) = c.on_bytes(&bytes, &mut out).unwrap();
    assert_eq!(used, 9);
    assert!(matches!(progress, Progress::Done(ref p) if p.node_id == 0xB));
    assert_eq!(c.on_bytes(b"more frames", &mut out).unwrap().0, 0);
    assert!(out.is_empty());
}

#[test]
fn a_duplicate_refusal_after_the_proof_leaves_the_client_knowing_its_peer() {
    let (mut c, mut s, s_hello) = to_server_hello(COOKIE);
    assert!(c.verified_peer().is_none() && s.verified_peer().is_none());
    let mut proof = Vec::new();
    c.on_bytes(&s_hello, &mut proof).unwrap();
    assert_eq!(c.verified_peer().map(|p| p.node_id), Some(0xB));
    let mut accept = Vec::new();
    s.on_bytes(&proof, &mut accept).unwrap();
    assert_eq!(s.verified_peer().map(|p| p.node_id), Some(0xA));
    // The server's runtime replaces the Accept with Refuse(Duplicate).
    let mut refuse = Vec::new();
    Handshake::write_refuse(RefuseReason::Duplicate, &mut refuse);
    assert_eq!(refuse, refuse_bytes(RefuseReason::Duplicate));
    let mut out = Vec::new();
    let error = HandshakeError::Refused { reason: RefuseReason::Duplicate };
    assert_eq!(c.on_bytes(&refuse, &mut out), Err(error));
    assert!(out.is_empty(), "a received Refuse is never answered");
    assert_eq!(c.verified_peer().map(|p| p.node_id), Some(0xB));
    assert_eq!(RefuseReason::from_u8(9), Some(RefuseReason::Duplicate));
}

#[test]
fn hello_layout_matches_format_md() {
    let mut out = Vec::new();
    let local = client_info();
    Handshake::client(local.clone(), COOKIE, CLIENT_NONCE, &mut out).unwrap();
    assert_eq!(&out[0..8], b"CMESHHS1");
    assert_eq!(out[8], 1, "type Hello");
    assert_eq!(&out[9..11], &1u16.to_le_bytes(), "version");
    assert_eq!(out[11], 1, "role client");
    assert_eq!(&out[12..20], &0xAu64.to_le_bytes());
    assert_eq!(&out[20..22], &4u16.to_le_bytes(), "cores");
    assert_eq!(&out[22..24], &1u16.to_le_bytes(), "core");
    assert_eq!(&out[24..26], &2u16.to_le_bytes(), "target_core");
    assert_eq!(&out[26..34], &FORMAT_HASH.to_le_bytes());
    assert_eq!(&out[34..66], &CLIENT_NONCE);
    assert_eq!(out[66] as usize, local.cluster.len());
    let at = 67 + local.cluster.len();
    assert_eq!(&out[67..at], local.cluster.as_bytes());
    assert_eq!(&out[at..at + 2], &(local.advert.len() as u16).to_le_bytes());
    let at = at + 2 + local.advert.len();
    assert_eq!(&out[at - local.advert.len()..at], &local.advert[..]);
    assert_eq!(&out[at..at + 2], &3u16.to_le_bytes(), "type_count");
    let mut at = at + 2;
    let mut last = 0;
    for e in local.type_table.entries() {
        assert!(e.type_id > last, "entries ascend by type id");
        last = e.type_id;
        assert_eq!(&out[at..at + 8], &e.type_id.to_le_bytes());
        assert_eq!(&out[at + 8..at + 16], &e.fingerprint.to_le_bytes());
        at += 16;
    }
    assert_eq!(out[at], 0, "the client's Hello carries no proof");
    assert_eq!(out.len(), at + 1);
}

#[test]
fn server_proof_is_the_documented_hmac_and_largest_hello_is_max_message_bytes() {
    let full = TypeTable::new((1..=MAX_TYPE_TABLE_ENTRIES as u64).map(|id| TypeEntry {
        type_id: id,
        fingerprint: id * 3,
        name: "n",
    }))
    .unwrap();
    let long = |info: LocalInfo, byte| LocalInfo {
        cluster: "c".repeat(64),
        advert: vec![byte; 1024],
        type_table: full.clone(),
        ..info
    };
    let (client, server) = (long(client_info(), 7), long(server_info(), 9));
    let mut c_hello = Vec::new();
    Handshake::client(client, COOKIE, CLIENT_NONCE, &mut c_hello).unwrap();
    let mut s = Handshake::server(server, COOKIE, SERVER_NONCE);
    let mut s_hello = Vec::new();
    s.on_bytes(&c_hello, &mut s_hello).unwrap();
    assert_eq!(c_hello.len(), Handshake::MAX_MESSAGE_BYTES - 32);
    assert_eq!(s_hello.len(), Handshake::MAX_MESSAGE_BYTES);
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(COOKIE).unwrap();
    mac.update(b"coremesh-handshake-v1");
    mac.update(&[2]);
    mac.update(&SERVER_NONCE);
    mac.update(&CLIENT_NONCE);
    mac.update(&0xBu64.to_le_bytes());
    mac.update(&0xAu64.to_le_bytes());
    let expected: [u8; 32] = mac.finalize().into_bytes().into();
    assert_eq!(s_hello[s_hello.len() - 33], 32, "proof_len");
    assert_eq!(&s_hello[s_hello.len() - 32..], &expected);
}

/// Feeds `bytes` to `refuser`; checks it fails with `error` and writes exactly
/// Refuse(`reason`); then feeds those bytes to `other` and checks `Refused`.
fn assert_refusal(
    refuser: &mut Handshake,
    bytes: &[u8],
    error: HandshakeError,
    reason: RefuseReason,
    other: &mut Handshake,
) {
    let mut out = Vec::new();
    assert_eq!(refuser.on_bytes(bytes, &mut out), Err(error.clone()));
    assert_eq!(out, refuse_bytes(reason));
    // The failure is sticky and writes nothing more.
    let mut again = Vec::new();
    assert_eq!(refuser.on_bytes(bytes, &mut again), Err(error));
    assert!(again.is_empty());
    let mut none = Vec::new();
    assert_eq!(other.on_bytes(&out, &mut none), Err(HandshakeError::Refused { reason }));
    assert!(none.is_empty(), "nobody answers a Refuse");
}

fn fresh_client() -> (Handshake, Vec<u8>) {
    let mut hello = Vec::new();
    let c = Handshake::client(client_info(), COOKIE, CLIENT_NONCE, &mut hello).unwrap();
    (c, hello)
}

fn fresh_server() -> Handshake {
    Handshake::server(server_info(), COOKIE, SERVER_NONCE)
}

#[test]
fn refuses_bad_magic() {
    let (mut c, _) = fresh_client();
    let error = HandshakeError::BadMagic { found: *b"GET / HT" };
    assert_refusal(&mut fresh_server(), b"GET / HTTP/1.1\r\n", error, RefuseReason::BadMagic, &mut c);
    // Seven bytes cannot be judged yet.
    assert_eq!(fresh_server().on_bytes(b"GET / H", &mut Vec::new()), Ok((0, Progress::NeedMore)));
}

#[test]
fn refuses_wrong_version_as_soon_as_it_arrives() {
    let (mut c, mut hello) = fresh_client();
    hello[9..11].copy_from_slice(&2u16.to_le_bytes());
    let error = HandshakeError::Version { ours: 1, theirs: 2 };
    assert_refusal(&mut fresh_server(), &hello[..11], error, RefuseReason::Version, &mut c);
}

#[test]
fn refuses_wrong_cluster() {
    let (mut c, _) = fresh_client();
    let mut hello = Vec::new();
    let other = LocalInfo { cluster: "staging".to_owned(), ..client_info() };
    Handshake::client(other, COOKIE, CLIENT_NONCE, &mut hello).unwrap();
    let error = HandshakeError::Cluster { ours: "prod-eu".to_owned(), theirs: "staging".to_owned() };
    assert_refusal(&mut fresh_server(), &hello, error, RefuseReason::Cluster, &mut c);
}

#[test]
fn refuses_another_frame_format_as_soon_as_it_arrives() {
    let (mut c, mut hello) = fresh_client();
    hello[26] ^= 1;
    let error = HandshakeError::Format { ours: FORMAT_HASH, theirs: FORMAT_HASH ^ 1 };
    assert_refusal(&mut fresh_server(), &hello[..34], error, RefuseReason::TypeTable, &mut c);
}

/// The client's table with `shared.Pong` at another fingerprint: one type, both sides.
fn conflicting_client_table() -> TypeTable {
    table(&[entry("shared.Ping", 0x1111), entry("shared.Pong", 0xdead), entry("client.Only", 0x3333)])
}

#[test]
fn server_refuses_a_client_declaring_a_shared_type_with_another_fingerprint() {
    let (mut c, _) = fresh_client();
    let mut hello = Vec::new();
    let other = LocalInfo { type_table: conflicting_client_table(), ..client_info() };
    Handshake::client(other, COOKIE, CLIENT_NONCE, &mut hello).unwrap();
    let error = HandshakeError::TypeTable {
        type_id: type_id_of("shared.Pong"),
        name: "shared.Pong",
        ours: 0x2222,
        theirs: 0xdead,
    };
    assert!(error.to_string().contains("`shared.Pong`"), "{error}");
    assert_refusal(&mut fresh_server(), &hello, error, RefuseReason::TypeTable, &mut c);
    // The same through the pipe: the server refuses, the client hears the reason.
    let client = LocalInfo { type_table: conflicting_client_table(), ..client_info() };
    let (c, s) = drive(client, COOKIE, server_info(), 5);
    assert_eq!(c, Some(Err(HandshakeError::Refused { reason: RefuseReason::TypeTable })));
    assert!(matches!(s, Some(Err(HandshakeError::TypeTable { name: "shared.Pong", .. }))), "{s:?}");
}

#[test]
fn client_refuses_a_server_declaring_a_shared_type_with_another_fingerprint() {
    // A server that declares `shared.Pong` otherwise, met by a client that does not
    // declare it, answers with its Hello; the client that does declare it refuses that.
    let server = LocalInfo { type_table: conflicting_client_table(), ..server_info() };
    let neutral = LocalInfo { type_table: table(&[]), ..client_info() };
    let mut c_hello = Vec::new();
    Handshake::client(neutral, COOKIE, CLIENT_NONCE, &mut c_hello).unwrap();
    let mut s = Handshake::server(server, COOKIE, SERVER_NONCE);
    let mut s_hello = Vec::new();
    s.on_bytes(&c_hello, &mut s_hello).unwrap();
    let mut c = Handshake::client(client_info(), COOKIE, CLIENT_NONCE, &mut Vec::new()).unwrap();
    let error = HandshakeError::TypeTable {
        type_id: type_id_of("shared.Pong"),
        name: "shared.Pong",
        ours: 0x2222,
        theirs: 0xdead,
    };
    assert_refusal(&mut c, &s_hello, error, RefuseReason::TypeTable, &mut s);
}

#[test]
fn tables_that_share_no_conflicting_type_are_accepted() {
    // Disjoint tables, an empty one, and tables sharing types with equal fingerprints.
    let disjoint = table(&[entry("only.Mine", 1), entry("also.Mine", 2)]);
    for (client, server) in [
        (disjoint.clone(), server_table()),
        (table(&[]), server_table()),
        (client_table(), table(&[])),
        (client_table(), server_table()),
    ] {
        let c_info = LocalInfo { type_table: client, ..client_info() };
        let s_info = LocalInfo { type_table: server, ..server_info() };
        let (c, s) = drive(c_info, COOKIE, s_info, 3);
        assert!(matches!(c, Some(Ok(ref p)) if p.node_id == 0xB), "{c:?}");
        assert!(matches!(s, Some(Ok(ref p)) if p.node_id == 0xA), "{s:?}");
    }
}

/// The offset of `type_count` in `hello` (a Hello from `local`).
fn type_count_at(local: &LocalInfo) -> usize {
    67 + local.cluster.len() + 2 + local.advert.len()
}

#[test]
fn refuses_a_hello_claiming_too_many_types_or_an_unsorted_table() {
    let (mut c, hello) = fresh_client();
    let at = type_count_at(&client_info());
    // 4097 entries: refused as soon as the count has arrived, before any entry.
    let mut bad = hello[..at + 2].to_vec();
    bad[at..at + 2].copy_from_slice(&(MAX_TYPE_TABLE_ENTRIES as u16 + 1).to_le_bytes());
    let error = HandshakeError::Malformed("type table of 4097 entries over 4096".to_owned());
    assert_refusal(&mut fresh_server(), &bad, error, RefuseReason::Malformed, &mut c);
    // Entries out of order (the first two swapped): the receiver's merge needs order.
    let (mut c, mut hello) = fresh_client();
    let first = hello[at + 2..at + 18].to_vec();
    hello.copy_within(at + 18..at + 34, at + 2);
    hello[at + 18..at + 34].copy_from_slice(&first);
    let error = HandshakeError::Malformed("type table entry 1 does not ascend by type id".to_owned());
    assert_refusal(&mut fresh_server(), &hello, error, RefuseReason::Malformed, &mut c);
}

#[test]
fn refuses_self_connection() {
    let (mut c, _) = fresh_client();
    let mut hello = Vec::new();
    let same_id = LocalInfo { node_id: 0xB, ..client_info() };
    Handshake::client(same_id, COOKIE, CLIENT_NONCE, &mut hello).unwrap();
    let error = HandshakeError::SelfConnection { node_id: 0xB };
    assert_refusal(&mut fresh_server(), &hello, error, RefuseReason::SelfConnection, &mut c);
}

#[test]
fn client_refuses_server_with_another_cookie() {
    let (mut c, mut s, s_hello) = to_server_hello(b"a different cookie");
    assert_refusal(&mut c, &s_hello, HandshakeError::BadCookie, RefuseReason::Cookie, &mut s);
    // The same through the pipe, byte by byte: the client refuses, the server hears it.
    let (c, s) = drive(client_info(), b"a different cookie", server_info(), 1);
    assert_eq!(c, Some(Err(HandshakeError::BadCookie)));
    assert_eq!(s, Some(Err(HandshakeError::Refused { reason: RefuseReason::Cookie })));
}

#[test]
fn server_refuses_a_proof_with_a_wrong_hmac() {
    let (mut c, mut s, s_hello) = to_server_hello(COOKIE);
    let mut proof = Vec::new();
    c.on_bytes(&s_hello, &mut proof).unwrap();
    // Flip one bit of the client's real proof.
    let mut forged = proof.clone();
    forged[40] ^= 1;
    assert_refusal(&mut s, &forged, HandshakeError::BadCookie, RefuseReason::Cookie, &mut c);
}

#[test]
fn refuses_wrong_role_and_unexpected_messages() {
    // A client hears another client's Hello.
    let (mut c, hello) = fresh_client();
    let (mut other, _) = fresh_client();
    let mut out = Vec::new();
    let err = c.on_bytes(&hello, &mut out).unwrap_err();
    assert!(matches!(err, HandshakeError::Malformed(ref t) if t.contains("role 1")), "{err}");
    assert_eq!(out, refuse_bytes(RefuseReason::WrongRole));
    let reason = RefuseReason::WrongRole;
    assert_eq!(other.on_bytes(&out, &mut Vec::new()), Err(HandshakeError::Refused { reason }));
    // A server hears Accept before any Hello.
    let (mut c, _) = fresh_client();
    let state = "server awaiting the client's Hello";
    let error = HandshakeError::Unexpected { found: 3, state };
    assert_refusal(&mut fresh_server(), b"CMESHHS1\x03", error, RefuseReason::Malformed, &mut c);
}

#[test]
fn refuses_over_long_fields_before_they_arrive() {
    let (mut c, hello) = fresh_client();
    let mut bad = hello[..67].to_vec();
    bad[66] = 65;
    let error = HandshakeError::Malformed("cluster name length 65 over 64".to_owned());
    assert_refusal(&mut fresh_server(), &bad, error, RefuseReason::Malformed, &mut c);
    // A refuse reason this build does not know: malformed, and nothing sent back.
    let mut s = fresh_server();
    let mut out = Vec::new();
    let err = s.on_bytes(b"CMESHHS1\x04\x63", &mut out).unwrap_err();
    assert_eq!(err, HandshakeError::Malformed("peer refused with unknown reason 99".to_owned()));
    assert!(out.is_empty());
}

#[test]
fn local_info_over_the_limits_is_too_long_and_sends_nothing() {
    let mut out = Vec::new();
    let long = LocalInfo { cluster: "x".repeat(65), ..client_info() };
    assert_eq!(Handshake::client(long, COOKIE, CLIENT_NONCE, &mut out).unwrap_err(), HandshakeError::TooLong);
    assert!(out.is_empty());
    let long = LocalInfo { advert: vec![0; 1025], ..server_info() };
    let mut s = Handshake::server(long, COOKIE, SERVER_NONCE);
    let (_, hello) = fresh_client();
    assert_eq!(s.on_bytes(&hello, &mut out), Err(HandshakeError::TooLong));
    assert!(out.is_empty());
}

#[test]
fn debug_output_leaves_the_cookie_out() {
    let text = format!("{:?}", fresh_server());
    assert!(!text.contains("cookie:7f3a"), "{text}");
}

/// Feeds `bytes` in pieces of `chunk`, as a receiver would, until an error or Done.
fn feed_all(hs: &mut Handshake, bytes: &[u8], chunk: usize) {
    let mut inbox = Vec::new();
    let mut out = Vec::new();
    for piece in bytes.chunks(chunk.max(1)) {
        inbox.extend_from_slice(piece);
        match hs.on_bytes(&inbox, &mut out) {
            Ok((used, progress)) => {
                assert!(used <= inbox.len());
                inbox.drain(..used);
                assert!(inbox.len() <= Handshake::MAX_MESSAGE_BYTES || progress != Progress::NeedMore);
                if progress != Progress::NeedMore {
                    return;
                }
            }
            Err(_) => return,
        }
    }
}

/// Random bytes, and random bytes behind a valid magic, type, version and role, so that
/// the property reaches past the first checks.
fn input() -> impl Strategy<Value = Vec<u8>> {
    let raw = proptest::collection::vec(any::<u8>(), 0..1400);
    let rest = proptest::collection::vec(any::<u8>(), 0..1400);
    let framed = (1u8..=5, 1u8..=2, rest).prop_map(|(msg_type, role, rest)| {
        let mut v = HANDSHAKE_MAGIC.to_vec();
        v.push(msg_type);
        v.extend_from_slice(&1u16.to_le_bytes());
        v.push(role);
        v.extend(rest);
        v
    });
    // A valid Hello (client or server, with a type table) with a few bytes overwritten
    // past the frame format fingerprint, so that the table's count and entries are hit.
    let mutated = (any::<bool>(), proptest::collection::vec((34usize..400, any::<u8>()), 1..8)).prop_map(
        |(from_server, edits)| {
            let mut hello = Vec::new();
            if from_server {
                let (_, _, s_hello) = to_server_hello(COOKIE);
                hello = s_hello;
            } else {
                Handshake::client(client_info(), COOKIE, CLIENT_NONCE, &mut hello).unwrap();
            }
            for (at, byte) in edits {
                let at = at % hello.len();
                hello[at] = byte;
            }
            hello
        },
    );
    prop_oneof![raw, framed, mutated]
}

proptest! {
    #[test]
    fn on_bytes_never_panics(bytes in input(), chunk in 1usize..64) {
        feed_all(&mut fresh_server(), &bytes, chunk);
        feed_all(&mut fresh_client().0, &bytes, chunk);
        // A server past the client's Hello, and a client past the server's Hello.
        let (c, s, s_hello) = to_server_hello(COOKIE);
        let mut s = s;
        feed_all(&mut s, &bytes, chunk);
        let mut c = c;
        c.on_bytes(&s_hello, &mut Vec::new()).unwrap();
        feed_all(&mut c, &bytes, chunk);
    }
}
