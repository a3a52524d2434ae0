//! What this node knows about its peers' addresses, shared by its cores.
//!
//! Owns: [`Directory`] (node id → where each of its cores listens), filled from
//! handshakes and the gossip, with the nodes gone from the cluster, and the `advert` bytes a node puts in its handshake to say where
//! its cores listen. Must never: be touched on a per-message path (it takes a
//! mutex; cores consult it only to open a connection).

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::{Mutex, PoisonError};

use crate::ids::NodeId;

/// Where one peer's cores listen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PeerRecord {
    /// The address to dial for each of its cores, in core order.
    pub cores: Vec<SocketAddr>,
}

/// The peers this node knows (from handshakes and from the gossip), and the
/// nodes that are gone from the cluster.
#[derive(Debug, Default)]
pub(crate) struct Directory {
    peers: Mutex<HashMap<NodeId, PeerRecord>>,
    gone: Mutex<std::collections::HashSet<NodeId>>,
}

impl Directory {
    /// Records where `node` listens; a node that was gone is back (it rejoined).
    pub(crate) fn insert(&self, node: NodeId, record: PeerRecord) {
        self.gone.lock().unwrap_or_else(PoisonError::into_inner).remove(&node);
        self.peers.lock().unwrap_or_else(PoisonError::into_inner).insert(node, record);
    }

    /// `node` is gone from the cluster: forget where it listens, so no core
    /// dials it again until it rejoins.
    pub(crate) fn mark_gone(&self, node: NodeId) {
        self.peers.lock().unwrap_or_else(PoisonError::into_inner).remove(&node);
        self.gone.lock().unwrap_or_else(PoisonError::into_inner).insert(node);
    }

    /// Why a send to `node`, which has no address here, fails.
    pub(crate) fn unreachable(&self, node: NodeId) -> crate::error::TellError {
        if self.gone.lock().unwrap_or_else(PoisonError::into_inner).contains(&node) {
            crate::error::TellError::NodeGone { node }
        } else {
            crate::error::TellError::UnknownNode { node }
        }
    }

    pub(crate) fn get(&self, node: NodeId) -> Option<PeerRecord> {
        self.peers.lock().unwrap_or_else(PoisonError::into_inner).get(&node).cloned()
    }
}

/// Why an advert could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("bad advert from peer: {0}")]
pub(crate) struct BadAdvert(&'static str);

/// Advert layout, version 1: `1u8`, family `4u8 | 6u8`, the IP (4 or 16 bytes),
/// `cores: u16`, then one `port: u16` per core (little-endian).
pub(crate) fn encode_advert(ip: IpAddr, ports: &[u16]) -> Vec<u8> {
    let mut out = vec![1u8];
    match ip {
        IpAddr::V4(v4) => {
            out.push(4);
            out.extend_from_slice(&v4.octets());
        }
        IpAddr::V6(v6) => {
            out.push(6);
            out.extend_from_slice(&v6.octets());
        }
    }
    out.extend_from_slice(&(ports.len() as u16).to_le_bytes());
    for p in ports {
        out.extend_from_slice(&p.to_le_bytes());
    }
    out
}

/// Reads an advert. An unspecified IP (the peer listens on all addresses) is
/// replaced by `seen_from`, the address its connection came from.
pub(crate) fn decode_advert(bytes: &[u8], seen_from: IpAddr) -> Result<PeerRecord, BadAdvert> {
    let (&version, rest) = bytes.split_first().ok_or(BadAdvert("empty"))?;
    if version != 1 {
        return Err(BadAdvert("unknown advert version"));
    }
    let (&family, rest) = rest.split_first().ok_or(BadAdvert("no address family"))?;
    let (ip, rest): (IpAddr, &[u8]) = match family {
        4 => {
            let (a, rest) = rest.split_first_chunk::<4>().ok_or(BadAdvert("short IPv4 address"))?;
            (Ipv4Addr::from(*a).into(), rest)
        }
        6 => {
            let (a, rest) = rest.split_first_chunk::<16>().ok_or(BadAdvert("short IPv6 address"))?;
            (Ipv6Addr::from(*a).into(), rest)
        }
        _ => return Err(BadAdvert("unknown address family")),
    };
    let ip = if ip.is_unspecified() { seen_from } else { ip };
    let (n, mut rest) = rest.split_first_chunk::<2>().ok_or(BadAdvert("no core count"))?;
    let n = u16::from_le_bytes(*n);
    if n == 0 {
        return Err(BadAdvert("zero cores"));
    }
    let mut cores = Vec::with_capacity(usize::from(n));
    for _ in 0..n {
        let (p, r) = rest.split_first_chunk::<2>().ok_or(BadAdvert("fewer ports than cores"))?;
        cores.push(SocketAddr::new(ip, u16::from_le_bytes(*p)));
        rest = r;
    }
    if !rest.is_empty() {
        return Err(BadAdvert("trailing bytes"));
    }
    Ok(PeerRecord { cores })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn advert_round_trips_and_refuses_garbage() {
        let ip: IpAddr = "10.0.0.7".parse().unwrap();
        let bytes = encode_advert(ip, &[7000, 7001]);
        let seen: IpAddr = "10.0.0.9".parse().unwrap();
        let rec = decode_advert(&bytes, seen).unwrap();
        let want: Vec<SocketAddr> = vec!["10.0.0.7:7000".parse().unwrap(), "10.0.0.7:7001".parse().unwrap()];
        assert_eq!(rec.cores, want);
        let any = encode_advert("0.0.0.0".parse().unwrap(), &[1]);
        assert_eq!(decode_advert(&any, seen).unwrap().cores, vec![SocketAddr::new(seen, 1)]);
        for n in 0..bytes.len() {
            assert!(decode_advert(&bytes[..n], seen).is_err(), "prefix {n}");
        }
        let mut long = bytes.clone();
        long.push(0);
        assert!(decode_advert(&long, seen).is_err());
    }
}
