//! Tests for the raw baselines: every client mode against an in-process
//! `peer::serve`, for a few milliseconds each. They check that figures come
//! back and bytes add up, never how fast anything is.

use std::net::TcpListener;
use std::time::Duration;

use super::*;

fn in_process_peer() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("local addr");
    std::thread::spawn(move || crate::peer::serve(&listener));
    addr
}

const SHORT: Duration = Duration::from_millis(30);

#[test]
fn blocking_pingpong_returns_samples() {
    let l = blocking_pingpong(in_process_peer(), SHORT).expect("blocking ping-pong");
    assert!(l.count > 0 && l.p50 <= l.p99, "{l:?}");
}

#[test]
fn busy_pingpong_returns_samples() {
    let l = busy_pingpong(in_process_peer(), SHORT).expect("busy ping-pong");
    assert!(l.count > 0 && l.p50 <= l.p99, "{l:?}");
}

#[test]
fn stream_counts_every_byte() {
    let addr = in_process_peer();
    for (record, write) in [(16, STREAM_WRITE_BYTES), (1024, STREAM_WRITE_BYTES), (3000, 1000)] {
        let t = stream(addr, record, write, SHORT).expect("stream");
        let per_write = (write / record).max(1) as u64;
        assert_eq!(t.bytes, t.records * record as u64);
        assert_eq!(t.records % per_write, 0);
        assert!(t.records_per_s > 0.0);
    }
}

#[test]
fn stream_rejects_empty_records() {
    let err = stream(in_process_peer(), 0, 64, SHORT).expect_err("zero-byte records");
    assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
}

#[test]
fn percentiles_use_nearest_rank() {
    let mut s: Vec<u64> = (1..=100).rev().collect();
    let l = Latencies::from_samples(&mut s).expect("samples");
    assert_eq!((l.p50, l.p99, l.count), (Duration::from_nanos(50), Duration::from_nanos(99), 100));
    assert!(Latencies::from_samples(&mut []).is_none());
}

#[test]
fn unknown_mode_byte_is_refused() {
    let addr = in_process_peer();
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(IO_TIMEOUT)).expect("timeout");
    s.write_all(b"X").expect("write");
    let mut buf = [0u8; 1];
    // The peer drops the connection: EOF (or a reset), never an echo.
    assert!(matches!(s.read(&mut buf), Ok(0) | Err(_)));
    // And keeps serving.
    blocking_pingpong(addr, SHORT).expect("peer still serves");
}
