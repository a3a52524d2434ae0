//! What an actor is: the [`Actor`] lifecycle, the [`Handler`] and [`AsyncHandler`]
//! traits, and the [`handlers!`](crate::handlers) macro that builds an actor's
//! dispatch table.
//!
//! Owns: the user-facing traits and the glue that turns one checked frame into
//! one handler call. Must never: decode a message into an owned value on the sync
//! path (handlers read `&Archived<M>` in the frame's buffer), or run two messages
//! of one actor at the same time.

pub(crate) mod ctx;
pub(crate) mod down;
pub(crate) mod glue;
pub(crate) mod message;
pub(crate) mod reply;
pub(crate) mod reply_to;
pub(crate) mod send;
pub(crate) mod timers;

use std::future::Future;
use std::pin::Pin;

use crate::actor::ctx::Ctx;
use crate::actor::message::{Message, Reply};
use crate::ids::ActorId;
use down::DownReason;

/// Why an actor stopped. Given to [`Actor::stopped`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StopReason {
    /// The actor called [`Ctx::stop`], or its supervisor stopped it.
    Normal,
    /// [`Actor::started`] returned an error.
    InitFailed(String),
    /// [`Actor::started`] did not finish within `COREMESH_INIT_TIMEOUT_MS`.
    InitTimeout,
    /// A handler panicked; the message that was being handled is named.
    Panicked {
        /// The panic's message; a panic in a hook says which (`in started: …`,
        /// `in stopping: …`, `in stopped: …`).
        message: String,
        /// The type id of the message being handled; 0 for a panic in a hook.
        type_id: u64,
        /// The stable name of that message type (from this build's type
        /// table); `None` for a panic in a hook.
        message_type: Option<String>,
    },
    /// The node is shutting down.
    NodeShutdown,
    /// An actor linked with this one ([`Ctx::link`]) failed, and this one does
    /// not trap links ([`Ctx::trap_links`]). A linked actor that stops with
    /// `Normal` stops nobody.
    LinkedFailure {
        /// The linked actor that failed.
        actor: ActorId,
        /// Why it stopped.
        reason: DownReason,
    },
    /// A [`Supervisor`](crate::supervision::Supervisor) restarted its children
    /// more than `max_restarts` times within `within_ms` and gave up (its
    /// children were stopped first).
    RestartIntensity {
        /// The supervisor's restart limit.
        max_restarts: u32,
        /// The window of that limit, in milliseconds.
        within_ms: u64,
    },
}

/// The error an actor's initialisation may return.
pub type InitError = Box<dyn std::error::Error + 'static>;

/// An actor: state that lives on one core and handles one message at a time.
///
/// All hooks have defaults. Declare the handlers as `#[handle]` methods of a
/// `#[coremesh::actor]` impl block (which also writes `impl Actor` unless
/// given `(hooks)`), or by hand: [`Handler`] for each message type, listed
/// with [`handlers!`](crate::handlers).
pub trait Actor: Sized + 'static {
    /// Runs once before the first message, bounded by `COREMESH_INIT_TIMEOUT_MS`.
    /// Messages that arrive meanwhile wait in the mailbox. An error or a timeout
    /// stops the actor (its `stopped` hook still runs).
    fn started(&mut self, ctx: &mut Ctx<Self>) -> impl Future<Output = Result<(), InitError>> {
        let _ = ctx;
        async { Ok(()) }
    }

    /// Runs when the actor is about to stop, while it can still send messages.
    fn stopping(&mut self, ctx: &mut Ctx<Self>) {
        let _ = ctx;
    }

    /// Runs last, after the mailbox is closed and the remaining messages were
    /// failed (asks) or counted as dead letters (tells).
    fn stopped(&mut self, reason: &StopReason) {
        let _ = reason;
    }
}

/// Handles message `M` synchronously, reading it in place.
///
/// This is the fast path: the handler is called straight from the buffer the
/// frame arrived in (mailbox, ring or network receive buffer), with no copy.
#[diagnostic::on_unimplemented(
    message = "`{Self}` has no handler for `{M}`",
    label = "`{Self}` does not handle `{M}` synchronously",
    note = "add `#[handle] fn ..(&mut self, msg: &Archived{M}, ctx: &mut Ctx<Self>) -> Reply` to `#[coremesh::actor] impl {Self}`, or `impl Handler<{M}> for {Self}`",
    note = "a message listed after `; async` in `coremesh::handlers!` needs `AsyncHandler<{M}>` instead"
)]
pub trait Handler<M: Message>: Actor {
    /// What an `ask` of `M` returns. `()` for messages only ever told.
    type Reply: Reply;
    /// Handles one message.
    fn handle(&mut self, msg: &rkyv::Archived<M>, ctx: &mut Ctx<Self>) -> Self::Reply;
}

/// Handles message `M` with an `async` handler.
///
/// The message must outlive the buffer it arrived in, so it is copied once into
/// an owned 16-aligned buffer ([`Owned`]) before the handler runs. The actor
/// handles nothing else until the future completes.
#[diagnostic::on_unimplemented(
    message = "`{Self}` has no async handler for `{M}`",
    label = "`{Self}` does not handle `{M}` asynchronously",
    note = "add `#[handle] async fn ..(&mut self, msg: Owned<{M}>, ctx: &mut Ctx<Self>) -> Reply` to `#[coremesh::actor] impl {Self}`, or `impl AsyncHandler<{M}> for {Self}`",
    note = "a message listed before `; async` in `coremesh::handlers!` needs `Handler<{M}>` instead"
)]
pub trait AsyncHandler<M: Message>: Actor {
    /// What an `ask` of `M` returns.
    type Reply: Reply;
    /// Handles one message.
    fn handle(&mut self, msg: Owned<M>, ctx: &mut Ctx<Self>) -> impl Future<Output = Self::Reply>;
}

pub use crate::actor::glue::Owned;

/// The dispatch table of an actor type: which message type ids it handles and
/// how. Generated by [`handlers!`](crate::handlers); not implemented by hand.
pub trait Dispatch: Actor {
    /// `(type id, name)` of every message the actor handles.
    const MESSAGE_TYPES: &'static [(u64, &'static str)];

    #[doc(hidden)]
    fn dispatch_sync(
        &mut self,
        delivery: crate::actor::glue::Delivery<'_>,
        ctx: &mut Ctx<Self>,
    ) -> SyncDispatch;

    #[doc(hidden)]
    fn dispatch_async<'a>(
        &'a mut self,
        delivery: crate::actor::glue::Delivery<'a>,
        ctx: &'a mut Ctx<Self>,
    ) -> Option<Pin<Box<dyn Future<Output = ()> + 'a>>>;
}

#[doc(hidden)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncDispatch {
    /// A sync handler ran to completion.
    Done,
    /// The type has an async handler: call `dispatch_async` and await it.
    Async,
    /// The actor does not handle this type id.
    UnknownType,
}

/// Lists the messages an actor handles and generates its [`Dispatch`] table.
///
/// ```
/// use coremesh::{Actor, Ctx, Handler};
/// use rkyv::{Archive, Serialize, Deserialize};
///
/// #[derive(Archive, Serialize, Deserialize)]
/// struct Add { n: u64 }
/// #[derive(Archive, Serialize, Deserialize)]
/// struct Get;
/// coremesh::message!(Add = "counter.Add", Get = "counter.Get");
///
/// struct Counter { total: u64 }
/// impl Actor for Counter {}
/// impl Handler<Add> for Counter {
///     type Reply = u64;
///     fn handle(&mut self, msg: &ArchivedAdd, _ctx: &mut Ctx<Self>) -> u64 {
///         self.total += msg.n.to_native();
///         self.total
///     }
/// }
/// impl Handler<Get> for Counter {
///     type Reply = u64;
///     fn handle(&mut self, _msg: &ArchivedGet, _ctx: &mut Ctx<Self>) -> u64 { self.total }
/// }
/// coremesh::handlers!(Counter: Add, Get);
/// ```
///
/// Async handlers follow a `; async` separator: `handlers!(A: Sync1, Sync2; async Slow)`.
#[macro_export]
macro_rules! handlers {
    ($actor:ty : $($m:ty),* $(,)? $(; async $($am:ty),+ $(,)?)?) => {
        impl $crate::Handles<$crate::__private::NoMessage> for $actor {
            type Reply = ();
        }
        $(
            impl $crate::Handles<$m> for $actor {
                type Reply = <$actor as $crate::Handler<$m>>::Reply;
            }
        )*
        $($(
            impl $crate::Handles<$am> for $actor {
                type Reply = <$actor as $crate::AsyncHandler<$am>>::Reply;
            }
        )+)?
        impl $crate::Dispatch for $actor {
            const MESSAGE_TYPES: &'static [(u64, &'static str)] = &[
                $((<$m as $crate::Message>::TYPE_ID, <$m as $crate::Message>::NAME),)*
                $($((<$am as $crate::Message>::TYPE_ID, <$am as $crate::Message>::NAME),)+)?
            ];

            #[inline]
            fn dispatch_sync(
                &mut self,
                delivery: $crate::__private::Delivery<'_>,
                ctx: &mut $crate::Ctx<Self>,
            ) -> $crate::__private::SyncDispatch {
                let id = delivery.type_id();
                $(
                    if id == <$m as $crate::Message>::TYPE_ID {
                        $crate::__private::run_sync::<Self, $m>(self, delivery, ctx);
                        return $crate::__private::SyncDispatch::Done;
                    }
                )*
                $($(
                    if id == <$am as $crate::Message>::TYPE_ID {
                        return $crate::__private::SyncDispatch::Async;
                    }
                )+)?
                $crate::__private::SyncDispatch::UnknownType
            }

            fn dispatch_async<'a>(
                &'a mut self,
                delivery: $crate::__private::Delivery<'a>,
                ctx: &'a mut $crate::Ctx<Self>,
            ) -> Option<::std::pin::Pin<Box<dyn ::std::future::Future<Output = ()> + 'a>>> {
                let _ = (&delivery, &ctx);
                $($(
                    if delivery.type_id() == <$am as $crate::Message>::TYPE_ID {
                        return $crate::__private::run_async::<Self, $am>(self, delivery, ctx);
                    }
                )+)?
                None
            }
        }
    };
}
