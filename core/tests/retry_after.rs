//! A failure that carries the dependency's retry time (`Retry-After`) and opens the breaker makes
//! the open duration at least that long, capped by `max_reset_timeout`; otherwise it changes nothing.

use std::time::Duration;

use circuit::{CircuitBreaker, Config, ManualClock, State};

const SECOND: Duration = Duration::from_secs(1);

fn breaker(config: circuit::ConfigBuilder) -> (CircuitBreaker, ManualClock) {
    let clock = ManualClock::new();
    (CircuitBreaker::with_clock(config.build().unwrap(), clock.clone()), clock)
}

fn consecutive(threshold: u32) -> circuit::ConfigBuilder {
    Config::builder().failure_threshold(threshold).reset_timeout(10 * SECOND).max_reset_timeout(120 * SECOND)
}

#[test]
fn a_tripping_failure_with_a_longer_retry_time_opens_for_that_long() {
    let (b, _) = breaker(consecutive(1));
    let p = b.allow().unwrap();
    assert!(b.record_failure_retry_after(p, 60 * SECOND).unwrap().counted());
    assert_eq!(b.state(), State::Open);
    assert_eq!(b.metrics().retry_after, Some(60 * SECOND));
    assert_eq!(b.allow().unwrap_err().retry_after(), Some(60 * SECOND));
}

#[test]
fn the_retry_time_is_capped_by_max_reset_timeout_and_never_shortens_the_open_duration() {
    let (b, _) = breaker(consecutive(1));
    let p = b.allow().unwrap();
    assert!(b.record_failure_retry_after(p, 3600 * SECOND).unwrap().counted());
    assert_eq!(b.metrics().retry_after, Some(120 * SECOND));
    let (b, _) = breaker(consecutive(1));
    let p = b.allow().unwrap();
    assert!(b.record_failure_retry_after(p, SECOND).unwrap().counted());
    assert_eq!(b.metrics().retry_after, Some(10 * SECOND), "the configured open duration still applies");
}

#[test]
fn only_the_failure_that_opens_the_breaker_sets_it() {
    let (b, _) = breaker(consecutive(2));
    let first = b.allow().unwrap();
    assert!(b.record_failure_retry_after(first, 60 * SECOND).unwrap().counted());
    assert_eq!(b.state(), State::Closed);
    let second = b.allow().unwrap();
    assert!(b.record_failure(second).unwrap().counted());
    assert_eq!(b.metrics().retry_after, Some(10 * SECOND), "the earlier failure's retry time did not open it");
}

#[test]
fn a_probe_failure_with_a_retry_time_reopens_for_that_long() {
    let (b, clock) = breaker(consecutive(1));
    let p = b.allow().unwrap();
    assert!(b.record_failure(p).unwrap().counted());
    clock.advance(10 * SECOND);
    let probe = b.allow().unwrap();
    assert!(probe.is_probe());
    assert!(b.record_failure_retry_after(probe, 90 * SECOND).unwrap().counted());
    assert_eq!(b.state(), State::Open);
    assert_eq!(b.metrics().retry_after, Some(90 * SECOND));
}

#[test]
fn a_rate_window_trip_takes_the_retry_time_too() {
    let (b, _) = breaker(
        Config::builder()
            .failure_rate_threshold(0.5)
            .window_size(4)
            .minimum_calls(2)
            .reset_timeout(10 * SECOND)
            .max_reset_timeout(120 * SECOND),
    );
    let ok = b.allow().unwrap();
    assert!(b.record_success(ok).unwrap().counted());
    let bad = b.allow().unwrap();
    assert!(b.record_failure_retry_after(bad, 30 * SECOND).unwrap().counted());
    assert_eq!(b.state(), State::Open);
    assert_eq!(b.metrics().retry_after, Some(30 * SECOND));
}

#[test]
fn a_stale_failure_with_a_retry_time_changes_nothing() {
    let (b, _) = breaker(consecutive(1));
    let old = b.allow().unwrap();
    b.reset();
    assert!(!b.record_failure_retry_after(old, 60 * SECOND).unwrap().counted());
    assert_eq!(b.state(), State::Closed);
    let p = b.allow().unwrap();
    assert!(b.record_failure(p).unwrap().counted());
    assert_eq!(b.metrics().retry_after, Some(10 * SECOND));
}

#[test]
fn an_owned_permit_records_a_retry_time_once() {
    let b = std::sync::Arc::new(breaker(consecutive(1)).0);
    let p = b.allow_owned().unwrap();
    assert!(p.record_failure_retry_after(45 * SECOND).unwrap().counted());
    assert_eq!(p.record_failure_retry_after(45 * SECOND), Err(circuit::PermitError::AlreadyRecorded));
    assert_eq!(b.metrics().retry_after, Some(45 * SECOND));
}
