//! The core's public surface as JavaScript sees it: every option and metrics field, and the
//! spellings behind the integer codes the fast path returns (`schema()`). `lib/schema.js` builds
//! its tables from it, so no JavaScript file types an option name, a field or a spelling.

use engine::{METRICS, OPTIONS, Outcome, Reason, RejectReason, State};
use napi_derive::napi;

/// One engine option, as the core's schema declares it.
#[napi(object)]
pub struct SchemaOption {
    /// The core's snake_case name (used in the core's messages).
    pub name: String,
    /// The camelCase name `createBreaker` reads and `lib/options.js` exposes.
    pub js_name: String,
    /// `text`, `count`, `number`, `duration` (milliseconds in Node) or `seed`.
    pub kind: String,
    /// The default, as every binding's options table shows it.
    pub default: String,
    /// The valid values.
    pub bounds: String,
    /// One line of documentation.
    pub doc: String,
}

/// One field of the metrics snapshot, as the core's schema declares it.
#[napi(object)]
pub struct SchemaMetric {
    /// The core's snake_case name.
    pub name: String,
    /// The camelCase key of `metrics()` in `lib/metrics.js`.
    pub js_name: String,
    /// `state`, `count`, `rate`, `duration` or `optional_duration`.
    pub kind: String,
    /// One line of documentation.
    pub doc: String,
}

/// The core's public surface: every option and metrics field, and the spellings behind the integer
/// codes the native layer returns (states, transition reasons, reject reasons, outcomes), in code
/// order.
#[napi(object)]
pub struct Schema {
    pub options: Vec<SchemaOption>,
    /// The fleet breaker's options (`engine::fleet::FLEET_OPTIONS`), read by `redisFleet`.
    pub fleet_options: Vec<SchemaOption>,
    /// In the order of the values `NativeBreaker.metrics()` returns.
    pub metrics: Vec<SchemaMetric>,
    pub states: Vec<String>,
    pub reasons: Vec<String>,
    pub reject_reasons: Vec<String>,
    pub outcomes: Vec<String>,
}

/// `failure_threshold` -> `failureThreshold`.
pub(crate) fn camel_case(snake: &str) -> String {
    let mut out = String::with_capacity(snake.len());
    let mut upper = false;
    for c in snake.chars() {
        if c == '_' {
            upper = true;
        } else if upper {
            out.push(c.to_ascii_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

fn schema_option(o: &engine::OptionInfo) -> SchemaOption {
    SchemaOption {
        name: o.name.to_owned(),
        js_name: camel_case(o.name),
        kind: o.kind.as_str().to_owned(),
        default: o.default.to_owned(),
        bounds: o.bounds.to_owned(),
        doc: o.doc.to_owned(),
    }
}

/// The core's schema, so `lib/*.js` never types an option name, a metrics field or a spelling.
#[napi(catch_unwind)]
pub fn schema() -> Schema {
    /// The spellings, indexed by code.
    fn names<T: Copy>(all: &[T], text: fn(T) -> &'static str, code: fn(T) -> u8) -> Vec<String> {
        let mut sorted = all.to_vec();
        sorted.sort_by_key(|v| code(*v));
        sorted.iter().map(|v| text(*v).to_owned()).collect()
    }
    Schema {
        options: OPTIONS.iter().map(schema_option).collect(),
        fleet_options: engine::fleet::FLEET_OPTIONS.iter().map(schema_option).collect(),
        metrics: METRICS
            .iter()
            .map(|m| SchemaMetric {
                name: m.name.to_owned(),
                js_name: camel_case(m.name),
                kind: m.kind.as_str().to_owned(),
                doc: m.doc.to_owned(),
            })
            .collect(),
        states: names(State::ALL, State::as_str, State::code),
        reasons: names(Reason::ALL, Reason::as_str, Reason::code),
        reject_reasons: names(RejectReason::ALL, RejectReason::as_str, RejectReason::code),
        outcomes: names(Outcome::ALL, Outcome::as_str, Outcome::code),
    }
}
