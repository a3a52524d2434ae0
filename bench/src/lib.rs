//! coremesh-bench library: measurement code shared by the `coremesh-bench`
//! binary and the criterion benches. It owns no runtime state (beyond the
//! allocation counters of [`alloc_count`]) and must never touch coremesh
//! internals beyond its public API.

pub mod actors;
pub mod alloc_count;
pub mod compare;
pub mod mesh;
pub mod peer;
pub mod pin;
pub mod raw;
pub mod report;
