//! The bounds of the membership's queues: what a full one does.

use std::time::Duration;

use super::*;
use crate::ids::CoreId;

fn member(node: u64, status: MemberStatus) -> Member {
    Member { node: NodeId(node), addr: "127.0.0.1:7000".parse().unwrap(), cores: 1, status }
}

/// `n` changes of node 2 (Up, Down, Up…), each an event.
fn flap(shared: &MembershipShared, n: usize) -> Vec<MemberEvent> {
    (0..n)
        .map(|_| {
            let up = shared.snapshot().is_up(NodeId(2));
            let status = if up { MemberStatus::Down } else { MemberStatus::Up };
            shared.update(member(2, status)).expect("every flap is an event")
        })
        .collect()
}

#[test]
fn a_subscriber_that_does_not_read_loses_events_past_the_bound_and_then_reads_lagged() {
    let shared = MembershipShared::new(NodeId(1));
    let sub = shared.subscribe();
    let published = flap(&shared, SUBSCRIBER_EVENTS_MAX + 10);
    // The publisher never waited; the first SUBSCRIBER_EVENTS_MAX are kept, in order.
    for e in &published[..SUBSCRIBER_EVENTS_MAX] {
        assert_eq!(sub.try_next().as_ref(), Some(e));
    }
    assert_eq!(sub.try_next(), Some(MemberEvent::Lagged { missed: 10 }));
    assert_eq!(sub.try_next(), None);
    // Caught up: the next change comes through as usual.
    let next = flap(&shared, 1);
    assert_eq!(sub.try_next().as_ref(), next.first());
}

#[test]
fn the_lagged_marker_sits_where_the_events_were_lost() {
    let shared = MembershipShared::new(NodeId(1));
    let sub = shared.subscribe();
    let kept = flap(&shared, SUBSCRIBER_EVENTS_MAX + 3);
    // Reading two makes room, but only for the marker and one event.
    assert_eq!(sub.try_next().as_ref(), kept.first());
    assert_eq!(sub.try_next().as_ref(), kept.get(1));
    let after = flap(&shared, 2);
    for e in &kept[2..SUBSCRIBER_EVENTS_MAX] {
        assert_eq!(sub.try_next().as_ref(), Some(e));
    }
    assert_eq!(sub.try_next(), Some(MemberEvent::Lagged { missed: 3 }));
    assert_eq!(sub.try_next().as_ref(), after.first());
    // The last one found no room behind the marker.
    assert_eq!(sub.try_next(), Some(MemberEvent::Lagged { missed: 1 }));
    assert_eq!(sub.next_timeout(Duration::from_millis(1)), None);
}

#[test]
fn a_dropped_subscription_is_forgotten_and_a_gone_node_ends_the_others() {
    let shared = MembershipShared::new(NodeId(1));
    drop(shared.subscribe());
    let sub = shared.subscribe();
    flap(&shared, 1);
    assert_eq!(shared.subscribers.lock().unwrap().len(), 1);
    drop(shared);
    assert!(matches!(sub.next_timeout(Duration::from_secs(10)), Some(MemberEvent::MemberUp(_))));
    // Closed: no wait for the timeout.
    assert_eq!(sub.next_timeout(Duration::from_secs(3600)), None);
}

#[test]
fn a_full_report_queue_drops_reports_without_waiting_and_counts_them_on_the_core() {
    let config = crate::Config::builder()
        .env_source(|_| None)
        .dev_mode(true)
        .cores([0])
        .listen("127.0.0.1:0".parse().unwrap())
        .build()
        .expect("config");
    let node = crate::Node::start(config).expect("node starts");
    // Stand in for a control thread that has stopped reading.
    let (tx, rx) = mpsc::sync_channel(CONTROL_REPORTS_MAX);
    node.handle().shared().membership.set_control(Some(tx));
    let shared = node.handle().shared().clone();
    let waiting = node.handle().run_on(CoreId(0), move || {
        (0..CONTROL_REPORTS_MAX as u64 + 3)
            .filter(|i| shared.membership.report(PeerReport::Closed(NodeId(*i))))
            .count()
    });
    let (done_tx, done) = mpsc::channel();
    std::thread::spawn(move || done_tx.send(waiting.wait()));
    let queued =
        done.recv_timeout(Duration::from_secs(10)).expect("the core answered").expect("the core ran it");
    assert_eq!(queued, CONTROL_REPORTS_MAX);
    assert_eq!(node.stats().total().control_reports_dropped, 3);
    let heard: Vec<_> = rx.try_iter().collect();
    assert_eq!(heard.len(), CONTROL_REPORTS_MAX);
    assert_eq!(heard.first(), Some(&ControlReport::Peer(PeerReport::Closed(NodeId(0)))), "oldest kept");
    // Room again: the next report goes through.
    assert!(node.handle().shared().membership.report(PeerReport::Closed(NodeId(7))));
    node.shutdown().expect("clean shutdown");
}

#[test]
fn a_membership_command_meeting_a_full_inbox_is_queued_past_the_bound_and_counted() {
    use crate::core::shared::{Command, CoreCommand, INBOX_COMMANDS_MAX};
    let config = crate::Config::builder()
        .env_source(|_| None)
        .dev_mode(true)
        .cores([0])
        .listen("127.0.0.1:0".parse().unwrap())
        .build()
        .expect("config");
    let node = crate::Node::start(config).expect("node starts");
    let handle = node.handle();
    let inbox = &handle.shared().cores[0].inbox;
    // Hold the core, so that its inbox fills.
    let (release, held) = mpsc::channel::<()>();
    let (entered_tx, entered) = mpsc::channel();
    drop(handle.run_on(CoreId(0), move || {
        let _ = entered_tx.send(());
        let _ = held.recv_timeout(Duration::from_secs(10));
    }));
    entered.recv_timeout(Duration::from_secs(10)).expect("the core took the holder");
    let filled =
        (0..=INBOX_COMMANDS_MAX).take_while(|_| inbox.push(Command::Run(Box::new(|_| ()))).is_ok()).count();
    assert_eq!(filled, INBOX_COMMANDS_MAX, "the inbox is full");
    assert!(handle.shared().core_command(CoreId(0), CoreCommand::NodeGone(NodeId(99))), "queued anyway");
    assert_eq!(*handle.shared().membership.commands_past_bound.lock().unwrap(), 1);
    // The core works through everything in order, the command included.
    let (done_tx, done) = mpsc::channel();
    inbox.push_control(Command::Run(Box::new(move |_| {
        let _ = done_tx.send(());
    })));
    release.send(()).unwrap();
    done.recv_timeout(Duration::from_secs(30)).expect("the core got through its inbox");
    node.shutdown().expect("clean shutdown");
}
