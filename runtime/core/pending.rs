//! The asks of one core that wait for a reply: a state machine without I/O.
//!
//! Owns: [`PendingTable`]: correlation ids, the waiter of each ask (a task on
//! this core, or a thread outside the runtime), its deadline, the reply bytes
//! once they arrive, and the bound on how many asks may wait at once
//! (`COREMESH_INFLIGHT_ASKS_MAX`). A correlation id is `generation << 32 |
//! index`, so a late reply to an ask that already ended finds a newer
//! generation and is dropped. Its driver on the core is [`timer`]: one task per
//! core that sleeps until [`PendingTable::next_deadline`] and calls
//! [`PendingTable::expire`].
//!
//! Every call that needs the time takes it (`deadline`, `now`): the table never
//! reads the clock, so its unit tests (`pending_tests.rs`) run on a fake one.
//!
//! How it stays cheap: entries live in one `Vec` and are reused through a free
//! list; the waiting ones are also in a binary min-heap of indices ordered by
//! (deadline, index), and each entry knows its place in the heap, so an entry
//! that ends early leaves the heap at once (no stale heap items pile up behind
//! long timeouts). Once warm, registering and ending an ask allocates nothing;
//! the timer task is woken only when a new deadline is earlier than the one it
//! sleeps for.
//!
//! Memory: at most `inflight_asks_max` entries, each at most [`ENTRY_BYTES_MAX`]
//! (asserted at compile time) plus 8 bytes of index (heap, free list), plus the
//! reply buffer it keeps for reuse (freed on release when its capacity passes
//! [`REPLY_KEEP_BYTES`]). The table never shrinks below its busiest moment:
//! 65,536 entries (the default bound) take about 10 MiB before reply buffers.
//!
//! With metrics on (`crate::metrics`), an entry also notes when it was
//! registered and a reply records its round trip; that is the only clock the
//! table sees, through the metrics hooks, and never when metrics are off (so
//! its unit tests stay on their fake clock).
//!
//! Must never: keep an entry past its deadline (a foreign entry is freed by
//! expiry; a task entry is failed and freed by its ask future), complete one
//! entry twice, hold more than its bound, or read the clock.

#[path = "pending_timer.rs"]
pub(crate) mod timer;

#[cfg(test)]
#[path = "pending_tests.rs"]
mod tests;

use std::task::Waker;
use std::time::Instant;

use rkyv::util::AlignedVec;

use coremesh_wire::ReplyErrorCode;

use crate::error::AskError;
use crate::ids::{ActorId, CoreId};
use crate::sync::oneshot;

/// What a thread outside the runtime receives for its ask: the reply payload.
pub(crate) type ForeignReply = oneshot::Sender<Result<AlignedVec<16>, AskError>>;

/// A reply buffer larger than this is freed when its entry is released, so that
/// one large reply does not stay allocated in a reused entry.
pub(crate) const REPLY_KEEP_BYTES: usize = 16 << 10;

/// The most one entry takes, reply buffer aside (tuning.md quotes it).
pub(crate) const ENTRY_BYTES_MAX: usize = 160;
const _: () = assert!(std::mem::size_of::<Entry>() <= ENTRY_BYTES_MAX);

/// `Entry::heap_pos` of an entry that is not in the deadline heap.
const NOT_QUEUED: u32 = u32::MAX;

enum Waiter {
    Free,
    Task(Option<Waker>),
    Foreign(ForeignReply),
}

/// How an entry ended.
#[derive(Debug)]
pub(crate) enum Outcome {
    Waiting,
    Replied,
    Failed(AskError),
}

struct Entry {
    generation: u32,
    /// Where this entry is in `PendingTable::heap`, or `NOT_QUEUED`.
    heap_pos: u32,
    deadline: Instant,
    waiter: Waiter,
    target: Option<ActorId>,
    type_id: u64,
    outcome: Outcome,
    reply: AlignedVec<16>,
    /// When it was registered, for its round trip (`crate::metrics::ask_started`;
    /// 0: metrics off).
    started: u64,
}

/// The pending asks of one core.
pub(crate) struct PendingTable {
    core: CoreId,
    max: usize,
    entries: Vec<Entry>,
    free: Vec<u32>,
    /// Indices of the waiting entries, a min-heap on (deadline, index).
    heap: Vec<u32>,
    live: usize,
    /// The timer task, waiting for the deadline in `armed` (`None`: for none).
    timer: Option<Waker>,
    armed: Option<Instant>,
}

fn split(corr: u64) -> (usize, u32) {
    ((corr & 0xffff_ffff) as usize, (corr >> 32) as u32)
}

fn corr_of(index: usize, generation: u32) -> u64 {
    (u64::from(generation) << 32) | index as u64
}

impl PendingTable {
    /// An empty table of `core` that holds at most `max` asks (at least 1).
    pub fn new(core: CoreId, max: usize) -> Self {
        assert!(max >= 1 && max < NOT_QUEUED as usize, "inflight bound {max} out of range");
        PendingTable {
            core,
            max,
            entries: Vec::new(),
            free: Vec::new(),
            heap: Vec::new(),
            live: 0,
            timer: None,
            armed: None,
        }
    }

    /// How many asks hold an entry (waiting, or ended and not yet read).
    pub fn len(&self) -> usize {
        self.live
    }

    /// The error of an ask refused because the table is full.
    pub fn full_error(&self) -> AskError {
        AskError::TooManyInFlight { core: self.core, max: self.max }
    }

    fn insert(&mut self, waiter: Waiter, target: ActorId, type_id: u64, deadline: Instant) -> u64 {
        debug_assert!(self.live < self.max);
        let index = match self.free.pop() {
            Some(i) => i as usize,
            None => {
                self.entries.push(Entry {
                    generation: 0,
                    heap_pos: NOT_QUEUED,
                    deadline,
                    waiter: Waiter::Free,
                    target: None,
                    type_id: 0,
                    outcome: Outcome::Waiting,
                    reply: AlignedVec::new(),
                    started: 0,
                });
                self.entries.len() - 1
            }
        };
        let e = &mut self.entries[index];
        // Never generation 0, so no correlation id is 0 (a tell's).
        e.generation = e.generation.wrapping_add(1).max(1);
        e.deadline = deadline;
        e.waiter = waiter;
        e.target = Some(target);
        e.type_id = type_id;
        e.outcome = Outcome::Waiting;
        e.reply.clear();
        e.started = crate::metrics::ask_started();
        let corr = corr_of(index, e.generation);
        self.live += 1;
        self.heap_push(index);
        // Wake the timer only when this deadline is earlier than its own.
        if self.armed.is_none_or(|at| deadline < at) {
            if let Some(w) = self.timer.take() {
                w.wake();
            }
        }
        corr
    }

    /// Registers an ask awaited by a task on this core, failing at `deadline`.
    /// `None` when the table is full ([`PendingTable::full_error`]): send nothing.
    pub fn register_task(&mut self, target: ActorId, type_id: u64, deadline: Instant) -> Option<u64> {
        if self.live >= self.max {
            return None;
        }
        Some(self.insert(Waiter::Task(None), target, type_id, deadline))
    }

    /// Registers an ask awaited by a thread outside the runtime, failing at
    /// `deadline`. When the table is full, `reply` gets
    /// [`AskError::TooManyInFlight`] at once and this returns `None`: send nothing.
    pub fn register_foreign(
        &mut self,
        target: ActorId,
        type_id: u64,
        deadline: Instant,
        reply: ForeignReply,
    ) -> Option<u64> {
        if self.live >= self.max {
            reply.send(Err(self.full_error()));
            return None;
        }
        Some(self.insert(Waiter::Foreign(reply), target, type_id, deadline))
    }

    /// Fails `corr` with the error an error-reply code stands for, naming the
    /// ask's own target and type. Returns false if it no longer waits.
    pub fn fail_code(&mut self, corr: u64, code: ReplyErrorCode) -> bool {
        let Some(e) = self.entry(corr) else { return false };
        let err = crate::core::frames::ask_error(code, e.target, e.type_id);
        self.complete(corr, Outcome::Failed(err))
    }

    fn entry(&mut self, corr: u64) -> Option<&mut Entry> {
        let (index, generation) = split(corr);
        self.entries
            .get_mut(index)
            .filter(|e| e.generation == generation && !matches!(e.waiter, Waiter::Free))
    }

    /// The buffer a reply's payload is archived or copied into, if `corr` still
    /// waits. Call [`PendingTable::complete`] after filling it.
    pub fn reply_buffer(&mut self, corr: u64) -> Option<&mut AlignedVec<16>> {
        self.entry(corr).filter(|e| matches!(e.outcome, Outcome::Waiting)).map(|e| &mut e.reply)
    }

    /// Marks `corr` replied (payload already in its buffer) or failed; wakes the
    /// waiter. A foreign entry is freed here (its thread has the result); a
    /// task entry is freed by its ask future once read. Returns false if it no
    /// longer waits (a late reply).
    pub fn complete(&mut self, corr: u64, outcome: Outcome) -> bool {
        let (index, _) = split(corr);
        let Some(e) = self.entry(corr) else { return false };
        if !matches!(e.outcome, Outcome::Waiting) {
            return false;
        }
        if matches!(outcome, Outcome::Replied) {
            crate::metrics::ask_replied(std::mem::take(&mut e.started));
        }
        match std::mem::replace(&mut e.waiter, Waiter::Task(None)) {
            Waiter::Foreign(tx) => {
                let result = match outcome {
                    Outcome::Replied => Ok(std::mem::take(&mut e.reply)),
                    Outcome::Failed(err) => Err(err),
                    Outcome::Waiting => Err(AskError::NodeStopped),
                };
                tx.send(result);
                self.release(corr);
            }
            Waiter::Task(w) => {
                e.outcome = outcome;
                if let Some(w) = w {
                    w.wake();
                }
                self.heap_remove(index);
            }
            Waiter::Free => unreachable!("`entry` skips free entries"),
        }
        true
    }

    /// Polled by the ask future: the outcome, registering `waker` while waiting.
    pub fn poll(&mut self, corr: u64, waker: &Waker) -> Option<&Outcome> {
        let e = self.entry(corr)?;
        if matches!(e.outcome, Outcome::Waiting) {
            if let Waiter::Task(slot) = &mut e.waiter {
                match slot {
                    Some(w) if w.will_wake(waker) => {}
                    _ => *slot = Some(waker.clone()),
                }
            }
        }
        Some(&e.outcome)
    }

    /// The reply bytes of a replied entry.
    pub fn reply_bytes(&self, corr: u64) -> Option<&[u8]> {
        let (index, generation) = split(corr);
        self.entries.get(index).filter(|e| e.generation == generation).map(|e| e.reply.as_slice())
    }

    /// Frees an entry (the ask ended or was dropped). Freeing one that is free
    /// or of an older generation does nothing.
    pub fn release(&mut self, corr: u64) {
        let (index, generation) = split(corr);
        let Some(e) = self.entries.get_mut(index) else { return };
        if e.generation != generation || matches!(e.waiter, Waiter::Free) {
            return;
        }
        e.waiter = Waiter::Free;
        e.target = None;
        e.outcome = Outcome::Waiting;
        if e.reply.capacity() > REPLY_KEEP_BYTES {
            e.reply = AlignedVec::new();
        }
        self.heap_remove(index);
        self.free.push(index as u32);
        self.live -= 1;
    }

    /// The earliest deadline of a waiting ask.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.heap.first().map(|&i| self.entries[i as usize].deadline)
    }

    /// Fails every ask whose deadline is at or before `now` with
    /// [`AskError::Timeout`], earliest first: a task is woken (its future reads
    /// the error and frees the entry), a foreign waiter gets the error and its
    /// entry is freed. Returns how many it failed.
    pub fn expire(&mut self, now: Instant) -> usize {
        let mut failed = 0;
        while let Some(&index) = self.heap.first() {
            let e = &self.entries[index as usize];
            if e.deadline > now {
                break;
            }
            let corr = corr_of(index as usize, e.generation);
            let done = self.complete(corr, Outcome::Failed(AskError::Timeout));
            debug_assert!(done, "every entry in the heap waits");
            failed += 1;
        }
        failed
    }

    /// The timer task is about to sleep until [`PendingTable::next_deadline`]:
    /// a later registration with an earlier deadline wakes `waker`.
    pub fn arm(&mut self, waker: &Waker) {
        self.armed = self.next_deadline();
        match &self.timer {
            Some(w) if w.will_wake(waker) => {}
            _ => self.timer = Some(waker.clone()),
        }
    }

    /// Fails every waiting entry (the core is stopping).
    pub fn fail_all(&mut self, err: &AskError) {
        self.fail_where(err, |_| true);
    }

    /// Fails every waiting ask whose target lives on `node` (its connection was lost).
    pub fn fail_node(&mut self, node: crate::ids::NodeId, err: &AskError) {
        self.fail_where(err, |t| t.is_some_and(|t| t.node == node));
    }

    fn fail_where(&mut self, err: &AskError, pick: impl Fn(Option<ActorId>) -> bool) {
        // Every waiting entry is in the heap; collect first, since completing
        // one reshapes the heap.
        let corrs: Vec<u64> = self
            .heap
            .iter()
            .map(|&i| (i as usize, &self.entries[i as usize]))
            .filter(|(_, e)| pick(e.target))
            .map(|(i, e)| corr_of(i, e.generation))
            .collect();
        for corr in corrs {
            self.complete(corr, Outcome::Failed(err.clone()));
        }
    }

    // The deadline heap. Invariant: `heap[entries[i].heap_pos] == i` for every
    // queued entry, and no parent is later than its children.

    fn before(&self, a: u32, b: u32) -> bool {
        let (ea, eb) = (&self.entries[a as usize], &self.entries[b as usize]);
        (ea.deadline, a) < (eb.deadline, b)
    }

    fn heap_set(&mut self, pos: usize, index: u32) {
        self.heap[pos] = index;
        self.entries[index as usize].heap_pos = pos as u32;
    }

    fn heap_push(&mut self, index: usize) {
        debug_assert_eq!(self.entries[index].heap_pos, NOT_QUEUED);
        self.heap.push(index as u32);
        let pos = self.heap.len() - 1;
        self.heap_set(pos, index as u32);
        self.sift_up(pos);
    }

    fn heap_remove(&mut self, index: usize) {
        let pos = self.entries[index].heap_pos;
        if pos == NOT_QUEUED {
            return;
        }
        self.entries[index].heap_pos = NOT_QUEUED;
        let pos = pos as usize;
        let last = self.heap.pop().expect("a queued entry is in the heap");
        if pos < self.heap.len() {
            self.heap_set(pos, last);
            self.sift_down(pos);
            self.sift_up(pos);
        }
    }

    fn sift_up(&mut self, mut pos: usize) {
        while pos > 0 {
            let parent = (pos - 1) / 2;
            if !self.before(self.heap[pos], self.heap[parent]) {
                break;
            }
            let (a, b) = (self.heap[pos], self.heap[parent]);
            self.heap_set(pos, b);
            self.heap_set(parent, a);
            pos = parent;
        }
    }

    fn sift_down(&mut self, mut pos: usize) {
        loop {
            let (left, right) = (2 * pos + 1, 2 * pos + 2);
            let mut first = pos;
            if left < self.heap.len() && self.before(self.heap[left], self.heap[first]) {
                first = left;
            }
            if right < self.heap.len() && self.before(self.heap[right], self.heap[first]) {
                first = right;
            }
            if first == pos {
                return;
            }
            let (a, b) = (self.heap[pos], self.heap[first]);
            self.heap_set(pos, b);
            self.heap_set(first, a);
            pos = first;
        }
    }
}
