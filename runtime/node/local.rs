//! What code running on a worker core (outside any actor) can do there.
//!
//! Owns: free functions that act on the current core: [`spawn`], [`node`],
//! [`core_id`]. Use them inside [`NodeHandle::run_on`](crate::NodeHandle::run_on)
//! closures or tasks spawned on a core. Must never: be given a way to reach
//! another core's state.

use crate::actor::Dispatch;
use crate::error::SpawnError;
use crate::ids::{ActorRef, CoreId};
use crate::node::handle::NodeHandle;

/// Spawns `actor` on the calling worker core.
///
/// ```no_run
/// # use coremesh::{Actor, Config, Node, CoreId};
/// # struct Idle; impl Actor for Idle {} coremesh::handlers!(Idle:);
/// let node = Node::start(Config::from_env()?)?;
/// let r = node.run_on(CoreId(0), || coremesh::local::spawn(Idle)).wait()??;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn spawn<A: Dispatch>(actor: A) -> Result<ActorRef<A>, SpawnError> {
    crate::core::with_current(|c| c.spawn(actor)).ok_or(SpawnError::NotOnCore)
}

/// The node of the calling worker core.
pub fn node() -> Option<NodeHandle> {
    crate::core::with_current(|c| NodeHandle::from_shared(c.shared().clone()))
}

/// The calling worker core's id, or `None` off-core.
pub fn core_id() -> Option<CoreId> {
    crate::core::with_current(|c| c.core_id())
}
