//! The core's own task: moves frames in from the rings and the inbox, carries
//! out the commands of other threads (membership's typed `CoreCommand`s
//! among them), publishes outbound rings, parks the core when idle, and runs
//! shutdown.
//!
//! Owns: `run_service`, one per core, alive as long as the core. It polls for
//! `idle_spin_us` after the last work before it parks, so a busy core never pays
//! the cost of a wake-up; a parked core is woken through its `CoreSignal`.
//!
//! Must never: block the thread, or park while a ring it feeds has unpublished
//! frames.

use std::collections::VecDeque;
use std::future::poll_fn;
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
use crate::transport::Delivered;

/// How many bytes one ring may hand in per round before the others get a turn.
const RING_ROUND_BYTES: usize = 64 * 1024;
/// How long shutdown waits for actors to run their stop hooks.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

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
    // Frames from outside threads whose mailbox was full, oldest first. While any
    // wait, the inbox is not drained, so the inbox's bound bounds them too.
    let mut parked: VecDeque<AlignedVec<16>> = VecDeque::new();
    let mut idle_since = None;
    let mut shutdown_at = None;
    loop {
        core.flush_rings();
        let mut work = core.drain_rings();
        while let Some(bytes) = parked.pop_front() {
            if let Some(bytes) = core.deliver_parked(bytes) {
                parked.push_front(bytes);
                break;
            }
            work += 1;
        }
        if core.shared().stopping.is_set() && shutdown_at.is_none() {
            shutdown_at = Some(clock::now());
            core.stop_all_actors();
        }
        if parked.is_empty() && core.inbox().drain_into(&mut commands) {
            while let Some(cmd) = commands.pop_front() {
                work += 1;
                match cmd {
                    Command::Frame { to_node, bytes, reply } if to_node != core.node_id() => {
                        core.send_foreign_remote(to_node, bytes, reply);
                    }
                    Command::Frame { bytes, reply, .. } => {
                        let node = core.node_id();
                        let blocked = if parked.is_empty() {
                            core.accept_foreign(bytes, reply)
                        } else {
                            core.register_foreign(bytes, reply, node)
                        };
                        parked.extend(blocked);
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
        park(&core, parked.is_empty()).await;
        idle_since = None;
    }
}

/// Parks until another thread signals this core or a local sender dirties a ring.
async fn park(core: &CoreRt, with_inbox: bool) {
    let signal = &core.shared().cores[usize::from(core.core_id().0)].signal;
    let mut parked = false;
    poll_fn(|cx| {
        if parked || core.dirty.get() {
            signal.cancel_park();
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
        if with_inbox && self.inbox().is_nonempty() {
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

    /// A frame from a thread outside the runtime: register its ask, deliver it.
    /// Returns the frame when its mailbox is full (the caller parks it).
    fn accept_foreign(&self, bytes: AlignedVec<16>, reply: Option<ForeignReply>) -> Option<AlignedVec<16>> {
        let bytes = self.register_foreign(bytes, reply, self.node)?;
        self.deliver_parked(bytes)
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
        to_node: crate::ids::NodeId,
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

    /// A frame from an outside thread for an actor on another node: register its
    /// ask here, then queue it on this core's link to that node.
    fn send_foreign_remote(
        self: &Rc<Self>,
        to_node: crate::ids::NodeId,
        bytes: AlignedVec<16>,
        reply: Option<ForeignReply>,
    ) {
        let refuse = |reply: Option<ForeignReply>, err: crate::error::TellError| {
            self.stats().dead_letters.add(1);
            if let Some(tx) = reply {
                tx.send(Err(AskError::NotSent(err)));
            }
        };
        let link = match self.link(to_node) {
            Ok(link) => link,
            Err(e) => return refuse(reply, e),
        };
        if !link.has_room() {
            return refuse(reply, crate::error::TellError::LinkFull { node: to_node, bytes: link.queued() });
        }
        let Some(bytes) = self.register_foreign(bytes, reply, to_node) else { return };
        let Some(frame) = self.decoder.decode_local(&bytes) else { return };
        // The link had room just above, and nothing ran since.
        let routed = self.route_frame(to_node, frame, Origin::Node);
        debug_assert_eq!(routed, Delivered::Done);
    }
}
