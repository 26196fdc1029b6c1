//! Bounded stress test: worker threads hammer one breaker through many transitions while another
//! thread moves a shared manual clock. Checks the probe cap per generation, the event sequence and
//! that every lifetime counter adds up.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use circuit::{CircuitBreaker, Config, ManualClock, Outcome, State, Transition};

const WORKERS: usize = 3;
const CALLS_PER_WORKER: u64 = 200_000;
const MAX_PROBES: u32 = 2;

fn xorshift(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

#[test]
fn many_threads_many_transitions_counters_add_up() {
    let clock = ManualClock::new();
    let config = Config::builder()
        .failure_threshold(3)
        .reset_timeout(Duration::from_nanos(1_000))
        .backoff_multiplier(1.5)
        .max_reset_timeout(Duration::from_nanos(4_000))
        .jitter(0.3)
        .jitter_seed(7)
        .half_open_max_calls(MAX_PROBES)
        .half_open_max_wait(Duration::from_nanos(700))
        .build()
        .unwrap();
    let breaker = Arc::new(CircuitBreaker::with_clock(config, clock.clone()));
    let events: Arc<Mutex<Vec<Transition>>> = Arc::default();
    let sink = Arc::clone(&events);
    breaker.on_transition(move |t| sink.lock().unwrap().push(*t));

    let probes_per_generation: Arc<Mutex<HashMap<u64, u32>>> = Arc::default();
    let rejected_seen = Arc::new(AtomicU64::new(0));
    let done = Arc::new(AtomicBool::new(false));

    let ticker = {
        let (clock, breaker, done) = (clock.clone(), Arc::clone(&breaker), Arc::clone(&done));
        std::thread::spawn(move || {
            let mut seed = 0x9E37_79B9_7F4A_7C15_u64;
            while !done.load(Ordering::Relaxed) {
                clock.advance_nanos(xorshift(&mut seed) % 120);
                let _ = breaker.state();
                std::thread::yield_now();
            }
        })
    };
    let workers: Vec<_> = (0..WORKERS)
        .map(|w| {
            let breaker = Arc::clone(&breaker);
            let probes = Arc::clone(&probes_per_generation);
            let rejected_seen = Arc::clone(&rejected_seen);
            let clock = clock.clone();
            std::thread::spawn(move || {
                let mut seed = 0x2545_F491_4F6C_DD1D_u64 ^ (w as u64 + 1);
                for _ in 0..CALLS_PER_WORKER {
                    // Time moves under every worker's feet, so half-open, max-wait and backoff
                    // deadlines pass while other workers are mid-call.
                    clock.advance_nanos(xorshift(&mut seed) % 16);
                    match breaker.allow_raw() {
                        Err(_) => {
                            rejected_seen.fetch_add(1, Ordering::Relaxed);
                        }
                        Ok(permit) => {
                            if permit.is_probe() {
                                *probes.lock().unwrap().entry(permit.generation()).or_default() += 1;
                            }
                            // Probes are never recorded as ignored here, so a generation's probe
                            // count is its admissions.
                            let roll = xorshift(&mut seed) % 100;
                            let outcome = match roll {
                                0..=59 => Outcome::Success,
                                60..=94 => Outcome::Failure,
                                _ if permit.is_probe() => Outcome::Success,
                                _ => Outcome::Ignored,
                            };
                            let _ = breaker.record_raw(permit, outcome).expect("each permit recorded once");
                        }
                    }
                }
            })
        })
        .collect();
    for w in workers {
        w.join().unwrap();
    }
    done.store(true, Ordering::Relaxed);
    ticker.join().unwrap();

    let m = breaker.metrics();
    let events = events.lock().unwrap().clone();
    let total = WORKERS as u64 * CALLS_PER_WORKER;

    // Every call was either admitted or rejected, and every admitted permit recorded once.
    assert_eq!(m.admitted + m.rejected, total);
    assert_eq!(m.rejected, rejected_seen.load(Ordering::Relaxed));
    assert_eq!(m.successes + m.failures + m.ignored + m.stale, m.admitted, "{m:?}");

    // The probe cap held in every half-open generation.
    let probes = probes_per_generation.lock().unwrap();
    assert!(!probes.is_empty(), "the run never reached half-open");
    for (generation, count) in probes.iter() {
        assert!(*count <= MAX_PROBES, "generation {generation} admitted {count} probes");
    }

    // One event per generation change, chained and in order.
    assert!(events.len() > 200, "only {} transitions", events.len());
    assert_eq!(events.len() as u64, m.generation);
    for (i, pair) in events.windows(2).enumerate() {
        assert_eq!(pair[0].to, pair[1].from, "event {i} and {} do not chain", i + 1);
        assert!(pair[0].at <= pair[1].at, "events out of time order at {i}");
        assert_eq!(pair[0].generation + 1, pair[1].generation);
    }
    assert_eq!(events.last().map(|t| t.to), Some(m.state));
    let opened = events.iter().filter(|t| t.to == State::Open).count() as u64;
    assert_eq!(opened, m.opened);
    println!(
        "{} transitions, {} half-open generations, admitted {}, rejected {}, stale {}",
        events.len(),
        probes.len(),
        m.admitted,
        m.rejected,
        m.stale
    );
}

/// docs/semantics.md, "Atomicity": N threads recording failures at once against `failure_threshold = T` count
/// exactly T; the rest are stale, and a success or ignored outcome racing the trip is never
/// counted after the deciding failure.
#[test]
fn racing_failures_count_exactly_the_threshold() {
    const THREADS: usize = 64;
    const THRESHOLD: u32 = 10;
    for round in 0..200 {
        // Odd rounds mix in successes and ignored outcomes.
        let mixed = round % 2 == 1;
        let config = Config::builder().failure_threshold(THRESHOLD).build().unwrap();
        let breaker = Arc::new(CircuitBreaker::with_clock(config, ManualClock::new()));
        let permits: Vec<_> = (0..THREADS).map(|_| breaker.allow_raw().unwrap()).collect();
        let barrier = Arc::new(std::sync::Barrier::new(THREADS));
        let handles: Vec<_> = permits
            .into_iter()
            .enumerate()
            .map(|(i, p)| {
                let (b, barrier) = (Arc::clone(&breaker), Arc::clone(&barrier));
                std::thread::spawn(move || {
                    // In mixed rounds every eighth thread records a success or an ignored outcome.
                    let outcome = match i % 16 {
                        7 if mixed => Outcome::Success,
                        15 if mixed => Outcome::Ignored,
                        _ => Outcome::Failure,
                    };
                    barrier.wait();
                    (outcome, b.record_raw(p, outcome).unwrap())
                })
            })
            .collect();
        let results: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
        let counted = |o: Outcome| results.iter().filter(|(x, r)| *x == o && r.counted()).count() as u64;
        let m = breaker.metrics();
        assert_eq!(m.state, State::Open, "round {round}");
        // A counted success resets the run, so failures before it do not count toward the trip.
        let expected = if mixed { m.failures } else { u64::from(THRESHOLD) };
        assert!(m.failures >= u64::from(THRESHOLD) && m.failures <= u64::from(THRESHOLD) * (m.successes + 1));
        assert_eq!(counted(Outcome::Failure), expected, "round {round}: {m:?}");
        assert_eq!(m.failures, counted(Outcome::Failure), "round {round}: {m:?}");
        assert_eq!(m.successes, counted(Outcome::Success), "round {round}");
        assert_eq!(m.ignored, counted(Outcome::Ignored), "round {round}");
        assert_eq!(m.failures + m.successes + m.ignored + m.stale, THREADS as u64, "round {round}: {m:?}");
        assert_eq!(m.opened, 1);
    }
}

/// Rate windows under contention: many threads record into one count window large enough to hold
/// every outcome, with a failure share that never trips it. Lock-free successes from every thread
/// (private cells and, beyond the private slots, the shared cell) and locked failures must all be
/// in the window exactly once.
#[test]
fn many_threads_fill_a_rate_window_exactly() {
    const THREADS: u64 = 24; // more than the private slots: some threads share a cell
    const CALLS: u64 = 20_000;
    let config = Config::builder()
        .failure_rate_threshold(0.5)
        .window_size(1_000_000)
        .minimum_calls(1_000)
        .reset_timeout(Duration::from_secs(3600))
        .build()
        .unwrap();
    let breaker = Arc::new(CircuitBreaker::with_clock(config, ManualClock::new()));
    let workers: Vec<_> = (0..THREADS)
        .map(|t| {
            let breaker = Arc::clone(&breaker);
            std::thread::spawn(move || {
                let mut failures = 0;
                for i in 0..CALLS {
                    let permit = breaker.allow().expect("closed");
                    let fail = (i + t) % 10 == 0;
                    failures += u64::from(fail);
                    let outcome = if fail { Outcome::Failure } else { Outcome::Success };
                    assert!(breaker.record(permit, outcome).unwrap().counted());
                    if i % 997 == 0 {
                        let m = breaker.metrics();
                        assert!(m.window_calls <= THREADS * CALLS && m.state == State::Closed);
                    }
                }
                failures
            })
        })
        .collect();
    let failures: u64 = workers.into_iter().map(|w| w.join().unwrap()).sum();
    let m = breaker.metrics();
    assert_eq!(m.state, State::Closed);
    assert_eq!(m.window_calls, THREADS * CALLS);
    assert_eq!(m.window_failures, failures);
    assert_eq!((m.successes, m.failures, m.stale), (THREADS * CALLS - failures, failures, 0));
}

/// Threads racing into a failure-rate trip: it happens exactly once, every outcome is either
/// counted or stale, and nothing is counted in the open generation.
#[test]
fn racing_outcomes_trip_a_rate_window_once() {
    for round in 0..50 {
        let config = Config::builder()
            .failure_rate_threshold(0.5)
            .window_size(64)
            .minimum_calls(16)
            .reset_timeout(Duration::from_secs(3600))
            .build()
            .unwrap();
        let breaker = Arc::new(CircuitBreaker::with_clock(config, ManualClock::new()));
        let events: Arc<Mutex<Vec<Transition>>> = Arc::default();
        let sink = Arc::clone(&events);
        breaker.on_transition(move |t| sink.lock().unwrap().push(*t));
        let workers: Vec<_> = (0..8u64)
            .map(|t| {
                let breaker = Arc::clone(&breaker);
                std::thread::spawn(move || {
                    let (mut counted, mut stale) = (0u64, 0u64);
                    for i in 0..2_000u64 {
                        let Ok(permit) = breaker.allow() else { break };
                        let fail = (i * 7 + t + round) % 3 != 0 && i > 200;
                        let outcome = if fail { Outcome::Failure } else { Outcome::Success };
                        if breaker.record(permit, outcome).unwrap().counted() {
                            counted += 1;
                        } else {
                            stale += 1;
                        }
                    }
                    (counted, stale)
                })
            })
            .collect();
        let (counted, stale) =
            workers.into_iter().map(|w| w.join().unwrap()).fold((0, 0), |a, b| (a.0 + b.0, a.1 + b.1));
        let m = breaker.metrics();
        let events = events.lock().unwrap();
        assert_eq!(events.len(), 1, "round {round}: {events:?}");
        assert_eq!(m.state, State::Open);
        assert_eq!((m.successes + m.failures, m.stale), (counted, stale), "round {round}");
        assert_eq!(m.admitted, counted + stale);
    }
}
