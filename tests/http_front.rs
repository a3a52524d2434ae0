//! The HTTP front of `examples/http_front.rs`, its very code (the module the
//! example includes), over real sockets: requests forwarded to actors on the
//! node's cores with `ask`, the counts they answer, and error statuses.

#[path = "../examples/support/http_front.rs"]
mod http_front;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use coremesh::{Config, Node};

const T: Duration = Duration::from_secs(10);

fn get(addr: SocketAddr, request: &str) -> (String, String) {
    let mut s = TcpStream::connect_timeout(&addr, T).expect("connect to the front");
    s.set_read_timeout(Some(T)).unwrap();
    s.write_all(request.as_bytes()).unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).expect("a whole answer before the deadline");
    let (head, body) = out.split_once("\r\n\r\n").expect("head and body");
    (head.lines().next().unwrap_or("").to_owned(), body.to_owned())
}

#[test]
fn requests_reach_the_counter_of_their_key_and_come_back() {
    let node = Node::start(Config::builder().env_source(|_| None).dev_mode(true).build().unwrap()).unwrap();
    let front = http_front::Front::start(node.handle(), "127.0.0.1:0".parse().unwrap()).unwrap();
    let req = |path: &str| get(front.addr, &format!("GET {path} HTTP/1.1\r\nHost: t\r\n\r\n"));
    assert_eq!(req("/counter/apples"), ("HTTP/1.1 200 OK".into(), "1\n".into()));
    assert_eq!(req("/counter/apples"), ("HTTP/1.1 200 OK".into(), "2\n".into()));
    assert_eq!(req("/counter/pears"), ("HTTP/1.1 200 OK".into(), "1\n".into()));
    assert_eq!(req("/counter/apples").1, "3\n");
    assert_eq!(req("/nope").0, "HTTP/1.1 404 Not Found");
    assert_eq!(req("/counter/no%20spaces").0, "HTTP/1.1 400 Bad Request");
    assert_eq!(get(front.addr, "garbage\r\n\r\n").0, "HTTP/1.1 400 Bad Request");
    assert_eq!(get(front.addr, "POST /counter/x HTTP/1.1\r\n\r\n").0, "HTTP/1.1 405 Method Not Allowed");
    // Each request was one ask to the actor of its key's core.
    assert_eq!(node.stats().total().delivered, 4, "{:?}", node.stats().total());
    front.stop();
    node.shutdown().unwrap();
}
