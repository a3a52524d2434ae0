//! Supervision (`coremesh::supervision`): each strategy restarts the right
//! children in the right order; transient and temporary children; the
//! restart intensity stops the supervisor and its monitor hears why; backoff
//! delays grow as configured and are waited (lower bounds only); a stop goes
//! in reverse start order; and the restart latency of a failed local child,
//! printed (`cargo test --test supervision restart_latency -- --nocapture`).
//! Children sit on two cores where the machine has two. Every wait is bounded.

mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{node, two_cpus, wait_until};
use coremesh::supervision::{Backoff, ChildSpec, Restart, Strategy, Supervisor, SupervisorEvent};
use coremesh::{Actor, ActorDown, ActorId, ActorRef, CoreId, Ctx, DownReason, Handler, NodeHandle};
use rkyv::{Archive, Deserialize, Serialize};

const T: Duration = Duration::from_secs(10);

#[derive(Archive, Serialize, Deserialize)]
struct Crash;
#[derive(Archive, Serialize, Deserialize)]
struct Quit;
coremesh::message!(Crash = "supervision.Crash", Quit = "supervision.Quit");

/// What the workers and the supervisor did, in order, shared with the test.
#[derive(Default)]
struct Log {
    /// `started:NAME` and `stopping:NAME` lines.
    lines: Mutex<Vec<String>>,
    events: Mutex<Vec<(Instant, SupervisorEvent)>>,
    /// When a worker was last told to crash, and when one last finished `started`.
    crashed_at: Mutex<Option<Instant>>,
    started_at: Mutex<Vec<Instant>>,
}

impl Log {
    fn lines(&self) -> Vec<String> {
        self.lines.lock().unwrap().clone()
    }
    fn events(&self) -> Vec<SupervisorEvent> {
        self.events.lock().unwrap().iter().map(|(_, e)| e.clone()).collect()
    }
    fn wait_event(&self, what: &str, f: impl Fn(&SupervisorEvent) -> bool) -> Instant {
        let found = || self.events.lock().unwrap().iter().find(|(_, e)| f(e)).map(|(t, _)| *t);
        assert!(wait_until(T, || found().is_some()), "no {what} within {T:?}; events: {:#?}", self.events());
        found().unwrap()
    }
    fn wait_started(&self, child: &str, incarnation: u32) -> Instant {
        self.wait_event(&format!("start #{incarnation} of {child}"), |e| {
            matches!(e, SupervisorEvent::Started { child: c, incarnation: n, .. } if c == child && *n == incarnation)
        })
    }
}

struct Worker {
    name: &'static str,
    log: Arc<Log>,
}
impl Actor for Worker {
    async fn started(&mut self, _ctx: &mut Ctx<Self>) -> Result<(), coremesh::InitError> {
        self.log.started_at.lock().unwrap().push(Instant::now());
        self.log.lines.lock().unwrap().push(format!("started:{}", self.name));
        Ok(())
    }
    fn stopping(&mut self, _ctx: &mut Ctx<Self>) {
        self.log.lines.lock().unwrap().push(format!("stopping:{}", self.name));
    }
}
impl Handler<Crash> for Worker {
    type Reply = ();
    fn handle(&mut self, _msg: &ArchivedCrash, _ctx: &mut Ctx<Self>) {
        *self.log.crashed_at.lock().unwrap() = Some(Instant::now());
        panic!("worker {} told to crash", self.name);
    }
}
impl Handler<Quit> for Worker {
    type Reply = ();
    fn handle(&mut self, _msg: &ArchivedQuit, ctx: &mut Ctx<Self>) {
        ctx.stop();
    }
}
coremesh::handlers!(Worker: Crash, Quit);

fn worker(name: &'static str, core: CoreId, log: &Arc<Log>) -> ChildSpec {
    let log = log.clone();
    ChildSpec::new(name, core, move || Worker { name, log: log.clone() })
}

/// The second core where there is one.
fn other_core() -> CoreId {
    if two_cpus() {
        CoreId(1)
    } else {
        CoreId(0)
    }
}

fn recording(log: &Arc<Log>) -> impl Fn(&SupervisorEvent) + Send + Sync + 'static {
    let log = log.clone();
    move |e| log.events.lock().unwrap().push((Instant::now(), e.clone()))
}

/// Three workers a (core 0), b (other core), c (core 0) under `strategy`.
fn three(node: &NodeHandle, strategy: Strategy, log: &Arc<Log>) -> coremesh::supervision::SupervisorHandle {
    let sup = Supervisor::builder()
        .strategy(strategy)
        .intensity(10, Duration::from_secs(60))
        .child(worker("a", CoreId(0), log))
        .child(worker("b", other_core(), log))
        .child(worker("c", CoreId(0), log))
        .on_event(recording(log))
        .spawn_on(node, CoreId(0))
        .expect("supervisor spawns");
    for c in ["a", "b", "c"] {
        log.wait_started(c, 0);
    }
    sup
}

fn crash(node: &NodeHandle, sup: &coremesh::supervision::SupervisorHandle, child: &str) -> ActorId {
    let id = sup.child(child, T).expect("supervisor answers").expect("child runs");
    node.tell(&ActorRef::<Worker>::from_id(id), Crash).expect("crash told");
    id
}

/// The events after the first three starts, as short strings.
fn after_start(log: &Log) -> Vec<String> {
    log.events()
        .iter()
        .skip(3)
        .map(|e| match e {
            SupervisorEvent::Started { child, .. } => format!("start:{child}"),
            SupervisorEvent::Stopped { child, in_time: true, .. } => format!("stop:{child}"),
            SupervisorEvent::Stopped { child, in_time: false, .. } => format!("late stop:{child}"),
            SupervisorEvent::Restarting { child, cause, .. } => format!("restarting:{child}<-{cause}"),
            SupervisorEvent::Removed { child, .. } => format!("removed:{child}"),
            SupervisorEvent::GaveUp { .. } => "gave up".to_owned(),
        })
        .collect()
}

fn stopping_lines(log: &Log) -> Vec<String> {
    log.lines().into_iter().filter(|l| l.starts_with("stopping:")).collect()
}

#[test]
fn one_for_one_restarts_only_the_failed_child() {
    let n = node();
    let log = Arc::new(Log::default());
    let sup = three(&n, Strategy::OneForOne, &log);
    let (a, c) = (sup.child("a", T).unwrap(), sup.child("c", T).unwrap());
    let old_b = crash(&n, &sup, "b");
    log.wait_started("b", 1);
    let new_b = sup.child("b", T).unwrap().expect("b runs again");
    assert_ne!(new_b, old_b, "b is a new actor");
    assert_eq!(new_b.core, other_core());
    assert_eq!((sup.child("a", T).unwrap(), sup.child("c", T).unwrap()), (a, c), "a and c untouched");
    assert_eq!(after_start(&log), ["restarting:b<-b", "start:b"]);
    let reason = log.events().into_iter().find_map(|e| match e {
        SupervisorEvent::Restarting { reason, .. } => Some(reason),
        _ => None,
    });
    assert!(
        matches!(&reason, Some(DownReason::Panicked { message, .. }) if message.contains("worker b told to crash")),
        "{reason:?}"
    );
    n.shutdown().unwrap();
}

#[test]
fn one_for_all_stops_the_others_in_reverse_order_then_starts_all_in_order() {
    let n = node();
    let log = Arc::new(Log::default());
    let sup = three(&n, Strategy::OneForAll, &log);
    let old_a = sup.child("a", T).unwrap();
    crash(&n, &sup, "b");
    log.wait_started("c", 1);
    assert_eq!(
        after_start(&log),
        [
            "stop:c",
            "stop:a",
            "restarting:a<-b",
            "restarting:b<-b",
            "restarting:c<-b",
            "start:a",
            "start:b",
            "start:c"
        ]
    );
    assert_eq!(stopping_lines(&log), ["stopping:b", "stopping:c", "stopping:a"], "b's own stop first");
    assert_ne!(sup.child("a", T).unwrap(), old_a, "a was restarted too");
    n.shutdown().unwrap();
}

#[test]
fn rest_for_one_restarts_the_failed_child_and_those_started_after_it() {
    let n = node();
    let log = Arc::new(Log::default());
    let sup = three(&n, Strategy::RestForOne, &log);
    let a = sup.child("a", T).unwrap();
    crash(&n, &sup, "b");
    log.wait_started("c", 1);
    assert_eq!(after_start(&log), ["stop:c", "restarting:b<-b", "restarting:c<-b", "start:b", "start:c"]);
    assert_eq!(sup.child("a", T).unwrap(), a, "a was started before b: untouched");
    n.shutdown().unwrap();
}

#[test]
fn transient_children_restart_only_after_a_failure_and_temporary_ones_never() {
    let n = node();
    let log = Arc::new(Log::default());
    let sup = Supervisor::builder()
        .child(worker("t1", CoreId(0), &log).restart(Restart::Transient))
        .child(worker("t2", other_core(), &log).restart(Restart::Transient))
        .child(worker("tmp", other_core(), &log).restart(Restart::Temporary))
        .on_event(recording(&log))
        .spawn_on(&n, CoreId(0))
        .unwrap();
    for c in ["t1", "t2", "tmp"] {
        log.wait_started(c, 0);
    }
    // A normal stop removes a transient child.
    let t1 = sup.child("t1", T).unwrap().unwrap();
    n.tell(&ActorRef::<Worker>::from_id(t1), Quit).unwrap();
    log.wait_event(
        "removal of t1",
        |e| matches!(e, SupervisorEvent::Removed { child, reason: DownReason::Normal } if child == "t1"),
    );
    assert_eq!(sup.child("t1", T).unwrap(), None);
    // A failure restarts it.
    crash(&n, &sup, "t2");
    log.wait_started("t2", 1);
    // A temporary child is removed whatever the reason.
    crash(&n, &sup, "tmp");
    log.wait_event(
        "removal of tmp",
        |e| matches!(e, SupervisorEvent::Removed { child, .. } if child == "tmp"),
    );
    assert_eq!(sup.child("tmp", T).unwrap(), None);
    assert_eq!(after_start(&log), ["removed:t1", "restarting:t2<-t2", "start:t2", "removed:tmp"]);
    n.shutdown().unwrap();
}

/// Monitors one actor and records what it hears.
struct Probe {
    target: ActorId,
    downs: Arc<Mutex<Vec<DownReason>>>,
}
impl Actor for Probe {
    async fn started(&mut self, ctx: &mut Ctx<Self>) -> Result<(), coremesh::InitError> {
        ctx.monitor(&ActorRef::<Supervisor>::from_id(self.target));
        Ok(())
    }
}
impl Handler<ActorDown> for Probe {
    type Reply = ();
    fn handle(&mut self, msg: &coremesh::ArchivedActorDown, _ctx: &mut Ctx<Self>) {
        self.downs.lock().unwrap().push(msg.reason.to_native());
    }
}
coremesh::handlers!(Probe: ActorDown);

#[test]
fn past_its_intensity_a_supervisor_stops_its_children_and_its_monitor_hears_why() {
    let n = node();
    let log = Arc::new(Log::default());
    let sup = Supervisor::builder()
        .intensity(2, Duration::from_secs(60))
        .child(worker("a", CoreId(0), &log))
        .child(worker("b", other_core(), &log))
        .on_event(recording(&log))
        .spawn_on(&n, CoreId(0))
        .unwrap();
    log.wait_started("a", 0);
    log.wait_started("b", 0);
    let downs = Arc::new(Mutex::new(Vec::new()));
    let (target, d) = (sup.actor().id(), downs.clone());
    n.spawn_on(other_core(), move || Probe { target, downs: d }).wait().unwrap();
    // Two restarts are within the intensity; the third failure is not.
    crash(&n, &sup, "b");
    log.wait_started("b", 1);
    crash(&n, &sup, "b");
    log.wait_started("b", 2);
    crash(&n, &sup, "b");
    assert!(wait_until(T, || !downs.lock().unwrap().is_empty()), "the monitor heard nothing");
    assert_eq!(
        downs.lock().unwrap().clone(),
        [DownReason::RestartIntensity { max_restarts: 2, within_ms: 60_000 }]
    );
    let events = after_start(&log);
    assert_eq!(
        events[events.len() - 2..],
        ["gave up", "stop:a"],
        "a was stopped before the supervisor stopped"
    );
    assert!(stopping_lines(&log).ends_with(&["stopping:b".to_owned(), "stopping:a".to_owned()]));
    assert!(sup.child("a", Duration::from_millis(500)).is_err(), "the supervisor is gone");
    n.shutdown().unwrap();
}

#[test]
fn backoff_delays_grow_to_their_bound_and_are_waited() {
    let n = node();
    let log = Arc::new(Log::default());
    let ms = Duration::from_millis;
    let sup = Supervisor::builder()
        .intensity(10, Duration::from_secs(60))
        .backoff(Backoff::exponential(ms(20), ms(60)))
        .child(worker("w", other_core(), &log))
        .on_event(recording(&log))
        .spawn_on(&n, CoreId(0))
        .unwrap();
    log.wait_started("w", 0);
    let mut delays = Vec::new();
    for k in 1..=4 {
        let told = Instant::now();
        crash(&n, &sup, "w");
        let started = log.wait_started("w", k);
        let delay = log
            .events()
            .into_iter()
            .rev()
            .filter_map(|e| match e {
                SupervisorEvent::Restarting { delay, .. } => Some(delay),
                _ => None,
            })
            .next()
            .unwrap();
        assert!(started.duration_since(told) >= delay, "restart {k} came before its backoff of {delay:?}");
        delays.push(delay);
    }
    assert_eq!(delays, [ms(20), ms(40), ms(60), ms(60)]);
    n.shutdown().unwrap();
}

#[test]
fn a_stop_stops_the_children_in_reverse_start_order_then_the_supervisor() {
    let n = node();
    let log = Arc::new(Log::default());
    let sup = three(&n, Strategy::OneForOne, &log);
    assert_eq!(sup.stop(T), Ok(3));
    assert_eq!(stopping_lines(&log), ["stopping:c", "stopping:b", "stopping:a"]);
    assert_eq!(after_start(&log), ["stop:c", "stop:b", "stop:a"]);
    assert!(wait_until(T, || sup.child("a", Duration::from_millis(200)).is_err()), "the supervisor is gone");
    n.shutdown().unwrap();
}

/// Restart latency of a failed local child, from its failure (the crashing
/// handler) to its new incarnation's `started` done, with no backoff; the
/// figures are printed, not asserted.
#[test]
fn restart_latency_of_a_failed_local_child() {
    const ROUNDS: u32 = 200;
    // 400 told panics would bury the figures: keep other panics' messages.
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let told = info.payload().downcast_ref::<String>().is_some_and(|m| m.contains("told to crash"));
        if !told {
            default_hook(info);
        }
    }));
    for core in [CoreId(0), other_core()] {
        let n = node();
        let log = Arc::new(Log::default());
        let sup = Supervisor::builder()
            .intensity(u32::MAX, Duration::from_secs(1))
            .child(worker("w", core, &log))
            .on_event(recording(&log))
            .spawn_on(&n, CoreId(0))
            .unwrap();
        log.wait_started("w", 0);
        let mut lat = Vec::new();
        for k in 1..=ROUNDS {
            crash(&n, &sup, "w");
            log.wait_started("w", k);
            let crashed = log.crashed_at.lock().unwrap().expect("crash recorded");
            let started = *log.started_at.lock().unwrap().last().unwrap();
            lat.push(started.duration_since(crashed));
        }
        lat.sort();
        let p = |q: f64| lat[((lat.len() as f64 * q) as usize).min(lat.len() - 1)];
        println!(
            "restart latency, supervisor on core 0, child on core {}: p50 {:?} p99 {:?} max {:?} ({ROUNDS} restarts)",
            core.0,
            p(0.50),
            p(0.99),
            lat[lat.len() - 1]
        );
        n.shutdown().unwrap();
    }
}
