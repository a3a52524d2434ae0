//! The cluster: who is in it and what follows from membership.
//!
//! Owns: membership (SWIM with foca as a sans-IO state machine, driven by the
//! control thread; the member view and its events: `membership`), monitors and links between actors anywhere
//! (`monitor`, with the per-core watch table as a state machine), and the
//! system actor of every core, which serves remote spawn, name lookup and the
//! watch requests between cores and nodes (`system`, `system_watch`). Later
//! parts land here too: supervision, the cluster-wide registry, process groups
//! and virtual actors.
//!
//! Must never: touch a connection's bytes (that is `crate::transport`), or be
//! on the path of an ordinary message: what it keeps is read when membership
//! changes, an actor stops, or a watch is made or ended.

pub mod membership;
pub(crate) mod monitor;
pub(crate) mod system;
pub(crate) mod system_watch;
