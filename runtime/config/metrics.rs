//! The metrics endpoint's setting: where a node serves Prometheus text on
//! `GET /metrics`, if anywhere.
//!
//! Owns: [`MetricsSettings`] (the validated address, held by `Config` through
//! the network settings), [`MetricsBuilder`] (what the builder was given),
//! [`Config::metrics_addr`], [`ConfigBuilder::metrics`] and the variable
//! `COREMESH_METRICS` (the table is in `config`'s module docs).
//!
//! Must never: turn the endpoint on unless asked (unset means off: no thread, no
//! socket, no counting on the message path), or resolve a host name.

use std::fmt;
use std::net::SocketAddr;

use super::super::{Config, ConfigBuilder, ConfigError, EnvSource};
use super::parse_socket_addr;

const METRICS_VAR: &str = "COREMESH_METRICS";

/// The validated setting, part of a `Config`.
#[derive(Clone, PartialEq, Eq, Default)]
pub(in crate::config) struct MetricsSettings {
    addr: Option<SocketAddr>,
}

impl MetricsSettings {
    /// Adds this setting to a `Debug` output.
    pub(in crate::config) fn debug_fields(&self, d: &mut fmt::DebugStruct<'_, '_>) {
        d.field("metrics", &self.addr);
    }
}

/// The setting given to the builder; `None` is "not called".
#[derive(Clone, Default)]
pub(in crate::config) struct MetricsBuilder {
    addr: Option<SocketAddr>,
}

impl MetricsBuilder {
    /// Adds what was given to a `Debug` output.
    pub(in crate::config) fn debug_fields(&self, d: &mut fmt::DebugStruct<'_, '_>) {
        d.field("metrics", &self.addr);
    }

    /// The builder's address if given, else `COREMESH_METRICS` if set, else off.
    pub(in crate::config) fn resolve(self, env: &EnvSource) -> Result<MetricsSettings, ConfigError> {
        if let Some(addr) = self.addr {
            return Ok(MetricsSettings { addr: Some(addr) });
        }
        let Some(text) = env.get(METRICS_VAR)? else {
            return Ok(MetricsSettings { addr: None });
        };
        let trimmed = text.trim();
        if trimmed.is_empty() {
            return Err(ConfigError::Empty { var: METRICS_VAR.to_owned() });
        }
        let addr = parse_socket_addr(trimmed).map_err(|reason| ConfigError::Malformed {
            var: METRICS_VAR.to_owned(),
            value: text.clone(),
            reason,
        })?;
        Ok(MetricsSettings { addr: Some(addr) })
    }
}

impl Config {
    /// Where the node serves its metrics (Prometheus text format 0.0.4 on
    /// `GET /metrics`), or `None`: off, the default. Port 0 picks a free port;
    /// `Node::metrics_addr` tells which.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.net.metrics.addr
    }
}

impl ConfigBuilder {
    /// Serve metrics on `addr` (an IP literal and port; port 0 picks one).
    /// Overrides `COREMESH_METRICS`. Off unless called or the variable is set.
    pub fn metrics(mut self, addr: SocketAddr) -> Self {
        self.net.metrics.addr = Some(addr);
        self
    }
}

#[cfg(test)]
mod tests {
    use super::super::super::Config;

    fn build(vars: &[(&'static str, &'static str)]) -> Result<Config, crate::config::ConfigError> {
        let vars = vars.to_vec();
        Config::builder()
            .allowed_cpus([0])
            .dev_mode(true)
            .env_source(move |k| vars.iter().find(|(n, _)| *n == k).map(|(_, v)| (*v).to_owned()))
            .build()
    }

    #[test]
    fn metrics_are_off_unless_asked_and_the_builder_wins() {
        assert_eq!(build(&[]).unwrap().metrics_addr(), None);
        let on = build(&[("COREMESH_METRICS", " 127.0.0.1:9100 ")]).unwrap();
        assert_eq!(on.metrics_addr(), Some("127.0.0.1:9100".parse().unwrap()));
        let given = Config::builder()
            .allowed_cpus([0])
            .dev_mode(true)
            .env_source(|k| (k == "COREMESH_METRICS").then(|| "bad".to_owned()))
            .metrics("[::1]:0".parse().unwrap())
            .build()
            .unwrap();
        assert_eq!(given.metrics_addr(), Some("[::1]:0".parse().unwrap()));
    }

    #[test]
    fn a_bad_metrics_address_names_the_variable_and_value() {
        let err = build(&[("COREMESH_METRICS", "localhost:9100")]).unwrap_err().to_string();
        assert!(err.contains("COREMESH_METRICS") && err.contains("localhost:9100"), "{err}");
        let empty = build(&[("COREMESH_METRICS", "  ")]).unwrap_err().to_string();
        assert!(empty.contains("COREMESH_METRICS"), "{empty}");
    }
}
