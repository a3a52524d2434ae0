//! Time on a worker core: [`sleep`].
//!
//! Owns: the timers an actor's task or a task spawned with
//! [`Ctx::spawn_task`](crate::Ctx::spawn_task) or
//! [`NodeHandle::spawn_task_on`](crate::NodeHandle::spawn_task_on) waits on,
//! so user code needs no glommio dependency. Must never: be used off a worker
//! core (there is no executor there to drive it).

use std::time::Duration;

/// Resolves after `d`, on the worker core that polls it (one glommio timer).
///
/// ```no_run
/// # let node = coremesh::Node::start(coremesh::Config::from_env()?)?;
/// let t = node.spawn_task_on(coremesh::CoreId(0), || async {
///     coremesh::time::sleep(std::time::Duration::from_millis(5)).await;
/// });
/// t.wait()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub async fn sleep(d: Duration) {
    glommio::timer::sleep(d).await;
}
