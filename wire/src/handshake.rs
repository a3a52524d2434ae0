//! The connection handshake: the four messages exchanged before any frame, and the
//! state machine of each side (`wire/FORMAT.md`, section "Handshake").
//!
//! Owns the public handshake types, the order of messages, the checks applied to the
//! peer's Hello (magic, version, role, frame format fingerprint, cluster name, message
//! type table, node id), what each side answers, and the HMAC-SHA256 challenge-response on the shared cookie. The byte
//! layout of each message and the proof formula live in `handshake/message.rs`.
//!
//! This module must never do I/O, read a clock, draw randomness (nonces come from the
//! caller), put the cookie on the wire, compare proofs in variable time, or panic on
//! any input byte string. A bad peer is a [`HandshakeError`] value plus, where this
//! side refuses, a Refuse message in `out`; closing the connection is the caller's job.
//!
//! ```text
//! client                                    server
//!   Handshake::client ── Hello ──────────────► on_bytes: check, then
//!   on_bytes: check, verify proof_S ◄─ Hello(proof_S)
//!             ── Proof(proof_C) ─────────────► on_bytes: verify proof_C
//!   on_bytes: Done ◄──────────────────────────── Accept  (server: Done)
//! ```

mod message;

use crate::schema::{first_conflict, TypeTable, FORMAT_HASH};
use hmac::Mac;
use message::{
    parse_hello, proof_mac, read_preamble, read_refuse, verify_proof, write_preamble, Fail, Hello, Role,
    ACCEPT_MSG_BYTES, HELLO_MAX_BYTES, NONCE_BYTES, PREAMBLE_BYTES, PROOF_BYTES, PROOF_MSG_BYTES,
    ROLE_CLIENT, ROLE_SERVER, TYPE_ACCEPT, TYPE_HELLO, TYPE_PROOF, TYPE_REFUSE,
};

/// The 8 bytes that open every handshake message.
pub const HANDSHAKE_MAGIC: [u8; 8] = *b"CMESHHS1";
/// The protocol version this build speaks; both sides must send the same.
pub const PROTOCOL_VERSION: u16 = 1;
/// Longest cluster name in a Hello, in UTF-8 bytes.
pub const MAX_CLUSTER_NAME: usize = 64;
/// Longest advert (opaque runtime bytes: listen address, per-core ports) in a Hello.
pub const MAX_ADVERT: usize = 1024;

/// What one side says about itself.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LocalInfo {
    /// This node's id; a peer with the same id is refused (`SelfConnection`).
    pub node_id: u64,
    /// How many cores this node runs.
    pub cores: u16,
    /// The core on this node that owns this connection; must be below `cores`.
    pub core: u16,
    /// Client: the server core it wants. Server: its own core, echoed.
    pub target_core: u16,
    /// This build's message types and their schema fingerprints, sent in the Hello;
    /// a peer that declares one of them (same type id) with another fingerprint is
    /// refused. Types only one side declares are fine.
    pub type_table: TypeTable,
    /// Cluster name, at most [`MAX_CLUSTER_NAME`] bytes; both sides must agree.
    pub cluster: String,
    /// Opaque bytes for the peer's runtime, at most [`MAX_ADVERT`].
    pub advert: Vec<u8>,
}

/// What the handshake learned about the peer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerInfo {
    /// The peer's node id (never ours).
    pub node_id: u64,
    /// How many cores the peer runs (at least 1).
    pub cores: u16,
    /// The peer core that owns this connection (below `cores`).
    pub core: u16,
    /// Client's Hello: the server core it wants. Server's Hello: the server's core.
    pub target_core: u16,
    /// The peer's advert bytes, as sent.
    pub advert: Vec<u8>,
}

/// Why a side refused, the byte in a Refuse message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum RefuseReason {
    /// The peer's message did not start with [`HANDSHAKE_MAGIC`].
    BadMagic = 1,
    /// The peer speaks another [`PROTOCOL_VERSION`].
    Version = 2,
    /// The peer belongs to another cluster.
    Cluster = 3,
    /// The peer's schema differs: another frame format ([`crate::FORMAT_HASH`]), or a
    /// message type both sides declare with different schema fingerprints.
    TypeTable = 4,
    /// The peer's proof did not match: it holds another cookie.
    Cookie = 5,
    /// The peer's message was not a valid handshake message here.
    Malformed = 6,
    /// The peer has our node id.
    SelfConnection = 7,
    /// The peer's Hello has the wrong role (a client talking to a client).
    WrongRole = 8,
    /// Both nodes dialed each other at once; the server keeps the connection its
    /// own node dialed (the lower node id's) and refuses this one after
    /// authenticating it. Sent by the runtime, not by [`Handshake`] itself.
    Duplicate = 9,
}

impl RefuseReason {
    /// The reason for a received reason byte; `None` for an unknown one.
    pub const fn from_u8(byte: u8) -> Option<RefuseReason> {
        match byte {
            1 => Some(RefuseReason::BadMagic),
            2 => Some(RefuseReason::Version),
            3 => Some(RefuseReason::Cluster),
            4 => Some(RefuseReason::TypeTable),
            5 => Some(RefuseReason::Cookie),
            6 => Some(RefuseReason::Malformed),
            7 => Some(RefuseReason::SelfConnection),
            8 => Some(RefuseReason::WrongRole),
            9 => Some(RefuseReason::Duplicate),
            _ => None,
        }
    }
}

/// Why the handshake failed. Every variant ends the connection: the caller sends what
/// `out` holds (a Refuse, where this side refused) and closes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HandshakeError {
    /// The peer's first 8 bytes are not [`HANDSHAKE_MAGIC`]; we sent Refuse(BadMagic).
    #[error("peer sent bad magic {found:02x?}: not a coremesh node")]
    BadMagic {
        /// The 8 bytes received.
        found: [u8; 8],
    },
    /// The peer's Hello has another protocol version; we sent Refuse(Version).
    #[error("protocol version mismatch: ours {ours}, peer's {theirs}")]
    Version {
        /// [`PROTOCOL_VERSION`].
        ours: u16,
        /// The peer's version.
        theirs: u16,
    },
    /// The peer's Hello names another cluster; we sent Refuse(Cluster).
    #[error("cluster name mismatch: ours {ours:?}, peer's {theirs:?}")]
    Cluster {
        /// Our cluster name.
        ours: String,
        /// The peer's cluster name.
        theirs: String,
    },
    /// The peer's frame format fingerprint differs (another coremesh wire format); we
    /// sent Refuse(TypeTable).
    #[error(
        "frame format mismatch: ours {ours:#018x}, peer's {theirs:#018x} (another coremesh wire format)"
    )]
    Format {
        /// [`crate::FORMAT_HASH`].
        ours: u64,
        /// The peer's.
        theirs: u64,
    },
    /// A message type both sides declare has different schema fingerprints (the first
    /// such type id in ascending order); we sent Refuse(TypeTable).
    #[error(
        "message type `{name}` ({type_id:#018x}) has another schema on the peer: \
         fingerprint ours {ours:#018x}, peer's {theirs:#018x}"
    )]
    TypeTable {
        /// The type id both tables contain.
        type_id: u64,
        /// Its stable name, from our table.
        name: &'static str,
        /// Our fingerprint.
        ours: u64,
        /// The peer's fingerprint.
        theirs: u64,
    },
    /// The peer's proof is wrong (it holds another cookie); we sent Refuse(Cookie).
    #[error("peer failed the cookie challenge (wrong COREMESH_COOKIE)")]
    BadCookie,
    /// The peer's Hello carries our own node id; we sent Refuse(SelfConnection).
    #[error("peer has our own node id {node_id:#018x}")]
    SelfConnection {
        /// The shared node id.
        node_id: u64,
    },
    /// The peer sent Refuse; we send nothing back.
    #[error("peer refused the handshake: {reason:?}")]
    Refused {
        /// The reason the peer gave.
        reason: RefuseReason,
    },
    /// The peer's message is not valid (bad length, bad UTF-8, wrong role, unknown
    /// refuse reason, ...); the text names the values. We sent Refuse(Malformed), or
    /// Refuse(WrongRole) for a wrong role, except after a peer's Refuse.
    #[error("malformed handshake message: {0}")]
    Malformed(String),
    /// The peer sent a message type that this side does not expect now; we sent
    /// Refuse(Malformed).
    #[error("unexpected handshake message type {found} in state {state}")]
    Unexpected {
        /// The type byte received.
        found: u8,
        /// What this side was waiting for.
        state: &'static str,
    },
    /// Our own [`LocalInfo`] has a cluster name or advert over the limit; nothing was
    /// sent. (A [`TypeTable`] cannot be over its limit: [`TypeTable::new`] refuses.)
    #[error("cluster name or advert too long")]
    TooLong,
}

/// Where a handshake stands after [`Handshake::on_bytes`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Progress {
    /// Read more bytes and call again.
    NeedMore,
    /// Handshake complete; frames may follow.
    Done(PeerInfo),
}

#[derive(Debug)]
enum State {
    /// Client: sent Hello, waiting for the server's Hello. Server: waiting for the
    /// client's Hello.
    AwaitHello,
    /// Server: sent Hello with its proof, waiting for the client's Proof.
    AwaitProof {
        peer: PeerInfo,
        peer_nonce: [u8; NONCE_BYTES],
    },
    /// Client: sent Proof, waiting for Accept.
    AwaitAccept {
        peer: PeerInfo,
    },
    Done(PeerInfo),
    Failed(HandshakeError),
}

/// One side of the handshake on one connection: feed it received bytes, send what it
/// writes. It holds the cookie only to compute and verify proofs.
pub struct Handshake {
    role: Role,
    state: State,
    local: LocalInfo,
    cookie: Vec<u8>,
    nonce: [u8; NONCE_BYTES],
    /// The peer, once its proof was verified (kept after a later refusal).
    verified: Option<PeerInfo>,
}

impl std::fmt::Debug for Handshake {
    /// Leaves the cookie out, so that logging a handshake cannot leak it.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Handshake")
            .field("role", &self.role)
            .field("state", &self.state)
            .field("local", &self.local)
            .finish_non_exhaustive()
    }
}

impl Handshake {
    /// The longest a handshake message can be (callers bound their buffer with it):
    /// a Hello with a 64-byte cluster name, a 1024-byte advert, a full type table
    /// (4,096 entries) and a proof, 66,728 bytes.
    pub const MAX_MESSAGE_BYTES: usize = HELLO_MAX_BYTES;

    /// Client side; writes its Hello into `out` (appended). Fails with `TooLong`, and
    /// writes nothing, if `local`'s cluster name or advert is over the limit.
    pub fn client(
        local: LocalInfo,
        cookie: &[u8],
        nonce: [u8; 32],
        out: &mut Vec<u8>,
    ) -> Result<Handshake, HandshakeError> {
        check_local(&local)?;
        let hs = Handshake {
            role: Role::Client,
            state: State::AwaitHello,
            local,
            cookie: cookie.to_vec(),
            nonce,
            verified: None,
        };
        hs.write_hello(None, out);
        Ok(hs)
    }

    /// Server side; writes nothing until the client's Hello arrives. If `local`'s
    /// cluster name or advert is over the limit, the first `on_bytes` fails with
    /// `TooLong` and writes nothing.
    pub fn server(local: LocalInfo, cookie: &[u8], nonce: [u8; 32]) -> Handshake {
        let state = match check_local(&local) {
            Ok(()) => State::AwaitHello,
            Err(e) => State::Failed(e),
        };
        Handshake { role: Role::Server, state, local, cookie: cookie.to_vec(), nonce, verified: None }
    }

    /// Feed bytes received (from the start of the buffer of unconsumed bytes). Returns
    /// how many bytes were consumed and the progress; appends any reply to `out`.
    ///
    /// A partial message consumes nothing (`Ok((0, NeedMore))`); call again with more.
    /// Bytes after the last handshake message are not consumed: they are the first
    /// frames. On `Err`, `out` holds a Refuse message when this side refuses; the caller
    /// sends it and closes. After an `Err` every call returns the same error and writes
    /// nothing; after `Done` every call returns `Done` again and consumes nothing.
    pub fn on_bytes(&mut self, bytes: &[u8], out: &mut Vec<u8>) -> Result<(usize, Progress), HandshakeError> {
        let mut consumed = 0;
        loop {
            match &self.state {
                State::Done(peer) => return Ok((consumed, Progress::Done(peer.clone()))),
                State::Failed(e) => return Err(e.clone()),
                _ => {}
            }
            let rest = bytes.get(consumed..).unwrap_or_default();
            match self.step(rest, out) {
                Ok(Some(used)) => consumed += used,
                Ok(None) => return Ok((consumed, Progress::NeedMore)),
                Err(fail) => {
                    if let Some(reason) = fail.refuse {
                        Self::write_refuse(reason, out);
                    }
                    self.state = State::Failed(fail.error.clone());
                    return Err(fail.error);
                }
            }
        }
    }

    /// The peer, once this side verified its proof: the client after the server's
    /// Hello, the server after the client's Proof. It stays known after a later
    /// failure (a client refused as a [`RefuseReason::Duplicate`] learns whom it
    /// lost to).
    pub fn verified_peer(&self) -> Option<&PeerInfo> {
        self.verified.as_ref()
    }

    /// Writes a Refuse message with `reason` into `out`: for a refusal the caller
    /// decides after the handshake (a server that replaces its Accept with
    /// Refuse(Duplicate)).
    pub fn write_refuse(reason: RefuseReason, out: &mut Vec<u8>) {
        write_preamble(out, TYPE_REFUSE);
        out.push(reason as u8);
    }

    /// Reads at most one message from the front of `bytes`. `Ok(None)`: need more;
    /// `Ok(Some(n))`: consumed `n` bytes and moved on.
    fn step(&mut self, bytes: &[u8], out: &mut Vec<u8>) -> Result<Option<usize>, Fail> {
        let Some(msg_type) = read_preamble(bytes)? else { return Ok(None) };
        if msg_type == TYPE_REFUSE {
            return read_refuse(bytes);
        }
        let state_name = self.state_name();
        let unexpected = || {
            Fail::refuse(
                RefuseReason::Malformed,
                HandshakeError::Unexpected { found: msg_type, state: state_name },
            )
        };
        match (&self.state, msg_type) {
            (State::AwaitHello, TYPE_HELLO) => {
                let Some((hello, used)) = parse_hello(bytes, self.role)? else { return Ok(None) };
                self.on_hello(hello, out)?;
                Ok(Some(used))
            }
            (State::AwaitProof { peer, peer_nonce }, TYPE_PROOF) => {
                let Some(proof) = bytes.get(PREAMBLE_BYTES..PROOF_MSG_BYTES) else { return Ok(None) };
                let ok = verify_proof(
                    &self.cookie,
                    ROLE_CLIENT,
                    peer_nonce,
                    &self.nonce,
                    peer.node_id,
                    self.local.node_id,
                    proof,
                );
                if !ok {
                    return Err(Fail::refuse(RefuseReason::Cookie, HandshakeError::BadCookie));
                }
                write_preamble(out, TYPE_ACCEPT);
                self.verified = Some(peer.clone());
                self.state = State::Done(peer.clone());
                Ok(Some(PROOF_MSG_BYTES))
            }
            (State::AwaitAccept { peer }, TYPE_ACCEPT) => {
                self.state = State::Done(peer.clone());
                Ok(Some(ACCEPT_MSG_BYTES))
            }
            _ => Err(unexpected()),
        }
    }

    /// Checks the peer's whole Hello and answers it: the server with its own Hello and
    /// proof, the client (after verifying the server's proof) with its Proof.
    fn on_hello(&mut self, hello: Hello<'_>, out: &mut Vec<u8>) -> Result<(), Fail> {
        let Ok(cluster) = std::str::from_utf8(hello.cluster) else {
            return Err(Fail::malformed(format!("cluster name {:02x?} is not UTF-8", hello.cluster)));
        };
        if cluster != self.local.cluster {
            let error =
                HandshakeError::Cluster { ours: self.local.cluster.clone(), theirs: cluster.to_owned() };
            return Err(Fail::refuse(RefuseReason::Cluster, error));
        }
        if let Some((ours, theirs)) = first_conflict(self.local.type_table.entries(), hello.types()) {
            let error = HandshakeError::TypeTable {
                type_id: ours.type_id,
                name: ours.name,
                ours: ours.fingerprint,
                theirs,
            };
            return Err(Fail::refuse(RefuseReason::TypeTable, error));
        }
        if hello.node_id == self.local.node_id {
            let error = HandshakeError::SelfConnection { node_id: hello.node_id };
            return Err(Fail::refuse(RefuseReason::SelfConnection, error));
        }
        let peer = PeerInfo {
            node_id: hello.node_id,
            cores: hello.cores,
            core: hello.core,
            target_core: hello.target_core,
            advert: hello.advert.to_vec(),
        };
        match self.role {
            Role::Server => {
                let proof = self.prove(ROLE_SERVER, &hello.nonce, peer.node_id);
                self.write_hello(Some(&proof), out);
                self.state = State::AwaitProof { peer, peer_nonce: hello.nonce };
            }
            Role::Client => {
                let proof_s = hello.proof.unwrap_or_default();
                let ok = verify_proof(
                    &self.cookie,
                    ROLE_SERVER,
                    &hello.nonce,
                    &self.nonce,
                    peer.node_id,
                    self.local.node_id,
                    proof_s,
                );
                if !ok {
                    return Err(Fail::refuse(RefuseReason::Cookie, HandshakeError::BadCookie));
                }
                self.verified = Some(peer.clone());
                let proof_c = self.prove(ROLE_CLIENT, &hello.nonce, peer.node_id);
                write_preamble(out, TYPE_PROOF);
                out.extend_from_slice(&proof_c);
                self.state = State::AwaitAccept { peer };
            }
        }
        Ok(())
    }

    /// Our proof as `prover_role`, to a verifier with `verifier_nonce` and id.
    fn prove(&self, prover_role: u8, verifier_nonce: &[u8; 32], verifier_id: u64) -> [u8; 32] {
        let mac = proof_mac(
            &self.cookie,
            prover_role,
            &self.nonce,
            verifier_nonce,
            self.local.node_id,
            verifier_id,
        );
        mac.finalize().into_bytes().into()
    }

    fn write_hello(&self, proof: Option<&[u8; 32]>, out: &mut Vec<u8>) {
        let l = &self.local;
        let role = match self.role {
            Role::Client => ROLE_CLIENT,
            Role::Server => ROLE_SERVER,
        };
        write_preamble(out, TYPE_HELLO);
        out.extend_from_slice(&PROTOCOL_VERSION.to_le_bytes());
        out.push(role);
        out.extend_from_slice(&l.node_id.to_le_bytes());
        out.extend_from_slice(&l.cores.to_le_bytes());
        out.extend_from_slice(&l.core.to_le_bytes());
        out.extend_from_slice(&l.target_core.to_le_bytes());
        out.extend_from_slice(&FORMAT_HASH.to_le_bytes());
        out.extend_from_slice(&self.nonce);
        // Lengths were checked by `check_local` (and the table's by `TypeTable::new`),
        // so the casts below cannot truncate.
        out.push(l.cluster.len() as u8);
        out.extend_from_slice(l.cluster.as_bytes());
        out.extend_from_slice(&(l.advert.len() as u16).to_le_bytes());
        out.extend_from_slice(&l.advert);
        let types = l.type_table.entries();
        out.extend_from_slice(&(types.len() as u16).to_le_bytes());
        for e in types {
            out.extend_from_slice(&e.type_id.to_le_bytes());
            out.extend_from_slice(&e.fingerprint.to_le_bytes());
        }
        match proof {
            Some(p) => {
                out.push(PROOF_BYTES as u8);
                out.extend_from_slice(p);
            }
            None => out.push(0),
        }
    }

    fn state_name(&self) -> &'static str {
        match (&self.state, self.role) {
            (State::AwaitHello, Role::Client) => "client awaiting the server's Hello",
            (State::AwaitHello, Role::Server) => "server awaiting the client's Hello",
            (State::AwaitProof { .. }, _) => "server awaiting the client's Proof",
            (State::AwaitAccept { .. }, _) => "client awaiting Accept",
            (State::Done(_), _) => "done",
            (State::Failed(_), _) => "failed",
        }
    }
}

fn check_local(local: &LocalInfo) -> Result<(), HandshakeError> {
    if local.cluster.len() > MAX_CLUSTER_NAME || local.advert.len() > MAX_ADVERT {
        return Err(HandshakeError::TooLong);
    }
    Ok(())
}

#[cfg(test)]
mod tests;
