//! Runs every vector of `tests/conformance/fleet/*.json` (README "Fleet vectors") through the
//! public Rust API: a breaker and its sans-IO fleet (`circuit::fleet::Fleet`) on one manual clock,
//! with this test as the host answering each sync request with the vector's hand-built reply.

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use circuit::fleet::{Fleet, FleetConfig, FleetEvent, FleetPermit, Refused, Reply, SyncRequest};
use circuit::{CircuitBreaker, Clock, Config, ManualClock, OPTIONS, OptionKind, OptionValue, Outcome, Recorded};
use serde_json::{Map, Value, json};

#[path = "support/same.rs"]
mod same;
use same::same;

/// An option's JSON value as the core's value: durations end in `_ms` (milliseconds), `null` for a
/// rate turns its rule off.
fn option(key: &str, value: &Value, kind_of: impl Fn(&str) -> Option<OptionKind>) -> (String, OptionValue) {
    let name = key.strip_suffix("_ms").unwrap_or(key);
    let kind = kind_of(name).unwrap_or_else(|| panic!("unknown option {key}"));
    let value = match (kind, value) {
        (OptionKind::Number, Value::Null) => OptionValue::Text("none".into()),
        (OptionKind::Duration, v) => {
            OptionValue::Duration(Duration::from_nanos((v.as_f64().unwrap() * 1e6).round() as u64))
        }
        (OptionKind::Count, v) => OptionValue::Count(v.as_u64().unwrap() as u32),
        (OptionKind::Number, v) => OptionValue::Number(v.as_f64().unwrap()),
        (OptionKind::Seed, v) => OptionValue::Seed(v.as_u64().unwrap()),
        (OptionKind::Text, v) => OptionValue::Text(v.as_str().unwrap().to_owned()),
    };
    (name.to_owned(), value)
}

fn breaker_config(config: &Map<String, Value>) -> Config {
    let mut b = Config::builder();
    for (key, value) in config {
        let (name, value) = option(key, value, |n| OPTIONS.iter().find(|o| o.name == n).map(|o| o.kind));
        b = b.set(&name, value).unwrap();
    }
    b.build().unwrap()
}

fn fleet_config(name: &str, options: &Map<String, Value>) -> Result<FleetConfig, circuit::ConfigError> {
    let mut c = FleetConfig::new(name);
    for (key, value) in options {
        let (name, value) = option(key, value, |n| circuit::fleet::fleet_option_info(n).map(|o| o.kind));
        c.set(&name, value)?;
    }
    c.validate().map(|()| c)
}

/// The deltas, want and verdicts a request carries (SyncRequest::args, after the 13 options).
fn request_fields(request: &SyncRequest) -> Value {
    let a = request.args();
    let n = |i: usize| Value::from(a[i].parse::<u64>().unwrap());
    let count: usize = a[18].parse().unwrap();
    let verdicts: Vec<Value> = (0..count)
        .map(|i| json!([a[19 + 3 * i].parse::<u64>().unwrap(), a[20 + 3 * i].parse::<u64>().unwrap(), a[21 + 3 * i]]))
        .collect();
    json!({"epoch": n(13), "calls": n(14), "failures": n(15), "slow": n(16), "want": n(17), "verdicts": verdicts})
}

fn event_json(event: &FleetEvent) -> Value {
    match event {
        FleetEvent::Transition { from, to, epoch } => {
            json!({"kind": "transition", "from": from.as_str(), "to": to.as_str(), "epoch": epoch})
        }
        FleetEvent::StoreDegraded => json!({"kind": "store_degraded"}),
        FleetEvent::StoreRecovered => json!({"kind": "store_recovered"}),
        FleetEvent::Mismatch { stored } => json!({"kind": "mismatch", "stored": stored}),
    }
}

/// Each field of `expect` equals the same field of `actual`.
fn check_fields(what: &str, expect: &Value, actual: &Value) {
    for (field, want) in expect.as_object().unwrap() {
        assert!(same(want, &actual[field]), "{what}: field {field} is {}, want {want}", actual[field]);
    }
}

fn check_events(what: &str, expect: Option<&Value>, events: &[FleetEvent]) {
    if let Some(expect) = expect {
        let got: Vec<Value> = events.iter().map(event_json).collect();
        assert_eq!(&Value::from(got.clone()), expect, "{what}: events");
    }
}

fn run(vector: &Value) {
    let name = vector["name"].as_str().unwrap();
    let empty = Map::new();
    let fleet_options = vector["fleet"].as_object().unwrap_or(&empty);
    let breaker_name = vector["config"].get("name").and_then(Value::as_str).unwrap_or("vector");
    let fleet_config = fleet_config(breaker_name, fleet_options);
    if let Some(option) = vector.get("invalid_fleet_option") {
        let error = fleet_config.expect_err(name);
        assert_eq!(error.option(), option.as_str().unwrap(), "{name}: the refused option");
        return;
    }
    let clock = ManualClock::new();
    let breaker = CircuitBreaker::with_clock(breaker_config(vector["config"].as_object().unwrap()), clock.clone());
    let fleet = Fleet::new(fleet_config.unwrap(), clock.now_nanos()).unwrap();
    let now = || clock.now_nanos();
    let mut permits: HashMap<String, FleetPermit> = HashMap::new();
    let mut request: Option<SyncRequest> = None;
    for (i, step) in vector["steps"].as_array().unwrap().iter().enumerate() {
        let what = format!("{name} step {i} ({step})");
        match step["op"].as_str().unwrap() {
            "advance" => {
                clock.advance(Duration::from_nanos((step["ms"].as_f64().unwrap() * 1e6).round() as u64));
            }
            "fleet_poll" => {
                let polled = fleet.poll(now());
                match &step["expect"] {
                    Value::Null => assert!(polled.is_none(), "{what}: nothing due"),
                    expect => {
                        let polled = polled.unwrap_or_else(|| panic!("{what}: a sync is due"));
                        check_fields(&what, expect, &request_fields(&polled));
                        request = Some(polled);
                    }
                }
            }
            "fleet_reply" => {
                assert!(request.take().is_some(), "{what}: no request to answer");
                let reply = step["reply"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|v| match v {
                        Value::Number(n) => Reply::Int(n.as_i64().unwrap()),
                        v => Reply::Text(v.as_str().unwrap().to_owned()),
                    })
                    .collect();
                check_events(&what, step.get("events"), &fleet.complete(now(), Ok(reply)));
            }
            "fleet_fail" => {
                assert!(request.take().is_some(), "{what}: no request to answer");
                check_events(&what, step.get("events"), &fleet.complete(now(), Err("timeout".into())));
            }
            "fleet_tick" => check_events(&what, step.get("events"), &fleet.events(now())),
            "fleet_status" => {
                let s = fleet.status(now());
                let actual = json!({"state": s.state.as_str(), "epoch": s.epoch, "degraded": s.degraded,
                    "syncs": s.syncs, "sync_failures": s.sync_failures});
                check_fields(&what, &step["expect"], &actual);
            }
            "fleet_allow" => {
                let expect = step["expect"].as_str().unwrap();
                match fleet.allow_call(&breaker, now) {
                    Ok(permit) => {
                        let got = if permit.is_fleet_probe() { "fleet_probe" } else { "admitted" };
                        assert_eq!(got, expect, "{what}");
                        match step.get("permit").and_then(Value::as_str) {
                            Some(key) => {
                                permits.insert(key.to_owned(), permit);
                            }
                            None => {
                                let _ = fleet.record_call(&breaker, permit, Outcome::Ignored).unwrap();
                            }
                        }
                    }
                    Err(Refused::Local(_)) => assert_eq!("local_rejected", expect, "{what}"),
                    Err(Refused::Fleet { state, retry_after }) => {
                        let got = match state.as_str() {
                            "half_open" => "fleet_half_open_full",
                            _ => "fleet_open",
                        };
                        assert_eq!(got, expect, "{what}");
                        if let Some(want) = step.get("retry_after_ms") {
                            let got = retry_after.map_or(Value::Null, |d| Value::from(d.as_nanos() as f64 / 1e6));
                            assert!(same(want, &got), "{what}: retry_after_ms is {got}, want {want}");
                        }
                    }
                }
            }
            "call" => {
                let outcome = Outcome::parse(step["outcome"].as_str().unwrap()).unwrap();
                for _ in 0..step.get("repeat").and_then(Value::as_u64).unwrap_or(1) {
                    let permit = fleet.allow_call(&breaker, now).unwrap_or_else(|e| panic!("{what}: refused {e:?}"));
                    assert_eq!(fleet.record_call(&breaker, permit, outcome).unwrap(), Recorded::Counted, "{what}");
                }
            }
            "record" => {
                let permit = permits.remove(step["permit"].as_str().unwrap()).expect("a kept permit");
                let outcome = Outcome::parse(step["outcome"].as_str().unwrap()).unwrap();
                let recorded = fleet.record_call(&breaker, permit, outcome).unwrap();
                let got = if recorded == Recorded::Counted { "counted" } else { "stale" };
                assert_eq!(got, step["expect"].as_str().unwrap(), "{what}");
            }
            "state" => assert_eq!(breaker.state().as_str(), step["expect"].as_str().unwrap(), "{what}"),
            "metrics" => {
                let m = breaker.metrics();
                let actual = json!({"admitted": m.admitted, "ignored": m.ignored, "rejected": m.rejected,
                    "successes": m.successes, "failures": m.failures});
                check_fields(&what, &step["expect"], &actual);
            }
            other => panic!("{what}: unknown op {other}"),
        }
    }
}

#[test]
fn fleet_vectors() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/conformance/fleet");
    let mut files: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
    files.retain(|p| p.extension().is_some_and(|e| e == "json"));
    files.sort();
    let mut ran = 0;
    for file in files {
        let doc: Value = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
        for vector in doc["vectors"].as_array().unwrap() {
            run(vector);
            ran += 1;
        }
    }
    assert!(ran >= 12, "ran {ran} fleet vectors");
}
