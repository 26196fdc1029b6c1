//! Configuration: a builder whose [`ConfigBuilder::build`] checks every rule of docs/semantics.md, "Options and defaults".
//!
//! | option | default | rule |
//! | --- | --- | --- |
//! | `name` | none | free text, carried by rejections |
//! | `failure_threshold` | 5, or 0 (off) when a rate rule is set | 0 disables the rule |
//! | `failure_rate_threshold` | off | in (0, 1] |
//! | `slow_call_duration` | off | > 0; a call strictly longer is slow |
//! | `slow_call_rate_threshold` | off | in (0, 1]; needs `slow_call_duration` |
//! | `minimum_calls` | 20 (capped at `window_size`) | >= 1, <= `window_size` for a count window |
//! | `window_size` | 100 (count window) | 1..=1,000,000; not with `window_duration` |
//! | `window_duration` | off (count window) | > 0; makes the window time-based |
//! | `window_buckets` | 10 | 1..=10,000; must divide `window_duration` in whole nanoseconds |
//! | `reset_timeout` | 30 s | the first open duration |
//! | `backoff_multiplier` | 1 (constant) | finite, >= 1 |
//! | `max_reset_timeout` | max(`reset_timeout`, 5 min) | >= `reset_timeout` |
//! | `jitter` | 0 | in [0, 1) |
//! | `jitter_seed` | random per breaker | any `u64`; fixes the jitter sequence |
//! | `half_open_max_calls` | 1 | >= 1 |
//! | `success_threshold` | `half_open_max_calls` | in 1..=`half_open_max_calls` |
//! | `half_open_max_wait` | the open duration that preceded | re-opens if no verdict that long after the first probe; 0 = off |
//! | `half_open_max_calls` bound | | at most 10,000 |

use std::time::Duration;

use crate::error::ConfigError;

const DEFAULT_FAILURE_THRESHOLD: u32 = 5;
const DEFAULT_MINIMUM_CALLS: u32 = 20;
const DEFAULT_WINDOW_SIZE: u32 = 100;
const DEFAULT_WINDOW_BUCKETS: u32 = 10;
const DEFAULT_RESET_TIMEOUT: Duration = Duration::from_secs(30);
const DEFAULT_MAX_RESET_TIMEOUT_FLOOR: Duration = Duration::from_secs(300);
/// Largest count window (one byte per outcome).
pub const MAX_WINDOW_SIZE: u32 = 1_000_000;
/// Most buckets of a time window.
pub const MAX_WINDOW_BUCKETS: u32 = 10_000;
/// Most probes per half-open generation (each holds a slot in a table sized by it).
pub const MAX_HALF_OPEN_MAX_CALLS: u32 = 10_000;

/// How long a half-open generation waits for a verdict after its first probe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum MaxWait {
    /// Never re-open for want of a verdict (set explicitly as zero).
    Off,
    /// A fixed number of nanoseconds.
    Fixed(u64),
    /// As long as the open duration that preceded this half-open state (the default).
    OpenDuration,
}

/// The sliding window used by the rate rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Window {
    /// No rate rule is configured; no window is kept.
    None,
    /// The last `size` counted outcomes.
    Count {
        /// Number of outcomes kept.
        size: u32,
    },
    /// Outcomes of the last `duration`, in `buckets` equal buckets aligned to the clock's origin.
    Time {
        /// Window length in nanoseconds.
        duration_nanos: u64,
        /// Number of buckets.
        buckets: u32,
    },
}

/// A validated configuration. Build one with [`Config::builder`].
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub(crate) name: Option<std::sync::Arc<str>>,
    pub(crate) failure_threshold: u32,
    pub(crate) failure_rate_threshold: Option<f64>,
    pub(crate) slow_call_duration: Option<u64>,
    pub(crate) slow_call_rate_threshold: Option<f64>,
    pub(crate) minimum_calls: u32,
    pub(crate) window: Window,
    pub(crate) reset_timeout: u64,
    pub(crate) backoff_multiplier: f64,
    pub(crate) max_reset_timeout: u64,
    pub(crate) jitter: f64,
    pub(crate) jitter_seed: Option<u64>,
    pub(crate) half_open_max_calls: u32,
    pub(crate) success_threshold: u32,
    pub(crate) half_open_max_wait: MaxWait,
}

impl Default for Config {
    /// The all-defaults configuration: trip after 5 consecutive failures, stay open 30 s, one probe.
    fn default() -> Self {
        Config::builder().build().unwrap_or_else(|_| unreachable!("defaults are valid"))
    }
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

impl Config {
    /// A builder with every option at its default.
    pub fn builder() -> ConfigBuilder {
        ConfigBuilder::default()
    }

    /// Every option that shapes the breaker's behaviour (all but `name` and `jitter_seed`), as
    /// `option=value;option=value` in a fixed order: exact (floats in their shortest round-trip
    /// form, durations in nanoseconds, `-` for unset), so two configurations behave the same
    /// exactly when their texts are equal. A host region compares it between processes.
    ///
    /// ```
    /// let config = circuit::Config::builder().failure_threshold(3).build().unwrap();
    /// assert!(config.canonical_options().starts_with("failure_threshold=3;"));
    /// ```
    pub fn canonical_options(&self) -> String {
        let window = match self.window() {
            Window::None => "none".to_owned(),
            Window::Count { size } => format!("count:{size}"),
            Window::Time { duration_nanos, buckets } => format!("time:{duration_nanos}ns:{buckets}"),
        };
        let number = |v: Option<f64>| v.map_or("-".to_owned(), |v| format!("{v}"));
        let nanos = |d: Option<Duration>| d.map_or("-".to_owned(), |d| format!("{}ns", d.as_nanos()));
        format!(
            "failure_threshold={};failure_rate_threshold={};slow_call_duration={};slow_call_rate_threshold={};\
             minimum_calls={};window={window};reset_timeout={};backoff_multiplier={};max_reset_timeout={};\
             jitter={};half_open_max_calls={};success_threshold={};half_open_max_wait={}",
            self.failure_threshold(),
            number(self.failure_rate_threshold()),
            nanos(self.slow_call_duration()),
            number(self.slow_call_rate_threshold()),
            self.minimum_calls(),
            nanos(Some(self.reset_timeout())),
            number(Some(self.backoff_multiplier())),
            nanos(Some(self.max_reset_timeout())),
            number(Some(self.jitter())),
            self.half_open_max_calls(),
            self.success_threshold(),
            nanos(self.half_open_max_wait()),
        )
    }

    /// The breaker's name, if any.
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }
    /// Consecutive failures that trip the breaker (0 = rule off).
    pub fn failure_threshold(&self) -> u32 {
        self.failure_threshold
    }
    /// Failure-rate threshold, if the rule is on.
    pub fn failure_rate_threshold(&self) -> Option<f64> {
        self.failure_rate_threshold
    }
    /// Calls strictly longer than this are slow.
    pub fn slow_call_duration(&self) -> Option<Duration> {
        self.slow_call_duration.map(Duration::from_nanos)
    }
    /// Slow-call-rate threshold, if the rule is on.
    pub fn slow_call_rate_threshold(&self) -> Option<f64> {
        self.slow_call_rate_threshold
    }
    /// This configuration with another name (a family's member).
    pub(crate) fn with_name(&self, name: String) -> Config {
        Config { name: Some(std::sync::Arc::from(name)), ..self.clone() }
    }

    /// Counted outcomes the window needs before a rate rule may trip.
    pub fn minimum_calls(&self) -> u32 {
        self.minimum_calls
    }
    /// The window the rate rules read.
    pub fn window(&self) -> Window {
        self.window
    }
    /// First open duration.
    pub fn reset_timeout(&self) -> Duration {
        Duration::from_nanos(self.reset_timeout)
    }
    /// Growth factor of the open duration per re-opening from half-open.
    pub fn backoff_multiplier(&self) -> f64 {
        self.backoff_multiplier
    }
    /// Cap of the open duration.
    pub fn max_reset_timeout(&self) -> Duration {
        Duration::from_nanos(self.max_reset_timeout)
    }
    /// Jitter fraction in [0, 1).
    pub fn jitter(&self) -> f64 {
        self.jitter
    }
    /// Probes admitted per half-open generation.
    pub fn half_open_max_calls(&self) -> u32 {
        self.half_open_max_calls
    }
    /// Probe successes that close the breaker.
    pub fn success_threshold(&self) -> u32 {
        self.success_threshold
    }
    /// Longest wait for a probe verdict: `Some(ZERO)` = off, `Some(d)` = fixed, `None` = the open
    /// duration that preceded the half-open state (the default).
    pub fn half_open_max_wait(&self) -> Option<Duration> {
        match self.half_open_max_wait {
            MaxWait::Off => Some(Duration::ZERO),
            MaxWait::Fixed(n) => Some(Duration::from_nanos(n)),
            MaxWait::OpenDuration => None,
        }
    }

    /// `true` when a rate rule needs the window.
    pub(crate) fn has_rate_rule(&self) -> bool {
        self.failure_rate_threshold.is_some() || self.slow_call_rate_threshold.is_some()
    }
}

/// Collects options; [`ConfigBuilder::build`] validates them all at once.
#[derive(Debug, Clone, Default)]
pub struct ConfigBuilder {
    name: Option<String>,
    failure_threshold: Option<u32>,
    failure_rate_threshold: Option<f64>,
    slow_call_duration: Option<Duration>,
    slow_call_rate_threshold: Option<f64>,
    minimum_calls: Option<u32>,
    window_size: Option<u32>,
    window_duration: Option<Duration>,
    window_buckets: Option<u32>,
    reset_timeout: Option<Duration>,
    backoff_multiplier: Option<f64>,
    max_reset_timeout: Option<Duration>,
    jitter: Option<f64>,
    jitter_seed: Option<u64>,
    half_open_max_calls: Option<u32>,
    success_threshold: Option<u32>,
    half_open_max_wait: Option<Duration>,
}

macro_rules! setters {
    ($($(#[$meta:meta])* $field:ident: $ty:ty),+ $(,)?) => {
        $(
            $(#[$meta])*
            pub fn $field(mut self, value: $ty) -> Self {
                self.$field = Some(value.into());
                self
            }
        )+
    };
}

impl ConfigBuilder {
    setters! {
        /// The breaker's name, carried by rejections and shown in `Debug`.
        name: impl Into<String>,
        /// Consecutive failures that trip the breaker; 0 turns the rule off.
        failure_threshold: u32,
        /// Trip when `window.failures / window.calls >= threshold` (in (0, 1]).
        failure_rate_threshold: f64,
        /// A success or failure that took strictly longer than this is slow.
        slow_call_duration: Duration,
        /// Trip when `window.slow / window.calls >= threshold` (in (0, 1]).
        slow_call_rate_threshold: f64,
        /// Counted outcomes the window needs before a rate rule may trip.
        minimum_calls: u32,
        /// Count-based window: the last `window_size` counted outcomes.
        window_size: u32,
        /// Time-based window over this duration (instead of a count window).
        window_duration: Duration,
        /// Buckets of the time-based window.
        window_buckets: u32,
        /// First open duration.
        reset_timeout: Duration,
        /// Open duration growth per consecutive re-opening from half-open.
        backoff_multiplier: f64,
        /// Cap of the open duration.
        max_reset_timeout: Duration,
        /// Scales each open duration by a random factor in `[1 - jitter, 1]`.
        jitter: f64,
        /// Seed of the jitter sequence (reproducible runs).
        jitter_seed: u64,
        /// Probes admitted per half-open generation.
        half_open_max_calls: u32,
        /// Probe successes that close the breaker.
        success_threshold: u32,
        /// Re-open if the first probe of a half-open generation gets no verdict within this; zero
        /// turns it off. Default: the open duration that preceded the half-open state, so a probe
        /// that never reports (hung, lost, forgotten) cannot wedge the breaker.
        half_open_max_wait: Duration,
    }

    /// Validates every option and returns the configuration, or the first problem found, naming
    /// the option.
    pub fn build(self) -> Result<Config, ConfigError> {
        let ratio = |option: &'static str, value: Option<f64>| -> Result<Option<f64>, ConfigError> {
            match value {
                Some(v) if !(v.is_finite() && v > 0.0 && v <= 1.0) => {
                    Err(ConfigError::new(option, format!("must be a number in (0, 1], got {v}")))
                }
                other => Ok(other),
            }
        };
        let at_least_one = |option: &'static str, value: Option<u32>| -> Result<(), ConfigError> {
            match value {
                Some(0) => Err(ConfigError::new(option, "must be at least 1, got 0")),
                _ => Ok(()),
            }
        };

        let failure_rate_threshold = ratio("failure_rate_threshold", self.failure_rate_threshold)?;
        let slow_call_rate_threshold = ratio("slow_call_rate_threshold", self.slow_call_rate_threshold)?;
        if let Some(d) = self.slow_call_duration
            && d.is_zero()
        {
            return Err(ConfigError::new("slow_call_duration", "must be greater than zero"));
        }
        if slow_call_rate_threshold.is_some() && self.slow_call_duration.is_none() {
            return Err(ConfigError::new(
                "slow_call_rate_threshold",
                "needs slow_call_duration to say which calls are slow",
            ));
        }
        let has_rate_rule = failure_rate_threshold.is_some() || slow_call_rate_threshold.is_some();
        let failure_threshold =
            self.failure_threshold.unwrap_or(if has_rate_rule { 0 } else { DEFAULT_FAILURE_THRESHOLD });
        if failure_threshold == 0 && !has_rate_rule {
            return Err(ConfigError::new(
                "failure_threshold",
                "is 0 and no failure_rate_threshold or slow_call_rate_threshold is set: no trip rule is enabled",
            ));
        }

        at_least_one("window_size", self.window_size)?;
        at_least_one("window_buckets", self.window_buckets)?;
        // The window is allocated when the breaker is built: bound it, so that no configuration
        // can exhaust memory (an allocation failure aborts the host process).
        let at_most = |option: &'static str, value: Option<u32>, limit: u32| -> Result<(), ConfigError> {
            match value {
                Some(v) if v > limit => Err(ConfigError::new(option, format!("must be at most {limit}, got {v}"))),
                _ => Ok(()),
            }
        };
        at_most("window_size", self.window_size, MAX_WINDOW_SIZE)?;
        at_most("window_buckets", self.window_buckets, MAX_WINDOW_BUCKETS)?;
        at_least_one("minimum_calls", self.minimum_calls)?;
        at_least_one("half_open_max_calls", self.half_open_max_calls)?;
        at_most("half_open_max_calls", self.half_open_max_calls, MAX_HALF_OPEN_MAX_CALLS)?;
        if self.window_size.is_some() && self.window_duration.is_some() {
            return Err(ConfigError::new(
                "window_duration",
                "cannot be combined with window_size: choose a count-based or a time-based window",
            ));
        }
        if self.window_buckets.is_some() && self.window_duration.is_none() {
            return Err(ConfigError::new("window_buckets", "needs window_duration (a time-based window)"));
        }
        let window = match self.window_duration {
            Some(d) => {
                let duration_nanos = nanos(d);
                let buckets = self.window_buckets.unwrap_or(DEFAULT_WINDOW_BUCKETS);
                if duration_nanos == 0 {
                    return Err(ConfigError::new("window_duration", "must be greater than zero"));
                }
                if !duration_nanos.is_multiple_of(u64::from(buckets)) {
                    return Err(ConfigError::new(
                        "window_buckets",
                        format!(
                            "{buckets} buckets do not divide window_duration ({duration_nanos} ns) into whole nanoseconds"
                        ),
                    ));
                }
                Window::Time { duration_nanos, buckets }
            }
            None => Window::Count { size: self.window_size.unwrap_or(DEFAULT_WINDOW_SIZE) },
        };
        let minimum_calls = match (self.minimum_calls, window) {
            (Some(m), Window::Count { size }) if m > size => {
                return Err(ConfigError::new(
                    "minimum_calls",
                    format!("is {m} but the count window holds only {size} outcomes, so no rate rule could ever trip"),
                ));
            }
            (Some(m), _) => m,
            (None, Window::Count { size }) => DEFAULT_MINIMUM_CALLS.min(size),
            (None, _) => DEFAULT_MINIMUM_CALLS,
        };
        let window = if has_rate_rule { window } else { Window::None };

        let reset_timeout = nanos(self.reset_timeout.unwrap_or(DEFAULT_RESET_TIMEOUT));
        let backoff_multiplier = self.backoff_multiplier.unwrap_or(1.0);
        if !(backoff_multiplier.is_finite() && backoff_multiplier >= 1.0) {
            return Err(ConfigError::new(
                "backoff_multiplier",
                format!("must be a finite number >= 1, got {backoff_multiplier}"),
            ));
        }
        let max_reset_timeout = match self.max_reset_timeout {
            Some(m) if nanos(m) < reset_timeout => {
                return Err(ConfigError::new(
                    "max_reset_timeout",
                    format!(
                        "({:?}) must not be less than reset_timeout ({:?})",
                        m,
                        Duration::from_nanos(reset_timeout)
                    ),
                ));
            }
            Some(m) => nanos(m),
            None => reset_timeout.max(nanos(DEFAULT_MAX_RESET_TIMEOUT_FLOOR)),
        };
        let jitter = self.jitter.unwrap_or(0.0);
        if !(jitter.is_finite() && (0.0..1.0).contains(&jitter)) {
            return Err(ConfigError::new("jitter", format!("must be a number in [0, 1), got {jitter}")));
        }
        let half_open_max_calls = self.half_open_max_calls.unwrap_or(1);
        let success_threshold = self.success_threshold.unwrap_or(half_open_max_calls);
        if success_threshold == 0 || success_threshold > half_open_max_calls {
            return Err(ConfigError::new(
                "success_threshold",
                format!("must be between 1 and half_open_max_calls ({half_open_max_calls}), got {success_threshold}"),
            ));
        }

        Ok(Config {
            name: self.name.map(std::sync::Arc::from),
            failure_threshold,
            failure_rate_threshold,
            slow_call_duration: self.slow_call_duration.map(nanos),
            slow_call_rate_threshold,
            minimum_calls,
            window,
            reset_timeout,
            backoff_multiplier,
            max_reset_timeout,
            jitter,
            jitter_seed: self.jitter_seed,
            half_open_max_calls,
            success_threshold,
            half_open_max_wait: match self.half_open_max_wait.map(nanos) {
                None => MaxWait::OpenDuration,
                Some(0) => MaxWait::Off,
                Some(n) => MaxWait::Fixed(n),
            },
        })
    }
}
