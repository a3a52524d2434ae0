//! The validated settings of a node, read once from the builder and the environment.
//!
//! Owns: [`Config`] (what the runtime reads), [`ConfigBuilder`] (how it is made),
//! [`ConfigError`] (why it was refused), and the `COREMESH_*` variables below. Each
//! setting comes from its builder method if called, else from its variable if set,
//! else from its default; a variable whose builder method was called is not read.
//!
//! | Variable                             | Builder method              | Default       | Accepted                 |
//! |--------------------------------------|-----------------------------|---------------|--------------------------|
//! | `COREMESH_CORES`                     | `cores`                     | below         | list: `0-3,6`            |
//! | `COREMESH_CONTROL_CORE`              | `control_core`              | below         | one CPU                  |
//! | `COREMESH_MAILBOX_BYTES`             | `mailbox_bytes_max`         | 64 KiB        | 4 KiB..=1 GiB            |
//! | `COREMESH_RING_BYTES`                | `ring_bytes`                | 256 KiB       | power of two, same       |
//! | `COREMESH_IDLE_SPIN_US`              | `idle_spin_us`              | 50            | 0..=1 000 000            |
//! | `COREMESH_INIT_TIMEOUT_MS`           | `init_timeout_ms`           | 5000          | 1..=86 400 000           |
//! | `COREMESH_ASK_TIMEOUT_MS`            | `ask_timeout_ms`            | 5000          | 1..=86 400 000           |
//! | `COREMESH_INFLIGHT_ASKS_MAX`         | `inflight_asks_max`         | 65 536        | 1..=16 777 216           |
//! | `COREMESH_LISTEN`                    | `listen`                    | `127.0.0.1:0` | `ip:port`, `[ip6]:port`  |
//! | `COREMESH_SEEDS`                     | `seeds`                     | none          | list of `ip:port`        |
//! | `COREMESH_CLUSTER`                   | `cluster`                   | `coremesh`    | 1..=64 of `A-Za-z0-9._-` |
//! | `COREMESH_COOKIE`                    | `cookie`                    | none          | 16..=1024 bytes          |
//! | `COREMESH_DEV`                       | `dev_mode`                  | 0             | `1` or `0`               |
//! | `COREMESH_TLS_CERT`                  | `tls_cert_file`             | none (no TLS) | PEM file path            |
//! | `COREMESH_TLS_KEY`                   | `tls_key_file`              | none (no TLS) | PEM file path            |
//! | `COREMESH_TLS_CA`                    | `tls_ca_file`               | none (no TLS) | PEM file path            |
//! | `COREMESH_MAX_FRAME`                 | `max_frame_bytes`           | 4 MiB         | 4 KiB..=1 GiB            |
//! | `COREMESH_HEARTBEAT_MS`              | `heartbeat_interval_ms`     | 500           | 10..=60 000              |
//! | `COREMESH_CONNECTION_TIMEOUT_MS`     | `connection_timeout_ms`     | 3000          | 20..=600 000, > above    |
//! | `COREMESH_HANDSHAKE_TIMEOUT_MS`      | `handshake_timeout_ms`      | 3000          | 10..=600 000             |
//! | `COREMESH_HANDSHAKES_MAX`            | `handshakes_max`            | 256           | 1..=1 048 576            |
//! | `COREMESH_HANDSHAKES_PER_SOURCE_MAX` | `handshakes_per_source_max` | 32            | 1..=1 048 576            |
//! | `COREMESH_METRICS`                   | `metrics`                   | off           | `ip:port` (port 0: any)  |
//!
//! CPUs must be in the allowed set, listed once, at most 4096 workers; whitespace
//! around list items and numbers is tolerated, an empty value is an error.
//!
//! Addresses are IP literals with a port (`10.0.0.1:7000`, `[::1]:7000`); host names are
//! refused, not resolved. Seeds are listed once each, none with port 0; an empty or unset
//! `COREMESH_SEEDS` means none. The cookie is taken byte for byte (not trimmed; empty or
//! only whitespace is refused) and must be at least 16 bytes; unset, or set to the
//! well-known [`Config::DEFAULT_COOKIE`], is refused too, unless the node is a development
//! node (`COREMESH_DEV=1`, [`Config::dev_mode`]): then any 1..=1024 bytes are accepted and
//! unset means the default ([`Config::cookie_is_default`], which the node logs). The
//! cookie never appears in a `Debug` output or an error, only its length. The connection
//! timeout must be larger than the heartbeat interval. TLS (`tls.rs`): all three files or
//! none; each is read and checked by `build`.
//!
//! CPU defaults, from the allowed set (`sched_getaffinity`): with three or more allowed
//! CPUs the workers are all but the last and the control thread has the last to itself;
//! with one or two, the workers are all of them and the control thread shares the last
//! ([`Config::control_shares_worker_cpu`], which the runtime logs). Workers given without
//! a control CPU: control takes the first allowed CPU that is not a worker, else shares
//! the last worker's. A control CPU given without workers: the workers are the other
//! allowed CPUs when that leaves two or more, else all allowed CPUs (shared). A default
//! worker list keeps the first 4096 CPUs on larger machines.
//!
//! Must never: fall back silently on a bad value (every refusal is a [`ConfigError`]
//! naming the variable or builder method and the value), or read the environment after
//! [`ConfigBuilder::build`] returns: a [`Config`] is plain data.
//!
//! Why timeouts are capped at a day: the runtime adds them to `Instant`s, and a deadline
//! past the clock's range would panic there instead of being refused here.

use std::fmt;
use std::sync::Arc;

#[path = "cpu_set.rs"]
mod cpu_set;
#[path = "limits.rs"]
mod limits;
#[path = "net.rs"]
mod net;
#[path = "setting.rs"]
mod setting;
#[path = "tls.rs"]
mod tls;

#[cfg(test)]
use setting::decode_env;
use setting::{EnvSource, Setting};
pub(crate) use tls::TlsFiles;

#[cfg(test)]
#[path = "net_tests.rs"]
mod net_tests;
#[cfg(test)]
#[path = "tests.rs"]
mod tests;
#[cfg(test)]
#[path = "tls_tests.rs"]
mod tls_tests;

const CORES_VAR: &str = "COREMESH_CORES";
const CONTROL_VAR: &str = "COREMESH_CONTROL_CORE";

/// The most worker cores a node may have (the width of the cross-core ring grid).
pub(crate) const WORKER_CPUS_MAX: usize = 4096;
const BYTES_MIN: u64 = 4096;
const BYTES_MAX: u64 = 1 << 30;
const TIMEOUT_MS_MAX: u64 = 24 * 60 * 60 * 1000;

const MAILBOX_BYTES: Setting = Setting {
    method: "ConfigBuilder::mailbox_bytes_max",
    var: "COREMESH_MAILBOX_BYTES",
    min: BYTES_MIN,
    max: BYTES_MAX,
    power_of_two: false,
    default: 64 << 10,
};
const RING_BYTES: Setting = Setting {
    method: "ConfigBuilder::ring_bytes",
    var: "COREMESH_RING_BYTES",
    min: BYTES_MIN,
    max: BYTES_MAX,
    power_of_two: true,
    default: 256 << 10,
};
const IDLE_SPIN_US: Setting = Setting {
    method: "ConfigBuilder::idle_spin_us",
    var: "COREMESH_IDLE_SPIN_US",
    min: 0,
    max: 1_000_000,
    power_of_two: false,
    default: 50,
};
const INIT_TIMEOUT_MS: Setting = Setting {
    method: "ConfigBuilder::init_timeout_ms",
    var: "COREMESH_INIT_TIMEOUT_MS",
    min: 1,
    max: TIMEOUT_MS_MAX,
    power_of_two: false,
    default: 5000,
};
const ASK_TIMEOUT_MS: Setting = Setting {
    method: "ConfigBuilder::ask_timeout_ms",
    var: "COREMESH_ASK_TIMEOUT_MS",
    min: 1,
    max: TIMEOUT_MS_MAX,
    power_of_two: false,
    default: 5000,
};

const INFLIGHT_ASKS_MAX: Setting = Setting {
    method: "ConfigBuilder::inflight_asks_max",
    var: "COREMESH_INFLIGHT_ASKS_MAX",
    min: 1,
    max: 1 << 24,
    power_of_two: false,
    default: 65_536,
};

// Byte sizes are validated as u64 and stored as usize: the cap must fit.
const _: () = assert!(BYTES_MAX <= usize::MAX as u64);

/// Why a configuration was refused. `var` names the environment variable (such as
/// `COREMESH_CORES`) or the builder method (such as `ConfigBuilder::ring_bytes`) the bad
/// value came from; `value` is that value as given.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum ConfigError {
    /// The value does not parse; `reason` says where and why.
    #[error("{var}={value}: {reason}")]
    Malformed {
        /// Variable or builder method.
        var: String,
        /// The value as given (lossily decoded when not UTF-8).
        value: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A CPU outside this process's allowed set (taskset, cgroup cpuset).
    #[error(
        "{var}={value}: CPU {cpu} is not in this process's allowed set {{{}}}",
        cpu_set::format_cpu_list(.allowed)
    )]
    CpuNotAllowed {
        /// Variable or builder method.
        var: String,
        /// The value as given.
        value: String,
        /// The first CPU of the value that is not allowed.
        cpu: usize,
        /// The allowed set, ascending.
        allowed: Vec<usize>,
    },
    /// A CPU listed twice, directly or through overlapping ranges.
    #[error("{var}={value}: CPU {cpu} is listed more than once")]
    DuplicateCpu {
        /// Variable or builder method.
        var: String,
        /// The value as given.
        value: String,
        /// The first repeated CPU.
        cpu: usize,
    },
    /// Set, but to an empty value (or only whitespace; for a builder, no CPUs).
    #[error("{var} is set but empty; leave it unset for the default")]
    Empty {
        /// Variable or builder method.
        var: String,
    },
    /// A number outside its bounds.
    #[error("{var}={value}: must be between {min} and {max}")]
    OutOfRange {
        /// Variable or builder method.
        var: String,
        /// The value as given.
        value: String,
        /// The smallest accepted value.
        min: u64,
        /// The largest accepted value.
        max: u64,
    },
    /// A size that must be a power of two (`COREMESH_RING_BYTES`).
    #[error("{var}={value}: must be a power of two")]
    NotPowerOfTwo {
        /// Variable or builder method.
        var: String,
        /// The value as given.
        value: String,
    },
    /// More worker CPUs than a node supports.
    #[error("{var}={value}: {count} CPUs listed, at most {max} are supported")]
    TooManyCpus {
        /// Variable or builder method.
        var: String,
        /// The value as given.
        value: String,
        /// How many CPUs it lists.
        count: usize,
        /// The most a node supports.
        max: usize,
    },
    /// A cookie over the length limit. Only its length is shown, never its bytes.
    #[error("{var}: {len} bytes, at most {max}")]
    CookieTooLong {
        /// Variable or builder method.
        var: String,
        /// Its length in bytes.
        len: usize,
        /// The longest accepted, in bytes.
        max: usize,
    },
    /// A cookie too weak outside a development node: shorter than 16 bytes, or the
    /// built-in default (`is_default`, also when unset). Only its length is shown.
    #[error("{}", net::weak_cookie_text(.var, *.len, *.is_default))]
    WeakCookie {
        /// Variable or builder method (the variable when unset).
        var: String,
        /// Its length in bytes (0 when unset).
        len: usize,
        /// Whether it is the built-in default cookie (or unset).
        is_default: bool,
    },
    /// Some but not all of the three TLS files were given.
    #[error(
        "{missing} is not set, but {} {}: TLS needs COREMESH_TLS_CERT, COREMESH_TLS_KEY and \
         COREMESH_TLS_CA (or their builder methods) all set, or none of them for no TLS",
        .set.join(" and "), if .set.len() == 1 { "is" } else { "are" }
    )]
    TlsIncomplete {
        /// The first of the three variables not set.
        missing: String,
        /// Where those that were set came from.
        set: Vec<String>,
    },
    /// A TLS file that could not be read or parsed, or a key that does not match
    /// its certificate.
    #[error("{var}={path}: {reason}")]
    TlsFile {
        /// Variable or builder method.
        var: String,
        /// The path as given.
        path: String,
        /// What was wrong with it.
        reason: String,
    },
    /// A seed address listed twice.
    #[error("{var}={value}: seed {seed} is listed more than once")]
    DuplicateSeed {
        /// Variable or builder method.
        var: String,
        /// The value as given.
        value: String,
        /// The first repeated seed.
        seed: std::net::SocketAddr,
    },
    /// A connection timeout not larger than the heartbeat interval: every idle
    /// connection would be declared dead. Each value is named by the variable or
    /// builder method it came from (the variable when it is the default).
    #[error("{timeout_var}={timeout_ms} must be larger than {interval_var}={interval_ms}")]
    TimeoutNotAboveInterval {
        /// Where the timeout came from.
        timeout_var: String,
        /// The connection timeout, in milliseconds.
        timeout_ms: u64,
        /// Where the interval came from.
        interval_var: String,
        /// The heartbeat interval, in milliseconds.
        interval_ms: u64,
    },
    /// The OS would not say which CPUs this process may use.
    #[error("cannot read this process's allowed CPU set (sched_getaffinity): {reason}")]
    AffinityUnavailable {
        /// What the OS said.
        reason: String,
    },
}

/// The validated settings of a node. Plain data: nothing here reads the environment.
/// Its `Debug` output shows every setting but the cookie.
#[derive(Clone, PartialEq, Eq)]
pub struct Config {
    worker_cpus: Vec<usize>,
    control_cpu: usize,
    control_shares_worker_cpu: bool,
    mailbox_bytes_max: usize,
    ring_bytes: usize,
    idle_spin_us: u64,
    init_timeout_ms: u64,
    ask_timeout_ms: u64,
    inflight_asks_max: usize,
    net: net::NetSettings,
    limits: limits::LimitSettings,
    tls: tls::TlsSettings,
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Config");
        d.field("worker_cpus", &self.worker_cpus)
            .field("control_cpu", &self.control_cpu)
            .field("control_shares_worker_cpu", &self.control_shares_worker_cpu)
            .field("mailbox_bytes_max", &self.mailbox_bytes_max)
            .field("ring_bytes", &self.ring_bytes)
            .field("idle_spin_us", &self.idle_spin_us)
            .field("init_timeout_ms", &self.init_timeout_ms)
            .field("ask_timeout_ms", &self.ask_timeout_ms)
            .field("inflight_asks_max", &self.inflight_asks_max);
        self.net.debug_fields(&mut d);
        self.limits.debug_fields(&mut d);
        self.tls.debug_fields(&mut d);
        d.finish()
    }
}

impl Config {
    /// A builder with nothing set: [`build`](ConfigBuilder::build) reads each unset
    /// setting from its `COREMESH_*` variable, else uses its default.
    ///
    /// ```
    /// use coremesh::Config;
    ///
    /// let config = Config::builder()
    ///     .allowed_cpus([0, 1, 2, 3]) // pretend: this example must not depend on the machine
    ///     .env_source(|_| None) // nor on the environment
    ///     .cores([0, 1])
    ///     .cookie("at least sixteen random bytes")
    ///     .ring_bytes(64 << 10)
    ///     .build()?;
    /// assert_eq!(config.worker_cpus(), &[0, 1]);
    /// assert_eq!(config.control_cpu(), 2);
    /// assert!(!config.control_shares_worker_cpu());
    /// assert_eq!(config.ring_bytes(), 65536);
    /// assert_eq!(config.ask_timeout_ms(), 5000);
    /// # Ok::<(), coremesh::ConfigError>(())
    /// ```
    pub fn builder() -> ConfigBuilder {
        ConfigBuilder::default()
    }

    /// Everything from the environment, defaults elsewhere; the CPUs from this
    /// process's allowed set. Same as `Config::builder().build()`.
    pub fn from_env() -> Result<Config, ConfigError> {
        Config::builder().build()
    }

    /// The worker cores' CPUs, one entry per core, in order: `CoreId(i)` runs on
    /// `worker_cpus()[i]`. Never empty, at most 4096 entries, no repeats.
    pub fn worker_cpus(&self) -> &[usize] {
        &self.worker_cpus
    }

    /// The CPU of the control thread (gossip, connection setup, signals).
    pub fn control_cpu(&self) -> usize {
        self.control_cpu
    }

    /// Whether [`control_cpu`](Self::control_cpu) is also a worker's CPU (on machines
    /// with one or two allowed CPUs, or when set so). The runtime logs it.
    pub fn control_shares_worker_cpu(&self) -> bool {
        self.control_shares_worker_cpu
    }

    /// The bound on one actor's mailbox, in bytes of queued messages.
    pub fn mailbox_bytes_max(&self) -> usize {
        self.mailbox_bytes_max
    }

    /// The capacity of each cross-core SPSC ring, in bytes; a power of two.
    pub fn ring_bytes(&self) -> usize {
        self.ring_bytes
    }

    /// How long an idle core keeps polling before it parks, in microseconds.
    pub fn idle_spin_us(&self) -> u64 {
        self.idle_spin_us
    }

    /// How long an actor's async init may take before its spawn fails, in milliseconds.
    pub fn init_timeout_ms(&self) -> u64 {
        self.init_timeout_ms
    }

    /// The timeout of an ask that does not set its own, in milliseconds.
    pub fn ask_timeout_ms(&self) -> u64 {
        self.ask_timeout_ms
    }

    /// The most asks one worker core may have waiting for replies; one more is
    /// refused with `AskError::TooManyInFlight` and nothing is sent.
    pub fn inflight_asks_max(&self) -> usize {
        self.inflight_asks_max
    }
}

/// Builds a [`Config`]; see the module docs for each setting's variable and default.
/// Values set here win over the environment and are validated the same way.
#[derive(Clone, Default)]
pub struct ConfigBuilder {
    cores: Option<Vec<usize>>,
    control_core: Option<usize>,
    mailbox_bytes_max: Option<usize>,
    ring_bytes: Option<usize>,
    idle_spin_us: Option<u64>,
    init_timeout_ms: Option<u64>,
    ask_timeout_ms: Option<u64>,
    inflight_asks_max: Option<usize>,
    net: net::NetBuilder,
    limits: limits::LimitBuilder,
    tls: tls::TlsBuilder,
    env: EnvSource,
    allowed_cpus: Option<Vec<usize>>,
}

impl fmt::Debug for ConfigBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let env = match self.env {
            EnvSource::Process => "process environment",
            EnvSource::Custom(_) => "custom lookup",
        };
        let mut d = f.debug_struct("ConfigBuilder");
        d.field("cores", &self.cores)
            .field("control_core", &self.control_core)
            .field("mailbox_bytes_max", &self.mailbox_bytes_max)
            .field("ring_bytes", &self.ring_bytes)
            .field("idle_spin_us", &self.idle_spin_us)
            .field("init_timeout_ms", &self.init_timeout_ms)
            .field("ask_timeout_ms", &self.ask_timeout_ms)
            .field("inflight_asks_max", &self.inflight_asks_max);
        self.net.debug_fields(&mut d);
        self.limits.debug_fields(&mut d);
        self.tls.debug_fields(&mut d);
        d.field("env_source", &env).field("allowed_cpus", &self.allowed_cpus).finish()
    }
}

impl ConfigBuilder {
    /// The worker cores' CPUs, in order (`CoreId(i)` runs on the i-th). Overrides
    /// `COREMESH_CORES`. Must be non-empty, at most 4096, no repeats, all allowed.
    pub fn cores(mut self, cpus: impl IntoIterator<Item = usize>) -> Self {
        self.cores = Some(cpus.into_iter().collect());
        self
    }

    /// The control thread's CPU; it may be a worker's. Overrides `COREMESH_CONTROL_CORE`.
    pub fn control_core(mut self, cpu: usize) -> Self {
        self.control_core = Some(cpu);
        self
    }

    /// The per-actor mailbox bound in bytes, 4 KiB..=1 GiB. Overrides
    /// `COREMESH_MAILBOX_BYTES`.
    pub fn mailbox_bytes_max(mut self, n: usize) -> Self {
        self.mailbox_bytes_max = Some(n);
        self
    }

    /// Each cross-core ring's capacity in bytes: a power of two, 4 KiB..=1 GiB.
    /// Overrides `COREMESH_RING_BYTES`.
    pub fn ring_bytes(mut self, n: usize) -> Self {
        self.ring_bytes = Some(n);
        self
    }

    /// How long an idle core polls before parking, 0..=1 000 000 µs. Overrides
    /// `COREMESH_IDLE_SPIN_US`.
    pub fn idle_spin_us(mut self, us: u64) -> Self {
        self.idle_spin_us = Some(us);
        self
    }

    /// The actor async-init timeout, 1..=86 400 000 ms. Overrides
    /// `COREMESH_INIT_TIMEOUT_MS`.
    pub fn init_timeout_ms(mut self, ms: u64) -> Self {
        self.init_timeout_ms = Some(ms);
        self
    }

    /// The default ask timeout, 1..=86 400 000 ms. Overrides `COREMESH_ASK_TIMEOUT_MS`.
    pub fn ask_timeout_ms(mut self, ms: u64) -> Self {
        self.ask_timeout_ms = Some(ms);
        self
    }

    /// The per-core bound on asks waiting for replies, 1..=16 777 216.
    /// Overrides `COREMESH_INFLIGHT_ASKS_MAX`.
    pub fn inflight_asks_max(mut self, n: usize) -> Self {
        self.inflight_asks_max = Some(n);
        self
    }

    /// Replace the environment lookup (tests inject a map); default is the process
    /// environment (`std::env::var_os`, refusing non-UTF-8 values). `None` means unset;
    /// `Some("")` is set but empty, an error.
    pub fn env_source(mut self, f: impl Fn(&str) -> Option<String> + Send + Sync + 'static) -> Self {
        self.env = EnvSource::Custom(Arc::new(f));
        self
    }

    /// Replace the allowed CPU set (tests); default is `sched_getaffinity` of this
    /// process, read in [`build`](Self::build). Order and repeats do not matter.
    pub fn allowed_cpus(mut self, cpus: impl IntoIterator<Item = usize>) -> Self {
        self.allowed_cpus = Some(cpus.into_iter().collect());
        self
    }

    /// Validates every setting and reads the ones not set here from the environment.
    /// The returned [`Config`] never looks at the environment again.
    pub fn build(self) -> Result<Config, ConfigError> {
        let env = &self.env;
        let (worker_cpus, control_cpu) =
            cpu_set::choose(self.cores, self.control_core, self.allowed_cpus, env)?;

        let as_u64 = |n: Option<usize>| n.map(|n| u64::try_from(n).unwrap_or(u64::MAX));
        let mailbox_bytes_max = MAILBOX_BYTES.resolve(as_u64(self.mailbox_bytes_max), env)?;
        let ring_bytes = RING_BYTES.resolve(as_u64(self.ring_bytes), env)?;
        let idle_spin_us = IDLE_SPIN_US.resolve(self.idle_spin_us, env)?;
        let init_timeout_ms = INIT_TIMEOUT_MS.resolve(self.init_timeout_ms, env)?;
        let ask_timeout_ms = ASK_TIMEOUT_MS.resolve(self.ask_timeout_ms, env)?;
        let inflight_asks_max = INFLIGHT_ASKS_MAX.resolve(as_u64(self.inflight_asks_max), env)?;
        let net = self.net.resolve(env, self.tls.resolve_dev(env)?)?;
        let limits = self.limits.resolve(env)?;
        let tls = self.tls.resolve(env, net.cluster())?;

        Ok(Config {
            control_shares_worker_cpu: worker_cpus.contains(&control_cpu),
            worker_cpus,
            control_cpu,
            // Both are at most BYTES_MAX, which fits in usize (asserted above).
            mailbox_bytes_max: mailbox_bytes_max as usize,
            ring_bytes: ring_bytes as usize,
            idle_spin_us,
            init_timeout_ms,
            ask_timeout_ms,
            // At most 2^24 (its Setting's max), which fits in usize.
            inflight_asks_max: inflight_asks_max as usize,
            net,
            limits,
            tls,
        })
    }
}
