//! ractor's figures, the same workloads as coremesh's: sequential calls
//! (`ractor/ask_rtt`), casts of one u64 (`ractor/tell_u64`) and of 1 KiB
//! (`ractor/tell_1k`) to a sink in a `coremesh-bench ractor-peer` reached
//! through ractor_cluster, and casts to a sink on the same thread
//! (`ractor/tell_same_core`).
//!
//! It owns the client side: a [`RactorThread`] with a node server connected
//! to the peer ([`RactorClient`]) or a local sink ([`RactorLocal`]). It must
//! never let a stream of casts grow without bound (ractor's mailboxes are
//! unbounded: at most [`BATCHES_IN_FLIGHT`] batches are unconfirmed), never
//! wait without a deadline, and never report a figure whose messages did not
//! all arrive (the sink's total is checked).

use std::collections::VecDeque;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use ractor::concurrency::OneshotReceiver;
use ractor::rpc::CallResult;
use ractor::ActorRef;

use crate::measure::{self, Stop};
use crate::ractor_sink::{self, RactorError, RactorThread, SinkMsg, SINK_GROUP, START_TIMEOUT};
use crate::raw::{Latencies, Throughput, IO_TIMEOUT};

pub const ASK_RTT: &str = "ractor/ask_rtt";
pub const TELL_U64: &str = "ractor/tell_u64";
pub const TELL_1K: &str = "ractor/tell_1k";
pub const TELL_SAME_CORE: &str = "ractor/tell_same_core";
/// Every remote ractor figure name, in run order.
pub const FIGURES: [&str; 3] = [ASK_RTT, TELL_U64, TELL_1K];

/// Casts between two confirmations (a `Total` call cast behind them).
const TELL_BATCH: u64 = 256;
/// Unconfirmed batches allowed before the sender waits for the oldest: the
/// pipe stays full while the queue stays bounded (2048 messages).
pub const BATCHES_IN_FLIGHT: usize = 8;
/// How much longer than its minimum a measurement may take before it fails.
const SLACK: Duration = Duration::from_secs(60);

/// A ractor_cluster node on its own pinned thread, connected to a
/// `ractor-peer`, holding a reference to the peer's sink.
pub struct RactorClient {
    thread: RactorThread,
    sink: ActorRef<SinkMsg>,
}

impl RactorClient {
    /// Starts a node server on `listen_ip` (a free port) on a thread pinned to
    /// `cpu`, connects it to the peer's node server at `peer`, and waits for
    /// the peer's sink to appear in [`SINK_GROUP`].
    pub fn connect(
        peer: SocketAddr,
        cpu: Option<usize>,
        listen_ip: IpAddr,
    ) -> Result<RactorClient, RactorError> {
        let thread = RactorThread::start(cpu)?;
        let sink = thread.run(START_TIMEOUT * 3, move || async move {
            let port = ractor_sink::free_port(listen_ip)?;
            let name = format!("coremesh-bench-client-{}", std::process::id());
            let server = ractor_sink::start_node_server(&name, listen_ip, port).await?;
            match tokio::time::timeout(START_TIMEOUT, ractor_cluster::client_connect(&server, peer)).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => return Err(RactorError::Connect { addr: peer, reason: e.to_string() }),
                Err(_) => return Err(RactorError::Connect { addr: peer, reason: "timed out".into() }),
            }
            let group = SINK_GROUP.to_string();
            let start = Instant::now();
            loop {
                let remote = ractor::pg::get_members(&group).into_iter().find(|c| !c.get_id().is_local());
                if let Some(cell) = remote {
                    return Ok(ActorRef::<SinkMsg>::from(cell));
                }
                if start.elapsed() > START_TIMEOUT {
                    return Err(RactorError::NoSink(START_TIMEOUT));
                }
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        })?;
        Ok(RactorClient { thread, sink })
    }

    /// Sequential calls of `Total`, timed by [`measure::rtt`].
    pub fn ask_rtt(&self, min: Duration) -> Result<Latencies, RactorError> {
        let sink = self.sink.clone();
        self.thread.run(min + SLACK, move || async move {
            let sink = &sink;
            measure::rtt(min, || async move { total(sink).await.map(drop) })
                .await?
                .ok_or(RactorError::Timeout { step: "ask round trips", limit: min })
        })
    }

    /// Casts of `Add(1)` for at least `min`.
    pub fn tell_u64(&self, min: Duration) -> Result<Throughput, RactorError> {
        let sink = self.sink.clone();
        self.thread.run(min + SLACK, move || async move {
            tells(&sink, || SinkMsg::Add(1), 1, 8, Stop::After(min)).await
        })
    }

    /// Casts of `Kilo` with [`crate::mesh::KILO_BYTES`] of payload for at least `min`.
    pub fn tell_1k(&self, min: Duration) -> Result<Throughput, RactorError> {
        let sink = self.sink.clone();
        let kilo: Vec<u8> = (0..crate::mesh::KILO_BYTES).map(|i| i as u8).collect();
        let n = kilo.len() as u64;
        self.thread.run(min + SLACK, move || async move {
            tells(&sink, move || SinkMsg::Kilo(kilo.clone()), n, n, Stop::After(min)).await
        })
    }
}

/// A ractor sink on its own pinned thread, and the sender beside it.
pub struct RactorLocal {
    thread: RactorThread,
    sink: ActorRef<SinkMsg>,
}

impl RactorLocal {
    /// Starts the thread (pinned to `cpu` when given) and a sink on it.
    pub fn start(cpu: Option<usize>) -> Result<RactorLocal, RactorError> {
        let thread = RactorThread::start(cpu)?;
        let sink = thread.run(START_TIMEOUT, || ractor_sink::spawn_sink(None))?;
        Ok(RactorLocal { thread, sink })
    }

    /// Casts of `Add(1)` from a task on the sink's thread until `stop`.
    pub fn tells(&self, stop: Stop) -> Result<Throughput, RactorError> {
        let sink = self.sink.clone();
        let limit = match stop {
            Stop::After(min) => min + SLACK,
            Stop::Count(_) => SLACK,
        };
        self.thread.run(limit, move || async move { tells(&sink, || SinkMsg::Add(1), 1, 8, stop).await })
    }
}

/// The sink's total, by one call.
async fn total(sink: &ActorRef<SinkMsg>) -> Result<u64, RactorError> {
    match sink.call(SinkMsg::Total, Some(IO_TIMEOUT)).await {
        Ok(CallResult::Success(total)) => Ok(total),
        Ok(CallResult::Timeout) => Err(RactorError::Timeout { step: "a call of Total", limit: IO_TIMEOUT }),
        Ok(CallResult::SenderError) => {
            Err(RactorError::Send { step: "a call of Total", reason: "the reply port was dropped".into() })
        }
        Err(e) => Err(RactorError::Send { step: "a call of Total", reason: e.to_string() }),
    }
}

/// Casts what `make` builds (each adds `adds` to the total and carries
/// `bytes` of payload) until `stop`, casting a `Total` call behind every
/// [`TELL_BATCH`] and waiting for the oldest when more than
/// [`BATCHES_IN_FLIGHT`] are unanswered. The clock stops at the last answer,
/// which must show the total grown by exactly what was sent.
async fn tells(
    sink: &ActorRef<SinkMsg>,
    make: impl Fn() -> SinkMsg,
    adds: u64,
    bytes: u64,
    stop: Stop,
) -> Result<Throughput, RactorError> {
    let before = total(sink).await?;
    let mut acks: VecDeque<OneshotReceiver<u64>> = VecDeque::with_capacity(BATCHES_IN_FLIGHT + 1);
    let mut sent: u64 = 0;
    let mut after = before;
    let start = Instant::now();
    loop {
        let batch = stop.next_batch(sent, TELL_BATCH);
        for _ in 0..batch {
            sink.cast(make()).map_err(|e| RactorError::Send { step: "a cast", reason: e.to_string() })?;
        }
        sent += batch;
        let (tx, rx) = ractor::concurrency::oneshot();
        sink.cast(SinkMsg::Total(tx.into()))
            .map_err(|e| RactorError::Send { step: "a cast of Total", reason: e.to_string() })?;
        acks.push_back(rx);
        if acks.len() > BATCHES_IN_FLIGHT {
            if let Some(rx) = acks.pop_front() {
                after = ack(rx).await?;
            }
        }
        if stop.done(sent, start) {
            break;
        }
    }
    while let Some(rx) = acks.pop_front() {
        after = ack(rx).await?;
    }
    let elapsed = start.elapsed();
    let expected = sent.wrapping_mul(adds);
    let got = after.wrapping_sub(before);
    if got != expected {
        return Err(RactorError::Lost { got, expected });
    }
    Ok(Throughput::new(sent, sent * bytes, elapsed))
}

/// The answer to one `Total` cast behind a batch.
async fn ack(rx: OneshotReceiver<u64>) -> Result<u64, RactorError> {
    match tokio::time::timeout(IO_TIMEOUT, rx).await {
        Ok(Ok(total)) => Ok(total),
        Ok(Err(_)) => {
            Err(RactorError::Send { step: "a batch's Total", reason: "the reply port was dropped".into() })
        }
        Err(_) => Err(RactorError::Timeout { step: "a batch's Total", limit: IO_TIMEOUT }),
    }
}
