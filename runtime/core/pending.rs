//! The asks of one core that wait for a reply.
//!
//! Owns: [`PendingTable`]: correlation ids, the waiter of each ask (a task on
//! this core, or a thread outside the runtime), and the reply bytes once they
//! arrive. A correlation id is `generation << 32 | index`, so a late reply to an
//! ask that already timed out finds a newer generation and is dropped.
//!
//! Must never: keep an entry after its ask ended (the ask future frees it on
//! drop), or complete one entry twice.

use std::task::Waker;

use rkyv::util::AlignedVec;

use coremesh_wire::ReplyErrorCode;

use crate::error::AskError;
use crate::ids::ActorId;
use crate::sync::oneshot;

/// What a thread outside the runtime receives for its ask: the reply payload.
pub(crate) type ForeignReply = oneshot::Sender<Result<AlignedVec<16>, AskError>>;

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
    waiter: Waiter,
    target: Option<ActorId>,
    type_id: u64,
    outcome: Outcome,
    reply: AlignedVec<16>,
}

/// The pending asks of one core.
#[derive(Default)]
pub(crate) struct PendingTable {
    entries: Vec<Entry>,
    free: Vec<u32>,
    live: usize,
}

fn split(corr: u64) -> (usize, u32) {
    ((corr & 0xffff_ffff) as usize, (corr >> 32) as u32)
}

impl PendingTable {
    fn insert(&mut self, waiter: Waiter, target: ActorId, type_id: u64) -> u64 {
        let index = match self.free.pop() {
            Some(i) => i as usize,
            None => {
                self.entries.push(Entry {
                    generation: 0,
                    waiter: Waiter::Free,
                    target: None,
                    type_id: 0,
                    outcome: Outcome::Waiting,
                    reply: AlignedVec::new(),
                });
                self.entries.len() - 1
            }
        };
        let e = &mut self.entries[index];
        e.generation = e.generation.wrapping_add(1);
        e.waiter = waiter;
        e.target = Some(target);
        e.type_id = type_id;
        e.outcome = Outcome::Waiting;
        e.reply.clear();
        self.live += 1;
        (u64::from(e.generation) << 32) | index as u64
    }

    /// Registers an ask awaited by a task on this core.
    pub fn register_task(&mut self, target: ActorId, type_id: u64) -> u64 {
        self.insert(Waiter::Task(None), target, type_id)
    }

    /// Registers an ask awaited by a thread outside the runtime.
    pub fn register_foreign(&mut self, target: ActorId, type_id: u64, reply: ForeignReply) -> u64 {
        self.insert(Waiter::Foreign(reply), target, type_id)
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
    /// waiter. Returns false if it no longer waits (a late reply).
    pub fn complete(&mut self, corr: u64, outcome: Outcome) -> bool {
        let Some(e) = self.entry(corr) else { return false };
        if !matches!(e.outcome, Outcome::Waiting) {
            return false;
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
            }
            Waiter::Free => {}
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

    /// Frees an entry (the ask ended or was dropped).
    pub fn release(&mut self, corr: u64) {
        let (index, generation) = split(corr);
        if let Some(e) = self.entries.get_mut(index) {
            if e.generation == generation && !matches!(e.waiter, Waiter::Free) {
                e.waiter = Waiter::Free;
                e.target = None;
                self.free.push(index as u32);
                self.live -= 1;
            }
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
        let corrs: Vec<u64> = self
            .entries
            .iter()
            .enumerate()
            .filter(|(_, e)| !matches!(e.waiter, Waiter::Free) && matches!(e.outcome, Outcome::Waiting))
            .filter(|(_, e)| pick(e.target))
            .map(|(i, e)| (u64::from(e.generation) << 32) | i as u64)
            .collect();
        for corr in corrs {
            self.complete(corr, Outcome::Failed(err.clone()));
        }
    }
}
