//! The network settings of a node: where it listens, which cluster it joins and with
//! what secret, whom it dials first, the largest frame, and the heartbeat timing.
//!
//! Owns: [`NetSettings`] (the validated values, held by `Config`), [`NetBuilder`] (what
//! the builder was given), their accessors and builder methods on `Config` and
//! `ConfigBuilder`, and the grammar of `COREMESH_LISTEN`, `COREMESH_SEEDS`,
//! `COREMESH_CLUSTER` and `COREMESH_COOKIE` (the table is in `config`'s module docs).
//!
//! Must never: put the cookie in a `Debug` output or in a [`ConfigError`] (its errors
//! give its length, never its bytes, not even for non-UTF-8 values), resolve a host name
//! (addresses are IP literals; DNS would make `build` block and vary), or accept a
//! heartbeat timing under which a healthy peer would be declared dead.

use std::collections::HashSet;
use std::ffi::OsString;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use coremesh_wire::handshake::MAX_CLUSTER_NAME;

use super::{Config, ConfigBuilder, ConfigError, EnvSource, Setting, BYTES_MAX};

#[path = "metrics.rs"]
mod metrics;

const LISTEN_VAR: &str = "COREMESH_LISTEN";
const CLUSTER_VAR: &str = "COREMESH_CLUSTER";
const CLUSTER_METHOD: &str = "ConfigBuilder::cluster";
const COOKIE_VAR: &str = "COREMESH_COOKIE";
const COOKIE_METHOD: &str = "ConfigBuilder::cookie";
const SEEDS_VAR: &str = "COREMESH_SEEDS";
const SEEDS_METHOD: &str = "ConfigBuilder::seeds";

/// What a `Debug` output or an error shows in place of the cookie.
pub(super) const REDACTED: &str = "<redacted>";

/// The default listen address: an ephemeral port on loopback, reachable only from this
/// machine, so that an unconfigured node exposes nothing.
const DEFAULT_LISTEN: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0);
const DEFAULT_CLUSTER: &str = "coremesh";
/// The longest cookie, in bytes.
const COOKIE_BYTES_MAX: usize = 1024;
/// The shortest cookie outside a development node, in bytes.
pub(super) const COOKIE_BYTES_MIN: usize = 16;

const MAX_FRAME_BYTES: Setting = Setting {
    method: "ConfigBuilder::max_frame_bytes",
    var: "COREMESH_MAX_FRAME",
    min: 4096,
    max: BYTES_MAX,
    power_of_two: false,
    default: 4 << 20,
};
const HEARTBEAT_MS: Setting = Setting {
    method: "ConfigBuilder::heartbeat_interval_ms",
    var: "COREMESH_HEARTBEAT_MS",
    min: 10,
    max: 60_000,
    power_of_two: false,
    default: 500,
};
const CONNECTION_TIMEOUT_MS: Setting = Setting {
    method: "ConfigBuilder::connection_timeout_ms",
    var: "COREMESH_CONNECTION_TIMEOUT_MS",
    min: 20,
    max: 600_000,
    power_of_two: false,
    default: 3000,
};

// The frame cap is stored as usize and promised to fit a u32 (the wire's length field).
const _: () = assert!(BYTES_MAX <= u32::MAX as u64 && BYTES_MAX <= usize::MAX as u64);

/// The validated network settings, part of a `Config`.
#[derive(Clone, PartialEq, Eq)]
pub(super) struct NetSettings {
    listen: SocketAddr,
    cluster: String,
    cookie: Vec<u8>,
    max_frame_bytes: usize,
    heartbeat_interval_ms: u64,
    connection_timeout_ms: u64,
    seeds: Vec<SocketAddr>,
    metrics: metrics::MetricsSettings,
}

impl NetSettings {
    pub(super) fn cluster(&self) -> &str {
        &self.cluster
    }

    /// Adds these settings to a `Debug` output, the cookie redacted.
    pub(super) fn debug_fields(&self, d: &mut fmt::DebugStruct<'_, '_>) {
        d.field("listen", &self.listen)
            .field("cluster", &self.cluster)
            .field("cookie", &REDACTED)
            .field("cookie_is_default", &(self.cookie == Config::DEFAULT_COOKIE))
            .field("max_frame_bytes", &self.max_frame_bytes)
            .field("heartbeat_interval_ms", &self.heartbeat_interval_ms)
            .field("connection_timeout_ms", &self.connection_timeout_ms)
            .field("seeds", &self.seeds);
        self.metrics.debug_fields(d);
    }
}

/// The network settings given to the builder; `None` is "not called".
#[derive(Clone, Default)]
pub(super) struct NetBuilder {
    listen: Option<SocketAddr>,
    cluster: Option<String>,
    cookie: Option<Vec<u8>>,
    max_frame_bytes: Option<usize>,
    heartbeat_interval_ms: Option<u64>,
    connection_timeout_ms: Option<u64>,
    seeds: Option<Vec<SocketAddr>>,
    metrics: metrics::MetricsBuilder,
}

impl NetBuilder {
    /// Adds what was given to a `Debug` output, the cookie redacted.
    pub(super) fn debug_fields(&self, d: &mut fmt::DebugStruct<'_, '_>) {
        d.field("listen", &self.listen)
            .field("cluster", &self.cluster)
            .field("cookie", &self.cookie.as_ref().map(|_| REDACTED))
            .field("max_frame_bytes", &self.max_frame_bytes)
            .field("heartbeat_interval_ms", &self.heartbeat_interval_ms)
            .field("connection_timeout_ms", &self.connection_timeout_ms)
            .field("seeds", &self.seeds);
        self.metrics.debug_fields(d);
    }

    /// Validates every setting given here and reads the others from `env`; `dev`:
    /// a development node, where a weak cookie is accepted.
    pub(super) fn resolve(self, env: &EnvSource, dev: bool) -> Result<NetSettings, ConfigError> {
        let listen = match self.listen {
            Some(addr) => addr,
            None => match env.get(LISTEN_VAR)? {
                Some(text) => parse_env_listen(&text)?,
                None => DEFAULT_LISTEN,
            },
        };
        let cluster = match self.cluster {
            Some(name) => check_cluster(CLUSTER_METHOD, &name, &name)?.to_owned(),
            None => match env.get(CLUSTER_VAR)? {
                Some(text) => check_cluster(CLUSTER_VAR, &text, text.trim())?.to_owned(),
                None => DEFAULT_CLUSTER.to_owned(),
            },
        };
        let (cookie_var, cookie) = match self.cookie {
            Some(bytes) => (COOKIE_METHOD, check_cookie(COOKIE_METHOD, bytes)?),
            None => match env_secret(env, COOKIE_VAR)? {
                Some(text) => (COOKIE_VAR, check_cookie(COOKIE_VAR, text.into_bytes())?),
                None => (COOKIE_VAR, Vec::new()),
            },
        };
        let is_default = cookie.is_empty() || cookie == Config::DEFAULT_COOKIE;
        if !dev && (is_default || cookie.len() < COOKIE_BYTES_MIN) {
            return Err(ConfigError::WeakCookie {
                var: cookie_var.to_owned(),
                len: cookie.len(),
                is_default,
            });
        }
        let cookie = if cookie.is_empty() { Config::DEFAULT_COOKIE.to_vec() } else { cookie };
        let seeds = match self.seeds {
            Some(seeds) => check_builder_seeds(seeds)?,
            None => match env.get(SEEDS_VAR)? {
                Some(text) => parse_env_seeds(&text)?,
                None => Vec::new(),
            },
        };
        let bytes = self.max_frame_bytes.map(|n| u64::try_from(n).unwrap_or(u64::MAX));
        let max_frame_bytes = MAX_FRAME_BYTES.resolve(bytes, env)?;
        let heartbeat_interval_ms = HEARTBEAT_MS.resolve(self.heartbeat_interval_ms, env)?;
        let connection_timeout_ms = CONNECTION_TIMEOUT_MS.resolve(self.connection_timeout_ms, env)?;
        if connection_timeout_ms <= heartbeat_interval_ms {
            let name = |setting: &Setting, given: Option<u64>| match given {
                Some(_) => setting.method.to_owned(),
                None => setting.var.to_owned(),
            };
            return Err(ConfigError::TimeoutNotAboveInterval {
                timeout_var: name(&CONNECTION_TIMEOUT_MS, self.connection_timeout_ms),
                timeout_ms: connection_timeout_ms,
                interval_var: name(&HEARTBEAT_MS, self.heartbeat_interval_ms),
                interval_ms: heartbeat_interval_ms,
            });
        }
        let metrics = self.metrics.resolve(env)?;
        Ok(NetSettings {
            listen,
            cluster,
            cookie,
            // At most BYTES_MAX, which fits in usize (asserted above).
            max_frame_bytes: max_frame_bytes as usize,
            heartbeat_interval_ms,
            connection_timeout_ms,
            seeds,
            metrics,
        })
    }
}

impl Config {
    /// The cookie used when none is set: well known, so it authenticates nothing.
    /// [`cookie_is_default`](Self::cookie_is_default) tells a node to warn about it.
    pub const DEFAULT_COOKIE: &'static [u8] = b"coremesh-insecure-default-cookie";

    /// The address core 0 listens on for peers. Default `127.0.0.1:0`: an ephemeral
    /// port on loopback. Port 0 means the OS picks one when the node starts.
    pub fn listen(&self) -> SocketAddr {
        self.net.listen
    }

    /// The cluster's name, 1..=64 bytes of `A-Z a-z 0-9 . _ -`; a peer must give the
    /// same one in its handshake. Default `coremesh`.
    pub fn cluster(&self) -> &str {
        &self.net.cluster
    }

    /// The shared secret of the handshake's HMAC challenge, 16..=1024 bytes (1..=1024 on a
    /// [`dev_mode`](Self::dev_mode) node); it never crosses the wire. No default, except
    /// [`Config::DEFAULT_COOKIE`] on a development node. Not shown by `Debug`.
    pub fn cookie(&self) -> &[u8] {
        &self.net.cookie
    }

    /// Whether [`cookie`](Self::cookie) is the well-known [`Config::DEFAULT_COOKIE`]
    /// (unset, or set to it): any peer can then join, and the node should warn.
    pub fn cookie_is_default(&self) -> bool {
        self.net.cookie == Self::DEFAULT_COOKIE
    }

    /// The largest archived message payload accepted from or sent to a peer, in bytes:
    /// 4096..=1 GiB, so it always fits a `u32` (the wire's length field). Default 4 MiB.
    pub fn max_frame_bytes(&self) -> usize {
        self.net.max_frame_bytes
    }

    /// How often a connection sends a heartbeat when idle, in milliseconds. Default 500.
    pub fn heartbeat_interval_ms(&self) -> u64 {
        self.net.heartbeat_interval_ms
    }

    /// How long a connection may stay silent before it is closed as dead, in
    /// milliseconds; always larger than [`heartbeat_interval_ms`](Self::heartbeat_interval_ms).
    /// Default 3000.
    pub fn connection_timeout_ms(&self) -> u64 {
        self.net.connection_timeout_ms
    }

    /// The peers dialled at start to join the cluster, in order, no repeats, none with
    /// port 0. Empty (the default) means this node waits to be dialled.
    pub fn seeds(&self) -> &[SocketAddr] {
        &self.net.seeds
    }
}

impl ConfigBuilder {
    /// The address core 0 listens on; any IP and port (port 0: the OS picks one).
    /// Overrides `COREMESH_LISTEN`.
    pub fn listen(mut self, addr: SocketAddr) -> Self {
        self.net.listen = Some(addr);
        self
    }

    /// The cluster's name: 1..=64 bytes of `A-Z a-z 0-9 . _ -`, taken as given (no
    /// trimming). Overrides `COREMESH_CLUSTER`.
    pub fn cluster(mut self, name: impl Into<String>) -> Self {
        self.net.cluster = Some(name.into());
        self
    }

    /// The handshake's shared secret: 16..=1024 random bytes, the same on every node of
    /// the cluster (1..=1024 on a [`dev_mode`](Self::dev_mode) node), not only whitespace.
    /// Overrides `COREMESH_COOKIE`. Errors about it give its length, never its bytes.
    pub fn cookie(mut self, secret: impl Into<Vec<u8>>) -> Self {
        self.net.cookie = Some(secret.into());
        self
    }

    /// The largest message payload accepted or sent, 4096..=1 GiB bytes. Overrides
    /// `COREMESH_MAX_FRAME`.
    pub fn max_frame_bytes(mut self, n: usize) -> Self {
        self.net.max_frame_bytes = Some(n);
        self
    }

    /// The idle heartbeat interval, 10..=60 000 ms; must stay below the connection
    /// timeout. Overrides `COREMESH_HEARTBEAT_MS`.
    pub fn heartbeat_interval_ms(mut self, ms: u64) -> Self {
        self.net.heartbeat_interval_ms = Some(ms);
        self
    }

    /// The silence after which a connection is dead, 20..=600 000 ms; must be larger
    /// than the heartbeat interval. Overrides `COREMESH_CONNECTION_TIMEOUT_MS`.
    pub fn connection_timeout_ms(mut self, ms: u64) -> Self {
        self.net.connection_timeout_ms = Some(ms);
        self
    }

    /// The peers to dial at start, in order: no repeats, no port 0; empty for none.
    /// Overrides `COREMESH_SEEDS`.
    pub fn seeds(mut self, seeds: impl IntoIterator<Item = SocketAddr>) -> Self {
        self.net.seeds = Some(seeds.into_iter().collect());
        self
    }
}

/// Parses an IP literal and port: `1.2.3.4:7000` or `[::1]:7000`, nothing else (no host
/// names, no bare IPs). The caller trims whitespace. The error is a reason fit for
/// `ConfigError::Malformed`.
pub(super) fn parse_socket_addr(text: &str) -> Result<SocketAddr, String> {
    if let Ok(addr) = text.parse::<SocketAddr>() {
        return Ok(addr);
    }
    let bare_v6 = |t: &str| t.parse::<Ipv6Addr>().is_ok();
    let hint = match text.parse::<IpAddr>() {
        Ok(IpAddr::V4(_)) => "the port is missing",
        Ok(IpAddr::V6(_)) => "the port is missing; write IPv6 in brackets, such as [::1]:7000",
        Err(_) if text.rsplit_once(':').is_some_and(|(ip, _)| bare_v6(ip)) => {
            "write IPv6 in brackets, such as [::1]:7000"
        }
        Err(_) => "such as 10.0.0.1:7000 or [::1]:7000; host names are not resolved",
    };
    Err(format!("{text:?} is not an IP address and port ({hint})"))
}

fn parse_env_listen(text: &str) -> Result<SocketAddr, ConfigError> {
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Err(ConfigError::Empty { var: LISTEN_VAR.to_owned() });
    }
    parse_socket_addr(trimmed).map_err(|reason| ConfigError::Malformed {
        var: LISTEN_VAR.to_owned(),
        value: text.to_owned(),
        reason,
    })
}

/// Checks a cluster name (`name`, already trimmed for a variable); `shown` is the value
/// as given, for the error.
pub(super) fn check_cluster<'a>(var: &str, shown: &str, name: &'a str) -> Result<&'a str, ConfigError> {
    let malformed =
        |reason: String| ConfigError::Malformed { var: var.to_owned(), value: shown.to_owned(), reason };
    if name.is_empty() {
        return Err(ConfigError::Empty { var: var.to_owned() });
    }
    if name.len() > MAX_CLUSTER_NAME {
        return Err(malformed(format!("{} bytes, at most {MAX_CLUSTER_NAME}", name.len())));
    }
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-');
    if let Some((at, c)) = name.char_indices().find(|&(_, c)| !allowed(c)) {
        let reason = format!("{c:?} at byte {at} is not allowed; use A-Z, a-z, 0-9, '.', '_' and '-'");
        return Err(malformed(reason));
    }
    Ok(name)
}

/// The text of `ConfigError::WeakCookie`: what is wrong and how to set a cookie.
pub(super) fn weak_cookie_text(var: &str, len: usize, is_default: bool) -> String {
    let what = match (len, is_default) {
        (0, _) => format!("{COOKIE_VAR} is not set (the built-in default cookie is public)"),
        (_, true) => format!("{var} is the built-in default cookie, which is public"),
        _ => format!("{var} is {len} bytes"),
    };
    format!(
        "{what}; set it to at least {COOKIE_BYTES_MIN} random bytes, e.g. \
         `export {COOKIE_VAR}=$(head -c 24 /dev/urandom | base64)`, the same on every node, \
         or set COREMESH_DEV=1 (ConfigBuilder::dev_mode(true)) for a development cluster"
    )
}

/// Checks a cookie's length; errors name `var` and the length, never the bytes.
pub(super) fn check_cookie(var: &str, cookie: Vec<u8>) -> Result<Vec<u8>, ConfigError> {
    if cookie.iter().all(u8::is_ascii_whitespace) {
        return Err(ConfigError::Empty { var: var.to_owned() });
    }
    if cookie.len() > COOKIE_BYTES_MAX {
        return Err(ConfigError::CookieTooLong {
            var: var.to_owned(),
            len: cookie.len(),
            max: COOKIE_BYTES_MAX,
        });
    }
    Ok(cookie)
}

/// Reads a secret variable like `EnvSource::get`, but a non-UTF-8 value is refused
/// without showing it.
fn env_secret(env: &EnvSource, var: &str) -> Result<Option<String>, ConfigError> {
    match env {
        EnvSource::Process => decode_secret(var, std::env::var_os(var)),
        EnvSource::Custom(lookup) => Ok(lookup(var)),
    }
}

/// A raw secret as text; non-UTF-8 is refused with the value redacted.
pub(super) fn decode_secret(var: &str, raw: Option<OsString>) -> Result<Option<String>, ConfigError> {
    match raw {
        None => Ok(None),
        Some(raw) => raw.into_string().map(Some).map_err(|_| ConfigError::Malformed {
            var: var.to_owned(),
            value: REDACTED.to_owned(),
            reason: "not valid UTF-8".to_owned(),
        }),
    }
}

/// Parses `COREMESH_SEEDS`: comma-separated `ip:port` items, whitespace around them
/// tolerated; empty or only whitespace is no seeds.
pub(super) fn parse_env_seeds(text: &str) -> Result<Vec<SocketAddr>, ConfigError> {
    if text.trim().is_empty() {
        return Ok(Vec::new());
    }
    let malformed =
        |reason: String| ConfigError::Malformed { var: SEEDS_VAR.to_owned(), value: text.to_owned(), reason };
    let mut seeds = Vec::new();
    for (index, item) in text.split(',').enumerate() {
        let item = item.trim();
        if item.is_empty() {
            return Err(malformed(format!("item {} is empty", index + 1)));
        }
        let addr =
            parse_socket_addr(item).map_err(|reason| malformed(format!("item {}: {reason}", index + 1)))?;
        seeds.push(addr);
    }
    check_seeds(SEEDS_VAR, text, seeds)
}

fn check_builder_seeds(seeds: Vec<SocketAddr>) -> Result<Vec<SocketAddr>, ConfigError> {
    let shown = seeds.iter().map(SocketAddr::to_string).collect::<Vec<_>>().join(",");
    check_seeds(SEEDS_METHOD, &shown, seeds)
}

/// Refuses a seed with port 0 (nothing can be dialled there) and a repeated seed.
fn check_seeds(var: &str, shown: &str, seeds: Vec<SocketAddr>) -> Result<Vec<SocketAddr>, ConfigError> {
    let mut seen = HashSet::with_capacity(seeds.len());
    for (index, &seed) in seeds.iter().enumerate() {
        if seed.port() == 0 {
            return Err(ConfigError::Malformed {
                var: var.to_owned(),
                value: shown.to_owned(),
                reason: format!("item {}: {seed} has port 0, which cannot be dialled", index + 1),
            });
        }
        if !seen.insert(seed) {
            return Err(ConfigError::DuplicateSeed { var: var.to_owned(), value: shown.to_owned(), seed });
        }
    }
    Ok(seeds)
}
