//! Several nodes in this process, joined over real TCP sockets on loopback:
//! in-place reads from the receive buffer, refs that travel between nodes,
//! deadlines that travel with asks, frame limits, and outside threads.

mod common;

use std::time::Duration;

use common::*;
use coremesh::{
    Actor, ActorRef, AskError, AsyncHandler, Config, CoreId, Ctx, Handler, Node, Owned, TellError,
};
use rkyv::{Archive, Deserialize, Serialize};

const T: Duration = Duration::from_secs(10);

fn net_node(f: impl FnOnce(coremesh::ConfigBuilder) -> coremesh::ConfigBuilder) -> Node {
    node_with(|b| f(b.listen("127.0.0.1:0".parse().unwrap())))
}

/// Asks whether the message it got lies in the receive buffer being dispatched.
#[derive(Archive, Serialize, Deserialize)]
struct WhereAmI {
    pad: u64,
}
/// Asks `target` to add `n`, from the node this actor lives on.
#[derive(Archive, Serialize, Deserialize)]
struct AskVia {
    target: ActorRef<Counter>,
    n: u64,
}
#[derive(Archive, Serialize, Deserialize)]
struct Blob {
    data: Vec<u8>,
}
coremesh::message!(WhereAmI = "remote.WhereAmI", AskVia = "remote.AskVia", Blob = "remote.Blob");

struct Probe;
impl Actor for Probe {}
impl Handler<WhereAmI> for Probe {
    type Reply = bool;
    fn handle(&mut self, msg: &ArchivedWhereAmI, _ctx: &mut Ctx<Self>) -> bool {
        coremesh::__private::in_receive_buffer(msg as *const ArchivedWhereAmI as usize)
    }
}
impl Handler<Blob> for Probe {
    type Reply = u64;
    fn handle(&mut self, msg: &ArchivedBlob, _ctx: &mut Ctx<Self>) -> u64 {
        msg.data.len() as u64
    }
}
impl AsyncHandler<AskVia> for Probe {
    type Reply = Result<u64, String>;
    async fn handle(&mut self, msg: Owned<AskVia>, _ctx: &mut Ctx<Self>) -> Result<u64, String> {
        let target = msg.target.get();
        let n = msg.n.to_native();
        target.ask(Add { n }).timeout(T).await.map_err(|e| e.to_string())
    }
}
coremesh::handlers!(Probe: WhereAmI, Blob; async AskVia);

#[test]
fn a_sync_handler_reads_a_remote_message_in_the_receive_buffer() {
    let a = net_node(|b| b);
    let b = net_node(|b| b);
    assert_eq!(a.connect(b.listen_addr()).wait(), Ok(b.id()));
    let probe = b.spawn_on(CoreId(0), || Probe).wait().unwrap();
    for _ in 0..20 {
        assert_eq!(a.ask(&probe, WhereAmI { pad: 0 }).timeout(T).wait(), Ok(true));
    }
    assert!(b.stats().cores[0].inline >= 20, "{:?}", b.stats().cores[0]);
    a.shutdown().unwrap();
    b.shutdown().unwrap();
}

#[test]
fn a_ref_sent_to_another_node_can_be_asked_there() {
    let (a, b, c) = (net_node(|b| b), net_node(|b| b), net_node(|b| b));
    a.connect(b.listen_addr()).wait().unwrap();
    b.connect(c.listen_addr()).wait().unwrap();
    let on_c = counter_on(&c, 0, &hooks());
    let relay = b.spawn_on(CoreId(0), || Probe).wait().unwrap();
    // A tells B about an actor on C; B asks it and answers A.
    assert_eq!(a.ask(&relay, AskVia { target: on_c, n: 5 }).timeout(T).wait(), Ok(Ok(5)));
    assert_eq!(a.ask(&relay, AskVia { target: on_c, n: 6 }).timeout(T).wait(), Ok(Ok(11)));
    for n in [a, b, c] {
        n.shutdown().unwrap();
    }
}

#[test]
fn fifo_holds_per_pair_across_nodes_for_a_million_messages() {
    if !two_cpus() {
        return;
    }
    let a = net_node(|b| b);
    let b = net_node(|b| b);
    a.connect(b.listen_addr()).wait().unwrap();
    let r = counter_on(&b, 1, &hooks());
    const N: u64 = 500_000;
    // Two sender cores on A, each its own (sender, receiver) pair.
    stream_seqs(&a, r, &[(0, 0), (1, 1)], N, Duration::from_secs(240));
    let mut last = (0, 0);
    assert!(wait_until(Duration::from_secs(60), || {
        last = b.ask(&r, Get).timeout(T).wait().unwrap();
        last.0 == 2 * N
    }));
    assert_eq!(last, (2 * N, 0), "all delivered in order");
    a.shutdown().unwrap();
    b.shutdown().unwrap();
}

#[test]
fn an_ask_that_reaches_a_busy_remote_actor_too_late_is_dropped_unrun() {
    let a = net_node(|b| b);
    let b = net_node(|b| b);
    a.connect(b.listen_addr()).wait().unwrap();
    let r = counter_on(&b, 0, &hooks());
    a.tell(&r, SlowAdd { n: 1, sleep_ms: 300 }).unwrap();
    let out = a.ask(&r, Add { n: 1000 }).timeout(Duration::from_millis(50)).wait();
    assert_eq!(out, Err(AskError::Timeout));
    let ok = wait_until(T, || b.stats().total().expired_asks == 1);
    assert!(ok, "a: {:?}\nb: {:?}", a.stats().total(), b.stats().total());
    assert_eq!(b.ask(&r, Get).timeout(T).wait().unwrap().0, 1, "the late ask never ran");
    a.shutdown().unwrap();
    b.shutdown().unwrap();
}

#[test]
fn frame_limits_hold_on_both_sides() {
    let a = net_node(|b| b.max_frame_bytes(1 << 20));
    let b = net_node(|b| b.max_frame_bytes(64 << 10));
    a.connect(b.listen_addr()).wait().unwrap();
    let probe = b.spawn_on(CoreId(0), || Probe).wait().unwrap();
    assert_eq!(a.ask(&probe, Blob { data: vec![7; 1000] }).timeout(T).wait(), Ok(1000));
    // Larger than the sender's own limit: refused at the sender.
    let too_big = a.ask(&probe, Blob { data: vec![7; 2 << 20] }).timeout(T).wait();
    assert!(matches!(too_big, Err(AskError::NotSent(TellError::TooLarge { .. }))), "{too_big:?}");
    // Within the sender's limit but over the receiver's: the receiver closes the
    // connection before reading the payload, and the ask ends at once.
    let refused = a.ask(&probe, Blob { data: vec![7; 200 << 10] }).timeout(T).wait();
    assert!(matches!(refused, Err(AskError::ConnectionLost { .. })), "{refused:?}");
    assert!(b.stats().total().invalid_frames >= 1);
    a.shutdown().unwrap();
    b.shutdown().unwrap();
}

#[test]
fn unknown_nodes_are_a_typed_error() {
    let a = net_node(|b| b);
    let mut id = counter_on(&a, 0, &hooks()).id();
    id.node = coremesh::NodeId(99);
    let far: ActorRef<Counter> = ActorRef::from_id(id);
    assert_eq!(a.tell(&far, Add { n: 1 }), Err(TellError::UnknownNode { node: coremesh::NodeId(99) }));
    let refused = a.connect("127.0.0.1:1".parse().unwrap()).wait();
    assert!(refused.is_err(), "{refused:?}");
    let _ = Config::builder();
    a.shutdown().unwrap();
}

impl coremesh::RemoteSpawn for Probe {
    const NAME: &'static str = "remote.Probe";
    type Args = u64;
    fn create(_: &rkyv::Archived<u64>) -> Self {
        Probe
    }
}

#[test]
fn remote_spawn_needs_a_registered_type_and_publish_lookup_find_actors() {
    let a = net_node(|b| b);
    let b = net_node(|b| b);
    a.connect(b.listen_addr()).wait().unwrap();
    let refused = a.spawn_remote::<Probe>(b.id(), 0).timeout(T).wait();
    let err = refused.unwrap_err().to_string();
    assert!(err.contains("remote.Probe") && err.contains("not registered"), "{err}");
    b.register_remote::<Probe>();
    let probe = a.spawn_remote::<Probe>(b.id(), 0).timeout(T).wait().unwrap();
    assert_eq!(probe.node(), b.id());
    assert_eq!(a.ask(&probe, WhereAmI { pad: 0 }).timeout(T).wait(), Ok(true));

    b.publish("the-probe", &probe);
    assert_eq!(a.lookup::<Probe>(b.id(), "the-probe").wait(), Ok(Some(probe)));
    assert_eq!(a.lookup::<Probe>(b.id(), "nobody").wait(), Ok(None));
    assert_eq!(b.lookup::<Probe>(b.id(), "the-probe").wait(), Ok(Some(probe)));
    a.shutdown().unwrap();
    b.shutdown().unwrap();
}

/// Connections between two nodes that are still open, seen from `node`.
fn open_connections(node: &Node) -> u64 {
    let t = node.stats().total();
    t.connections_opened - t.connections_closed
}

#[test]
fn nodes_that_dial_each_other_at_once_keep_one_connection_per_core_pair() {
    for round in 0..8 {
        let (a, b) = (net_node(|b| b), net_node(|b| b));
        let cores = a.cores().min(b.cores());
        let start = std::sync::Barrier::new(2);
        // Both connect at the same moment: core 0 dials by address, the other
        // cores by node id as soon as core 0 is through.
        let (ab, ba) = std::thread::scope(|s| {
            let ab = s.spawn(|| {
                start.wait();
                a.connect(b.listen_addr()).wait()
            });
            let ba = s.spawn(|| {
                start.wait();
                b.connect(a.listen_addr()).wait()
            });
            (ab.join().unwrap(), ba.join().unwrap())
        });
        assert_eq!((ab, ba), (Ok(b.id()), Ok(a.id())), "round {round}");
        // Traffic both ways on every core pair, from that pair's core.
        for core in 0..cores as u16 {
            for (from, to) in [(&a, &b), (&b, &a)] {
                let r = counter_on(to, core, &hooks());
                let got =
                    on_core(from, CoreId(core), move || async move { r.ask(Add { n: 7 }).timeout(T).await });
                assert_eq!(got, Ok(7), "round {round}, core {core}");
            }
        }
        // Exactly one connection per core pair, seen from both ends, and it
        // stays that way.
        let settled =
            wait_until(T, || open_connections(&a) == cores as u64 && open_connections(&b) == cores as u64);
        std::thread::sleep(Duration::from_millis(50));
        let (sa, sb) = (a.stats().total(), b.stats().total());
        assert!(
            settled && open_connections(&a) == cores as u64 && open_connections(&b) == cores as u64,
            "round {round}: {cores} core pairs, but A has {} open and B {} (A {sa:?}, B {sb:?})",
            open_connections(&a),
            open_connections(&b),
        );
        a.shutdown().unwrap();
        b.shutdown().unwrap();
    }
}
