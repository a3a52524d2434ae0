//! # coremesh
//!
//! A thread-per-core, shared-nothing distributed actor runtime for Linux.
//!
//! ```text
//!  node A (one OS process)                                 node B
//!  ┌────────────────────────────────────────────────┐     ┌──────────────┐
//!  │ core 0: glommio executor pinned to a CPU       │ TCP │ core 0       │
//!  │   actors · mailboxes · pending asks · timers   │◄═══►│   …          │
//!  │   links to B, C (io_uring sockets, Tick frames)│     │              │
//!  │        ▲  SPSC byte rings [target][source]     │     │              │
//!  │        ▼                                       │     │              │
//!  │ core 1 …   links to B, C                       │◄═══►│ core 1 …     │
//!  │ control thread (pinned): SWIM membership (UDP) │◄───►│ control      │
//!  └────────────────────────────────────────────────┘     └──────────────┘
//! ```
//!
//! ## Layout: one folder per part
//!
//! | part | owns | must never |
//! | --- | --- | --- |
//! | `actor/` | [`Actor`], [`Handler`], [`Ctx`], tell/ask on [`ActorRef`], the handler glue (`glue.rs`: checked frame → `&Archived<M>`), messages and their schema, the down messages | decode on the sync path, or run two messages of one actor at once |
//! | `core/` | one worker core: actor table, mailboxes, the pending-reply table (sans-IO), **the one routing function** (`route.rs`), the service task, the state a node's threads share (`shared.rs`) | share anything with another core except through `sync/` |
//! | `transport/` | links to peers: dial/accept, handshake driver (one deadline per handshake), reader/writer, heartbeats (Tick frames), the connection rules (`rules.rs`, sans-IO), the summary log of connections turned away (`summary.rs`, sans-IO); sees its core only through the `Host` trait | name actors, the handler glue, the system actor or membership |
//! | `cluster/` | membership (`membership/machine.rs`, sans-IO, driven by the control thread), monitors and links (the per-core watch table, sans-IO), the system actor (remote spawn, lookup, watch requests); later supervision, registry, groups, virtual actors | be on the path of an ordinary message |
//! | `supervision/` | [`Supervisor`]: child specs, strategies, restart types, intensity, backoff, ordered stop (`policy.rs` sans-IO) | detect failures other than through monitors, or block its core waiting for a child |
//! | `node/` | [`Node`] start and shutdown, [`NodeHandle`] (the node from any thread), the answers of cross-thread requests | touch a core's actors except through its inbox |
//! | `config/` | [`Config`], the builder and the `COREMESH_*` environment | fall back silently on a bad value |
//! | `metrics/` | the Prometheus endpoint (`COREMESH_METRICS`, off by default): per-core histograms and per-peer counters written only by their core, the text format, the HTTP thread; metric names in README's "Metrics" | cost more than a branch per message when off, or allocate or lock per message when on |
//! | `sync/` | the primitives threads share (rings, signal, inbox, one-shot, counters, bounded gauges) and the one-core waiter list | be bypassed: atomics live only here |
//! | leaves | `clock.rs` (the only clock reads), `ids.rs` (names of nodes, cores, actors, message types), `error.rs`, `stats.rs`, `time.rs` (`sleep` on a worker core), `logs.rs` (`COREMESH_LOG` for programs) | depend on any part |
//!
//! The parts depend on each other in this order, lower on higher never:
//! leaves → `sync/`, `config/` → `transport/` → `core/` and `actor/` →
//! `cluster/` → `node/` → `supervision/`. Three cycles remain, named here because each is the
//! shape of the thing and not an accident:
//! - **`actor/` ⇄ `core/`**: the actor API is the front of the per-core
//!   runtime ([`Ctx`] and `ActorRef::tell` call the core; the core runs
//!   handlers through `actor/glue.rs`), as glommio's task API is its executor's.
//! - **`actor/` ⇄ `node/`**: [`Ctx::node`] hands out the node's handle, and an
//!   [`ActorRef`] used off-core goes through the inbox of the node of this
//!   process that reaches its target; the node spawns actors.
//! - **`core/` ⇄ `cluster/`**: the per-core parts of the cluster live on the
//!   core (the watch table, the retry queue of watch messages, the system
//!   actor), and the core calls them at three points: an actor stops, a node is
//!   gone, a connection is made (the control thread hears of it); the state the
//!   node's threads share carries the membership view and the name registry.
//!
//! ## The life of one remote ask
//!
//! 1. `r.ask(Ping { n })` on core i of node A registers a correlation id and
//!    its deadline in core i's pending table (`core/pending.rs`; at most
//!    `COREMESH_INFLIGHT_ASKS_MAX`), then `CoreRt::send` asks the routing
//!    decision `CoreRt::hop` (`core/route.rs`) where the target lives: another
//!    node, so `Ping` is archived with rkyv straight into core i's link to B,
//!    behind a 32-byte header and the ask extension (deadline, way back; see
//!    `wire/FORMAT.md`). Same core: into the target's mailbox; another core:
//!    into scratch, then copied once into the SPSC ring `[target][i]`.
//! 2. The link's writer (`transport/conn.rs`) sends everything queued in one
//!    `write` once the core has run its ready tasks.
//! 3. On B, the reader of that connection checks each frame with the network
//!    decoder, takes Tick frames itself, and hands every other frame to its
//!    core through the `Host` frame sink: `CoreRt::route_frame` routes it
//!    with the same `hop` — onward to another core's ring (still marked
//!    untrusted), or here: an idle actor's sync handler reads `&Archived<Ping>`
//!    where the frame lies in the receive buffer, after rkyv validated it for
//!    that type (`actor/glue.rs`); a busy actor's frames are copied once into
//!    its mailbox.
//! 4. The handler's return value is the reply: `CoreRt::send_reply` archives
//!    it into B's link to A as a Reply frame with the same correlation id
//!    (same core: straight into the pending entry). A's reader routes it the
//!    same way to core i's pending table, which completes the ask's future.
//!    One timer task per core ends the asks whose deadline passes first.
//!
//! Every frame, whatever made it (a send, a reply, an error reply built by
//! coremesh-wire's `reply_error_frame`, an outside thread, a socket, a ring),
//! passes `CoreRt::hop`; no code writes a frame's byte offsets by hand.
//!
//! ## Why
//! - **Mailboxes hold archived bytes**: the bytes a handler reads are the bytes
//!   that were sent, locally and from the network: one path to make fast.
//! - **SPSC, not MPSC, between cores**: each ring has one writer and one reader,
//!   so it needs no atomic read-modify-write, only two cache-padded indices.
//!   Nested cross-core asks must not form a cycle of cores all waiting on each
//!   other's full rings (the awaiting `send` yields, so it does not deadlock a
//!   core, but a cycle of full rings makes no progress).
//! - **A core polls before it parks** (`COREMESH_IDLE_SPIN_US`): waking a parked
//!   CPU costs tens of microseconds on a VM; a busy core never pays it.
//! - **Control on its own thread**: membership timers must not queue behind
//!   actor work.
//!
//! ## Guarantees
//! - FIFO per (sender, receiver) pair: a pair always takes the same mailbox, or
//!   the same ring then the same mailbox; a ring whose next frame is for a full
//!   mailbox waits rather than skipping it
//!   (`tests/local_actors.rs::fifo_holds_per_sender_receiver_pair`).
//! - Every ask ends: with the reply, or a typed [`AskError`] (timeout by default
//!   after `COREMESH_ASK_TIMEOUT_MS`); asks queued to an actor that stops get
//!   `ActorStopped`; a request that reaches its actor after its deadline is
//!   dropped unrun and counted (`tests/failures.rs::asks_*`,
//!   `tests/local_actors.rs::an_ask_arriving_after_its_deadline_is_dropped_unrun`).
//!   The timeout is kept by the asking core's pending table, also for an ask
//!   from an outside thread: its entry is failed and freed at its deadline
//!   even if no reply ever comes
//!   (`tests/pending_asks.rs::a_foreign_ask_that_never_gets_a_reply_frees_its_entry`).
//! - Bounded memory: mailboxes (`COREMESH_MAILBOX_BYTES`), rings
//!   (`COREMESH_RING_BYTES`) and the inbox of outside threads (65,536 commands)
//!   are bounded; a full path is an error or a wait, never growth
//!   (`tests/failures.rs::slow_receiver_*`, `outside_tells_to_a_full_mailbox_*`).
//!   A frame an outside thread handed over (`Ok`) whose mailbox or connection
//!   is full waits in its core, in order, and the inbox fills behind it
//!   ([`TellError::InboxFull`]); it is dropped (a dead letter) only when its
//!   node is declared gone or its connection is lost
//!   (`tests/outside_thread.rs`).
//! - Bounded asks in flight: each core holds at most `COREMESH_INFLIGHT_ASKS_MAX`
//!   (default 65,536) asks waiting for replies, counting those from outside
//!   threads handed to it; one more fails at once with
//!   [`AskError::TooManyInFlight`] and nothing is sent
//!   (`tests/pending_asks.rs::a_core_with_its_bound_of_asks_in_flight_refuses_the_next_at_once`).
//! - Membership's queues are bounded and never make a worker core or the
//!   control thread wait:
//!   - reports from worker cores to the control thread (a peer unresponsive or
//!     closed, a `connect` done): at most `CONTROL_REPORTS_MAX` = 1,024 wait; a
//!     core never waits for room: a report that finds the queue full is
//!     dropped, counted in the core's `control_reports_dropped` stat and logged
//!     (the 1st, 2nd, 4th, 8th… drop); SWIM's own suspicion still declares a
//!     silent node down (`runtime/cluster/membership/shared_tests.rs::a_full_report_queue_*`);
//!   - events to a subscriber: at most [`membership::SUBSCRIBER_EVENTS_MAX`] =
//!     1,024 wait; a subscriber that does not read loses the events past the
//!     bound and then reads one [`MemberEvent::Lagged`]` { missed }` where they
//!     would have been (`shared_tests.rs::a_subscriber_that_does_not_read_*`,
//!     `the_lagged_marker_sits_where_the_events_were_lost`);
//!   - commands from the membership to worker cores (dial a member, drop a gone
//!     node) are never lost to a full core inbox: they are queued past its bound
//!     (at most one per membership change and core) and logged with a count
//!     (`shared_tests.rs::a_membership_command_meeting_a_full_inbox_*`).
//! - Replies are bounded too: a reply or error reply to a peer may overrun its
//!   link's bound (4 MiB) by one bound again, since the ask was accepted
//!   already; past that the peer reads nothing back, and its connection is
//!   closed as too slow (`slow_links_closed`;
//!   `tests/remote_bad_input.rs::a_peer_that_never_reads_its_replies_*`). A
//!   reply with no way back (a core or node the ask named that does not
//!   exist) is dropped and counted (`replies_dropped`;
//!   `an_ask_whose_way_back_names_a_core_this_node_lacks_kills_nothing`).
//! - One handshake deadline: every handshake ends within
//!   `COREMESH_HANDSHAKE_TIMEOUT_MS` (default 3 s) of the accept, or of the
//!   start of a dial, however the peer spaces its bytes; an inbound connection
//!   that misses it is closed and counted (`handshake_timeouts`), a dial fails
//!   with [`ConnectError::HandshakeTimeout`] naming the deadline
//!   (`tests/handshake_limits.rs::a_hello_trickled_one_byte_at_a_time_*`,
//!   `a_proof_trickled_*`, `a_dialer_whose_server_trickles_its_hello_*`).
//! - Bounded unauthenticated connections: at most `COREMESH_HANDSHAKES_MAX`
//!   (default 256) inbound connections of a node are in the handshake at once,
//!   at most `COREMESH_HANDSHAKES_PER_SOURCE_MAX` (default 32) from one source
//!   (an IPv4 address, an IPv6 /64); one more is closed right after accept,
//!   before a byte is read, and counted (`handshakes_shed`,
//!   `handshakes_shed_per_source`)
//!   (`tests/handshake_limits.rs::connections_over_the_node_or_source_bound_*`);
//!   under `ulimit -n 1024`, 2,000 trickling connections from one source leave
//!   room for a peer to connect (`tests/handshake_flood.rs`). Failed accepts
//!   (out of descriptors) are counted (`accept_errors`) and retried after 10 ms.
//! - Connections turned away (shed, timed out, refused) and failed accepts are
//!   logged as at most one summary line per core per second, each refusal
//!   reason with its first full text (`transport/summary.rs` tests;
//!   `tests/handshake_flood.rs` counts the child's lines).
//! - No allocation per message on the same-core and cross-core tell paths once
//!   warm, nor on a remote tell (`tests/alloc_free.rs`).
//! - A deferred reply ([`Ctx::reply_later`] → [`ReplyTo`]) ends its ask like
//!   a handler's reply: answered, or failed at once with
//!   [`AskError::ReplyDropped`] (wire code 7) when the handle is dropped
//!   before the deadline (also with the actor that holds it), or at the
//!   deadline with `Timeout` (a later `reply` sends nothing and returns
//!   [`ReplyError::Expired`]) (`tests/deferred.rs`). A [`ReplyPort`] inside
//!   a message that is lost leaves its asker to the deadline.
//! - An actor's timers ([`Ctx::send_after`], [`Ctx::interval`]) deliver
//!   through its mailbox, one glommio task per timer, and end with the
//!   actor (`tests/timers.rs`).
//! - Every blocking `wait()` of the API ends: [`Waiting::wait`] (`run_on`,
//!   `spawn_on`, `connect`) gives up at its [`Waiting::timeout`] (by default
//!   `COREMESH_ASK_TIMEOUT_MS`; for `connect`, plus the connection timeout)
//!   with `SpawnError::Timeout` / `ConnectError::Timeout`, and an ask's wait at
//!   the ask's timeout (`tests/failures.rs::a_blocking_wait_gives_up_at_its_timeout`).
//! - A panic in an actor's code (a sync or async handler, `started`,
//!   `stopping`, `stopped`) stops that actor only, with
//!   [`StopReason::Panicked`]; its watchers hear `Panicked`, which names the
//!   message type by its stable name (a hook's panic names the hook, type id 0,
//!   no message type) and its core runs on
//!   (`tests/failures.rs::a_panic_in_started_or_stopping_*`,
//!   `tests/typed_errors.rs::a_panicking_handler_*`). So does a panic
//!   in a task the actor spawned (`Ctx::spawn_task`); a panicking `run_on`
//!   closure or `spawn_task_on` task fails its caller with
//!   `SpawnError::TaskPanicked` (`tests/fatal.rs`).
//! - A panic in the runtime's own code on a worker core never leaves a
//!   half-alive node: the node records it ([`NodeHandle::fatal`]), logs it,
//!   leaves the cluster, fails every pending ask (`NodeStopped` here,
//!   `ConnectionLost` or `NodeGone` at peers) and stops; `run_until_signal`
//!   and `shutdown` return `NodeError::WorkerPanicked`, and the embedding
//!   service decides whether to exit (`coremesh-node` exits 1)
//!   (`tests/fatal.rs::a_runtime_panic_*`).
//! - Not promised: order across different senders; delivery of a tell to an
//!   actor on another core that stopped meanwhile (it is counted as a dead
//!   letter there); a free place in the handshake for a legitimate peer while
//!   a flood from more than `COREMESH_HANDSHAKES_MAX` ÷ per-source-bound
//!   sources fills the node's bound (it is shed too, until places free up, each
//!   within a deadline). A full mailbox holds back the ring it is fed from (head of
//!   line): later frames from that source core to *other* actors of the core
//!   wait too, and so do outside-thread frames to the core.
//!
//! ## Nodes, connections, incarnations
//! - `NodeHandle::connect(addr)` runs the handshake (magic, version, frame
//!   format fingerprint, node id, cluster name, message type table, HMAC-SHA256
//!   challenge on the cookie, which never crosses the wire; inside TLS 1.3 with
//!   certificates on both sides when `COREMESH_TLS_*` are set: `transport/tls.rs`)
//!   from core 0; every other core then dials the peer's core
//!   (i mod n), whose port the handshake advertised. A core that must reply or
//!   send to a node it has no connection to dials one.
//! - A closed connection fails every ask this core has in flight to that node
//!   with `ConnectionLost` at once (`tests/remote.rs::a_killed_peer_*`).
//! - After a connection to a node closed or went silent, sends to it fail
//!   at once with [`TellError::ConnectionLost`] (nothing is queued) until
//!   the cluster hears from it (it answers the probe the close set off, and
//!   every core dials it again) or declares it gone (then `NodeGone`); with
//!   no word either way, the next send after a connection timeout dials
//!   again. Tells accepted before the core saw the close are dropped with
//!   the link and counted (`bytes_dropped_link_down`)
//!   (`tests/remote.rs::tells_to_a_killed_peer_fail_typed_*`).
//!   A caller handles the whole sequence (in flight: `ConnectionLost`; then
//!   `NotSent(ConnectionLost)`; then `NotSent(NodeGone)`) with one branch:
//!   [`AskError::is_node_lost`] / [`TellError::is_node_lost`].
//! - A node id is random per process start: a restarted process is a new node.
//! - When two nodes dial each other at once, one connection per core pair
//!   survives (the lower node id's dial). Connection heartbeats detect a peer
//!   that stopped answering; see "Membership" below.
//!
//! ## Membership
//! - The control thread runs SWIM (foca) over UDP on core 0's address and
//!   port: a node joins with `COREMESH_SEEDS` naming any member (or
//!   `NodeHandle::connect`), every member's id, address and core ports travel
//!   with the gossip, and worker cores dial new members and drop gone ones by
//!   themselves. Gossip packets carry an HMAC tag keyed with the cookie over
//!   the sender's id and the packet's number, so a replayed packet is dropped,
//!   and an old ProbeAck cannot answer a new probe
//!   (`cluster/membership/machine_tests.rs::a_replayed_*`).
//! - [`NodeHandle::cluster_state`], [`NodeHandle::wait_for`] and
//!   [`NodeHandle::subscribe`] ([`MemberEvent`]: up, left, down; lagged for
//!   a subscriber that fell behind).
//! - The membership glue is a sans-IO state machine (`cluster/membership/
//!   machine.rs`: takes `now`, packets, timers and reports, and answers with
//!   effects), tested with machines wired together in memory, a fake clock and
//!   seeded RNGs; the control thread only drives it, and tells worker cores
//!   what to do with typed commands (dial, node gone), never code.
//! - A peer that sends nothing for `COREMESH_CONNECTION_TIMEOUT_MS` is declared
//!   down. Every `COREMESH_HEARTBEAT_MS` each core sends a one-way tick to the
//!   peer core at the other end of each connection it reads, so a tick never
//!   waits behind a backlog flowing the other way; a core still working through
//!   frames it has read does not count that time as the peer's silence
//!   (`tests/cluster.rs::a_peer_working_through_a_backlog_*`). A closed
//!   connection whose node does not answer a probe is declared down at once;
//!   `shutdown` announces a leave. Every ask in flight to a node that is lost
//!   ends with `ConnectionLost`. The incarnation rule is in [`membership`].
//!
//! ## Monitors and links
//! - [`Ctx::monitor`] watches an actor on any core of any node: when it stops,
//!   or its node is declared down or leaves, the watcher gets one
//!   [`ActorDown`] `{ actor, reason }` ([`DownReason`]: `Normal`, `Panicked`,
//!   `InitFailed`, `LinkedFailure`, `NodeShutdown`, `NodeDown`, …). A target
//!   already gone when the request reaches its core is reported at once
//!   (`NoActor`). [`Ctx::monitor_node`] delivers [`NodeDown`]. Both are
//!   ordinary messages, listed in [`handlers!`]; `monitor` only compiles for an
//!   actor that handles `ActorDown` (`monitor_node`: `NodeDown`).
//! - [`Ctx::link`] ties two actors both ways, as Erlang's links do: when one
//!   *fails* (stops for any reason but `Normal`: a panic, a failed or timed-out
//!   init, a linked failure, its node going down or shutting down), the other
//!   is stopped with [`StopReason::LinkedFailure`], so a failure travels along
//!   a chain of links. A `Normal` stop ends the link and stops nobody. An actor
//!   that calls [`Ctx::trap_links`]`(true)` gets an `ActorDown` for every
//!   linked stop instead (Erlang's `trap_exit`).
//! - How: a request travels as a message to the system actor of the target's
//!   core, whose table keeps, per actor, who watches it; when the actor stops,
//!   its core reports to each watcher through the system actor of the
//!   watcher's core, which applies the link rule there. Each core also keeps
//!   what its actors watch on other nodes, so a node that goes down is reported
//!   from that table, without a word from the dead node. None of this is on the
//!   path of an ordinary message: the table is read when an actor stops.
//! - Tested in `tests/monitors.rs`: same core, other core and other node;
//!   already-dead targets; node down (`node_down_reaches_*`); links both ways,
//!   along a chain, remote, trapped, and not on a Normal stop.
//! - A watch message (request or report) whose path (mailbox, ring, link) is
//!   full waits in its core's retry queue, at most 4,096 messages, retried
//!   every millisecond by one task per core, in order per destination.
//! - Not promised: a report whose path stays full for 10 s, or that finds the
//!   retry queue full, is dropped, counted (`watch_messages_dropped`) and
//!   logged (`tests/watch_retry.rs`); a watch request that cannot reach its
//!   node is reported as a down (`NoConnection`, or `NodeDown` for a node gone).
//! - Supervision ([`Supervisor`], `supervision/`) is built on these monitors:
//!   strategies, restart types, intensity (giving up stops the supervisor with
//!   [`StopReason::RestartIntensity`]), backoff, and a stop in reverse start
//!   order bounded per child (`tests/supervision.rs`). A child on another core
//!   that stops before its supervisor's monitor reaches it is reported
//!   `NoActor` and counted as a failure (also for a transient child). The
//!   hand-written form, one restart rule and nothing else:
//!
//! ```
//! use coremesh::{Actor, ActorDown, ActorRef, ArchivedActorDown, Ctx, Handler};
//!
//! struct Worker;
//! impl Actor for Worker {}
//! coremesh::handlers!(Worker:);
//!
//! /// Restarts its worker whenever it fails.
//! struct Supervisor { worker: Option<ActorRef<Worker>> }
//! impl Actor for Supervisor {
//!     async fn started(&mut self, ctx: &mut Ctx<Self>) -> Result<(), coremesh::InitError> {
//!         let w = ctx.spawn(Worker);
//!         ctx.monitor(&w);
//!         self.worker = Some(w);
//!         Ok(())
//!     }
//! }
//! impl Handler<ActorDown> for Supervisor {
//!     type Reply = ();
//!     fn handle(&mut self, msg: &ArchivedActorDown, ctx: &mut Ctx<Self>) {
//!         if msg.reason.to_native().is_failure() {
//!             let w = ctx.spawn(Worker);
//!             ctx.monitor(&w);
//!             self.worker = Some(w);
//!         }
//!     }
//! }
//! coremesh::handlers!(Supervisor: ActorDown);
//! ```
//!
//! ## Declaring a message
//! A message type has a stable name (its type id is FNV-1a 64 of the name) and a
//! schema fingerprint, a `const` computed at compile time
//! ([`Message::FINGERPRINT`]). Declare it one of two ways:
//! - `#[coremesh::message_type("counter.Add")]` on a struct or enum (the
//!   attribute derives rkyv's `Archive`, `Serialize`, `Deserialize` through
//!   `coremesh::rkyv`, so a `Cargo.toml` needs only coremesh). Its fingerprint
//!   covers the name, the archived type's size and alignment, and the
//!   declaration's shape: field names, field types as written, their order,
//!   enum variants and discriminants, `#[rkyv]`/`#[repr]` attributes.
//! - `coremesh::message!(Add = "counter.Add")` on a type that derives the rkyv
//!   traits itself: the weaker form, whose fingerprint covers the name and the
//!   archived size and alignment only (`u32` → `i32`, or a renamed field, passes).
//!
//! Either way the type is registered at link time in this build's type table
//! ([`type_table`]); [`Node::start`] fails ([`NodeError::Schema`]) if two
//! declarations give one type id different fingerprints. Every Hello carries the
//! table, and a peer that declares a type this node also declares with another
//! fingerprint is refused (`RefuseReason::TypeTable`; the refusing side's log and
//! `ConnectError::Refused` with `HandshakeRefusal::SchemaMismatch` name the type
//! by its stable name). Types only one side declares
//! are fine. **Not guaranteed**: a named type inside a field is covered by its
//! name token and the outer archive's size and alignment only, not by its own
//! fields (give the outer message a new stable name when a nested type changes); the two
//! declaration forms of one type never agree; and spelling a type differently
//! (`u32` vs `core::primitive::u32`, an alias) refuses a compatible peer. The
//! byte formulas are in `wire/FORMAT.md`, "Message schema fingerprint".
//!
//! ```
//! #[coremesh::message_type("counter.Add")]
//! struct Add { n: u64 }
//!
//! use coremesh::Message;
//! assert_eq!(Add::TYPE_ID, coremesh::wire::type_id_of("counter.Add"));
//! let shape = "struct{n:u64,}";
//! assert_eq!(Add::FINGERPRINT, coremesh::wire::shape_fingerprint("counter.Add", 8, 8, shape));
//! assert!(coremesh::type_table().unwrap().get(Add::TYPE_ID).is_some());
//! ```
//!
//! ## Where the code differs from `DESIGN.md`
//! - Ask frames carry a 32-byte extension (deadline, asking node, asking core)
//!   after the 32-byte header, so the deadline and the way back travel with the
//!   request, also when it is forwarded between cores.
//! - Actors declare their handlers as `#[handle]` methods of one
//!   [`#[coremesh::actor]`](macro@actor) impl block, which writes the handler
//!   impls and the [`handlers!`] list (the manual form); the dispatch table is
//!   a static chain of type-id comparisons, not a registry lookup.
//! - The handshake carries the type table itself, not a hash of it: nodes of
//!   one cluster legitimately declare different message sets, so only a type
//!   both declare with different fingerprints refuses a peer; the frame format
//!   is one fingerprint of its own ([`FORMAT_HASH`]).
//! - Connection heartbeats run on the worker cores, not the control core:
//!   each core ticks its peers over its own connections (a Tick frame kind,
//!   taken by transport) and judges their silence, since only the core that
//!   owns a connection sees what arrives on it; the control thread runs SWIM
//!   and turns a core's verdict into the node's declaration of down.
//! - The state a node's threads share (`NodeShared`) and the commands a core
//!   takes live in `core/shared.rs`, not `node/`: the cores read them, and
//!   the node only builds them; so `core/` does not depend on `node/`.
//! - `sync/` also holds one single-thread primitive (`waiters.rs`), shared by
//!   transport and the core; `stats.rs` is a leaf, since every part counts.
//! - The fixture process `coremesh-node` lives in `tests/fixture/`, its
//!   protocol declared once (`tests/fixture/echoer.rs`) for the binary and the
//!   tests that talk to it.
//!
//! ## Example
//! ```no_run
//! use coremesh::{Actor, Config, CoreId, Ctx, Handler, Node};
//! use rkyv::{Archive, Deserialize, Serialize};
//! use std::time::Duration;
//!
//! #[derive(Archive, Serialize, Deserialize)]
//! struct Add { n: u64 }
//! coremesh::message!(Add = "counter.Add");
//!
//! struct Counter { total: u64 }
//! impl Actor for Counter {}
//! impl Handler<Add> for Counter {
//!     type Reply = u64;
//!     fn handle(&mut self, msg: &ArchivedAdd, _ctx: &mut Ctx<Self>) -> u64 {
//!         self.total += msg.n.to_native();
//!         self.total
//!     }
//! }
//! coremesh::handlers!(Counter: Add);
//!
//! let node = Node::start(Config::from_env()?)?;
//! let r = node.spawn_on(CoreId(0), || Counter { total: 0 }).wait()?;
//! r.tell(Add { n: 1 })?;
//! let total = node.ask(&r, Add { n: 2 }).timeout(Duration::from_millis(100)).wait()?;
//! assert_eq!(total, 3);
//! node.shutdown()?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![warn(missing_docs)]

pub mod actor;
mod clock;
mod cluster;
pub mod config;
mod core;
pub mod error;
mod ids;
pub mod logs;
mod metrics;
mod node;
pub mod stats;
pub mod supervision;
mod sync;
pub mod time;
mod transport;

pub use cluster::membership;
pub use node::local;

pub use actor::ctx::Ctx;
pub use actor::down::{
    ActorDown, ArchivedActorDown, ArchivedDownReason, ArchivedNodeDown, DownReason, NodeDown,
};
pub use actor::glue::Owned;
pub use actor::message::{type_table, Message, MessageType, Reply, SchemaError, Wire};
pub use actor::reply_to::{ArchivedReplyPort, ReplyError, ReplyPort, ReplyTo};
pub use actor::send::{Ask, Handles};
pub use actor::timers::TimerHandle;
pub use actor::{Actor, AsyncHandler, Dispatch, Handler, InitError, StopReason};
pub use cluster::system::{Placement, RemoteSpawn, LOOKUP_WAITS_MAX};
pub use config::{Config, ConfigBuilder, ConfigError};
pub use coremesh_macros::{actor, message_type};
pub use coremesh_wire as wire;
pub use coremesh_wire::rkyv;
pub use error::{
    AskError, ConnectError, HandshakeRefusal, NodeError, RemoteSpawnError, SpawnError, TellError,
};
pub use ids::{ActorId, ActorRef, ArchivedActorRef, CoreId, NodeId};
pub use membership::{ClusterState, Member, MemberEvent, MemberStatus, Subscription, WaitTimeout};
pub use node::answers::{ForeignAsk, Lookup, LookupWaiting, RemoteSpawning, TimedOut, Waiting};
pub use node::handle::NodeHandle;
pub use node::Node;
pub use stats::NodeStats;
pub use supervision::Supervisor;

/// The fingerprint of the frame format and handshake layout this build speaks
/// (`wire::FORMAT_HASH`), sent in every Hello; a peer with another value is refused
/// before its type table is read. It says nothing about message types: those are
/// compared one by one, see [`type_table`].
pub const FORMAT_HASH: u64 = coremesh_wire::FORMAT_HASH;

#[doc(hidden)]
pub mod __private {
    pub use crate::actor::glue::{run_async, run_sync, Delivery};
    pub use crate::actor::message::MESSAGE_TYPES;
    pub use crate::actor::send::NoMessage;
    pub use crate::actor::SyncDispatch;
    pub use crate::node::hooks::{
        lookups_waiting, panic_in_runtime, pending_asks, simulate_node_down, watchers_of,
    };
    pub use crate::transport::conn::in_receive_buffer;
    /// How many watch messages one core keeps for a retry.
    pub const WATCH_RETRY_MAX: usize = crate::cluster::monitor::WATCH_RETRY_MAX;
    pub use linkme;
}
