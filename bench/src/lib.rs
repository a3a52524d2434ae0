//! coremesh-bench library: measurement code shared by the `coremesh-bench`
//! binary (peers, `raw`, `report`) and the criterion benches, for coremesh,
//! ractor + ractor_cluster and raw TCP alike. It owns no runtime state
//! (beyond the allocation counters of [`alloc_count`]) and must never touch
//! coremesh internals beyond its public API; ractor is a dependency of this
//! crate only, never of the runtime.

pub mod actors;
pub mod alloc_count;
pub mod chart;
pub mod compare;
pub mod local;
pub mod measure;
pub mod mesh;
pub mod peer;
pub mod pin;
pub mod process;
pub mod ractor_load;
pub mod ractor_sink;
pub mod raw;
pub mod report;
pub mod suite;
