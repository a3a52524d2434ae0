//! The watch retry queue as a plain state machine: synchronous, a fake clock.

use std::time::Duration;

use super::{Attempt, RetryQueue, WATCH_RETRY_MAX};
use crate::ids::{ActorId, CoreId, NodeId};

fn actor(slot: u32) -> ActorId {
    ActorId { node: NodeId(1), core: CoreId(0), slot, generation: 1 }
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

#[test]
fn the_first_push_starts_a_task_and_a_full_queue_gives_the_message_back() {
    let base = crate::clock::now();
    let mut q = RetryQueue::new(3);
    assert_eq!(q.push(actor(1), "a", base + ms(10)), Ok(true), "no task runs yet: start one");
    assert_eq!(q.push(actor(2), "b", base + ms(10)), Ok(false));
    assert_eq!(q.push(actor(1), "c", base + ms(10)), Ok(false));
    assert_eq!(q.push(actor(3), "d", base + ms(10)), Err("d"), "full: nothing queued");
    assert_eq!(q.len(), 3);
    assert!(q.holds_for(actor(1)) && !q.holds_for(actor(3)));
    assert!(!q.finish_if_empty(), "the task keeps going while messages wait");

    let lost = q.round(base, |_, _| Attempt::<()>::Sent);
    assert!(lost.is_empty());
    assert!(q.finish_if_empty(), "empty: the task ends");
    assert_eq!(q.push(actor(3), "d", base + ms(10)), Ok(true), "and the next push starts another");
    assert_eq!(RetryQueue::<()>::default().max, WATCH_RETRY_MAX);
}

#[test]
fn a_round_never_lets_a_message_overtake_an_earlier_one_to_the_same_actor() {
    let base = crate::clock::now();
    let mut q = RetryQueue::new(8);
    for (slot, m) in [(1, "a1"), (2, "b1"), (1, "a2"), (3, "c1"), (2, "b2")] {
        q.push(actor(slot), m, base + ms(100)).unwrap();
    }
    // Actor 1's path stays full; the others are free.
    let mut tried = Vec::new();
    let lost = q.round(base, |to, m: &&str| {
        tried.push(*m);
        if to == actor(1) {
            Attempt::<()>::Full
        } else {
            Attempt::Sent
        }
    });
    assert!(lost.is_empty());
    assert_eq!(tried, ["a1", "b1", "c1", "b2"], "a2 waits behind a1 without a try");
    assert_eq!(q.len(), 2);
    let mut tried = Vec::new();
    q.round(base + ms(1), |_, m: &&str| {
        tried.push(*m);
        Attempt::<()>::Sent
    });
    assert_eq!(tried, ["a1", "a2"], "then they leave in order");
    assert!(q.finish_if_empty());
}

#[test]
fn a_message_is_given_up_when_it_fails_or_stays_full_until_its_time() {
    let base = crate::clock::now();
    let mut q = RetryQueue::new(8);
    q.push(actor(1), "full", base + ms(10)).unwrap();
    q.push(actor(2), "gone", base + ms(10)).unwrap();
    let attempt =
        |to: ActorId, _: &&str| if to == actor(1) { Attempt::Full } else { Attempt::Failed("no node") };
    assert_eq!(q.round(base + ms(5), attempt), vec![(actor(2), "gone", Some("no node"))]);
    assert_eq!(q.len(), 1, "still full, still in time: kept");
    assert_eq!(q.round(base + ms(10), attempt), vec![(actor(1), "full", None)]);
    assert!(q.finish_if_empty());
}
