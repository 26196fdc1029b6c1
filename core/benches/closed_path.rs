//! The closed-state hot path and the open-state rejection path, circuit against the `failsafe`
//! and `recloser` crates in the same run. `scripts/bench-report` turns the results into
//! BENCHMARKS.md.
//!
//! Every "pair" is one admission plus one recorded success, with lifetime metrics counted, which
//! is what a protected call costs the caller on top of the call itself.

use std::hint::black_box;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use circuit::{CircuitBreaker, Config};
use criterion::{Criterion, criterion_group, criterion_main};

const LONG: Duration = Duration::from_secs(3600);

fn consecutive() -> CircuitBreaker {
    CircuitBreaker::new(Config::builder().failure_threshold(5).reset_timeout(LONG).build().unwrap())
}

fn failure_rate() -> CircuitBreaker {
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

/// One admission plus one success on each engine.
trait Pair: Send + Sync {
    fn pair(&self);
}

struct Circuit(CircuitBreaker);
impl Pair for Circuit {
    #[inline]
    fn pair(&self) {
        if let Ok(permit) = self.0.allow() {
            let _ = black_box(self.0.record_success(permit));
        }
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
}

struct RecloserPair(recloser::Recloser);
impl Pair for RecloserPair {
    #[inline]
    fn pair(&self) {
        let _ = black_box(self.0.call(|| Ok::<(), ()>(())));
    }
}

fn engines() -> Vec<(&'static str, Arc<dyn Pair>)> {
    vec![
        ("circuit_consecutive", Arc::new(Circuit(consecutive()))),
        ("circuit_failure_rate", Arc::new(Circuit(failure_rate()))),
        ("failsafe_consecutive", Arc::new(FailsafePair(failsafe_consecutive()))),
        ("failsafe_default_call", Arc::new(FailsafeDefaultCall(failsafe::Config::new().build()))),
        ("recloser_error_rate", Arc::new(RecloserPair(recloser()))),
    ]
}

fn closed_single_thread(c: &mut Criterion) {
    let mut group = c.benchmark_group("closed_pair_1_thread");
    for (name, engine) in engines() {
        group.bench_function(name, |b| b.iter(|| engine.pair()));
    }
    group.finish();
}

/// Two threads on one shared breaker; the reported time is per pair *per thread*, so the
/// throughput ratio to the single-thread figure is `2 * single / this`.
fn closed_two_threads(c: &mut Criterion) {
    let mut group = c.benchmark_group("closed_pair_2_threads");
    for (name, engine) in engines() {
        group.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let start = Arc::new(Barrier::new(3));
                let workers: Vec<_> = (0..2)
                    .map(|_| {
                        let (engine, start) = (Arc::clone(&engine), Arc::clone(&start));
                        std::thread::spawn(move || {
                            start.wait();
                            for _ in 0..iters {
                                engine.pair();
                            }
                        })
                    })
                    .collect();
                start.wait();
                let began = Instant::now();
                for w in workers {
                    w.join().unwrap();
                }
                began.elapsed()
            })
        });
    }
    group.finish();
}

fn open_rejection(c: &mut Criterion) {
    let mut group = c.benchmark_group("open_rejection");
    let open = consecutive();
    open.force_open();
    open.reset();
    while open.allow().is_ok_and(|p| open.record_failure(p).is_ok()) {}
    assert_eq!(open.state(), circuit::State::Open);
    group.bench_function("circuit", |b| b.iter(|| black_box(open.allow().is_err())));

    let fs = failsafe_consecutive();
    for _ in 0..5 {
        fs.on_error();
    }
    assert!(!fs.is_call_permitted());
    group.bench_function("failsafe", |b| b.iter(|| black_box(fs.is_call_permitted())));

    let rc = recloser();
    for _ in 0..200 {
        let _ = rc.call(|| Err::<(), ()>(()));
    }
    assert!(matches!(rc.call(|| Ok::<(), ()>(())), Err(recloser::Error::Rejected)));
    group.bench_function("recloser", |b| b.iter(|| black_box(rc.call(|| Ok::<(), ()>(())).is_err())));
    group.finish();
}

fn clock_costs(c: &mut Criterion) {
    let mut group = c.benchmark_group("reference");
    group.bench_function("instant_now", |b| b.iter(|| black_box(Instant::now())));
    let counter = std::sync::atomic::AtomicU64::new(0);
    group.bench_function("atomic_fetch_add", |b| {
        b.iter(|| black_box(counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed)))
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(2)).sample_size(30);
    targets = closed_single_thread, closed_two_threads, open_rejection, clock_costs
}
criterion_main!(benches);
