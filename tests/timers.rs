//! Actor timers: `Ctx::send_after` and `Ctx::interval` deliver ordinary
//! messages through the mailbox, in order; `TimerHandle::cancel` and the
//! actor's stop end them.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use coremesh::{Actor, ActorRef, CoreId, Ctx, Handler, TimerHandle};

const T: Duration = Duration::from_secs(10);

#[coremesh::message_type("timers.Tick")]
struct Tick {
    n: u64,
}
#[coremesh::message_type("timers.StartTicks")]
struct StartTicks {
    period_ms: u64,
}
/// Cancels the ticks; replies how many were handled.
#[coremesh::message_type("timers.CancelTicks")]
struct CancelTicks;
#[coremesh::message_type("timers.Later")]
struct Later {
    tag: u64,
    delay_ms: u64,
    cancel: bool,
}
#[coremesh::message_type("timers.Tagged")]
#[derive(Clone)]
struct Tagged {
    tag: u64,
}
#[coremesh::message_type("timers.Halt")]
struct Halt;

#[derive(Default)]
struct Seen {
    ticks: Vec<u64>,
    tags: Vec<u64>,
}

struct Ticker {
    seen: Arc<Mutex<Seen>>,
    ticks: Option<TimerHandle>,
}
impl Actor for Ticker {}
impl Handler<Tick> for Ticker {
    type Reply = ();
    fn handle(&mut self, msg: &ArchivedTick, _ctx: &mut Ctx<Self>) {
        self.seen.lock().unwrap().ticks.push(msg.n.to_native());
    }
}
impl Handler<StartTicks> for Ticker {
    type Reply = ();
    fn handle(&mut self, msg: &ArchivedStartTicks, ctx: &mut Ctx<Self>) {
        let mut n = 0;
        let period = Duration::from_millis(msg.period_ms.to_native());
        self.ticks = Some(ctx.interval_with(period, move || {
            n += 1;
            Tick { n }
        }));
    }
}
impl Handler<CancelTicks> for Ticker {
    type Reply = u64;
    fn handle(&mut self, _msg: &ArchivedCancelTicks, _ctx: &mut Ctx<Self>) -> u64 {
        if let Some(t) = self.ticks.take() {
            t.cancel();
            assert!(t.is_finished());
        }
        self.seen.lock().unwrap().ticks.len() as u64
    }
}
impl Handler<Later> for Ticker {
    type Reply = ();
    fn handle(&mut self, msg: &ArchivedLater, ctx: &mut Ctx<Self>) {
        let delay = Duration::from_millis(msg.delay_ms.to_native());
        let t = ctx.send_after(Tagged { tag: msg.tag.to_native() }, delay);
        if msg.cancel {
            t.cancel();
        }
    }
}
impl Handler<Tagged> for Ticker {
    type Reply = ();
    fn handle(&mut self, msg: &ArchivedTagged, _ctx: &mut Ctx<Self>) {
        self.seen.lock().unwrap().tags.push(msg.tag.to_native());
    }
}
impl Handler<Halt> for Ticker {
    type Reply = ();
    fn handle(&mut self, _msg: &ArchivedHalt, ctx: &mut Ctx<Self>) {
        ctx.stop();
    }
}
coremesh::handlers!(Ticker: Tick, StartTicks, CancelTicks, Later, Tagged, Halt);

fn ticker(node: &coremesh::NodeHandle) -> (ActorRef<Ticker>, Arc<Mutex<Seen>>) {
    let seen = Arc::new(Mutex::new(Seen::default()));
    let s = seen.clone();
    let r = node.spawn_on(CoreId(0), move || Ticker { seen: s, ticks: None }).wait().unwrap();
    (r, seen)
}

/// Long enough for many 2 ms periods to pass, were a timer still running.
const QUIET: Duration = Duration::from_millis(200);

#[test]
fn interval_ticks_arrive_in_order_and_cancel_stops_them() {
    let node = node();
    let (r, seen) = ticker(&node);
    node.tell(&r, StartTicks { period_ms: 2 }).unwrap();
    assert!(wait_until(T, || seen.lock().unwrap().ticks.len() >= 10), "ten ticks within 10 s");
    let at_cancel = node.ask(&r, CancelTicks).timeout(T).wait().unwrap();
    std::thread::sleep(QUIET);
    let ticks = seen.lock().unwrap().ticks.clone();
    assert_eq!(ticks.len() as u64, at_cancel, "no tick after cancel");
    assert_eq!(ticks, (1..=at_cancel).collect::<Vec<_>>(), "ticks in order, none lost");
    node.shutdown().unwrap();
}

#[test]
fn send_after_delivers_once_in_deadline_order_and_a_cancelled_one_never() {
    let node = node();
    let (r, seen) = ticker(&node);
    node.tell(&r, Later { tag: 1, delay_ms: 150, cancel: false }).unwrap();
    node.tell(&r, Later { tag: 2, delay_ms: 10, cancel: false }).unwrap();
    node.tell(&r, Later { tag: 3, delay_ms: 20, cancel: true }).unwrap();
    assert!(wait_until(T, || seen.lock().unwrap().tags.len() >= 2));
    std::thread::sleep(QUIET);
    assert_eq!(seen.lock().unwrap().tags, vec![2, 1]);
    node.shutdown().unwrap();
}

#[test]
fn an_actor_that_stops_stops_its_timers() {
    let node = node();
    let (r, seen) = ticker(&node);
    node.tell(&r, StartTicks { period_ms: 2 }).unwrap();
    node.tell(&r, Later { tag: 9, delay_ms: 100, cancel: false }).unwrap();
    assert!(wait_until(T, || seen.lock().unwrap().ticks.len() >= 3));
    node.tell(&r, Halt).unwrap();
    assert!(wait_until(T, || node.ask(&r, CancelTicks).timeout(T).wait().is_err()), "the ticker stopped");
    let at_stop = seen.lock().unwrap().ticks.len();
    let dead = node.stats().cores[0].dead_letters;
    std::thread::sleep(QUIET);
    assert_eq!(seen.lock().unwrap().ticks.len(), at_stop, "no tick after the stop");
    // The timers' tasks ended with the actor: neither the interval's next
    // tick nor the pending send_after (due 100 ms in) even tried the closed
    // mailbox (that would count a dead letter).
    assert!(seen.lock().unwrap().tags.is_empty());
    assert_eq!(node.stats().cores[0].dead_letters, dead, "a timer outlived its actor");
    node.shutdown().unwrap();
}
