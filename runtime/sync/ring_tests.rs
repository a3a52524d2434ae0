//! Tests of the SPSC byte ring: order, wrap-around, fullness, and a two-thread
//! stream. Small enough to run under Miri (`cargo miri test -p coremesh ring`).

use super::*;

fn frame(seq: u32, len: usize) -> Vec<u8> {
    let mut f = vec![0u8; len];
    f[..4].copy_from_slice(&(len as u32 - 16).to_le_bytes());
    f[4..8].copy_from_slice(&seq.to_le_bytes());
    f
}

fn read_one(rx: &mut RingRx) -> Option<(u32, usize)> {
    let bytes = rx.peek()?;
    let len = u32::from_le_bytes(bytes[..4].try_into().unwrap()) as usize + 16;
    let seq = u32::from_le_bytes(bytes[4..8].try_into().unwrap());
    assert!(bytes.len() >= len, "a frame was split across the end");
    rx.consume(len);
    Some((seq, len))
}

#[test]
fn bad_capacity_is_refused() {
    assert_eq!(ring(1000).err(), Some(RingError::BadCapacity(1000)));
    assert_eq!(ring(2048).err(), Some(RingError::BadCapacity(2048)));
}

#[test]
fn frames_come_out_in_order_across_wraps() {
    let (mut tx, mut rx) = ring(4096).unwrap();
    let mut next_in = 0u32;
    let mut next_out = 0u32;
    for round in 0..50 {
        let len = 16 * (1 + (round % 7) * 9);
        while tx.try_push(&frame(next_in, len)) {
            next_in += 1;
        }
        assert!(tx.unpublished() > 0);
        tx.publish();
        while let Some((seq, _)) = read_one(&mut rx) {
            assert_eq!(seq, next_out);
            next_out += 1;
        }
        rx.release();
    }
    assert_eq!(next_in, next_out);
    assert!(next_in > 100);
}

#[test]
fn unpublished_frames_are_invisible_and_full_ring_refuses() {
    let (mut tx, mut rx) = ring(4096).unwrap();
    assert!(tx.try_push(&frame(1, 2048)));
    assert!(rx.peek().is_none(), "not yet published");
    assert!(tx.try_push(&frame(2, 2048)));
    assert!(!tx.try_push(&frame(3, 16)), "ring is full");
    tx.publish();
    assert_eq!(read_one(&mut rx), Some((1, 2048)));
    assert!(!tx.try_push(&frame(3, 16)), "consumed but not released");
    rx.release();
    assert!(tx.try_push(&frame(3, 16)));
}

#[test]
fn two_threads_stream_in_order() {
    let (mut tx, mut rx) = ring(4096).unwrap();
    let total: u32 = if cfg!(miri) { 300 } else { 200_000 };
    let producer = std::thread::spawn(move || {
        let mut seq = 0;
        while seq < total {
            let len = 16 * (1 + (seq as usize % 5));
            if tx.try_push(&frame(seq, len)) {
                seq += 1;
                if seq % 8 == 0 {
                    tx.publish();
                }
            } else {
                tx.publish();
                std::thread::yield_now();
            }
        }
        tx.publish();
    });
    let mut expect = 0;
    while expect < total {
        match read_one(&mut rx) {
            Some((seq, _)) => {
                assert_eq!(seq, expect);
                expect += 1;
            }
            None => {
                rx.release();
                std::thread::yield_now();
            }
        }
    }
    producer.join().unwrap();
}
