//! The public surface declared once: every configuration option and every metrics field, with
//! the facts a binding needs to expose it (spelling, kind, unit, default, bounds, one-line doc).
//!
//! Bindings loop over [`OPTIONS`] and [`METRICS`] instead of typing the names again: the C ABI
//! exports them (`circuit_option_count`, `circuit_option_info`, `circuit_config_set_count`, ...),
//! and a test walks them to prove that every binding's signatures, stubs and docs list every
//! option with the same default. To add an option: add it here and to
//! [`crate::ConfigBuilder`] (the `setters!` list and the rule in `build`), then document it.

use std::time::Duration;

use crate::config::ConfigBuilder;
use crate::error::ConfigError;

spelled_enum! {
    /// How an option's value is written.
    OptionKind {
        /// Free text.
        Text = 0 => "text",
        /// A whole number in `0..=u32::MAX`.
        Count = 1 => "count",
        /// A floating-point number (a ratio or a factor).
        Number = 2 => "number",
        /// A non-negative duration (nanoseconds in C, seconds in Python, milliseconds in Node, a
        /// `time.Duration` in Go).
        Duration = 3 => "duration",
        /// A 64-bit unsigned integer.
        Seed = 4 => "seed",
    }
}

/// One configuration option.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OptionInfo {
    /// The snake_case name (bindings derive camelCase or PascalCase from it).
    pub name: &'static str,
    /// How its value is written.
    pub kind: OptionKind,
    /// The default, as documented in every binding's options table.
    pub default: &'static str,
    /// The valid values.
    pub bounds: &'static str,
    /// One line of documentation.
    pub doc: &'static str,
}

/// A value for [`ConfigBuilder::set`].
#[derive(Debug, Clone, PartialEq)]
pub enum OptionValue {
    /// For [`OptionKind::Text`].
    Text(String),
    /// For [`OptionKind::Count`].
    Count(u32),
    /// For [`OptionKind::Number`].
    Number(f64),
    /// For [`OptionKind::Duration`].
    Duration(Duration),
    /// For [`OptionKind::Seed`].
    Seed(u64),
}

impl OptionValue {
    /// The kind this value is written as.
    pub fn kind(&self) -> OptionKind {
        match self {
            OptionValue::Text(_) => OptionKind::Text,
            OptionValue::Count(_) => OptionKind::Count,
            OptionValue::Number(_) => OptionKind::Number,
            OptionValue::Duration(_) => OptionKind::Duration,
            OptionValue::Seed(_) => OptionKind::Seed,
        }
    }
}

pub(crate) const fn option(
    name: &'static str,
    kind: OptionKind,
    default: &'static str,
    bounds: &'static str,
    doc: &'static str,
) -> OptionInfo {
    OptionInfo { name, kind, default, bounds, doc }
}

/// Every option, in a stable order (the C ABI's option codes are indices into it).
pub const OPTIONS: &[OptionInfo] = &[
    option("name", OptionKind::Text, "none", "any text", "the breaker's name, carried by rejections and events"),
    option(
        "failure_threshold",
        OptionKind::Count,
        "5; 0 (off) when a rate rule is set",
        ">= 0; 0 turns the rule off",
        "consecutive failures that trip the breaker",
    ),
    option(
        "failure_rate_threshold",
        OptionKind::Number,
        "off",
        "(0, 1]",
        "trip when window failures / calls reach this",
    ),
    option("slow_call_duration", OptionKind::Duration, "off", "> 0", "a call strictly longer than this is slow"),
    option(
        "slow_call_rate_threshold",
        OptionKind::Number,
        "off",
        "(0, 1]; needs slow_call_duration",
        "trip when window slow calls / calls reach this",
    ),
    option(
        "minimum_calls",
        OptionKind::Count,
        "20, or window_size if smaller",
        ">= 1; <= window_size for a count window",
        "counted outcomes the window needs before a rate rule may trip",
    ),
    option(
        "window_size",
        OptionKind::Count,
        "100",
        "1 to 1,000,000; not with window_duration",
        "count window: the last N counted outcomes",
    ),
    option("window_duration", OptionKind::Duration, "off (count window)", "> 0", "time window over this duration"),
    option(
        "window_buckets",
        OptionKind::Count,
        "10",
        "1 to 10,000, dividing window_duration; needs window_duration",
        "buckets of the time window",
    ),
    option("reset_timeout", OptionKind::Duration, "30 s", ">= 0", "the first open duration"),
    option("backoff_multiplier", OptionKind::Number, "1", "finite, >= 1", "open duration growth per re-opening"),
    option(
        "max_reset_timeout",
        OptionKind::Duration,
        "the larger of reset_timeout and 5 min",
        ">= reset_timeout",
        "cap of the open duration",
    ),
    option(
        "jitter",
        OptionKind::Number,
        "0",
        "[0, 1)",
        "scales each open duration by a random factor in (1 - jitter, 1]",
    ),
    option("jitter_seed", OptionKind::Seed, "random per breaker", "0 to 2^64 - 1", "fixes the jitter sequence"),
    option("half_open_max_calls", OptionKind::Count, "1", "1 to 10,000", "probes admitted per half-open generation"),
    option(
        "success_threshold",
        OptionKind::Count,
        "half_open_max_calls",
        "1 to half_open_max_calls",
        "probe successes that close the breaker",
    ),
    option(
        "half_open_max_wait",
        OptionKind::Duration,
        "the open duration that preceded half-open, at least 30 s, while a probe is out",
        ">= 0; 0 = off",
        "re-open if the first probe gets no verdict within this",
    ),
];

/// The option with this name, if any.
pub fn option_info(name: &str) -> Option<&'static OptionInfo> {
    OPTIONS.iter().find(|o| o.name == name)
}

impl ConfigBuilder {
    /// Sets the option called `name` (an [`OPTIONS`] spelling) to `value`, refusing an unknown
    /// name or a value of the wrong kind with an error naming the option. Values are checked by
    /// [`ConfigBuilder::build`], as with the typed setters.
    pub fn set(self, name: &str, value: OptionValue) -> Result<Self, ConfigError> {
        let Some(info) = option_info(name) else {
            return Err(ConfigError::new("option", format!("unknown option `{name}`")));
        };
        if value.kind() != info.kind {
            return Err(ConfigError::new(
                info.name,
                format!("must be a {} value, got a {} value", info.kind.as_str(), value.kind().as_str()),
            ));
        }
        Ok(match (info.name, value) {
            ("name", OptionValue::Text(v)) => self.name(v),
            ("failure_threshold", OptionValue::Count(v)) => self.failure_threshold(v),
            ("failure_rate_threshold", OptionValue::Number(v)) => self.failure_rate_threshold(v),
            ("slow_call_duration", OptionValue::Duration(v)) => self.slow_call_duration(v),
            ("slow_call_rate_threshold", OptionValue::Number(v)) => self.slow_call_rate_threshold(v),
            ("minimum_calls", OptionValue::Count(v)) => self.minimum_calls(v),
            ("window_size", OptionValue::Count(v)) => self.window_size(v),
            ("window_duration", OptionValue::Duration(v)) => self.window_duration(v),
            ("window_buckets", OptionValue::Count(v)) => self.window_buckets(v),
            ("reset_timeout", OptionValue::Duration(v)) => self.reset_timeout(v),
            ("backoff_multiplier", OptionValue::Number(v)) => self.backoff_multiplier(v),
            ("max_reset_timeout", OptionValue::Duration(v)) => self.max_reset_timeout(v),
            ("jitter", OptionValue::Number(v)) => self.jitter(v),
            ("jitter_seed", OptionValue::Seed(v)) => self.jitter_seed(v),
            ("half_open_max_calls", OptionValue::Count(v)) => self.half_open_max_calls(v),
            ("success_threshold", OptionValue::Count(v)) => self.success_threshold(v),
            ("half_open_max_wait", OptionValue::Duration(v)) => self.half_open_max_wait(v),
            _ => unreachable!("every schema option has a setter of its kind (tested)"),
        })
    }
}

spelled_enum! {
    /// How a metrics field is written.
    MetricKind {
        /// A state spelling.
        State = 0 => "state",
        /// A non-negative integer.
        Count = 1 => "count",
        /// A ratio in [0, 1].
        Rate = 2 => "rate",
        /// A duration.
        Duration = 3 => "duration",
        /// A duration, absent unless the breaker is open.
        OptionalDuration = 4 => "optional_duration",
    }
}

/// The value of one metrics field, by its kind (see [`crate::Metrics::values`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum MetricValue {
    /// For [`MetricKind::State`].
    State(crate::State),
    /// For [`MetricKind::Count`].
    Count(u64),
    /// For [`MetricKind::Rate`].
    Rate(f64),
    /// For [`MetricKind::Duration`].
    Duration(Duration),
    /// For [`MetricKind::OptionalDuration`].
    OptionalDuration(Option<Duration>),
}

impl MetricValue {
    /// The kind of this value.
    pub fn kind(&self) -> MetricKind {
        match self {
            MetricValue::State(_) => MetricKind::State,
            MetricValue::Count(_) => MetricKind::Count,
            MetricValue::Rate(_) => MetricKind::Rate,
            MetricValue::Duration(_) => MetricKind::Duration,
            MetricValue::OptionalDuration(_) => MetricKind::OptionalDuration,
        }
    }
}

impl crate::Metrics {
    /// Every field's value, in [`METRICS`] order (so bindings can build their snapshot objects
    /// by looping over the schema instead of naming fields).
    pub fn values(&self) -> [MetricValue; METRICS.len()] {
        use MetricValue::{Count, Duration as D, OptionalDuration, Rate, State};
        [
            State(self.state),
            Count(self.generation),
            Count(self.consecutive_failures),
            Count(self.window_calls),
            Count(self.window_failures),
            Count(self.window_slow),
            Rate(self.failure_rate),
            Rate(self.slow_rate),
            Count(self.admitted),
            Count(self.rejected),
            Count(self.rejected_open),
            Count(self.rejected_half_open_full),
            Count(self.rejected_forced_open),
            Count(self.successes),
            Count(self.failures),
            Count(self.ignored),
            Count(self.slow),
            Count(self.stale),
            Count(self.opened),
            D(self.time_in_state),
            OptionalDuration(self.retry_after),
        ]
    }
}

/// One field of the metrics snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MetricInfo {
    /// The snake_case name.
    pub name: &'static str,
    /// How it is written.
    pub kind: MetricKind,
    /// One line of documentation.
    pub doc: &'static str,
}

const fn metric(name: &'static str, kind: MetricKind, doc: &'static str) -> MetricInfo {
    MetricInfo { name, kind, doc }
}

/// Every scalar field of [`crate::Metrics`], in declaration order (the transition counts,
/// [`crate::TransitionCounts`], are read through their own accessors in every binding).
pub const METRICS: &[MetricInfo] = &[
    metric("state", MetricKind::State, "current state (due transitions applied)"),
    metric("generation", MetricKind::Count, "current generation (0 at creation, +1 per transition)"),
    metric("consecutive_failures", MetricKind::Count, "current run of consecutive failures"),
    metric("window_calls", MetricKind::Count, "outcomes in the window (0 without a rate rule)"),
    metric("window_failures", MetricKind::Count, "failures in the window"),
    metric("window_slow", MetricKind::Count, "slow calls in the window"),
    metric("failure_rate", MetricKind::Rate, "window_failures / window_calls (0 for an empty window)"),
    metric("slow_rate", MetricKind::Rate, "window_slow / window_calls (0 for an empty window)"),
    metric("admitted", MetricKind::Count, "calls admitted, lifetime"),
    metric("rejected", MetricKind::Count, "calls rejected, lifetime (the sum of the three below)"),
    metric("rejected_open", MetricKind::Count, "calls rejected because the breaker was open, lifetime"),
    metric("rejected_half_open_full", MetricKind::Count, "calls rejected because every probe slot was taken, lifetime"),
    metric("rejected_forced_open", MetricKind::Count, "calls rejected because the breaker was forced open, lifetime"),
    metric("successes", MetricKind::Count, "successes counted, lifetime"),
    metric("failures", MetricKind::Count, "failures counted, lifetime"),
    metric("ignored", MetricKind::Count, "ignored outcomes, lifetime"),
    metric("slow", MetricKind::Count, "slow successes and failures, lifetime"),
    metric("stale", MetricKind::Count, "outcomes recorded with a stale permit, lifetime"),
    metric("opened", MetricKind::Count, "times the breaker entered open, lifetime"),
    metric("time_in_state", MetricKind::Duration, "time since the current state was entered"),
    metric("retry_after", MetricKind::OptionalDuration, "time until a probe may be admitted, when open"),
];

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(kind: OptionKind) -> OptionValue {
        match kind {
            OptionKind::Text => OptionValue::Text("x".into()),
            OptionKind::Count => OptionValue::Count(1),
            OptionKind::Number => OptionValue::Number(0.5),
            OptionKind::Duration => OptionValue::Duration(Duration::from_secs(1)),
            OptionKind::Seed => OptionValue::Seed(7),
        }
    }

    #[test]
    fn every_option_has_a_setter_of_its_kind_and_refuses_other_kinds() {
        for info in OPTIONS {
            let _ = ConfigBuilder::default().set(info.name, sample(info.kind)).unwrap();
            let other = if info.kind == OptionKind::Seed { OptionKind::Text } else { OptionKind::Seed };
            let err = ConfigBuilder::default().set(info.name, sample(other)).unwrap_err();
            assert_eq!(err.option(), info.name);
        }
        assert!(ConfigBuilder::default().set("no_such_option", OptionValue::Count(1)).is_err());
    }

    #[test]
    fn names_are_unique() {
        for (i, a) in OPTIONS.iter().enumerate() {
            assert!(OPTIONS[i + 1..].iter().all(|b| b.name != a.name), "{} twice", a.name);
        }
    }

    #[test]
    fn metric_values_follow_the_schema_kinds() {
        let values = crate::CircuitBreaker::new(crate::Config::default()).metrics().values();
        for (info, value) in METRICS.iter().zip(values) {
            assert_eq!(value.kind(), info.kind, "{}", info.name);
        }
    }

    #[test]
    fn metrics_fields_match_the_snapshot_struct() {
        let debug = format!("{:?}", crate::CircuitBreaker::new(crate::Config::default()).metrics());
        // The last field, the transition counts, is not a scalar.
        let (debug, rest) = debug.split_once(", transitions: ").expect("transitions come last");
        assert_eq!(rest, "[] }");
        let fields: Vec<&str> =
            debug.split(['{', ',']).skip(1).filter_map(|part| part.split(':').next()).map(str::trim).collect();
        let names: Vec<&str> = METRICS.iter().map(|m| m.name).collect();
        assert_eq!(fields, names);
    }
}
