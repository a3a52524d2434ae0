//! What a request made through a [`NodeHandle`](crate::NodeHandle) gives back:
//! [`Waiting`] (spawn and run on a core), [`ForeignAsk`], [`RemoteSpawning`],
//! [`Lookup`] and [`LookupWaiting`]. Each is awaited as a `Send` future, or blocked on from a plain
//! thread.
//!
//! Owns: waiting for an answer that comes from a core through a one-shot, with a
//! timeout. Must never: block a worker core (the blocking `wait`s refuse to run
//! on one where the reply would need that very core).

use std::future::{Future, IntoFuture};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use rkyv::util::AlignedVec;

use crate::actor::message::Reply;
use crate::actor::reply;
use crate::clock;
use crate::cluster::system::{Placement, RemoteSpawn};
use crate::error::{AskError, RemoteSpawnError, SpawnError};
use crate::ids::{ActorId, ActorRef, CoreId, NodeId};
use crate::node::handle::NodeHandle;
use crate::sync::oneshot::{self, RecvError};

/// An error that can say "no answer within this long" (for [`Waiting::wait`]).
pub trait TimedOut {
    /// The error for a wait that gave up after `waited`.
    fn timed_out(waited: Duration) -> Self;
}

impl TimedOut for SpawnError {
    fn timed_out(waited: Duration) -> Self {
        SpawnError::Timeout { waited }
    }
}

impl TimedOut for crate::error::ConnectError {
    fn timed_out(waited: Duration) -> Self {
        crate::error::ConnectError::Timeout { waited }
    }
}

/// The answer to a request made from outside a core: await it (the future is
/// `Send`) or block on it with [`Waiting::wait`], which gives up after its
/// timeout ([`Waiting::timeout`]; by default the node's `COREMESH_ASK_TIMEOUT_MS`,
/// or for `connect` the handshake's own deadline plus that).
pub struct Waiting<T, E> {
    rx: Option<oneshot::Receiver<Result<T, E>>>,
    error: Option<E>,
    closed: Option<E>,
    timeout: Duration,
}

impl<T, E: Clone + TimedOut> Waiting<T, E> {
    pub(crate) fn new(rx: oneshot::Receiver<Result<T, E>>, closed: E, timeout: Duration) -> Self {
        Waiting { rx: Some(rx), error: None, closed: Some(closed), timeout }
    }

    pub(crate) fn failed(e: E) -> Self {
        Waiting { rx: None, error: Some(e), closed: None, timeout: Duration::ZERO }
    }

    /// How long [`Waiting::wait`] waits for the answer before it gives up with
    /// the error's `Timeout` (the request may still run on its core).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Blocks this thread until the answer comes, or its timeout passes. Never
    /// call it on a worker core.
    pub fn wait(mut self) -> Result<T, E> {
        if let Some(e) = self.error.take() {
            return Err(e);
        }
        let closed = self.closed.take();
        let deadline = clock::now().checked_add(self.timeout);
        match self.rx.take().map(|rx| rx.wait_until(deadline)) {
            Some(Ok(v)) => v,
            Some(Err(RecvError::Timeout)) => Err(E::timed_out(self.timeout)),
            _ => Err(closed.expect("a waiting request has its error")),
        }
    }
}

impl<T, E: Clone + Unpin + TimedOut> Future for Waiting<T, E> {
    type Output = Result<T, E>;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        if let Some(e) = self.error.take() {
            return Poll::Ready(Err(e));
        }
        let Some(rx) = self.rx.as_mut() else {
            return Poll::Ready(Err(self.closed.clone().expect("a waiting request has its error")));
        };
        match Pin::new(rx).poll(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Ok(v)) => Poll::Ready(v),
            Poll::Ready(Err(_)) => {
                Poll::Ready(Err(self.closed.clone().expect("a waiting request has its error")))
            }
        }
    }
}

/// An ask made through a [`NodeHandle`]. Set a timeout with
/// [`ForeignAsk::timeout`], then `.await` it (a `Send` future) or [`ForeignAsk::wait`].
pub struct ForeignAsk<R> {
    /// The encoded request, sent by `wait` or the first poll.
    pub(crate) unsent: Option<(NodeHandle, ActorId, AlignedVec<16>)>,
    pub(crate) error: Option<AskError>,
    pub(crate) timeout: Duration,
    pub(crate) _reply: std::marker::PhantomData<fn() -> R>,
}

type ReplyRx = oneshot::Receiver<Result<AlignedVec<16>, AskError>>;

impl<R: Reply> ForeignAsk<R> {
    /// How long to wait for the reply; the request carries the same deadline,
    /// and a target that receives it later drops it unrun.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Writes the deadline into the request and queues it.
    fn send(&mut self) -> Result<ReplyRx, AskError> {
        if let Some(e) = self.error.take() {
            return Err(e);
        }
        let (handle, to, mut bytes) = self.unsent.take().ok_or(AskError::NodeStopped)?;
        let deadline = clock::unix_now_ns().saturating_add(self.timeout.as_nanos() as u64);
        let at = coremesh_wire::HEADER_BYTES;
        bytes[at..at + 8].copy_from_slice(&deadline.to_le_bytes());
        let (tx, rx) = oneshot::channel();
        handle.push_frame(to, bytes, Some(tx)).map_err(AskError::NotSent)?;
        Ok(rx)
    }

    /// Blocks this thread until the reply, an error or the timeout. On a worker
    /// core it returns [`AskError::WouldBlock`] instead (await it there).
    pub fn wait(mut self) -> Result<R, AskError> {
        if crate::core::current().is_some() {
            return Err(AskError::WouldBlock);
        }
        let rx = self.send()?;
        match rx.wait_until(Some(clock::now() + self.timeout)) {
            Ok(Ok(bytes)) => reply::read_reply::<R>(&bytes),
            Ok(Err(e)) => Err(e),
            Err(RecvError::Timeout) => Err(AskError::Timeout),
            Err(RecvError::Closed) => Err(AskError::NodeStopped),
        }
    }
}

impl<R: Reply> IntoFuture for ForeignAsk<R> {
    type Output = Result<R, AskError>;
    type IntoFuture = Pin<Box<dyn Future<Output = Result<R, AskError>> + Send>>;

    fn into_future(self) -> Self::IntoFuture {
        let mut this = self;
        let sent = this.send();
        let timeout = this.timeout;
        Box::pin(async move {
            let rx = sent?;
            let outcome = futures_lite::future::or(async { Some(rx.await) }, async {
                futures_timer::Delay::new(timeout).await;
                None
            })
            .await;
            match outcome {
                Some(Ok(Ok(bytes))) => reply::read_reply::<R>(&bytes),
                Some(Ok(Err(e))) => Err(e),
                Some(Err(_)) => Err(AskError::NodeStopped),
                None => Err(AskError::Timeout),
            }
        })
    }
}

/// A remote spawn, sent when waited on: choose where it lands
/// ([`RemoteSpawning::on_core`], [`RemoteSpawning::placement`]; by default
/// [`Placement::RoundRobin`] over the peer's cores) and how long to wait
/// (`.timeout(d)`), then `.wait()` or `.await` (`Send`).
pub struct RemoteSpawning<A> {
    pub(crate) node: NodeHandle,
    pub(crate) peer: NodeId,
    /// The archived arguments, or why they could not be archived.
    pub(crate) args: Result<Vec<u8>, SpawnError>,
    pub(crate) placement: Placement,
    pub(crate) timeout: Option<Duration>,
    pub(crate) _actor: std::marker::PhantomData<fn() -> A>,
}

impl<A: RemoteSpawn> RemoteSpawning<A> {
    /// How long to wait for the other node's answer.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Where on the peer the actor lands (the peer decides, from its cores
    /// and their load).
    pub fn placement(mut self, placement: Placement) -> Self {
        self.placement = placement;
        self
    }

    /// Lands on the peer's `core`: `placement(Placement::Core(core))`. A core
    /// the peer does not have fails with [`RemoteSpawnError::NoSuchCore`].
    pub fn on_core(self, core: CoreId) -> Self {
        self.placement(Placement::Core(core))
    }

    fn ask(self) -> Result<ForeignAsk<Result<ActorId, RemoteSpawnError>>, SpawnError> {
        let request = crate::cluster::system::Spawn {
            kind: coremesh_wire::type_id_of(A::NAME),
            name: A::NAME.to_string(),
            args: self.args?,
            placement: self.placement,
        };
        let sys = crate::cluster::system::system_actor(self.peer, CoreId(0));
        let ask = self.node.ask(&sys, request);
        Ok(match self.timeout {
            Some(t) => ask.timeout(t),
            None => ask,
        })
    }

    /// Blocks this thread until the actor is spawned or the spawn failed.
    pub fn wait(self) -> Result<ActorRef<A>, SpawnError> {
        spawned(self.ask()?.wait())
    }
}

fn spawned<A>(
    answer: Result<Result<ActorId, RemoteSpawnError>, AskError>,
) -> Result<ActorRef<A>, SpawnError> {
    match answer {
        Ok(Ok(id)) => Ok(ActorRef::from_id(id)),
        Ok(Err(refused)) => Err(SpawnError::Remote(refused)),
        Err(e) => Err(SpawnError::NotAnswered(e)),
    }
}

impl<A: RemoteSpawn> IntoFuture for RemoteSpawning<A> {
    type Output = Result<ActorRef<A>, SpawnError>;
    type IntoFuture = Pin<Box<dyn Future<Output = Self::Output> + Send>>;

    fn into_future(self) -> Self::IntoFuture {
        let ask = self.ask().map(IntoFuture::into_future);
        Box::pin(async move { spawned(ask?.await) })
    }
}

/// A name lookup in flight: `.wait()` or `.await` (`Send`).
pub struct Lookup<A> {
    pub(crate) local: Option<Option<ActorId>>,
    pub(crate) ask: Option<ForeignAsk<Option<ActorId>>>,
    pub(crate) _actor: std::marker::PhantomData<fn() -> A>,
}

impl<A> Lookup<A> {
    /// Blocks this thread until the answer. Never on a worker core.
    pub fn wait(self) -> Result<Option<ActorRef<A>>, AskError> {
        match (self.local, self.ask) {
            (Some(found), _) => Ok(found.map(ActorRef::from_id)),
            (None, Some(ask)) => Ok(ask.wait()?.map(ActorRef::from_id)),
            (None, None) => Err(AskError::NodeStopped),
        }
    }
}

impl<A: 'static> IntoFuture for Lookup<A> {
    type Output = Result<Option<ActorRef<A>>, AskError>;
    type IntoFuture = Pin<Box<dyn Future<Output = Self::Output> + Send>>;

    fn into_future(self) -> Self::IntoFuture {
        let local = self.local;
        let ask = self.ask.map(IntoFuture::into_future);
        Box::pin(async move {
            match (local, ask) {
                (Some(found), _) => Ok(found.map(ActorRef::from_id)),
                (None, Some(ask)) => Ok(ask.await?.map(ActorRef::from_id)),
                (None, None) => Err(AskError::NodeStopped),
            }
        })
    }
}

/// A `lookup_wait` in flight ([`NodeHandle::lookup_wait`]): `.wait()` from a
/// plain thread or `.await` anywhere (`Send`). It ends with the actor once the
/// name is published on the node asked, or [`AskError::Timeout`] at its
/// deadline, or [`AskError::LookupsFull`] at once when that node already holds
/// [`LOOKUP_WAITS_MAX`](crate::LOOKUP_WAITS_MAX) waiting lookups.
pub struct LookupWaiting<A> {
    pub(crate) node: crate::ids::NodeId,
    pub(crate) ask: ForeignAsk<Option<ActorId>>,
    pub(crate) _actor: std::marker::PhantomData<fn() -> A>,
}

fn held<A>(
    node: crate::ids::NodeId,
    answer: Result<Option<ActorId>, AskError>,
) -> Result<ActorRef<A>, AskError> {
    match answer? {
        Some(id) => Ok(ActorRef::from_id(id)),
        None => Err(AskError::LookupsFull { node, max: crate::cluster::system::LOOKUP_WAITS_MAX }),
    }
}

impl<A> LookupWaiting<A> {
    /// Blocks this thread until the answer. Never on a worker core (there it
    /// returns [`AskError::WouldBlock`]; await it instead).
    pub fn wait(self) -> Result<ActorRef<A>, AskError> {
        held(self.node, self.ask.wait())
    }
}

impl<A: 'static> IntoFuture for LookupWaiting<A> {
    type Output = Result<ActorRef<A>, AskError>;
    type IntoFuture = Pin<Box<dyn Future<Output = Self::Output> + Send>>;

    fn into_future(self) -> Self::IntoFuture {
        let node = self.node;
        let ask = self.ask.into_future();
        Box::pin(async move { held(node, ask.await) })
    }
}
