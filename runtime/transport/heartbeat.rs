//! Connection heartbeats and what a core does when a peer is gone.
//!
//! Owns: each core's heartbeat task and the verdict on silent peers. Every
//! heartbeat interval a core sends a one-way `Tick` to the peer core at the
//! other end of each connection it reads (CAF's and Erlang's scheme, not a
//! request and reply): a tick travels in the direction opposite to any backlog
//! this core reads, so a peer flooding this core still hears from it at once,
//! where a ping would wait behind the flood. Anything read from the peer counts
//! as a sign of life, and so does a tick another core of this node forwarded.
//! A peer whose link stayed silent past the connection timeout is
//! unresponsive: the link goes down at once, failing this core's asks to it,
//! and the control thread hears of it ([`PeerReport`]) and declares the node
//! down. Also [`CoreRt::node_gone`], run on every core when the cluster
//! declares a node down or left, and [`CoreRt::heard_from`], the tick's effect.
//!
//! Must never: block the core, tick a link that is not up (a dial has its own
//! timeout), or wait for room to send a tick (a full link skips it: the peer
//! is then reading this core's frames, or is silent itself).

use std::rc::Rc;
use std::time::Duration;

use crate::core::CoreRt;
use crate::error::AskError;
use crate::ids::{CoreId, NodeId};

use super::link::{Link, LinkState};

/// What a worker core tells the control thread about a peer node. Transport's
/// own word: membership consumes it, transport never names membership types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PeerReport {
    /// Nothing arrived from the node within the connection timeout.
    Unresponsive(NodeId),
    /// A connection to the node closed without the node leaving.
    Closed(NodeId),
}

impl CoreRt {
    /// Checks this core's links every tenth of the connection timeout (at most
    /// every heartbeat interval), and ticks every interval, until the node stops.
    pub(crate) async fn heartbeat_loop(self: Rc<Self>) {
        let cfg = &self.shared().config;
        let interval = Duration::from_millis(cfg.heartbeat_interval_ms());
        let timeout = Duration::from_millis(cfg.connection_timeout_ms());
        let check = (timeout / 10).min(interval).max(Duration::from_millis(5));
        let mut last_tick = crate::clock::now();
        while !self.shared().stopping.is_set() {
            glommio::timer::sleep(check).await;
            let now = crate::clock::now();
            let tick = now.saturating_duration_since(last_tick) >= interval;
            if tick {
                last_tick = now;
            }
            for link in self.transport.up_links() {
                if now.saturating_duration_since(link.last_alive()) > timeout {
                    tracing::warn!(core = %self.core_id(), peer = %link.peer, ?timeout, "nothing from the peer within the connection timeout");
                    self.link_down(&link);
                    self.shared().membership.report(PeerReport::Unresponsive(link.peer));
                } else if tick {
                    self.send_ticks(&link);
                }
            }
        }
    }

    /// One tick to each peer core this core reads from over `link`.
    fn send_ticks(&self, link: &Link) {
        let tick = crate::cluster::system::Tick { node: self.node_id().0 };
        // A tell queues bytes on the link; it never touches its readers.
        link.each_reader_core(|peer_core| {
            let to = crate::cluster::system::system_actor(link.peer, CoreId(peer_core));
            if to.tell_ref(&tick).is_err() {
                self.stats().heartbeats_skipped.add(1);
            }
        });
    }

    /// A tick from `node` reached this core (possibly forwarded by another
    /// core of this node): its link here is alive.
    pub(crate) fn heard_from(&self, node: NodeId) {
        if let Some(link) = self.transport.get_link(node) {
            link.touch(crate::clock::now());
        }
    }

    /// The cluster declared `node` down, or it left: drop this core's link to
    /// it (closing its connections), fail every ask in flight to it, and tell
    /// the monitors.
    pub(crate) fn node_gone(self: &Rc<Self>, node: NodeId) {
        let link = self.transport.get_link(node);
        if let Some(link) = link {
            self.link_down(&link);
        }
        self.pending.borrow_mut().fail_node(node, &AskError::ConnectionLost { node });
        self.monitors_node_down(node);
    }
}

impl super::Transport {
    /// The links whose connection is up.
    pub(crate) fn up_links(&self) -> Vec<Rc<super::link::Link>> {
        self.links.borrow().values().filter(|l| l.state() == LinkState::Up).cloned().collect()
    }
}
