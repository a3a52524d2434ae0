//! One numeric setting of a node: its variable, its builder method, its bounds and
//! its default, and how a value is taken (builder, else variable, else default).
//!
//! Owns: [`Setting`]. Must never: accept a value outside its bounds, or name
//! anything but the variable or builder method the value came from.

use super::{ConfigError, EnvSource};

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
