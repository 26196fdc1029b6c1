//! loom model checks of the engine's concurrency invariants (breaker.rs "Invariants").
//!
//! Run with: `RUSTFLAGS="--cfg loom" CARGO_TARGET_DIR=target/loom LOOM_MAX_PREEMPTIONS=2
//! cargo test -p circuit-core --release --test loom` (or `make test-loom`).
#![cfg(loom)]

use std::time::Duration;

use circuit::{CircuitBreaker, Config, ManualClock, Outcome, Reason, State, Transition};
use loom::sync::{Arc, Mutex};
use loom::thread;

/// A breaker tripped at t=0 with a 10 ns open duration, clock already at the due instant.
fn due_for_half_open(max_calls: u32, max_wait: u64) -> (Arc<CircuitBreaker>, ManualClock) {
    let clock = ManualClock::new();
    let config = Config::builder()
        .failure_threshold(1)
        .reset_timeout(Duration::from_nanos(10))
        .half_open_max_calls(max_calls)
        .half_open_max_wait(Duration::from_nanos(max_wait))
        .jitter_seed(1)
        .build()
        .unwrap();
    let breaker = Arc::new(CircuitBreaker::with_clock(config, clock.clone()));
    let p = breaker.allow().unwrap();
    assert!(breaker.record_failure(p).unwrap().counted());
    clock.advance_nanos(10);
    (breaker, clock)
}

fn record_events(breaker: &CircuitBreaker) -> Arc<Mutex<Vec<Transition>>> {
    let seen: Arc<Mutex<Vec<Transition>>> = Arc::new(Mutex::new(Vec::new()));
    let sink = seen.clone();
    breaker.on_transition(move |t| sink.lock().unwrap().push(*t));
    seen
}

fn half_open_admits_exactly(max_calls: u32) {
    loom::model(move || {
        let (breaker, _clock) = due_for_half_open(max_calls, 0);
        let handles: Vec<_> = (0..3)
            .map(|_| {
                let b = breaker.clone();
                thread::spawn(move || b.allow_raw().ok())
            })
            .collect();
        let admitted: Vec<_> = handles.into_iter().filter_map(|h| h.join().unwrap()).collect();
        assert_eq!(admitted.len(), max_calls as usize, "admitted {admitted:?}");
        assert!(admitted.iter().all(|p| p.is_probe()));
        assert_eq!(breaker.state(), State::HalfOpen);
    });
}

#[test]
fn half_open_admits_exactly_one_probe_among_three_threads() {
    half_open_admits_exactly(1);
}

#[test]
fn half_open_admits_exactly_two_probes_among_three_threads() {
    half_open_admits_exactly(2);
}

#[test]
fn probe_failure_racing_max_wait_transitions_once() {
    loom::model(|| {
        let (breaker, clock) = due_for_half_open(1, 5);
        let probe = breaker.allow_raw().unwrap();
        let seen = record_events(&breaker);
        let recorder = {
            let b = breaker.clone();
            thread::spawn(move || b.record_raw(probe, Outcome::Failure).unwrap())
        };
        let observer = {
            let b = breaker.clone();
            thread::spawn(move || {
                clock.advance_nanos(5);
                b.state()
            })
        };
        let recorded = recorder.join().unwrap();
        observer.join().unwrap();
        let events = seen.lock().unwrap().clone();
        // Exactly one way out of this half-open generation, whichever thread won.
        assert_eq!(events.len(), 1, "{events:?}");
        let out = events[0];
        assert_eq!((out.from, out.to), (State::HalfOpen, State::Open));
        match out.reason {
            Reason::ProbeFailure => assert!(recorded.counted()),
            Reason::HalfOpenMaxWait => assert!(!recorded.counted()),
            other => panic!("unexpected reason {other}"),
        }
        assert_eq!(breaker.metrics().generation, 3);
    });
}

#[test]
fn racing_failures_trip_once() {
    loom::model(|| {
        let clock = ManualClock::new();
        let config = Config::builder().failure_threshold(2).build().unwrap();
        let breaker = Arc::new(CircuitBreaker::with_clock(config, clock));
        let seen = record_events(&breaker);
        let permits: Vec<_> = (0..3).map(|_| breaker.allow_raw().unwrap()).collect();
        let handles: Vec<_> = permits
            .into_iter()
            .map(|p| {
                let b = breaker.clone();
                thread::spawn(move || b.record_raw(p, Outcome::Failure).unwrap())
            })
            .collect();
        let outcomes: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
        // All three were admitted in generation 0; exactly the threshold counts (docs/semantics.md,
        // "Atomicity"), the one applied after the deciding failure is stale.
        assert_eq!(outcomes.iter().filter(|r| r.counted()).count(), 2, "{outcomes:?}");
        let events = seen.lock().unwrap().clone();
        assert_eq!(events.len(), 1, "{events:?}");
        assert_eq!(events[0].reason, Reason::FailureThreshold);
        let m = breaker.metrics();
        assert_eq!(m.state, State::Open);
        assert_eq!((m.failures, m.stale), (2, 1));
    });
}

/// A success or an ignored outcome racing the deciding failure: counted only if it took effect
/// before the run reached the threshold, which a success would have reset.
#[test]
fn outcome_racing_the_deciding_failure_is_counted_only_before_it() {
    for other in [Outcome::Success, Outcome::Ignored] {
        loom::model(move || {
            let clock = ManualClock::new();
            let config = Config::builder().failure_threshold(1).build().unwrap();
            let breaker = Arc::new(CircuitBreaker::with_clock(config, clock));
            let failure = breaker.allow_raw().unwrap();
            let racer = breaker.allow_raw().unwrap();
            let failing = {
                let b = breaker.clone();
                thread::spawn(move || b.record_raw(failure, Outcome::Failure).unwrap())
            };
            let racing = {
                let b = breaker.clone();
                thread::spawn(move || {
                    // A failure run of 1 read from the shared run word means the deciding CAS has
                    // taken effect and the trip is still pending (read-read coherence: the
                    // record's own read of the run cannot see an older value).
                    let failure_seen = b.metrics().consecutive_failures == 1;
                    (failure_seen, b.record_raw(racer, other).unwrap())
                })
            };
            assert!(failing.join().unwrap().counted());
            let (failure_seen, recorded) = racing.join().unwrap();
            let m = breaker.metrics();
            assert_eq!(m.state, State::Open);
            assert_eq!(m.failures, 1);
            if failure_seen {
                assert!(!recorded.counted(), "{other:?} counted after the deciding failure");
            }
            assert_eq!(m.successes + m.ignored + m.stale, 1, "{m:?}");
        });
    }
}

/// docs/semantics.md, "Observability": once remove_listener has returned, the listener is never called again,
/// whichever thread is delivering (here: the tripping thread), so its resources may be freed.
#[test]
fn removed_listener_is_never_called_after_remove_returns() {
    loom::model(|| {
        let clock = ManualClock::new();
        let config = Config::builder().failure_threshold(1).build().unwrap();
        let breaker = Arc::new(CircuitBreaker::with_clock(config, clock));
        // `freed` stands for the listener's userdata: set once remove_listener returned.
        let freed = Arc::new(loom::sync::atomic::AtomicBool::new(false));
        // A listener's panic is caught by the breaker, so the listener reports through a flag.
        let late = Arc::new(loom::sync::atomic::AtomicBool::new(false));
        let (f, l) = (freed.clone(), late.clone());
        let id = breaker.on_transition(move |_| {
            if f.load(loom::sync::atomic::Ordering::SeqCst) {
                l.store(true, loom::sync::atomic::Ordering::SeqCst);
            }
        });
        let permit = breaker.allow_raw().unwrap();
        let tripper = {
            let b = breaker.clone();
            thread::spawn(move || b.record_raw(permit, Outcome::Failure).unwrap())
        };
        assert!(breaker.remove_listener(id));
        freed.store(true, loom::sync::atomic::Ordering::SeqCst);
        assert!(tripper.join().unwrap().counted());
        assert_eq!(breaker.state(), State::Open);
        assert!(!late.load(loom::sync::atomic::Ordering::SeqCst), "called after remove_listener returned");
    });
}

#[test]
fn stale_failure_racing_reset_never_reaches_the_new_generation() {
    loom::model(|| {
        let clock = ManualClock::new();
        let config = Config::builder().failure_threshold(5).build().unwrap();
        let breaker = Arc::new(CircuitBreaker::with_clock(config, clock));
        let permit = breaker.allow_raw().unwrap();
        let recorder = {
            let b = breaker.clone();
            thread::spawn(move || b.record_raw(permit, Outcome::Failure).unwrap())
        };
        let resetter = {
            let b = breaker.clone();
            thread::spawn(move || b.reset())
        };
        let recorded = recorder.join().unwrap();
        resetter.join().unwrap();
        let m = breaker.metrics();
        assert_eq!(m.generation, 1);
        // Whether the failure landed before the reset (counted) or after (stale), the new
        // generation's run is empty.
        assert_eq!(m.consecutive_failures, 0);
        assert_eq!(m.failures + m.stale, 1);
        assert_eq!(recorded.counted(), m.failures == 1);
    });
}

#[test]
fn transitions_are_dated_in_order_when_the_clock_was_read_before_the_lock() {
    loom::model(|| {
        let clock = ManualClock::new();
        let config = Config::builder().failure_threshold(5).build().unwrap();
        let breaker = Arc::new(CircuitBreaker::with_clock(config, clock.clone()));
        let seen = record_events(&breaker);
        let forcer = {
            let b = breaker.clone();
            thread::spawn(move || b.force_open())
        };
        let resetter = {
            let b = breaker.clone();
            thread::spawn(move || {
                clock.advance_nanos(5);
                b.reset();
            })
        };
        forcer.join().unwrap();
        resetter.join().unwrap();
        let events = seen.lock().unwrap().clone();
        assert_eq!(events.len(), 2, "{events:?}");
        assert!(events[0].at <= events[1].at, "out of order: {events:?}");
    });
}

/// A manual transition racing the deciding failure never overtakes its trip: a failure reported
/// counted always shows its `closed -> open` event before the reset's (docs/semantics.md, "Atomicity").
#[test]
fn reset_racing_the_deciding_failure_keeps_the_trip() {
    loom::model(|| {
        let clock = ManualClock::new();
        let config = Config::builder().failure_threshold(1).build().unwrap();
        let breaker = Arc::new(CircuitBreaker::with_clock(config, clock));
        let seen = record_events(&breaker);
        let permit = breaker.allow_raw().unwrap();
        let failing = {
            let b = breaker.clone();
            thread::spawn(move || b.record_raw(permit, Outcome::Failure).unwrap())
        };
        let resetting = {
            let b = breaker.clone();
            thread::spawn(move || b.reset())
        };
        let recorded = failing.join().unwrap();
        resetting.join().unwrap();
        let reasons: Vec<Reason> = seen.lock().unwrap().iter().map(|t| t.reason).collect();
        if recorded.counted() {
            assert_eq!(reasons, [Reason::FailureThreshold, Reason::Reset]);
            assert_eq!(breaker.metrics().opened, 1);
        } else {
            assert_eq!(reasons, [Reason::Reset]);
        }
        assert_eq!(breaker.state(), State::Closed);
    });
}

/// A count window of 3 holding [failure, success], failure rate 0.6, minimum 2: warm, so a success
/// goes lock-free into a success cell. A failure racing it trips the breaker only if it comes
/// first ([F, S, F] is 2/3); after the success it does not ([S, S, F] is 1/3). The success is
/// therefore either counted before the failure (and nothing trips) or stale (cells module docs).
#[test]
fn lock_free_success_racing_a_deciding_failure_is_counted_before_it_or_stale() {
    loom::model(|| {
        let config = Config::builder()
            .failure_rate_threshold(0.6)
            .window_size(3)
            .minimum_calls(2)
            .reset_timeout(Duration::from_secs(10))
            .build()
            .unwrap();
        let breaker = Arc::new(CircuitBreaker::with_clock(config, ManualClock::new()));
        let first = breaker.allow().unwrap();
        assert!(breaker.record_failure(first).unwrap().counted());
        let second = breaker.allow().unwrap();
        assert!(breaker.record_success(second).unwrap().counted());
        let success = breaker.allow_raw().unwrap();
        let failure = breaker.allow_raw().unwrap();
        let succeeder = {
            let b = breaker.clone();
            thread::spawn(move || b.record_raw(success, Outcome::Success).unwrap())
        };
        let failer = {
            let b = breaker.clone();
            thread::spawn(move || b.record_raw(failure, Outcome::Failure).unwrap())
        };
        let success = succeeder.join().unwrap();
        assert!(failer.join().unwrap().counted());
        let m = breaker.metrics();
        if success.counted() {
            assert_eq!(m.state, State::Closed, "a counted success preceded the failure: nothing trips");
            assert_eq!((m.window_calls, m.window_failures), (3, 1));
            assert_eq!((m.successes, m.failures, m.stale), (2, 2, 0));
        } else {
            assert_eq!(m.state, State::Open, "a stale success came after the deciding failure");
            assert_eq!((m.successes, m.failures, m.stale), (1, 2, 1));
        }
    });
}

/// Two lock-free successes on different threads and a metrics read racing them: the window never
/// loses or double-counts one, and a failure after them sees both.
#[test]
fn lock_free_successes_are_folded_exactly_once() {
    loom::model(|| {
        let config = Config::builder()
            .failure_rate_threshold(0.5)
            .window_size(4)
            .minimum_calls(1)
            .reset_timeout(Duration::from_secs(10))
            .build()
            .unwrap();
        let breaker = Arc::new(CircuitBreaker::with_clock(config, ManualClock::new()));
        let warmup = breaker.allow().unwrap();
        assert!(breaker.record_success(warmup).unwrap().counted());
        let workers: Vec<_> = (0..2)
            .map(|_| {
                let b = breaker.clone();
                let permit = b.allow_raw().unwrap();
                thread::spawn(move || b.record_raw(permit, Outcome::Success).unwrap())
            })
            .collect();
        let calls = breaker.metrics().window_calls;
        assert!((1..=3).contains(&calls), "window calls {calls}");
        for w in workers {
            assert!(w.join().unwrap().counted());
        }
        assert_eq!(breaker.metrics().window_calls, 3);
        let failure = breaker.allow().unwrap();
        assert!(breaker.record_failure(failure).unwrap().counted());
        let m = breaker.metrics();
        assert_eq!((m.state, m.window_calls, m.window_failures), (State::Closed, 4, 1));
    });
}

/// A time window of two 10 ns buckets, failure rate 0.5, minimum 3. Thread A records a failure in
/// bucket 1 (which opens its success cell there) and then a lock-free success; thread B moves the
/// clock to bucket 2 (bucket 0 expires) and records a failure. Whatever the interleaving, the last
/// counted outcome was decided on the final window (nothing expires after it), so a breaker left
/// closed must not hold a window on which the rule holds (review finding: a success that passed
/// its `warm` check for bucket 1 landed there after B's decision at bucket 2).
#[test]
fn lock_free_success_never_lands_in_an_older_bucket_after_a_decision() {
    loom::model(|| {
        let clock = ManualClock::new();
        let config = Config::builder()
            .failure_rate_threshold(0.5)
            .minimum_calls(3)
            .window_duration(Duration::from_nanos(20))
            .window_buckets(2)
            .reset_timeout(Duration::from_secs(10))
            .build()
            .unwrap();
        let breaker = Arc::new(CircuitBreaker::with_clock(config, clock.clone()));
        for _ in 0..2 {
            let p = breaker.allow().unwrap();
            assert!(breaker.record_success(p).unwrap().counted());
        }
        clock.advance_nanos(10);
        let a = {
            let b = breaker.clone();
            thread::spawn(move || {
                let p = b.allow_raw().unwrap();
                assert!(b.record_raw(p, Outcome::Failure).unwrap().counted());
                match b.allow_raw() {
                    Ok(p) => b.record_raw(p, Outcome::Success).unwrap().counted(),
                    Err(_) => false,
                }
            })
        };
        let b = {
            let (b, clock) = (breaker.clone(), clock.clone());
            thread::spawn(move || {
                clock.advance_nanos(10);
                if let Ok(p) = b.allow_raw() {
                    let _ = b.record_raw(p, Outcome::Failure).unwrap();
                }
            })
        };
        a.join().unwrap();
        b.join().unwrap();
        let m = breaker.metrics();
        if m.state == State::Closed {
            assert!(
                m.window_calls < 3 || m.failure_rate < 0.5,
                "closed, yet the rule holds on the window the last outcome was decided on: {m:?}"
            );
        }
    });
}
