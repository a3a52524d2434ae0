//! The side-by-side workloads end to end, each for a few milliseconds: ractor
//! through a real `coremesh-bench ractor-peer` child, ractor and coremesh on
//! one thread or core, and the command line's refusals. They check that
//! figures come back and every message was counted, never how fast anything is.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use coremesh_bench::local::MeshLocal;
use coremesh_bench::measure::Stop;
use coremesh_bench::process::{self, PeerKind};
use coremesh_bench::ractor_load::{RactorClient, RactorLocal};

const SHORT: Duration = Duration::from_millis(30);
const EXE: &str = env!("CARGO_BIN_EXE_coremesh-bench");
const LOOPBACK: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

#[test]
fn ractor_remote_figures_come_back_from_a_peer_process() {
    let peer = process::spawn(Path::new(EXE), PeerKind::Ractor, SocketAddr::new(LOOPBACK, 0), None, &[])
        .expect("ractor-peer starts");
    let client =
        RactorClient::connect(peer.addr(), None, LOOPBACK).expect("client connects and finds the sink");
    let rtt = client.ask_rtt(SHORT).expect("ask round trips");
    assert!(rtt.count > 0 && rtt.p50 <= rtt.p99, "{rtt:?}");
    // tells() itself fails unless the sink counted every message.
    let u64s = client.tell_u64(SHORT).expect("one-u64 tells");
    assert_eq!(u64s.bytes, u64s.records * 8);
    let kilos = client.tell_1k(SHORT).expect("1 KiB tells");
    assert_eq!(kilos.bytes, kilos.records * 1024);
    drop(client);
    let status = peer.finish(Duration::from_secs(10)).expect("peer exits when its stdin closes");
    assert!(status.success(), "{status}");
}

#[test]
fn same_core_tells_count_exactly_on_both() {
    let ractor = RactorLocal::start(None).expect("ractor sink");
    assert_eq!(ractor.tells(Stop::Count(1000)).expect("ractor tells").records, 1000);
    assert!(ractor.tells(Stop::After(SHORT)).expect("ractor tells").records > 0);
    let cpu = coremesh_bench::raw::allowed_cpus().expect("cpus")[0];
    let node = MeshLocal::start(&[cpu]).expect("coremesh node");
    let sink = node.sink(0).expect("sink on core 0");
    assert_eq!(node.tells(sink, Stop::Count(1000)).expect("coremesh tells").records, 1000);
    assert!(node.asks(sink, 10).is_ok());
    node.shutdown().expect("shutdown");
}

#[test]
fn bad_arguments_exit_2_naming_the_argument() {
    for (args, named) in [
        (&["peers", "--listen", "127.0.0.1:0"][..], "--listen"),
        (&["report", "--secs", "soon"][..], "--secs"),
        (&["ractor-peer", "--listen", "nowhere"][..], "--listen"),
        (&["ractor-peer", "--listen", "127.0.0.1:0", "--cpu", "99999"][..], "--cpu"),
        (&["report", "--bogus"][..], "--bogus"),
    ] {
        let out = Command::new(EXE).args(args).output().expect("run coremesh-bench");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(named), "{args:?}: {stderr}");
    }
}
