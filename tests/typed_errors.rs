//! Errors a program can branch on: a refused connect names the check
//! (cluster, cookie) and the values it knows, over real sockets; a refused
//! remote spawn is a typed `RemoteSpawnError` rebuilt from the peer's typed
//! reply; a panicking handler's `Panicked` names the message type. Every wait
//! is bounded.

mod common;

use std::sync::mpsc;
use std::time::Duration;

use common::*;
use coremesh::{
    Actor, ConnectError, CoreId, Ctx, DownReason, Handler, HandshakeRefusal, Node, RemoteSpawn,
    RemoteSpawnError, SpawnError, StopReason,
};

const T: Duration = Duration::from_secs(10);

fn net_node(f: impl FnOnce(coremesh::ConfigBuilder) -> coremesh::ConfigBuilder) -> Node {
    node_with(|b| f(b.listen("127.0.0.1:0".parse().unwrap())))
}

#[test]
fn a_connect_to_another_cluster_is_refused_as_a_cluster_mismatch() {
    let a = net_node(|b| b.cluster("alpha"));
    let b = net_node(|b| b.cluster("beta"));
    let addr = b.listen_addr();
    let got = a.connect(addr).timeout(T).wait();
    // The peer refuses our Hello; its Refuse names the check, not its value.
    let want = ConnectError::Refused {
        addr,
        reason: HandshakeRefusal::ClusterMismatch { ours: "alpha".into(), theirs: None },
    };
    assert_eq!(got, Err(want));
    let text = got.unwrap_err().to_string();
    assert!(text.contains("cluster name mismatch") && text.contains("\"alpha\""), "{text}");
    a.shutdown().unwrap();
    b.shutdown().unwrap();
}

#[test]
fn a_connect_with_another_cookie_is_refused_as_a_cookie_mismatch_without_naming_it() {
    let a = net_node(|b| b.cookie(b"secret-one".to_vec()));
    let b = net_node(|b| b.cookie(b"secret-two".to_vec()));
    let addr = b.listen_addr();
    let got = a.connect(addr).timeout(T).wait();
    // The dialer checks the server's proof first, and finds it wrong.
    let want = ConnectError::Refused { addr, reason: HandshakeRefusal::CookieMismatch { by_peer: false } };
    assert_eq!(got, Err(want));
    let text = got.unwrap_err().to_string();
    assert!(text.contains("cookie mismatch") && !text.contains("secret"), "{text}");
    a.shutdown().unwrap();
    b.shutdown().unwrap();
}

#[test]
fn a_connect_to_a_closed_port_is_an_io_error_naming_the_address() {
    let a = net_node(|b| b);
    let addr = "127.0.0.1:1".parse().unwrap();
    match a.connect(addr).timeout(T).wait() {
        // (glommio reports the refusal with kind `Other`, the text names it.)
        Err(ConnectError::Io { addr: at, message, .. }) => assert_eq!(at, addr, "{message}"),
        other => panic!("expected an Io error, got {other:?}"),
    }
    a.shutdown().unwrap();
}

/// A remotely spawnable actor whose `create` panics when told to.
struct Fragile;
impl Actor for Fragile {}
coremesh::handlers!(Fragile:);
impl RemoteSpawn for Fragile {
    const NAME: &'static str = "typed.Fragile";
    type Args = bool;
    fn create(panic: &coremesh::rkyv::Archived<bool>) -> Self {
        assert!(!*panic, "told to panic in create");
        Fragile
    }
}

#[test]
fn a_remote_spawn_refusal_is_typed_and_names_the_kind() {
    let a = net_node(|b| b);
    let b = net_node(|b| b);
    a.connect(b.listen_addr()).timeout(T).wait().unwrap();
    let got = a.spawn_remote::<Fragile>(b.id(), false).timeout(T).wait();
    let want = RemoteSpawnError::NotRegistered { kind_name: "typed.Fragile".into(), node: b.id() };
    assert_eq!(got.unwrap_err(), SpawnError::Remote(want));

    b.register_remote::<Fragile>();
    match a.spawn_remote::<Fragile>(b.id(), true).timeout(T).wait() {
        Err(SpawnError::Remote(RemoteSpawnError::CreatePanicked { kind_name, message })) => {
            assert_eq!(kind_name, "typed.Fragile");
            assert!(message.contains("told to panic in create"), "{message}");
        }
        other => panic!("expected CreatePanicked, got {other:?}"),
    }
    // The system actor survived the panic: the next spawn works.
    let ok = a.spawn_remote::<Fragile>(b.id(), false).timeout(T).wait().expect("spawn after a panic");
    assert_eq!(ok.node(), b.id());
    a.shutdown().unwrap();
    b.shutdown().unwrap();
}

/// Tells its stop reason on a channel.
struct Reporter {
    reasons: mpsc::Sender<StopReason>,
}
impl Actor for Reporter {
    fn stopped(&mut self, reason: &StopReason) {
        let _ = self.reasons.send(reason.clone());
    }
}
impl Handler<Boom> for Reporter {
    type Reply = ();
    fn handle(&mut self, _msg: &ArchivedBoom, _ctx: &mut Ctx<Self>) {
        panic!("boom in a handler");
    }
}
coremesh::handlers!(Reporter: Boom);

#[test]
fn a_panicking_handler_is_reported_with_its_message_type_name() {
    let node = node();
    let (tx, rx) = mpsc::channel();
    let r = node.spawn_on(CoreId(0), move || Reporter { reasons: tx }).wait().unwrap();
    node.tell(&r, Boom).unwrap();
    let reason = rx.recv_timeout(T).expect("the actor stopped");
    let StopReason::Panicked { message, type_id, message_type } = &reason else {
        panic!("expected Panicked, got {reason:?}")
    };
    assert!(message.contains("boom in a handler"), "{message}");
    assert_eq!(*type_id, <Boom as coremesh::Message>::TYPE_ID);
    assert_eq!(message_type.as_deref(), Some("test.Boom"));
    // Watchers hear the same name (it crosses the network in `ActorDown`).
    assert!(
        matches!(DownReason::from(&reason), DownReason::Panicked { message_type: Some(t), .. } if t == "test.Boom")
    );
    node.shutdown().unwrap();
}
