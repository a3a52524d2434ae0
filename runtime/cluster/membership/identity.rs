//! Who a member is in the gossip: [`GossipId`], foca's identity type.
//!
//! Owns: the metadata every member carries in SWIM messages (node id, the
//! address its core 0 listens on, which is also its gossip address, the port
//! of each worker core, when it started, and its rejoin count), and the rules
//! foca asks of an identity: a node declared down rejoins under the same node
//! id with a higher `bump`; a node restarted at the same address (a new node
//! id, a later start) replaces the old one. Must never: decide membership
//! itself (foca does), or carry anything secret.

use std::net::SocketAddr;

use serde::{Deserialize, Serialize};

use crate::ids::NodeId;

/// One member as the gossip knows it.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub(crate) struct GossipId {
    /// The node id its actor refs carry.
    pub node: u64,
    /// Core 0's listen address; the UDP gossip socket has the same address.
    pub addr: SocketAddr,
    /// The TCP port of each worker core, in core order (the first is `addr`'s).
    pub ports: Vec<u16>,
    /// Unix time in ns when the node started: a restarted node wins its old
    /// address over the identity it had before.
    pub started_ns: u64,
    /// How many times this node rejoined after being declared down.
    pub bump: u32,
}

impl GossipId {
    /// A stand-in for a seed whose identity is not known yet: foca only needs
    /// the address to announce to it.
    pub(crate) fn seed(addr: SocketAddr) -> Self {
        GossipId { node: 0, addr, ports: Vec::new(), started_ns: 0, bump: 0 }
    }

    pub(crate) fn node_id(&self) -> NodeId {
        NodeId(self.node)
    }

    /// The address to dial for each worker core.
    pub(crate) fn core_addrs(&self) -> Vec<SocketAddr> {
        self.ports.iter().map(|p| SocketAddr::new(self.addr.ip(), *p)).collect()
    }
}

impl foca::Identity for GossipId {
    type Addr = SocketAddr;

    /// Declared down (a pause longer than the timeout, a partition): come back
    /// as the same node, one rejoin later. Peers see it up again; what they
    /// sent meanwhile was failed or dropped, never resent.
    fn renew(&self) -> Option<Self> {
        Some(GossipId { bump: self.bump.wrapping_add(1), ..self.clone() })
    }

    fn addr(&self) -> SocketAddr {
        self.addr
    }

    fn win_addr_conflict(&self, adversary: &Self) -> bool {
        (self.started_ns, self.bump, self.node) > (adversary.started_ns, adversary.bump, adversary.node)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use foca::Identity;

    fn id(node: u64, started_ns: u64, bump: u32) -> GossipId {
        GossipId { node, addr: "127.0.0.1:7000".parse().unwrap(), ports: vec![7000, 7001], started_ns, bump }
    }

    #[test]
    fn a_rejoin_keeps_the_node_and_wins_over_the_old_identity() {
        let old = id(5, 100, 0);
        let new = old.renew().unwrap();
        assert_eq!((new.node, new.bump), (5, 1));
        assert!(new.win_addr_conflict(&old) && !old.win_addr_conflict(&new));
    }

    #[test]
    fn a_restart_at_the_same_address_wins_with_its_new_node_id() {
        let before = id(5, 100, 3);
        let restarted = id(9, 200, 0);
        assert!(restarted.win_addr_conflict(&before) && !before.win_addr_conflict(&restarted));
        assert_eq!(restarted.core_addrs()[1], "127.0.0.1:7001".parse::<SocketAddr>().unwrap());
    }
}
