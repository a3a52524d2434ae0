//! coremesh inside a service: an HTTP front on ordinary threads forwards each
//! request to actors on pinned cores with `ask`.
//!
//! ```text
//! COREMESH_METRICS=127.0.0.1:9100 cargo run --release --example http_front
//! curl http://127.0.0.1:8080/counter/apples     # 1, then 2, …
//! curl http://127.0.0.1:9100/metrics             # the node's own endpoint
//! ```
//!
//! `GET /counter/<key>` adds one to the key's count, kept by a counter actor
//! on the core the key hashes to, and answers the new count. The front
//! (examples/support/http_front.rs, shared with tests/http_front.rs) is plain
//! std: a thread accepts, a thread per connection blocks on the ask; the cores
//! never block. `HTTP_FRONT_ADDR` moves the front (default 127.0.0.1:8080).
//! Ctrl-C stops both.

#[path = "support/http_front.rs"]
mod http_front;

use coremesh::{Config, Node};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    coremesh::logs::init_from_env()?;
    // One node that joins no cluster: development mode, so no cookie is
    // needed (a cluster's nodes share a cookie of 16 or more random bytes).
    let node = Node::start(Config::builder().dev_mode(true).build()?)?;
    let addr = std::env::var("HTTP_FRONT_ADDR").unwrap_or_else(|_| "127.0.0.1:8080".into()).parse()?;
    let front = http_front::Front::start(node.handle(), addr)?;
    println!("node {} on {} cores; HTTP front on {}", node.id(), node.cores(), front.addr);
    println!("  curl http://{}/counter/apples", front.addr);
    match node.metrics_addr() {
        Some(m) => println!("  curl http://{m}/metrics"),
        None => println!("  (set COREMESH_METRICS=127.0.0.1:9100 for the node's metrics endpoint)"),
    }
    node.run_until_signal()?;
    front.stop();
    Ok(())
}
