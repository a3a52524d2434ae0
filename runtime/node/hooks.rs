//! Hooks for the crate's own tests, reachable through `coremesh::__private`:
//! each runs a probe on a worker core through [`NodeHandle::run_on`] and waits
//! for its answer.
//!
//! Owns: nothing a program needs. Must never: be used by the runtime itself,
//! or change what it observes (except `simulate_node_down`, which says so).

use crate::error::SpawnError;
use crate::ids::{ActorId, CoreId, NodeId};
use crate::node::handle::NodeHandle;

/// Runs the node-down hook for `down` on every worker core of `node` and
/// waits for it: what the membership does when the cluster declares a node
/// down, without the rest (links stay up, asks are not failed). For tests.
#[doc(hidden)]
pub fn simulate_node_down(node: &NodeHandle, down: NodeId) -> Result<(), SpawnError> {
    for core in 0..node.cores() {
        let core = CoreId(u16::try_from(core).unwrap_or(u16::MAX));
        node.run_on(core, move || crate::core::with_current(|c| c.monitors_node_down(down))).wait()?;
    }
    Ok(())
}

/// How many actors monitor or are linked with `actor`, as its core's table
/// says. For tests that must know a watch request has arrived.
#[doc(hidden)]
pub fn watchers_of(node: &NodeHandle, actor: ActorId) -> Result<usize, SpawnError> {
    node.run_on(actor.core, move || {
        crate::core::with_current(|c| c.watches.borrow().watchers_of(actor)).unwrap_or(0)
    })
    .wait()
}

/// How many asks hold an entry in `core`'s pending table (waiting, or ended
/// and not yet read). For tests that must see an entry freed.
#[doc(hidden)]
pub fn pending_asks(node: &NodeHandle, core: CoreId) -> Result<usize, SpawnError> {
    node.run_on(core, || crate::core::with_current(|c| c.pending.borrow().len()).unwrap_or(0)).wait()
}

/// Makes the runtime's own code panic on worker `core` of `node` (not an
/// actor's, not a `run_on` closure's: those are contained): what a bug in
/// the runtime would do. For the tests of `crate::node::fatal`.
#[doc(hidden)]
pub fn panic_in_runtime(node: &NodeHandle, core: CoreId) -> bool {
    let Some(c) = node.shared().cores.get(usize::from(core.0)) else { return false };
    let cmd = crate::core::shared::Command::Run(Box::new(|_| panic!("a panic injected into the runtime")));
    let pushed = c.inbox.push(cmd).is_ok();
    c.signal.notify();
    pushed
}

/// How many `lookup_wait`s `node` holds, waiting for their name. For tests
/// that must know a lookup arrived before they publish.
#[doc(hidden)]
pub fn lookups_waiting(node: &NodeHandle) -> usize {
    node.shared().registry.lookups_waiting()
}
