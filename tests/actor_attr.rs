//! An actor declared with one attribute, `#[coremesh::actor]`: sync handlers
//! (with and without the context, both spellings of the archived message), an
//! async one, plain methods beside them, told and asked from a plain thread and
//! from another actor; and `#[coremesh::actor(hooks)]` with a hand-written
//! `Actor`. Every wait is bounded.

use std::sync::mpsc;
use std::time::Duration;

use coremesh::{Actor, ActorRef, Config, CoreId, Ctx, Node, Owned, StopReason};

const T: Duration = Duration::from_secs(10);

#[coremesh::message_type("attr.Add")]
struct Add {
    n: u64,
}
#[coremesh::message_type("attr.Get")]
struct Get;
#[coremesh::message_type("attr.SlowDouble")]
struct SlowDouble {
    sleep_ms: u64,
}
#[coremesh::message_type("attr.AskOther")]
struct AskOther {
    other: ActorRef<Counter>,
    n: u64,
}

struct Counter {
    total: u64,
}

#[coremesh::actor]
impl Counter {
    #[handle]
    fn add(&mut self, msg: &ArchivedAdd, _ctx: &mut Ctx<Self>) -> u64 {
        self.bump(msg.n.to_native());
        self.total
    }

    /// No context taken, and the other spelling of the archived type.
    #[handle]
    fn get(&mut self, _msg: &coremesh::rkyv::Archived<Get>) -> u64 {
        self.total
    }

    #[handle]
    async fn slow_double(&mut self, msg: Owned<SlowDouble>, _ctx: &mut Ctx<Self>) -> u64 {
        coremesh::time::sleep(Duration::from_millis(msg.sleep_ms.to_native())).await;
        self.total *= 2;
        self.total
    }

    #[handle]
    async fn ask_other(&mut self, msg: Owned<AskOther>) -> Result<u64, String> {
        let other = msg.other.get();
        other.ask(Add { n: msg.n.to_native() }).timeout(T).await.map_err(|e| e.to_string())
    }

    /// Not a handler: stays a plain method.
    fn bump(&mut self, n: u64) {
        self.total += n;
    }
}

/// An actor with its own lifecycle hooks.
struct Hooked {
    stopped: mpsc::Sender<String>,
}

impl Actor for Hooked {
    fn stopped(&mut self, reason: &StopReason) {
        let _ = self.stopped.send(format!("{reason:?}"));
    }
}

#[coremesh::actor(hooks)]
impl Hooked {
    #[handle]
    fn stop(&mut self, _msg: &ArchivedGet, ctx: &mut Ctx<Self>) {
        ctx.stop();
    }
}

fn node() -> Node {
    Node::start(Config::builder().env_source(|_| None).dev_mode(true).build().expect("config"))
        .expect("node starts")
}

#[test]
fn an_actor_declared_with_the_attribute_handles_tells_and_asks() {
    let node = node();
    let c = node.spawn_on(CoreId(0), || Counter { total: 0 }).wait().unwrap();
    node.tell(&c, Add { n: 2 }).unwrap();
    assert_eq!(node.ask(&c, Add { n: 3 }).timeout(T).wait(), Ok(5));
    assert_eq!(node.ask(&c, SlowDouble { sleep_ms: 5 }).timeout(T).wait(), Ok(10));
    assert_eq!(node.ask(&c, Get).timeout(T).wait(), Ok(10));
    // From another actor, whose async handler asks this one.
    let last = CoreId((node.cores() - 1) as u16);
    let d = node.spawn_on(last, || Counter { total: 0 }).wait().unwrap();
    assert_eq!(node.ask(&d, AskOther { other: c, n: 1 }).timeout(T).wait(), Ok(Ok(11)));
    assert_eq!(node.ask(&c, Get).timeout(T).wait(), Ok(11));
    node.shutdown().unwrap();
}

#[test]
fn the_hooks_option_keeps_a_hand_written_actor_impl() {
    let node = node();
    let (tx, rx) = mpsc::channel();
    let h = node.spawn_on(CoreId(0), move || Hooked { stopped: tx }).wait().unwrap();
    node.tell(&h, Get).unwrap();
    assert_eq!(rx.recv_timeout(T).as_deref(), Ok("Normal"));
    node.shutdown().unwrap();
}
