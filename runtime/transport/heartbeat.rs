//! Connection heartbeats: each core's heartbeat task and its verdict on
//! silent peers.
//!
//! Owns: [`heartbeat_loop`]. Every heartbeat interval a core sends a one-way
//! Tick frame (coremesh-wire's `tick_frame`: kind Tick, the target core, this
//! node's id in `corr`) to the peer core at the other end of each connection
//! it reads (CAF's and Erlang's scheme, not a request and reply): a tick
//! travels in the direction opposite to any backlog this core reads, so a
//! peer flooding this core still hears from it at once, where a ping would
//! wait behind the flood. Anything read from the peer counts as a sign of
//! life, and so does a tick another core of this node forwarded (the reader
//! takes ticks itself: `conn.rs`). A peer whose link stayed silent past the
//! connection timeout is unresponsive: the link goes down at once, failing
//! this core's asks to it, and the host reports it, so the cluster can
//! declare the node down.
//!
//! Must never: block the core, tick a link that is not up (a dial has its own
//! timeout), or wait for room to send a tick (a full link skips it: the peer
//! is then reading this core's frames, or is silent itself).

use std::rc::Rc;
use std::time::Duration;

use super::host::{Host, PeerReport};
use super::link::Link;

/// Checks this core's links every tenth of the connection timeout (at most
/// every heartbeat interval), and ticks every interval, until the node stops.
pub(crate) async fn heartbeat_loop<H: Host>(host: Rc<H>) {
    let cfg = host.config();
    let interval = Duration::from_millis(cfg.heartbeat_interval_ms());
    let timeout = Duration::from_millis(cfg.connection_timeout_ms());
    let check = (timeout / 10).min(interval).max(Duration::from_millis(5));
    let mut last_tick = crate::clock::now();
    while !host.stopping() {
        glommio::timer::sleep(check).await;
        let now = crate::clock::now();
        let tick = now.saturating_duration_since(last_tick) >= interval;
        if tick {
            last_tick = now;
        }
        for link in host.transport().up_links() {
            if now.saturating_duration_since(link.last_alive()) > timeout {
                tracing::warn!(core = %host.core_id(), peer = %link.peer, ?timeout, "nothing from the peer within the connection timeout");
                super::link_down(&*host, &link);
                host.report(PeerReport::Unresponsive(link.peer));
            } else if tick {
                send_ticks(&*host, &link);
            }
        }
    }
}

/// One tick to each peer core this core reads from over `link`.
fn send_ticks<H: Host>(host: &H, link: &Link) {
    let me = host.node_id().0;
    // Appending to the link's buffer never touches its readers.
    link.each_reader_core(|peer_core| {
        if link.has_room() {
            link.out().extend_from_slice(&coremesh_wire::tick_frame(peer_core, me));
        } else {
            host.stats().heartbeats_skipped.add(1);
        }
    });
    link.wake_writer();
}
