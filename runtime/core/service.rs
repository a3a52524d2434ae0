//! The core's own task: moves frames in from the rings and the inbox, carries
//! out the commands of other threads (membership's typed `CoreCommand`s
//! among them), publishes outbound rings, parks the core when idle, and runs
//! shutdown.
//!
//! Owns: `run_service`, one per core, alive as long as the core. It polls for
//! `idle_spin_us` after the last work before it parks, so a busy core never pays
//! the cost of a wake-up; a parked core is woken through its `CoreSignal`.
//!
//! Frames from threads outside the runtime are never accepted and then dropped
//! for lack of room: one whose mailbox or connection is full is held ([`Held`],
//! oldest first, so one thread's frames to one actor keep their order), and
//! while any is held the core takes no more frames from its inbox (it still
//! takes every other command: membership's, connects, code, shutdown), so the
//! inbox fills and outside senders get `TellError::InboxFull`. A held frame
//! for another node is retried every `LINK_RETRY` (the connection's writer
//! does not wake this task). Only the node's loss drops a held frame: when
//! its node is declared gone or its connection is lost, it is counted as a
//! dead letter and its ask fails with `NotSent` (the error says which).
//!
//! Must never: block the thread, park while a ring it feeds has unpublished
//! frames, or drop an accepted outside frame because a path is full.

use std::collections::VecDeque;
use std::future::{poll_fn, Future};
use std::rc::Rc;
use std::task::Poll;
use std::time::Duration;

use coremesh_wire::{write_prefix, AskExt};
use rkyv::util::AlignedVec;

use super::pending::ForeignReply;

use super::peers::connect_from;
use super::route::Origin;
use super::shared::{Command, CoreCommand};
use super::CoreRt;
use crate::clock;
use crate::error::AskError;
use crate::ids::NodeId;
use crate::transport::Delivered;

/// How many bytes one ring may hand in per round before the others get a turn.
const RING_ROUND_BYTES: usize = 64 * 1024;
/// How often a frame held for a full connection tries again.
const LINK_RETRY: Duration = Duration::from_millis(1);
/// How long shutdown waits for actors to run their stop hooks.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// A frame from an outside thread waiting for room on its path.
enum Held {
    /// For an actor of this core whose mailbox is full; its ask is registered.
    Local(AlignedVec<16>),
    /// For an actor on `node`, whose connection is full; its ask (if any) is
    /// registered when it is sent.
    Remote { node: NodeId, bytes: AlignedVec<16>, reply: Option<ForeignReply> },
}

/// What shutdown found.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct ServiceExit {
    pub actors_left: usize,
    pub waited: Duration,
}

/// Runs until the node shuts down.
pub(crate) async fn run_service(core: Rc<CoreRt>) -> ServiceExit {
    let spin = Duration::from_micros(core.shared().config.idle_spin_us());
    let mut commands = VecDeque::new();
    // Frames from outside threads waiting for room, oldest first. While any
    // wait, no frame is taken from the inbox, so the inbox's bound bounds them.
    let mut held: VecDeque<Held> = VecDeque::new();
    let mut idle_since = None;
    let mut shutdown_at = None;
    loop {
        core.flush_rings();
        let mut work = core.drain_rings();
        while let Some(h) = held.pop_front() {
            if let Some(h) = core.retry_held(h) {
                held.push_front(h);
                break;
            }
            work += 1;
        }
        if core.shared().stopping.is_set() && shutdown_at.is_none() {
            shutdown_at = Some(clock::now());
            core.stop_all_actors();
        }
        let drained = if held.is_empty() {
            core.inbox().drain_into(&mut commands)
        } else {
            core.inbox().drain_passing_into(&mut commands)
        };
        if drained {
            while let Some(cmd) = commands.pop_front() {
                work += 1;
                match cmd {
                    Command::Frame { to_node, bytes, reply } => {
                        let h = if held.is_empty() {
                            core.accept_foreign(to_node, bytes, reply)
                        } else {
                            core.hold(to_node, bytes, reply)
                        };
                        held.extend(h);
                    }
                    Command::Run(f) => f(&core),
                    Command::Core(CoreCommand::Dial(node)) => {
                        // The node is up (or answered a probe): dial it now.
                        crate::transport::alive(&*core, node);
                        drop(core.link(node));
                    }
                    Command::Core(CoreCommand::NodeGone(node)) => core.node_gone(node),
                    Command::Connect { addr, reply } => connect_from(&core, addr, reply),
                    Command::Sample(reply) => reply.send(core.sample()),
                    Command::Shutdown => {
                        if shutdown_at.is_none() {
                            shutdown_at = Some(clock::now());
                            core.stop_all_actors();
                        }
                    }
                }
            }
        }
        if let Some(t0) = shutdown_at {
            let waited = clock::now().duration_since(t0);
            if core.live_actors() == 0 || waited > SHUTDOWN_GRACE {
                core.flush_rings();
                core.pending.borrow_mut().fail_all(&AskError::NodeStopped);
                // Frames still held die with the node (their asks see it stop).
                core.stats().dead_letters.add(held.len() as u64);
                core.shared().cores[usize::from(core.core_id().0)].signal.clear();
                return ServiceExit { actors_left: core.live_actors(), waited };
            }
            futures_lite::future::yield_now().await;
            continue;
        }
        if work > 0 {
            idle_since = None;
            futures_lite::future::yield_now().await;
            continue;
        }
        let now = clock::now();
        let since = *idle_since.get_or_insert(now);
        if now.duration_since(since) < spin {
            futures_lite::future::yield_now().await;
            continue;
        }
        let retry = matches!(held.front(), Some(Held::Remote { .. })).then_some(LINK_RETRY);
        park(&core, held.is_empty(), retry).await;
        idle_since = None;
    }
}

/// Parks until another thread signals this core, a local sender dirties a
/// ring, or `retry` passes. With `with_inbox` false (frames are held) only a
/// command that passes held frames counts as input from the inbox.
async fn park(core: &CoreRt, with_inbox: bool, retry: Option<Duration>) {
    let signal = &core.shared().cores[usize::from(core.core_id().0)].signal;
    let mut parked = false;
    let mut timer = retry.map(|d| Box::pin(glommio::timer::sleep(d)));
    poll_fn(|cx| {
        if parked || core.dirty.get() {
            signal.cancel_park();
            return Poll::Ready(());
        }
        if timer.as_mut().is_some_and(|t| t.as_mut().poll(cx).is_ready()) {
            return Poll::Ready(());
        }
        *core.service_waker.borrow_mut() = Some(cx.waker().clone());
        signal.prepare_park(cx.waker());
        if core.has_input(with_inbox) {
            signal.cancel_park();
            return Poll::Ready(());
        }
        parked = true;
        Poll::Pending
    })
    .await;
    core.service_waker.borrow_mut().take();
}

impl CoreRt {
    fn inbox(&self) -> &crate::sync::inbox::Inbox<Command> {
        &self.shared.cores[usize::from(self.core.0)].inbox
    }

    /// Whether a ring or the inbox holds something (re-reads the producers' indices).
    fn has_input(&self, with_inbox: bool) -> bool {
        let inbox = self.inbox();
        if if with_inbox { inbox.is_nonempty() } else { inbox.has_passing() } {
            return true;
        }
        let blocked = self.blocked_rings.borrow();
        self.rx
            .borrow_mut()
            .iter_mut()
            .enumerate()
            .any(|(s, rx)| !blocked[s] && rx.as_mut().is_some_and(|rx| rx.has_published()))
    }

    /// Moves published frames from every inbound ring into mailboxes or pending
    /// asks. Returns how many frames it moved. A ring whose next frame is for a
    /// full mailbox stops there (head-of-line: later frames from that source core
    /// wait too) and is marked blocked until an actor of this core drains.
    fn drain_rings(&self) -> usize {
        let mut moved = 0;
        let mut rxs = self.rx.borrow_mut();
        let mut blocked = self.blocked_rings.borrow_mut();
        for (source, rx) in rxs.iter_mut().enumerate() {
            let Some(rx) = rx else { continue };
            blocked[source] = false;
            let mut taken = 0;
            while taken < RING_ROUND_BYTES {
                let Some(bytes) = rx.peek() else { break };
                let Some(frame) = self.decoder.decode_local(bytes) else {
                    unreachable!("rings carry whole frames written by this process's cores");
                };
                let len = frame.frame_len();
                if self.route_frame(self.node, frame, Origin::Node) == Delivered::Blocked {
                    blocked[source] = true;
                    self.blocked_any.set(true);
                    break;
                }
                rx.consume(len);
                taken += len;
                moved += 1;
            }
            rx.release();
        }
        moved
    }

    /// A frame from a thread outside the runtime, with nothing held before
    /// it: register its ask and deliver it (to an actor of this core), or send
    /// it (to another node). Returns it when its path is full: the caller holds it.
    fn accept_foreign(
        self: &Rc<Self>,
        to_node: NodeId,
        bytes: AlignedVec<16>,
        reply: Option<ForeignReply>,
    ) -> Option<Held> {
        if to_node != self.node {
            return self.send_foreign_remote(to_node, bytes, reply);
        }
        let bytes = self.register_foreign(bytes, reply, self.node)?;
        self.deliver_parked(bytes).map(Held::Local)
    }

    /// A frame from an outside thread that arrived behind a held one: it is
    /// held too, so it cannot overtake (a local ask is registered now).
    fn hold(&self, to_node: NodeId, bytes: AlignedVec<16>, reply: Option<ForeignReply>) -> Option<Held> {
        if to_node != self.node {
            return Some(Held::Remote { node: to_node, bytes, reply });
        }
        self.register_foreign(bytes, reply, self.node).map(Held::Local)
    }

    /// Tries a held frame again; gives it back while its path is still full.
    fn retry_held(self: &Rc<Self>, held: Held) -> Option<Held> {
        match held {
            Held::Local(bytes) => self.deliver_parked(bytes).map(Held::Local),
            Held::Remote { node, bytes, reply } => self.send_foreign_remote(node, bytes, reply),
        }
    }

    /// Delivers a registered foreign frame; gives it back if its mailbox is full.
    fn deliver_parked(&self, bytes: AlignedVec<16>) -> Option<AlignedVec<16>> {
        let frame = self.decoder.decode_local(&bytes)?;
        match self.route_frame(self.node, frame, Origin::Node) {
            Delivered::Done => None,
            Delivered::Blocked => {
                self.blocked_any.set(true);
                Some(bytes)
            }
        }
    }

    /// Registers a foreign ask's reply channel, with the deadline its frame
    /// carries, and writes its correlation id and reply core into the frame.
    /// `None` when this core's table is full: the asking thread got
    /// `TooManyInFlight` and the frame is dropped unsent. A tell passes as is.
    fn register_foreign(
        &self,
        mut bytes: AlignedVec<16>,
        reply: Option<ForeignReply>,
        to_node: NodeId,
    ) -> Option<AlignedVec<16>> {
        let (mut header, ext) = match self.decoder.decode(&bytes) {
            Ok(Some(f)) => (*f.header(), f.ask_ext().copied()),
            other => unreachable!("the node handle encodes whole frames: {other:?}"),
        };
        if let (Some(reply), Some(ext)) = (reply, ext) {
            let target = crate::ids::ActorId {
                node: to_node,
                core: crate::ids::CoreId(header.core),
                slot: header.slot,
                generation: header.generation,
            };
            let deadline = self.foreign_deadline(ext.deadline_unix_ns);
            let registered =
                self.pending.borrow_mut().register_foreign(target, header.type_id, deadline, reply);
            let Some(corr) = registered else {
                self.stats().asks_refused.add(1);
                return None;
            };
            header.corr = corr;
            let ext = AskExt { reply_core: self.core.0, ..ext };
            let prefix = coremesh_wire::prefix_len(coremesh_wire::FrameKind::Ask);
            write_prefix(&mut bytes[..prefix], &header, Some(&ext)).expect("a whole ask prefix");
        }
        Some(bytes)
    }

    /// The monotonic deadline of a wall-clock one written by an outside thread
    /// (`ForeignAsk` always writes one; 0 would mean the default timeout).
    fn foreign_deadline(&self, deadline_unix_ns: u64) -> std::time::Instant {
        let left = match deadline_unix_ns {
            0 => Duration::from_millis(self.shared.config.ask_timeout_ms()),
            d => Duration::from_nanos(d.saturating_sub(clock::unix_now_ns())),
        };
        crate::actor::send::deadline_after(clock::now(), left)
    }

    /// A frame from an outside thread for an actor on another node: when its
    /// connection has room, register its ask here and queue it there; when
    /// the connection is full, give it back (the caller holds it). When there
    /// is no connection (the node is unknown or gone, or its connection was
    /// lost) it is dropped as a dead letter and its ask fails with `NotSent`:
    /// that is the node's loss, not a full path.
    fn send_foreign_remote(
        self: &Rc<Self>,
        to_node: NodeId,
        bytes: AlignedVec<16>,
        reply: Option<ForeignReply>,
    ) -> Option<Held> {
        let link = match self.link(to_node) {
            Ok(link) => link,
            Err(e) => {
                self.stats().dead_letters.add(1);
                if let Some(tx) = reply {
                    tx.send(Err(AskError::NotSent(e)));
                }
                return None;
            }
        };
        if !link.has_room() {
            return Some(Held::Remote { node: to_node, bytes, reply });
        }
        let bytes = self.register_foreign(bytes, reply, to_node)?;
        let frame = self.decoder.decode_local(&bytes)?;
        // The link had room just above, and nothing ran since.
        let routed = self.route_frame(to_node, frame, Origin::Node);
        debug_assert_eq!(routed, Delivered::Done);
        None
    }
}
