//! Connection heartbeats and what a core does when a peer is gone.
//!
//! Owns: each core's heartbeat task (every heartbeat interval it asks the
//! system actor at the other end of each of its links for a `Ping` reply;
//! anything read from the peer counts as a sign of life too, so a busy link
//! sends no extra bytes' worth of waiting), the verdict that a peer whose link
//! stayed silent past the connection timeout is unresponsive (the link goes
//! down at once, failing this core's asks to it, and the control thread hears
//! of it and declares the node down), and [`CoreRt::node_gone`], run on every
//! core when the cluster declares a node down or left.
//!
//! Must never: block the core, or ping a link that is not up (a dial has its
//! own timeout).

use std::rc::Rc;
use std::time::Duration;

use crate::core::CoreRt;
use crate::error::AskError;
use crate::ids::{CoreId, NodeId};
use crate::membership::ControlEvent;

use super::link::LinkState;

impl CoreRt {
    /// Checks this core's links every tenth of the connection timeout (at most
    /// every heartbeat interval) until the node stops.
    pub(crate) async fn heartbeat_loop(self: Rc<Self>) {
        let cfg = &self.shared().config;
        let interval = Duration::from_millis(cfg.heartbeat_interval_ms());
        let timeout = Duration::from_millis(cfg.connection_timeout_ms());
        let tick = (timeout / 10).min(interval).max(Duration::from_millis(5));
        while !self.shared().stopping.is_set() {
            glommio::timer::sleep(tick).await;
            let now = crate::clock::now();
            for link in self.transport.up_links() {
                if now.saturating_duration_since(link.last_alive()) > timeout {
                    tracing::warn!(core = %self.core_id(), peer = %link.peer, ?timeout, "nothing from the peer within the connection timeout");
                    self.link_down(&link);
                    self.shared().membership.report(ControlEvent::Unresponsive(link.peer));
                } else if now.saturating_duration_since(link.last_ping()) >= interval {
                    link.set_last_ping(now);
                    let peer_core = CoreId(link.writer_core().unwrap_or(0));
                    let to = crate::system::system_actor(link.peer, peer_core);
                    let l = link.clone();
                    glommio::spawn_local(async move {
                        if to.ask(crate::system::Ping).timeout(timeout).await.is_ok() {
                            l.touch(crate::clock::now());
                        }
                    })
                    .detach();
                }
            }
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
