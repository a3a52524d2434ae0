//! Unit tests of the fixed-size frame builders: each frame is byte for byte what
//! `write_frame` makes of the same header, the network decoder accepts it, and the
//! fields read back are the ones given, at the boundary values of each field.

use crate::*;

const CODES: [ReplyErrorCode; 7] = [
    ReplyErrorCode::UnknownActor,
    ReplyErrorCode::UnknownType,
    ReplyErrorCode::ActorStopped,
    ReplyErrorCode::DeadlineExpired,
    ReplyErrorCode::HandlerFailed,
    ReplyErrorCode::MailboxFull,
    ReplyErrorCode::ReplyDropped,
];
const CORES: [u16; 3] = [0, 1, u16::MAX];
const IDS: [u64; 4] = [0, 1, 0x0123_4567_89AB_CDEF, u64::MAX];

#[test]
fn reply_error_frame_is_the_documented_48_bytes_and_decodes() {
    for code in CODES {
        for core in CORES {
            for corr in IDS {
                let frame = reply_error_frame(core, corr, code);
                let header = FrameHeader {
                    payload_len: 4,
                    kind: FrameKind::ReplyError,
                    core,
                    type_id: 0,
                    slot: 0,
                    generation: 0,
                    corr,
                };
                let mut expected = [0xEEu8; 48];
                assert_eq!(write_frame(&mut expected, &header, None, &code.to_payload()), Ok(48));
                assert_eq!(frame, expected);
                assert_eq!(&frame[32..36], &code.as_u32().to_le_bytes(), "code at offset 32");
                assert_eq!(&frame[36..48], &[0u8; 12], "zero padding to 48");

                let buf = aligned_copy(&frame);
                let f = Decoder::default().decode(&buf).unwrap().expect("a whole frame");
                assert_eq!(f.header(), &header);
                assert_eq!(f.frame_len(), REPLY_ERROR_FRAME_BYTES);
                assert_eq!(f.reply_error_code(), Some(code));
                assert_eq!(reply_error_code(f.payload()), Ok(code));
                assert!(f.ask_ext().is_none());
            }
        }
    }
}

#[test]
fn tick_frame_is_a_bare_header_and_decodes() {
    for core in CORES {
        for node in IDS {
            let frame = tick_frame(core, node);
            let header = FrameHeader {
                payload_len: 0,
                kind: FrameKind::Tick,
                core,
                type_id: 0,
                slot: 0,
                generation: 0,
                corr: node,
            };
            let mut expected = [0xEEu8; 32];
            assert_eq!(write_frame(&mut expected, &header, None, &[]), Ok(32));
            assert_eq!(frame, expected);
            assert_eq!(frame[4], 5, "kind Tick");
            assert_eq!(&frame[0..4], &[0u8; 4], "payload_len 0");
            assert_eq!(&frame[6..8], &core.to_le_bytes());
            assert_eq!(&frame[8..24], &[0u8; 16], "type_id, slot and generation 0");
            assert_eq!(&frame[24..32], &node.to_le_bytes(), "the sender's node id in corr");

            let buf = aligned_copy(&frame);
            let f = Decoder::default().decode(&buf).unwrap().expect("a whole frame");
            assert_eq!(f.header(), &header);
            assert_eq!((f.payload(), f.frame_len()), (&[][..], TICK_FRAME_BYTES));
            assert!(f.ask_ext().is_none());
            assert!(f.reply_error_code().is_none());
            // A frame of this process (a ring between cores) reads the same.
            assert_eq!(Decoder::default().decode_local(&buf).map(|f| *f.header()), Some(header));
        }
    }
}

#[test]
fn built_frames_decode_back_to_back() {
    let mut buf = aligned_copy(&tick_frame(0, 7));
    buf.extend_from_slice(&reply_error_frame(1, 8, ReplyErrorCode::DeadlineExpired));
    buf.extend_from_slice(&tick_frame(2, 9));
    let d = Decoder::default();
    let mut at = 0;
    let mut seen = Vec::new();
    while let Some(f) = d.decode(&buf[at..]).unwrap() {
        seen.push((f.header().kind, f.header().core, f.header().corr));
        at += f.frame_len();
    }
    assert_eq!(at, buf.len());
    assert_eq!(seen, [(FrameKind::Tick, 0, 7), (FrameKind::ReplyError, 1, 8), (FrameKind::Tick, 2, 9)]);
}

#[test]
fn reply_error_code_reads_exactly_four_known_bytes() {
    for code in CODES {
        assert_eq!(reply_error_code(&code.to_payload()), Ok(code));
    }
    for len in [0usize, 1, 2, 3, 5, 16] {
        let payload = vec![1u8; len];
        let error = FrameError::BadErrorPayload { payload_len: len as u32 };
        assert_eq!(reply_error_code(&payload), Err(error), "{len} bytes");
    }
    for code in [0u32, 8, u32::MAX] {
        assert_eq!(reply_error_code(&code.to_le_bytes()), Err(FrameError::UnknownErrorCode { code }));
    }
}
