//! # circuit
//!
//! A circuit breaker engine: one state machine, implemented once, shared by the C, Go, Python and
//! Node bindings. Its behaviour is specified in `docs/semantics.md`.
//!
//! * States `closed`, `open`, `half_open`, `forced_open`, `disabled`; time-driven transitions are
//!   lazy (no timers, no threads) and dated at the instant they became due.
//! * Trip rules: consecutive failures, failure rate, slow-call rate, over a count-based or a
//!   time-based bucketed window with `minimum_calls`.
//! * Open duration with exponential backoff, a cap and seedable jitter.
//! * Half-open admits at most `half_open_max_calls` probes per generation, exactly, under any race.
//! * Permits are stamped with the generation: outcomes of an earlier generation are reported
//!   [`Recorded::Stale`] and never drive a transition.
//! * The closed-state `allow` + `record_success` path takes no lock and allocates nothing.
//! * Feature `tower`: `circuit::tower::CircuitLayer`, a tower layer (one breaker, per key, per HTTP origin).
//! * Features `prometheus-client` and `opentelemetry`: `circuit::prometheus::Collector` and
//!   `circuit::opentelemetry::instrument` export the metric set of `circuit::exposition`.
//!
//! ```
//! use circuit::{CircuitBreaker, Config, ManualClock, Outcome, RejectReason, State};
//! use std::sync::Arc;
//! use std::time::Duration;
//!
//! let clock = ManualClock::new();
//! let breaker = Arc::new(CircuitBreaker::with_clock(
//!     Config::builder()
//!         .name("payments")
//!         .failure_rate_threshold(0.5)
//!         .minimum_calls(4)
//!         .window_size(10)
//!         .reset_timeout(Duration::from_secs(5))
//!         .build()?,
//!     clock.clone(),
//! ));
//!
//! breaker.on_transition(|t| println!("{} -> {} ({}) at {:?}", t.from, t.to, t.reason, t.at));
//!
//! // Two successes and two failures: 50% of 4 calls trips the breaker.
//! for outcome in [Outcome::Success, Outcome::Failure, Outcome::Success, Outcome::Failure] {
//!     let permit = breaker.allow()?;
//!     breaker.record(permit, outcome)?;
//! }
//! assert_eq!(breaker.state(), State::Open);
//!
//! let rejected = breaker.allow().unwrap_err();
//! assert_eq!(rejected.reason(), RejectReason::Open);
//! assert_eq!(rejected.name(), Some("payments"));
//!
//! // After the reset timeout a single probe is admitted; its success closes the breaker.
//! clock.advance(Duration::from_secs(5));
//! let probe = breaker.allow_owned()?;
//! assert!(probe.record_success()?.counted());
//! assert_eq!(breaker.metrics().state, State::Closed);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

// First: its `spelled_enum!` macro serves the other modules too.
#[macro_use]
mod state;
mod backoff;
mod breaker;
mod cells;
mod clock;
mod config;
mod counters;
mod error;
mod events;
pub mod export;
pub mod exposition;
mod family;
pub mod fleet;
pub mod host;
pub mod http;
mod metrics;
#[cfg(feature = "opentelemetry")]
pub mod opentelemetry;
mod permit;
mod probes;
#[cfg(feature = "prometheus-client")]
pub mod prometheus;
pub mod schema;
#[cfg(any(feature = "prometheus-client", feature = "opentelemetry"))]
mod scrape;
#[cfg(not(loom))]
pub mod shared;
mod sync;
#[cfg(feature = "tower")]
pub mod tower;
mod window;

pub use breaker::CircuitBreaker;
pub use clock::{Clock, ManualClock, MonotonicClock};
pub use config::{Config, ConfigBuilder, Window};
pub use error::{ConfigError, Error, PermitError, Rejected};
pub use events::{ListenerId, Transition};
pub use export::StateError;
pub use family::{
    DEFAULT_IDLE_TTL, DEFAULT_MAX_KEYS, Family, FamilyBuilder, FamilyEvent, FamilyListenerId, FamilyMetrics,
    MemberSource, OVERFLOW_KEY,
};
// Kept at the root for the bindings written before `host` existed.
#[doc(hidden)]
pub use host::{ThreadSlot, count_from_i64, duration_from_f64};
pub use metrics::{Metrics, ProcessCounts, TransitionCounts};
pub use permit::{OwnedPermit, Permit, RawPermit};
pub use schema::{METRICS, MetricInfo, MetricKind, MetricValue, OPTIONS, OptionInfo, OptionKind, OptionValue};
#[cfg(not(loom))]
pub use shared::{HostRecord, SharedError};
pub use state::{Outcome, Reason, Recorded, RejectReason, State};

/// Compile-time proof that the breaker can be shared between threads.
const _: () = {
    const fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<CircuitBreaker>();
    assert_send_sync::<OwnedPermit>();
    assert_send_sync::<ManualClock>();
};

/// The README's Rust snippet, compiled and run as a doctest.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
struct ReadmeDoctests;
