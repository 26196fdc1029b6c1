//! Runs every vector of `tests/conformance/*.json` through the public Rust API.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use circuit::http::{self, HttpError};
use circuit::{
    CircuitBreaker, Config, Family, ManualClock, Metrics, Outcome, OwnedPermit, PermitError, Recorded, Transition,
};
use serde_json::{Map, Value};

#[path = "support/memory_record.rs"]
mod memory_record;
#[path = "support/same.rs"]
mod same;
use same::same;

/// How a vector's breakers are made: on their own, or in a (memory) host record.
#[derive(Clone, Copy, PartialEq)]
enum Storage {
    Local,
    Shared,
}

/// A family listener's record: the member's key (`None` for the overflow breaker) and transition.
type KeyedTransition = (Option<String>, Transition);

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
        "rejected_open" => m.rejected_open.into(),
        "rejected_half_open_full" => m.rejected_half_open_full.into(),
        "rejected_forced_open" => m.rejected_forced_open.into(),
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

fn outcome(step: &Value) -> Outcome {
    Outcome::parse(step["outcome"].as_str().expect("outcome")).expect("known outcome")
}

/// `http_response` / `http_call`: the verdict on `status` (or `error`) with the `retry_after`
/// header, at the wall-clock instant `now_unix_s`.
fn http_verdict(step: &Value) -> http::Verdict {
    if let Some(error) = step.get("error") {
        let kind = HttpError::parse(error.as_str().expect("error")).expect("known error kind");
        return http::Verdict { outcome: http::classify_error(kind), retry_after: None };
    }
    let now = std::time::UNIX_EPOCH + Duration::from_secs(step.get("now_unix_s").and_then(Value::as_u64).unwrap_or(0));
    http::classify_response(
        step["status"].as_u64().expect("status") as u16,
        step.get("retry_after").and_then(Value::as_str),
        now,
    )
}

/// A step's `wall_unix_ms` as a wall-clock instant.
fn wall(step: &Value) -> std::time::SystemTime {
    let ms = step["wall_unix_ms"].as_f64().expect("wall_unix_ms");
    std::time::UNIX_EPOCH + Duration::from_nanos((ms * 1e6).round() as u64)
}

/// The canonical exposition of the vector's breaker, then its family's members by key, then the
/// family's overflow breaker: what every binding's Prometheus exporter must write.
fn prometheus_text(breaker: &CircuitBreaker, family: Option<&Family>) -> String {
    use circuit::exposition::{Source, render};
    let own = breaker.metrics();
    let mut members = family.map(|f| f.metrics().members).unwrap_or_default();
    members.sort_by(|a, b| a.0.cmp(&b.0));
    let overflow = family.map(|f| f.overflow().metrics());
    let family_name = family.and_then(|f| f.config().name());
    let mut sources = vec![Source::breaker(breaker.name(), &own)];
    sources.extend(members.iter().map(|(key, m)| Source::member(family_name, key, m)));
    sources.extend(overflow.iter().map(|m| Source::member(family_name, "(overflow)", m)));
    render(&sources)
}

fn run_vector(vector: &Value, storage: Storage) -> Result<(), String> {
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
    let family = vector.get("family").map(|f| {
        let family_config = match f.get("name").and_then(Value::as_str) {
            Some(name) => {
                let mut options = vector["config"].as_object().cloned().unwrap_or_default();
                options.insert("name".into(), name.into());
                build_config(&options).expect("family config")
            }
            None => config.clone(),
        };
        let mut b = Family::builder(family_config).clock(clock.clone());
        if let Some(n) = f.get("max_keys") {
            b = b.max_keys(n.as_u64().expect("max_keys") as usize);
        }
        if let Some(t) = f.get("idle_ttl_ms") {
            b = b.idle_ttl(ms(t));
        }
        b.build().expect("family options")
    });
    let family_seen: Arc<Mutex<Vec<KeyedTransition>>> = Arc::default();
    if let Some(family) = &family {
        let sink = Arc::clone(&family_seen);
        family.on_transition(move |e| sink.lock().unwrap().push((e.key.map(str::to_owned), *e.transition)));
    }
    let seen: Arc<Mutex<Vec<Transition>>> = Arc::default();
    let fresh_breaker = || {
        let breaker = Arc::new(match storage {
            Storage::Local => CircuitBreaker::with_clock(config.clone(), clock.clone()),
            Storage::Shared => {
                let block = memory_record::MemoryBlock::new(circuit::shared::RECORD_WORDS);
                let record = memory_record::MemoryRecord::process(&block, 1);
                CircuitBreaker::shared(config.clone(), record, Some(Arc::new(clock.clone())))
                    .unwrap_or_else(|e| panic!("{e}: {}", config.canonical_options()))
            }
        });
        let sink = Arc::clone(&seen);
        breaker.on_transition(move |t| sink.lock().unwrap().push(*t));
        breaker
    };
    let mut breaker = fresh_breaker();
    let mut permits: HashMap<String, OwnedPermit> = HashMap::new();
    let member = |step: &Value| family.as_ref().expect("a family vector").get(step["key"].as_str().expect("key"));

    for (index, step) in vector["steps"].as_array().expect("steps").iter().enumerate() {
        let fail = |msg: String| Err(format!("step {index} {step}: {msg}"));
        match step["op"].as_str().expect("op") {
            op @ ("allow" | "family_allow") => {
                let result = if op == "allow" { breaker.allow_owned() } else { member(step).allow_owned() };
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
                if step.get("drop").and_then(Value::as_bool) == Some(true) {
                    permits.remove(name);
                }
            }
            op @ ("call" | "family_call") => {
                let target = if op == "call" { Arc::clone(&breaker) } else { member(step) };
                for _ in 0..step.get("repeat").and_then(Value::as_u64).unwrap_or(1) {
                    let permit = target.allow().map_err(|r| format!("step {index}: call rejected: {r}"))?;
                    if let Some(d) = step.get("duration_ms") {
                        clock.advance(ms(d));
                    }
                    match target.record(permit, outcome(step)) {
                        Ok(Recorded::Counted) => {}
                        other => return fail(format!("call recorded as {other:?}")),
                    }
                }
            }
            "http_status" => {
                let actual = http::classify_status(step["status"].as_u64().expect("status") as u16);
                if step["expect"].as_str() != Some(actual.as_str()) {
                    return fail(format!("classified {actual}"));
                }
            }
            "http_error" => {
                let kind = HttpError::parse(step["error"].as_str().expect("error")).expect("known error kind");
                let actual = http::classify_error(kind);
                if step["expect"].as_str() != Some(actual.as_str()) {
                    return fail(format!("classified {actual}"));
                }
            }
            "http_response" => {
                let verdict = http_verdict(step);
                if step["expect"].as_str() != Some(verdict.outcome.as_str()) {
                    return fail(format!("classified {}", verdict.outcome));
                }
                let actual = verdict.retry_after.map_or(Value::Null, |d| Value::from(d.as_nanos() as f64 / 1e6));
                if !same(&step["expect_retry_after_ms"], &actual) {
                    return fail(format!("retry after {actual} ms"));
                }
            }
            "http_call" => {
                let permit = breaker.allow().map_err(|r| format!("step {index}: call rejected: {r}"))?;
                let verdict = http_verdict(step);
                let recorded = match (verdict.outcome, verdict.retry_after) {
                    (Outcome::Failure, Some(after)) => breaker.record_failure_retry_after(permit, after),
                    (outcome, _) => breaker.record(permit, outcome),
                };
                if !matches!(recorded, Ok(Recorded::Counted)) {
                    return fail(format!("recorded as {recorded:?}"));
                }
            }
            "family_get" => {
                let got = member(step);
                if let Some(name) = step.get("expect_name")
                    && name.as_str() != got.name()
                {
                    return fail(format!("name is {:?}", got.name()));
                }
                if let Some(state) = step.get("expect_state")
                    && state.as_str() != Some(got.state().as_str())
                {
                    return fail(format!("state is {}", got.state()));
                }
            }
            "family_contains" => {
                let actual = family.as_ref().expect("family").contains(step["key"].as_str().expect("key"));
                if step["expect"].as_bool() != Some(actual) {
                    return fail(format!("contains is {actual}"));
                }
            }
            "family_len" => {
                let actual = family.as_ref().expect("family").len();
                if step["expect"].as_u64() != Some(actual as u64) {
                    return fail(format!("len is {actual}"));
                }
            }
            "family_keys" => {
                let mut keys: Vec<String> =
                    family.as_ref().expect("family").keys().iter().map(|k| k.to_string()).collect();
                keys.sort();
                if step["expect"] != Value::from(keys.clone()) {
                    return fail(format!("keys are {keys:?}"));
                }
            }
            "family_metrics" => {
                let m = family.as_ref().expect("family").metrics();
                for (field, expected) in step["expect"].as_object().expect("family_metrics expect") {
                    let actual = match field.as_str() {
                        "evicted" => m.evicted,
                        "overflowed" => m.overflowed,
                        "members" => m.members.len() as u64,
                        other => panic!("unknown family metrics field {other}"),
                    };
                    if expected.as_u64() != Some(actual) {
                        return fail(format!("family metrics.{field} is {actual}"));
                    }
                }
            }
            "export" => {
                let doc = breaker.export_state_at(wall(step));
                let path = vectors_dir().join(step["expect_file"].as_str().expect("expect_file"));
                if std::env::var_os("CIRCUIT_BLESS").is_some() {
                    let pretty = serde_json::to_string_pretty(&serde_json::from_str::<Value>(&doc).unwrap()).unwrap();
                    std::fs::write(&path, pretty + "\n").unwrap();
                }
                let golden: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
                let written: Value = serde_json::from_str(&doc).map_err(|e| format!("export is not JSON: {e}"))?;
                if written != golden {
                    return fail(format!("export differs from {}: {doc}", path.display()));
                }
            }
            "import" => {
                let mut text = match (step.get("file"), step.get("text")) {
                    (Some(file), _) => std::fs::read_to_string(vectors_dir().join(file.as_str().unwrap())).unwrap(),
                    (None, Some(text)) => text.as_str().unwrap().to_owned(),
                    _ => panic!("import needs file or text"),
                };
                if let Some(pair) = step.get("replace").and_then(Value::as_array) {
                    text = text.replace(pair[0].as_str().unwrap(), pair[1].as_str().unwrap());
                }
                // A fresh breaker takes the document, unless the step tests a used one.
                let target = if step.get("expect_error_field").is_some() && breaker.metrics().admitted > 0 {
                    Arc::clone(&breaker)
                } else {
                    fresh_breaker()
                };
                let result = target.import_state_at(&text, wall(step));
                match (step.get("expect_error_field"), result) {
                    (None, Ok(())) => breaker = target,
                    (None, Err(e)) => return fail(format!("refused: {e}")),
                    (Some(_), Ok(())) => return fail("accepted".into()),
                    (Some(field), Err(e)) => {
                        if field.as_str() != e.field_name() {
                            return fail(format!("refused naming {:?}: {e}", e.field_name()));
                        }
                    }
                }
            }
            "transitions" => {
                let mut got: Vec<String> = breaker
                    .metrics()
                    .transitions
                    .iter()
                    .map(|(from, to, reason, n)| format!("{from}->{to} {reason} x{n}"))
                    .collect();
                let mut want: Vec<String> = step["expect"]
                    .as_array()
                    .expect("transitions expect")
                    .iter()
                    .map(|e| {
                        format!(
                            "{}->{} {} x{}",
                            e["from"].as_str().unwrap(),
                            e["to"].as_str().unwrap(),
                            e["reason"].as_str().unwrap(),
                            e["count"]
                        )
                    })
                    .collect();
                got.sort();
                want.sort();
                if got != want {
                    return fail(format!("transitions {got:?}"));
                }
            }
            "prometheus" => {
                let path = vectors_dir().join(step["expect_file"].as_str().expect("expect_file"));
                let text = prometheus_text(&breaker, family.as_ref());
                if std::env::var_os("CIRCUIT_BLESS").is_some() {
                    std::fs::write(&path, &text).unwrap();
                }
                let golden = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
                if text != golden {
                    return fail(format!("exposition differs from {}:\n{text}", path.display()));
                }
            }
            "family_events" => {
                let got = std::mem::take(&mut *family_seen.lock().unwrap());
                let want = step["expect"].as_array().expect("family_events expect");
                let matches = got.len() == want.len()
                    && got.iter().zip(want).all(|((key, t), e)| {
                        e["key"].as_str() == key.as_deref()
                            && e["from"].as_str() == Some(t.from.as_str())
                            && e["to"].as_str() == Some(t.to.as_str())
                            && e["reason"].as_str() == Some(t.reason.as_str())
                            && same(&e["at_ms"], &Value::from(t.at.as_nanos() as f64 / 1e6))
                    });
                if !matches {
                    return fail(format!("family events {got:?}"));
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

fn run_every_vector(storage: Storage) {
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
            if let Err(e) = run_vector(vector, storage) {
                failures.push(format!("{name}: {e}"));
            }
        }
    }
    assert!(count >= 40, "expected at least 40 vectors, found {count}");
    assert!(failures.is_empty(), "{} of {count} vectors failed:\n{}", failures.len(), failures.join("\n"));
    println!("{count} conformance vectors passed");
}

#[test]
fn every_vector_passes() {
    run_every_vector(Storage::Local);
}

/// The same vectors with every breaker's state in a host record (docs/shared.md): one state
/// machine, whatever its storage.
#[test]
fn every_vector_passes_through_a_host_record() {
    run_every_vector(Storage::Shared);
}
