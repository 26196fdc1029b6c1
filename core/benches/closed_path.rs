//! The closed-state hot path and the open-state rejection path, circuit against the `failsafe`
//! and `recloser` crates in the same run (engines set up in `peers/mod.rs`). `scripts/bench-report`
//! turns the results into BENCHMARKS.md and target/bench/core.json; `quick.rs` measures the same
//! ratios in seconds for `make test`.
//!
//! Every "pair" is one admission plus one recorded success, with lifetime metrics counted, which
//! is what a protected call costs the caller on top of the call itself.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};

mod peers;
use peers::{engines, open_engines, two_threads};

fn closed_single_thread(c: &mut Criterion) {
    let mut group = c.benchmark_group("closed_pair_1_thread");
    for (name, engine) in engines() {
        group.bench_function(name, |b| b.iter(|| engine.pair()));
        assert!(engine.admits(), "{name} stopped admitting calls: its pairs measured rejections");
    }
    group.finish();
}

/// Two threads on one shared breaker; the reported time is per pair *per thread*, so the
/// throughput ratio to the single-thread figure is `2 * single / this`.
fn closed_two_threads(c: &mut Criterion) {
    let mut group = c.benchmark_group("closed_pair_2_threads");
    for (name, engine) in engines() {
        group.bench_function(name, |b| b.iter_custom(|iters| two_threads(engine.as_ref(), iters)));
        assert!(engine.admits(), "{name} stopped admitting calls: its pairs measured rejections");
    }
    group.finish();
}

fn open_rejection(c: &mut Criterion) {
    let mut group = c.benchmark_group("open_rejection");
    for (name, engine) in open_engines() {
        group.bench_function(name, |b| b.iter(|| black_box(engine.reject())));
        assert!(engine.reject(), "{name} admitted a call: its rejections measured admissions");
    }
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
