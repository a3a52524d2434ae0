//! The bounds on connections that have not authenticated yet: how long one
//! handshake may take in all, and how many inbound handshakes a node runs at
//! once, in all and per source address.
//!
//! Owns: [`LimitSettings`] (the validated values, held by `Config`),
//! [`LimitBuilder`] (what the builder was given), their accessors and builder
//! methods on `Config` and `ConfigBuilder`, and the variables
//! `COREMESH_HANDSHAKE_TIMEOUT_MS`, `COREMESH_HANDSHAKES_MAX` and
//! `COREMESH_HANDSHAKES_PER_SOURCE_MAX` (the table is in `config`'s module docs).
//!
//! Must never: accept a zero bound (a node that admits no handshake can never be
//! joined), or a deadline so long that a trickling peer holds a descriptor for
//! more than ten minutes.

use std::fmt;

use super::{Config, ConfigBuilder, ConfigError, EnvSource, Setting};

const HANDSHAKE_TIMEOUT_MS: Setting = Setting {
    method: "ConfigBuilder::handshake_timeout_ms",
    var: "COREMESH_HANDSHAKE_TIMEOUT_MS",
    min: 10,
    max: 600_000,
    power_of_two: false,
    default: 3000,
};
const HANDSHAKES_MAX: Setting = Setting {
    method: "ConfigBuilder::handshakes_max",
    var: "COREMESH_HANDSHAKES_MAX",
    min: 1,
    max: 1 << 20,
    power_of_two: false,
    default: 256,
};
const HANDSHAKES_PER_SOURCE_MAX: Setting = Setting {
    method: "ConfigBuilder::handshakes_per_source_max",
    var: "COREMESH_HANDSHAKES_PER_SOURCE_MAX",
    min: 1,
    max: 1 << 20,
    power_of_two: false,
    default: 32,
};

/// The validated bounds, part of a `Config`.
#[derive(Clone, PartialEq, Eq)]
pub(super) struct LimitSettings {
    handshake_timeout_ms: u64,
    handshakes_max: usize,
    handshakes_per_source_max: usize,
}

impl LimitSettings {
    /// Adds these settings to a `Debug` output.
    pub(super) fn debug_fields(&self, d: &mut fmt::DebugStruct<'_, '_>) {
        d.field("handshake_timeout_ms", &self.handshake_timeout_ms)
            .field("handshakes_max", &self.handshakes_max)
            .field("handshakes_per_source_max", &self.handshakes_per_source_max);
    }
}

/// The bounds given to the builder; `None` is "not called".
#[derive(Clone, Default)]
pub(super) struct LimitBuilder {
    handshake_timeout_ms: Option<u64>,
    handshakes_max: Option<usize>,
    handshakes_per_source_max: Option<usize>,
}

impl LimitBuilder {
    /// Adds what was given to a `Debug` output.
    pub(super) fn debug_fields(&self, d: &mut fmt::DebugStruct<'_, '_>) {
        d.field("handshake_timeout_ms", &self.handshake_timeout_ms)
            .field("handshakes_max", &self.handshakes_max)
            .field("handshakes_per_source_max", &self.handshakes_per_source_max);
    }

    /// Validates every setting given here and reads the others from `env`.
    pub(super) fn resolve(self, env: &EnvSource) -> Result<LimitSettings, ConfigError> {
        let as_u64 = |n: Option<usize>| n.map(|n| u64::try_from(n).unwrap_or(u64::MAX));
        let handshake_timeout_ms = HANDSHAKE_TIMEOUT_MS.resolve(self.handshake_timeout_ms, env)?;
        let handshakes_max = HANDSHAKES_MAX.resolve(as_u64(self.handshakes_max), env)?;
        let per_source = HANDSHAKES_PER_SOURCE_MAX.resolve(as_u64(self.handshakes_per_source_max), env)?;
        Ok(LimitSettings {
            handshake_timeout_ms,
            // Both are at most 2^20 (their Settings' max), which fits in usize.
            handshakes_max: handshakes_max as usize,
            handshakes_per_source_max: per_source as usize,
        })
    }
}

impl Config {
    /// How long one handshake may take in all, in milliseconds: for an inbound
    /// connection from its accept to the Accept or Refuse sent, for a dial from
    /// the start of the TCP connect to the Accept or Refuse received. A
    /// connection that misses it is closed. Default 3000.
    pub fn handshake_timeout_ms(&self) -> u64 {
        self.limits.handshake_timeout_ms
    }

    /// The most inbound connections this node (all cores together) keeps in the
    /// handshake at once; one more is closed right after accept, unread.
    /// Default 256.
    pub fn handshakes_max(&self) -> usize {
        self.limits.handshakes_max
    }

    /// The most inbound connections from one source (an IPv4 address, or an
    /// IPv6 /64 prefix) this node keeps in the handshake at once; one more from
    /// it is closed right after accept, unread. Default 32.
    pub fn handshakes_per_source_max(&self) -> usize {
        self.limits.handshakes_per_source_max
    }
}

impl ConfigBuilder {
    /// The whole handshake's deadline, 10..=600 000 ms. Overrides
    /// `COREMESH_HANDSHAKE_TIMEOUT_MS`.
    pub fn handshake_timeout_ms(mut self, ms: u64) -> Self {
        self.limits.handshake_timeout_ms = Some(ms);
        self
    }

    /// The node's bound on inbound connections in the handshake at once,
    /// 1..=1 048 576. Overrides `COREMESH_HANDSHAKES_MAX`.
    pub fn handshakes_max(mut self, n: usize) -> Self {
        self.limits.handshakes_max = Some(n);
        self
    }

    /// The bound on inbound connections in the handshake at once from one
    /// source, 1..=1 048 576. Overrides `COREMESH_HANDSHAKES_PER_SOURCE_MAX`.
    pub fn handshakes_per_source_max(mut self, n: usize) -> Self {
        self.limits.handshakes_per_source_max = Some(n);
        self
    }
}
