//! Tests of one core's watch table as a plain state machine: events in,
//! effects out, no executor and no sockets.

use super::*;

const HERE: NodeId = NodeId(1);
const FAR: NodeId = NodeId(2);

fn actor(node: NodeId, core: u16, slot: u32) -> ActorId {
    ActorId { node, core: CoreId(core), slot, generation: 1 }
}

fn table() -> WatchTable {
    WatchTable::new(HERE, CoreId(0))
}

fn panicked() -> DownReason {
    DownReason::Panicked { message: "boom".into(), type_id: 7, message_type: None }
}

#[test]
fn a_local_monitor_reports_the_stop_once() {
    let (mut t, w, x) = (table(), actor(HERE, 0, 1), actor(HERE, 0, 2));
    assert!(t.start_watching(w, x, Kind::Monitor));
    assert!(!t.start_watching(w, x, Kind::Monitor), "a second monitor of the same actor is the same one");
    t.watched(x, w, Kind::Monitor);
    assert_eq!(t.watchers_of(x), 1);
    let mut fx = Vec::new();
    t.stopped(x, &panicked(), &mut fx);
    assert_eq!(fx, [Effect::ActorDown { to: w, actor: x, reason: panicked() }]);
    fx.clear();
    t.stopped(x, &panicked(), &mut fx);
    assert!(fx.is_empty());
    assert!(t.is_empty(), "nothing is kept for either side");
}

#[test]
fn a_remote_watcher_is_told_through_its_core_and_a_dropped_monitor_is_not_reported() {
    let (mut t, x) = (table(), actor(HERE, 0, 2));
    let far = actor(FAR, 1, 9);
    let other_core = actor(HERE, 1, 3);
    t.watched(x, far, Kind::Monitor);
    t.watched(x, other_core, Kind::Link);
    let mut fx = Vec::new();
    t.stopped(x, &DownReason::Normal, &mut fx);
    assert_eq!(
        fx,
        [
            Effect::SendDown { watcher: far, target: x, kind: Kind::Monitor, reason: DownReason::Normal },
            Effect::SendDown { watcher: other_core, target: x, kind: Kind::Link, reason: DownReason::Normal },
        ]
    );

    let w = actor(HERE, 0, 1);
    t.start_watching(w, far, Kind::Monitor);
    assert!(t.stop_watching(w, far, Kind::Monitor));
    fx.clear();
    t.down(w, far, Kind::Monitor, DownReason::Normal, &mut fx);
    assert!(fx.is_empty(), "a report after demonitor is dropped");
    assert!(t.is_empty());
}

#[test]
fn links_stop_the_peer_on_failure_only_and_trapping_turns_it_into_a_message() {
    let (mut t, a, b, c) = (table(), actor(HERE, 0, 1), actor(HERE, 0, 2), actor(HERE, 0, 3));
    for peer in [b, c] {
        t.start_watching(a, peer, Kind::Link);
        t.watched(peer, a, Kind::Link);
    }
    let mut fx = Vec::new();
    t.stopped(b, &DownReason::Normal, &mut fx);
    assert!(fx.is_empty(), "a Normal stop stops nobody");
    t.stopped(c, &panicked(), &mut fx);
    assert_eq!(fx, [Effect::Kill { actor: a, peer: c, reason: panicked() }]);

    let (d, e) = (actor(HERE, 0, 4), actor(HERE, 0, 5));
    t.set_trap(d, true);
    t.start_watching(d, e, Kind::Link);
    t.watched(e, d, Kind::Link);
    fx.clear();
    t.stopped(e, &DownReason::Normal, &mut fx);
    assert_eq!(fx, [Effect::ActorDown { to: d, actor: e, reason: DownReason::Normal }]);
}

#[test]
fn a_stopping_actor_drops_its_own_watches() {
    let (mut t, w) = (table(), actor(HERE, 0, 1));
    let (local, far) = (actor(HERE, 0, 2), actor(FAR, 0, 2));
    for x in [local, far] {
        t.start_watching(w, x, Kind::Monitor);
    }
    t.watched(local, w, Kind::Monitor);
    let mut fx = Vec::new();
    t.stopped(w, &DownReason::Normal, &mut fx);
    assert_eq!(fx, [Effect::SendUnwatch { target: far, watcher: w, kind: Kind::Monitor }]);
    assert_eq!(t.watchers_of(local), 0);
    assert!(t.is_empty());
    fx.clear();
    t.node_down(FAR, &mut fx);
    assert!(fx.is_empty(), "the node index forgot the stopped watcher");
}

#[test]
fn node_down_reports_everything_there_once_and_forgets_it() {
    let mut t = table();
    let (m, l, trapper, n, kept) =
        (actor(HERE, 0, 1), actor(HERE, 0, 2), actor(HERE, 0, 3), actor(HERE, 0, 4), actor(HERE, 0, 5));
    let (x, y) = (actor(FAR, 0, 1), actor(FAR, 1, 2));
    let elsewhere = actor(NodeId(3), 0, 1);
    t.start_watching(m, x, Kind::Monitor);
    t.start_watching(m, elsewhere, Kind::Monitor);
    t.start_watching(l, y, Kind::Link);
    t.watched(l, y, Kind::Link);
    t.set_trap(trapper, true);
    t.start_watching(trapper, x, Kind::Link);
    assert!(t.monitor_node(n, FAR));
    t.watched(kept, x, Kind::Monitor);

    let mut fx = Vec::new();
    t.node_down(FAR, &mut fx);
    assert_eq!(
        fx,
        [
            Effect::ActorDown { to: m, actor: x, reason: DownReason::NodeDown },
            Effect::Kill { actor: l, peer: y, reason: DownReason::NodeDown },
            Effect::ActorDown { to: trapper, actor: x, reason: DownReason::NodeDown },
            Effect::NodeDown { to: n, node: FAR },
        ]
    );
    assert_eq!(t.watchers_of(kept), 0, "watchers on the dead node are forgotten");
    assert_eq!(t.watchers_of(l), 0);

    fx.clear();
    t.node_down(FAR, &mut fx);
    assert!(fx.is_empty(), "a second call for the same node does nothing");
    t.down(m, y, Kind::Monitor, DownReason::Normal, &mut fx);
    t.down(l, y, Kind::Link, panicked(), &mut fx);
    assert!(fx.is_empty(), "late reports from the dead node find nothing");

    t.stopped(elsewhere, &DownReason::Normal, &mut fx);
    t.down(m, elsewhere, Kind::Monitor, DownReason::Normal, &mut fx);
    assert_eq!(fx, [Effect::ActorDown { to: m, actor: elsewhere, reason: DownReason::Normal }]);
}

#[test]
fn node_down_of_this_node_does_nothing() {
    let (mut t, w) = (table(), actor(HERE, 0, 1));
    t.monitor_node(w, HERE);
    let mut fx = Vec::new();
    t.node_down(HERE, &mut fx);
    assert!(fx.is_empty());
}
