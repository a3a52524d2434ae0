//! The pending-reply table as a plain state machine: synchronous, no executor,
//! a fake clock (every instant is one base plus an offset), a seeded RNG.

use std::sync::{Arc, Mutex};
use std::task::{Wake, Waker};
use std::time::{Duration, Instant};

use rkyv::util::AlignedVec;

use super::{Outcome, PendingTable, REPLY_KEEP_BYTES};
use crate::error::AskError;
use crate::ids::{ActorId, CoreId, NodeId};
use crate::sync::oneshot::{self, Receiver, RecvError};

type ReplyRx = Receiver<Result<AlignedVec<16>, AskError>>;

fn actor(node: u64, slot: u32) -> ActorId {
    ActorId { node: NodeId(node), core: CoreId(0), slot, generation: 1 }
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// A waker that writes its id into a shared log when woken.
struct Logged {
    id: u32,
    log: Arc<Mutex<Vec<u32>>>,
}

impl Wake for Logged {
    fn wake(self: Arc<Self>) {
        self.log.lock().unwrap().push(self.id);
    }
}

fn logged(id: u32, log: &Arc<Mutex<Vec<u32>>>) -> Waker {
    Waker::from(Arc::new(Logged { id, log: log.clone() }))
}

fn woken(log: &Arc<Mutex<Vec<u32>>>) -> Vec<u32> {
    std::mem::take(&mut *log.lock().unwrap())
}

/// What a foreign waiter has received by now, without waiting.
fn received(rx: ReplyRx, base: Instant) -> Result<Result<AlignedVec<16>, AskError>, RecvError> {
    rx.wait_until(Some(base))
}

/// Whether `corr` still waits (without replacing its waker, as `poll` would).
fn is_waiting(t: &mut PendingTable, corr: u64) -> bool {
    t.reply_buffer(corr).is_some()
}

/// Checks the heap's invariants: every waiting entry is in it once, at the
/// place it records, and no parent is later than its children.
fn check_heap(t: &PendingTable) {
    for (pos, &i) in t.heap.iter().enumerate() {
        assert_eq!(t.entries[i as usize].heap_pos as usize, pos);
        if pos > 0 {
            assert!(!t.before(i, t.heap[(pos - 1) / 2]), "heap order broken at {pos}");
        }
    }
    let queued = t.entries.iter().filter(|e| e.heap_pos != super::NOT_QUEUED).count();
    assert_eq!(queued, t.heap.len());
}

#[test]
fn a_reply_completes_its_ask_and_a_late_one_finds_a_newer_generation() {
    let base = crate::clock::now();
    let mut t = PendingTable::new(CoreId(0), 8);
    let first = t.register_task(actor(1, 1), 7, base + ms(100)).unwrap();
    assert_eq!(t.len(), 1);
    t.reply_buffer(first).unwrap().extend_from_slice(b"hi");
    assert!(t.complete(first, Outcome::Replied));
    assert!(!t.complete(first, Outcome::Replied), "one entry completes once");
    assert!(t.reply_buffer(first).is_none(), "a second reply finds nothing waiting");
    assert!(matches!(t.poll(first, Waker::noop()), Some(Outcome::Replied)));
    assert_eq!(t.reply_bytes(first), Some(&b"hi"[..]));
    assert_eq!(t.next_deadline(), None, "a completed ask has no deadline left");
    t.release(first);
    assert_eq!(t.len(), 0);

    // The slot is reused under a new generation: the old id no longer reaches it.
    let second = t.register_task(actor(1, 1), 7, base + ms(200)).unwrap();
    assert_eq!(second & 0xffff_ffff, first & 0xffff_ffff, "same slot");
    assert_ne!(second, first);
    assert!(t.reply_buffer(first).is_none(), "a late reply to the old ask is dropped");
    assert!(!t.complete(first, Outcome::Replied));
    assert!(!t.fail_code(first, coremesh_wire::ReplyErrorCode::HandlerFailed));
    t.release(first);
    assert_eq!(t.len(), 1, "releasing the old id frees nothing");
    assert!(is_waiting(&mut t, second));
    assert_eq!(t.next_deadline(), Some(base + ms(200)));
}

#[test]
fn expire_fails_what_is_due_earliest_first_and_nothing_else() {
    let base = crate::clock::now();
    let log = Arc::new(Mutex::new(Vec::new()));
    let mut t = PendingTable::new(CoreId(0), 8);
    let offsets = [30, 10, 20, 10, 50];
    let corrs: Vec<u64> = offsets
        .iter()
        .enumerate()
        .map(|(i, &off)| {
            let corr = t.register_task(actor(1, i as u32), 0, base + ms(off)).unwrap();
            t.poll(corr, &logged(i as u32, &log));
            corr
        })
        .collect();
    assert_eq!(t.next_deadline(), Some(base + ms(10)));
    assert_eq!(t.expire(base + ms(9)), 0, "nothing is due before the first deadline");
    assert_eq!(t.expire(base + ms(20)), 3, "a deadline equal to now is due");
    // Earliest first; equal deadlines in slot order.
    assert_eq!(woken(&log), vec![1, 3, 2]);
    assert_eq!(t.next_deadline(), Some(base + ms(30)));
    for &i in &[1, 2, 3] {
        assert!(matches!(t.poll(corrs[i], Waker::noop()), Some(Outcome::Failed(AskError::Timeout))));
    }
    assert_eq!(t.len(), 5, "task entries stay until their futures read them");
    assert!(is_waiting(&mut t, corrs[0]) && is_waiting(&mut t, corrs[4]));
    assert_eq!(t.expire(base + ms(1000)), 2);
    assert_eq!(woken(&log), vec![0, 4]);
    assert_eq!(t.next_deadline(), None);
    assert_eq!(t.expire(base + ms(2000)), 0, "an expired entry is not expired twice");
    for corr in corrs {
        t.release(corr);
    }
    assert_eq!(t.len(), 0);
}

#[test]
fn expire_sends_timeout_to_a_foreign_waiter_and_frees_its_entry() {
    let base = crate::clock::now();
    let mut t = PendingTable::new(CoreId(0), 8);
    let (tx, rx) = oneshot::channel();
    let corr = t.register_foreign(actor(1, 1), 0, base + ms(50), tx).unwrap();
    let (tx2, rx2) = oneshot::channel();
    let later = t.register_foreign(actor(1, 2), 0, base + ms(500), tx2).unwrap();
    assert_eq!(t.expire(base + ms(50)), 1);
    assert_eq!(received(rx, base).map(|r| r.map(|_| ())), Ok(Err(AskError::Timeout)));
    assert_eq!(t.len(), 1, "the expired foreign entry is freed at once");
    assert!(t.reply_buffer(corr).is_none(), "its late reply is dropped");
    // A reply before the deadline reaches the thread and frees the entry too.
    t.reply_buffer(later).unwrap().extend_from_slice(b"ok");
    assert!(t.complete(later, Outcome::Replied));
    assert_eq!(received(rx2, base).map(|r| r.map(|b| b.to_vec())), Ok(Ok(b"ok".to_vec())));
    assert_eq!((t.len(), t.next_deadline()), (0, None));
}

#[test]
fn the_bound_refuses_at_once_and_frees_room_when_an_ask_ends() {
    let base = crate::clock::now();
    let mut t = PendingTable::new(CoreId(3), 2);
    let full = AskError::TooManyInFlight { core: CoreId(3), max: 2 };
    let a = t.register_task(actor(1, 1), 0, base + ms(10)).unwrap();
    let (tx, _rx) = oneshot::channel();
    let b = t.register_foreign(actor(1, 2), 0, base + ms(20), tx).unwrap();
    assert_eq!(t.register_task(actor(1, 3), 0, base + ms(5)), None);
    assert_eq!(t.full_error(), full);
    let (tx, rx) = oneshot::channel();
    assert_eq!(t.register_foreign(actor(1, 3), 0, base + ms(5), tx), None);
    assert_eq!(received(rx, base).map(|r| r.map(|_| ())), Ok(Err(full.clone())));
    assert_eq!((t.len(), t.next_deadline()), (2, Some(base + ms(10))), "a refusal leaves no trace");

    // A task entry holds its room until its future reads the outcome.
    assert!(t.complete(a, Outcome::Replied));
    assert_eq!(t.register_task(actor(1, 3), 0, base + ms(5)), None);
    t.release(a);
    let c = t.register_task(actor(1, 3), 0, base + ms(5)).unwrap();
    // A foreign entry frees its room as it completes.
    assert!(t.fail_code(b, coremesh_wire::ReplyErrorCode::HandlerFailed));
    let d = t.register_task(actor(1, 4), 0, base + ms(30)).unwrap();
    assert_eq!(t.len(), 2);
    assert_eq!(t.expire(base + ms(100)), 2);
    t.release(c);
    t.release(d);
    assert_eq!(t.len(), 0);
}

#[test]
fn fail_node_fails_the_asks_to_that_node_only() {
    let base = crate::clock::now();
    let log = Arc::new(Mutex::new(Vec::new()));
    let mut t = PendingTable::new(CoreId(0), 8);
    let lost = NodeId(2);
    let to_lost = t.register_task(actor(2, 1), 0, base + ms(10)).unwrap();
    t.poll(to_lost, &logged(1, &log));
    let to_other = t.register_task(actor(3, 1), 0, base + ms(20)).unwrap();
    t.poll(to_other, &logged(2, &log));
    let (tx, rx) = oneshot::channel();
    t.register_foreign(actor(2, 2), 0, base + ms(30), tx).unwrap();
    let err = AskError::ConnectionLost { node: lost };
    t.fail_node(lost, &err);
    assert_eq!(woken(&log), vec![1]);
    assert!(matches!(t.poll(to_lost, Waker::noop()), Some(Outcome::Failed(e)) if *e == err));
    assert_eq!(received(rx, base).map(|r| r.map(|_| ())), Ok(Err(err)));
    assert!(is_waiting(&mut t, to_other));
    assert_eq!(t.next_deadline(), Some(base + ms(20)), "only the other node's ask still has a deadline");
    assert_eq!(t.len(), 2, "the failed task entry waits for its future; the foreign one is gone");
    check_heap(&t);
}

#[test]
fn only_a_deadline_earlier_than_the_armed_one_wakes_the_timer() {
    let base = crate::clock::now();
    let log = Arc::new(Mutex::new(Vec::new()));
    let mut t = PendingTable::new(CoreId(0), 8);
    // Armed with nothing to wait for: the first ask wakes the timer.
    t.arm(&logged(0, &log));
    t.register_task(actor(1, 1), 0, base + ms(100)).unwrap();
    assert_eq!(woken(&log), vec![0]);
    t.arm(&logged(0, &log));
    t.register_task(actor(1, 2), 0, base + ms(100)).unwrap();
    t.register_task(actor(1, 3), 0, base + ms(150)).unwrap();
    assert_eq!(woken(&log), Vec::<u32>::new(), "not for a deadline at or after the armed one");
    t.register_task(actor(1, 4), 0, base + ms(50)).unwrap();
    assert_eq!(woken(&log), vec![0]);
    // Once woken, the timer is not woken again until it arms again.
    t.register_task(actor(1, 5), 0, base + ms(10)).unwrap();
    assert_eq!(woken(&log), Vec::<u32>::new());
}

#[test]
fn asks_that_end_early_leave_the_heap_and_the_rest_expire_earliest_first() {
    let base = crate::clock::now();
    let log = Arc::new(Mutex::new(Vec::new()));
    let mut t = PendingTable::new(CoreId(0), 4096);
    let mut state: u64 = 0x2545_F491_4F6C_DD1D;
    let mut rng = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    // Every ask still waiting: (correlation id, deadline offset in ms).
    let mut waiting: Vec<(u64, u64)> = Vec::new();
    // The deadline offset of each task waker's id.
    let mut deadline_of: Vec<u64> = Vec::new();
    let mut now = 0u64;
    for _ in 0..40 {
        for _ in 0..50 {
            let off = now + 1 + rng() % 500;
            let to = actor(1, deadline_of.len() as u32);
            let corr = if rng() % 3 == 0 {
                let (tx, _rx) = oneshot::channel();
                t.register_foreign(to, 0, base + ms(off), tx).unwrap()
            } else {
                let corr = t.register_task(to, 0, base + ms(off)).unwrap();
                t.poll(corr, &logged(deadline_of.len() as u32, &log));
                corr
            };
            deadline_of.push(off);
            waiting.push((corr, off));
        }
        // Some end early: replied, or dropped by their future.
        for _ in 0..20 {
            let k = (rng() % waiting.len() as u64) as usize;
            let (corr, _) = waiting.swap_remove(k);
            if rng() % 2 == 0 {
                assert!(t.complete(corr, Outcome::Replied));
            }
            t.release(corr);
        }
        woken(&log);
        check_heap(&t);

        now += 100;
        let (due, rest): (Vec<_>, Vec<_>) = waiting.iter().partition(|&&(_, off)| off <= now);
        assert_eq!(t.expire(base + ms(now)), due.len());
        let order: Vec<u64> = woken(&log).iter().map(|&id| deadline_of[id as usize]).collect();
        assert!(order.windows(2).all(|w| w[0] <= w[1]), "earliest first: {order:?}");
        // The failed task asks' futures read their error and free the entries.
        for &(corr, _) in &due {
            t.release(corr);
        }
        waiting = rest;
        assert_eq!((t.len(), t.heap.len()), (waiting.len(), waiting.len()));
        check_heap(&t);
    }
    assert!(t.entries.len() < 4096, "entries are reused: {}", t.entries.len());
}

#[test]
fn a_large_reply_buffer_is_not_kept_for_reuse() {
    let base = crate::clock::now();
    let mut t = PendingTable::new(CoreId(0), 8);
    let corr = t.register_task(actor(1, 1), 0, base + ms(10)).unwrap();
    t.reply_buffer(corr).unwrap().extend_from_slice(&vec![7u8; REPLY_KEEP_BYTES + 1]);
    t.complete(corr, Outcome::Replied);
    t.release(corr);
    let again = t.register_task(actor(1, 1), 0, base + ms(10)).unwrap();
    assert!(t.reply_buffer(again).unwrap().capacity() <= REPLY_KEEP_BYTES);
}
