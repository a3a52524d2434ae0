//! Property tests of the decoder: it never panics on any byte string, every frame it
//! returns lies inside the buffer, encode → decode round-trips every valid frame
//! (the fixed-size `ReplyError` and `Tick` frames from their builders included), and a
//! `Tick` that breaks its field rules is refused with the error naming the field; and
//! the handshake's type tables: any two random tables are accepted exactly when no
//! type id both hold has two fingerprints, and otherwise refused naming the first such
//! id, with the Hello carrying each table as FORMAT.md lays it out.
//!
//! Randomness comes from proptest, which prints the failing seed and keeps it in
//! `proptest-regressions/` so a failure replays.

use coremesh_wire::rkyv::util::AlignedVec;
use coremesh_wire::*;
use proptest::prelude::*;

/// Decodes `buf` frame by frame until it needs more bytes or errors, checking that
/// every frame lies inside what is left of the buffer.
fn decode_all(d: &Decoder, buf: &[u8]) {
    let mut at = 0;
    while at < buf.len() {
        match d.decode(&buf[at..]) {
            Ok(Some(f)) => {
                let left = buf.len() - at;
                assert!(f.frame_len() <= left);
                assert!(f.frame_len() >= HEADER_BYTES);
                assert_eq!(f.frame_len() % FRAME_ALIGN, 0);
                assert!(f.payload().len() <= d.max_payload_bytes() as usize);
                assert_eq!(f.payload().len(), f.header().payload_len as usize);
                assert!(prefix_len(f.header().kind) + f.payload().len() <= f.frame_len());
                assert_eq!(f.payload().as_ptr() as usize % FRAME_ALIGN, 0);
                assert_eq!(f.ask_ext().is_some(), f.header().kind == FrameKind::Ask);
                if f.header().kind == FrameKind::Tick {
                    let h = f.header();
                    assert_eq!((h.payload_len, h.type_id, h.slot, h.generation), (0, 0, 0, 0));
                    assert_eq!(f.frame_len(), TICK_FRAME_BYTES);
                }
                at += f.frame_len();
            }
            Ok(None) | Err(_) => return,
        }
    }
}

fn kind() -> impl Strategy<Value = FrameKind> {
    prop_oneof![
        Just(FrameKind::Tell),
        Just(FrameKind::Ask),
        Just(FrameKind::Reply),
        Just(FrameKind::ReplyError),
        Just(FrameKind::Tick),
    ]
}

/// Any value, with the boundaries (0, 1, the maximum) drawn often.
fn edgy_u64() -> impl Strategy<Value = u64> {
    prop_oneof![Just(0), Just(1), Just(u64::MAX), any::<u64>()]
}

fn edgy_u16() -> impl Strategy<Value = u16> {
    prop_oneof![Just(0), Just(1), Just(u16::MAX), any::<u16>()]
}

fn code() -> impl Strategy<Value = ReplyErrorCode> {
    (1u32..=7).prop_map(|c| ReplyErrorCode::from_u32(c).expect("codes 1..=7 exist"))
}

/// A valid frame: header, extension when `Ask`, payload of the header's length; a
/// `Tick` has no payload and zero type id, slot and generation.
fn frame() -> impl Strategy<Value = (FrameHeader, Option<AskExt>, Vec<u8>)> {
    (
        kind(),
        any::<u16>(),
        any::<u64>(),
        any::<u32>(),
        any::<u32>(),
        any::<u64>(),
        any::<(u64, u16)>(),
        proptest::collection::vec(any::<u8>(), 0..200),
        1u32..=7,
    )
        .prop_map(|(kind, core, type_id, slot, generation, corr, (deadline, rc), payload, code)| {
            let payload = match kind {
                FrameKind::ReplyError => code.to_le_bytes().to_vec(),
                FrameKind::Tick => Vec::new(),
                _ => payload,
            };
            let header = FrameHeader {
                payload_len: payload.len() as u32,
                kind,
                core,
                type_id,
                slot,
                generation,
                corr,
            };
            let header = match kind {
                FrameKind::Tick => FrameHeader { type_id: 0, slot: 0, generation: 0, ..header },
                _ => header,
            };
            let ext = (kind == FrameKind::Ask).then_some(AskExt {
                deadline_unix_ns: deadline,
                reply_node: deadline.rotate_left(7),
                reply_core: rc,
            });
            (header, ext, payload)
        })
}

proptest! {
    #[test]
    fn decode_never_panics_aligned(bytes in proptest::collection::vec(any::<u8>(), 0..512),
                                   max in prop_oneof![Just(u32::MAX), 0u32..256]) {
        let d = Decoder::new(max);
        decode_all(&d, &aligned_copy(&bytes));
    }

    #[test]
    fn decode_never_panics_at_any_offset(bytes in proptest::collection::vec(any::<u8>(), 0..512),
                                         offset in 0usize..16) {
        let mut buf = AlignedVec::<16>::new();
        buf.resize(offset, 0);
        buf.extend_from_slice(&bytes);
        let d = Decoder::default();
        let r = d.decode(&buf[offset..]);
        if offset != 0 && !bytes.is_empty() {
            prop_assert_eq!(r, Err(FrameError::Misaligned { addr_mod_16: offset }));
        }
        decode_all(&d, &buf[offset..]);
    }

    /// Random bytes behind a plausible header reach the later checks, not only the
    /// kind byte.
    #[test]
    fn decode_never_panics_behind_valid_header((h, ext, _) in frame(),
                                               len in 0u32..300,
                                               tail in proptest::collection::vec(any::<u8>(), 0..400)) {
        let mut head = [0u8; HEADER_BYTES];
        FrameHeader { payload_len: len, ..h }.write_to(&mut head);
        let mut bytes = head.to_vec();
        if let Some(ext) = ext {
            let mut e = [0u8; ASK_EXT_BYTES];
            ext.write_to(&mut e);
            bytes.extend_from_slice(&e);
        }
        bytes.extend_from_slice(&tail);
        decode_all(&Decoder::new(256), &aligned_copy(&bytes));
    }

    #[test]
    fn encode_decode_round_trip(frames in proptest::collection::vec(frame(), 1..8)) {
        let mut buf = AlignedVec::<16>::new();
        for (h, ext, payload) in &frames {
            let start = buf.len();
            buf.resize(start + h.frame_len(), 0xAB);
            let n = write_frame(&mut buf[start..], h, ext.as_ref(), payload).unwrap();
            prop_assert_eq!(n, h.frame_len());
        }
        let d = Decoder::new(1024);
        let mut at = 0;
        for (h, ext, payload) in &frames {
            // Every proper prefix of the frame is "need more bytes".
            let end = at + h.frame_len();
            for cut in [at + 1, at + HEADER_BYTES - 1, at + HEADER_BYTES, end - 1] {
                if cut > at && cut < end {
                    prop_assert_eq!(d.decode(&buf[at..cut]), Ok(None));
                }
            }
            let f = d.decode(&buf[at..]).unwrap().unwrap();
            prop_assert_eq!(f.header(), h);
            prop_assert_eq!(f.ask_ext(), ext.as_ref());
            prop_assert_eq!(f.payload(), &payload[..]);
            prop_assert_eq!(f.frame_len(), h.frame_len());
            at = end;
        }
        prop_assert_eq!(at, buf.len());
    }

    #[test]
    fn tick_frame_round_trips(core in edgy_u16(), node in edgy_u64()) {
        let buf = aligned_copy(&tick_frame(core, node));
        let f = Decoder::default().decode(&buf).unwrap().expect("a whole frame");
        let expected = FrameHeader {
            payload_len: 0,
            kind: FrameKind::Tick,
            core,
            type_id: 0,
            slot: 0,
            generation: 0,
            corr: node,
        };
        prop_assert_eq!(f.header(), &expected);
        prop_assert_eq!(f.frame_len(), TICK_FRAME_BYTES);
        for cut in 0..TICK_FRAME_BYTES {
            prop_assert_eq!(Decoder::default().decode(&buf[..cut]), Ok(None));
        }
    }

    #[test]
    fn reply_error_frame_round_trips(core in edgy_u16(), corr in edgy_u64(), code in code()) {
        let buf = aligned_copy(&reply_error_frame(core, corr, code));
        let f = Decoder::default().decode(&buf).unwrap().expect("a whole frame");
        let h = f.header();
        prop_assert_eq!((h.kind, h.core, h.corr), (FrameKind::ReplyError, core, corr));
        prop_assert_eq!((h.payload_len, h.type_id, h.slot, h.generation), (4, 0, 0, 0));
        prop_assert_eq!(f.frame_len(), REPLY_ERROR_FRAME_BYTES);
        prop_assert_eq!(reply_error_code(f.payload()), Ok(code));
        prop_assert_eq!(f.reply_error_code(), Some(code));
    }

    /// A Tick header with a payload or a nonzero type id, slot or generation is refused
    /// as soon as its 32 bytes are in, with the first broken rule named: the payload
    /// length, then type_id, slot, generation.
    #[test]
    fn tick_breaking_its_rules_is_refused(core in any::<u16>(), node in any::<u64>(),
                                         payload_len in prop_oneof![Just(0u32), Just(1), 1u32..=4096],
                                         type_id in prop_oneof![Just(0u64), Just(u64::MAX), any::<u64>()],
                                         slot in prop_oneof![Just(0u32), Just(u32::MAX), any::<u32>()],
                                         generation in prop_oneof![Just(0u32), Just(u32::MAX), any::<u32>()]) {
        let h = FrameHeader { payload_len, kind: FrameKind::Tick, core, type_id, slot, generation, corr: node };
        let mut head = [0u8; HEADER_BYTES];
        h.write_to(&mut head);
        let expected = if payload_len != 0 {
            Err(FrameError::BadTickPayload { payload_len })
        } else if type_id != 0 {
            Err(FrameError::TickFieldNotZero { field: "type_id", value: type_id })
        } else if slot != 0 {
            Err(FrameError::TickFieldNotZero { field: "slot", value: u64::from(slot) })
        } else if generation != 0 {
            Err(FrameError::TickFieldNotZero { field: "generation", value: u64::from(generation) })
        } else {
            Ok(())
        };
        let decoded = Decoder::default().decode(&aligned_copy(&head)).map(|f| {
            assert_eq!(f.map(|f| *f.header()), Some(h));
        });
        prop_assert_eq!(&decoded, &expected);
        // The writers keep the same rules.
        let mut out = [0u8; 64];
        prop_assert_eq!(write_prefix(&mut out, &h, None), expected);
    }

    #[test]
    fn reply_error_code_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..8)) {
        let read = reply_error_code(&bytes);
        match bytes.first_chunk::<4>() {
            Some(c) if bytes.len() == 4 => prop_assert_eq!(read, ReplyErrorCode::from_u32(u32::from_le_bytes(*c))),
            _ => prop_assert_eq!(read, Err(FrameError::BadErrorPayload { payload_len: bytes.len() as u32 })),
        }
    }
}

/// Stable names from a small pool, so that random tables share type ids often.
const NAMES: [&str; 6] = ["p.A", "p.B", "p.C", "p.D", "p.E", "p.F"];

/// A random table: a subset of `NAMES`, each with a fingerprint from {1, 2} (so two
/// tables that share a type agree on it half of the time).
fn table() -> impl Strategy<Value = TypeTable> {
    proptest::collection::vec(proptest::option::of(1u64..=2), NAMES.len()).prop_map(|fps| {
        let entries = NAMES.iter().zip(fps).filter_map(|(&name, fp)| {
            fp.map(|fingerprint| TypeEntry { type_id: type_id_of(name), fingerprint, name })
        });
        TypeTable::new(entries).expect("distinct names, at most 6")
    })
}

fn info(node_id: u64, type_table: TypeTable) -> LocalInfo {
    LocalInfo {
        node_id,
        cores: 1,
        core: 0,
        target_core: 0,
        type_table,
        cluster: "prop".into(),
        advert: Vec::new(),
    }
}

/// Feeds `bytes` to `hs` whole: (result, what it wrote).
fn feed(hs: &mut Handshake, bytes: &[u8]) -> (Result<(usize, Progress), HandshakeError>, Vec<u8>) {
    let mut out = Vec::new();
    let r = hs.on_bytes(bytes, &mut out);
    (r, out)
}

proptest! {
    #[test]
    fn type_tables_are_refused_exactly_on_a_shared_type_with_two_fingerprints(
        ours in table(), theirs in table()
    ) {
        let mut c_hello = Vec::new();
        let mut c = Handshake::client(info(1, ours.clone()), b"k", [1; 32], &mut c_hello).unwrap();
        // The client's Hello carries its table after the advert (empty here): count, entries.
        let at = 67 + "prop".len() + 2;
        prop_assert_eq!(&c_hello[26..34], &FORMAT_HASH.to_le_bytes());
        prop_assert_eq!(&c_hello[at..at + 2], &(ours.entries().len() as u16).to_le_bytes());
        for (i, e) in ours.entries().iter().enumerate() {
            let e_at = at + 2 + 16 * i;
            prop_assert_eq!(&c_hello[e_at..e_at + 8], &e.type_id.to_le_bytes());
            prop_assert_eq!(&c_hello[e_at + 8..e_at + 16], &e.fingerprint.to_le_bytes());
        }
        let mut s = Handshake::server(info(2, theirs.clone()), b"k", [2; 32]);
        let (r, s_hello) = feed(&mut s, &c_hello);
        match theirs.first_conflict(&ours) {
            Some((entry, fingerprint)) => {
                let error = HandshakeError::TypeTable {
                    type_id: entry.type_id,
                    name: entry.name,
                    ours: entry.fingerprint,
                    theirs: fingerprint,
                };
                prop_assert_eq!(r, Err(error));
                let (r, _) = feed(&mut c, &s_hello);
                prop_assert_eq!(r, Err(HandshakeError::Refused { reason: RefuseReason::TypeTable }));
                // The conflict is symmetric: the client would have found the same id.
                prop_assert_eq!(ours.first_conflict(&theirs).map(|(e, _)| e.type_id), Some(entry.type_id));
            }
            None => {
                prop_assert_eq!(r, Ok((c_hello.len(), Progress::NeedMore)));
                let (r, proof) = feed(&mut c, &s_hello);
                prop_assert_eq!(r, Ok((s_hello.len(), Progress::NeedMore)));
                let (r, accept) = feed(&mut s, &proof);
                prop_assert!(matches!(r, Ok((_, Progress::Done(ref p))) if p.node_id == 1));
                let (r, _) = feed(&mut c, &accept);
                prop_assert!(matches!(r, Ok((_, Progress::Done(ref p))) if p.node_id == 2));
            }
        }
    }
}
