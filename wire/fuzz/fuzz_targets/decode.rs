//! Fuzz target: `Decoder::decode` on arbitrary bytes, aligned and at every offset.
//!
//! Owns nothing but the harness. It must never assume the input is a frame: any
//! panic, out-of-bounds frame or misaligned payload it finds is a bug in the decoder.
#![no_main]

use coremesh_wire::{aligned_copy, Decoder, FRAME_ALIGN};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // The first byte picks the decoder's limit and the buffer's misalignment.
    let (knob, bytes) = match data.split_first() {
        Some((k, rest)) => (*k, rest),
        None => (0, data),
    };
    let decoder = Decoder::new(if knob & 0x80 != 0 { u32::MAX } else { 1 << 12 });
    let offset = usize::from(knob) % FRAME_ALIGN;

    let mut buf = aligned_copy(&vec![0u8; offset]);
    buf.extend_from_slice(bytes);
    let mut at = offset;
    while at < buf.len() {
        match decoder.decode(&buf[at..]) {
            Ok(Some(frame)) => {
                let left = buf.len() - at;
                assert!(frame.frame_len() <= left);
                assert_eq!(frame.frame_len() % FRAME_ALIGN, 0);
                assert_eq!(frame.payload().len(), frame.header().payload_len as usize);
                assert_eq!(frame.payload().as_ptr() as usize % FRAME_ALIGN, 0);
                at += frame.frame_len();
            }
            Ok(None) | Err(_) => break,
        }
    }
});
