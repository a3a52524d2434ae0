//! Connection heartbeats: each core's heartbeat task, and the tick frames it
//! queues.
//!
//! Owns: [`heartbeat_loop`], the timer that runs the rules' periodic check
//! (`rules.rs`, `Conns::on_timer`), and [`send_tick`], which carries out their
//! `tick` effect. The scheme: every heartbeat interval a core sends a one-way
//! Tick frame (coremesh-wire's `tick_frame`: kind Tick, the target core, this
//! node's id in `corr`) to the peer core at the other end of each connection
//! it reads (CAF's and Erlang's scheme, not a request and reply): a tick
//! travels in the direction opposite to any backlog this core reads, so a
//! peer flooding this core still hears from it at once, where a ping would
//! wait behind the flood. Anything read from the peer counts as a sign of
//! life, and so does a tick another core of this node forwarded (the reader
//! takes ticks itself: `conn.rs`). A peer whose link stayed silent past the
//! connection timeout is unresponsive: the rules take the link down at once,
//! failing this core's asks to it, and report it, so the cluster can declare
//! the node down.
//!
//! Must never: block the core, decide which link is silent or due a tick (the
//! rules do), or wait for room to send a tick (a full link skips it: the peer
//! is then reading this core's frames, or is silent itself).

use std::rc::Rc;

use super::host::Host;
use crate::ids::NodeId;

/// Runs the rules' periodic check every `Timing::check_period` until the
/// node stops.
pub(crate) async fn heartbeat_loop<H: Host>(host: Rc<H>) {
    let check = super::rules(&*host).timing().check_period();
    while !host.stopping() {
        glommio::timer::sleep(check).await;
        let mut fx = Vec::new();
        super::rules(&*host).on_timer(crate::clock::now(), &mut fx);
        super::carry_out(&host, fx);
    }
}

/// Queues one tick to `node`'s core `peer_core` on this core's link to it,
/// unless the link is full (then it is skipped and counted).
pub(crate) fn send_tick<H: Host>(host: &H, node: NodeId, peer_core: u16) {
    let Some(link) = host.transport().get(node) else { return };
    if link.has_room() {
        link.out().extend_from_slice(&coremesh_wire::tick_frame(peer_core, host.node_id().0));
        link.wake_writer();
    } else {
        host.stats().heartbeats_skipped.add(1);
    }
}
