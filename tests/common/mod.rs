//! Actors and helpers shared by the integration tests.
#![allow(dead_code)]

use coremesh::{Actor, ActorRef, AsyncHandler, Config, Ctx, Handler, Node, Owned, StopReason};
use rkyv::{Archive, Deserialize, Serialize};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

#[derive(Archive, Serialize, Deserialize, Debug)]
pub struct Add {
    pub n: u64,
}
#[derive(Archive, Serialize, Deserialize, Debug)]
pub struct Get;
#[derive(Archive, Serialize, Deserialize, Debug)]
pub struct Seq {
    pub sender: u32,
    pub seq: u64,
}
#[derive(Archive, Serialize, Deserialize, Debug)]
pub struct Stop;
#[derive(Archive, Serialize, Deserialize, Debug)]
pub struct Boom;
#[derive(Archive, Serialize, Deserialize, Debug)]
pub struct SlowAdd {
    pub n: u64,
    pub sleep_ms: u64,
}
#[derive(Archive, Serialize, Deserialize, Debug)]
pub struct Forward {
    pub to: ActorRef<Counter>,
    pub n: u64,
}
coremesh::message!(
    Add = "test.Add",
    Get = "test.Get",
    Seq = "test.Seq",
    Stop = "test.Stop",
    Boom = "test.Boom",
    SlowAdd = "test.SlowAdd",
    Forward = "test.Forward",
);

/// Counts, checks per-sender FIFO, and reports its hooks through shared counters.
pub struct Counter {
    pub total: u64,
    pub last_seq: Vec<Option<u64>>,
    pub fifo_violations: u64,
    pub hooks: Arc<Hooks>,
}

#[derive(Default)]
pub struct Hooks {
    pub started: AtomicU64,
    pub stopping: AtomicU64,
    pub stopped: AtomicU64,
}

impl Counter {
    pub fn new(hooks: Arc<Hooks>) -> Self {
        Counter { total: 0, last_seq: Vec::new(), fifo_violations: 0, hooks }
    }
}

impl Actor for Counter {
    async fn started(&mut self, _ctx: &mut Ctx<Self>) -> Result<(), coremesh::InitError> {
        self.hooks.started.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
    fn stopping(&mut self, _ctx: &mut Ctx<Self>) {
        self.hooks.stopping.fetch_add(1, Ordering::SeqCst);
    }
    fn stopped(&mut self, _reason: &StopReason) {
        self.hooks.stopped.fetch_add(1, Ordering::SeqCst);
    }
}

impl Handler<Add> for Counter {
    type Reply = u64;
    fn handle(&mut self, msg: &ArchivedAdd, _ctx: &mut Ctx<Self>) -> u64 {
        self.total += msg.n.to_native();
        self.total
    }
}
impl Handler<Get> for Counter {
    type Reply = (u64, u64);
    fn handle(&mut self, _msg: &ArchivedGet, _ctx: &mut Ctx<Self>) -> (u64, u64) {
        (self.total, self.fifo_violations)
    }
}
impl Handler<Seq> for Counter {
    type Reply = ();
    fn handle(&mut self, msg: &ArchivedSeq, _ctx: &mut Ctx<Self>) {
        let s = msg.sender.to_native() as usize;
        if self.last_seq.len() <= s {
            self.last_seq.resize(s + 1, None);
        }
        let seq = msg.seq.to_native();
        if let Some(prev) = self.last_seq[s] {
            if seq != prev + 1 {
                self.fifo_violations += 1;
            }
        } else if seq != 0 {
            self.fifo_violations += 1;
        }
        self.last_seq[s] = Some(seq);
        self.total += 1;
    }
}
impl Handler<Stop> for Counter {
    type Reply = ();
    fn handle(&mut self, _msg: &ArchivedStop, ctx: &mut Ctx<Self>) {
        ctx.stop();
    }
}
impl Handler<Boom> for Counter {
    type Reply = ();
    fn handle(&mut self, _msg: &ArchivedBoom, _ctx: &mut Ctx<Self>) {
        panic!("boom requested");
    }
}
impl Handler<Forward> for Counter {
    type Reply = u64;
    fn handle(&mut self, msg: &ArchivedForward, _ctx: &mut Ctx<Self>) -> u64 {
        let to = msg.to.get();
        to.tell(Add { n: msg.n.to_native() }).map(|_| 1).unwrap_or(0)
    }
}
impl AsyncHandler<SlowAdd> for Counter {
    type Reply = u64;
    async fn handle(&mut self, msg: Owned<SlowAdd>, _ctx: &mut Ctx<Self>) -> u64 {
        glommio::timer::sleep(std::time::Duration::from_millis(msg.sleep_ms.to_native())).await;
        self.total += msg.n.to_native();
        self.total
    }
}
coremesh::handlers!(Counter: Add, Get, Seq, Stop, Boom, Forward; async SlowAdd);

/// A type that handles nothing the Counter handles.
pub struct Other;
impl Actor for Other {}
coremesh::handlers!(Other:);

/// A node on every allowed CPU (up to 2), with small bounds for tests.
pub fn node() -> Node {
    node_with(|b| b)
}

pub fn node_with(f: impl FnOnce(coremesh::ConfigBuilder) -> coremesh::ConfigBuilder) -> Node {
    // A development node: raw test peers present the default cookie.
    let cfg = f(Config::builder().env_source(|_| None).dev_mode(true)).build().expect("config");
    Node::start(cfg).expect("node starts")
}

/// Runs the future made by `make` as a task on worker `core` and returns its
/// output, waiting at most 20 s.
pub fn on_core<R, F, M>(node: &coremesh::NodeHandle, core: coremesh::CoreId, make: M) -> R
where
    R: Send + 'static,
    F: std::future::Future<Output = R> + 'static,
    M: FnOnce() -> F + Send + 'static,
{
    let (tx, rx) = std::sync::mpsc::channel();
    node.run_on(core, move || {
        glommio::spawn_local(async move {
            let _ = tx.send(make().await);
        })
        .detach();
    })
    .wait()
    .expect("core accepts work");
    rx.recv_timeout(std::time::Duration::from_secs(20)).expect("task on core finished within 20 s")
}

/// Polls `cond` every millisecond until it holds or `limit` passes.
pub fn wait_until(limit: std::time::Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = std::time::Instant::now() + limit;
    while std::time::Instant::now() < deadline {
        if cond() {
            return true;
        }
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    cond()
}

/// Whether this process may run on at least two CPUs.
pub fn two_cpus() -> bool {
    let ok = coremesh::Config::builder()
        .env_source(|_| None)
        .dev_mode(true)
        .build()
        .map(|c| c.worker_cpus().len() >= 2);
    if !matches!(ok, Ok(true)) {
        eprintln!("skipped: fewer than two CPUs are allowed");
    }
    matches!(ok, Ok(true))
}

pub fn hooks() -> Arc<Hooks> {
    Arc::new(Hooks::default())
}

pub fn counter_on(node: &coremesh::NodeHandle, core: u16, hooks: &Arc<Hooks>) -> ActorRef<Counter> {
    let h = hooks.clone();
    node.spawn_on(coremesh::CoreId(core), move || Counter::new(h)).wait().expect("spawn")
}

/// Sends `n` numbered `Seq` messages to `target` from each `(sender id, core)` of
/// `node`, concurrently, waiting for room when a path is full; returns once all
/// senders are done (at most `limit`).
pub fn stream_seqs(
    node: &coremesh::NodeHandle,
    target: ActorRef<Counter>,
    senders: &[(u32, u16)],
    n: u64,
    limit: std::time::Duration,
) {
    let (tx, rx) = std::sync::mpsc::channel();
    for &(sender, core) in senders {
        let tx = tx.clone();
        node.run_on(coremesh::CoreId(core), move || {
            glommio::spawn_local(async move {
                for seq in 0..n {
                    target.send(Seq { sender, seq }).await.unwrap();
                }
                tx.send(()).unwrap();
            })
            .detach();
        })
        .wait()
        .unwrap();
    }
    for _ in senders {
        rx.recv_timeout(limit).expect("senders finish");
    }
}
