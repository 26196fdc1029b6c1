//! Bytes per breaker, reported by `make bench` (`scripts/bench-report` puts them in BENCHMARKS.md
//! and target/bench/core.json): `size_of::<CircuitBreaker>()` plus the heap bytes its constructor
//! leaves allocated, counted by a counting global allocator. `tests/alloc.rs` asserts the 1 KiB
//! bound for a consecutive breaker.
//!
//!     cargo bench -p circuit-core --bench memory -- OUT.json

use std::time::Duration;

use circuit::{CircuitBreaker, Config};
use serde_json::json;

#[path = "../tests/support/counting_alloc.rs"]
mod counting_alloc;
use counting_alloc::{CountingAlloc, counting};

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc;

/// Bytes of one breaker: its own size and the heap bytes it owns.
fn bytes(config: Config) -> (usize, i64) {
    let (_, heap, breaker) = counting(|| CircuitBreaker::new(config));
    drop(breaker);
    (std::mem::size_of::<CircuitBreaker>(), heap)
}

fn main() {
    let out = std::env::args().skip(1).find(|a| !a.starts_with("--")).expect("usage: memory OUT.json");
    let configs = [
        ("consecutive", "consecutive-failures breaker (all defaults)", Config::builder().build()),
        (
            "count_window_100",
            "failure-rate breaker over a 100-outcome count window",
            Config::builder().failure_rate_threshold(0.5).window_size(100).build(),
        ),
        (
            "time_window_10_buckets",
            "failure-rate breaker over a 10 s time window of 10 buckets",
            Config::builder().failure_rate_threshold(0.5).window_duration(Duration::from_secs(10)).build(),
        ),
    ];
    let mut figures = Vec::new();
    for (name, what, config) in configs {
        let (size, heap) = bytes(config.expect("valid configuration"));
        println!("{name:<24} {:>6} bytes ({size} inline + {heap} heap)", size as i64 + heap);
        figures.push(json!({
            "name": name, "what": what, "value": size as i64 + heap, "unit": "bytes",
            "size_of": size, "heap": heap,
        }));
    }
    // After its first use a thread owns one 64-byte counter stripe in the breaker (once per thread).
    let (_, used, breaker) = counting(|| {
        let breaker = CircuitBreaker::new(Config::builder().build().expect("defaults"));
        let permit = breaker.allow().expect("closed");
        let _ = breaker.record_success(permit);
        breaker
    });
    drop(breaker);
    let used = std::mem::size_of::<CircuitBreaker>() as i64 + used;
    println!("{:<24} {used:>6} bytes (after one thread's first call)", "consecutive_used");
    figures.push(json!({
        "name": "consecutive_used", "what": "consecutive-failures breaker after one thread's first call (one counter stripe)",
        "value": used, "unit": "bytes",
    }));
    // Families (per-key breakers with bounded memory) arrive with issue 12; until then this is what
    // a program holding 100,000 keyed breakers itself pays, per key.
    const KEYS: usize = 100_000;
    let (_, heap, map) = counting(|| {
        let config = Config::builder().build().expect("defaults");
        (0..KEYS)
            .map(|i| (format!("host-{i}"), CircuitBreaker::new(config.clone())))
            .collect::<std::collections::HashMap<_, _>>()
    });
    drop(map);
    let per_key = heap / KEYS as i64;
    println!("{:<24} {per_key:>6} bytes per key ({} MiB for {KEYS})", "map_100k", heap >> 20);
    figures.push(json!({
        "name": "map_100k", "what": "100,000 consecutive breakers in a HashMap<String, CircuitBreaker> (families: issue 12), per key",
        "value": per_key, "unit": "bytes",
    }));
    let report = json!({"suite": "rust-memory", "figures": figures});
    std::fs::write(&out, serde_json::to_string_pretty(&report).unwrap() + "\n")
        .unwrap_or_else(|e| panic!("cannot write {out}: {e}"));
}
