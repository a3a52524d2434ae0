//! Monitors and links: `ActorDown` for a stop on the same core, another core
//! and another node (in-process nodes over real TCP on loopback); a monitor
//! of an actor that is already gone; node-down through the hook the
//! membership calls; links that stop the other side on failure, but not on a
//! Normal stop; trapped links. Every wait is bounded.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{node, node_with, two_cpus, wait_until};
use coremesh::{
    Actor, ActorDown, ActorId, ActorRef, CoreId, Ctx, DownReason, Handler, Node, NodeDown, NodeId, StopReason,
};
use rkyv::{Archive, Deserialize, Serialize};

const T: Duration = Duration::from_secs(10);

#[derive(Archive, Serialize, Deserialize)]
struct Monitor {
    target: ActorId,
}
#[derive(Archive, Serialize, Deserialize)]
struct Demonitor {
    target: ActorId,
}
#[derive(Archive, Serialize, Deserialize)]
struct Link {
    target: ActorId,
}
#[derive(Archive, Serialize, Deserialize)]
struct Trap;
#[derive(Archive, Serialize, Deserialize)]
struct MonitorNode {
    node: NodeId,
}
#[derive(Archive, Serialize, Deserialize)]
struct Panic;
#[derive(Archive, Serialize, Deserialize)]
struct Quit;
#[derive(Archive, Serialize, Deserialize)]
struct Ping;
coremesh::message!(
    Monitor = "monitors.Monitor",
    Demonitor = "monitors.Demonitor",
    Link = "monitors.Link",
    Trap = "monitors.Trap",
    MonitorNode = "monitors.MonitorNode",
    Panic = "monitors.Panic",
    Quit = "monitors.Quit",
    Ping = "monitors.Ping",
);

/// What one probe saw, shared with the test thread.
#[derive(Default)]
struct Log {
    downs: Mutex<Vec<(ActorId, DownReason)>>,
    node_downs: Mutex<Vec<NodeId>>,
    stopped: Mutex<Option<StopReason>>,
}

impl Log {
    fn downs(&self) -> Vec<(ActorId, DownReason)> {
        self.downs.lock().unwrap().clone()
    }
    fn node_downs(&self) -> Vec<NodeId> {
        self.node_downs.lock().unwrap().clone()
    }
    fn stopped(&self) -> Option<StopReason> {
        self.stopped.lock().unwrap().clone()
    }
    /// Waits until `n` downs arrived; returns them.
    fn wait_downs(&self, n: usize) -> Vec<(ActorId, DownReason)> {
        let ok = wait_until(T, || self.downs.lock().unwrap().len() >= n);
        assert!(ok, "expected {n} ActorDown within {T:?}, got {:?}", self.downs());
        self.downs()
    }
    /// Waits until the actor's `stopped` hook ran; returns its reason.
    fn wait_stopped(&self) -> StopReason {
        let ok = wait_until(T, || self.stopped.lock().unwrap().is_some());
        assert!(ok, "the actor did not stop within {T:?}");
        self.stopped().unwrap()
    }
}

/// Monitors, links and fails on request, and records what reaches it.
struct Probe {
    log: Arc<Log>,
}

impl Actor for Probe {
    fn stopped(&mut self, reason: &StopReason) {
        *self.log.stopped.lock().unwrap() = Some(reason.clone());
    }
}
impl Handler<ActorDown> for Probe {
    type Reply = ();
    fn handle(&mut self, msg: &coremesh::ArchivedActorDown, _ctx: &mut Ctx<Self>) {
        self.log.downs.lock().unwrap().push((msg.actor.to_native(), msg.reason.to_native()));
    }
}
impl Handler<NodeDown> for Probe {
    type Reply = ();
    fn handle(&mut self, msg: &coremesh::ArchivedNodeDown, _ctx: &mut Ctx<Self>) {
        self.log.node_downs.lock().unwrap().push(NodeId(msg.node.0.to_native()));
    }
}
impl Handler<Monitor> for Probe {
    type Reply = ();
    fn handle(&mut self, msg: &ArchivedMonitor, ctx: &mut Ctx<Self>) {
        ctx.monitor(&ActorRef::<Probe>::from_id(msg.target.to_native()));
    }
}
impl Handler<Demonitor> for Probe {
    type Reply = ();
    fn handle(&mut self, msg: &ArchivedDemonitor, ctx: &mut Ctx<Self>) {
        ctx.demonitor(&ActorRef::<Probe>::from_id(msg.target.to_native()));
    }
}
impl Handler<Link> for Probe {
    type Reply = ();
    fn handle(&mut self, msg: &ArchivedLink, ctx: &mut Ctx<Self>) {
        ctx.link(&ActorRef::<Probe>::from_id(msg.target.to_native()));
    }
}
impl Handler<Trap> for Probe {
    type Reply = ();
    fn handle(&mut self, _msg: &ArchivedTrap, ctx: &mut Ctx<Self>) {
        ctx.trap_links(true);
    }
}
impl Handler<MonitorNode> for Probe {
    type Reply = ();
    fn handle(&mut self, msg: &ArchivedMonitorNode, ctx: &mut Ctx<Self>) {
        ctx.monitor_node(NodeId(msg.node.0.to_native()));
    }
}
impl Handler<Panic> for Probe {
    type Reply = ();
    fn handle(&mut self, _msg: &ArchivedPanic, _ctx: &mut Ctx<Self>) {
        panic!("probe told to panic");
    }
}
impl Handler<Quit> for Probe {
    type Reply = ();
    fn handle(&mut self, _msg: &ArchivedQuit, ctx: &mut Ctx<Self>) {
        ctx.stop();
    }
}
impl Handler<Ping> for Probe {
    type Reply = u32;
    fn handle(&mut self, _msg: &ArchivedPing, _ctx: &mut Ctx<Self>) -> u32 {
        7
    }
}
coremesh::handlers!(Probe: ActorDown, NodeDown, Monitor, Demonitor, Link, Trap, MonitorNode, Panic, Quit, Ping);

fn probe_on(node: &Node, core: u16) -> (ActorRef<Probe>, Arc<Log>) {
    let log = Arc::new(Log::default());
    let l = log.clone();
    let r = node.spawn_on(CoreId(core), move || Probe { log: l }).wait().expect("spawn");
    (r, log)
}

/// Sends `msg` and waits until its handler ran.
fn run<M: coremesh::Message>(node: &Node, to: &ActorRef<Probe>, msg: M)
where
    Probe: coremesh::Handles<M, Reply = ()>,
{
    node.ask(to, msg).timeout(T).wait().expect("the probe handled the request");
}

/// Waits until `target`'s core holds `n` watchers of it (the request arrived).
fn wait_watchers(node: &Node, target: &ActorRef<Probe>, n: usize) {
    let ok = wait_until(T, || coremesh::__private::watchers_of(node, target.id()) == Ok(n));
    assert!(ok, "{target:?} has {:?} watchers, not {n}", coremesh::__private::watchers_of(node, target.id()));
}

fn fail(node: &Node, to: &ActorRef<Probe>) {
    assert!(node.ask(to, Panic).timeout(T).wait().is_err(), "a panicking handler gives no reply");
}

fn is_probe_panic(reason: &DownReason) -> bool {
    matches!(reason, DownReason::Panicked { message, .. } if message.contains("probe told to panic"))
}

/// The cores to try: this one, and another one where the machine has two.
fn target_cores() -> Vec<u16> {
    if two_cpus() {
        vec![0, 1]
    } else {
        vec![0]
    }
}

fn net_node() -> Node {
    node_with(|b| b.listen("127.0.0.1:0".parse().unwrap()))
}

fn two_nodes() -> (Node, Node) {
    let (a, b) = (net_node(), net_node());
    assert_eq!(a.connect(b.listen_addr()).wait(), Ok(b.id()));
    (a, b)
}

#[test]
fn a_monitor_reports_a_normal_stop_and_a_panic_on_this_core_and_another() {
    let n = node();
    for core in target_cores() {
        let (watcher, log) = probe_on(&n, 0);
        let (quits, _) = probe_on(&n, core);
        let (panics, _) = probe_on(&n, core);
        run(&n, &watcher, Monitor { target: quits.id() });
        run(&n, &watcher, Monitor { target: panics.id() });
        wait_watchers(&n, &quits, 1);
        wait_watchers(&n, &panics, 1);
        run(&n, &quits, Quit);
        assert_eq!(log.wait_downs(1), [(quits.id(), DownReason::Normal)], "core {core}");
        fail(&n, &panics);
        let downs = log.wait_downs(2);
        assert_eq!(downs[1].0, panics.id());
        assert!(is_probe_panic(&downs[1].1), "core {core}: {downs:?}");
        assert_eq!(n.ask(&watcher, Ping).timeout(T).wait(), Ok(7), "a monitor never stops the watcher");
        assert_eq!(coremesh::__private::watchers_of(&n, quits.id()), Ok(0));
    }
    n.shutdown().unwrap();
}

#[test]
fn a_dropped_monitor_reports_nothing() {
    let n = node();
    let (watcher, log) = probe_on(&n, 0);
    let (target, target_log) = probe_on(&n, 0);
    run(&n, &watcher, Monitor { target: target.id() });
    run(&n, &watcher, Demonitor { target: target.id() });
    assert_eq!(coremesh::__private::watchers_of(&n, target.id()), Ok(0));
    run(&n, &target, Quit);
    target_log.wait_stopped();
    // Same core: a report would have been queued when the target stopped,
    // ahead of this ask.
    assert_eq!(n.ask(&watcher, Ping).timeout(T).wait(), Ok(7));
    assert!(log.downs().is_empty(), "{:?}", log.downs());
    n.shutdown().unwrap();
}

#[test]
fn a_monitor_of_an_actor_already_gone_reports_no_actor_at_once() {
    let (a, b) = two_nodes();
    let mut gone = Vec::new();
    for core in target_cores() {
        let (r, log) = probe_on(&a, core);
        run(&a, &r, Quit);
        log.wait_stopped();
        gone.push(r.id());
    }
    let (r, log) = probe_on(&b, 0);
    run(&b, &r, Quit);
    log.wait_stopped();
    gone.push(r.id());
    // A slot that never held an actor.
    gone.push(ActorId { node: a.id(), core: CoreId(0), slot: 100_000, generation: 1 });

    let (watcher, log) = probe_on(&a, 0);
    for target in &gone {
        run(&a, &watcher, Monitor { target: *target });
    }
    let mut downs = log.wait_downs(gone.len());
    downs.sort_by_key(|d| d.0);
    let mut want: Vec<_> = gone.iter().map(|g| (*g, DownReason::NoActor)).collect();
    want.sort_by_key(|d| d.0);
    assert_eq!(downs, want);
    a.shutdown().unwrap();
    b.shutdown().unwrap();
}

#[test]
fn a_remote_monitor_reports_a_stop_on_another_node() {
    let (a, b) = two_nodes();
    let (watcher, log) = probe_on(&a, 0);
    let (quits, _) = probe_on(&b, 0);
    let (panics, _) = probe_on(&b, b.cores() as u16 - 1);
    run(&a, &watcher, Monitor { target: quits.id() });
    run(&a, &watcher, Monitor { target: panics.id() });
    wait_watchers(&b, &quits, 1);
    wait_watchers(&b, &panics, 1);
    run(&b, &quits, Quit);
    assert_eq!(log.wait_downs(1), [(quits.id(), DownReason::Normal)]);
    fail(&b, &panics);
    let downs = log.wait_downs(2);
    assert_eq!(downs[1].0, panics.id());
    assert!(is_probe_panic(&downs[1].1), "{downs:?}");
    a.shutdown().unwrap();
    b.shutdown().unwrap();
}

#[test]
fn node_down_reaches_monitors_links_and_node_monitors_once() {
    let (a, b) = two_nodes();
    let (far, _) = probe_on(&b, 0);
    let (watcher, watcher_log) = probe_on(&a, 0);
    let (linked, linked_log) = probe_on(&a, a.cores() as u16 - 1);
    let (trapper, trapper_log) = probe_on(&a, 0);
    run(&a, &watcher, Monitor { target: far.id() });
    run(&a, &watcher, MonitorNode { node: b.id() });
    run(&a, &linked, Link { target: far.id() });
    run(&a, &trapper, Trap);
    run(&a, &trapper, Link { target: far.id() });
    wait_watchers(&b, &far, 3);

    coremesh::__private::simulate_node_down(&a, b.id()).unwrap();
    assert_eq!(watcher_log.wait_downs(1), [(far.id(), DownReason::NodeDown)]);
    assert!(wait_until(T, || watcher_log.node_downs() == [b.id()]), "{:?}", watcher_log.node_downs());
    assert_eq!(
        linked_log.wait_stopped(),
        StopReason::LinkedFailure { actor: far.id(), reason: DownReason::NodeDown }
    );
    assert_eq!(trapper_log.wait_downs(1), [(far.id(), DownReason::NodeDown)]);
    assert_eq!(a.ask(&trapper, Ping).timeout(T).wait(), Ok(7), "a trapping actor lives on");

    // Again: nothing more. The reports are queued on the cores by the time the
    // hook returns, so asks sent after it see them handled.
    coremesh::__private::simulate_node_down(&a, b.id()).unwrap();
    for r in [&watcher, &trapper] {
        assert_eq!(a.ask(r, Ping).timeout(T).wait(), Ok(7));
    }
    assert_eq!(watcher_log.downs().len() + watcher_log.node_downs().len(), 2);
    assert_eq!(trapper_log.downs().len(), 1);

    // A node this node cannot reach is reported down at once.
    run(&a, &watcher, MonitorNode { node: NodeId(0x5eed) });
    assert!(wait_until(T, || watcher_log.node_downs() == [b.id(), NodeId(0x5eed)]));
    a.shutdown().unwrap();
    b.shutdown().unwrap();
}

#[test]
fn a_panic_stops_linked_actors_with_a_linked_failure_both_ways() {
    let n = node();
    for core in target_cores() {
        // The linker fails: the linked one stops.
        let (linker, _) = probe_on(&n, 0);
        let (other, other_log) = probe_on(&n, core);
        run(&n, &linker, Link { target: other.id() });
        wait_watchers(&n, &other, 1);
        fail(&n, &linker);
        let reason = other_log.wait_stopped();
        let StopReason::LinkedFailure { actor, reason } = reason else { panic!("{reason:?}") };
        assert_eq!(actor, linker.id());
        assert!(is_probe_panic(&reason), "core {core}: {reason:?}");

        // The linked one fails: the linker stops, and so does a third actor
        // linked with the linker (the failure travels along the chain).
        let (linker, linker_log) = probe_on(&n, 0);
        let (other, _) = probe_on(&n, core);
        let (third, third_log) = probe_on(&n, core);
        run(&n, &linker, Link { target: other.id() });
        run(&n, &third, Link { target: linker.id() });
        wait_watchers(&n, &other, 1);
        wait_watchers(&n, &linker, 2);
        fail(&n, &other);
        let reason = linker_log.wait_stopped();
        assert!(
            matches!(&reason, StopReason::LinkedFailure { actor, reason } if *actor == other.id() && is_probe_panic(reason)),
            "core {core}: {reason:?}"
        );
        assert_eq!(
            third_log.wait_stopped(),
            StopReason::LinkedFailure {
                actor: linker.id(),
                reason: DownReason::LinkedFailure { actor: other.id() }
            }
        );
    }
    n.shutdown().unwrap();
}

#[test]
fn a_link_to_an_actor_already_gone_stops_the_linker() {
    let n = node();
    let (gone, gone_log) = probe_on(&n, 0);
    run(&n, &gone, Quit);
    gone_log.wait_stopped();
    let (linker, linker_log) = probe_on(&n, 0);
    run(&n, &linker, Link { target: gone.id() });
    assert_eq!(
        linker_log.wait_stopped(),
        StopReason::LinkedFailure { actor: gone.id(), reason: DownReason::NoActor }
    );
    n.shutdown().unwrap();
}

#[test]
fn a_remote_link_stops_the_other_side_on_failure() {
    let (a, b) = two_nodes();
    let (here, here_log) = probe_on(&a, 0);
    let (far, _) = probe_on(&b, 0);
    run(&a, &here, Link { target: far.id() });
    wait_watchers(&b, &far, 1);
    fail(&b, &far);
    let reason = here_log.wait_stopped();
    assert!(
        matches!(&reason, StopReason::LinkedFailure { actor, reason } if *actor == far.id() && is_probe_panic(reason)),
        "{reason:?}"
    );

    let (here, _) = probe_on(&a, 0);
    let (far, far_log) = probe_on(&b, 0);
    run(&a, &here, Link { target: far.id() });
    wait_watchers(&b, &far, 1);
    fail(&a, &here);
    let reason = far_log.wait_stopped();
    assert!(
        matches!(&reason, StopReason::LinkedFailure { actor, reason } if *actor == here.id() && is_probe_panic(reason)),
        "{reason:?}"
    );
    a.shutdown().unwrap();
    b.shutdown().unwrap();
}

#[test]
fn trapping_links_turns_a_failure_into_a_message() {
    let (a, b) = two_nodes();
    let (trapper, log) = probe_on(&a, 0);
    run(&a, &trapper, Trap);
    let (near, _) = probe_on(&a, a.cores() as u16 - 1);
    let (far, _) = probe_on(&b, 0);
    run(&a, &trapper, Link { target: near.id() });
    run(&a, &trapper, Link { target: far.id() });
    wait_watchers(&a, &near, 1);
    wait_watchers(&b, &far, 1);
    fail(&a, &near);
    let downs = log.wait_downs(1);
    assert!(downs[0].0 == near.id() && is_probe_panic(&downs[0].1), "{downs:?}");
    run(&b, &far, Quit);
    let downs = log.wait_downs(2);
    assert_eq!(downs[1], (far.id(), DownReason::Normal), "a trapping actor sees Normal stops too");
    assert_eq!(a.ask(&trapper, Ping).timeout(T).wait(), Ok(7));
    assert_eq!(log.stopped(), None);
    a.shutdown().unwrap();
    b.shutdown().unwrap();
}

#[test]
fn a_normal_stop_does_not_stop_linked_actors() {
    let (a, b) = two_nodes();
    for (node, core) in [(&a, 0), (&a, a.cores() as u16 - 1), (&b, 0)] {
        let (linker, log) = probe_on(&a, 0);
        let (other, _) = probe_on(node, core);
        run(&a, &linker, Link { target: other.id() });
        wait_watchers(node, &other, 1);
        run(node, &other, Quit);
        // The link is gone from the linker's side once the report is in.
        assert!(wait_until(T, || coremesh::__private::watchers_of(&a, linker.id()) == Ok(0)));
        assert_eq!(a.ask(&linker, Ping).timeout(T).wait(), Ok(7));
        assert_eq!(log.stopped(), None);
    }
    a.shutdown().unwrap();
    b.shutdown().unwrap();
}
