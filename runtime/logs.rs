//! Logs for programs built on coremesh: [`init_from_env`].
//!
//! Owns: the `COREMESH_LOG` variable (`off`, `error`, `warn`, `info`,
//! `debug` or `trace`; unset: `warn`) and installing a `tracing` subscriber
//! that writes to stderr at that level. The library itself only emits
//! `tracing` events and never installs a subscriber: a service that has its
//! own keeps it, and one that calls nothing sees nothing. The examples and
//! the `coremesh-node` fixture call [`init_from_env`] first.
//!
//! Must never: panic on a bad value (it is an error naming the variable and
//! the value), or replace a subscriber the program installed.

/// The variable [`init_from_env`] reads.
pub const LOG_VAR: &str = "COREMESH_LOG";

/// Why `COREMESH_LOG` was refused. Its `Debug` is its message, so a `main`
/// that returns it prints what was wrong.
#[derive(Clone, PartialEq, Eq, thiserror::Error)]
#[error("{LOG_VAR}={value:?}: not a log level; use off, error, warn, info, debug or trace")]
pub struct LogError {
    /// The value found.
    pub value: String,
}

impl std::fmt::Debug for LogError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(self, f)
    }
}

/// The level `value` names (`None`: `off`).
fn level(value: &str) -> Result<Option<tracing::Level>, LogError> {
    Ok(Some(match value.trim().to_ascii_lowercase().as_str() {
        "off" => return Ok(None),
        "error" => tracing::Level::ERROR,
        "warn" | "" => tracing::Level::WARN,
        "info" => tracing::Level::INFO,
        "debug" => tracing::Level::DEBUG,
        "trace" => tracing::Level::TRACE,
        _ => return Err(LogError { value: value.to_string() }),
    }))
}

/// Installs a subscriber writing coremesh's (and the program's) `tracing`
/// events to stderr at the level `COREMESH_LOG` names (default `warn`),
/// unless the program installed one already.
///
/// ```
/// coremesh::logs::init_from_env()?;
/// # Ok::<(), coremesh::logs::LogError>(())
/// ```
pub fn init_from_env() -> Result<(), LogError> {
    let value = std::env::var(LOG_VAR).unwrap_or_default();
    let Some(level) = level(&value)? else { return Ok(()) };
    // Another subscriber already installed wins; that is not an error.
    let _ = tracing_subscriber::fmt().with_writer(std::io::stderr).with_max_level(level).try_init();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_are_read_and_a_bad_value_names_the_variable() {
        assert_eq!(level("info"), Ok(Some(tracing::Level::INFO)));
        assert_eq!(level(" Debug "), Ok(Some(tracing::Level::DEBUG)));
        assert_eq!(level(""), Ok(Some(tracing::Level::WARN)));
        assert_eq!(level("off"), Ok(None));
        let e = level("loud").unwrap_err();
        assert_eq!(
            e.to_string(),
            "COREMESH_LOG=\"loud\": not a log level; use off, error, warn, info, debug or trace"
        );
    }
}
