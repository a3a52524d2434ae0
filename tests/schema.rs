//! Message schema fingerprints, from real Rust declarations: two types declared under
//! one stable name with different layouts make handshakes refuse each other (with the
//! type-table reason, naming the type) and make a node of a build holding both refuse
//! to start; `#[coremesh::message_type]` fingerprints change with a field's type, name
//! or position and not with the module or the Rust name; `message!` fingerprints see
//! only the archived size and alignment.
//!
//! This test binary declares contradicting messages on purpose, so no node can start
//! in it (`node_start_fails_naming_a_type_declared_twice`); the handshakes here run
//! on the sans-IO `Handshake` over an in-memory pipe, with tables built explicitly
//! from the types' `Message` impls. Deterministic: fixed nonces, no I/O, no clock.

use coremesh::wire::{
    Handshake, HandshakeError, LocalInfo, PeerInfo, Progress, RefuseReason, TypeEntry, TypeTable,
};
use coremesh::{Config, Message, NodeError, SchemaError};
use rkyv::{Archive, Deserialize, Serialize};

/// Build 1 of an application: `schema.A` holds a `u32`.
mod v1 {
    use super::*;
    #[derive(Archive, Serialize, Deserialize)]
    pub struct A {
        pub n: u32,
    }
    coremesh::message!(A = "schema.A");
}

/// Build 2: the same stable name now holds a `u64`.
mod v2 {
    use super::*;
    #[derive(Archive, Serialize, Deserialize)]
    pub struct A {
        pub n: u64,
    }
    coremesh::message!(A = "schema.A");
}

/// A message both builds declare alike, and one only build 2 has.
#[derive(Archive, Serialize, Deserialize)]
struct Shared {
    text: String,
}
coremesh::message!(Shared = "schema.Shared");

#[derive(Archive, Serialize, Deserialize)]
struct OnlyInV2 {
    flag: bool,
}
coremesh::message!(OnlyInV2 = "schema.OnlyInV2");

fn entry<M: Message>() -> TypeEntry {
    TypeEntry { type_id: M::TYPE_ID, fingerprint: M::FINGERPRINT, name: M::NAME }
}

fn info(node_id: u64, type_table: TypeTable) -> LocalInfo {
    LocalInfo {
        node_id,
        cores: 1,
        core: 0,
        target_core: 0,
        type_table,
        cluster: "schema".into(),
        advert: Vec::new(),
    }
}

/// Runs a whole handshake between a client and a server over an in-memory pipe.
fn handshake(
    client: LocalInfo,
    server: LocalInfo,
) -> (Result<PeerInfo, HandshakeError>, Result<PeerInfo, HandshakeError>) {
    let mut to_server = Vec::new();
    let mut c = Handshake::client(client, b"cookie", [1; 32], &mut to_server).expect("client Hello");
    let mut s = Handshake::server(server, b"cookie", [2; 32]);
    let (mut c_end, mut s_end) = (None, None);
    let mut to_client = Vec::new();
    // Each round moves every pending byte one way, then the other; 8 rounds are more
    // than the 4 messages of a handshake need.
    for _ in 0..8 {
        if s_end.is_none() && !to_server.is_empty() {
            let bytes = std::mem::take(&mut to_server);
            s_end = step(&mut s, &bytes, &mut to_client);
        }
        if c_end.is_none() && !to_client.is_empty() {
            let bytes = std::mem::take(&mut to_client);
            c_end = step(&mut c, &bytes, &mut to_server);
        }
    }
    (c_end.expect("the client finished"), s_end.expect("the server finished"))
}

fn step(hs: &mut Handshake, bytes: &[u8], out: &mut Vec<u8>) -> Option<Result<PeerInfo, HandshakeError>> {
    match hs.on_bytes(bytes, out) {
        Ok((used, Progress::NeedMore)) => {
            assert_eq!(used, bytes.len(), "whole messages are consumed");
            None
        }
        Ok((_, Progress::Done(peer))) => Some(Ok(peer)),
        Err(e) => Some(Err(e)),
    }
}

#[test]
fn one_stable_name_with_two_layouts_is_refused_with_the_type_table_reason() {
    assert_eq!(v1::A::TYPE_ID, v2::A::TYPE_ID, "one stable name, one type id");
    assert_ne!(v1::A::FINGERPRINT, v2::A::FINGERPRINT, "u32 and u64 archive differently");
    let build1 = TypeTable::new([entry::<v1::A>(), entry::<Shared>()]).unwrap();
    let build2 = TypeTable::new([entry::<v2::A>(), entry::<Shared>(), entry::<OnlyInV2>()]).unwrap();
    // Build 1 dials build 2: build 2 (the server) finds the conflict and refuses.
    let (client, server) = handshake(info(1, build1.clone()), info(2, build2.clone()));
    let expected = HandshakeError::TypeTable {
        type_id: v1::A::TYPE_ID,
        name: "schema.A",
        ours: v2::A::FINGERPRINT,
        theirs: v1::A::FINGERPRINT,
    };
    assert_eq!(server, Err(expected.clone()));
    assert_eq!(client, Err(HandshakeError::Refused { reason: RefuseReason::TypeTable }));
    let text = expected.to_string();
    assert!(text.contains("`schema.A`") && text.contains(&format!("{:#018x}", v1::A::TYPE_ID)), "{text}");
    // And the other way round.
    let (client, server) = handshake(info(2, build2), info(1, build1));
    assert!(matches!(server, Err(HandshakeError::TypeTable { name: "schema.A", .. })), "{server:?}");
    assert_eq!(client, Err(HandshakeError::Refused { reason: RefuseReason::TypeTable }));
}

#[test]
fn builds_that_agree_on_every_shared_type_connect_whatever_else_they_declare() {
    let build1 = TypeTable::new([entry::<v1::A>(), entry::<Shared>()]).unwrap();
    let other = TypeTable::new([entry::<v1::A>(), entry::<Shared>(), entry::<OnlyInV2>()]).unwrap();
    let (client, server) = handshake(info(1, build1.clone()), info(2, other));
    assert_eq!(client.map(|p| p.node_id), Ok(2));
    assert_eq!(server.map(|p| p.node_id), Ok(1));
    // No shared type at all.
    let disjoint = TypeTable::new([entry::<OnlyInV2>()]).unwrap();
    let (client, server) = handshake(info(1, build1), info(2, disjoint));
    assert!(client.is_ok() && server.is_ok(), "{client:?} {server:?}");
}

#[test]
fn node_start_fails_naming_a_type_declared_twice() {
    let config = Config::builder()
        .env_source(|_| None)
        .dev_mode(true)
        .listen("127.0.0.1:0".parse().unwrap())
        .build()
        .unwrap();
    let Err(error) = coremesh::Node::start(config) else { panic!("a node started with contradicting types") };
    let NodeError::Schema(SchemaError::Conflict { first, second }) = &error else {
        panic!("expected a schema conflict, got {error}")
    };
    assert_eq!(first.type_id, second.type_id);
    assert_ne!(first.fingerprint, second.fingerprint);
    let text = error.to_string();
    for needle in [first.name, first.rust_type, second.rust_type] {
        assert!(text.contains(needle), "{needle:?} in {text}");
    }
    assert_eq!(coremesh::type_table().unwrap_err(), SchemaError::Conflict { first: *first, second: *second });
}

// ---- `#[coremesh::message_type]`: the shape counts -------------------------------

mod base {
    #[coremesh::message_type("shape.P")]
    pub struct P {
        pub a: u32,
        pub b: u32,
    }
}

/// The same declaration in another module, under another Rust name.
mod elsewhere {
    /// Docs and other attributes do not count.
    #[coremesh::message_type("shape.P")]
    #[derive(Debug)]
    pub struct Renamed {
        pub a: u32,
        pub b: u32,
    }
}

mod field_type {
    #[coremesh::message_type("shape.P")]
    pub struct P {
        pub a: i32,
        pub b: u32,
    }
}

mod field_name {
    #[coremesh::message_type("shape.P")]
    pub struct P {
        pub x: u32,
        pub b: u32,
    }
}

mod reordered {
    #[coremesh::message_type("shape.P")]
    pub struct P {
        pub b: u32,
        pub a: u32,
    }
}

#[test]
fn an_attribute_fingerprint_follows_field_types_names_and_order() {
    use coremesh::wire::{shape_fingerprint, type_id_of};
    let p = base::P::FINGERPRINT;
    assert_eq!(base::P::NAME, "shape.P");
    assert_eq!(base::P::TYPE_ID, type_id_of("shape.P"));
    assert_eq!(p, shape_fingerprint("shape.P", 8, 4, "struct{a:u32,b:u32,}"), "FORMAT.md's formula");
    assert_eq!(elsewhere::Renamed::FINGERPRINT, p, "same declaration, other module and name");
    // Same size and alignment in every case below: only the shape tells them apart.
    assert_ne!(field_type::P::FINGERPRINT, p, "a: u32 → i32");
    assert_ne!(field_name::P::FINGERPRINT, p, "a → x");
    assert_ne!(reordered::P::FINGERPRINT, p, "a, b → b, a");
    // The attribute's rkyv derives work: the type archives and reads back.
    let bytes = rkyv::to_bytes::<rkyv::rancor::Error>(&base::P { a: 7, b: 9 }).unwrap();
    let archived = rkyv::access::<base::ArchivedP, rkyv::rancor::Error>(&bytes).unwrap();
    assert_eq!((archived.a.to_native(), archived.b.to_native()), (7, 9));
}

mod enum_v1 {
    #[coremesh::message_type("shape.E")]
    pub enum E {
        Start { id: u64 },
        Stop,
    }
}

mod enum_v2 {
    #[coremesh::message_type("shape.E")]
    pub enum E {
        Start { id: u64 },
        Pause,
    }
}

#[test]
fn an_attribute_fingerprint_follows_enum_variants() {
    assert_ne!(enum_v1::E::FINGERPRINT, enum_v2::E::FINGERPRINT, "variant Stop → Pause");
    assert_eq!(enum_v1::E::TYPE_ID, enum_v2::E::TYPE_ID);
}

// ---- `message!`: the weaker form sees size and alignment only ----------------------

mod weak_u32 {
    use super::*;
    #[derive(Archive, Serialize, Deserialize)]
    pub struct W {
        pub a: u32,
    }
    coremesh::message!(W = "weak.W");
}

mod weak_i32 {
    use super::*;
    #[derive(Archive, Serialize, Deserialize)]
    pub struct W {
        pub renamed: i32,
    }
    coremesh::message!(W = "weak.W");
}

#[test]
fn a_message_macro_fingerprint_sees_size_and_alignment_only() {
    use coremesh::wire::layout_fingerprint;
    assert_eq!(weak_u32::W::FINGERPRINT, layout_fingerprint("weak.W", 4, 4));
    // Documented weakness: another field type or name of the same size and alignment.
    assert_eq!(weak_u32::W::FINGERPRINT, weak_i32::W::FINGERPRINT);
    // Another size: another fingerprint.
    assert_eq!(v1::A::FINGERPRINT, layout_fingerprint("schema.A", 4, 4));
    assert_eq!(v2::A::FINGERPRINT, layout_fingerprint("schema.A", 8, 8));
}
