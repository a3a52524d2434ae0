//! Actors on one node: same core and across cores, asks, FIFO per pair, refs
//! inside messages, async handlers, pinning, and outside threads.

mod common;

use common::*;
use coremesh::{AskError, CoreId, TellError};
use std::sync::atomic::Ordering;
use std::time::Duration;

const SECOND: Duration = Duration::from_secs(1);

/// The CPUs thread `tid` (0: the calling thread) may run on.
fn affinity(tid: libc::pid_t) -> Vec<usize> {
    // SAFETY: cpu_set_t is a plain bit array; all-zero is a valid (empty) set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: `set` is a valid, writable cpu_set_t of the size passed.
    let rc = unsafe { libc::sched_getaffinity(tid, std::mem::size_of::<libc::cpu_set_t>(), &mut set) };
    assert_eq!(rc, 0, "sched_getaffinity({tid})");
    // SAFETY: CPU_ISSET only reads `set`, and every index is below CPU_SETSIZE.
    (0..libc::CPU_SETSIZE as usize).filter(|c| unsafe { libc::CPU_ISSET(*c, &set) }).collect()
}

#[test]
fn workers_and_control_thread_are_pinned_to_their_cpus() {
    let node = node();
    let cpus = node.config().worker_cpus().to_vec();
    for (i, cpu) in cpus.iter().enumerate() {
        let seen = node.run_on(CoreId(i as u16), || affinity(0)).wait().unwrap();
        assert_eq!(seen, vec![*cpu], "worker {i} must run on CPU {cpu} only");
    }
    // The control thread, found by its name.
    let control_cpu = node.config().control_cpu();
    let mut found = false;
    for entry in std::fs::read_dir("/proc/self/task").unwrap() {
        let path = entry.unwrap().path();
        let comm = std::fs::read_to_string(path.join("comm")).unwrap_or_default();
        if comm.trim() == "coremesh-contro" {
            let tid: libc::pid_t = path.file_name().unwrap().to_str().unwrap().parse().unwrap();
            assert_eq!(affinity(tid), vec![control_cpu]);
            found = true;
        }
    }
    assert!(found, "a thread named coremesh-control exists");
    node.shutdown().unwrap();
}

#[test]
fn same_core_tell_and_ask() {
    let node = node();
    let hooks = hooks();
    let r = counter_on(&node, 0, &hooks);
    let total = on_core(&node, CoreId(0), move || async move {
        for n in 1..=100 {
            r.tell(Add { n }).unwrap();
        }
        r.ask(Add { n: 0 }).timeout(SECOND).await
    });
    assert_eq!(total, Ok(5050));
    node.shutdown().unwrap();
    assert_eq!(hooks.started.load(Ordering::SeqCst), 1);
    assert_eq!(hooks.stopped.load(Ordering::SeqCst), 1);
}

#[test]
fn cross_core_tell_and_ask_use_the_ring() {
    if !two_cpus() {
        return;
    }
    let node = node();
    let hooks = hooks();
    let r = counter_on(&node, 1, &hooks);
    let total = on_core(&node, CoreId(0), move || async move {
        for n in 1..=1000 {
            r.send(Add { n }).await.unwrap();
        }
        r.ask(Add { n: 0 }).timeout(SECOND).await
    });
    assert_eq!(total, Ok(500_500));
    node.shutdown().unwrap();
}

#[test]
fn fifo_holds_per_sender_receiver_pair() {
    if !two_cpus() {
        return;
    }
    let node = node();
    let r = counter_on(&node, 1, &hooks());
    const N: u64 = 200_000;
    // Sender 0 on the receiver's core, sender 1 across the ring, concurrently.
    stream_seqs(&node, r, &[(0, 1), (1, 0)], N, Duration::from_secs(60));
    let mut last = (0, 0);
    assert!(wait_until(Duration::from_secs(30), || {
        last = node.ask(&r, Get).wait().unwrap();
        last.0 == 2 * N
    }));
    assert_eq!(last, (2 * N, 0), "all delivered, no FIFO violation");
    node.shutdown().unwrap();
}

#[test]
fn refs_travel_inside_messages() {
    if !two_cpus() {
        return;
    }
    let node = node();
    let a = counter_on(&node, 0, &hooks());
    let b = counter_on(&node, 1, &hooks());
    assert_eq!(node.ask(&a, Forward { to: b, n: 7 }).timeout(SECOND).wait(), Ok(1));
    assert!(wait_until(5 * SECOND, || node.ask(&b, Get).wait() == Ok((7, 0))));
    node.shutdown().unwrap();
}

#[test]
fn async_handlers_run_one_message_at_a_time() {
    let node = node();
    let r = counter_on(&node, 0, &hooks());
    let out = on_core(&node, CoreId(0), move || async move {
        r.tell(SlowAdd { n: 5, sleep_ms: 20 }).unwrap();
        // Queued behind the async handler: sees its effect.
        r.ask(Add { n: 1 }).timeout(SECOND).await
    });
    assert_eq!(out, Ok(6));
    node.shutdown().unwrap();
}

#[test]
fn ask_times_out_and_the_late_reply_is_counted() {
    let node = node();
    let r = counter_on(&node, 0, &hooks());
    let out = on_core(&node, CoreId(0), move || async move {
        r.ask(SlowAdd { n: 1, sleep_ms: 200 }).timeout(Duration::from_millis(20)).await
    });
    assert_eq!(out, Err(AskError::Timeout));
    assert!(wait_until(5 * SECOND, || node.stats().total().late_replies >= 1));
    node.shutdown().unwrap();
}

#[test]
fn an_ask_arriving_after_its_deadline_is_dropped_unrun() {
    let node = node();
    let r = counter_on(&node, 0, &hooks());
    let out = on_core(&node, CoreId(0), move || async move {
        r.tell(SlowAdd { n: 1, sleep_ms: 100 }).unwrap();
        // Queued behind 100 ms of work with a 10 ms deadline.
        r.ask(Add { n: 1000 }).timeout(Duration::from_millis(10)).await
    });
    assert_eq!(out, Err(AskError::Timeout));
    assert!(wait_until(5 * SECOND, || node.stats().total().expired_asks == 1));
    assert_eq!(node.ask(&r, Get).wait().unwrap().0, 1, "the expired ask's handler never ran");
    node.shutdown().unwrap();
}

#[test]
fn node_handle_works_from_outside_threads() {
    fn send_sync_clone<T: Send + Sync + Clone>() {}
    send_sync_clone::<coremesh::NodeHandle>();
    fn is_send<T: Send>(_: &T) {}

    let node = node();
    let r = counter_on(&node, 0, &hooks());
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let h = node.handle();
            std::thread::spawn(move || {
                for _ in 0..250 {
                    h.tell(&r, Add { n: 1 }).unwrap();
                }
                let fut = h.ask(&r, Add { n: 0 }).timeout(5 * SECOND).into_future();
                is_send(&fut);
                futures_lite::future::block_on(fut).unwrap()
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(node.ask(&r, Get).wait(), Ok((1000, 0)));
    // An ActorRef used off-core finds its node by itself.
    r.tell(Add { n: 1 }).unwrap();
    assert_eq!(r.ask(Add { n: 0 }).timeout(SECOND).wait(), Ok(1001));
    node.shutdown().unwrap();
}

#[test]
fn tell_to_a_missing_core_or_node_is_a_typed_error() {
    let node = node();
    let r = counter_on(&node, 0, &hooks());
    let mut id = r.id();
    id.core = CoreId(77);
    let bad: coremesh::ActorRef<Counter> = coremesh::ActorRef::from_id(id);
    assert!(matches!(node.tell(&bad, Add { n: 1 }), Err(TellError::NoSuchCore { core: 77, .. })));
    let mut id = r.id();
    id.node = coremesh::NodeId(42);
    let far: coremesh::ActorRef<Counter> = coremesh::ActorRef::from_id(id);
    // Through this node when it is the only one in the process; with other
    // tests' nodes running too, none of which knows node 42, no node is chosen.
    let err = far.tell(Add { n: 1 }).unwrap_err();
    assert!(
        matches!(
            err,
            TellError::UnknownNode { node: coremesh::NodeId(42) }
                | TellError::NoLocalNode { node: coremesh::NodeId(42), .. }
        ),
        "{err:?}"
    );
    assert_eq!(node.tell(&far, Add { n: 1 }), Err(TellError::UnknownNode { node: coremesh::NodeId(42) }));
    assert!(matches!(
        node.spawn_on(CoreId(9), || Other).wait(),
        Err(coremesh::SpawnError::NoSuchCore { .. })
    ));
    node.shutdown().unwrap();
}

use std::future::IntoFuture;

#[test]
fn frames_from_a_ring_to_an_idle_actor_are_handled_in_place() {
    if !two_cpus() {
        return;
    }
    let node = node();
    let r = counter_on(&node, 1, &hooks());
    // One tell at a time, each to an idle actor with an empty mailbox.
    let total = on_core(&node, CoreId(0), move || async move {
        for _ in 0..50 {
            r.tell(Add { n: 1 }).unwrap();
            glommio::timer::sleep(Duration::from_millis(1)).await;
        }
        r.ask(Add { n: 0 }).timeout(SECOND).await
    });
    assert_eq!(total, Ok(50));
    let core1 = node.stats().cores[1];
    assert!(core1.inline >= 40, "most frames were read where they lay in the ring: {core1:?}");
    node.shutdown().unwrap();
}

/// On `Add`, spawns a task that sleeps, then adds to the counter `to`.
struct Later {
    to: coremesh::ActorRef<Counter>,
}
impl coremesh::Actor for Later {}
impl coremesh::Handler<Add> for Later {
    type Reply = ();
    fn handle(&mut self, msg: &ArchivedAdd, ctx: &mut coremesh::Ctx<Self>) {
        let (to, n) = (self.to, msg.n.to_native());
        ctx.spawn_task(async move {
            coremesh::time::sleep(Duration::from_millis(2)).await;
            let _ = to.tell(Add { n });
        });
    }
}
coremesh::handlers!(Later: Add);

#[test]
fn tasks_run_on_a_core_with_no_glommio_in_the_callers_code() {
    let node = node();
    let task = node.spawn_task_on(CoreId(0), || async {
        coremesh::time::sleep(Duration::from_millis(2)).await;
        42
    });
    assert_eq!(task.wait(), Ok(42));
    let hooks = hooks();
    let counter = counter_on(&node, 0, &hooks);
    let later = node.spawn_on(CoreId(0), move || Later { to: counter }).wait().unwrap();
    node.tell(&later, Add { n: 5 }).unwrap();
    assert!(wait_until(5 * SECOND, || node.ask(&counter, Get).timeout(SECOND).wait().map(|g| g.0) == Ok(5)));
    node.shutdown().unwrap();
}
