//! Runs every vector of `tests/conformance/*.json` through the public Rust API.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use circuit::{CircuitBreaker, Config, ManualClock, Metrics, Outcome, OwnedPermit, PermitError, Recorded, Transition};
use serde_json::{Map, Value};

fn vectors_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/conformance")
}

fn ms(value: &Value) -> Duration {
    Duration::from_nanos((value.as_f64().expect("duration in ms") * 1e6).round() as u64)
}

fn build_config(config: &Map<String, Value>) -> Result<Config, circuit::ConfigError> {
    let mut b = Config::builder();
    for (key, value) in config {
        let int = || u32::try_from(value.as_u64().expect("integer option")).expect("u32 option");
        let float = || value.as_f64().expect("number option");
        b = match key.as_str() {
            "name" => b.name(value.as_str().expect("name")),
            "failure_threshold" => b.failure_threshold(int()),
            "failure_rate_threshold" => b.failure_rate_threshold(float()),
            "slow_call_duration_ms" => b.slow_call_duration(ms(value)),
            "slow_call_rate_threshold" => b.slow_call_rate_threshold(float()),
            "minimum_calls" => b.minimum_calls(int()),
            "window_size" => b.window_size(int()),
            "window_duration_ms" => b.window_duration(ms(value)),
            "window_buckets" => b.window_buckets(int()),
            "reset_timeout_ms" => b.reset_timeout(ms(value)),
            "backoff_multiplier" => b.backoff_multiplier(float()),
            "max_reset_timeout_ms" => b.max_reset_timeout(ms(value)),
            "jitter" => b.jitter(float()),
            "jitter_seed" => b.jitter_seed(value.as_u64().expect("seed")),
            "half_open_max_calls" => b.half_open_max_calls(int()),
            "success_threshold" => b.success_threshold(int()),
            "half_open_max_wait_ms" => b.half_open_max_wait(ms(value)),
            other => panic!("unknown config option {other}"),
        };
    }
    b.build()
}

fn metric(m: &Metrics, field: &str) -> Value {
    let d = |d: Duration| Value::from(d.as_nanos() as f64 / 1e6);
    match field {
        "state" => m.state.as_str().into(),
        "generation" => m.generation.into(),
        "consecutive_failures" => m.consecutive_failures.into(),
        "window_calls" => m.window_calls.into(),
        "window_failures" => m.window_failures.into(),
        "window_slow" => m.window_slow.into(),
        "failure_rate" => m.failure_rate.into(),
        "slow_rate" => m.slow_rate.into(),
        "admitted" => m.admitted.into(),
        "rejected" => m.rejected.into(),
        "successes" => m.successes.into(),
        "failures" => m.failures.into(),
        "ignored" => m.ignored.into(),
        "slow" => m.slow.into(),
        "stale" => m.stale.into(),
        "opened" => m.opened.into(),
        "time_in_state_ms" => d(m.time_in_state),
        "retry_after_ms" => m.retry_after.map_or(Value::Null, d),
        other => panic!("unknown metrics field {other}"),
    }
}

fn same(expected: &Value, actual: &Value) -> bool {
    match (expected.as_f64(), actual.as_f64()) {
        (Some(e), Some(a)) => (e - a).abs() <= 1e-6 * e.abs().max(1.0),
        _ => expected == actual,
    }
}

fn outcome(step: &Value) -> Outcome {
    Outcome::parse(step["outcome"].as_str().expect("outcome")).expect("known outcome")
}

fn run_vector(vector: &Value) -> Result<(), String> {
    let config = vector["config"].as_object().cloned().unwrap_or_default();
    let built = build_config(&config);
    if let Some(option) = vector.get("invalid_option") {
        return match built {
            Err(e) if e.option() == option.as_str().unwrap() => Ok(()),
            Err(e) => Err(format!("expected an error naming {option}, got: {e}")),
            Ok(_) => Err(format!("expected config error naming {option}, but it was accepted")),
        };
    }
    let config = built.map_err(|e| format!("config refused: {e}"))?;
    let clock = ManualClock::new();
    let breaker = Arc::new(CircuitBreaker::with_clock(config, clock.clone()));
    let seen: Arc<Mutex<Vec<Transition>>> = Arc::default();
    let sink = Arc::clone(&seen);
    breaker.on_transition(move |t| sink.lock().unwrap().push(*t));
    let mut permits: HashMap<String, OwnedPermit> = HashMap::new();

    for (index, step) in vector["steps"].as_array().expect("steps").iter().enumerate() {
        let fail = |msg: String| Err(format!("step {index} {step}: {msg}"));
        match step["op"].as_str().expect("op") {
            "allow" => {
                let result = breaker.allow_owned();
                match (step.get("expect").and_then(Value::as_str), result) {
                    (Some("rejected"), Ok(_)) => {
                        return fail("admitted, expected a rejection".into());
                    }
                    (Some("rejected"), Err(r)) => {
                        if let Some(reason) = step.get("reason")
                            && reason.as_str() != Some(r.reason().as_str())
                        {
                            return fail(format!("rejected with {}", r.reason()));
                        }
                        if let Some(after) = step.get("retry_after_ms") {
                            let actual =
                                r.retry_after().map_or(Value::Null, |d| Value::from(d.as_nanos() as f64 / 1e6));
                            if !same(after, &actual) {
                                return fail(format!("retry_after_ms {actual}"));
                            }
                        }
                    }
                    (_, Err(r)) => return fail(format!("rejected: {r}")),
                    (_, Ok(permit)) => {
                        if let Some(probe) = step.get("probe").and_then(Value::as_bool)
                            && probe != permit.raw().is_probe()
                        {
                            return fail(format!("probe flag {}", permit.raw().is_probe()));
                        }
                        match step.get("permit").and_then(Value::as_str) {
                            Some(name) => {
                                permits.insert(name.to_owned(), permit);
                            }
                            None => drop(permit.record_ignored()),
                        }
                    }
                }
            }
            "record" => {
                let name = step["permit"].as_str().expect("permit name");
                let permit = permits.get(name).ok_or_else(|| format!("no permit {name}"))?;
                let actual = match permit.record(outcome(step)) {
                    Ok(Recorded::Counted) => "counted",
                    Ok(Recorded::Stale) => "stale",
                    Err(PermitError::AlreadyRecorded) => "already_recorded",
                    Err(e) => return fail(format!("error {e}")),
                };
                if step["expect"].as_str() != Some(actual) {
                    return fail(format!("got {actual}"));
                }
            }
            "call" => {
                for _ in 0..step.get("repeat").and_then(Value::as_u64).unwrap_or(1) {
                    let permit = breaker.allow().map_err(|r| format!("step {index}: call rejected: {r}"))?;
                    if let Some(d) = step.get("duration_ms") {
                        clock.advance(ms(d));
                    }
                    match breaker.record(permit, outcome(step)) {
                        Ok(Recorded::Counted) => {}
                        other => return fail(format!("call recorded as {other:?}")),
                    }
                }
            }
            "advance" => {
                clock.advance(ms(&step["ms"]));
            }
            "state" => {
                let actual = breaker.state();
                if step["expect"].as_str() != Some(actual.as_str()) {
                    return fail(format!("state is {actual}"));
                }
            }
            "metrics" => {
                let m = breaker.metrics();
                for (field, expected) in step["expect"].as_object().expect("metrics expect") {
                    let actual = metric(&m, field);
                    if !same(expected, &actual) {
                        return fail(format!("metrics.{field} is {actual}"));
                    }
                }
            }
            "reset" => breaker.reset(),
            "force_open" => breaker.force_open(),
            "disable" => breaker.disable(),
            "events" => {
                let got: Vec<Transition> = std::mem::take(&mut *seen.lock().unwrap());
                let want = step["expect"].as_array().expect("events expect");
                let matches = got.len() == want.len()
                    && got.iter().zip(want).all(|(t, e)| {
                        e["from"].as_str() == Some(t.from.as_str())
                            && e["to"].as_str() == Some(t.to.as_str())
                            && e["reason"].as_str() == Some(t.reason.as_str())
                            && same(&e["at_ms"], &Value::from(t.at.as_nanos() as f64 / 1e6))
                    });
                if !matches {
                    let rendered: Vec<String> = got
                        .iter()
                        .map(|t| format!("{}->{} {} @{}ms", t.from, t.to, t.reason, t.at.as_nanos() as f64 / 1e6))
                        .collect();
                    return fail(format!("events {rendered:?}"));
                }
            }
            other => panic!("unknown op {other}"),
        }
    }
    Ok(())
}

#[test]
fn every_vector_passes() {
    let mut files: Vec<PathBuf> = std::fs::read_dir(vectors_dir())
        .expect("tests/conformance exists")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    let mut names = std::collections::HashSet::new();
    let mut failures = Vec::new();
    let mut count = 0;
    for file in &files {
        let doc: Value = serde_json::from_str(&std::fs::read_to_string(file).unwrap())
            .unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        for vector in doc["vectors"].as_array().expect("vectors array") {
            let name = vector["name"].as_str().expect("vector name").to_owned();
            assert!(names.insert(name.clone()), "duplicate vector name {name}");
            count += 1;
            if let Err(e) = run_vector(vector) {
                failures.push(format!("{name}: {e}"));
            }
        }
    }
    assert!(count >= 40, "expected at least 40 vectors, found {count}");
    assert!(failures.is_empty(), "{} of {count} vectors failed:\n{}", failures.len(), failures.join("\n"));
    println!("{count} conformance vectors passed");
}
