//! Tests of one core's connection rules as a plain state machine: inputs in,
//! effects out, a fake clock (instants from one base plus offsets), a seeded
//! RNG where order is random; no executor and no sockets.

use std::collections::HashSet;

use super::*;

const A: NodeId = NodeId(1);
const B: NodeId = NodeId(2);
const C: NodeId = NodeId(3);

const INTERVAL_MS: u64 = 100;
const TIMEOUT_MS: u64 = 1000;

fn timing() -> Timing {
    Timing {
        heartbeat_interval: Duration::from_millis(INTERVAL_MS),
        connection_timeout: Duration::from_millis(TIMEOUT_MS),
    }
}

/// The fake clock: every instant is `base + ms`.
#[derive(Clone, Copy)]
struct Clock(Instant);

impl Clock {
    fn new() -> Self {
        Clock(crate::clock::now())
    }
    fn at(self, ms: u64) -> Instant {
        self.0 + Duration::from_millis(ms)
    }
}

/// Where node `n`'s cores listen: port `1000 * n + core`.
fn record(node: NodeId, cores: u16) -> PeerRecord {
    PeerRecord { cores: (0..cores).map(|c| addr(node, c)).collect() }
}

fn addr(node: NodeId, core: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 1000 * node.0 as u16 + core))
}

/// The dial among `fx`.
fn dial_in(fx: &[Effect]) -> Dial {
    let dials: Vec<Dial> = fx
        .iter()
        .filter_map(|e| match e {
            Effect::Dial(d, _) => Some(*d),
            _ => None,
        })
        .collect();
    assert_eq!(dials.len(), 1, "one dial expected in {fx:?}");
    dials[0]
}

/// `fx` without ticks.
fn no_ticks(fx: &[Effect]) -> Vec<Effect> {
    fx.iter().filter(|e| !matches!(e, Effect::Tick(..))).copied().collect()
}

/// Core 0 of `me` with an up link to `peer`, accepted from `peer`'s core 0 at
/// `now`; returns the connection.
fn up(t: &mut Conns, peer: NodeId, now: Instant) -> ConnId {
    let mut fx = Vec::new();
    let (conn, role) = t.on_accepted(now, peer, 0, &mut fx);
    assert_eq!((role, fx), (Role::Writer, vec![Effect::Open(peer)]));
    conn
}

#[test]
fn a_first_send_opens_the_link_and_dials_peer_core_i_mod_n() {
    let clock = Clock::new();
    for (core, peer_cores, want) in [(0u16, 1u16, 0u16), (3, 2, 1), (1, 4, 1), (5, 3, 2), (2, 2, 0)] {
        let mut t = Conns::new(A, core, timing(), clock.at(0));
        let mut fx = Vec::new();
        assert_eq!(t.on_send(clock.at(1), B, Some(&record(B, peer_cores)), &mut fx), Route::Queue);
        let dial = dial_in(&fx);
        assert_eq!((dial.node, dial.peer_core), (Some(B), want), "core {core} of {peer_cores}");
        assert_eq!(
            fx,
            [Effect::Open(B), Effect::Dial(dial, addr(B, want))],
            "the buffer opens before the dial"
        );
        assert_eq!(t.state(B), LinkState::Connecting);
    }
    let mut t = Conns::new(A, 0, timing(), clock.at(0));
    let mut fx = Vec::new();
    assert_eq!(t.on_send(clock.at(1), C, None, &mut fx), Route::Unknown, "no address: nothing to dial");
    let no_cores = PeerRecord { cores: Vec::new() };
    assert_eq!(t.on_send(clock.at(1), C, Some(&no_cores), &mut fx), Route::Unknown);
    assert!(fx.is_empty());
    assert_eq!(t.state(C), LinkState::Down);
}

#[test]
fn a_second_send_while_dialing_does_not_dial_again() {
    let clock = Clock::new();
    let mut t = Conns::new(A, 0, timing(), clock.at(0));
    let mut fx = Vec::new();
    t.on_send(clock.at(1), B, Some(&record(B, 1)), &mut fx);
    fx.clear();
    for ms in 2..10 {
        assert_eq!(t.on_send(clock.at(ms), B, Some(&record(B, 1)), &mut fx), Route::Queue);
    }
    assert!(fx.is_empty(), "frames queue on the connecting link: {fx:?}");
}

/// One side of a simultaneous dial: a node's table, the frames queued on its
/// link to the other node, and the frames it wrote, by TCP connection.
struct Side {
    t: Conns,
    queued: Vec<&'static str>,
    written: Vec<(&'static str, &'static str)>,
    fx: Vec<Effect>,
}

impl Side {
    /// This side's connection `conn` got `role`: a writer drains the link's
    /// queue onto `tcp`.
    fn role(&mut self, role: Role, tcp: &'static str) {
        if role == Role::Writer {
            self.written.extend(self.queued.drain(..).map(|f| (tcp, f)));
        }
    }
}

#[test]
fn when_both_nodes_dial_at_once_the_lower_ids_dial_survives_on_both_sides_in_every_order() {
    // A dial's steps: the server's verdict (V), then in either order the
    // server's accept (S, if accepted) and the client's outcome (C).
    #[derive(Clone, Copy, PartialEq, Debug)]
    enum Step {
        V,
        S,
        C,
    }
    let steps = [(0, Step::V), (0, Step::S), (0, Step::C), (1, Step::V), (1, Step::S), (1, Step::C)];
    let mut orders = Vec::new();
    for perm in 0..720usize {
        // Decode `perm` as a permutation of the six steps (factorial base).
        let (mut rest, mut pool, mut order) = (perm, steps.to_vec(), Vec::new());
        for k in (1..=6).rev() {
            order.push(pool.remove(rest % k));
            rest /= k;
        }
        let pos = |s| order.iter().position(|x| *x == s).unwrap();
        if (0..2).all(|d| pos((d, Step::V)) < pos((d, Step::S)) && pos((d, Step::V)) < pos((d, Step::C))) {
            orders.push(order);
        }
    }
    assert_eq!(orders.len(), 80);
    let clock = Clock::new();
    for order in orders {
        let mut a =
            Side { t: Conns::new(A, 0, timing(), clock.at(0)), queued: vec![], written: vec![], fx: vec![] };
        let mut b =
            Side { t: Conns::new(B, 0, timing(), clock.at(0)), queued: vec![], written: vec![], fx: vec![] };
        // Both send first: both dial.
        a.t.on_send(clock.at(1), B, Some(&record(B, 1)), &mut a.fx);
        a.queued.push("from A");
        b.t.on_send(clock.at(1), A, Some(&record(A, 1)), &mut b.fx);
        b.queued.push("from B");
        let dials = [dial_in(&a.fx), dial_in(&b.fx)];
        let mut verdicts = [None, None];
        let mut server_conn = [None, None];
        for (i, (d, step)) in order.iter().enumerate() {
            let now = clock.at(2 + i as u64);
            // Dial 0 is A's ("AB"), dial 1 is B's ("BA").
            let (tcp, client_id) = if *d == 0 { ("AB", A) } else { ("BA", B) };
            let (client, server) = if *d == 0 { (&mut a, &mut b) } else { (&mut b, &mut a) };
            match step {
                Step::V => verdicts[*d] = Some(server.t.on_inbound(client_id, 0, Some(addr(client_id, 0)))),
                Step::S if verdicts[*d] == Some(Verdict::Accept) => {
                    let (conn, role) = server.t.on_accepted(now, client_id, 0, &mut server.fx);
                    server_conn[*d] = Some(conn);
                    server.role(role, tcp);
                }
                Step::S => {}
                Step::C if verdicts[*d] == Some(Verdict::Accept) => {
                    let answered = if *d == 0 { B } else { A };
                    let role = client.t.on_dial_done(now, dials[*d], answered, &mut client.fx);
                    client.role(role, tcp);
                }
                Step::C => client.t.on_dial_refused(now, dials[*d]),
            }
        }
        let why = format!("order {order:?}");
        assert_eq!(verdicts, [Some(Verdict::Accept), Some(Verdict::RefuseDuplicate)], "{why}");
        assert_eq!(a.t.peers[&B].writer.map(|w| w.id), Some(dials[0].conn), "A writes on its dial: {why}");
        assert_eq!(b.t.peers[&A].writer.map(|w| w.id), server_conn[0], "B writes on A's dial: {why}");
        assert_eq!(a.written, [("AB", "from A")], "{why}");
        assert_eq!(b.written, [("AB", "from B")], "B's queued frame goes out on the survivor: {why}");
        for side in [&a, &b] {
            assert!(
                side.fx.iter().all(|e| matches!(e, Effect::Open(_) | Effect::Dial(..))),
                "no link went down, nothing was reported: {:?} ({why})",
                side.fx
            );
        }
        // Later checks leave both links up (the refused side's wait is over).
        let mut fx = Vec::new();
        b.t.on_heard(clock.at(TIMEOUT_MS), A);
        b.t.on_timer(clock.at(TIMEOUT_MS + 10), &mut fx);
        assert_eq!(no_ticks(&fx), [], "{why}");
    }
}

#[test]
fn a_refused_dialer_waits_for_the_peers_connection_at_most_the_timeout() {
    let clock = Clock::new();
    let mut t = Conns::new(B, 0, timing(), clock.at(0));
    let mut fx = Vec::new();
    t.on_send(clock.at(1), A, Some(&record(A, 1)), &mut fx);
    let dial = dial_in(&fx);
    fx.clear();
    t.on_dial_refused(clock.at(10), dial);
    assert_eq!(t.state(A), LinkState::Connecting, "frames keep queueing for the peer's connection");
    t.on_timer(clock.at(9 + TIMEOUT_MS), &mut fx);
    assert!(fx.is_empty(), "{fx:?}");
    t.on_timer(clock.at(10 + TIMEOUT_MS), &mut fx);
    assert_eq!(fx, [Effect::LinkDown(A)], "down, and not reported: the peer may be fine");
    fx.clear();
    t.on_send(clock.at(11 + TIMEOUT_MS), A, Some(&record(A, 1)), &mut fx);
    assert_ne!(dial_in(&fx).conn, dial.conn, "the next send dials again");
}

#[test]
fn a_second_inbound_connection_from_the_same_peer_core_is_refused_as_duplicate() {
    let clock = Clock::new();
    for (me, peer) in [(B, A), (A, B)] {
        let mut t = Conns::new(me, 0, timing(), clock.at(0));
        let mut fx = Vec::new();
        assert_eq!(t.on_inbound(peer, 1, None), Verdict::Accept);
        let (_, role) = t.on_accepted(clock.at(1), peer, 1, &mut fx);
        assert_eq!((role, &fx[..]), (Role::Writer, &[Effect::Open(peer)][..]));
        assert_eq!(t.on_inbound(peer, 1, None), Verdict::RefuseDuplicate, "whatever the ids ({me:?})");
        assert_eq!(t.on_inbound(peer, 0, None), Verdict::Accept, "another core pair is no duplicate");
        let (_, role) = t.on_accepted(clock.at(2), peer, 0, &mut fx);
        assert_eq!(role, Role::Reader, "a link has one writer");
        assert_eq!(fx.len(), 1, "no second buffer: {fx:?}");
    }
}

#[test]
fn a_dial_by_address_beats_the_peers_dial_only_when_this_id_is_lower() {
    let clock = Clock::new();
    let mut lower = Conns::new(A, 0, timing(), clock.at(0));
    let dial = lower.on_dial_addr(addr(B, 0), 0);
    assert_eq!(dial.node, None);
    assert_eq!(lower.on_inbound(B, 0, Some(addr(B, 0))), Verdict::RefuseDuplicate);
    assert_eq!(lower.on_inbound(B, 1, Some(addr(B, 1))), Verdict::Accept, "another address");
    let mut higher = Conns::new(C, 0, timing(), clock.at(0));
    higher.on_dial_addr(addr(B, 0), 0);
    assert_eq!(higher.on_inbound(B, 0, Some(addr(B, 0))), Verdict::Accept);
    // Its handshake names the node: the link opens then, written by it.
    let mut fx = Vec::new();
    assert_eq!(lower.on_dial_done(clock.at(5), dial, B, &mut fx), Role::Writer);
    assert_eq!(fx, [Effect::Open(B)]);
    assert_eq!(lower.state(B), LinkState::Up);
    assert_eq!(lower.on_inbound(B, 0, Some(addr(B, 0))), Verdict::RefuseDuplicate, "now it writes the link");
}

#[test]
fn a_connection_that_ends_takes_its_link_down_once_and_reports_closed() {
    let clock = Clock::new();
    let mut t = Conns::new(A, 0, timing(), clock.at(0));
    let writer = up(&mut t, B, clock.at(1));
    let mut fx = Vec::new();
    let (reader, role) = t.on_accepted(clock.at(2), B, 1, &mut fx);
    assert_eq!(role, Role::Reader);
    assert!(t.on_connection_ended(B, reader, false, &mut fx), "news");
    assert_eq!(fx, [Effect::Report(PeerReport::Closed(B))], "a read-only end is reported, the link stays");
    assert_eq!(t.state(B), LinkState::Up);
    fx.clear();
    let (reader, _) = t.on_accepted(clock.at(3), B, 1, &mut fx);
    assert!(t.on_connection_ended(B, writer, false, &mut fx));
    assert_eq!(fx, [Effect::Report(PeerReport::Closed(B)), Effect::LinkDown(B)]);
    fx.clear();
    assert!(!t.on_connection_ended(B, reader, false, &mut fx), "its link is gone already");
    assert!(!t.on_connection_ended(B, writer, false, &mut fx));
    assert!(fx.is_empty(), "down once, reported once: {fx:?}");
    assert_eq!(t.state(B), LinkState::Down);
}

#[test]
fn no_closed_report_while_stopping_or_when_this_node_closed_the_link() {
    let clock = Clock::new();
    let mut t = Conns::new(A, 0, timing(), clock.at(0));
    let conn = up(&mut t, B, clock.at(1));
    let mut fx = Vec::new();
    assert!(!t.on_connection_ended(B, conn, true, &mut fx));
    assert_eq!(fx, [Effect::LinkDown(B)], "stopping: down, no news");
    fx.clear();
    let conn = up(&mut t, B, clock.at(2));
    t.on_close(B, &mut fx);
    assert_eq!(fx, [Effect::LinkDown(B)]);
    fx.clear();
    t.on_close(B, &mut fx);
    assert!(!t.on_connection_ended(B, conn, false, &mut fx), "this node closed it");
    assert!(fx.is_empty(), "{fx:?}");
}

#[test]
fn silence_past_the_timeout_is_reported_unresponsive_exactly_once() {
    let clock = Clock::new();
    let mut t = Conns::new(A, 0, timing(), clock.at(0));
    up(&mut t, B, clock.at(0));
    up(&mut t, C, clock.at(0));
    let mut fx = Vec::new();
    t.on_heard(clock.at(900), C);
    t.on_heard(clock.at(500), C);
    t.on_timer(clock.at(TIMEOUT_MS), &mut fx);
    assert_eq!(no_ticks(&fx), [], "at the timeout, not past it");
    fx.clear();
    t.on_timer(clock.at(TIMEOUT_MS + 1), &mut fx);
    assert_eq!(no_ticks(&fx), [Effect::LinkDown(B), Effect::Report(PeerReport::Unresponsive(B))]);
    fx.clear();
    for ms in [TIMEOUT_MS + 2, TIMEOUT_MS + 500] {
        t.on_timer(clock.at(ms), &mut fx);
    }
    assert_eq!(no_ticks(&fx), [], "once; C was heard later (the latest of what was heard counts)");
    t.on_timer(clock.at(900 + TIMEOUT_MS + 1), &mut fx);
    assert_eq!(no_ticks(&fx), [Effect::LinkDown(C), Effect::Report(PeerReport::Unresponsive(C))]);
}

#[test]
fn a_tick_goes_to_each_peer_core_read_from_once_each_every_interval() {
    let clock = Clock::new();
    let mut t = Conns::new(A, 0, timing(), clock.at(0));
    up(&mut t, B, clock.at(0));
    let mut fx = Vec::new();
    for core in [1, 1, 0, 2] {
        t.on_accepted(clock.at(0), B, core, &mut fx);
    }
    t.on_send(clock.at(0), C, Some(&record(C, 1)), &mut fx);
    fx.clear();
    t.on_timer(clock.at(INTERVAL_MS - 1), &mut fx);
    assert!(fx.is_empty(), "not due yet: {fx:?}");
    for ms in [INTERVAL_MS, 2 * INTERVAL_MS] {
        t.on_heard(clock.at(ms), B);
        t.on_timer(clock.at(ms), &mut fx);
        let mut ticks = fx.clone();
        ticks.sort_by_key(|e| match e {
            Effect::Tick(_, core) => *core,
            _ => u16::MAX,
        });
        assert_eq!(
            ticks,
            [Effect::Tick(B, 0), Effect::Tick(B, 1), Effect::Tick(B, 2)],
            "none to C, still dialing"
        );
        fx.clear();
        t.on_timer(clock.at(ms + 10), &mut fx);
        assert!(fx.is_empty(), "once per interval: {fx:?}");
    }
}

#[test]
fn a_lost_node_refuses_sends_until_it_is_heard_alive_or_its_time_runs_out() {
    // Regression (issue 10, finding 7): after a connection closed, a send
    // dialed again at once and queued on the new link; when the node was dead
    // the dial failed and the queued tells vanished after an `Ok`.
    let clock = Clock::new();
    let mut t = Conns::new(A, 0, timing(), clock.at(0));
    let mut fx = Vec::new();
    t.on_send(clock.at(0), B, Some(&record(B, 1)), &mut fx);
    let first = dial_in(&fx);
    fx.clear();
    assert_eq!(t.on_dial_done(clock.at(1), first, B, &mut fx), Role::Writer);
    t.on_connection_ended(B, first.conn, false, &mut fx);
    fx.clear();
    assert_eq!(t.on_send(clock.at(2), B, Some(&record(B, 1)), &mut fx), Route::Lost, "no dial, no queue");
    assert!(fx.is_empty(), "{fx:?}");
    // The cluster heard from it (a probe answered): the next send dials.
    t.on_alive(B);
    assert_eq!(t.on_send(clock.at(3), B, Some(&record(B, 1)), &mut fx), Route::Queue);
    let second = dial_in(&fx);
    fx.clear();
    // Lost again through silence; nobody says anything: refused until a
    // connection timeout after the next check, then the next send dials.
    assert_eq!(t.on_dial_done(clock.at(4), second, B, &mut fx), Role::Writer);
    fx.clear();
    let silent_at = 4 + TIMEOUT_MS + 1;
    t.on_timer(clock.at(silent_at), &mut fx);
    assert!(fx.contains(&Effect::Report(PeerReport::Unresponsive(B))), "{fx:?}");
    fx.clear();
    assert_eq!(t.on_send(clock.at(silent_at + 1), B, Some(&record(B, 1)), &mut fx), Route::Lost);
    t.on_timer(clock.at(silent_at + TIMEOUT_MS), &mut fx);
    assert_eq!(t.on_send(clock.at(silent_at + TIMEOUT_MS), B, Some(&record(B, 1)), &mut fx), Route::Queue);
    // Gone for the cluster: forgotten (the directory answers for it from now on).
    let third = dial_in(&fx);
    t.on_close(B, &mut fx);
    assert_ne!(third.conn, second.conn);
    fx.clear();
    assert_eq!(t.on_send(clock.at(silent_at + TIMEOUT_MS + 1), B, None, &mut fx), Route::Unknown);
}

#[test]
fn after_a_link_goes_down_nothing_redials_until_the_next_send() {
    let clock = Clock::new();
    let mut t = Conns::new(A, 0, timing(), clock.at(0));
    let mut fx = Vec::new();
    t.on_send(clock.at(0), B, Some(&record(B, 1)), &mut fx);
    let first = dial_in(&fx);
    fx.clear();
    assert_eq!(t.on_dial_done(clock.at(1), first, B, &mut fx), Role::Writer);
    t.on_connection_ended(B, first.conn, false, &mut fx);
    assert_eq!(fx, [Effect::Report(PeerReport::Closed(B)), Effect::LinkDown(B)]);
    fx.clear();
    for ms in (0..5).map(|i| 2 + i * INTERVAL_MS) {
        t.on_timer(clock.at(ms), &mut fx);
    }
    assert!(fx.is_empty(), "no dial by itself: {fx:?}");
    // Past the lost window (a connection timeout after the first check).
    let later = 2 + TIMEOUT_MS;
    t.on_timer(clock.at(later), &mut fx);
    assert!(fx.is_empty(), "{fx:?}");
    assert_eq!(t.on_send(clock.at(later), B, Some(&record(B, 1)), &mut fx), Route::Queue);
    let second = dial_in(&fx);
    assert_ne!(second.conn, first.conn);
    assert_eq!(fx, [Effect::Open(B), Effect::Dial(second, addr(B, 0))]);
}

#[test]
fn a_failed_dial_takes_the_link_down_unless_a_connection_writes_it() {
    let clock = Clock::new();
    let mut t = Conns::new(A, 0, timing(), clock.at(0));
    let mut fx = Vec::new();
    t.on_send(clock.at(0), B, Some(&record(B, 1)), &mut fx);
    let dial = dial_in(&fx);
    fx.clear();
    t.on_dial_failed(dial, &mut fx);
    assert_eq!(fx, [Effect::LinkDown(B)], "no report: a dial that fails says little about the peer");
    fx.clear();
    t.on_send(clock.at(1), B, Some(&record(B, 1)), &mut fx);
    let dial = dial_in(&fx);
    fx.clear();
    assert_eq!(t.on_accepted(clock.at(2), B, 0, &mut fx).1, Role::Writer, "the peer's connection came first");
    t.on_dial_failed(dial, &mut fx);
    assert!(fx.is_empty(), "{fx:?}");
    assert_eq!(t.state(B), LinkState::Up);
}

#[test]
fn a_dial_is_closed_unused_when_its_link_went_down_or_another_node_answers() {
    let clock = Clock::new();
    let mut t = Conns::new(A, 0, timing(), clock.at(0));
    let mut fx = Vec::new();
    t.on_send(clock.at(0), B, Some(&record(B, 1)), &mut fx);
    let stale = dial_in(&fx);
    t.on_close(B, &mut fx);
    t.on_send(clock.at(1), B, Some(&record(B, 1)), &mut fx);
    let fresh = dial_in(&fx[3..]);
    fx.clear();
    assert_eq!(t.on_dial_done(clock.at(2), stale, B, &mut fx), Role::Close);
    assert!(fx.is_empty(), "the new link is left alone: {fx:?}");
    assert_eq!(t.peers[&B].dialing.map(|d| d.id), Some(fresh.conn));
    assert_eq!(t.on_dial_done(clock.at(3), fresh, C, &mut fx), Role::Close, "a restarted process answers");
    assert_eq!(fx, [Effect::LinkDown(B)]);
}

/// A tiny seeded generator (xorshift64*), so a failing seed replays.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 33) as usize % n
    }
}

#[test]
fn effects_keep_the_drivers_buffers_in_step_with_the_rules_under_random_events() {
    let clock = Clock::new();
    let nodes = [B, C, NodeId(4)];
    // How often each kind of effect came: the walk must reach them all.
    let mut seen = [0usize; 6];
    for seed in 1..=40u64 {
        let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15));
        let mut t = Conns::new(NodeId(3), 1, timing(), clock.at(0));
        let mut open: HashSet<NodeId> = HashSet::new();
        let mut dials: Vec<Dial> = Vec::new();
        let mut conns: Vec<(NodeId, ConnId)> = Vec::new();
        let mut ms = 0;
        for step in 0..300 {
            ms += rng.below(60) as u64;
            let now = clock.at(ms);
            let node = nodes[rng.below(nodes.len())];
            let mut fx = Vec::new();
            match rng.below(9) {
                0 | 1 => drop(t.on_send(now, node, Some(&record(node, 2)), &mut fx)),
                2 if !dials.is_empty() => {
                    let d = dials.swap_remove(rng.below(dials.len()));
                    match rng.below(3) {
                        0 => t.on_dial_failed(d, &mut fx),
                        1 => t.on_dial_refused(now, d),
                        _ => {
                            let answered = d.node.unwrap_or(node);
                            if t.on_dial_done(now, d, answered, &mut fx) != Role::Close {
                                conns.push((answered, d.conn));
                            }
                        }
                    }
                }
                3 => {
                    let core = rng.below(2) as u16;
                    if t.on_inbound(node, core, None) == Verdict::Accept {
                        conns.push((node, t.on_accepted(now, node, core, &mut fx).0));
                    }
                }
                4 if !conns.is_empty() => {
                    let (n, c) = conns.swap_remove(rng.below(conns.len()));
                    t.on_connection_ended(n, c, rng.below(4) == 0, &mut fx);
                }
                5 => t.on_close(node, &mut fx),
                6 => t.on_heard(now, node),
                7 => dials.push(t.on_dial_addr(addr(node, 0), 0)),
                _ => t.on_timer(now, &mut fx),
            }
            let why = format!("seed {seed}, step {step}: {fx:?}");
            for e in &fx {
                let kind = match e {
                    Effect::Open(_) => 0,
                    Effect::Dial(..) => 1,
                    Effect::LinkDown(_) => 2,
                    Effect::Report(PeerReport::Closed(_)) => 3,
                    Effect::Report(PeerReport::Unresponsive(_)) => 4,
                    Effect::Tick(..) => 5,
                };
                seen[kind] += 1;
                match *e {
                    Effect::Open(n) => assert!(open.insert(n), "opened twice: {why}"),
                    Effect::LinkDown(n) => assert!(open.remove(&n), "down while not open: {why}"),
                    Effect::Dial(d, _) => {
                        assert!(open.contains(&d.node.unwrap()), "a dial by node has its link: {why}");
                        dials.push(d);
                    }
                    Effect::Tick(n, _) => assert_eq!(t.state(n), LinkState::Up, "{why}"),
                    Effect::Report(_) => {}
                }
            }
            for n in nodes {
                assert_eq!(open.contains(&n), t.state(n) != LinkState::Down, "{n:?}: {why}");
            }
        }
    }
    assert!(seen.iter().all(|&n| n > 0), "open, dial, down, closed, unresponsive, tick: {seen:?}");
}
