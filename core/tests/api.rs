//! Behaviour of the Rust API beyond the conformance vectors: permits (drop, owned, raw, foreign),
//! listeners (re-entrancy, panics, order, removal), clocks, saturation and config errors.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use circuit::{
    CircuitBreaker, Config, ManualClock, MonotonicClock, Outcome, PermitError, RawPermit, Reason, Recorded,
    RejectReason, State, Transition,
};

fn tripped(clock: &ManualClock, config: Config) -> CircuitBreaker {
    let breaker = CircuitBreaker::with_clock(config, clock.clone());
    while breaker.state() == State::Closed {
        let p = breaker.allow().unwrap();
        let _ = breaker.record_failure(p).unwrap();
    }
    breaker
}

fn one_failure_trips() -> Config {
    Config::builder().failure_threshold(1).reset_timeout(Duration::from_secs(1)).build().unwrap()
}

fn events_of(breaker: &CircuitBreaker) -> Arc<Mutex<Vec<Transition>>> {
    let seen: Arc<Mutex<Vec<Transition>>> = Arc::default();
    let sink = Arc::clone(&seen);
    breaker.on_transition(move |t| sink.lock().unwrap().push(*t));
    seen
}

#[test]
fn dropped_probe_permit_returns_its_slot() {
    let clock = ManualClock::new();
    let breaker = tripped(&clock, one_failure_trips());
    clock.advance(Duration::from_secs(1));
    let probe = breaker.allow().unwrap();
    assert!(probe.is_probe());
    assert_eq!(breaker.allow().unwrap_err().reason(), RejectReason::HalfOpenFull);
    drop(probe);
    let again = breaker.allow().unwrap();
    assert!(again.is_probe());
    assert_eq!(breaker.metrics().ignored, 1);
    assert!(breaker.record_success(again).unwrap().counted());
    assert_eq!(breaker.state(), State::Closed);
}

#[test]
fn dropped_closed_permit_counts_as_ignored() {
    let breaker = CircuitBreaker::with_clock(Config::default(), ManualClock::new());
    drop(breaker.allow().unwrap());
    let m = breaker.metrics();
    assert_eq!((m.admitted, m.ignored, m.successes), (1, 1, 0));
}

#[test]
fn owned_permit_refuses_a_second_record_and_drop_after_record_does_nothing() {
    let breaker = Arc::new(CircuitBreaker::with_clock(Config::default(), ManualClock::new()));
    let permit = breaker.allow_owned().unwrap();
    assert_eq!(permit.record_failure(), Ok(Recorded::Counted));
    assert_eq!(permit.record_success(), Err(PermitError::AlreadyRecorded));
    assert!(permit.is_spent());
    drop(permit);
    let m = breaker.metrics();
    assert_eq!((m.failures, m.successes, m.ignored, m.consecutive_failures), (1, 0, 0, 1));
}

#[test]
fn owned_permit_keeps_the_breaker_alive_and_moves_across_threads() {
    let breaker = Arc::new(CircuitBreaker::new(Config::default()));
    let permit = breaker.allow_owned().unwrap();
    let weak = Arc::downgrade(&breaker);
    drop(breaker);
    let counted = std::thread::spawn(move || permit.record_success().unwrap()).join().unwrap();
    assert!(counted.counted());
    assert!(weak.upgrade().is_none(), "the permit held the last reference");
}

#[test]
fn foreign_permit_is_refused() {
    let a = CircuitBreaker::new(Config::default());
    let b = CircuitBreaker::new(Config::default());
    let permit = a.allow().unwrap();
    assert_eq!(b.record_failure(permit), Err(PermitError::ForeignPermit));
    assert_eq!(b.metrics().failures, 0);
    assert_eq!(a.metrics().failures, 0);
}

#[test]
fn raw_probe_recorded_twice_or_forged_frees_nothing() {
    let clock = ManualClock::new();
    let config = Config::builder()
        .failure_threshold(1)
        .reset_timeout(Duration::from_secs(1))
        .half_open_max_calls(2)
        .build()
        .unwrap();
    let breaker = tripped(&clock, config);
    clock.advance(Duration::from_secs(1));
    let p = breaker.allow_raw().unwrap();
    let q = breaker.allow_raw().unwrap();
    assert_eq!(breaker.record_raw(p, Outcome::Ignored), Ok(Recorded::Counted));
    assert_eq!(breaker.record_raw(p, Outcome::Ignored), Err(PermitError::AlreadyRecorded));
    let (generation, admitted_at, _) = q.to_parts();
    for ticket in [7, 1000, u32::MAX - 1] {
        let forged = RawPermit::from_parts(generation, admitted_at, ticket);
        assert_eq!(breaker.record_raw(forged, Outcome::Ignored), Err(PermitError::AlreadyRecorded));
    }
    let non_probe = RawPermit::from_parts(generation, admitted_at, u32::MAX);
    assert_eq!(breaker.record_raw(non_probe, Outcome::Success), Err(PermitError::AlreadyRecorded));
    // One slot was legitimately freed; q still holds the other.
    assert!(breaker.allow_raw().is_ok());
    assert!(breaker.allow_raw().is_err());
    let future = RawPermit::from_parts(u64::MAX, 0, 0);
    assert_eq!(breaker.record_raw(future, Outcome::Failure), Ok(Recorded::Stale));
    assert_eq!(breaker.state(), State::HalfOpen);
}

#[test]
fn listener_may_call_back_into_the_breaker() {
    let clock = ManualClock::new();
    let breaker = Arc::new(CircuitBreaker::with_clock(one_failure_trips(), clock));
    let seen = events_of(&breaker);
    let inner = Arc::downgrade(&breaker);
    breaker.on_transition(move |t| {
        let b = inner.upgrade().unwrap();
        // Reads and writes from inside a listener: no deadlock, and a transition caused here is
        // delivered after this listener returns, in order.
        let _ = b.metrics();
        if t.to == State::Open {
            b.reset();
        }
    });
    let p = breaker.allow().unwrap();
    let _ = breaker.record_failure(p).unwrap();
    assert_eq!(breaker.state(), State::Closed);
    let reasons: Vec<Reason> = seen.lock().unwrap().iter().map(|t| t.reason).collect();
    assert_eq!(reasons, [Reason::FailureThreshold, Reason::Reset]);
}

#[test]
fn panicking_listener_breaks_nothing() {
    let breaker = CircuitBreaker::with_clock(one_failure_trips(), ManualClock::new());
    breaker.on_transition(|_| panic!("listener bug"));
    let seen = events_of(&breaker);
    let p = breaker.allow().unwrap();
    let _ = breaker.record_failure(p).unwrap();
    breaker.reset();
    breaker.force_open();
    assert_eq!(seen.lock().unwrap().len(), 3);
    assert_eq!(breaker.state(), State::ForcedOpen);
    breaker.reset();
    assert!(breaker.allow().is_ok());
}

#[test]
fn removed_listener_is_not_called() {
    let breaker = CircuitBreaker::with_clock(Config::default(), ManualClock::new());
    let calls = Arc::new(Mutex::new(0));
    let c = Arc::clone(&calls);
    let id = breaker.on_transition(move |_| *c.lock().unwrap() += 1);
    breaker.force_open();
    assert!(breaker.remove_listener(id));
    assert!(!breaker.remove_listener(id));
    breaker.reset();
    assert_eq!(*calls.lock().unwrap(), 1);
}

#[test]
fn listener_removed_by_another_listener_is_not_called_for_the_same_event() {
    let breaker = Arc::new(CircuitBreaker::with_clock(Config::default(), ManualClock::new()));
    let calls: Arc<Mutex<Vec<&'static str>>> = Arc::default();
    let victim: Arc<Mutex<Option<circuit::ListenerId>>> = Arc::default();
    let (b, c, v) = (Arc::downgrade(&breaker), Arc::clone(&calls), Arc::clone(&victim));
    // Registered first, so it runs first and removes the second one.
    breaker.on_transition(move |_| {
        c.lock().unwrap().push("remover");
        if let (Some(b), Some(id)) = (b.upgrade(), v.lock().unwrap().take()) {
            assert!(b.remove_listener(id));
        }
    });
    let c = Arc::clone(&calls);
    let id = breaker.on_transition(move |_| c.lock().unwrap().push("removed"));
    *victim.lock().unwrap() = Some(id);
    breaker.force_open();
    breaker.reset();
    assert_eq!(
        *calls.lock().unwrap(),
        ["remover", "remover"],
        "the removed listener ran after remove_listener returned"
    );
}

#[test]
fn listener_may_remove_itself_without_waiting() {
    let breaker = Arc::new(CircuitBreaker::with_clock(Config::default(), ManualClock::new()));
    let calls = Arc::new(Mutex::new(0));
    let me: Arc<Mutex<Option<circuit::ListenerId>>> = Arc::default();
    let (b, c, m) = (Arc::downgrade(&breaker), Arc::clone(&calls), Arc::clone(&me));
    let id = breaker.on_transition(move |_| {
        *c.lock().unwrap() += 1;
        if let (Some(b), Some(id)) = (b.upgrade(), *m.lock().unwrap()) {
            assert!(b.remove_listener(id));
        }
    });
    *me.lock().unwrap() = Some(id);
    breaker.force_open();
    breaker.reset();
    assert_eq!(*calls.lock().unwrap(), 1);
}

#[test]
fn remove_listener_waits_for_its_call_in_progress_on_another_thread() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::mpsc;
    let breaker = Arc::new(CircuitBreaker::with_clock(Config::default(), ManualClock::new()));
    let finished = Arc::new(AtomicBool::new(false));
    let (started_tx, started_rx) = mpsc::channel::<()>();
    let started_tx = Mutex::new(started_tx);
    let f = Arc::clone(&finished);
    let id = breaker.on_transition(move |_| {
        let _ = started_tx.lock().unwrap().send(());
        // Long enough that the remover certainly calls remove_listener while this runs.
        std::thread::sleep(Duration::from_millis(200));
        f.store(true, Ordering::SeqCst);
    });
    let b = Arc::clone(&breaker);
    let deliverer = std::thread::spawn(move || b.force_open());
    started_rx.recv().unwrap();
    assert!(breaker.remove_listener(id));
    // What the listener uses may be freed now: its call has returned.
    assert!(finished.load(Ordering::SeqCst), "remove_listener returned while the listener was still running");
    deliverer.join().unwrap();
}

#[test]
fn retired_breaker_stays_safe_and_notifies_no_one() {
    let clock = ManualClock::new();
    let config = Config::builder().failure_rate_threshold(0.5).minimum_calls(2).window_size(1_000_000).build().unwrap();
    let breaker = CircuitBreaker::with_clock(config, clock);
    let calls = Arc::new(Mutex::new(0));
    let c = Arc::clone(&calls);
    breaker.on_transition(move |_| *c.lock().unwrap() += 1);
    breaker.retire();
    for _ in 0..4 {
        let p = breaker.allow().unwrap();
        assert!(breaker.record_failure(p).unwrap().counted());
    }
    breaker.force_open();
    assert_eq!(breaker.state(), State::ForcedOpen);
    assert_eq!(*calls.lock().unwrap(), 0);
    assert_eq!(breaker.metrics().failures, 4);
}

#[test]
fn half_open_bookkeeping_handles_the_largest_probe_cap() {
    let clock = ManualClock::new();
    let config = Config::builder()
        .failure_threshold(1)
        .half_open_max_calls(10_000)
        .success_threshold(10_000)
        .reset_timeout(Duration::from_secs(1))
        .build()
        .unwrap();
    let breaker = tripped(&clock, config);
    clock.advance(Duration::from_secs(1));
    let probes: Vec<RawPermit> = (0..10_000).map(|_| breaker.allow_raw().unwrap()).collect();
    assert_eq!(breaker.allow_raw().unwrap_err().reason(), RejectReason::HalfOpenFull);
    // Return half the slots, take them again, then record every probe: each ticket once.
    for p in &probes[..5_000] {
        assert!(breaker.record_raw(*p, Outcome::Ignored).unwrap().counted());
        assert_eq!(breaker.record_raw(*p, Outcome::Ignored), Err(PermitError::AlreadyRecorded));
    }
    let again: Vec<RawPermit> = (0..5_000).map(|_| breaker.allow_raw().unwrap()).collect();
    for p in &probes[..5_000] {
        assert_eq!(breaker.record_raw(*p, Outcome::Success), Err(PermitError::AlreadyRecorded));
    }
    for p in probes[5_000..].iter().chain(&again) {
        assert!(breaker.record_raw(*p, Outcome::Success).unwrap().counted());
    }
    assert_eq!(breaker.state(), State::Closed);
    let err = Config::builder().half_open_max_calls(10_001).build().unwrap_err();
    assert_eq!(err.option(), "half_open_max_calls");
}

#[test]
fn one_manual_clock_drives_many_breakers() {
    let clock = ManualClock::new();
    let a = tripped(&clock, one_failure_trips());
    let b = tripped(&clock, one_failure_trips());
    clock.advance(Duration::from_millis(999));
    assert_eq!((a.state(), b.state()), (State::Open, State::Open));
    clock.advance(Duration::from_millis(1));
    assert_eq!((a.state(), b.state()), (State::HalfOpen, State::HalfOpen));
}

#[test]
fn manual_clock_rounds_and_saturates() {
    let clock = ManualClock::new();
    clock.advance(Duration::from_nanos(u64::MAX - 5));
    assert_eq!(clock.advance(Duration::from_secs(1)), Duration::from_nanos(u64::MAX));
    assert_eq!(clock.advance(Duration::MAX), Duration::from_nanos(u64::MAX));
}

#[test]
fn open_duration_saturates_at_the_end_of_time() {
    let clock = ManualClock::new();
    clock.advance(Duration::from_nanos(u64::MAX - 10));
    let config = Config::builder()
        .failure_threshold(1)
        .reset_timeout(Duration::from_secs(3600))
        .backoff_multiplier(1e300)
        .max_reset_timeout(Duration::MAX)
        .build()
        .unwrap();
    let breaker = tripped(&clock, config);
    let rejected = breaker.allow().unwrap_err();
    assert_eq!(rejected.retry_after(), Some(Duration::from_nanos(10)));
    assert_eq!(breaker.next_transition_at(), Some(Duration::from_nanos(u64::MAX)));
    clock.advance(Duration::MAX);
    let probe = breaker.allow().unwrap();
    let _ = breaker.record_failure(probe).unwrap();
    // 3600 s * 1e300 would overflow; it saturates at the end of time, which is already now, so
    // the re-opened breaker is due for half-open at once and stays consistent.
    let m = breaker.metrics();
    assert_eq!((m.state, m.opened, m.generation), (State::HalfOpen, 2, 4));
    assert_eq!(breaker.next_transition_at(), None);
}

#[test]
fn failure_run_saturates_instead_of_wrapping() {
    let breaker = CircuitBreaker::with_clock(Config::default(), ManualClock::new());
    breaker.disable();
    for _ in 0..1000 {
        let p = breaker.allow().unwrap();
        let _ = breaker.record_failure(p).unwrap();
    }
    assert_eq!(breaker.metrics().consecutive_failures, 1000);
}

#[test]
fn next_transition_at_reports_the_due_instants() {
    let clock = ManualClock::new();
    let config = Config::builder()
        .failure_threshold(1)
        .reset_timeout(Duration::from_secs(1))
        .half_open_max_wait(Duration::from_millis(300))
        .build()
        .unwrap();
    let breaker = tripped(&clock, config);
    assert_eq!(breaker.next_transition_at(), Some(Duration::from_secs(1)));
    clock.advance(Duration::from_secs(1));
    assert_eq!(breaker.next_transition_at(), None, "half-open with no probe waits for traffic");
    let p = breaker.allow().unwrap();
    assert_eq!(breaker.next_transition_at(), Some(Duration::from_millis(1300)));
    let _ = breaker.record_success(p).unwrap();
    assert_eq!(breaker.next_transition_at(), None);
}

#[test]
fn default_clock_trips_and_half_opens_in_real_time() {
    let config = Config::builder()
        .name("real-time")
        .failure_threshold(1)
        .reset_timeout(Duration::from_millis(30))
        .build()
        .unwrap();
    let breaker = CircuitBreaker::new(config);
    let p = breaker.allow().unwrap();
    let _ = breaker.record_failure(p).unwrap();
    let rejected = breaker.allow().unwrap_err();
    assert_eq!(rejected.name(), Some("real-time"));
    let after = rejected.retry_after().unwrap();
    assert!(after <= Duration::from_millis(30) + Duration::from_millis(10), "{after:?}");
    std::thread::sleep(Duration::from_millis(45));
    assert!(breaker.allow().unwrap().is_probe());
    assert!(MonotonicClock.now_nanos_for_test() > 0);
}

trait NowForTest {
    fn now_nanos_for_test(&self) -> u64;
}
impl NowForTest for MonotonicClock {
    fn now_nanos_for_test(&self) -> u64 {
        use circuit::Clock;
        let a = self.now_nanos();
        let (coarse, lag) = self.now_coarse_nanos();
        let b = self.now_nanos();
        assert!(a <= b);
        assert!(coarse <= b && b <= coarse + lag + 1_000_000_000, "coarse {coarse} lag {lag} precise {b}");
        b
    }
}

#[test]
fn config_errors_name_the_option() {
    let err = Config::builder().failure_rate_threshold(f64::NAN).build().unwrap_err();
    assert_eq!(err.option(), "failure_rate_threshold");
    assert!(err.to_string().contains("failure_rate_threshold"), "{err}");
    let err = Config::builder().backoff_multiplier(f64::INFINITY).build().unwrap_err();
    assert_eq!(err.option(), "backoff_multiplier");
    let err = Config::builder().jitter(-0.1).build().unwrap_err();
    assert_eq!(err.option(), "jitter");
    let err = Config::builder().window_buckets(4).build().unwrap_err();
    assert_eq!(err.option(), "window_buckets");
    let err = circuit::duration_from_f64("reset_timeout", -1.0, 1e9).unwrap_err();
    assert_eq!(err.option(), "reset_timeout");
    assert!(circuit::duration_from_f64("reset_timeout", f64::NAN, 1e9).is_err());
    assert!(circuit::duration_from_f64("reset_timeout", f64::INFINITY, 1e9).is_err());
    assert!(circuit::duration_from_f64("reset_timeout", 1e30, 1e9).is_err());
    let a = circuit::duration_from_f64("x", 0.999, 1e9).unwrap() + circuit::duration_from_f64("x", 0.001, 1e9).unwrap();
    assert_eq!(a, Duration::from_secs(1));
    assert_eq!(circuit::count_from_i64("window_size", -1).unwrap_err().option(), "window_size");
    assert_eq!(circuit::count_from_i64("window_size", 7), Ok(7));
}

#[test]
fn defaults_are_documented_values() {
    let c = Config::default();
    assert_eq!(c.failure_threshold(), 5);
    assert_eq!(c.reset_timeout(), Duration::from_secs(30));
    assert_eq!(c.half_open_max_calls(), 1);
    assert_eq!(c.success_threshold(), 1);
    assert_eq!(c.max_reset_timeout(), Duration::from_secs(300));
    assert_eq!(c.half_open_max_wait(), None, "defaults to the open duration that preceded half-open");
    let rate = Config::builder().failure_rate_threshold(0.5).build().unwrap();
    assert_eq!(rate.failure_threshold(), 0);
    assert_eq!(rate.minimum_calls(), 20);
    assert_eq!(rate.window(), circuit::Window::Count { size: 100 });
    let timed = Config::builder().failure_rate_threshold(0.5).window_duration(Duration::from_secs(10)).build().unwrap();
    assert_eq!(timed.window(), circuit::Window::Time { duration_nanos: 10_000_000_000, buckets: 10 });
    let small = Config::builder().failure_rate_threshold(0.5).window_size(5).build().unwrap();
    assert_eq!(small.minimum_calls(), 5);
}

#[test]
fn spellings_and_codes_round_trip() {
    for s in State::ALL {
        assert_eq!(State::parse(s.as_str()), Some(*s));
        assert_eq!(State::from_code(s.code()), Some(*s));
    }
    for r in Reason::ALL {
        assert_eq!(Reason::parse(r.as_str()), Some(*r));
    }
    for r in RejectReason::ALL {
        assert_eq!(RejectReason::parse(r.as_str()), Some(*r));
    }
    assert_eq!(State::HalfOpen.to_string(), "half_open");
    assert_eq!(State::parse("HALF_OPEN"), None);
}

#[test]
fn rejection_and_errors_display_usefully() {
    let clock = ManualClock::new();
    let config =
        Config::builder().name("db").failure_threshold(1).reset_timeout(Duration::from_secs(2)).build().unwrap();
    let breaker = tripped(&clock, config);
    let r = breaker.allow().unwrap_err();
    assert_eq!(r.to_string(), "circuit `db` rejected the call (open); retry after 2s");
    let e: circuit::Error = r.into();
    assert!(std::error::Error::source(&e).is_some());
    assert!(format!("{breaker:?}").contains("db"));
}

#[test]
fn success_is_trivial_exactly_when_a_success_would_only_count() {
    let clock = ManualClock::new();
    let config = Config::builder().failure_threshold(2).reset_timeout(Duration::from_secs(1)).build().unwrap();
    let breaker = CircuitBreaker::with_clock(config, clock.clone());
    let events = events_of(&breaker);
    let p = breaker.allow_raw().unwrap();
    assert!(breaker.success_is_trivial(&p), "closed, consecutive mode, empty run");
    // A failure below the threshold changes nothing: a success would end the run, trip nothing.
    assert_eq!(breaker.record_raw(breaker.allow_raw().unwrap(), Outcome::Failure), Ok(Recorded::Counted));
    assert!(breaker.success_is_trivial(&p), "a failure run below the threshold");
    // Asking records nothing.
    let m = breaker.metrics();
    assert_eq!((m.successes, m.consecutive_failures, m.stale), (0, 1, 0));
    // A transition ends it for every permit of the old generation.
    assert_eq!(breaker.record_raw(breaker.allow_raw().unwrap(), Outcome::Failure), Ok(Recorded::Counted));
    assert_eq!(breaker.state(), State::Open);
    assert!(!breaker.success_is_trivial(&p), "stale");
    clock.advance(Duration::from_secs(1));
    let probe = breaker.allow_raw().unwrap();
    assert!(probe.is_probe());
    assert!(!breaker.success_is_trivial(&probe), "a probe's success decides the half-open state");
    assert!(breaker.record_raw(probe, Outcome::Success).unwrap().counted());
    assert_eq!(breaker.state(), State::Closed);
    let q = breaker.allow_raw().unwrap();
    assert!(breaker.success_is_trivial(&q), "closed again, a new generation");
    breaker.disable();
    assert!(!breaker.success_is_trivial(&q));
    let d = breaker.allow_raw().unwrap();
    assert!(breaker.success_is_trivial(&d), "disabled: a success only counts");
    breaker.force_open();
    assert!(!breaker.success_is_trivial(&d));
    assert_eq!(events.lock().unwrap().len(), 5, "asking caused no transition");
    // Forged permits: a future generation, a ticket, an admission time.
    breaker.reset();
    let r = breaker.allow_raw().unwrap();
    let (generation, _, _) = r.to_parts();
    assert!(breaker.success_is_trivial(&r));
    assert!(!breaker.success_is_trivial(&RawPermit::from_parts(
        generation + 1,
        RawPermit::NO_TIME,
        RawPermit::NO_TICKET
    )));
    assert!(!breaker.success_is_trivial(&RawPermit::from_parts(generation, RawPermit::NO_TIME, 0)));
    assert!(!breaker.success_is_trivial(&RawPermit::from_parts(generation, 0, RawPermit::NO_TICKET)));
}

#[test]
fn success_is_never_trivial_with_a_rate_or_slow_call_rule() {
    let configs = [
        Config::builder().failure_rate_threshold(0.5).build().unwrap(),
        Config::builder().slow_call_duration(Duration::from_secs(1)).build().unwrap(),
        Config::builder().slow_call_duration(Duration::from_secs(1)).slow_call_rate_threshold(0.5).build().unwrap(),
    ];
    for config in configs {
        let breaker = CircuitBreaker::with_clock(config, ManualClock::new());
        let p = breaker.allow_raw().unwrap();
        assert!(!breaker.success_is_trivial(&p));
        assert!(breaker.record_raw(p, Outcome::Success).unwrap().counted());
    }
}

#[test]
fn record_successes_is_n_single_records() {
    let clock = ManualClock::new();
    let config = Config::builder().failure_threshold(3).reset_timeout(Duration::from_secs(1)).build().unwrap();
    let breaker = CircuitBreaker::with_clock(config, clock.clone());
    let p = breaker.allow_raw().unwrap();
    assert_eq!(breaker.record_successes(p, 0), Ok(0));
    assert_eq!(breaker.metrics().successes, 0);
    // Ends a failure run, counts each.
    for _ in 0..2 {
        assert!(breaker.record_raw(breaker.allow_raw().unwrap(), Outcome::Failure).unwrap().counted());
    }
    assert_eq!(breaker.record_successes(p, 5), Ok(5));
    let m = breaker.metrics();
    assert_eq!((m.successes, m.consecutive_failures, m.stale), (5, 0, 0));
    // Stale after a transition: each one counts as stale, as single records would.
    breaker.reset();
    assert_eq!(breaker.record_successes(p, 3), Ok(0));
    let m = breaker.metrics();
    assert_eq!((m.successes, m.stale), (5, 3));
    // A probe takes one outcome: once it closed the breaker, its second success is stale; while
    // the breaker stays half-open, it is refused.
    let tripping = |calls| {
        let config = Config::builder().failure_threshold(1).reset_timeout(Duration::from_secs(1));
        tripped(&clock, config.half_open_max_calls(calls).build().unwrap())
    };
    let breaker = tripping(1);
    clock.advance(Duration::from_secs(1));
    let probe = breaker.allow_raw().unwrap();
    assert_eq!(breaker.record_successes(probe, 2), Ok(1));
    assert_eq!(breaker.state(), State::Closed);
    assert_eq!((breaker.metrics().successes, breaker.metrics().stale), (1, 1));
    let breaker = tripping(2);
    clock.advance(Duration::from_secs(1));
    let probe = breaker.allow_raw().unwrap();
    assert_eq!(breaker.record_successes(probe, 2), Err(PermitError::AlreadyRecorded));
    assert_eq!(breaker.state(), State::HalfOpen);
    assert_eq!(breaker.metrics().successes, 1);
}
