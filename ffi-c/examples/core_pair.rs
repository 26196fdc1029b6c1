//! The reference for the C ABI's benchmarks: the core's closed-state pair (`allow` +
//! `record_success`, consecutive mode, `failure_threshold` 5), timed exactly like
//! `tests/c/bench_pair.c` times the C pair, so that `scripts/bench-quick-c` and
//! `scripts/bench-abi` can take their ratio from one run.
//!
//! `core_pair [PAIRS [ROUNDS]]` prints `core_pair_1_thread <median ns per pair>`.

use std::hint::black_box;
use std::time::Instant;

use engine::{CircuitBreaker, Config};

/// One pair, not inlined into the loop (like the criterion benchmark's `Pair::pair`, called
/// through a trait object), so the figure is that of one call site, not of a loop the compiler
/// could rearrange.
#[inline(never)]
fn pair(breaker: &CircuitBreaker) {
    if let Ok(permit) = breaker.allow() {
        let _ = black_box(breaker.record_success(permit));
    }
}

fn run(breaker: &CircuitBreaker, pairs: u64) {
    for _ in 0..pairs {
        pair(breaker);
    }
}

fn main() {
    let mut args = std::env::args().skip(1).map(|a| a.parse::<u64>().expect("PAIRS and ROUNDS are whole numbers"));
    let pairs = args.next().unwrap_or(20_000_000);
    let rounds = args.next().unwrap_or(7).max(1);
    let breaker = CircuitBreaker::new(Config::builder().failure_threshold(5).build().expect("valid config"));
    let breaker = black_box(&breaker);
    run(breaker, pairs / 10); // warm up
    let mut times: Vec<f64> = (0..rounds)
        .map(|_| {
            let start = Instant::now();
            run(breaker, pairs);
            start.elapsed().as_nanos() as f64 / pairs as f64
        })
        .collect();
    times.sort_by(f64::total_cmp);
    println!("core_pair_1_thread {:.2}", times[times.len() / 2]);
}
