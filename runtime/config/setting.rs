//! Where a setting's value comes from: [`EnvSource`] (the process environment,
//! or a lookup a test injects) and one numeric [`Setting`] (its variable, builder
//! method, bounds and default; builder, else variable, else default).
//!
//! Owns: [`EnvSource`], [`Setting`]. Must never: accept a value outside its
//! bounds, replace a non-UTF-8 value instead of refusing it, or name anything but
//! the variable or builder method the value came from.

use std::ffi::OsString;
use std::sync::Arc;

use super::ConfigError;

type EnvFn = dyn Fn(&str) -> Option<String> + Send + Sync;

/// Where unset settings are looked up.
#[derive(Clone, Default)]
pub(super) enum EnvSource {
    /// `std::env::var_os`, refusing values that are not UTF-8.
    #[default]
    Process,
    /// An injected lookup (tests).
    Custom(Arc<EnvFn>),
}

impl EnvSource {
    /// The value of `var`: `None` when unset; `Some("")` when set but empty.
    pub(super) fn get(&self, var: &str) -> Result<Option<String>, ConfigError> {
        match self {
            EnvSource::Process => decode_env(var, std::env::var_os(var)),
            EnvSource::Custom(lookup) => Ok(lookup(var)),
        }
    }
}

/// A raw environment value as text; non-UTF-8 is refused, not replaced.
pub(super) fn decode_env(var: &str, raw: Option<OsString>) -> Result<Option<String>, ConfigError> {
    match raw {
        None => Ok(None),
        Some(raw) => raw.into_string().map(Some).map_err(|raw| ConfigError::Malformed {
            var: var.to_owned(),
            value: raw.to_string_lossy().into_owned(),
            reason: "not valid UTF-8".to_owned(),
        }),
    }
}

/// One numeric setting: its names, bounds and default.
pub(super) struct Setting {
    pub(super) method: &'static str,
    pub(super) var: &'static str,
    pub(super) min: u64,
    pub(super) max: u64,
    pub(super) power_of_two: bool,
    pub(super) default: u64,
}

impl Setting {
    /// The builder's value if given, else the variable's if set, else the default;
    /// validated against the bounds either way.
    pub(super) fn resolve(&self, builder: Option<u64>, env: &EnvSource) -> Result<u64, ConfigError> {
        if let Some(value) = builder {
            return self.check(self.method, value, &value.to_string());
        }
        let Some(text) = env.get(self.var)? else {
            return Ok(self.default);
        };
        let trimmed = text.trim();
        if trimmed.is_empty() {
            return Err(ConfigError::Empty { var: self.var.to_owned() });
        }
        if !trimmed.bytes().all(|b| b.is_ascii_digit()) {
            return Err(ConfigError::Malformed {
                var: self.var.to_owned(),
                value: text.clone(),
                reason: format!("{trimmed:?} is not a whole number"),
            });
        }
        match trimmed.parse::<u64>() {
            Ok(value) => self.check(self.var, value, &text),
            // All digits, so it failed by overflowing u64: far above `max`.
            Err(_) => Err(self.out_of_range(self.var, &text)),
        }
    }

    fn check(&self, var: &str, value: u64, shown: &str) -> Result<u64, ConfigError> {
        if value < self.min || value > self.max {
            return Err(self.out_of_range(var, shown));
        }
        if self.power_of_two && !value.is_power_of_two() {
            return Err(ConfigError::NotPowerOfTwo { var: var.to_owned(), value: shown.to_owned() });
        }
        Ok(value)
    }

    fn out_of_range(&self, var: &str, shown: &str) -> ConfigError {
        ConfigError::OutOfRange { var: var.to_owned(), value: shown.to_owned(), min: self.min, max: self.max }
    }
}
