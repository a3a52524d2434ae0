//! The pending-reply table seen from outside: the per-core bound on asks in
//! flight (`COREMESH_INFLIGHT_ASKS_MAX`) and the core's own expiry of asks that
//! never get a reply.

mod common;

use common::*;
use coremesh::{Actor, AskError, AsyncHandler, CoreId, Ctx, Handler, Owned};
use rkyv::{Archive, Deserialize, Serialize};
use std::future::IntoFuture;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

const SECOND: Duration = Duration::from_secs(1);

#[derive(Archive, Serialize, Deserialize, Debug)]
pub struct Hold;
#[derive(Archive, Serialize, Deserialize, Debug)]
pub struct Ping;
coremesh::message!(Hold = "pending.Hold", Ping = "pending.Ping");

/// Holds its mailbox shut while its gate is closed: `Hold` waits for the gate
/// (at most 20 s, so a failing test cannot hang), and nothing queued behind it
/// is handled meanwhile.
struct Gated {
    open: Arc<AtomicBool>,
    pings: Arc<AtomicU64>,
}
impl Actor for Gated {}
impl AsyncHandler<Hold> for Gated {
    type Reply = ();
    async fn handle(&mut self, _msg: Owned<Hold>, _ctx: &mut Ctx<Self>) {
        let give_up = Instant::now() + 20 * SECOND;
        while !self.open.load(Ordering::SeqCst) && Instant::now() < give_up {
            glommio::timer::sleep(Duration::from_millis(1)).await;
        }
    }
}
impl Handler<Ping> for Gated {
    type Reply = ();
    fn handle(&mut self, _msg: &ArchivedPing, _ctx: &mut Ctx<Self>) {
        self.pings.fetch_add(1, Ordering::SeqCst);
    }
}
coremesh::handlers!(Gated: Ping; async Hold);

#[test]
fn a_core_with_its_bound_of_asks_in_flight_refuses_the_next_at_once() {
    const MAX: usize = 8;
    let node = node_with(|b| b.inflight_asks_max(MAX));
    let r = counter_on(&node, 0, &hooks());
    let full = AskError::TooManyInFlight { core: CoreId(0), max: MAX };
    let (refused_tx, refused_rx) = mpsc::channel();
    let (go_tx, go_rx) = mpsc::channel::<()>();
    let (done_tx, done_rx) = mpsc::channel();
    node.run_on(CoreId(0), move || {
        glommio::spawn_local(async move {
            // MAX asks, each polled once: registered and sent, none read yet. No
            // await in between, so none of them can end before the next one.
            let mut held = Vec::new();
            for _ in 0..MAX {
                let mut ask = r.ask(Add { n: 1 }).timeout(20 * SECOND).into_future();
                assert!(futures_lite::future::poll_once(&mut ask).await.is_none());
                held.push(ask);
            }
            let _ = refused_tx.send(r.ask(Add { n: 1 }).timeout(SECOND).await);
            // Hold them while the outside thread asks too.
            let give_up = Instant::now() + 20 * SECOND;
            while go_rx.try_recv().is_err() && Instant::now() < give_up {
                glommio::timer::sleep(Duration::from_millis(1)).await;
            }
            let mut replies = Vec::new();
            for ask in held {
                replies.push(ask.await);
            }
            let after = r.ask(Get).timeout(5 * SECOND).await;
            let _ = done_tx.send((replies, after));
        })
        .detach();
    })
    .wait()
    .unwrap();
    let refused = refused_rx.recv_timeout(20 * SECOND).expect("the core task asked");
    assert_eq!(refused, Err(full.clone()), "an ask from the full core fails at once");
    // An outside thread's ask to an actor of that core is registered there: refused too.
    assert_eq!(node.ask(&r, Add { n: 1 }).timeout(5 * SECOND).wait(), Err(full));
    go_tx.send(()).unwrap();
    let (replies, after) = done_rx.recv_timeout(20 * SECOND).expect("the held asks ended");
    let mut got: Vec<u64> = replies.into_iter().map(|r| r.expect("a held ask is answered")).collect();
    got.sort_unstable();
    assert_eq!(got, (1..=MAX as u64).collect::<Vec<_>>());
    assert_eq!(after, Ok((MAX as u64, 0)), "room came back, and neither refused ask ran");
    assert_eq!(node.stats().total().asks_refused, 2);
    node.shutdown().unwrap();
}

#[test]
fn a_foreign_ask_that_never_gets_a_reply_frees_its_entry() {
    let node = node();
    let open = Arc::new(AtomicBool::new(false));
    let pings = Arc::new(AtomicU64::new(0));
    let (o, p) = (open.clone(), pings.clone());
    let g = node.spawn_on(CoreId(0), move || Gated { open: o, pings: p }).wait().unwrap();
    node.tell(&g, Hold).unwrap();
    // Queued behind the gate: no reply can come while it is shut.
    let out = node.ask(&g, Ping).timeout(Duration::from_millis(50)).wait();
    assert_eq!(out, Err(AskError::Timeout));
    let pending = || coremesh::__private::pending_asks(&node, CoreId(0)).unwrap();
    let freed = wait_until(5 * SECOND, || pending() == 0 && node.stats().cores[0].asks_timed_out == 1);
    assert!(freed, "entries left: {}, stats: {:?}", pending(), node.stats().cores[0]);
    assert_eq!(pings.load(Ordering::SeqCst), 0, "freed by its deadline, not by a reply");
    open.store(true, Ordering::SeqCst);
    // The request reaches the actor after its deadline: dropped unrun.
    assert!(wait_until(5 * SECOND, || node.stats().total().expired_asks == 1));
    assert_eq!(pings.load(Ordering::SeqCst), 0);
    assert_eq!(pending(), 0);
    node.shutdown().unwrap();
}
