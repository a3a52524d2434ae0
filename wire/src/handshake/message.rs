//! The byte layout of the four handshake messages (Hello, Proof, Accept, Refuse): the
//! writers, the incremental readers that check each field as soon as it has arrived,
//! and the HMAC-SHA256 proof over the cookie (`wire/FORMAT.md`, section "Handshake").
//!
//! Owns offsets, lengths and the proof formula; the order of messages and what each
//! side answers belong to the state machine in `handshake.rs`. This module must never
//! read past the bytes it is given, panic on any input, put the cookie in a message,
//! or compare proofs in variable time.

use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::{HandshakeError, RefuseReason, HANDSHAKE_MAGIC, MAX_ADVERT, MAX_CLUSTER_NAME, PROTOCOL_VERSION};
use crate::schema::{FORMAT_HASH, MAX_TYPE_TABLE_ENTRIES, TYPE_ENTRY_BYTES};

pub(super) const TYPE_HELLO: u8 = 1;
pub(super) const TYPE_PROOF: u8 = 2;
pub(super) const TYPE_ACCEPT: u8 = 3;
pub(super) const TYPE_REFUSE: u8 = 4;
pub(super) const ROLE_CLIENT: u8 = 1;
pub(super) const ROLE_SERVER: u8 = 2;
pub(super) const PROOF_BYTES: usize = 32;
pub(super) const NONCE_BYTES: usize = 32;
/// The domain separator at the start of every proof's MAC input.
pub(super) const PROOF_DOMAIN: &[u8] = b"coremesh-handshake-v1";

/// magic(8) + type(1).
pub(super) const PREAMBLE_BYTES: usize = 9;
/// Offset of `cluster_len` in a Hello: 9 + version 2 + role 1 + node_id 8 + cores 2
/// + core 2 + target_core 2 + format_hash 8 + nonce 32 = 66.
pub(super) const HELLO_CLUSTER_LEN_AT: usize = 66;
/// Longest Hello, derived:
///   66 (fixed fields) + 1 (cluster_len) + 64 (cluster)
///   + 2 (advert_len) + 1024 (advert)
///   + 2 (type_count) + 4096 × 16 (types) = 65,536
///   + 1 (proof_len) + 32 (proof) = 66,728 bytes.
pub(super) const HELLO_MAX_BYTES: usize = HELLO_CLUSTER_LEN_AT
    + 1
    + MAX_CLUSTER_NAME
    + 2
    + MAX_ADVERT
    + 2
    + MAX_TYPE_TABLE_ENTRIES * TYPE_ENTRY_BYTES
    + 1
    + PROOF_BYTES;
pub(super) const PROOF_MSG_BYTES: usize = PREAMBLE_BYTES + PROOF_BYTES;
pub(super) const ACCEPT_MSG_BYTES: usize = PREAMBLE_BYTES;
pub(super) const REFUSE_MSG_BYTES: usize = PREAMBLE_BYTES + 1;

const _: () = assert!(HELLO_CLUSTER_LEN_AT == 66);
const _: () = assert!(HELLO_MAX_BYTES == 66_728);
const _: () = assert!(PROOF_MSG_BYTES == 41 && ACCEPT_MSG_BYTES == 9 && REFUSE_MSG_BYTES == 10);
// The length prefixes are u8 (cluster) and u16 (advert, type_count): the limits must fit.
const _: () = assert!(MAX_CLUSTER_NAME <= u8::MAX as usize && MAX_ADVERT <= u16::MAX as usize);
const _: () = assert!(MAX_TYPE_TABLE_ENTRIES <= u16::MAX as usize);

/// Which side a handshake machine plays.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Role {
    Client,
    Server,
}

/// A failure found while reading the peer's bytes: the reason to send (if any) and
/// the error to return.
pub(super) struct Fail {
    pub(super) refuse: Option<RefuseReason>,
    pub(super) error: HandshakeError,
}

impl Fail {
    pub(super) fn refuse(reason: RefuseReason, error: HandshakeError) -> Fail {
        Fail { refuse: Some(reason), error }
    }
    pub(super) fn malformed(text: String) -> Fail {
        Fail::refuse(RefuseReason::Malformed, HandshakeError::Malformed(text))
    }
}

pub(super) fn write_preamble(out: &mut Vec<u8>, msg_type: u8) {
    out.extend_from_slice(&HANDSHAKE_MAGIC);
    out.push(msg_type);
}

/// The message type, once magic and type have arrived; `BadMagic` as soon as 8 bytes
/// that are not the magic have.
pub(super) fn read_preamble(bytes: &[u8]) -> Result<Option<u8>, Fail> {
    let Some(magic) = bytes.first_chunk::<8>() else { return Ok(None) };
    if *magic != HANDSHAKE_MAGIC {
        return Err(Fail::refuse(RefuseReason::BadMagic, HandshakeError::BadMagic { found: *magic }));
    }
    Ok(bytes.get(8).copied())
}

/// A whole Refuse is always an error: `Refused`, or `Malformed` for an unknown reason.
/// Either way the peer is closing, so nothing is sent back.
pub(super) fn read_refuse(bytes: &[u8]) -> Result<Option<usize>, Fail> {
    let Some(&byte) = bytes.get(PREAMBLE_BYTES) else { return Ok(None) };
    let error = match RefuseReason::from_u8(byte) {
        Some(reason) => HandshakeError::Refused { reason },
        None => HandshakeError::Malformed(format!("peer refused with unknown reason {byte}")),
    };
    Err(Fail { refuse: None, error })
}

/// The fields of a received Hello, borrowed from the receive buffer.
pub(super) struct Hello<'a> {
    pub(super) node_id: u64,
    pub(super) cores: u16,
    pub(super) core: u16,
    pub(super) target_core: u16,
    pub(super) nonce: [u8; 32],
    pub(super) cluster: &'a [u8],
    pub(super) advert: &'a [u8],
    /// The type table's entries, 16 bytes each, checked to ascend by type id.
    pub(super) types: &'a [u8],
    pub(super) proof: Option<&'a [u8]>,
}

impl Hello<'_> {
    /// The peer's (type id, fingerprint) pairs, in ascending type id order.
    pub(super) fn types(&self) -> impl Iterator<Item = (u64, u64)> + '_ {
        self.types.chunks_exact(TYPE_ENTRY_BYTES).map(entry)
    }
}

/// One 16-byte table entry: (type id, fingerprint), both LE.
fn entry(bytes: &[u8]) -> (u64, u64) {
    let mut c = Cursor { bytes, at: 0 };
    (c.u64().unwrap_or_default(), c.u64().unwrap_or_default())
}

/// Reads fixed-size fields from a byte slice; every read is `None` past the end.
pub(super) struct Cursor<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Cursor<'a> {
    pub(super) fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let s = self.bytes.get(self.at..self.at.checked_add(n)?)?;
        self.at += n;
        Some(s)
    }
    pub(super) fn array<const N: usize>(&mut self) -> Option<[u8; N]> {
        self.take(N)?.try_into().ok()
    }
    pub(super) fn u8(&mut self) -> Option<u8> {
        self.array::<1>().map(|[b]| b)
    }
    pub(super) fn u16(&mut self) -> Option<u16> {
        self.array().map(u16::from_le_bytes)
    }
    pub(super) fn u64(&mut self) -> Option<u64> {
        self.array().map(u64::from_le_bytes)
    }
}

/// Parses a Hello sent by the peer of a `me` side, checking each field as soon as it
/// has arrived (version, role, lengths) so that a wrong peer is refused early.
/// `Ok(None)`: need more bytes.
pub(super) fn parse_hello(bytes: &[u8], me: Role) -> Result<Option<(Hello<'_>, usize)>, Fail> {
    let mut c = Cursor { bytes, at: PREAMBLE_BYTES };
    let Some(version) = c.u16() else { return Ok(None) };
    if version != PROTOCOL_VERSION {
        let error = HandshakeError::Version { ours: PROTOCOL_VERSION, theirs: version };
        return Err(Fail::refuse(RefuseReason::Version, error));
    }
    let Some(role) = c.u8() else { return Ok(None) };
    let (expected_role, proof_len_expected) = match me {
        Role::Server => (ROLE_CLIENT, 0),
        Role::Client => (ROLE_SERVER, PROOF_BYTES),
    };
    if role != expected_role {
        let text = format!("peer's Hello has role {role}, expected {expected_role} (1 client, 2 server)");
        return Err(Fail::refuse(RefuseReason::WrongRole, HandshakeError::Malformed(text)));
    }
    let Some(node_id) = c.u64() else { return Ok(None) };
    let Some(cores) = c.u16() else { return Ok(None) };
    let Some(core) = c.u16() else { return Ok(None) };
    if core >= cores {
        return Err(Fail::malformed(format!("peer says it is core {core} of {cores} cores")));
    }
    let Some(target_core) = c.u16() else { return Ok(None) };
    let Some(format_hash) = c.u64() else { return Ok(None) };
    if format_hash != FORMAT_HASH {
        let error = HandshakeError::Format { ours: FORMAT_HASH, theirs: format_hash };
        return Err(Fail::refuse(RefuseReason::TypeTable, error));
    }
    let Some(nonce) = c.array::<NONCE_BYTES>() else { return Ok(None) };
    let Some(cluster_len) = c.u8() else { return Ok(None) };
    if cluster_len as usize > MAX_CLUSTER_NAME {
        return Err(Fail::malformed(format!("cluster name length {cluster_len} over {MAX_CLUSTER_NAME}")));
    }
    let Some(cluster) = c.take(cluster_len as usize) else { return Ok(None) };
    let Some(advert_len) = c.u16() else { return Ok(None) };
    if advert_len as usize > MAX_ADVERT {
        return Err(Fail::malformed(format!("advert length {advert_len} over {MAX_ADVERT}")));
    }
    let Some(advert) = c.take(advert_len as usize) else { return Ok(None) };
    let Some(type_count) = c.u16() else { return Ok(None) };
    if type_count as usize > MAX_TYPE_TABLE_ENTRIES {
        let text = format!("type table of {type_count} entries over {MAX_TYPE_TABLE_ENTRIES}");
        return Err(Fail::malformed(text));
    }
    let Some(types) = c.take(type_count as usize * TYPE_ENTRY_BYTES) else { return Ok(None) };
    let ids = types.chunks_exact(TYPE_ENTRY_BYTES).map(|e| entry(e).0);
    if let Some(at) = ids.clone().zip(ids.skip(1)).position(|(a, b)| a >= b) {
        let text = format!("type table entry {} does not ascend by type id", at + 1);
        return Err(Fail::malformed(text));
    }
    let Some(proof_len) = c.u8() else { return Ok(None) };
    if proof_len as usize != proof_len_expected {
        let text = format!("peer's Hello has a {proof_len}-byte proof, expected {proof_len_expected}");
        return Err(Fail::malformed(text));
    }
    let Some(proof) = c.take(proof_len as usize) else { return Ok(None) };
    let proof = (proof_len > 0).then_some(proof);
    let hello = Hello { node_id, cores, core, target_core, nonce, cluster, advert, types, proof };
    Ok(Some((hello, c.at)))
}

/// HMAC-SHA256 keyed with the cookie over: domain || prover role || prover nonce ||
/// verifier nonce || prover node id (LE) || verifier node id (LE).
pub(super) fn proof_mac(
    cookie: &[u8],
    prover_role: u8,
    prover_nonce: &[u8; 32],
    verifier_nonce: &[u8; 32],
    prover_id: u64,
    verifier_id: u64,
) -> Hmac<Sha256> {
    // HMAC accepts keys of any length (long keys are hashed), so this cannot fail.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(cookie).expect("HMAC takes a key of any length");
    mac.update(PROOF_DOMAIN);
    mac.update(&[prover_role]);
    mac.update(prover_nonce);
    mac.update(verifier_nonce);
    mac.update(&prover_id.to_le_bytes());
    mac.update(&verifier_id.to_le_bytes());
    mac
}

/// Whether `proof` is the prover's correct proof, compared in constant time.
pub(super) fn verify_proof(
    cookie: &[u8],
    prover_role: u8,
    prover_nonce: &[u8; 32],
    verifier_nonce: &[u8; 32],
    prover_id: u64,
    verifier_id: u64,
    proof: &[u8],
) -> bool {
    let mac = proof_mac(cookie, prover_role, prover_nonce, verifier_nonce, prover_id, verifier_id);
    mac.verify_slice(proof).is_ok()
}
