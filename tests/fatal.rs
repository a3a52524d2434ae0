//! A panic in code run on a worker core never leaves a half-alive node:
//! the caller's code (`run_on` closures, `spawn_task_on` tasks, tasks an
//! actor spawns) fails only its caller or its actor, and a panic in the
//! runtime's own code stops the node in a controlled way: it records the
//! panic, leaves the cluster, fails every pending ask, and `shutdown`
//! returns `WorkerPanicked`. Nodes in this process over real TCP on
//! loopback; every wait is bounded.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{counter_on, hooks, node_with, wait_until, SlowAdd};
use coremesh::{Actor, AskError, CoreId, Ctx, Handler, NodeError, SpawnError, StopReason};
use rkyv::{Archive, Deserialize, Serialize};

const T: Duration = Duration::from_secs(10);

fn net_node() -> coremesh::Node {
    node_with(|b| b.listen("127.0.0.1:0".parse().unwrap()))
}

#[test]
fn a_panicking_run_on_closure_fails_its_caller_and_the_core_runs_on() {
    let node = net_node();
    let err = node.run_on(CoreId(0), || -> u32 { panic!("boom in run_on") }).timeout(T).wait();
    match err {
        Err(SpawnError::TaskPanicked { core, message }) => {
            assert_eq!(core, CoreId(0));
            assert!(message.contains("boom in run_on"), "{message}");
        }
        other => panic!("expected TaskPanicked, got {other:?}"),
    }
    // The core still serves: a new closure and an actor on it answer.
    assert_eq!(node.run_on(CoreId(0), || 7).timeout(T).wait(), Ok(7));
    let c = counter_on(&node, 0, &hooks());
    assert_eq!(node.ask(&c, common::Add { n: 2 }).timeout(T).wait(), Ok(2));
    assert!(node.fatal().is_none());
    node.shutdown().unwrap();
}

#[test]
fn a_panicking_task_fails_its_caller_and_the_core_runs_on() {
    let node = net_node();
    let err = node
        .spawn_task_on(CoreId(0), || async {
            coremesh::time::sleep(Duration::from_millis(1)).await;
            if true {
                panic!("boom in a task");
            }
            1u8
        })
        .timeout(T)
        .wait();
    assert!(
        matches!(&err, Err(SpawnError::TaskPanicked { message, .. }) if message.contains("boom in a task")),
        "{err:?}"
    );
    assert_eq!(node.spawn_task_on(CoreId(0), || async { 5 }).timeout(T).wait(), Ok(5));
    assert!(node.fatal().is_none());
    node.shutdown().unwrap();
}

#[derive(Archive, Serialize, Deserialize)]
struct SpawnBadTask;
coremesh::message!(SpawnBadTask = "fatal.SpawnBadTask");

/// Spawns a task that panics; records how it stopped.
struct Spawner {
    stopped: Arc<Mutex<Option<StopReason>>>,
}
impl Actor for Spawner {
    fn stopped(&mut self, reason: &StopReason) {
        *self.stopped.lock().unwrap() = Some(reason.clone());
    }
}
impl Handler<SpawnBadTask> for Spawner {
    type Reply = ();
    fn handle(&mut self, _msg: &ArchivedSpawnBadTask, ctx: &mut Ctx<Self>) {
        ctx.spawn_task(async {
            coremesh::time::sleep(Duration::from_millis(1)).await;
            panic!("boom in a spawned task");
        });
    }
}
coremesh::handlers!(Spawner: SpawnBadTask);

#[test]
fn a_task_an_actor_spawned_panics_and_stops_only_that_actor() {
    let node = net_node();
    let stopped = Arc::new(Mutex::new(None));
    let s = stopped.clone();
    let spawner = node.spawn_on(CoreId(0), move || Spawner { stopped: s }).timeout(T).wait().unwrap();
    node.tell(&spawner, SpawnBadTask).unwrap();
    assert!(wait_until(T, || stopped.lock().unwrap().is_some()), "the actor did not stop");
    match stopped.lock().unwrap().clone() {
        Some(StopReason::Panicked { message, .. }) => {
            assert!(message.contains("boom in a spawned task"), "{message}")
        }
        other => panic!("expected Panicked, got {other:?}"),
    }
    // The core is alive.
    assert_eq!(node.run_on(CoreId(0), || 1).timeout(T).wait(), Ok(1));
    assert!(node.fatal().is_none());
    node.shutdown().unwrap();
}

#[test]
fn a_runtime_panic_stops_the_node_fails_its_asks_and_peers_see_it_leave() {
    let a = net_node();
    let b = net_node();
    assert_eq!(a.connect(b.listen_addr()).wait(), Ok(b.id()));
    assert!(a.wait_for(|s| s.up_nodes().contains(&b.id()), T).is_ok(), "b never came up at a");
    let last = CoreId(u16::try_from(b.cores() - 1).unwrap());
    // Asks in flight: from a to an actor on b's core 0 (the one that panics),
    // and from b's outside thread to one of its own actors (on its last core).
    let victim = counter_on(&b, 0, &hooks());
    let local = counter_on(&b, last.0, &hooks());
    let remote_ask = {
        let a = a.handle();
        std::thread::spawn(move || {
            a.ask(&victim, SlowAdd { n: 1, sleep_ms: 60_000 }).timeout(Duration::from_secs(60)).wait()
        })
    };
    let local_ask = {
        let b = b.handle();
        std::thread::spawn(move || {
            b.ask(&local, SlowAdd { n: 1, sleep_ms: 60_000 }).timeout(Duration::from_secs(60)).wait()
        })
    };
    std::thread::sleep(Duration::from_millis(200));

    assert!(coremesh::__private::panic_in_runtime(&b, CoreId(0)));
    assert!(wait_until(T, || b.fatal().is_some()), "the node did not record the panic");
    match b.fatal() {
        Some(NodeError::WorkerPanicked { core, reason }) => {
            assert_eq!(core, CoreId(0));
            assert!(reason.contains("injected"), "{reason}");
        }
        other => panic!("expected WorkerPanicked, got {other:?}"),
    }
    assert!(b.is_stopping());
    // Both asks end well before their own 60 s timeout, with an error that is
    // not a timeout (the join is bounded by the test's deadline through the
    // check below).
    assert!(wait_until(T, || remote_ask.is_finished() && local_ask.is_finished()), "an ask hangs");
    let remote = remote_ask.join().unwrap();
    assert!(matches!(&remote, Err(e) if e.is_node_lost()), "{remote:?}");
    let local = local_ask.join().unwrap();
    assert!(matches!(local, Err(AskError::NodeStopped) | Err(AskError::ConnectionLost { .. })), "{local:?}");
    // The peer sees the node go (it left the cluster, or was found down).
    assert!(a.wait_for(|s| !s.up_nodes().contains(&b.id()), T).is_ok(), "a still sees b up");
    // The embedding service gets the error from shutdown.
    assert!(matches!(b.shutdown(), Err(NodeError::WorkerPanicked { core: CoreId(0), .. })));
    a.shutdown().unwrap();
}
