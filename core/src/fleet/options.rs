//! The fleet breaker's options declared once (like [`crate::schema::OPTIONS`] for the local
//! breaker): spelling, kind, default, bounds and doc of each, and a setter by name, so bindings
//! loop over [`FLEET_OPTIONS`] instead of typing the names again, and a test proves that every
//! binding lists every option with the same default.

use super::{FleetConfig, StoreFailure};
use crate::error::ConfigError;
use crate::schema::{OptionInfo, OptionKind, OptionValue, option};

/// Every fleet option (beyond the breaker's name), in a stable order.
pub const FLEET_OPTIONS: &[OptionInfo] = &[
    option(
        "sync_interval",
        OptionKind::Duration,
        "250 ms",
        "1 ms to max_staleness",
        "how often an instance syncs with the store (and at once on a would-trip or a probe verdict)",
    ),
    option(
        "on_store_failure",
        OptionKind::Text,
        "local",
        "local, open or closed",
        "what decides once the store has not answered for max_staleness",
    ),
    option(
        "window",
        OptionKind::Duration,
        "10 s",
        ">= 1 ms per bucket",
        "the window the fleet's rates are measured over",
    ),
    option("buckets", OptionKind::Count, "10", "1 to 1000", "buckets of the window"),
    option(
        "minimum_calls",
        OptionKind::Count,
        "20",
        ">= 0",
        "calls the window must hold, summed over the fleet, before a rate may trip it",
    ),
    option(
        "failure_rate_threshold",
        OptionKind::Number,
        "0.5",
        "(0, 1], or none",
        "fleet-wide failure rate over the window that opens it",
    ),
    option(
        "slow_call_rate_threshold",
        OptionKind::Number,
        "none",
        "(0, 1], or none",
        "fleet-wide slow-call rate (as each local breaker classifies calls) that opens it",
    ),
    option("reset_timeout", OptionKind::Duration, "30 s", ">= 1 ms, <= max_reset_timeout", "the first open duration"),
    option("backoff_multiplier", OptionKind::Number, "2", "finite, >= 1", "open duration growth per re-opening"),
    option("max_reset_timeout", OptionKind::Duration, "300 s", ">= reset_timeout", "cap of the open duration"),
    option(
        "half_open_max_calls",
        OptionKind::Count,
        "1",
        "1 to 10,000",
        "probes admitted fleet-wide per half-open epoch",
    ),
    option("success_threshold", OptionKind::Count, "1", "1 to half_open_max_calls", "probe successes that close it"),
    option(
        "probe_lease",
        OptionKind::Duration,
        "10 s",
        ">= 1 ms",
        "how long a granted probe may take before its slot is given back",
    ),
    option(
        "max_staleness",
        OptionKind::Duration,
        "2 s",
        ">= sync_interval",
        "how old the last successful sync may be before on_store_failure decides",
    ),
    option("key_expiry", OptionKind::Duration, "24 h", ">= max_reset_timeout", "expiry of an abandoned breaker's key"),
];

/// The fleet option with this name, if any.
pub fn fleet_option_info(name: &str) -> Option<&'static OptionInfo> {
    FLEET_OPTIONS.iter().find(|o| o.name == name)
}

fn wrong_kind(name: &'static str, kind: OptionKind, value: &OptionValue) -> ConfigError {
    ConfigError::new(name, format!("expects a {}, got a {}", kind.as_str(), value.kind().as_str()))
}

impl FleetConfig {
    /// Sets the option called `name` (a [`FLEET_OPTIONS`] spelling) to `value`, refusing an
    /// unknown name or a value of the wrong kind with an error naming the option. A rate option
    /// takes `Text("none")` to turn its rule off; `on_store_failure` takes `Text`. Values are
    /// checked by [`FleetConfig::validate`].
    pub fn set(&mut self, name: &str, value: OptionValue) -> Result<(), ConfigError> {
        let Some(info) = fleet_option_info(name) else {
            return Err(ConfigError::new("option", format!("unknown fleet option {name:?}")));
        };
        let name = info.name;
        let rate = |value: &OptionValue| match value {
            OptionValue::Number(n) => Ok(Some(*n)),
            OptionValue::Text(t) if t == "none" => Ok(None),
            other => Err(wrong_kind(name, OptionKind::Number, other)),
        };
        let duration = |value: &OptionValue| match value {
            OptionValue::Duration(d) => Ok(*d),
            other => Err(wrong_kind(name, OptionKind::Duration, other)),
        };
        let count = |value: &OptionValue| match value {
            OptionValue::Count(c) => Ok(*c),
            other => Err(wrong_kind(name, OptionKind::Count, other)),
        };
        match name {
            "sync_interval" => self.sync_interval = duration(&value)?,
            "on_store_failure" => {
                self.on_store_failure = match &value {
                    OptionValue::Text(t) => StoreFailure::parse(t).ok_or_else(|| {
                        ConfigError::new(name, format!("expected \"local\", \"open\" or \"closed\", got {t:?}"))
                    })?,
                    other => return Err(wrong_kind(name, OptionKind::Text, other)),
                }
            }
            "window" => self.window = duration(&value)?,
            "buckets" => self.buckets = count(&value)?,
            "minimum_calls" => self.minimum_calls = count(&value)?,
            "failure_rate_threshold" => self.failure_rate_threshold = rate(&value)?,
            "slow_call_rate_threshold" => self.slow_call_rate_threshold = rate(&value)?,
            "reset_timeout" => self.reset_timeout = duration(&value)?,
            "backoff_multiplier" => match value {
                OptionValue::Number(n) => self.backoff_multiplier = n,
                other => return Err(wrong_kind(name, OptionKind::Number, &other)),
            },
            "max_reset_timeout" => self.max_reset_timeout = duration(&value)?,
            "half_open_max_calls" => self.half_open_max_calls = count(&value)?,
            "success_threshold" => self.success_threshold = count(&value)?,
            "probe_lease" => self.probe_lease = duration(&value)?,
            "max_staleness" => self.max_staleness = duration(&value)?,
            "key_expiry" => self.key_expiry = duration(&value)?,
            _ => unreachable!("every FLEET_OPTIONS name has a setter"),
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn every_option_has_a_setter_and_the_documented_default() {
        let defaults = FleetConfig::new("d");
        for info in FLEET_OPTIONS {
            let value = match info.kind {
                OptionKind::Duration => OptionValue::Duration(Duration::from_millis(7)),
                OptionKind::Count => OptionValue::Count(3),
                OptionKind::Number => OptionValue::Number(0.25),
                OptionKind::Text => OptionValue::Text("open".to_owned()),
                OptionKind::Seed => OptionValue::Seed(1),
            };
            let mut c = defaults.clone();
            c.set(info.name, value).unwrap_or_else(|e| panic!("{}: {e}", info.name));
            assert_ne!(c, defaults, "{} changed nothing", info.name);
        }
        let ms = |d: Duration| format!("{} ms", d.as_millis());
        assert_eq!(ms(defaults.sync_interval), "250 ms");
        assert_eq!(defaults.on_store_failure.as_str(), "local");
        assert_eq!(defaults.window, Duration::from_secs(10));
        assert_eq!(defaults.buckets.to_string(), fleet_option_info("buckets").unwrap().default);
        assert_eq!(defaults.minimum_calls.to_string(), fleet_option_info("minimum_calls").unwrap().default);
        assert_eq!(format!("{}", defaults.failure_rate_threshold.unwrap()), "0.5");
        assert_eq!(defaults.slow_call_rate_threshold, None);
        assert_eq!(defaults.reset_timeout, Duration::from_secs(30));
        assert_eq!(format!("{}", defaults.backoff_multiplier), "2");
        assert_eq!(defaults.max_reset_timeout, Duration::from_secs(300));
        assert_eq!(defaults.half_open_max_calls.to_string(), "1");
        assert_eq!(defaults.success_threshold.to_string(), "1");
        assert_eq!(defaults.probe_lease, Duration::from_secs(10));
        assert_eq!(defaults.max_staleness, Duration::from_secs(2));
        assert_eq!(defaults.key_expiry, Duration::from_secs(86_400));
    }

    #[test]
    fn refusals_name_the_option() {
        let mut c = FleetConfig::new("r");
        assert_eq!(c.set("nope", OptionValue::Count(1)).unwrap_err().option(), "option");
        assert_eq!(c.set("buckets", OptionValue::Number(1.0)).unwrap_err().option(), "buckets");
        assert_eq!(c.set("on_store_failure", OptionValue::Text("x".into())).unwrap_err().option(), "on_store_failure");
        c.set("failure_rate_threshold", OptionValue::Text("none".into())).unwrap();
        assert_eq!(c.failure_rate_threshold, None);
        assert_eq!(c.validate().unwrap_err().option(), "failure_rate_threshold");
    }
}
