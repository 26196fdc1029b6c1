//! Time-window races found in review: a lock-free success that passed its `warm` check for one
//! bucket, then paused before its CAS while the window's head moved on (a decision at the next
//! bucket, or a metrics read), must not land in its old bucket without a decision. A clock whose
//! precise reading blocks once on an armed thread holds the success at exactly that point (the
//! slow-call rule makes `success_to_cell` read the precise clock between the check and the CAS).
use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, mpsc};
use std::time::Duration;

use circuit::{CircuitBreaker, Clock, Config, Outcome, State};

thread_local! {
    static ARMED: Cell<bool> = const { Cell::new(false) };
}

#[derive(Default)]
struct Gate {
    paused: bool,
    released: bool,
}

/// A manual clock whose precise reading blocks once on an armed thread.
#[derive(Default)]
struct GatedClock {
    nanos: AtomicU64,
    gate: Mutex<Gate>,
    cv: Condvar,
}

impl GatedClock {
    fn set(&self, t: u64) {
        self.nanos.store(t, Ordering::SeqCst);
    }
    fn wait_paused(&self) {
        let mut g = self.gate.lock().unwrap();
        while !g.paused {
            g = self.cv.wait(g).unwrap();
        }
    }
    fn release(&self) {
        self.gate.lock().unwrap().released = true;
        self.cv.notify_all();
    }
}

impl Clock for GatedClock {
    fn now_nanos(&self) -> u64 {
        if ARMED.with(|a| a.replace(false)) {
            let mut g = self.gate.lock().unwrap();
            g.paused = true;
            self.cv.notify_all();
            while !g.released {
                g = self.cv.wait(g).unwrap();
            }
        }
        self.nanos.load(Ordering::SeqCst)
    }
    fn now_coarse_nanos(&self) -> (u64, u64) {
        (self.nanos.load(Ordering::SeqCst), 0)
    }
}

struct Shared(Arc<GatedClock>);
impl Clock for Shared {
    fn now_nanos(&self) -> u64 {
        self.0.now_nanos()
    }
    fn now_coarse_nanos(&self) -> (u64, u64) {
        self.0.now_coarse_nanos()
    }
}

#[test]
fn late_success_into_an_old_bucket_raises_calls_to_minimum_without_a_decision() {
    let clock = Arc::new(GatedClock::default());
    let config = Config::builder()
        .failure_rate_threshold(0.5)
        .minimum_calls(3)
        .window_duration(Duration::from_nanos(20))
        .window_buckets(2)
        // Only so that success_to_cell reads the precise clock between its `warm` check and its CAS.
        .slow_call_duration(Duration::from_secs(1))
        .reset_timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let breaker = Arc::new(CircuitBreaker::with_clock(config, Shared(clock.clone())));

    // Bucket 0: two successes (locked: minimum_calls not reached).
    for _ in 0..2 {
        let p = breaker.allow().unwrap();
        assert!(breaker.record_success(p).unwrap().counted());
    }
    clock.set(10); // bucket 1

    let (to_a, a_rx) = mpsc::channel::<()>();
    let (a_done_tx, a_done) = mpsc::channel();
    let a = {
        let b = breaker.clone();
        std::thread::spawn(move || {
            // Thread A: a failure in bucket 1 (locked; opens A's cell for epoch 1). Window: S S F.
            let p = b.allow_raw().unwrap();
            assert!(b.record_raw(p, Outcome::Failure).unwrap().counted());
            a_done_tx.send(()).unwrap();
            a_rx.recv().unwrap();
            // A success in bucket 1: warm == 2, so it goes to A's cell; pauses before the CAS.
            let p = b.allow_raw().unwrap();
            ARMED.with(|a| a.set(true));
            b.record_raw(p, Outcome::Success).unwrap()
        })
    };
    a_done.recv().unwrap();
    let m = breaker.metrics();
    assert_eq!((m.state, m.window_calls, m.window_failures), (State::Closed, 3, 1));
    to_a.send(()).unwrap();
    clock.wait_paused();

    // Bucket 2: bucket 0 (two successes) expires. Thread B records a failure: window F | F,
    // 2 calls < minimum: no trip, cells sealed then unsealed (A's epoch-1 cell too), warm = 0.
    clock.set(20);
    let b = {
        let b = breaker.clone();
        std::thread::spawn(move || {
            let p = b.allow_raw().unwrap();
            b.record_raw(p, Outcome::Failure).unwrap()
        })
    };
    assert!(b.join().unwrap().counted());
    clock.release();
    let recorded = a.join().unwrap();
    let m = breaker.metrics();
    // A locked reference trips in either order (A before B: B sees S F S | F = 2/3 after expiry;
    // A after B: A's success brings F S | F to 3 calls, 2/3).
    assert!(
        !(recorded.counted() && m.state == State::Closed && m.window_calls >= 3 && m.failure_rate >= 0.5),
        "rule holds after a counted success, yet the breaker is closed: {m:?}"
    );
}

#[test]
fn late_success_after_a_metrics_read_moved_the_head() {
    let clock = Arc::new(GatedClock::default());
    let config = Config::builder()
        .failure_rate_threshold(0.5)
        .minimum_calls(3)
        .window_duration(Duration::from_nanos(20))
        .window_buckets(2)
        .slow_call_duration(Duration::from_secs(1))
        .reset_timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let breaker = Arc::new(CircuitBreaker::with_clock(config, Shared(clock.clone())));
    for _ in 0..4 {
        let p = breaker.allow().unwrap();
        assert!(breaker.record_success(p).unwrap().counted());
    }
    clock.set(10);
    let (go_tx, go_rx) = mpsc::channel::<()>();
    let (done_tx, done_rx) = mpsc::channel();
    let a = {
        let b = breaker.clone();
        std::thread::spawn(move || {
            for _ in 0..2 {
                let p = b.allow_raw().unwrap();
                assert!(b.record_raw(p, Outcome::Failure).unwrap().counted());
            }
            done_tx.send(()).unwrap();
            go_rx.recv().unwrap();
            let p = b.allow_raw().unwrap();
            ARMED.with(|a| a.set(true));
            b.record_raw(p, Outcome::Success).unwrap()
        })
    };
    done_rx.recv().unwrap();
    let m = breaker.metrics();
    assert_eq!((m.state, m.window_calls, m.window_failures), (State::Closed, 6, 2));
    go_tx.send(()).unwrap();
    clock.wait_paused();
    clock.set(20);
    let _ = breaker.metrics(); // moves the head to bucket 2: F F
    clock.release();
    let recorded = a.join().unwrap();
    let m = breaker.metrics();
    assert!(
        !(recorded.counted() && m.state == State::Closed && m.window_calls >= 3 && m.failure_rate >= 0.5),
        "rule holds after a counted success, yet the breaker is closed: {m:?}"
    );
}
