//! The gossip packet envelope: [`Envelope`].
//!
//! Owns: the layout of every UDP packet between control threads — a 16-byte
//! HMAC-SHA256 tag, one kind byte ([`Kind`]), the [`Stamp`] (the sender's
//! node id and the packet's number, 8 bytes each), then the body — and its
//! check. The tag covers the cluster name, the kind, the stamp and the body,
//! keyed with the cookie, so a packet from another cluster or with another
//! cookie is dropped unread, the cookie never crosses the wire, and the stamp
//! cannot be changed: a replayed packet is recognised (`replay.rs`).
//!
//! Must never: hand out the body of a packet whose tag does not verify, or
//! read a clock, a socket or anything else outside its arguments.

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// How many bytes of the HMAC-SHA256 tag a packet carries.
pub(crate) const TAG_BYTES: usize = 16;
/// How many bytes the stamp takes after the kind.
pub(crate) const STAMP_BYTES: usize = 16;

/// Who sealed a packet, and its number among the packets that node sealed
/// (one more per packet, from 1): what makes every packet unique.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Stamp {
    /// The sender's node id.
    pub sender: u64,
    /// The packet's number.
    pub seq: u64,
}

/// What a gossip packet carries, in the byte after the tag.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// A foca (SWIM) message.
    Foca = 0,
    /// "I leave the cluster": the sender's node id.
    Leave = 1,
    /// "I heard your Leave": the acknowledging node's id.
    LeaveAck = 2,
    /// "Are you alive?" after a connection to the receiver closed.
    Probe = 3,
    /// "I am": the probed node's id.
    ProbeAck = 4,
}

impl Kind {
    fn from_byte(b: u8) -> Option<Kind> {
        Some(match b {
            0 => Kind::Foca,
            1 => Kind::Leave,
            2 => Kind::LeaveAck,
            3 => Kind::Probe,
            4 => Kind::ProbeAck,
            _ => return None,
        })
    }
}

/// Why a packet was dropped unread.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refused {
    /// Shorter than a tag, a kind and a stamp.
    Short,
    /// The tag does not verify: another cluster, another cookie, or damage.
    BadTag,
    /// The tag verifies but the kind is unknown (a newer build).
    UnknownKind(u8),
}

/// Seals and opens gossip packets for one cluster and cookie.
#[derive(Clone)]
pub(crate) struct Envelope {
    key: Hmac<Sha256>,
    cluster: Vec<u8>,
}

impl Envelope {
    /// An envelope keyed with `cookie` for the cluster named `cluster`.
    pub(crate) fn new(cookie: &[u8], cluster: &str) -> Result<Envelope, String> {
        let key = Hmac::<Sha256>::new_from_slice(cookie).map_err(|e| e.to_string())?;
        Ok(Envelope { key, cluster: cluster.as_bytes().to_vec() })
    }

    /// The MAC over the cluster name and `signed` (kind, stamp and body).
    fn mac(&self, signed: &[u8]) -> Hmac<Sha256> {
        let mut mac = self.key.clone();
        mac.update(&self.cluster);
        mac.update(signed);
        mac
    }

    /// The packet carrying `body` as `kind`, stamped `stamp`.
    pub(crate) fn seal(&self, kind: Kind, stamp: Stamp, body: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(TAG_BYTES + 1 + STAMP_BYTES + body.len());
        out.resize(TAG_BYTES, 0);
        out.push(kind as u8);
        out.extend_from_slice(&stamp.sender.to_le_bytes());
        out.extend_from_slice(&stamp.seq.to_le_bytes());
        out.extend_from_slice(body);
        let tag = self.mac(&out[TAG_BYTES..]).finalize().into_bytes();
        out[..TAG_BYTES].copy_from_slice(&tag[..TAG_BYTES]);
        out
    }

    /// The kind, stamp and body of `packet`, if its tag verifies.
    pub(crate) fn open<'p>(&self, packet: &'p [u8]) -> Result<(Kind, Stamp, &'p [u8]), Refused> {
        let (tag, signed) = packet.split_at_checked(TAG_BYTES).ok_or(Refused::Short)?;
        let (head, body) = signed.split_at_checked(1 + STAMP_BYTES).ok_or(Refused::Short)?;
        self.mac(signed).verify_truncated_left(tag).map_err(|_| Refused::BadTag)?;
        let word = |at: usize| u64::from_le_bytes(head[at..at + 8].try_into().unwrap_or([0; 8]));
        let stamp = Stamp { sender: word(1), seq: word(9) };
        Ok((Kind::from_byte(head[0]).ok_or(Refused::UnknownKind(head[0]))?, stamp, body))
    }
}
