//! Deferred replies (`Ctx::reply_later`, `ReplyTo`, `ReplyPort`) on one core,
//! across cores and across nodes over loopback sockets, and `lookup_wait`
//! held by the node asked until the name is published.

mod common;

use std::time::Duration;

use common::*;
use coremesh::{Actor, ActorRef, AskError, CoreId, Ctx, Handler, Node, ReplyError, ReplyPort, ReplyTo};

const T: Duration = Duration::from_secs(10);

/// Asks for the gate's value; answered when the gate opens.
#[coremesh::message_type("deferred.Wait")]
struct Wait;
/// Opens the gate: every waiting ask gets `value`. Replies how many of those
/// replies came after their ask's deadline.
#[coremesh::message_type("deferred.Open")]
struct Open {
    value: u64,
}
/// Drops every waiting reply handle unanswered.
#[coremesh::message_type("deferred.DropAll")]
struct DropAll;
/// How many asks wait.
#[coremesh::message_type("deferred.Held")]
struct Held;
/// Stops the gate (its held handles go with it).
#[coremesh::message_type("deferred.Halt")]
struct Halt;

struct Gate {
    waiting: Vec<ReplyTo<u64>>,
}
impl Actor for Gate {}
impl Handler<Wait> for Gate {
    type Reply = u64;
    fn handle(&mut self, _msg: &ArchivedWait, ctx: &mut Ctx<Self>) -> u64 {
        if let Some(port) = ctx.reply_later::<Wait>() {
            self.waiting.push(port);
        }
        u64::MAX // never sent to an asker: the reply was taken
    }
}
impl Handler<Open> for Gate {
    type Reply = u64;
    fn handle(&mut self, msg: &ArchivedOpen, _ctx: &mut Ctx<Self>) -> u64 {
        let value = msg.value.to_native();
        let late = self
            .waiting
            .drain(..)
            .map(|p| p.reply(value))
            .filter(|r| matches!(r, Err(ReplyError::Expired { .. })));
        late.count() as u64
    }
}
impl Handler<DropAll> for Gate {
    type Reply = ();
    fn handle(&mut self, _msg: &ArchivedDropAll, _ctx: &mut Ctx<Self>) {
        self.waiting.clear();
    }
}
impl Handler<Held> for Gate {
    type Reply = u64;
    fn handle(&mut self, _msg: &ArchivedHeld, _ctx: &mut Ctx<Self>) -> u64 {
        self.waiting.len() as u64
    }
}
impl Handler<Halt> for Gate {
    type Reply = ();
    fn handle(&mut self, _msg: &ArchivedHalt, ctx: &mut Ctx<Self>) {
        ctx.stop();
    }
}
coremesh::handlers!(Gate: Wait, Open, DropAll, Held, Halt);

/// Squares `n` by handing the work, and the way back, to `Squarer`.
#[coremesh::message_type("deferred.Square")]
struct Square {
    n: u64,
}
#[coremesh::message_type("deferred.SquareFor")]
struct SquareFor {
    n: u64,
    port: ReplyPort<u64>,
}

struct Front {
    worker: ActorRef<Squarer>,
}
impl Actor for Front {}
impl Handler<Square> for Front {
    type Reply = u64;
    fn handle(&mut self, msg: &ArchivedSquare, ctx: &mut Ctx<Self>) -> u64 {
        let port = ctx.reply_later::<Square>().expect("an ask");
        self.worker.tell(SquareFor { n: msg.n.to_native(), port: port.into_port() }).expect("tell");
        0
    }
}
coremesh::handlers!(Front: Square);

struct Squarer;
impl Actor for Squarer {}
impl Handler<SquareFor> for Squarer {
    type Reply = ();
    fn handle(&mut self, msg: &ArchivedSquareFor, ctx: &mut Ctx<Self>) {
        let n = msg.n.to_native();
        // Answer with the core number on top, to show who answered.
        let _ = msg.port.reply_to().reply(n * n + 1000 * u64::from(ctx.core_id().0));
    }
}
coremesh::handlers!(Squarer: SquareFor);

/// Hands every `Wait`'s reply handle to a plain thread.
struct Outsourcer {
    out: std::sync::mpsc::Sender<ReplyTo<u64>>,
}
impl Actor for Outsourcer {}
impl Handler<Wait> for Outsourcer {
    type Reply = u64;
    fn handle(&mut self, _msg: &ArchivedWait, ctx: &mut Ctx<Self>) -> u64 {
        let port = ctx.reply_later::<Wait>().expect("an ask");
        self.out.send(port).expect("the test thread listens");
        0
    }
}
coremesh::handlers!(Outsourcer: Wait);

#[test]
fn a_reply_handle_answered_or_dropped_on_a_plain_thread_reaches_the_asker() {
    let (a, b) = (net_node(), net_node());
    a.connect(b.listen_addr()).wait().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let r = b.spawn_on(CoreId(0), move || Outsourcer { out: tx }).wait().unwrap();
    for asker in [&a, &b] {
        let (h, to) = (asker.handle(), r);
        let ask = std::thread::spawn(move || h.ask(&to, Wait).timeout(T).wait());
        let port = rx.recv_timeout(T).unwrap();
        assert!(coremesh::local::core_id().is_none(), "answered off-core");
        port.reply(11).unwrap();
        assert_eq!(ask.join().unwrap(), Ok(11));
        let (h, to) = (asker.handle(), r);
        let ask = std::thread::spawn(move || h.ask(&to, Wait).timeout(Duration::from_secs(20)).wait());
        drop(rx.recv_timeout(T).unwrap());
        assert_eq!(ask.join().unwrap(), Err(AskError::ReplyDropped { actor: r.id() }));
    }
    a.shutdown().unwrap();
    b.shutdown().unwrap();
}

fn gate_on(node: &coremesh::NodeHandle, core: u16) -> ActorRef<Gate> {
    node.spawn_on(CoreId(core), || Gate { waiting: Vec::new() }).wait().expect("spawn")
}

/// Asks `Wait` from a thread of its own, with `timeout`.
fn ask_wait(
    node: &coremesh::NodeHandle,
    gate: ActorRef<Gate>,
    timeout: Duration,
) -> std::thread::JoinHandle<Result<u64, AskError>> {
    let node = node.clone();
    std::thread::spawn(move || node.ask(&gate, Wait).timeout(timeout).wait())
}

fn held(node: &coremesh::NodeHandle, gate: ActorRef<Gate>, n: u64) -> bool {
    wait_until(T, || node.ask(&gate, Held).timeout(T).wait() == Ok(n))
}

#[test]
fn a_deferred_reply_comes_after_other_messages_were_handled() {
    let node = node();
    let gate = gate_on(&node, 0);
    let asks: Vec<_> = (0..3).map(|_| ask_wait(&node, gate, T)).collect();
    // The gate answers other asks meanwhile: it is not blocked.
    assert!(held(&node, gate, 3), "three asks are held");
    assert_eq!(node.ask(&gate, Open { value: 42 }).timeout(T).wait(), Ok(0));
    for a in asks {
        assert_eq!(a.join().unwrap(), Ok(42));
    }
    // On the core too, with the ask awaited by a task of the gate's own core.
    let other = on_core(&node, CoreId(0), move || async move {
        let asked = glommio::spawn_local(async move { gate.ask(Wait).timeout(T).await });
        for _ in 0..10_000 {
            if gate.ask(Held).timeout(T).await == Ok(1) {
                break;
            }
            coremesh::time::sleep(Duration::from_millis(1)).await;
        }
        gate.tell(Open { value: 7 }).unwrap();
        asked.await
    });
    assert_eq!(other, Ok(7));
    node.shutdown().unwrap();
}

#[test]
fn reply_later_on_a_tell_takes_nothing() {
    let node = node();
    let gate = gate_on(&node, 0);
    node.tell(&gate, Wait).unwrap();
    assert_eq!(node.ask(&gate, Held).timeout(T).wait(), Ok(0));
    node.shutdown().unwrap();
}

#[test]
fn a_reply_port_sent_to_an_actor_on_another_core_is_answered_there() {
    if !two_cpus() {
        return;
    }
    let node = node();
    let worker = node.spawn_on(CoreId(1), || Squarer).wait().unwrap();
    let front = node.spawn_on(CoreId(0), move || Front { worker }).wait().unwrap();
    assert_eq!(node.ask(&front, Square { n: 7 }).timeout(T).wait(), Ok(1049));
    // And from a task on the front's own core.
    let got = on_core(&node, CoreId(0), move || async move { front.ask(Square { n: 3 }).timeout(T).await });
    assert_eq!(got, Ok(1009));
    node.shutdown().unwrap();
}

#[test]
fn a_dropped_reply_handle_fails_the_asker_at_once_with_reply_dropped() {
    let node = node();
    let gate = gate_on(&node, 0);
    // A timeout far beyond the test's own bound: only ReplyDropped ends it in time.
    let long = Duration::from_secs(20);
    let ask = ask_wait(&node, gate, long);
    assert!(held(&node, gate, 1));
    node.tell(&gate, DropAll).unwrap();
    assert_eq!(ask.join().unwrap(), Err(AskError::ReplyDropped { actor: gate.id() }));
    // A stopping actor drops the handles it holds.
    let ask = ask_wait(&node, gate, long);
    assert!(held(&node, gate, 1));
    node.tell(&gate, Halt).unwrap();
    assert_eq!(ask.join().unwrap(), Err(AskError::ReplyDropped { actor: gate.id() }));
    node.shutdown().unwrap();
}

#[test]
fn a_reply_after_the_deadline_is_dropped_and_the_asker_got_timeout() {
    let node = node();
    let gate = gate_on(&node, 0);
    let ask = ask_wait(&node, gate, Duration::from_millis(50));
    assert_eq!(ask.join().unwrap(), Err(AskError::Timeout));
    // The handle outlived its ask: its reply is refused as expired, sends nothing.
    assert_eq!(node.ask(&gate, Open { value: 1 }).timeout(T).wait(), Ok(1));
    let late = node.stats().cores[0].late_replies;
    assert_eq!(late, 0, "nothing was sent for the expired reply");
    // A dropped expired handle sends nothing either, and the gate serves on.
    let ask = ask_wait(&node, gate, Duration::from_millis(50));
    assert_eq!(ask.join().unwrap(), Err(AskError::Timeout));
    node.tell(&gate, DropAll).unwrap();
    let ask = ask_wait(&node, gate, T);
    assert!(held(&node, gate, 1));
    assert_eq!(node.ask(&gate, Open { value: 5 }).timeout(T).wait(), Ok(0));
    assert_eq!(ask.join().unwrap(), Ok(5));
    node.shutdown().unwrap();
}

fn net_node() -> Node {
    node_with(|b| b.listen("127.0.0.1:0".parse().unwrap()))
}

#[test]
fn a_deferred_reply_and_a_dropped_handle_reach_an_asker_on_another_node() {
    let (a, b) = (net_node(), net_node());
    assert_eq!(a.connect(b.listen_addr()).wait(), Ok(b.id()));
    let gate = gate_on(&b, 0);
    let ask = ask_wait(&a, gate, T);
    assert!(held(&a, gate, 1));
    a.tell(&gate, Open { value: 9 }).unwrap();
    assert_eq!(ask.join().unwrap(), Ok(9));
    let ask = ask_wait(&a, gate, Duration::from_secs(20));
    assert!(held(&a, gate, 1));
    a.tell(&gate, DropAll).unwrap();
    assert_eq!(ask.join().unwrap(), Err(AskError::ReplyDropped { actor: gate.id() }));
    a.shutdown().unwrap();
    b.shutdown().unwrap();
}

#[test]
fn lookup_wait_returns_the_ref_once_the_peer_publishes_it() {
    let (a, b) = (net_node(), net_node());
    a.connect(b.listen_addr()).wait().unwrap();
    let (ah, peer) = (a.clone(), b.id());
    let waiting = std::thread::spawn(move || ah.lookup_wait::<Gate>(peer, "gate", T).wait());
    // The lookup is held on b before anything is published.
    assert!(wait_until(T, || coremesh::__private::lookups_waiting(&b) == 1));
    assert_eq!(a.lookup::<Gate>(b.id(), "gate").wait(), Ok(None));
    let gate = gate_on(&b, 0);
    b.publish("gate", &gate);
    assert_eq!(waiting.join().unwrap(), Ok(gate));
    assert_eq!(coremesh::__private::lookups_waiting(&b), 0);
    // Published already: answered at once; the ref works.
    let found = a.lookup_wait::<Gate>(b.id(), "gate", T).wait().unwrap();
    assert_eq!(a.ask(&found, Held).timeout(T).wait(), Ok(0));
    // On this node too, awaited from a worker core.
    let here = on_core(&b, CoreId(0), move || async move {
        let node = coremesh::local::node().expect("on a core");
        node.lookup_wait::<Gate>(node.id(), "gate", T).await
    });
    assert_eq!(here, Ok(gate));
    a.shutdown().unwrap();
    b.shutdown().unwrap();
}

#[test]
fn lookup_wait_for_a_name_never_published_times_out_at_its_deadline() {
    let (a, b) = (net_node(), net_node());
    a.connect(b.listen_addr()).wait().unwrap();
    let got = a.lookup_wait::<Gate>(b.id(), "nobody", Duration::from_millis(200)).wait();
    assert_eq!(got, Err(AskError::Timeout));
    // The expired lookup is pruned by the next one, and publishing later sends nothing.
    let gate = gate_on(&b, 0);
    b.publish("nobody", &gate);
    assert_eq!(coremesh::__private::lookups_waiting(&b), 0);
    a.shutdown().unwrap();
    b.shutdown().unwrap();
}

#[test]
fn lookup_wait_past_the_bound_of_waiting_lookups_is_refused_typed() {
    let node = node();
    let id = node.id();
    let max = coremesh::LOOKUP_WAITS_MAX;
    let asks: Vec<_> = (0..max).map(|i| node.lookup_wait::<Gate>(id, &format!("n{i}"), T)).collect();
    let asks: Vec<_> = asks.into_iter().map(std::future::IntoFuture::into_future).collect();
    assert!(wait_until(T, || coremesh::__private::lookups_waiting(&node) == max));
    let refused = node.lookup_wait::<Gate>(id, "one-more", T).wait();
    assert_eq!(refused, Err(AskError::LookupsFull { node: id, max }));
    let gate = gate_on(&node, 0);
    node.publish("n7", &gate);
    let seventh = asks.into_iter().nth(7).unwrap();
    assert_eq!(futures_lite::future::block_on(seventh), Ok(gate));
    node.shutdown().unwrap();
}
