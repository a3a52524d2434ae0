//! The bounded retry queue of watch messages: a watcher whose mailbox stays
//! full while thousands of the actors it monitors stop. Every report is either
//! delivered or dropped and counted; none is lost silently, and no more than
//! `WATCH_RETRY_MAX` wait at once.

mod common;

use common::*;
use coremesh::{
    Actor, ActorDown, ActorId, ActorRef, ArchivedActorDown, AsyncHandler, CoreId, Ctx, Handler, Owned,
};
use rkyv::{Archive, Deserialize, Serialize};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const SECOND: Duration = Duration::from_secs(1);
const MAILBOX_BYTES: usize = 4096;

#[derive(Archive, Serialize, Deserialize, Debug)]
pub struct SpawnKids {
    pub n: u32,
}
#[derive(Archive, Serialize, Deserialize, Debug)]
pub struct Hold;
coremesh::message!(SpawnKids = "watch_retry.SpawnKids", Hold = "watch_retry.Hold");

/// Spawns and monitors its kids; `Hold` keeps its mailbox shut until the gate
/// opens (at most 30 s, so a failing test cannot hang).
struct Watcher {
    open: Arc<AtomicBool>,
    downs: Arc<AtomicU64>,
    hooks: Arc<Hooks>,
}
impl Actor for Watcher {}
impl Handler<SpawnKids> for Watcher {
    type Reply = Vec<ActorId>;
    fn handle(&mut self, msg: &ArchivedSpawnKids, ctx: &mut Ctx<Self>) -> Vec<ActorId> {
        (0..msg.n.to_native())
            .map(|_| {
                let kid = ctx.spawn(Counter::new(self.hooks.clone()));
                ctx.monitor(&kid);
                kid.id()
            })
            .collect()
    }
}
impl AsyncHandler<Hold> for Watcher {
    type Reply = ();
    async fn handle(&mut self, _msg: Owned<Hold>, _ctx: &mut Ctx<Self>) {
        let give_up = Instant::now() + 30 * SECOND;
        while !self.open.load(Ordering::SeqCst) && Instant::now() < give_up {
            glommio::timer::sleep(Duration::from_millis(1)).await;
        }
    }
}
impl Handler<ActorDown> for Watcher {
    type Reply = ();
    fn handle(&mut self, _msg: &ArchivedActorDown, _ctx: &mut Ctx<Self>) {
        self.downs.fetch_add(1, Ordering::SeqCst);
    }
}
coremesh::handlers!(Watcher: SpawnKids, ActorDown; async Hold);

#[test]
fn reports_to_a_full_mailbox_wait_in_a_bounded_queue_and_the_overflow_is_counted() {
    let max = coremesh::__private::WATCH_RETRY_MAX;
    // More reports than the mailbox (frames of 48 bytes or more) and the queue hold.
    let n = max + 1000;
    let mailbox_max = MAILBOX_BYTES / 48 + 1;
    let node = node_with(|b| b.mailbox_bytes_max(MAILBOX_BYTES));
    let (open, downs, hooks) = (Arc::new(AtomicBool::new(false)), Arc::new(AtomicU64::new(0)), hooks());
    let (o, d, h) = (open.clone(), downs.clone(), hooks.clone());
    let w = node.spawn_on(CoreId(0), move || Watcher { open: o, downs: d, hooks: h }).wait().unwrap();
    let kids = node.ask(&w, SpawnKids { n: n as u32 }).timeout(30 * SECOND).wait().unwrap();
    assert_eq!(kids.len(), n);
    node.tell(&w, Hold).unwrap();
    for &kid in &kids {
        node.tell(&ActorRef::<Counter>::from_id(kid), Stop).unwrap();
    }
    let dropped = || node.stats().cores[0].watch_messages_dropped as usize;
    // Each report is in the shut mailbox, in the queue, or dropped.
    let overflowed = wait_until(30 * SECOND, || dropped() >= n - max - mailbox_max);
    assert!(overflowed, "dropped {} of {n}", dropped());
    assert_eq!(downs.load(Ordering::SeqCst), 0, "the gate is still shut");
    open.store(true, Ordering::SeqCst);
    let accounted = wait_until(30 * SECOND, || downs.load(Ordering::SeqCst) as usize + dropped() == n);
    assert!(accounted, "delivered {} + dropped {} != {n}", downs.load(Ordering::SeqCst), dropped());
    node.shutdown().unwrap();
}
