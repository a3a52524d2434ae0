//! The gossip packet envelope: [`Envelope`].
//!
//! Owns: the layout of every UDP packet between control threads — a 16-byte
//! HMAC-SHA256 tag, one kind byte ([`Kind`]), then the body — and its check.
//! The tag covers the cluster name, the kind and the body, keyed with the
//! cookie, so a packet from another cluster or with another cookie is dropped
//! unread, and the cookie never crosses the wire.
//!
//! Must never: hand out the body of a packet whose tag does not verify, or
//! read a clock, a socket or anything else outside its arguments.

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// How many bytes of the HMAC-SHA256 tag a packet carries.
pub(crate) const TAG_BYTES: usize = 16;

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
    /// Shorter than a tag and a kind.
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

    fn mac(&self, kind: u8, body: &[u8]) -> Hmac<Sha256> {
        let mut mac = self.key.clone();
        mac.update(&self.cluster);
        mac.update(&[kind]);
        mac.update(body);
        mac
    }

    /// The packet carrying `body` as `kind`.
    pub(crate) fn seal(&self, kind: Kind, body: &[u8]) -> Vec<u8> {
        let tag = self.mac(kind as u8, body).finalize().into_bytes();
        let mut out = Vec::with_capacity(TAG_BYTES + 1 + body.len());
        out.extend_from_slice(&tag[..TAG_BYTES]);
        out.push(kind as u8);
        out.extend_from_slice(body);
        out
    }

    /// The kind and body of `packet`, if its tag verifies.
    pub(crate) fn open<'p>(&self, packet: &'p [u8]) -> Result<(Kind, &'p [u8]), Refused> {
        let (tag, rest) = packet.split_at_checked(TAG_BYTES).ok_or(Refused::Short)?;
        let (&kind, body) = rest.split_first().ok_or(Refused::Short)?;
        self.mac(kind, body).verify_truncated_left(tag).map_err(|_| Refused::BadTag)?;
        Ok((Kind::from_byte(kind).ok_or(Refused::UnknownKind(kind))?, body))
    }
}
