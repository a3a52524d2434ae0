//! The metrics endpoint over real sockets: a node with `metrics` on an
//! ephemeral port, tells and asks on the node and to a second node over
//! loopback, scrapes of `GET /metrics` through a plain `TcpStream`, and checks
//! that the values moved by what was sent; garbage requests get an error
//! status and leave the node serving.

mod common;

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use common::*;
use coremesh::{CoreId, Node};

const T: Duration = Duration::from_secs(10);

fn net_node(metrics: bool) -> Node {
    node_with(|b| {
        let b = b.listen("127.0.0.1:0".parse().unwrap());
        if metrics {
            b.metrics("127.0.0.1:0".parse().unwrap())
        } else {
            b
        }
    })
}

/// Sends `request` and returns the whole answer (the server closes after one).
fn http(addr: SocketAddr, request: &[u8]) -> String {
    let mut s = TcpStream::connect_timeout(&addr, T).expect("connect to the metrics endpoint");
    s.set_read_timeout(Some(T)).unwrap();
    s.set_write_timeout(Some(T)).unwrap();
    // A request the server answers early may find the socket closed: that is fine.
    let _ = s.write_all(request);
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

/// The samples of one scrape: (name, labels as written) -> value.
struct Scrape(HashMap<(String, String), f64>);

impl Scrape {
    fn of(addr: SocketAddr) -> Scrape {
        let answer = http(addr, b"GET /metrics HTTP/1.1\r\nHost: test\r\n\r\n");
        let (head, body) = answer.split_once("\r\n\r\n").expect("a head and a body");
        assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
        assert!(head.contains("Content-Type: text/plain; version=0.0.4"), "{head}");
        assert!(head.contains(&format!("Content-Length: {}", body.len())), "{head}");
        let mut samples = HashMap::new();
        for line in body.lines().filter(|l| !l.starts_with('#') && !l.is_empty()) {
            let (series, value) = line.rsplit_once(' ').expect("series and value");
            let (name, labels) = match series.split_once('{') {
                Some((n, l)) => (n, l.trim_end_matches('}')),
                None => (series, ""),
            };
            let value: f64 = value.parse().unwrap_or_else(|_| panic!("a number in {line:?}"));
            let had = samples.insert((name.to_owned(), labels.to_owned()), value);
            assert!(had.is_none(), "{line:?} twice");
        }
        for family in body.lines().filter_map(|l| l.strip_prefix("# TYPE ")) {
            let name = family.split(' ').next().unwrap();
            assert!(body.contains(&format!("# HELP {name} ")), "{name} has no HELP");
        }
        Scrape(samples)
    }

    /// The sum of `name` over the series whose labels contain `with`.
    fn sum(&self, name: &str, with: &str) -> f64 {
        self.0.iter().filter(|((n, l), _)| n == name && l.contains(with)).map(|(_, v)| v).sum()
    }

    fn has(&self, name: &str, with: &str) -> bool {
        self.0.keys().any(|(n, l)| n == name && l.contains(with))
    }
}

#[test]
fn metrics_are_off_unless_configured() {
    let node = net_node(false);
    assert_eq!(node.metrics_addr(), None);
    node.shutdown().unwrap();
}

#[test]
fn a_scrape_shows_what_the_node_sent_received_and_asked() {
    let a = net_node(true);
    let b = net_node(false);
    let addr = a.metrics_addr().expect("metrics on");
    assert_ne!(addr.port(), 0, "the bound port is reported");
    a.connect(b.listen_addr()).wait().unwrap();
    let peer = format!("peer=\"{:016x}\"", b.id().0);
    let local = counter_on(&a, 0, &hooks());
    let remote = counter_on(&b, 0, &hooks());
    let before = Scrape::of(addr);

    // Remote tells from a task on core 0 of `a` (archived into the link), and
    // asks from an outside thread, local and remote.
    const TELLS: u64 = 50;
    const ASKS: u64 = 7;
    on_core(&a, CoreId(0), move || async move {
        for _ in 0..TELLS {
            remote.tell(Add { n: 1 }).expect("room on the link");
        }
    });
    for _ in 0..ASKS {
        a.ask(&local, Add { n: 1 }).timeout(T).wait().unwrap();
        a.ask(&remote, Add { n: 1 }).timeout(T).wait().unwrap();
    }
    assert_eq!(a.ask(&remote, Get).timeout(T).wait().unwrap().0, TELLS + ASKS, "all arrived");
    let asks = 2 * ASKS + 1;
    // A dead letter: a tell to a stopped actor.
    let gone = counter_on(&a, 0, &hooks());
    a.ask(&gone, Stop).timeout(T).wait().unwrap();
    let asks = asks + 1;
    assert!(wait_until(T, || a.tell(&gone, Add { n: 1 }).is_err() || a.stats().total().dead_letters > 0));
    assert!(wait_until(T, || a.stats().total().dead_letters > 0), "{:?}", a.stats().total());

    let after = Scrape::of(addr);
    let moved = |name: &str, with: &str| after.sum(name, with) - before.sum(name, with);
    let remote_out = TELLS + ASKS + 1;
    assert!(moved("coremesh_peer_messages_out_total", &peer) >= remote_out as f64);
    assert!(moved("coremesh_peer_messages_in_total", &peer) >= (ASKS + 1) as f64, "the replies");
    assert!(moved("coremesh_peer_bytes_out_total", &peer) >= (32 * remote_out) as f64);
    assert!(moved("coremesh_peer_bytes_in_total", &peer) >= (32 * (ASKS + 1)) as f64);
    assert!(moved("coremesh_peer_message_out_bytes_count", "") >= remote_out as f64);
    assert!(moved("coremesh_peer_message_in_bytes_count", "") >= (ASKS + 1) as f64);
    assert!(moved("coremesh_archive_seconds_count", "") >= TELLS as f64, "tells archived on core 0");
    assert_eq!(moved("coremesh_ask_rtt_seconds_count", ""), asks as f64, "one round trip per ask");
    assert_eq!(
        moved("coremesh_ask_rtt_seconds_bucket", "le=\"+Inf\""),
        asks as f64,
        "the +Inf bucket is the count"
    );
    assert!(moved("coremesh_ask_rtt_seconds_sum", "") > 0.0);
    assert!(moved("coremesh_dead_letters_total", "") >= 1.0);
    assert!(after.sum("coremesh_actors", "core=\"0\"") >= 2.0, "the system actor and a counter");
    assert_eq!(after.sum("coremesh_asks_in_flight", ""), 0.0, "every ask ended");
    assert!(after.has("coremesh_link_queued_bytes", &peer));
    assert!(after.has("coremesh_mailbox_queued_bytes", "core=\"0\""));
    assert_eq!(after.sum("coremesh_scrape_cores_missing", ""), 0.0);
    a.shutdown().unwrap();
    b.shutdown().unwrap();
}

#[test]
fn garbage_requests_get_an_error_status_and_the_node_keeps_serving() {
    let node = net_node(true);
    let addr = node.metrics_addr().unwrap();
    let status = |req: &[u8]| http(addr, req).lines().next().unwrap_or("").to_owned();
    assert_eq!(status(b"GET /nope HTTP/1.1\r\n\r\n"), "HTTP/1.1 404 Not Found");
    assert_eq!(status(b"POST /metrics HTTP/1.1\r\n\r\n"), "HTTP/1.1 405 Method Not Allowed");
    assert_eq!(status(b"\x00\xff\xfe garbage\r\n\r\n"), "HTTP/1.1 400 Bad Request");
    assert_eq!(status(b"GET /metrics SPDY/9\r\n\r\n"), "HTTP/1.1 400 Bad Request");
    let huge = vec![b'A'; 64 * 1024];
    assert_eq!(status(&huge), "HTTP/1.1 431 Request Header Fields Too Large");
    // A client that sends half a request and waits gets 408 at the deadline.
    assert_eq!(status(b"GET /metr"), "HTTP/1.1 408 Request Timeout");
    // A client that connects and leaves.
    drop(TcpStream::connect_timeout(&addr, T).unwrap());
    let r = counter_on(&node, 0, &hooks());
    assert_eq!(node.ask(&r, Add { n: 3 }).timeout(T).wait(), Ok(3));
    let scrape = Scrape::of(addr);
    assert_eq!(scrape.sum("coremesh_ask_rtt_seconds_count", ""), 1.0);
    node.shutdown().unwrap();
}
