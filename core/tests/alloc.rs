//! No allocation on the closed path, and the bytes a breaker costs, measured by a counting global
//! allocator (`support/counting_alloc.rs`). Counts are per thread, so the harness's other
//! threads and the tests running beside these do not interfere. Every scenario runs once before
//! it is counted: a thread's first call may claim its per-thread counter slot.

use std::sync::Arc;
use std::time::Duration;

use circuit::{CircuitBreaker, Config, ManualClock, Outcome, PermitError, Recorded, State, ThreadSlot};

#[path = "support/counting_alloc.rs"]
mod counting_alloc;
use counting_alloc::{CountingAlloc, counting};

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc;

const ROUNDS: usize = 1_000;

/// Runs `scenario` once to warm up, then `ROUNDS` times counted; returns the allocations.
fn allocations(mut scenario: impl FnMut()) -> u64 {
    scenario();
    counting(|| {
        for _ in 0..ROUNDS {
            scenario();
        }
    })
    .0
}

/// allow + record_success, record_failure and record_ignored, and a permit dropped unrecorded
/// (which counts as ignored): one failure in four, which trips none of the configurations here.
fn closed_calls(breaker: &CircuitBreaker) {
    for outcome in [Outcome::Success, Outcome::Failure, Outcome::Success, Outcome::Ignored] {
        let permit = breaker.allow().expect("closed");
        applied(match outcome {
            Outcome::Success => breaker.record_success(permit),
            Outcome::Failure => breaker.record_failure(permit),
            Outcome::Ignored => breaker.record_ignored(permit),
        });
    }
    let _ = breaker.allow().expect("closed");
    applied(breaker.record(breaker.allow().expect("closed"), Outcome::Success));
}

/// The outcome was applied to the current generation.
fn applied(recorded: Result<Recorded, PermitError>) {
    assert!(matches!(recorded, Ok(Recorded::Counted)), "not counted: {recorded:?}");
}

fn assert_no_allocation(what: &str, breaker: &CircuitBreaker, scenario: impl FnMut()) {
    let count = allocations(scenario);
    assert_eq!(count, 0, "{what}: {count} allocations in {ROUNDS} rounds of the closed path");
    assert_eq!(breaker.state(), State::Closed, "{what}: the scenario must stay on the closed path");
}

#[test]
fn the_counting_allocator_sees_this_threads_allocations() {
    let count = allocations(|| drop(std::hint::black_box(Box::new(7u64))));
    assert_eq!(count, ROUNDS as u64);
}

#[test]
fn consecutive_mode_closed_path_allocates_nothing() {
    let breaker = CircuitBreaker::new(Config::builder().failure_threshold(5).build().unwrap());
    assert_no_allocation("consecutive", &breaker, || closed_calls(&breaker));
}

#[test]
fn raw_path_used_by_the_bindings_allocates_nothing() {
    let breaker = CircuitBreaker::new(Config::builder().failure_threshold(5).build().unwrap());
    let slot = ThreadSlot::current();
    assert_no_allocation("raw permits on a thread slot", &breaker, || {
        for outcome in [Outcome::Success, Outcome::Failure, Outcome::Ignored, Outcome::Success] {
            let permit = breaker.allow_raw_on(slot).expect("closed");
            applied(breaker.record_raw_on(slot, permit, outcome));
        }
    });
}

#[test]
fn failure_rate_over_a_count_window_allocates_nothing() {
    let breaker = CircuitBreaker::new(
        Config::builder().failure_rate_threshold(0.5).window_size(100).minimum_calls(20).build().unwrap(),
    );
    assert_no_allocation("count window", &breaker, || closed_calls(&breaker));
}

#[test]
fn failure_rate_over_a_time_window_allocates_nothing() {
    let clock = ManualClock::new();
    let breaker = CircuitBreaker::with_clock(
        Config::builder()
            .failure_rate_threshold(0.5)
            .window_duration(Duration::from_secs(1))
            .window_buckets(10)
            .minimum_calls(20)
            .build()
            .unwrap(),
        clock.clone(),
    );
    // 30 ms per round: buckets roll over and expire while the rounds run.
    assert_no_allocation("time window", &breaker, || {
        closed_calls(&breaker);
        clock.advance(Duration::from_millis(30));
    });
}

#[test]
fn slow_call_rule_allocates_nothing() {
    let clock = ManualClock::new();
    let breaker = CircuitBreaker::with_clock(
        Config::builder()
            .slow_call_duration(Duration::from_millis(100))
            .slow_call_rate_threshold(0.5)
            .window_size(100)
            .minimum_calls(20)
            .build()
            .unwrap(),
        clock.clone(),
    );
    // One slow call in four: below the threshold.
    assert_no_allocation("slow-call rule", &breaker, || {
        for took in [10, 200, 10, 10] {
            let permit = breaker.allow().expect("closed");
            clock.advance(Duration::from_millis(took));
            applied(breaker.record_success(permit));
        }
    });
}

#[test]
fn owned_permits_allocate_nothing() {
    let breaker = Arc::new(CircuitBreaker::new(Config::builder().failure_threshold(5).build().unwrap()));
    assert_no_allocation("owned permits", &breaker, || {
        applied(breaker.allow_owned().expect("closed").record_success());
        applied(breaker.allow_owned().expect("closed").record_failure());
        applied(breaker.allow_owned().expect("closed").record_ignored());
        drop(breaker.allow_owned().expect("closed"));
        applied(breaker.allow_owned().expect("closed").record(Outcome::Success));
    });
}

fn tripped(config: Config) -> CircuitBreaker {
    let breaker = CircuitBreaker::new(config);
    while let Ok(permit) = breaker.allow() {
        applied(breaker.record_failure(permit));
    }
    assert_eq!(breaker.state(), State::Open);
    breaker
}

#[test]
fn open_state_rejection_allocates_nothing() {
    let open = || Config::builder().failure_threshold(3).reset_timeout(Duration::from_secs(3600));
    for (what, breaker) in
        [("unnamed", tripped(open().build().unwrap())), ("named", tripped(open().name("payments").build().unwrap()))]
    {
        // A named rejection carries the name by cloning an `Arc<str>`: no allocation either.
        let count = allocations(|| {
            let rejected = breaker.allow().expect_err("open");
            assert_eq!(rejected.name().is_some(), what == "named");
        });
        assert_eq!(count, 0, "{what} rejection: {count} allocations in {ROUNDS} rejections");
    }
}

/// `size_of` plus the heap bytes the constructor leaves allocated.
fn bytes_per_breaker(config: Config) -> i64 {
    let (_, heap, breaker) = counting(|| CircuitBreaker::new(config));
    drop(breaker);
    std::mem::size_of::<CircuitBreaker>() as i64 + heap
}

#[test]
fn a_consecutive_breaker_takes_at_most_1_kib() {
    let consecutive = bytes_per_breaker(Config::default());
    let count_window =
        bytes_per_breaker(Config::builder().failure_rate_threshold(0.5).window_size(100).build().unwrap());
    println!("bytes per breaker: consecutive {consecutive}, 100-outcome count window {count_window}");
    assert!(consecutive <= 1024, "a consecutive breaker takes {consecutive} bytes (size_of + heap), more than 1 KiB");
    // The window adds about one byte per outcome on top of the consecutive breaker.
    assert!(count_window <= consecutive + 1024, "a 100-outcome count window takes {count_window} bytes");
}
