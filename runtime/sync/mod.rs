//! Everything that is shared between threads lives here, and only here.
//!
//! Owns: the single-producer single-consumer byte rings between worker cores
//! ([`ring`]), the "wake a parked core" signal ([`signal`]), the cross-thread
//! one-shot used by code outside the runtime ([`oneshot`]), the per-core
//! counters other threads may read ([`counter`]) and the bounded gauges of the
//! node's connections in the handshake ([`gauge`]). Also the one primitive of a
//! single core that several parts share: [`waiters`], the tasks waiting for
//! one condition (transport's readers, the core's room waiters).
//!
//! Must never: hold a lock on a per-message path, or let another module touch an
//! atomic directly (`tests/tidy.rs` enforces the second rule). The hot path uses
//! only the ring's two cache-padded indices.

pub mod counter;
pub mod flag;
pub mod gauge;
pub mod inbox;
pub mod oneshot;
pub mod ring;
pub mod signal;
pub mod waiters;
