//! Portable breaker state (docs/semantics.md, "State export and import"): a versioned JSON
//! document any binding writes and any binding reads, so a serverless function can save its
//! breakers before it freezes and restore them on the next cold start.
//!
//! The document holds the state, generation, backoff attempt, remaining open time, the failure run,
//! the window, the lifetime totals, a fingerprint of the options that shape the state, and the
//! wall-clock export instant, used only to measure the gap until the import: every duration in it
//! is relative, so no clock value crosses machines. In-flight probes are never exported.
//!
//! Import is all or nothing: a malformed, truncated, foreign, future-version or out-of-range
//! document is refused with an error naming the field, and the breaker is left untouched.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{Map, Value};

use crate::config::{Config, Window};
use crate::counters::Totals;
use crate::metrics::TransitionCounts;
use crate::state::{Reason, State};
use crate::window::{Tally, WindowContent};

/// The `format` field of every state document.
pub const FORMAT: &str = "circuit-breaker-state";
/// The layout version this build writes and the newest it reads.
pub const VERSION: u64 = 1;
/// Documents longer than this are refused before parsing.
pub const MAX_DOCUMENT_BYTES: usize = 64 << 20;

/// Why a state document was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateError {
    field: Option<String>,
    message: String,
}

impl StateError {
    fn new(field: Option<&str>, message: impl Into<String>) -> Self {
        Self { field: field.map(str::to_owned), message: message.into() }
    }

    fn field(field: &str, message: impl Into<String>) -> Self {
        Self::new(Some(field), message)
    }

    /// A well-formed document this breaker cannot take (another name, inconsistent values).
    pub(crate) fn mismatch(field: &str, message: impl Into<String>) -> Self {
        Self::new(Some(field), message)
    }

    /// The document field at fault, if the problem is one field (dotted path, e.g. `window.buckets`).
    pub fn field_name(&self) -> Option<&str> {
        self.field.as_deref()
    }

    /// What is wrong.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl std::fmt::Display for StateError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.field {
            Some(field) => write!(f, "invalid breaker state document: `{field}`: {}", self.message),
            None => write!(f, "invalid breaker state document: {}", self.message),
        }
    }
}

impl std::error::Error for StateError {}

/// Everything a document carries, in the engine's units (nanoseconds).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Snapshot {
    pub(crate) name: Option<String>,
    pub(crate) fingerprint: String,
    pub(crate) exported_at: SystemTime,
    pub(crate) state: State,
    pub(crate) generation: u64,
    pub(crate) attempt: u32,
    pub(crate) open_remaining: Option<u64>,
    pub(crate) open_duration: u64,
    pub(crate) probe_successes: u32,
    pub(crate) consecutive_failures: u32,
    pub(crate) time_in_state: u64,
    pub(crate) window: Option<WindowContent>,
    pub(crate) totals: Totals,
    pub(crate) rejected_half_open_full: u64,
    pub(crate) rejected_forced_open: u64,
    pub(crate) opened: u64,
    pub(crate) transitions: TransitionCounts,
    pub(crate) jitter_state: u64,
}

/// A fingerprint of the options that give exported state its meaning (every option but the
/// name): FNV-1a over a canonical rendering, as 16 hex digits. The same in every language.
pub(crate) fn fingerprint(config: &Config) -> String {
    let window = match config.window() {
        Window::None => "none".to_owned(),
        Window::Count { size } => format!("count:{size}"),
        Window::Time { duration_nanos, buckets } => format!("time:{duration_nanos}:{buckets}"),
    };
    let float = |v: f64| format!("{:016x}", v.to_bits());
    let nanos = |d: Duration| d.as_nanos().to_string();
    let text = format!(
        "failure_threshold={};failure_rate_threshold={};slow_call_duration={};slow_call_rate_threshold={};\
         minimum_calls={};window={window};reset_timeout={};backoff_multiplier={};max_reset_timeout={};\
         jitter={};half_open_max_calls={};success_threshold={};half_open_max_wait={}",
        config.failure_threshold(),
        config.failure_rate_threshold().map_or("-".to_owned(), float),
        config.slow_call_duration().map_or("-".to_owned(), nanos),
        config.slow_call_rate_threshold().map_or("-".to_owned(), float),
        config.minimum_calls(),
        nanos(config.reset_timeout()),
        float(config.backoff_multiplier()),
        nanos(config.max_reset_timeout()),
        float(config.jitter()),
        config.half_open_max_calls(),
        config.success_threshold(),
        config.half_open_max_wait().map_or("-".to_owned(), nanos),
    );
    let hash = text.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3));
    format!("{hash:016x}")
}

fn ms(nanos: u64) -> Value {
    Value::from(nanos as f64 / 1e6)
}

/// Writes `snapshot` as a document (keys in a fixed order).
pub(crate) fn write(snapshot: &Snapshot) -> String {
    let mut doc = Map::new();
    doc.insert("format".into(), FORMAT.into());
    doc.insert("version".into(), VERSION.into());
    doc.insert("name".into(), snapshot.name.clone().map_or(Value::Null, Value::from));
    doc.insert("config_fingerprint".into(), snapshot.fingerprint.clone().into());
    // Whole milliseconds and the fraction apart: nanoseconds since 1970 do not fit a double exactly.
    let since = snapshot.exported_at.duration_since(UNIX_EPOCH).unwrap_or_default();
    let exported_ms = since.as_millis() as f64 + f64::from(since.subsec_nanos() % 1_000_000) / 1e6;
    doc.insert("exported_at_unix_ms".into(), Value::from(exported_ms));
    doc.insert("state".into(), snapshot.state.as_str().into());
    doc.insert("generation".into(), snapshot.generation.into());
    doc.insert("backoff_attempt".into(), snapshot.attempt.into());
    doc.insert("open_remaining_ms".into(), snapshot.open_remaining.map_or(Value::Null, ms));
    doc.insert("open_duration_ms".into(), ms(snapshot.open_duration));
    doc.insert("probe_successes".into(), snapshot.probe_successes.into());
    doc.insert("consecutive_failures".into(), snapshot.consecutive_failures.into());
    doc.insert("time_in_state_ms".into(), ms(snapshot.time_in_state));
    let window = match &snapshot.window {
        None => Value::Null,
        Some(WindowContent::Count(outcomes)) => {
            let text: String = outcomes
                .iter()
                .map(|&(failed, slow)| match (failed, slow) {
                    (false, false) => 's',
                    (true, false) => 'f',
                    (false, true) => 'S',
                    (true, true) => 'F',
                })
                .collect();
            serde_json::json!({ "kind": "count", "outcomes": text })
        }
        Some(WindowContent::Time { bucket_nanos, head_age, buckets }) => {
            let buckets: Vec<Value> =
                buckets.iter().map(|t| serde_json::json!([t.calls, t.failures, t.slow])).collect();
            serde_json::json!({ "kind": "time", "bucket_ms": ms(*bucket_nanos), "head_age_ms": ms(*head_age), "buckets": buckets })
        }
    };
    doc.insert("window".into(), window);
    let t = &snapshot.totals;
    doc.insert(
        "totals".into(),
        serde_json::json!({
            "admitted": t.admitted,
            "rejected_open": t.rejected_open,
            "rejected_half_open_full": snapshot.rejected_half_open_full,
            "rejected_forced_open": snapshot.rejected_forced_open,
            "successes": t.successes,
            "failures": t.failures,
            "ignored": t.ignored,
            "slow": t.slow,
            "stale": t.stale,
            "opened": snapshot.opened,
        }),
    );
    let transitions: Vec<Value> = snapshot
        .transitions
        .iter()
        .map(|(from, to, reason, count)| {
            serde_json::json!({ "from": from.as_str(), "to": to.as_str(), "reason": reason.as_str(), "count": count })
        })
        .collect();
    doc.insert("transitions".into(), transitions.into());
    // A string: JSON numbers above 2^53 do not survive JavaScript.
    doc.insert("jitter_state".into(), format!("{:016x}", snapshot.jitter_state).into());
    Value::Object(doc).to_string()
}

/// Reads a document; every field is checked (types, ranges, consistency) before anything is used.
pub(crate) fn read(document: &str) -> Result<Snapshot, StateError> {
    if document.len() > MAX_DOCUMENT_BYTES {
        return Err(StateError::new(
            None,
            format!("{} bytes, more than the {MAX_DOCUMENT_BYTES} accepted", document.len()),
        ));
    }
    let value: Value =
        serde_json::from_str(document).map_err(|e| StateError::new(None, format!("not valid JSON: {e}")))?;
    let doc = value.as_object().ok_or_else(|| StateError::new(None, "not a JSON object"))?;
    match doc.get("format").and_then(Value::as_str) {
        Some(FORMAT) => {}
        Some(other) => return Err(StateError::field("format", format!("`{other}`, expected `{FORMAT}`"))),
        None => return Err(StateError::field("format", format!("missing; expected `{FORMAT}`"))),
    }
    let version = uint(doc, "version")?;
    if version > VERSION {
        return Err(StateError::field(
            "version",
            format!("written by a newer layout (version {version}); this build reads version {VERSION}"),
        ));
    }
    if version == 0 {
        return Err(StateError::field("version", "0 is not a layout version"));
    }
    let name = match doc.get("name") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => return Err(StateError::field("name", "not a string or null")),
    };
    let fingerprint = string(doc, "config_fingerprint")?.to_owned();
    let exported_ms = number(doc, "exported_at_unix_ms")?;
    let exported_at = UNIX_EPOCH + Duration::from_nanos((exported_ms * 1e6).min(u64::MAX as f64) as u64);
    let state = State::parse(string(doc, "state")?)
        .ok_or_else(|| StateError::field("state", "not one of closed, open, half_open, forced_open, disabled"))?;
    let generation = uint(doc, "generation")?;
    if generation > MAX_DOCUMENT_COUNT {
        return Err(StateError::field("generation", format!("above {MAX_DOCUMENT_COUNT}")));
    }
    let attempt = u32::try_from(uint(doc, "backoff_attempt")?)
        .map_err(|_| StateError::field("backoff_attempt", "out of range"))?;
    let open_remaining = match doc.get("open_remaining_ms") {
        None | Some(Value::Null) => None,
        Some(_) => Some(duration(doc, "open_remaining_ms")?),
    };
    if (state == State::Open) != open_remaining.is_some() {
        return Err(StateError::field("open_remaining_ms", "present exactly when the state is open"));
    }
    let probe_successes = u32::try_from(uint(doc, "probe_successes")?)
        .map_err(|_| StateError::field("probe_successes", "out of range"))?;
    if probe_successes > 0 && state != State::HalfOpen {
        return Err(StateError::field("probe_successes", "only a half-open breaker has probe successes"));
    }
    let consecutive_failures = u32::try_from(uint(doc, "consecutive_failures")?)
        .map_err(|_| StateError::field("consecutive_failures", "out of range"))?;
    let window = match doc.get("window") {
        None | Some(Value::Null) => None,
        Some(Value::Object(w)) => Some(read_window(w)?),
        Some(_) => return Err(StateError::field("window", "not an object or null")),
    };
    let totals_doc = doc
        .get("totals")
        .and_then(Value::as_object)
        .ok_or_else(|| StateError::field("totals", "missing or not an object"))?;
    let total = |key: &str| {
        totals_doc
            .get(key)
            .and_then(Value::as_u64)
            .ok_or_else(|| StateError::field(&format!("totals.{key}"), "missing or not a non-negative integer"))
    };
    let totals = Totals {
        admitted: total("admitted")?,
        rejected_open: total("rejected_open")?,
        successes: total("successes")?,
        failures: total("failures")?,
        ignored: total("ignored")?,
        slow: total("slow")?,
        stale: total("stale")?,
    };
    let rejected_half_open_full = total("rejected_half_open_full")?;
    let rejected_forced_open = total("rejected_forced_open")?;
    let opened = total("opened")?;
    let mut transitions = TransitionCounts::default();
    let list = doc
        .get("transitions")
        .and_then(Value::as_array)
        .ok_or_else(|| StateError::field("transitions", "missing or not a list"))?;
    for entry in list {
        let bad = || StateError::field("transitions", "each entry is {from, to, reason, count} with known spellings");
        let from = entry.get("from").and_then(Value::as_str).and_then(State::parse).ok_or_else(bad)?;
        let reason = entry.get("reason").and_then(Value::as_str).and_then(Reason::parse).ok_or_else(bad)?;
        let to = entry.get("to").and_then(Value::as_str).and_then(State::parse).ok_or_else(bad)?;
        let count = entry.get("count").and_then(Value::as_u64).ok_or_else(bad)?;
        if to != reason.target() {
            return Err(StateError::field("transitions", format!("`{reason}` never enters `{to}`")));
        }
        transitions.add_many(from, reason, count);
    }
    let jitter_text = string(doc, "jitter_state")?;
    let jitter_state = u64::from_str_radix(jitter_text, 16)
        .ok()
        .filter(|_| jitter_text.len() == 16)
        .ok_or_else(|| StateError::field("jitter_state", "not 16 hex digits"))?;
    Ok(Snapshot {
        name,
        fingerprint,
        exported_at,
        state,
        generation,
        attempt,
        open_remaining,
        open_duration: duration(doc, "open_duration_ms")?,
        probe_successes,
        consecutive_failures,
        time_in_state: duration(doc, "time_in_state_ms")?,
        window,
        totals,
        rejected_half_open_full,
        rejected_forced_open,
        opened,
        transitions,
        jitter_state,
    })
}

/// Largest generation and window total a document may carry: 2^53, so every count is exact in a
/// JavaScript number, and far from the engine's saturation points (a generation that saturated
/// would no longer tell stale permits apart).
pub const MAX_DOCUMENT_COUNT: u64 = 1 << 53;

/// Most outcomes a count window document may hold (the largest `window_size` accepted).
const MAX_COUNT_OUTCOMES: usize = 1 << 24;
/// Most buckets a time window document may hold.
const MAX_TIME_BUCKETS: usize = 1 << 16;

fn read_window(w: &Map<String, Value>) -> Result<WindowContent, StateError> {
    match w.get("kind").and_then(Value::as_str) {
        Some("count") => {
            let text = w
                .get("outcomes")
                .and_then(Value::as_str)
                .ok_or_else(|| StateError::field("window.outcomes", "missing or not a string"))?;
            if text.len() > MAX_COUNT_OUTCOMES {
                return Err(StateError::field("window.outcomes", "longer than any window"));
            }
            let outcomes = text
                .chars()
                .map(|c| match c {
                    's' => Ok((false, false)),
                    'f' => Ok((true, false)),
                    'S' => Ok((false, true)),
                    'F' => Ok((true, true)),
                    other => Err(StateError::field("window.outcomes", format!("`{other}` is not one of s, f, S, F"))),
                })
                .collect::<Result<Vec<_>, _>>()?;
            Ok(WindowContent::Count(outcomes))
        }
        Some("time") => {
            let bucket_nanos = duration(w, "bucket_ms").map_err(|e| prefix("window", e))?;
            if bucket_nanos == 0 {
                return Err(StateError::field("window.bucket_ms", "must be positive"));
            }
            let head_age = duration(w, "head_age_ms").map_err(|e| prefix("window", e))?;
            let list = w
                .get("buckets")
                .and_then(Value::as_array)
                .ok_or_else(|| StateError::field("window.buckets", "missing or not a list"))?;
            if list.len() > MAX_TIME_BUCKETS {
                return Err(StateError::field("window.buckets", "more buckets than any window"));
            }
            let buckets = list
                .iter()
                .map(|b| {
                    let n = |i: usize| b.get(i).and_then(Value::as_u64);
                    match (b.as_array().map(Vec::len), n(0), n(1), n(2)) {
                        (Some(3), Some(calls), Some(failures), Some(slow)) if failures <= calls && slow <= calls => {
                            Ok(Tally { calls, failures, slow })
                        }
                        _ => Err(StateError::field(
                            "window.buckets",
                            "each bucket is [calls, failures, slow] with failures and slow at most calls",
                        )),
                    }
                })
                .collect::<Result<Vec<_>, _>>()?;
            let calls = buckets.iter().try_fold(0u64, |sum, b| sum.checked_add(b.calls));
            if calls.is_none_or(|calls| calls > MAX_DOCUMENT_COUNT) {
                return Err(StateError::field(
                    "window.buckets",
                    format!("more than {MAX_DOCUMENT_COUNT} calls in all"),
                ));
            }
            Ok(WindowContent::Time { bucket_nanos, head_age, buckets })
        }
        _ => Err(StateError::field("window.kind", "not `count` or `time`")),
    }
}

fn prefix(parent: &str, e: StateError) -> StateError {
    StateError { field: e.field.map(|f| format!("{parent}.{f}")), message: e.message }
}

fn string<'a>(doc: &'a Map<String, Value>, key: &str) -> Result<&'a str, StateError> {
    doc.get(key).and_then(Value::as_str).ok_or_else(|| StateError::field(key, "missing or not a string"))
}

fn uint(doc: &Map<String, Value>, key: &str) -> Result<u64, StateError> {
    doc.get(key).and_then(Value::as_u64).ok_or_else(|| StateError::field(key, "missing or not a non-negative integer"))
}

fn number(doc: &Map<String, Value>, key: &str) -> Result<f64, StateError> {
    doc.get(key)
        .and_then(Value::as_f64)
        .filter(|v| v.is_finite() && *v >= 0.0)
        .ok_or_else(|| StateError::field(key, "missing or not a finite non-negative number"))
}

/// A `_ms` field as whole nanoseconds (saturating).
fn duration(doc: &Map<String, Value>, key: &str) -> Result<u64, StateError> {
    Ok((number(doc, key)? * 1e6).round().min(u64::MAX as f64) as u64)
}
