//! A node in this process against a hostile or broken peer (`raw_peer`) in the
//! handshake: mismatches are refused and counted, the refusal names the check,
//! and the node keeps serving. Every wait is bounded.

mod raw_peer;

use std::io::Write;
use std::net::TcpStream;
use std::time::{Duration, Instant};

use coremesh::wire::{Handshake, HandshakeError, LocalInfo, RefuseReason, HANDSHAKE_MAGIC};
use coremesh::Config;
use raw_peer::*;

/// Sends a good client Hello after `patch(fx, hello)` (offsets: FORMAT.md, "Hello"),
/// expects the node to refuse it with `reason` and count it, and to keep serving.
fn expect_refused(patch: impl FnOnce(&Fixture, &mut [u8]), reason: RefuseReason) {
    let fx = fixture(|b| b);
    let before = fx.stats().refused_connections;
    let (stream, end) = start(&fx, good_info(&fx), Config::DEFAULT_COOKIE, |h| patch(&fx, h));
    match end {
        HsEnd::Failed(HandshakeError::Refused { reason: r }) => assert_eq!(r, reason),
        other => panic!("expected Refused {{ {reason:?} }}, got {other:?}"),
    }
    refused(fx, before, stream);
}

/// The node closes `stream`, counts a refusal over `before`, and keeps serving.
fn refused(fx: Fixture, before: u64, mut stream: TcpStream) {
    read_to_close(&mut stream);
    fx.wait_count("refused_connections", before, |s| s.refused_connections);
    fx.done(0);
}

fn good_info(fx: &Fixture) -> LocalInfo {
    local_info(fake_node_id(fx.node.id().0))
}

#[test]
fn garbage_instead_of_a_hello_is_refused_and_closed() {
    let fx = fixture(|b| b);
    let before = fx.stats().refused_connections;
    let mut stream = TcpStream::connect_timeout(&fx.node.listen_addr(), T).expect("connect");
    stream.write_all(&[0xAB; 64]).expect("send garbage");
    let got = read_to_close(&mut stream);
    let mut refuse = HANDSHAKE_MAGIC.to_vec();
    refuse.extend_from_slice(&[4, RefuseReason::BadMagic as u8]);
    assert!(got.is_empty() || got == refuse, "the node answered garbage with {got:02x?}");
    refused(fx, before, stream);
}

#[test]
fn another_protocol_version_is_refused() {
    expect_refused(|_, h| h[9..11].copy_from_slice(&2u16.to_le_bytes()), RefuseReason::Version);
}

#[test]
fn another_frame_format_hash_is_refused() {
    // Offset 26: the frame-format fingerprint (FORMAT.md, "Hello").
    expect_refused(|_, h| h[26] ^= 1, RefuseReason::TypeTable);
}

#[test]
fn another_cluster_is_refused() {
    // Our cluster name "coremesh" (8 bytes) is at 67.
    expect_refused(|_, h| h[67..75].copy_from_slice(b"elsewher"), RefuseReason::Cluster);
}

#[test]
fn malformed_hellos_are_refused() {
    type Patch = fn(&Fixture, &mut [u8]);
    let cases: [(Patch, RefuseReason); 4] = [
        (|fx, h| h[12..20].copy_from_slice(&fx.node.id().0.to_le_bytes()), RefuseReason::SelfConnection),
        (|_, h| h[11] = 2, RefuseReason::WrongRole), // role: server
        (|_, h| h[22] = 1, RefuseReason::Malformed), // core 1 of 1 core
        (|_, h| h[75..77].fill(0xFF), RefuseReason::Malformed), // advert_len 65535
    ];
    for (patch, reason) in cases {
        expect_refused(patch, reason);
    }
}

#[test]
fn a_peer_with_another_cookie_fails_and_is_refused() {
    let fx = fixture(|b| b);
    let before = fx.stats().refused_connections;
    let (stream, end) = start(&fx, good_info(&fx), b"not-the-cluster-cookie", |_| {});
    // Our side finds the node's proof wrong, and sends Refuse(Cookie).
    assert!(matches!(end, HsEnd::Failed(HandshakeError::BadCookie)), "{end:?}");
    refused(fx, before, stream);
}

#[test]
fn a_peer_silent_mid_hello_is_dropped_after_the_handshake_timeout() {
    let fx = fixture(|b| b.heartbeat_interval_ms(50).connection_timeout_ms(200).handshake_timeout_ms(200));
    let before = fx.stats().refused_connections;
    let mut hello = Vec::new();
    Handshake::client(good_info(&fx), Config::DEFAULT_COOKIE, nonce(), &mut hello).unwrap();
    let mut stream = TcpStream::connect_timeout(&fx.node.listen_addr(), T).expect("connect");
    stream.write_all(&hello[..20]).expect("send half a Hello");
    let started = Instant::now();
    read_to_close(&mut stream);
    assert!(started.elapsed() < Duration::from_secs(5), "closed after {:?}", started.elapsed());
    refused(fx, before, stream);
}

// ---- Frames the decoder rejects: the node closes the connection -----------------
