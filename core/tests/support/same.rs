//! How the conformance runners compare a vector's expectation with a value.

use serde_json::Value;

/// Equal; numbers within a relative tolerance of 1e-6 (5000 and 5000.0 are the same).
pub fn same(expected: &Value, actual: &Value) -> bool {
    match (expected.as_f64(), actual.as_f64()) {
        (Some(e), Some(a)) => (e - a).abs() <= 1e-6 * e.abs().max(1.0),
        _ => expected == actual,
    }
}
