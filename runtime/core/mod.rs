//! One worker core: its actors, mailboxes, rings and pending asks.
//!
//! Owns: [`CoreRt`], the state of the glommio executor pinned to one CPU, and
//! the thread-local that lets code running on that core find it. Everything in
//! it is `!Send`: it is created on its thread and dies there.
//!
//! Must never: share anything with another core except through `crate::sync`
//! (rings, signal, inbox, counters), or block the thread.
//!
//! # Rules the `unsafe` blocks rely on
//! - R4: `CURRENT` is either null or a pointer produced by `Rc::into_raw` in
//!   `CoreRt::enter`, owning one strong count, released only by
//!   `CurrentGuard::drop` after it nulls `CURRENT`. Nothing else writes it.
//!
//! Submodules: `frames` (the one send path: same core, other core, other node),
//! `actor_task` (one actor's run loop), `service` (the core's own task: rings,
//! inbox, parking, shutdown), `mailbox`, `pending`.

pub(crate) mod actor_task;
pub(crate) mod cell;
pub(crate) mod frames;
pub(crate) mod mailbox;
pub(crate) mod peers;
pub(crate) mod pending;
pub(crate) mod route;
mod sample;
pub(crate) mod service;
pub(crate) mod shared;

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::Arc;
use std::task::Waker;

use coremesh_wire::Decoder;
use rkyv::util::AlignedVec;

use crate::actor::Dispatch;
use crate::core::shared::NodeShared;
use crate::ids::{ActorId, ActorRef, CoreId, NodeId};
use crate::sync::ring::{RingRx, RingTx};
use cell::{ActorCell, ActorState, ErasedCell};
use mailbox::Mailbox;

use crate::actor::ctx::Ctx;
use pending::PendingTable;

thread_local! {
    /// The core this thread runs: a pointer from `Rc::into_raw`, or null.
    /// A plain `Cell` of a pointer (no destructor, no borrow flag) keeps the
    /// lookup on every send to a single thread-local load.
    static CURRENT: Cell<*const CoreRt> = const { Cell::new(std::ptr::null()) };
}

/// Runs `f` with the core this thread runs, or returns `None` off-core.
#[inline]
pub(crate) fn with_current<R>(f: impl FnOnce(&Rc<CoreRt>) -> R) -> Option<R> {
    let p = CURRENT.with(Cell::get);
    if p.is_null() {
        return None;
    }
    // SAFETY:
    // - a non-null CURRENT came from `Rc::into_raw` in `CoreRt::enter` (R4), and the
    //   strong count it stands for is only given back by `CurrentGuard::drop`,
    //   which nulls CURRENT first; so the allocation is alive for this call;
    // - `ManuallyDrop` keeps this temporary `Rc` from decrementing that count.
    let rc = std::mem::ManuallyDrop::new(unsafe { Rc::from_raw(p) });
    Some(f(&rc))
}

/// The core of this thread, if it is a worker core.
pub(crate) fn current() -> Option<Rc<CoreRt>> {
    with_current(Rc::clone)
}

struct Slot {
    generation: u32,
    cell: Option<Rc<dyn ErasedCell>>,
}

#[derive(Default)]
struct ActorTable {
    slots: Vec<Slot>,
    free: Vec<u32>,
}

/// The state of one worker core.
pub(crate) struct CoreRt {
    node: NodeId,
    core: CoreId,
    shared: Arc<NodeShared>,
    actors: RefCell<ActorTable>,
    /// Outbound rings by target core (`None` for this core).
    tx: RefCell<Vec<Option<RingTx>>>,
    /// Inbound rings by source core (`None` for this core).
    rx: RefCell<Vec<Option<RingRx>>>,
    /// Inbound rings (by source core) whose next frame waits for a full mailbox.
    blocked_rings: RefCell<Vec<bool>>,
    /// Some frame (ring, socket or outside thread) waits for a full mailbox.
    pub(crate) blocked_any: Cell<bool>,
    /// Connection readers waiting for an actor of this core to take its mail.
    room_waiters: RefCell<crate::sync::waiters::Waiters>,
    /// This core's connections to other nodes.
    pub(crate) transport: crate::transport::Transport,
    /// Some outbound ring holds unpublished frames.
    dirty: Cell<bool>,
    service_waker: RefCell<Option<Waker>>,
    pub(crate) pending: RefCell<PendingTable>,
    scratch: RefCell<AlignedVec<16>>,
    /// Scratch space for rkyv's serializer (strings, vectors inside messages).
    scratch_space: RefCell<crate::actor::message::Scratch>,
    decoder: Decoder,
    live_actors: Cell<usize>,
    mailbox_bytes_max: usize,
    /// Monitors and links of this core's actors (`crate::cluster::monitor`).
    pub(crate) watches: RefCell<crate::cluster::monitor::WatchTable>,
    /// Watch messages waiting for room on their path (`crate::cluster::monitor`).
    pub(crate) watch_retry: RefCell<crate::cluster::monitor::ControlRetry>,
}

impl CoreRt {
    pub(crate) fn new(
        shared: Arc<NodeShared>,
        core: CoreId,
        tx: Vec<Option<RingTx>>,
        rx: Vec<Option<RingRx>>,
    ) -> Rc<Self> {
        let mailbox_bytes_max = shared.config.mailbox_bytes_max();
        let pending = PendingTable::new(core, shared.config.inflight_asks_max());
        let node = shared.id;
        Rc::new(CoreRt {
            node,
            core,
            decoder: Decoder::new(shared.max_payload_bytes),
            shared,
            actors: RefCell::new(ActorTable::default()),
            blocked_rings: RefCell::new(vec![false; rx.len()]),
            blocked_any: Cell::new(false),
            room_waiters: RefCell::new(crate::sync::waiters::Waiters::default()),
            transport: crate::transport::Transport::default(),
            tx: RefCell::new(tx),
            rx: RefCell::new(rx),
            dirty: Cell::new(false),
            service_waker: RefCell::new(None),
            pending: RefCell::new(pending),
            scratch: RefCell::new(AlignedVec::new()),
            scratch_space: RefCell::new(crate::actor::message::Scratch::new()),
            live_actors: Cell::new(0),
            mailbox_bytes_max,
            watches: RefCell::new(crate::cluster::monitor::WatchTable::new(node, core)),
            watch_retry: RefCell::default(),
        })
    }

    /// Makes this the current core of the calling thread until the guard drops.
    pub(crate) fn enter(self: &Rc<Self>) -> CurrentGuard {
        let p = Rc::into_raw(self.clone());
        let old = CURRENT.with(|c| c.replace(p));
        assert!(old.is_null(), "a thread runs at most one coremesh core");
        CurrentGuard
    }

    pub(crate) fn node_id(&self) -> NodeId {
        self.node
    }

    pub(crate) fn core_id(&self) -> CoreId {
        self.core
    }

    pub(crate) fn cores(&self) -> usize {
        self.shared.cores.len()
    }

    pub(crate) fn shared(&self) -> &Arc<NodeShared> {
        &self.shared
    }

    pub(crate) fn stats(&self) -> &crate::stats::CoreStats {
        &self.shared.cores[usize::from(self.core.0)].stats
    }

    pub(crate) fn live_actors(&self) -> usize {
        self.live_actors.get()
    }

    /// Spawns an actor on this core; its task starts at the next scheduling point.
    pub(crate) fn spawn<A: Dispatch>(self: &Rc<Self>, actor: A) -> ActorRef<A> {
        let (slot, generation) = {
            let mut table = self.actors.borrow_mut();
            let index = match table.free.pop() {
                Some(i) => i,
                None => {
                    let i = u32::try_from(table.slots.len())
                        .unwrap_or_else(|_| panic!("actor table of {} exceeded 2^32 slots", self.core));
                    table.slots.push(Slot { generation: 0, cell: None });
                    i
                }
            };
            let slot = &mut table.slots[index as usize];
            slot.generation = slot.generation.wrapping_add(1).max(1);
            (index, slot.generation)
        };
        let id = ActorId { node: self.node, core: self.core, slot, generation };
        let r = ActorRef::from_id(id);
        let cell = Rc::new(ActorCell {
            state: RefCell::new(ActorState { actor, ctx: Ctx::new(r, self.clone()) }),
            mailbox: RefCell::new(Mailbox::new(self.mailbox_bytes_max)),
            ready: Cell::new(false),
            killed: RefCell::new(None),
        });
        self.actors.borrow_mut().slots[slot as usize].cell = Some(cell.clone());
        self.live_actors.set(self.live_actors.get() + 1);
        self.stats().actors_spawned.add(1);
        glommio::spawn_local(actor_task::run_actor(cell, self.clone(), r)).detach();
        r
    }

    /// The cell of a live actor.
    #[inline]
    pub(crate) fn cell(&self, slot: u32, generation: u32) -> Option<Rc<dyn ErasedCell>> {
        let table = self.actors.borrow();
        let s = table.slots.get(slot as usize)?;
        if s.generation != generation {
            return None;
        }
        s.cell.clone()
    }

    /// Frees an actor's slot once it has stopped.
    pub(crate) fn retire(&self, id: ActorId) {
        let mut table = self.actors.borrow_mut();
        if let Some(s) = table.slots.get_mut(id.slot as usize) {
            if s.generation == id.generation && s.cell.is_some() {
                s.cell = None;
                table.free.push(id.slot);
            }
        }
        self.live_actors.set(self.live_actors.get().saturating_sub(1));
        self.stats().actors_stopped.add(1);
    }

    /// Asks every live actor to stop (shutdown).
    pub(crate) fn stop_all_actors(&self) {
        let cells: Vec<_> = self.actors.borrow().slots.iter().filter_map(|s| s.cell.clone()).collect();
        for cell in cells {
            cell.mailbox().borrow_mut().request_stop();
        }
    }

    /// An actor took its mail: rings blocked on a full mailbox may move again.
    #[inline]
    pub(crate) fn mailbox_drained(&self) {
        if self.blocked_any.replace(false) {
            self.blocked_rings.borrow_mut().iter_mut().for_each(|b| *b = false);
            self.wake_service();
            self.room_waiters.borrow_mut().wake_all();
        }
    }

    /// A connection reader waits for room (see `mailbox_drained`); a reader
    /// blocked on a full ring registers again every millisecond, kept once.
    pub(crate) fn add_room_waiter(&self, waker: &Waker) {
        self.blocked_any.set(true);
        self.room_waiters.borrow_mut().register(waker);
    }

    /// Wakes this core's service task (same thread).
    #[inline]
    pub(crate) fn wake_service(&self) {
        if let Some(w) = self.service_waker.borrow_mut().take() {
            w.wake();
        }
    }
}

/// Clears the thread's current core when dropped.
pub(crate) struct CurrentGuard;

impl Drop for CurrentGuard {
    fn drop(&mut self) {
        let p = CURRENT.with(|c| c.replace(std::ptr::null()));
        if !p.is_null() {
            // SAFETY: `p` came from `Rc::into_raw` in `enter` (R4) and CURRENT no
            // longer holds it, so this gives back exactly the count `enter` took.
            drop(unsafe { Rc::from_raw(p) });
        }
    }
}
