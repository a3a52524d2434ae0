//! coremesh-bench library: measurement code shared by the `coremesh-bench`
//! binary and the criterion benches. It owns no runtime state and must never
//! touch coremesh internals beyond its public API.

pub mod peer;
pub mod pin;
pub mod raw;
pub mod report;
