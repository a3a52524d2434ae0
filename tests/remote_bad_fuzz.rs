//! A seeded mutation fuzzer over authenticated frames (`raw_peer`): a valid
//! Tell, Ask, Reply or ReplyError, then one mutation (flipped bits anywhere,
//! or one header or ask-extension field set to a boundary value), sent on its
//! own authenticated connection, which the peer then half-closes. Whatever a
//! case does, the node must neither panic nor hang: every connection ends
//! (an answer, an error reply, or the node closing it), and every core still
//! answers asks afterwards. The seed is fixed, so a failure replays; a failing
//! case prints its number and bytes.

mod raw_peer;

use std::io::{ErrorKind, Read, Write};
use std::net::Shutdown;
use std::time::Instant;

use coremesh::wire::{type_id_of, AskExt, FrameHeader, FrameKind, ReplyErrorCode};
use coremesh::CoreId;
use raw_peer::*;

/// How many cases one run sends.
const CASES: u64 = 2_000;
/// The seed: change it to explore, keep it to replay.
const SEED: u64 = 0x5EED_C0DE_F00D_0001;

/// xorshift64*: small, seeded, good enough to pick mutations.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn pick<T: Copy>(&mut self, xs: &[T]) -> T {
        xs[self.below(xs.len() as u64) as usize]
    }
}

/// A well-formed frame of a random kind, for `fx`'s counter or stray.
fn base(rng: &mut Rng, fx: &Fixture, me: u64, corr: u64) -> Vec<u8> {
    let p = add_payload(rng.below(3));
    let ask = fx.ask_header(corr, p.len());
    // The way back: the peer itself, "the sender" (0), or the node itself.
    let reply_node = rng.pick(&[me, 0, fx.node.id().0]);
    let ext = AskExt { deadline_unix_ns: 0, reply_node, reply_core: 0 };
    match rng.below(4) {
        0 => frame(&ask, Some(&ext), &p),
        1 => frame(&FrameHeader { kind: FrameKind::Tell, corr: 0, ..ask }, None, &p),
        2 => {
            let h = FrameHeader { kind: FrameKind::Reply, type_id: 0, slot: 0, generation: 0, ..ask };
            frame(&h, None, &p)
        }
        _ => coremesh::wire::reply_error_frame(0, corr, ReplyErrorCode::HandlerFailed).to_vec(),
    }
}

/// Sets the `width`-byte little-endian field at `at` to `value`, if the frame is that long.
fn set(frame: &mut [u8], at: usize, width: usize, value: u64) {
    if let Some(field) = frame.get_mut(at..at + width) {
        field.copy_from_slice(&value.to_le_bytes()[..width]);
    }
}

/// One mutation: flipped bits, or a header / ask-extension field at a boundary.
fn mutate(rng: &mut Rng, frame: &mut Vec<u8>, node: u64, me: u64) {
    let edges = [0, 1, 2, 9, 0xff, 0xffff, u64::from(u32::MAX), u64::MAX, node, me, rng.next()];
    match rng.below(12) {
        0..=2 => {
            for _ in 0..=rng.below(4) {
                let at = rng.below(frame.len() as u64) as usize;
                frame[at] ^= 1 << rng.below(8);
            }
        }
        // Header: payload_len, kind, flags, core, type_id, slot, generation, corr.
        3 => set(frame, 0, 4, rng.pick(&[0, 1, 8, 15, 17, 4 << 20, (4 << 20) + 1, u64::from(u32::MAX)])),
        4 => set(frame, 4, 1, rng.below(256)),
        5 => set(frame, 5, 1, rng.pick(&[1, 2, 0x80, 0xff])),
        6 => set(frame, 6, 2, rng.pick(&edges)),
        7 => {
            let ids = [0, type_id_of("bad.Add"), type_id_of("coremesh.sys.Spawn"), rng.next()];
            set(frame, 8, 8, rng.pick(&ids));
        }
        8 => set(frame, 16 + 4 * rng.below(2) as usize, 4, rng.pick(&edges)),
        9 => set(frame, 24, 8, rng.pick(&edges)),
        // Ask extension: deadline, reply_node, reply_core, reserved.
        10 => {
            let field = rng.pick(&[(32, 8), (40, 8), (48, 2), (50, 8)]);
            set(frame, field.0, field.1, rng.pick(&edges));
        }
        // Length: cut the frame short, or add bytes after it.
        _ => {
            if rng.below(2) == 0 {
                frame.truncate(rng.below(frame.len() as u64) as usize);
            } else {
                frame.extend((0..rng.below(40)).map(|_| rng.next() as u8));
            }
        }
    }
}

/// Sends `bytes` on a fresh authenticated connection, half-closes it, and
/// reads until the node closes it. Panics (naming the case) if the node
/// neither answers nor closes within `T`.
fn run_case(fx: &Fixture, case: u64, bytes: &[u8]) {
    let mut c = fx.client();
    c.stream.set_write_timeout(Some(T)).expect("write timeout");
    // The node may close as soon as it reads a bad byte: a failed write is an answer too.
    let _ = c.stream.write_all(bytes);
    let _ = c.stream.shutdown(Shutdown::Write);
    let deadline = Instant::now() + T;
    let mut buf = [0u8; 4096];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(
            !left.is_zero(),
            "case {case}: the node neither closed nor finished within {T:?}: {bytes:02x?}"
        );
        c.stream.set_read_timeout(Some(left)).expect("read timeout");
        match c.stream.read(&mut buf) {
            Ok(0) => return,
            Ok(_) => {}
            Err(e) if matches!(e.kind(), ErrorKind::ConnectionReset | ErrorKind::BrokenPipe) => return,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(e) => panic!("case {case}: reading from the node: {e}"),
        }
    }
}

#[test]
fn thousands_of_mutated_authenticated_frames_kill_no_core() {
    let fx = fixture(|b| b.cores([0, 1]).allowed_cpus([0, 1]));
    let other = fx.node.spawn_on(CoreId(1), || Counter { total: 0 }).wait().expect("spawn on core 1");
    let node = fx.node.id().0;
    let mut rng = Rng(SEED);
    let before = fx.stats();
    for case in 0..CASES {
        // The peer's id comes from the seed too (the node's own is random per start).
        let me = match rng.next() | 1 {
            id if id == node => id ^ 2,
            id => id,
        };
        let mut bytes = base(&mut rng, &fx, me, case + 1);
        mutate(&mut rng, &mut bytes, node, me);
        run_case(&fx, case, &bytes);
        if case % 250 == 249 {
            // Every core still answers (a panicked core would time out here).
            fx.node.ask(&fx.counter, Add { n: 0 }).timeout(T).wait().expect("core 0 answers");
            fx.node.ask(&other, Add { n: 0 }).timeout(T).wait().expect("core 1 answers");
        }
    }
    let after = fx.stats();
    eprintln!(
        "{CASES} mutated frames (seed {SEED:#x}): {} closed as invalid, {} dead letters, {} unknown types, \
         {} late replies, {} replies with no way back",
        after.invalid_frames - before.invalid_frames,
        after.dead_letters - before.dead_letters,
        after.unknown_type - before.unknown_type,
        after.late_replies - before.late_replies,
        after.replies_dropped - before.replies_dropped,
    );
    assert!(after.invalid_frames > before.invalid_frames, "no case was refused: the mutations did nothing");
    let total = fx.node.ask(&fx.counter, Add { n: 0 }).timeout(T).wait().expect("core 0 answers");
    fx.node.ask(&other, Add { n: 0 }).timeout(T).wait().expect("core 1 answers");
    fx.done(total);
}
