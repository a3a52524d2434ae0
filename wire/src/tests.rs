//! Unit tests of the frame layout, the decoder's checks and the type id rule.
//!
//! Plain synchronous tests over byte buffers; no I/O, no clock, no randomness (the
//! randomized properties live in `wire/tests/prop.rs`).

use crate::rkyv::{self, rancor, util::AlignedVec};
use crate::*;

fn tell(payload_len: u32) -> FrameHeader {
    FrameHeader {
        payload_len,
        kind: FrameKind::Tell,
        core: 3,
        type_id: type_id_of("counter.Add"),
        slot: 17,
        generation: 2,
        corr: 0,
    }
}

fn with_kind(kind: FrameKind, payload_len: u32) -> FrameHeader {
    FrameHeader { kind, corr: 99, ..tell(payload_len) }
}

/// A valid Tick header from node `node` to core 3.
fn tick(node: u64) -> FrameHeader {
    FrameHeader {
        payload_len: 0,
        kind: FrameKind::Tick,
        core: 3,
        type_id: 0,
        slot: 0,
        generation: 0,
        corr: node,
    }
}

const EXT: AskExt =
    AskExt { deadline_unix_ns: 1_700_000_000_123_456_789, reply_node: 0x0123_4567_89ab_cdef, reply_core: 5 };

/// Appends one frame to a 16-aligned buffer.
fn push_frame(buf: &mut AlignedVec<16>, h: &FrameHeader, ext: Option<&AskExt>, payload: &[u8]) {
    let start = buf.len();
    buf.resize(start + h.frame_len(), 0xEE);
    let n = write_frame(&mut buf[start..], h, ext, payload).expect("valid frame");
    assert_eq!(n, h.frame_len());
}

fn one_frame(h: &FrameHeader, ext: Option<&AskExt>, payload: &[u8]) -> AlignedVec<16> {
    let mut buf = AlignedVec::new();
    push_frame(&mut buf, h, ext, payload);
    buf
}

#[test]
fn header_round_trip() {
    for kind in [FrameKind::Tell, FrameKind::Ask, FrameKind::Reply, FrameKind::ReplyError, FrameKind::Tick] {
        let h = FrameHeader {
            payload_len: 0xA1B2_C3D4,
            kind,
            core: 0xBEEF,
            type_id: 0x0102_0304_0506_0708,
            slot: 0x1122_3344,
            generation: 0x5566_7788,
            corr: 0x99AA_BBCC_DDEE_FF00,
        };
        let mut out = [0xFFu8; HEADER_BYTES];
        h.write_to(&mut out);
        assert_eq!(FrameHeader::read_from(&out), Ok(h));
        assert_eq!(&out[0..4], &0xA1B2_C3D4u32.to_le_bytes());
        assert_eq!(out[4], kind as u8);
        assert_eq!(out[5], 0, "flags are written as 0");
        assert_eq!(&out[6..8], &0xBEEFu16.to_le_bytes());
        assert_eq!(&out[8..16], &0x0102_0304_0506_0708u64.to_le_bytes());
        assert_eq!(&out[16..20], &0x1122_3344u32.to_le_bytes());
        assert_eq!(&out[20..24], &0x5566_7788u32.to_le_bytes());
        assert_eq!(&out[24..32], &0x99AA_BBCC_DDEE_FF00u64.to_le_bytes());
    }
}

#[test]
fn ask_ext_round_trip() {
    let mut out = [0xFFu8; ASK_EXT_BYTES];
    EXT.write_to(&mut out);
    assert_eq!(&out[0..8], &EXT.deadline_unix_ns.to_le_bytes());
    assert_eq!(&out[8..16], &EXT.reply_node.to_le_bytes());
    assert_eq!(&out[16..18], &5u16.to_le_bytes());
    assert_eq!(&out[18..32], &[0u8; 14], "reserved bytes are written as 0");
    assert_eq!(AskExt::read_from(&out), Ok(EXT));
    assert_eq!(AskExt::read_from(&[0; 32]), Ok(AskExt::default()));
}

#[test]
fn lengths() {
    assert_eq!(padded_len(0), 0);
    assert_eq!(padded_len(1), 16);
    assert_eq!(padded_len(16), 16);
    assert_eq!(padded_len(17), 32);
    assert_eq!(prefix_len(FrameKind::Tell), 32);
    assert_eq!(prefix_len(FrameKind::Ask), 64);
    assert_eq!(prefix_len(FrameKind::Tick), 32);
    assert_eq!(frame_len(FrameKind::Tick, 0), 32);
    assert_eq!(frame_len(FrameKind::Reply, 5), 48);
    assert_eq!(tell(33).frame_len(), 32 + 48);
}

#[test]
fn write_prefix_checks() {
    let mut out = [0u8; 64];
    let ask = with_kind(FrameKind::Ask, 0);
    assert_eq!(
        write_prefix(&mut out, &ask, None),
        Err(FrameError::AskExtMismatch { kind: FrameKind::Ask, ext_given: false })
    );
    assert_eq!(
        write_prefix(&mut out, &tell(0), Some(&EXT)),
        Err(FrameError::AskExtMismatch { kind: FrameKind::Tell, ext_given: true })
    );
    assert_eq!(
        write_prefix(&mut out[..63], &ask, Some(&EXT)),
        Err(FrameError::BufferTooSmall { needed: 64, got: 63 })
    );
    assert_eq!(
        write_prefix(&mut out, &with_kind(FrameKind::ReplyError, 8), None),
        Err(FrameError::BadErrorPayload { payload_len: 8 })
    );
    assert_eq!(out, [0u8; 64], "nothing written on error");
    write_prefix(&mut out, &ask, Some(&EXT)).unwrap();
    let head: &[u8; 32] = out.first_chunk().unwrap();
    assert_eq!(FrameHeader::read_from(head), Ok(ask));
    let ext: &[u8; 32] = out[32..].first_chunk().unwrap();
    assert_eq!(AskExt::read_from(ext), Ok(EXT));
}

#[test]
fn write_frame_checks() {
    let mut out = [0u8; 64];
    assert_eq!(
        write_frame(&mut out, &tell(3), None, b"ab"),
        Err(FrameError::PayloadLenMismatch { payload_len: 3, actual: 2 })
    );
    assert_eq!(
        write_frame(&mut out[..47], &tell(3), None, b"abc"),
        Err(FrameError::BufferTooSmall { needed: 48, got: 47 })
    );
}

#[test]
fn decodes_each_kind() {
    let d = Decoder::new(DEFAULT_MAX_PAYLOAD_BYTES);
    let buf = one_frame(&tell(5), None, b"hello");
    let f = d.decode(&buf).unwrap().unwrap();
    assert_eq!(*f.header(), tell(5));
    assert_eq!(f.payload(), b"hello");
    assert_eq!(f.frame_len(), 48);
    assert_eq!(f.as_bytes(), &buf[..]);
    assert!(f.ask_ext().is_none());
    assert!(f.reply_error_code().is_none());

    let ask = with_kind(FrameKind::Ask, 16);
    let buf = one_frame(&ask, Some(&EXT), &[7; 16]);
    let f = d.decode(&buf).unwrap().unwrap();
    assert_eq!(f.ask_ext(), Some(&EXT));
    assert_eq!(f.payload(), &[7; 16]);
    assert_eq!(f.payload().as_ptr() as usize % 16, 0);
    assert_eq!(f.frame_len(), 80);

    let err = with_kind(FrameKind::ReplyError, 4);
    let payload = ReplyErrorCode::MailboxFull.to_payload();
    let buf = one_frame(&err, None, &payload);
    let f = d.decode(&buf).unwrap().unwrap();
    assert_eq!(f.reply_error_code(), Some(ReplyErrorCode::MailboxFull));

    let empty = with_kind(FrameKind::Reply, 0);
    let buf = one_frame(&empty, None, &[]);
    let f = d.decode(&buf).unwrap().unwrap();
    assert_eq!((f.payload().len(), f.frame_len()), (0, 32));
}

#[test]
fn truncated_frames_need_more_bytes() {
    let d = Decoder::default();
    let ask = with_kind(FrameKind::Ask, 21);
    let buf = one_frame(&ask, Some(&EXT), &[1; 21]);
    assert_eq!(buf.len(), 96);
    for n in 0..buf.len() {
        assert_eq!(d.decode(&buf[..n]), Ok(None), "prefix of {n} bytes");
    }
    assert!(d.decode(&buf).unwrap().is_some());
}

#[test]
fn back_to_back_frames() {
    let d = Decoder::new(1024);
    let mut buf = AlignedVec::<16>::new();
    push_frame(&mut buf, &tell(1), None, b"a");
    push_frame(&mut buf, &with_kind(FrameKind::Ask, 40), Some(&EXT), &[9; 40]);
    push_frame(&mut buf, &with_kind(FrameKind::Reply, 16), None, &[3; 16]);
    let code = ReplyErrorCode::UnknownActor.to_payload();
    push_frame(&mut buf, &with_kind(FrameKind::ReplyError, 4), None, &code);
    push_frame(&mut buf, &tell(0), None, &[]);
    push_frame(&mut buf, &tick(9), None, &[]);
    let mut at = 0;
    let mut kinds = Vec::new();
    while let Some(f) = d.decode(&buf[at..]).unwrap() {
        assert_eq!(f.payload().as_ptr() as usize % 16, 0);
        kinds.push((f.header().kind, f.payload().len()));
        at += f.frame_len();
    }
    assert_eq!(at, buf.len());
    assert_eq!(
        kinds,
        [
            (FrameKind::Tell, 1),
            (FrameKind::Ask, 40),
            (FrameKind::Reply, 16),
            (FrameKind::ReplyError, 4),
            (FrameKind::Tell, 0),
            (FrameKind::Tick, 0),
        ]
    );
}

#[test]
fn unknown_kind() {
    let mut buf = one_frame(&tell(0), None, &[]);
    for kind in [0u8, 6, 0xFF] {
        buf[4] = kind;
        assert_eq!(Decoder::default().decode(&buf), Err(FrameError::UnknownKind { kind }));
    }
    assert_eq!(
        FrameError::UnknownKind { kind: 6 }.to_string(),
        "unknown frame kind 6 (expected 1 Tell, 2 Ask, 3 Reply, 4 ReplyError or 5 Tick)"
    );
}

#[test]
fn reserved_flags() {
    let mut buf = one_frame(&tell(0), None, &[]);
    buf[5] = 0x80;
    let e = Decoder::default().decode(&buf).unwrap_err();
    assert_eq!(e, FrameError::ReservedFlags { flags: 0x80 });
    assert_eq!(e.to_string(), "frame flags 0x80 are reserved and must be 0");
}

#[test]
fn too_large_as_soon_as_header_is_present() {
    let d = Decoder::new(DEFAULT_MAX_PAYLOAD_BYTES);
    let mut head = [0u8; HEADER_BYTES];
    tell(9_000_000).write_to(&mut head);
    let buf = aligned_copy(&head);
    let e = d.decode(&buf).unwrap_err();
    assert_eq!(e, FrameError::TooLarge { payload_len: 9_000_000, max: 4_194_304 });
    assert_eq!(e.to_string(), "frame payload length 9000000 exceeds the maximum 4194304");
    // The limit itself is accepted (the frame is merely incomplete).
    tell(DEFAULT_MAX_PAYLOAD_BYTES).write_to(&mut head);
    assert_eq!(d.decode(&aligned_copy(&head)), Ok(None));
    // u32::MAX with an unlimited decoder is incomplete, not an overflow.
    tell(u32::MAX).write_to(&mut head);
    assert_eq!(Decoder::new(u32::MAX).decode(&aligned_copy(&head)), Ok(None));
}

#[test]
fn misaligned() {
    let mut buf = AlignedVec::<16>::new();
    buf.resize(1, 0);
    push_frame(&mut buf, &tell(0), None, &[]);
    assert_eq!(Decoder::default().decode(&buf[1..]), Err(FrameError::Misaligned { addr_mod_16: 1 }));
    // An empty buffer has no frame start, whatever its address.
    assert_eq!(Decoder::default().decode(&buf[1..1]), Ok(None));
}

#[test]
fn reserved_bytes() {
    let ask = with_kind(FrameKind::Ask, 0);
    for at in 50..64 {
        let mut buf = one_frame(&ask, Some(&EXT), &[]);
        buf[at] = 1;
        assert_eq!(
            Decoder::default().decode(&buf[..HEADER_BYTES + ASK_EXT_BYTES]),
            Err(FrameError::ReservedBytes),
            "byte {at}, checked as soon as the extension is present"
        );
    }
}

#[test]
fn non_zero_padding() {
    let mut buf = one_frame(&tell(3), None, b"abc");
    for at in 35..48 {
        buf[at] = 1;
        assert_eq!(Decoder::default().decode(&buf), Err(FrameError::NonZeroPadding));
        buf[at] = 0;
    }
    assert!(Decoder::default().decode(&buf).unwrap().is_some());
}

#[test]
fn bad_error_payload() {
    // Built by hand: write_frame refuses to write this frame.
    let mut head = [0u8; HEADER_BYTES];
    with_kind(FrameKind::ReplyError, 8).write_to(&mut head);
    let e = Decoder::default().decode(&aligned_copy(&head)).unwrap_err();
    assert_eq!(e, FrameError::BadErrorPayload { payload_len: 8 });
    assert_eq!(ReplyErrorCode::from_payload(&[1, 0, 0]), Err(FrameError::BadErrorPayload { payload_len: 3 }));
}

#[test]
fn unknown_error_code() {
    let err = with_kind(FrameKind::ReplyError, 4);
    let buf = one_frame(&err, None, &8u32.to_le_bytes());
    assert_eq!(Decoder::default().decode(&buf), Err(FrameError::UnknownErrorCode { code: 8 }));
    assert_eq!(ReplyErrorCode::from_u32(0), Err(FrameError::UnknownErrorCode { code: 0 }));
    for code in 1..=7 {
        assert_eq!(ReplyErrorCode::from_u32(code).unwrap().as_u32(), code);
    }
}

#[test]
fn decodes_a_tick_at_the_boundaries() {
    let d = Decoder::default();
    for (core, node) in [(0, 0), (u16::MAX, u64::MAX), (3, 0x0123_4567_89ab_cdef)] {
        let h = FrameHeader { core, ..tick(node) };
        let buf = one_frame(&h, None, &[]);
        assert_eq!(buf.len(), 32);
        for n in 0..32 {
            assert_eq!(d.decode(&buf[..n]), Ok(None), "prefix of {n} bytes");
        }
        let f = d.decode(&buf).unwrap().unwrap();
        assert_eq!(f.header(), &h);
        assert_eq!((f.payload().len(), f.frame_len()), (0, 32));
        assert!(f.ask_ext().is_none() && f.reply_error_code().is_none());
    }
    // Even a decoder that takes no payload at all takes a tick.
    assert!(Decoder::new(0).decode(&one_frame(&tick(1), None, &[])).unwrap().is_some());
}

/// A Tick header with one field changed, written by hand: the writers refuse it.
fn bad_tick(change: impl FnOnce(&mut FrameHeader)) -> AlignedVec<16> {
    let mut h = tick(0xA);
    change(&mut h);
    let mut head = [0u8; HEADER_BYTES];
    h.write_to(&mut head);
    aligned_copy(&head)
}

#[test]
fn tick_with_a_payload_is_refused_as_soon_as_the_header_is_present() {
    for payload_len in [1u32, 15, 16, 4096, DEFAULT_MAX_PAYLOAD_BYTES] {
        let buf = bad_tick(|h| h.payload_len = payload_len);
        let e = Decoder::default().decode(&buf).unwrap_err();
        assert_eq!(e, FrameError::BadTickPayload { payload_len });
    }
    // With the payload bytes present too.
    let mut buf = bad_tick(|h| h.payload_len = 16);
    buf.extend_from_slice(&[0; 16]);
    assert_eq!(Decoder::default().decode(&buf), Err(FrameError::BadTickPayload { payload_len: 16 }));
    // A length over the decoder's limit is TooLarge first, as for every kind.
    let buf = bad_tick(|h| h.payload_len = u32::MAX);
    let e = Decoder::default().decode(&buf).unwrap_err();
    assert_eq!(e, FrameError::TooLarge { payload_len: u32::MAX, max: DEFAULT_MAX_PAYLOAD_BYTES });
    assert_eq!(
        FrameError::BadTickPayload { payload_len: 16 }.to_string(),
        "tick frame payload length 16 must be 0"
    );
}

#[test]
fn tick_with_a_nonzero_type_id_slot_or_generation_is_refused() {
    type Change = fn(&mut FrameHeader);
    let cases: [(&str, Change, u64); 6] = [
        ("type_id", |h| h.type_id = 1, 1),
        ("type_id", |h| h.type_id = u64::MAX, u64::MAX),
        ("slot", |h| h.slot = 1, 1),
        ("slot", |h| h.slot = u32::MAX, u64::from(u32::MAX)),
        ("generation", |h| h.generation = 1, 1),
        ("generation", |h| h.generation = u32::MAX, u64::from(u32::MAX)),
    ];
    for (field, change, value) in cases {
        let e = Decoder::default().decode(&bad_tick(change)).unwrap_err();
        assert_eq!(e, FrameError::TickFieldNotZero { field, value });
        assert_eq!(e.to_string(), format!("tick frame field {field} is {value}, must be 0"));
    }
    // Checked in order: the payload, then type_id, slot, generation.
    let all = |h: &mut FrameHeader| {
        h.payload_len = 1;
        h.type_id = 2;
        h.slot = 3;
        h.generation = 4;
    };
    assert_eq!(Decoder::default().decode(&bad_tick(all)), Err(FrameError::BadTickPayload { payload_len: 1 }));
    let fields = |h: &mut FrameHeader| {
        h.slot = 3;
        h.generation = 4;
    };
    let e = FrameError::TickFieldNotZero { field: "slot", value: 3 };
    assert_eq!(Decoder::default().decode(&bad_tick(fields)), Err(e));
}

#[test]
fn writers_refuse_a_bad_tick_and_write_nothing() {
    let mut out = [0u8; 64];
    let with_payload = FrameHeader { payload_len: 16, ..tick(1) };
    assert_eq!(
        write_prefix(&mut out, &with_payload, None),
        Err(FrameError::BadTickPayload { payload_len: 16 })
    );
    assert_eq!(
        write_frame(&mut out, &with_payload, None, &[1; 16]),
        Err(FrameError::BadTickPayload { payload_len: 16 })
    );
    let with_type = FrameHeader { type_id: 7, ..tick(1) };
    let e = FrameError::TickFieldNotZero { field: "type_id", value: 7 };
    assert_eq!(write_frame(&mut out, &with_type, None, &[]), Err(e));
    assert_eq!(
        write_prefix(&mut out, &tick(1), Some(&EXT)),
        Err(FrameError::AskExtMismatch { kind: FrameKind::Tick, ext_given: true })
    );
    assert_eq!(out, [0u8; 64], "nothing written on error");
    assert_eq!(write_frame(&mut out, &tick(1), None, &[]), Ok(32));
}

#[test]
fn buffer_too_small_message() {
    let e = FrameError::BufferTooSmall { needed: 48, got: 40 };
    assert_eq!(e.to_string(), "buffer too small: 48 bytes needed, 40 available");
}

#[test]
fn type_id_is_stable_and_const() {
    // FNV-1a 64 of "counter.Add", computed by hand (offset basis 0xcbf29ce484222325,
    // prime 0x100000001b3). Changing it changes the wire protocol.
    const COUNTER_ADD: u64 = type_id_of("counter.Add");
    const _: () = assert!(COUNTER_ADD == 0xd7f2_8c2b_d56f_e4a2);
    assert_eq!(COUNTER_ADD, 0xd7f2_8c2b_d56f_e4a2);
    assert_eq!(type_id_of(""), 0xcbf2_9ce4_8422_2325);
    // Published FNV-1a 64 test vector.
    assert_eq!(type_id_of("a"), 0xaf63_dc4c_8601_ec8c);
}

#[test]
fn system_message_type_ids_are_the_ones_format_md_lists() {
    for (name, id) in [
        ("coremesh.sys.Spawn", 0xb460_6fa8_ff16_d961),
        ("coremesh.sys.Lookup", 0xaf0b_f730_caa8_b5fc),
        ("coremesh.sys.Watch", 0xaa1f_9498_11f0_0a21),
        ("coremesh.sys.Unwatch", 0x226f_3acd_b557_fd64),
        ("coremesh.sys.Down", 0x1fe6_59dd_80eb_e2b2),
        ("coremesh.ActorDown", 0xb1ff_9857_d888_16ac),
        ("coremesh.NodeDown", 0x799f_b307_e443_a437),
    ] {
        assert_eq!(type_id_of(name), id, "{name}");
        let written = format!("`{id:#018x}`");
        assert!(FORMAT_MD.contains(&written), "FORMAT.md lacks {name} = {written}");
    }
}

/// The page that documents these values.
const FORMAT_MD: &str = include_str!("../FORMAT.md");

#[derive(rkyv::Archive, rkyv::Serialize, Debug, PartialEq)]
struct Add {
    by: u64,
    label: String,
}

#[test]
fn check_archived_accepts_valid_and_refuses_garbage() {
    let msg = Add { by: 42, label: "forty-two".into() };
    let bytes = rkyv::to_bytes::<rancor::Error>(&msg).unwrap();
    let h = FrameHeader { type_id: type_id_of("counter.Add"), ..tell(u32::try_from(bytes.len()).unwrap()) };
    let buf = one_frame(&h, None, &bytes);
    let f = Decoder::default().decode(&buf).unwrap().unwrap();
    let a = check_archived::<Add>(f.payload()).unwrap();
    assert_eq!(a.by, 42);
    assert_eq!(a.label, "forty-two");

    // The out-of-line label bytes come first; make them invalid UTF-8.
    let mut bad = aligned_copy(f.payload());
    assert_eq!(&bad[..9], b"forty-two");
    bad[0] = 0xFF;
    let Err(e) = check_archived::<Add>(&bad) else {
        panic!("a label that is not UTF-8 must be refused");
    };
    assert!(e.to_string().starts_with("archived payload failed validation: "));
    assert!(check_archived::<Add>(&[]).is_err());
}

#[test]
fn untrusted_flag_is_local_only() {
    let header = FrameHeader {
        payload_len: 8,
        kind: FrameKind::Tell,
        core: 1,
        type_id: 7,
        slot: 2,
        generation: 3,
        corr: 0,
    };
    let mut buf = aligned_copy(&[0u8; 48]);
    write_frame(&mut buf, &header, None, &[1; 8]).unwrap();
    let dec = Decoder::default();
    assert!(!dec.decode_local(&buf).unwrap().is_untrusted());
    set_local_flags(&mut buf, FLAG_UNTRUSTED);
    let local = dec.decode_local(&buf).unwrap();
    assert!(local.is_untrusted());
    assert_eq!(local.header(), &header);
    // A peer may never send it.
    assert_eq!(dec.decode(&buf), Err(FrameError::ReservedFlags { flags: FLAG_UNTRUSTED }));
}
