//! The engines every Rust benchmark compares: circuit's two closed-state modes and the `failsafe`
//! and `recloser` crates, set up identically for the full criterion run (`closed_path.rs`) and the
//! quick ratio run (`quick.rs`). The names are the criterion bench ids, which `ratios.json` and
//! `scripts/bench-report` refer to.

use std::hint::black_box;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use circuit::{CircuitBreaker, Config};

const LONG: Duration = Duration::from_secs(3600);

pub fn consecutive() -> CircuitBreaker {
    CircuitBreaker::new(Config::builder().failure_threshold(5).reset_timeout(LONG).build().unwrap())
}

pub fn failure_rate() -> CircuitBreaker {
    CircuitBreaker::new(
        Config::builder()
            .failure_rate_threshold(0.5)
            .window_size(100)
            .minimum_calls(20)
            .reset_timeout(LONG)
            .build()
            .unwrap(),
    )
}

type Failsafe = failsafe::StateMachine<failsafe::failure_policy::ConsecutiveFailures<failsafe::backoff::Constant>, ()>;

fn failsafe_consecutive() -> Failsafe {
    failsafe::Config::new()
        .failure_policy(failsafe::failure_policy::consecutive_failures(5, failsafe::backoff::constant(LONG)))
        .build()
}

type FailsafeDefault = failsafe::StateMachine<
    failsafe::failure_policy::OrElse<
        failsafe::failure_policy::SuccessRateOverTimeWindow<failsafe::backoff::EqualJittered>,
        failsafe::failure_policy::ConsecutiveFailures<failsafe::backoff::EqualJittered>,
    >,
    (),
>;

fn recloser() -> recloser::Recloser {
    recloser::Recloser::custom().error_rate(0.5).closed_len(100).open_wait(LONG).build()
}

/// One admission plus one success on an engine, with its lifetime metrics counted: what a
/// protected call costs the caller on top of the call itself.
pub trait Pair: Send + Sync {
    fn pair(&self);
    /// Whether the engine still admits calls: a benchmark of pairs that ends with a rejecting
    /// engine measured rejections instead, and must fail rather than report them.
    fn admits(&self) -> bool;
}

struct Circuit(CircuitBreaker);
impl Pair for Circuit {
    #[inline]
    fn pair(&self) {
        if let Ok(permit) = self.0.allow() {
            let _ = black_box(self.0.record_success(permit));
        }
    }
    fn admits(&self) -> bool {
        self.0.state() == circuit::State::Closed
    }
}

struct FailsafePair(Failsafe);
impl Pair for FailsafePair {
    #[inline]
    fn pair(&self) {
        if self.0.is_call_permitted() {
            self.0.on_success();
        }
    }
    fn admits(&self) -> bool {
        self.0.is_call_permitted()
    }
}

/// failsafe with its default policy (success rate over a time window, or consecutive failures),
/// through its `call` API: what `failsafe::Config::new().build()` gives a user.
struct FailsafeDefaultCall(FailsafeDefault);
impl Pair for FailsafeDefaultCall {
    #[inline]
    fn pair(&self) {
        use failsafe::CircuitBreaker as _;
        let _ = black_box(self.0.call(|| Ok::<(), ()>(())));
    }
    fn admits(&self) -> bool {
        self.0.is_call_permitted()
    }
}

struct RecloserPair(recloser::Recloser);
impl Pair for RecloserPair {
    #[inline]
    fn pair(&self) {
        let _ = black_box(self.0.call(|| Ok::<(), ()>(())));
    }
    fn admits(&self) -> bool {
        self.0.call(|| Ok::<(), ()>(())).is_ok()
    }
}

/// Every closed-state engine, by bench id.
pub fn engines() -> Vec<(&'static str, Arc<dyn Pair>)> {
    vec![
        ("circuit_consecutive", Arc::new(Circuit(consecutive()))),
        ("circuit_failure_rate", Arc::new(Circuit(failure_rate()))),
        ("failsafe_consecutive", Arc::new(FailsafePair(failsafe_consecutive()))),
        ("failsafe_default_call", Arc::new(FailsafeDefaultCall(failsafe::Config::new().build()))),
        ("recloser_error_rate", Arc::new(RecloserPair(recloser()))),
    ]
}

/// Two threads each doing `n` pairs on one engine: the wall time from the first worker's start to
/// the last worker's end, per pair *per thread* once divided by `n` (throughput ratio to one
/// thread = `2 * single / this`). Each worker reads the clock itself: a timer on the spawning
/// thread, descheduled after the start barrier on a busy machine, could start after the workers
/// had finished and report a near-zero time.
pub fn two_threads(engine: &dyn Pair, n: u64) -> Duration {
    let start = Barrier::new(2);
    let spans: Vec<(Instant, Instant)> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..2)
            .map(|_| {
                scope.spawn(|| {
                    start.wait();
                    let began = Instant::now();
                    for _ in 0..n {
                        engine.pair();
                    }
                    (began, Instant::now())
                })
            })
            .collect();
        workers.into_iter().map(|w| w.join().unwrap()).collect()
    });
    let began = spans.iter().map(|s| s.0).min().unwrap();
    spans.iter().map(|s| s.1).max().unwrap() - began
}

/// One rejected admission on an engine that is open.
pub trait Reject {
    /// Asks for admission; true when refused (always, once set up).
    fn reject(&self) -> bool;
}

struct CircuitOpen(CircuitBreaker);
impl Reject for CircuitOpen {
    #[inline]
    fn reject(&self) -> bool {
        self.0.allow().is_err()
    }
}

struct FailsafeOpen(Failsafe);
impl Reject for FailsafeOpen {
    #[inline]
    fn reject(&self) -> bool {
        !self.0.is_call_permitted()
    }
}

struct RecloserOpen(recloser::Recloser);
impl Reject for RecloserOpen {
    #[inline]
    fn reject(&self) -> bool {
        self.0.call(|| Ok::<(), ()>(())).is_err()
    }
}

/// Every engine tripped open by failures (not forced), by bench id.
pub fn open_engines() -> Vec<(&'static str, Box<dyn Reject>)> {
    let open = consecutive();
    while open.allow().is_ok_and(|p| open.record_failure(p).is_ok()) {}
    assert_eq!(open.state(), circuit::State::Open);

    let fs = failsafe_consecutive();
    for _ in 0..5 {
        fs.on_error();
    }
    assert!(!fs.is_call_permitted());

    let rc = recloser();
    for _ in 0..200 {
        let _ = rc.call(|| Err::<(), ()>(()));
    }
    assert!(matches!(rc.call(|| Ok::<(), ()>(())), Err(recloser::Error::Rejected)));

    vec![
        ("circuit", Box::new(CircuitOpen(open))),
        ("failsafe", Box::new(FailsafeOpen(fs))),
        ("recloser", Box::new(RecloserOpen(rc))),
    ]
}
