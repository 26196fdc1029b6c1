//! State export and import (docs/semantics.md, "State export and import").

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use circuit::{CircuitBreaker, Config, ManualClock, Metrics, Outcome, Reason, RejectReason, State};
use proptest::prelude::*;

const WALL: u64 = 1_800_000_000; // some instant in 2027, in unix seconds

fn wall(plus: Duration) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(WALL) + plus
}

fn config() -> Config {
    Config::builder()
        .name("payments")
        .failure_rate_threshold(0.5)
        .minimum_calls(4)
        .window_size(8)
        .reset_timeout(Duration::from_secs(10))
        .backoff_multiplier(2.0)
        .max_reset_timeout(Duration::from_secs(300))
        .jitter(0.5)
        .jitter_seed(7)
        .half_open_max_calls(2)
        .success_threshold(2)
        .build()
        .unwrap()
}

fn breaker(config: Config) -> (CircuitBreaker, ManualClock) {
    let clock = ManualClock::new();
    (CircuitBreaker::with_clock(config, clock.clone()), clock)
}

fn call(b: &CircuitBreaker, outcome: Outcome) -> bool {
    match b.allow() {
        Ok(permit) => {
            assert!(b.record(permit, outcome).unwrap().counted());
            true
        }
        Err(_) => false,
    }
}

/// Everything but the time in state (measured on each breaker's own clock).
fn comparable(mut m: Metrics) -> Metrics {
    m.time_in_state = Duration::ZERO;
    m
}

#[test]
fn a_closed_breaker_round_trips_exactly() {
    let (a, _) = breaker(config());
    for outcome in [Outcome::Success, Outcome::Failure, Outcome::Success, Outcome::Ignored, Outcome::Success] {
        call(&a, outcome);
    }
    let doc = a.export_state_at(wall(Duration::ZERO));
    let (b, _) = breaker(config());
    b.import_state_at(&doc, wall(Duration::ZERO)).unwrap();
    assert_eq!(comparable(b.metrics()), comparable(a.metrics()));
    // The window came along: one more failure out of five counted calls trips neither; two do.
    for outcome in [Outcome::Failure, Outcome::Failure] {
        call(&a, outcome);
        call(&b, outcome);
        assert_eq!(a.state(), b.state());
    }
    assert_eq!(b.state(), State::Open);
    assert_eq!(b.export_state_at(wall(Duration::ZERO)), a.export_state_at(wall(Duration::ZERO)));
}

#[test]
fn the_remaining_open_time_shrinks_by_the_gap_and_a_run_out_opening_comes_back_half_open() {
    let (a, clock) = breaker(
        Config::builder().name("payments").failure_threshold(1).reset_timeout(Duration::from_secs(10)).build().unwrap(),
    );
    call(&a, Outcome::Failure);
    clock.advance(Duration::from_secs(2));
    let doc = a.export_state_at(wall(Duration::ZERO));
    let cfg = a.config().clone();

    let (b, _) = breaker(cfg.clone());
    b.import_state_at(&doc, wall(Duration::from_secs(3))).unwrap();
    let rejected = b.allow().unwrap_err();
    assert_eq!(rejected.reason(), RejectReason::Open);
    assert_eq!(rejected.retry_after(), Some(Duration::from_secs(5)));

    let (c, _) = breaker(cfg);
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let sink = seen.clone();
    c.on_transition(move |t| sink.lock().unwrap().push((t.from, t.to, t.reason)));
    c.import_state_at(&doc, wall(Duration::from_secs(60))).unwrap();
    assert!(seen.lock().unwrap().is_empty(), "importing reports no transition");
    assert_eq!(c.state(), State::HalfOpen);
    assert_eq!(*seen.lock().unwrap(), vec![(State::Open, State::HalfOpen, Reason::OpenElapsed)]);
    assert_eq!(c.metrics().generation, 2);
}

#[test]
fn backoff_and_jitter_carry_on_where_they_were() {
    let (a, clock_a) = breaker(config());
    for _ in 0..4 {
        call(&a, Outcome::Failure);
    }
    clock_a.advance(Duration::from_secs(10));
    call(&a, Outcome::Failure); // the probe fails: attempt 1
    let doc = a.export_state_at(wall(Duration::ZERO));
    let (b, clock_b) = breaker(config());
    b.import_state_at(&doc, wall(Duration::ZERO)).unwrap();
    assert_eq!(comparable(b.metrics()), comparable(a.metrics()));
    // Same remaining time, then the same next (jittered, doubled) opening.
    for clock in [&clock_a, &clock_b] {
        clock.advance(Duration::from_secs(20));
    }
    assert!(call(&a, Outcome::Failure) && call(&b, Outcome::Failure));
    assert_eq!(a.metrics().retry_after, b.metrics().retry_after);
    assert!(a.metrics().retry_after.is_some());
}

#[test]
fn forced_and_disabled_modes_come_back_and_reset_clears_them() {
    for (mode, state) in [(0, State::ForcedOpen), (1, State::Disabled)] {
        let (a, _) = breaker(config());
        if mode == 0 {
            a.force_open()
        } else {
            a.disable()
        }
        let (b, _) = breaker(config());
        b.import_state_at(&a.export_state_at(wall(Duration::ZERO)), wall(Duration::from_secs(3600))).unwrap();
        assert_eq!(b.state(), state);
        b.reset();
        assert_eq!(b.state(), State::Closed);
        assert!(call(&b, Outcome::Success));
    }
}

#[test]
fn in_flight_probes_are_not_exported() {
    let cfg =
        Config::builder().name("payments").failure_threshold(1).reset_timeout(Duration::from_secs(1)).build().unwrap();
    let (a, clock) = breaker(cfg.clone());
    call(&a, Outcome::Failure);
    clock.advance(Duration::from_secs(1));
    let _probe = a.allow().unwrap(); // the only probe slot, never reported
    assert_eq!(a.allow().unwrap_err().reason(), RejectReason::HalfOpenFull);
    let (b, _) = breaker(cfg);
    b.import_state_at(&a.export_state_at(wall(Duration::ZERO)), wall(Duration::ZERO)).unwrap();
    assert_eq!(b.state(), State::HalfOpen);
    let probe = b.allow().expect("the restored breaker has its probe slot back");
    assert!(b.record_success(probe).unwrap().counted());
    assert_eq!(b.state(), State::Closed);
}

#[test]
fn a_config_mismatch_keeps_the_state_and_drops_the_window() {
    let (a, _) = breaker(config());
    for outcome in [Outcome::Failure, Outcome::Failure, Outcome::Success] {
        call(&a, outcome);
    }
    let other = Config::builder()
        .name("payments")
        .failure_rate_threshold(0.5)
        .minimum_calls(4)
        .window_size(16)
        .build()
        .unwrap();
    let (b, _) = breaker(other);
    b.import_state_at(&a.export_state_at(wall(Duration::ZERO)), wall(Duration::ZERO)).unwrap();
    let m = b.metrics();
    assert_eq!((m.state, m.window_calls, m.failures, m.admitted), (State::Closed, 0, 2, 3));
}

#[test]
fn a_time_window_ages_by_the_gap() {
    let cfg = Config::builder()
        .name("t")
        .failure_rate_threshold(0.5)
        .minimum_calls(1)
        .window_duration(Duration::from_secs(10))
        .window_buckets(10)
        .build()
        .unwrap();
    let (a, clock) = breaker(cfg.clone());
    call(&a, Outcome::Success);
    clock.advance(Duration::from_secs(5));
    call(&a, Outcome::Success);
    let doc = a.export_state_at(wall(Duration::ZERO));
    let calls_after = |gap: u64| {
        let (b, clock) = breaker(cfg.clone());
        clock.advance(Duration::from_secs(1000)); // a clock with some past, as a monotonic one has
        b.import_state_at(&doc, wall(Duration::from_secs(gap))).unwrap();
        b.metrics().window_calls
    };
    assert_eq!(calls_after(0), 2);
    assert_eq!(calls_after(3), 2);
    assert_eq!(calls_after(7), 1, "the first success, 12 s old, left the 10 s window");
    assert_eq!(calls_after(30), 0);
}

#[test]
fn refused_documents_change_nothing() {
    let (a, _) = breaker(config());
    call(&a, Outcome::Failure);
    let doc = a.export_state_at(wall(Duration::ZERO));

    let (wrong_name, _) = breaker(Config::builder().name("inventory").build().unwrap());
    let err = wrong_name.import_state_at(&doc, wall(Duration::ZERO)).unwrap_err();
    assert_eq!(err.field_name(), Some("name"));
    assert_eq!(wrong_name.metrics().failures, 0);

    let (used, _) = breaker(config());
    call(&used, Outcome::Success);
    let err = used.import_state_at(&doc, wall(Duration::ZERO)).unwrap_err();
    assert!(err.to_string().contains("not been used"), "{err}");
    assert_eq!(used.metrics().failures, 0);

    let future = doc.replace("\"version\":1", "\"version\":2");
    let err = breaker(config()).0.import_state_at(&future, wall(Duration::ZERO)).unwrap_err();
    assert_eq!(err.field_name(), Some("version"));
    assert!(err.to_string().contains("newer"), "{err}");

    for (from, to, field) in [
        ("\"format\":\"circuit-breaker-state\"", "\"format\":\"other\"", "format"),
        ("\"state\":\"closed\"", "\"state\":\"ajar\"", "state"),
        ("\"generation\":0", "\"generation\":-1", "generation"),
        ("\"outcomes\":\"f\"", "\"outcomes\":\"x\"", "window.outcomes"),
        ("\"jitter_state\":\"", "\"jitter_state\":\"zz", "jitter_state"),
    ] {
        assert!(doc.contains(from), "{from} in {doc}");
        let bad = doc.replace(from, to);
        let (b, _) = breaker(config());
        let err = b.import_state_at(&bad, wall(Duration::ZERO)).unwrap_err();
        assert_eq!(err.field_name(), Some(field), "{err}");
        assert_eq!(comparable(b.metrics()), comparable(breaker(config()).0.metrics()));
    }
}

#[test]
fn every_truncation_is_refused() {
    let (a, _) = breaker(config());
    call(&a, Outcome::Failure);
    call(&a, Outcome::Success);
    let doc = a.export_state_at(wall(Duration::ZERO));
    for cut in 0..doc.len() {
        let (b, _) = breaker(config());
        assert!(b.import_state_at(&doc[..cut], wall(Duration::ZERO)).is_err(), "accepted {:?}", &doc[..cut]);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// No mutation of a valid document makes the importer panic, and a refused one leaves the
    /// breaker as it was.
    #[test]
    fn hostile_documents_never_panic(edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8)) {
        let (a, _) = breaker(config());
        call(&a, Outcome::Failure);
        let mut bytes = a.export_state_at(wall(Duration::ZERO)).into_bytes();
        for (at, byte) in edits {
            let i = at.index(bytes.len());
            bytes[i] = byte;
        }
        if let Ok(text) = String::from_utf8(bytes) {
            let (b, _) = breaker(config());
            if b.import_state_at(&text, wall(Duration::ZERO)).is_err() {
                prop_assert_eq!(comparable(b.metrics()), comparable(breaker(config()).0.metrics()));
            }
        }
    }

    /// Export, import and carry on: the copy behaves as the original would have after the same
    /// gap, call for call.
    #[test]
    fn a_restored_breaker_behaves_like_the_original(
        before in prop::collection::vec(0u8..4, 0..30),
        after in prop::collection::vec(0u8..4, 0..30),
        gap_ms in 0u64..30_000,
    ) {
        let run = |b: &CircuitBreaker, clock: &ManualClock, op: u8| match op {
            0 => drop(call(b, Outcome::Success)),
            1 => drop(call(b, Outcome::Failure)),
            2 => drop(call(b, Outcome::Ignored)),
            _ => {
                clock.advance(Duration::from_millis(2_500));
            }
        };
        let (a, clock_a) = breaker(config());
        for &op in &before {
            run(&a, &clock_a, op);
        }
        let doc = a.export_state_at(wall(Duration::ZERO));
        let gap = Duration::from_millis(gap_ms);
        clock_a.advance(gap);
        let (b, clock_b) = breaker(config());
        clock_b.advance(Duration::from_secs(1000)); // another clock, another origin
        b.import_state_at(&doc, wall(gap)).unwrap();
        prop_assert_eq!(comparable(b.metrics()), comparable(a.metrics()));
        for &op in &after {
            run(&a, &clock_a, op);
            run(&b, &clock_b, op);
            prop_assert_eq!(comparable(b.metrics()), comparable(a.metrics()));
        }
    }
}

/// Well-formed documents whose values this breaker could never have reached are refused, naming
/// the field, and leave the breaker untouched.
#[test]
fn impossible_values_are_refused() {
    let time_cfg = || {
        Config::builder()
            .name("t")
            .failure_rate_threshold(0.5)
            .minimum_calls(2)
            .window_duration(Duration::from_secs(10))
            .window_buckets(10)
            .max_reset_timeout(Duration::from_secs(60))
            .build()
            .unwrap()
    };
    let (a, _) = breaker(time_cfg());
    call(&a, Outcome::Success);
    let time_doc: serde_json::Value = serde_json::from_str(&a.export_state_at(wall(Duration::ZERO))).unwrap();
    let (o, _) = breaker(config());
    for _ in 0..4 {
        call(&o, Outcome::Failure);
    }
    let open_doc: serde_json::Value = serde_json::from_str(&o.export_state_at(wall(Duration::ZERO))).unwrap();
    let (c, _) = breaker(config());
    call(&c, Outcome::Success);
    let closed_doc: serde_json::Value = serde_json::from_str(&c.export_state_at(wall(Duration::ZERO))).unwrap();

    let edit = |doc: &serde_json::Value, f: &dyn Fn(&mut serde_json::Value)| {
        let mut doc = doc.clone();
        f(&mut doc);
        doc.to_string()
    };
    let huge = u64::MAX;
    let cases: Vec<(Config, String, &str)> = vec![
        (
            time_cfg(),
            edit(&time_doc, &|d| d["window"]["buckets"] = serde_json::json!(vec![[huge, 0, 0]; 10])),
            "window.buckets",
        ),
        (time_cfg(), edit(&time_doc, &|d| d["window"]["buckets"] = serde_json::json!([[1, 0, 0]])), "window"),
        (config(), edit(&open_doc, &|d| d["open_remaining_ms"] = serde_json::json!(1e15)), "open_remaining_ms"),
        (config(), edit(&open_doc, &|d| d["open_duration_ms"] = serde_json::json!(1e15)), "open_duration_ms"),
        (config(), edit(&closed_doc, &|d| d["generation"] = serde_json::json!(1u64 << 60)), "generation"),
        (config(), edit(&closed_doc, &|d| d["window"]["outcomes"] = serde_json::json!("ffff")), "window"),
        (config(), edit(&closed_doc, &|d| d["window"]["outcomes"] = serde_json::json!("sssssssss")), "window"),
    ];
    for (cfg, doc, field) in cases {
        let (b, _) = breaker(cfg.clone());
        let err = b.import_state_at(&doc, wall(Duration::ZERO)).expect_err(field);
        assert_eq!(err.field_name(), Some(field), "{err}");
        assert_eq!(comparable(b.metrics()), comparable(breaker(cfg).0.metrics()));
    }
}

#[test]
fn an_opening_measured_under_other_rules_never_outlasts_this_cap() {
    let (o, _) = breaker(config());
    for _ in 0..4 {
        call(&o, Outcome::Failure);
    }
    let short = Config::builder()
        .name("payments")
        .reset_timeout(Duration::from_secs(1))
        .max_reset_timeout(Duration::from_secs(2))
        .build()
        .unwrap();
    let (b, _) = breaker(short);
    b.import_state_at(&o.export_state_at(wall(Duration::ZERO)), wall(Duration::ZERO)).unwrap();
    assert_eq!(b.metrics().retry_after, Some(Duration::from_secs(2)));
}
