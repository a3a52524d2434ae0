//! What happens to messages when things go wrong on one node: stopped actors,
//! wrong-typed refs, full mailboxes and rings, panicking handlers, shutdown.

mod common;

use common::*;
use coremesh::{ActorRef, AskError, CoreId, TellError};
use std::sync::atomic::Ordering;
use std::time::Duration;

const SECOND: Duration = Duration::from_secs(1);

#[test]
fn asks_to_stopped_actor_fail_with_actor_stopped_everywhere() {
    let node = node();
    let hooks = hooks();
    let r = counter_on(&node, 0, &hooks);
    node.tell(&r, Stop).unwrap();
    assert!(wait_until(5 * SECOND, || hooks.stopped.load(Ordering::SeqCst) == 1));
    // From outside the runtime.
    assert_eq!(
        node.ask(&r, Add { n: 1 }).timeout(SECOND).wait(),
        Err(AskError::ActorStopped { actor: r.id() })
    );
    // From the same core: known at once, nothing enqueued.
    let same = on_core(&node, CoreId(0), move || async move { r.ask(Add { n: 1 }).timeout(SECOND).await });
    assert_eq!(same, Err(AskError::NotSent(TellError::ActorStopped { actor: r.id() })));
    let tell = on_core(&node, CoreId(0), move || async move { r.tell(Add { n: 1 }) });
    assert_eq!(tell, Err(TellError::ActorStopped { actor: r.id() }));
    if node.cores() > 1 {
        // From another core: the error comes back as an error reply.
        let other =
            on_core(&node, CoreId(1), move || async move { r.ask(Add { n: 1 }).timeout(SECOND).await });
        assert_eq!(other, Err(AskError::ActorStopped { actor: r.id() }));
    }
    assert!(node.stats().total().dead_letters >= 2, "drops are counted");
    node.shutdown().unwrap();
}

#[test]
fn asks_queued_when_an_actor_stops_get_actor_stopped() {
    let node = node();
    let r = counter_on(&node, 0, &hooks());
    let out = on_core(&node, CoreId(0), move || async move {
        r.tell(Stop).unwrap();
        r.ask(Add { n: 1 }).timeout(SECOND).await
    });
    assert_eq!(out, Err(AskError::ActorStopped { actor: r.id() }));
    node.shutdown().unwrap();
}

#[test]
fn a_wrong_typed_ref_gets_unknown_type_not_a_misread() {
    let node = node();
    let other = node.spawn_on(CoreId(0), || Other).wait().unwrap();
    let forged: ActorRef<Counter> = ActorRef::from_id(other.id());
    let out = node.ask(&forged, Add { n: 1 }).timeout(SECOND).wait();
    assert_eq!(
        out,
        Err(AskError::UnknownType { actor: other.id(), type_id: coremesh::wire::type_id_of("test.Add") })
    );
    node.tell(&forged, Add { n: 1 }).unwrap();
    assert!(wait_until(5 * SECOND, || node.stats().total().unknown_type == 2));
    node.shutdown().unwrap();
}

#[test]
fn slow_receiver_same_core_fills_the_mailbox_and_memory_stays_bounded() {
    let node = node_with(|b| b.mailbox_bytes_max(4096));
    let r = counter_on(&node, 0, &hooks());
    let (accepted, err, later) = on_core(&node, CoreId(0), move || async move {
        // The actor is busy in an async handler for 50 ms; its mailbox fills.
        r.tell(SlowAdd { n: 0, sleep_ms: 50 }).unwrap();
        glommio::yield_if_needed().await;
        futures_lite::future::yield_now().await;
        let mut accepted = 0u64;
        let err = loop {
            match r.tell(Add { n: 1 }) {
                Ok(()) => accepted += 1,
                Err(e) => break e,
            }
            if accepted > 1_000_000 {
                panic!("mailbox never filled");
            }
        };
        // The awaiting variant waits for room instead.
        r.send(Add { n: 1 }).await.unwrap();
        (accepted, err, r.ask(Get).timeout(5 * SECOND).await)
    });
    assert!(matches!(err, TellError::MailboxFull { actor, .. } if actor == r.id()), "{err:?}");
    // 4096 bytes of 48-byte frames, plus at most one frame past the bound.
    assert!(accepted <= 4096 / 48 + 1, "accepted {accepted}");
    assert_eq!(later, Ok((accepted + 1, 0)));
    node.shutdown().unwrap();
}

#[test]
fn slow_receiver_cross_core_fills_the_ring_and_memory_stays_bounded() {
    if !two_cpus() {
        return;
    }
    let node = node_with(|b| b.ring_bytes(4096).mailbox_bytes_max(4096));
    let r = counter_on(&node, 1, &hooks());
    node.tell(&r, SlowAdd { n: 0, sleep_ms: 300 }).unwrap();
    std::thread::sleep(Duration::from_millis(50));
    let (accepted, err) = on_core(&node, CoreId(0), move || async move {
        let mut accepted = 0u64;
        let err = loop {
            match r.tell(Add { n: 1 }) {
                Ok(()) => accepted += 1,
                Err(e) => break e,
            }
            if accepted % 64 == 0 {
                futures_lite::future::yield_now().await;
            }
            if accepted > 1_000_000 {
                panic!("path never filled");
            }
        };
        (accepted, err)
    });
    assert!(matches!(err, TellError::RingFull { from: CoreId(0), to: CoreId(1) }), "{err:?}");
    // Bounded by the ring plus the mailbox (48-byte frames), plus slack of one frame each.
    assert!(accepted <= (4096 + 4096) / 48 + 2, "accepted {accepted}");
    node.shutdown().unwrap();
}

#[test]
fn a_panicking_handler_stops_its_actor_and_fails_the_ask() {
    let node = node();
    let hooks = hooks();
    let r = counter_on(&node, 0, &hooks);
    assert_eq!(node.ask(&r, Boom).timeout(SECOND).wait(), Err(AskError::HandlerFailed));
    assert!(wait_until(5 * SECOND, || hooks.stopped.load(Ordering::SeqCst) == 1));
    // The core keeps serving other actors.
    let r2 = counter_on(&node, 0, &hooks);
    assert_eq!(node.ask(&r2, Add { n: 2 }).timeout(SECOND).wait(), Ok(2));
    node.shutdown().unwrap();
}

#[test]
fn shutdown_runs_every_stop_hook_and_joins_every_thread() {
    let node = node();
    let hooks = hooks();
    let refs: Vec<_> = (0..10).map(|i| counter_on(&node, (i % node.cores()) as u16, &hooks)).collect();
    assert!(wait_until(5 * SECOND, || hooks.started.load(Ordering::SeqCst) == 10));
    let handle = node.handle();
    node.shutdown().unwrap();
    assert_eq!(hooks.stopping.load(Ordering::SeqCst), 10);
    assert_eq!(hooks.stopped.load(Ordering::SeqCst), 10);
    assert_eq!(handle.tell(&refs[0], Add { n: 1 }), Err(TellError::NodeStopped));
}

#[test]
fn outside_tells_to_a_full_mailbox_wait_and_none_is_lost() {
    let node = node_with(|b| b.mailbox_bytes_max(4096));
    let r = counter_on(&node, 0, &hooks());
    node.tell(&r, SlowAdd { n: 0, sleep_ms: 100 }).unwrap();
    // 2000 frames of 48 bytes are far more than the 4096-byte mailbox holds.
    for _ in 0..2000 {
        node.tell(&r, Add { n: 1 }).unwrap();
    }
    assert_eq!(node.ask(&r, Get).timeout(10 * SECOND).wait(), Ok((2000, 0)));
    assert_eq!(node.stats().total().dead_letters, 0);
    node.shutdown().unwrap();
}

/// Panics in its `started` hook once `go` is set (at most 5 s later), or in
/// `stopping` once told to stop.
struct Fragile {
    in_started: bool,
    go: std::sync::Arc<std::sync::atomic::AtomicBool>,
}
impl coremesh::Actor for Fragile {
    async fn started(&mut self, _ctx: &mut coremesh::Ctx<Self>) -> Result<(), coremesh::InitError> {
        if self.in_started {
            let deadline = std::time::Instant::now() + 5 * SECOND;
            while !self.go.load(Ordering::SeqCst) && std::time::Instant::now() < deadline {
                glommio::timer::sleep(Duration::from_millis(1)).await;
            }
            panic!("fragile start");
        }
        Ok(())
    }
    fn stopping(&mut self, _ctx: &mut coremesh::Ctx<Self>) {
        if !self.in_started {
            panic!("fragile stop");
        }
    }
}
impl coremesh::Handler<Stop> for Fragile {
    type Reply = ();
    fn handle(&mut self, _msg: &ArchivedStop, ctx: &mut coremesh::Ctx<Self>) {
        ctx.stop();
    }
}
coremesh::handlers!(Fragile: Stop);

/// Spawns a `Fragile` on its own core, monitors it, and passes on its ref and
/// what it hears.
struct FragileWatcher {
    in_started: bool,
    go: std::sync::Arc<std::sync::atomic::AtomicBool>,
    refs: std::sync::mpsc::Sender<ActorRef<Fragile>>,
    downs: std::sync::mpsc::Sender<coremesh::DownReason>,
}
impl coremesh::Actor for FragileWatcher {
    async fn started(&mut self, ctx: &mut coremesh::Ctx<Self>) -> Result<(), coremesh::InitError> {
        let f = ctx.spawn(Fragile { in_started: self.in_started, go: self.go.clone() });
        ctx.monitor(&f);
        let _ = self.refs.send(f);
        Ok(())
    }
}
impl coremesh::Handler<coremesh::ActorDown> for FragileWatcher {
    type Reply = ();
    fn handle(&mut self, msg: &coremesh::ArchivedActorDown, _ctx: &mut coremesh::Ctx<Self>) {
        let _ = self.downs.send(msg.reason.to_native());
    }
}
coremesh::handlers!(FragileWatcher: coremesh::ActorDown);

#[test]
fn a_panic_in_started_or_stopping_stops_that_actor_only_and_its_watchers_hear_panicked() {
    // Regression: a panic in an actor's async `started` killed its worker
    // core (no report to watchers, and the core never ran again).
    let node = node();
    for (in_started, hook) in [(true, "in started: fragile start"), (false, "in stopping: fragile stop")] {
        let (refs, fragile) = std::sync::mpsc::channel();
        let (downs, heard) = std::sync::mpsc::channel();
        let go = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let watcher = FragileWatcher { in_started, go: go.clone(), refs, downs };
        node.spawn_on(CoreId(0), move || watcher).wait().expect("spawn the watcher");
        let fragile = fragile.recv_timeout(5 * SECOND).expect("the watcher spawned its child");
        // The monitor is in place before the panic (else the watcher hears NoActor).
        let watched = || coremesh::__private::watchers_of(&node.handle(), fragile.id()) == Ok(1);
        assert!(wait_until(5 * SECOND, watched), "{hook}: the monitor never reached the child's core");
        go.store(true, Ordering::SeqCst);
        if !in_started {
            node.tell(&fragile, Stop).expect("tell stop");
        }
        match heard.recv_timeout(10 * SECOND).expect("the watcher heard of the panic") {
            coremesh::DownReason::Panicked { message, type_id, .. } => {
                assert_eq!(message, hook);
                assert_eq!(type_id, 0, "no message was being handled");
            }
            other => panic!("{hook}: heard {other:?}, not Panicked"),
        }
        // The core lives on: a new actor there answers.
        let hooks = hooks();
        let r = counter_on(&node, 0, &hooks);
        assert_eq!(node.ask(&r, Add { n: 2 }).timeout(5 * SECOND).wait(), Ok(2), "{hook}: core 0 still runs");
    }
    node.shutdown().expect("clean shutdown");
}

#[test]
fn a_blocking_wait_gives_up_at_its_timeout() {
    // Every blocking wait has a timeout: by default the node's ask timeout.
    let node = node();
    let (release, held) = std::sync::mpsc::channel::<()>();
    let slow = node.run_on(CoreId(0), move || held.recv_timeout(10 * SECOND).is_ok());
    let waited = Duration::from_millis(50);
    assert_eq!(slow.timeout(waited).wait(), Err(coremesh::SpawnError::Timeout { waited }));
    release.send(()).expect("the closure still waits");
    // The core went on: the next request is answered.
    assert_eq!(node.run_on(CoreId(0), || 7).wait(), Ok(7));
    node.shutdown().expect("clean shutdown");
}

#[test]
fn run_on_and_connect_to_a_full_inbox_say_so() {
    // Regression: a full inbox was reported as `NodeStopped` for run_on,
    // spawn_task_on and connect, although the node ran on.
    let node = node();
    let (release, held) = std::sync::mpsc::channel::<()>();
    // Core 0 is held busy (a blocking closure, for this test only) while its
    // inbox fills with commands.
    let _busy = node.run_on(CoreId(0), move || {
        let _ = held.recv_timeout(Duration::from_secs(30));
    });
    let ran = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut queued = 0;
    let full = loop {
        let ran = ran.clone();
        // A zero timeout: a queued command answers `Timeout` at once (and
        // still runs later); a refused one its error.
        let r = node
            .run_on(CoreId(0), move || {
                ran.fetch_add(1, Ordering::SeqCst);
            })
            .timeout(Duration::ZERO)
            .wait();
        match r {
            Err(coremesh::SpawnError::Timeout { .. }) => queued += 1,
            other => break other,
        }
        assert!(queued <= 1 << 20, "the inbox never filled");
    };
    assert_eq!(full, Err(coremesh::SpawnError::InboxFull { core: CoreId(0) }));
    let connect = node.connect("127.0.0.1:9".parse().unwrap()).timeout(SECOND).wait();
    assert_eq!(connect, Err(coremesh::ConnectError::InboxFull { core: CoreId(0) }));
    release.send(()).unwrap();
    // Every queued command still runs once the core is free.
    assert!(wait_until(30 * SECOND, || ran.load(Ordering::SeqCst) == queued), "queued commands were lost");
    assert!(!node.is_stopping());
    node.shutdown().unwrap();
}
