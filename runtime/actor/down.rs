//! What an actor hears when something it watches goes down: [`ActorDown`],
//! [`NodeDown`] and the reason [`DownReason`] (archivable: it crosses the
//! network), and the two kinds of watch ([`Kind`]: a monitor or a link).
//!
//! Owns: these types only; the machinery that watches and reports is
//! `crate::cluster::monitor`, and the calls an actor makes are on
//! [`Ctx`](crate::Ctx). Must never: carry anything but plain data.

use rkyv::{Archive, Deserialize, Serialize};

use super::StopReason;
use crate::ids::{ActorId, NodeId};

/// A monitor (one way, reports) or a link (both ways, stops unless trapped).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Kind {
    Monitor,
    Link,
}

/// Why a watched actor is down, as [`ActorDown`] reports it.
///
/// Every reason but [`DownReason::Normal`] is a failure: it stops the actors
/// linked with the one that stopped (unless they trap links).
#[derive(Archive, Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
#[rkyv(derive(Debug, PartialEq, Eq))]
pub enum DownReason {
    /// It stopped itself ([`Ctx::stop`](crate::Ctx::stop)).
    Normal,
    /// A handler panicked.
    Panicked {
        /// The panic's message; a panic in a hook says which (`in started: …`,
        /// `in stopping: …`, `in stopped: …`).
        message: String,
        /// The type id of the message being handled; 0 for a panic in a hook.
        type_id: u64,
        /// The stable name of that message type; `None` for a panic in a hook.
        message_type: Option<String>,
    },
    /// Its `started` hook returned an error.
    InitFailed {
        /// The error, as text.
        message: String,
    },
    /// Its `started` hook did not finish within `COREMESH_INIT_TIMEOUT_MS`.
    InitTimeout,
    /// It was stopped because `actor`, linked with it, failed.
    LinkedFailure {
        /// The linked actor that failed first.
        actor: ActorId,
    },
    /// Its node shut down.
    NodeShutdown,
    /// Its node was declared down, or left the cluster; whether the actor
    /// itself still runs there is unknown.
    NodeDown,
    /// It was not alive when the watch request reached its core (it had
    /// stopped already, or never existed).
    NoActor,
    /// The watch request could not reach its core: its node is not connected
    /// to this one, or its path stayed full (`LinkFull`, `RingFull`) for
    /// longer than the request is retried.
    NoConnection,
    /// It was a supervisor and gave up: more than `max_restarts` restarts
    /// of its children within `within_ms`
    /// ([`StopReason::RestartIntensity`]).
    RestartIntensity {
        /// The supervisor's restart limit.
        max_restarts: u32,
        /// The window of that limit, in milliseconds.
        within_ms: u64,
    },
}

impl DownReason {
    /// Whether this stop is a failure (anything but `Normal`): linked actors
    /// are stopped by failures only.
    pub fn is_failure(&self) -> bool {
        *self != DownReason::Normal
    }
}

impl From<&StopReason> for DownReason {
    fn from(r: &StopReason) -> Self {
        match r {
            StopReason::Normal => DownReason::Normal,
            StopReason::InitFailed(message) => DownReason::InitFailed { message: message.clone() },
            StopReason::InitTimeout => DownReason::InitTimeout,
            StopReason::Panicked { message, type_id, message_type } => DownReason::Panicked {
                message: message.clone(),
                type_id: *type_id,
                message_type: message_type.clone(),
            },
            StopReason::NodeShutdown => DownReason::NodeShutdown,
            StopReason::LinkedFailure { actor, .. } => DownReason::LinkedFailure { actor: *actor },
            StopReason::RestartIntensity { max_restarts, within_ms } => {
                DownReason::RestartIntensity { max_restarts: *max_restarts, within_ms: *within_ms }
            }
        }
    }
}

impl ArchivedDownReason {
    /// The native reason (the archive was validated before a handler saw it).
    pub fn to_native(&self) -> DownReason {
        match self {
            ArchivedDownReason::Normal => DownReason::Normal,
            ArchivedDownReason::Panicked { message, type_id, message_type } => DownReason::Panicked {
                message: message.as_str().to_owned(),
                type_id: type_id.to_native(),
                message_type: message_type.as_ref().map(|t| t.as_str().to_owned()),
            },
            ArchivedDownReason::InitFailed { message } => {
                DownReason::InitFailed { message: message.as_str().to_owned() }
            }
            ArchivedDownReason::InitTimeout => DownReason::InitTimeout,
            ArchivedDownReason::LinkedFailure { actor } => {
                DownReason::LinkedFailure { actor: actor.to_native() }
            }
            ArchivedDownReason::NodeShutdown => DownReason::NodeShutdown,
            ArchivedDownReason::NodeDown => DownReason::NodeDown,
            ArchivedDownReason::NoActor => DownReason::NoActor,
            ArchivedDownReason::NoConnection => DownReason::NoConnection,
            ArchivedDownReason::RestartIntensity { max_restarts, within_ms } => {
                DownReason::RestartIntensity {
                    max_restarts: max_restarts.to_native(),
                    within_ms: within_ms.to_native(),
                }
            }
        }
    }
}

/// A watched actor is down: sent to its monitors
/// ([`Ctx::monitor`](crate::Ctx::monitor)) and to the linked actors that trap
/// links ([`Ctx::trap_links`](crate::Ctx::trap_links)). Handle it like any
/// message: `impl Handler<ActorDown>` and list it in
/// [`handlers!`](crate::handlers).
#[derive(Archive, Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
#[rkyv(derive(Debug))]
pub struct ActorDown {
    /// The actor that is down.
    pub actor: ActorId,
    /// Why.
    pub reason: DownReason,
}

/// A node watched with [`Ctx::monitor_node`](crate::Ctx::monitor_node) was
/// declared down or left the cluster (or was not connected when the monitor
/// was set).
#[derive(Archive, Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
#[rkyv(derive(Debug))]
pub struct NodeDown {
    /// The node.
    pub node: NodeId,
}

crate::message!(ActorDown = "coremesh.ActorDown", NodeDown = "coremesh.NodeDown");
