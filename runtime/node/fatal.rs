//! What happens when the runtime's own code panics on a worker core: the
//! node stops itself in a controlled way instead of living on with a dead
//! core.
//!
//! Owns: [`run_worker`], which runs a worker's executor and catches a panic
//! that escapes it (a panic in actor code never does: the cell turns it into
//! a `Panicked` stop of that actor, and `run_on`/`spawn_task_on` closures and
//! `ctx.spawn_task` futures report theirs to their caller), and [`Fatal`], the
//! record of it. On such a panic: the panic is logged at error level with the
//! core, the node records it (`NodeHandle::fatal`), and shutdown is requested,
//! so every other core stops its actors and fails its pending asks with
//! `NodeStopped`, the control thread leaves the cluster (peers see MemberLeft
//! and fail their asks to this node), and `Node::run_until_signal` /
//! `Node::shutdown` return [`NodeError::WorkerPanicked`] so that the embedding
//! service decides (the `coremesh-node` fixture exits non-zero).
//!
//! Must never: swallow a runtime panic and keep the node running, or decide to
//! exit the process itself (that is the embedding service's call).

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, PoisonError};

use crate::core::shared::NodeShared;
use crate::error::NodeError;
use crate::ids::CoreId;
use crate::node::handle::NodeHandle;

/// A runtime panic on a worker core: which core, and the panic's message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Fatal {
    pub core: CoreId,
    pub reason: String,
}

impl Fatal {
    pub(crate) fn to_error(&self) -> NodeError {
        NodeError::WorkerPanicked { core: self.core, reason: self.reason.clone() }
    }
}

/// How a worker thread ended other than by a clean shutdown.
#[derive(Debug)]
pub(crate) enum WorkerEnd {
    /// Its executor could not be made; the node never started.
    NeverStarted(String),
    /// The runtime's code panicked on it; the node stopped itself.
    Panicked(Fatal),
}

/// Runs `work` (a worker's executor) on this thread; a panic escaping it is
/// recorded as the node's fatal error and stops the node.
pub(crate) fn run_worker<T>(
    shared: &Arc<NodeShared>,
    core: CoreId,
    work: impl FnOnce() -> T,
) -> Result<T, WorkerEnd> {
    match catch_unwind(AssertUnwindSafe(work)) {
        Ok(done) => Ok(done),
        Err(payload) => {
            let reason = crate::core::cell::panic_message(&*payload);
            let fatal = Fatal { core, reason };
            record(shared, fatal.clone());
            Err(WorkerEnd::Panicked(fatal))
        }
    }
}

/// Records `fatal` (the first one wins), logs it, and requests shutdown.
fn record(shared: &Arc<NodeShared>, fatal: Fatal) {
    tracing::error!(
        node = %shared.id,
        core = %fatal.core,
        reason = %fatal.reason,
        "the runtime panicked on a worker core; the node leaves the cluster, fails its pending asks and stops"
    );
    shared.fatal.lock().unwrap_or_else(PoisonError::into_inner).get_or_insert(fatal);
    NodeHandle::from_shared(shared.clone()).request_shutdown();
}
