//! The engine options: each option of the core's schema, given in camelCase by
//! `lib/options.js` (which has checked its JavaScript type), converted by its kind and handed to
//! `ConfigBuilder::set`.

use std::sync::LazyLock;
use std::time::Duration;

use engine::{Config, ConfigError, OPTIONS, OptionInfo, OptionKind, OptionValue, count_from_i64, duration_from_f64};
use napi::ValueType;
use napi::bindgen_prelude::*;
use napi_derive::napi;

use crate::protocol::NANOS_PER_MS;
use crate::schema::camel_case;

/// Why an option was refused: the core's snake_case option name and the reason.
#[napi(object)]
pub struct ConfigProblem {
    pub option: String,
    pub reason: String,
}

impl From<ConfigError> for ConfigProblem {
    fn from(e: ConfigError) -> Self {
        Self { option: e.option().to_owned(), reason: e.reason().to_owned() }
    }
}

pub(crate) type Checked<T> = std::result::Result<T, ConfigProblem>;

fn problem(option: &str, reason: String) -> ConfigProblem {
    ConfigProblem { option: option.to_owned(), reason }
}

/// A count option: a whole number, then the core's range check.
fn count(option: &'static str, value: f64) -> Checked<u32> {
    if value.is_finite() && value.fract() == 0.0 && value.abs() < 9.0e18 {
        return count_from_i64(option, value as i64).map_err(ConfigProblem::from);
    }
    Err(problem(option, format!("must be a whole number, got {value}")))
}

/// A duration option in milliseconds, rounded to whole nanoseconds by the core.
fn duration(option: &'static str, value: f64) -> Checked<Duration> {
    duration_from_f64(option, value, NANOS_PER_MS).map_err(ConfigProblem::from)
}

/// The schema's options with their camelCase names, computed once.
static JS_OPTIONS: LazyLock<Vec<(String, &'static OptionInfo)>> =
    LazyLock::new(|| OPTIONS.iter().map(|o| (camel_case(o.name), o)).collect());

/// Converts one given option by its kind: text is a string, count/number/duration (ms) are
/// numbers, the seed is the decimal string of an unsigned 64-bit integer (`lib/options.js` has
/// already type-checked everything; this refuses a wrong type too, as a problem naming the option).
pub(crate) fn option_value(info: &'static OptionInfo, value: Unknown) -> Result<Checked<OptionValue>> {
    let option = info.name;
    let (wanted, expected) = match info.kind {
        OptionKind::Text | OptionKind::Seed => (ValueType::String, "a string"),
        OptionKind::Count | OptionKind::Number | OptionKind::Duration => (ValueType::Number, "a number"),
    };
    if value.get_type()? != wanted {
        return Ok(Err(problem(option, format!("must be {expected}"))));
    }
    Ok(match info.kind {
        OptionKind::Text => Ok(OptionValue::Text(String::from_unknown(value)?)),
        OptionKind::Seed => {
            let text = String::from_unknown(value)?;
            text.parse::<u64>()
                .map(OptionValue::Seed)
                .map_err(|_| problem(option, format!("must be a 64-bit integer, got {text}")))
        }
        OptionKind::Count => count(option, f64::from_unknown(value)?).map(OptionValue::Count),
        OptionKind::Number => Ok(OptionValue::Number(f64::from_unknown(value)?)),
        OptionKind::Duration => duration(option, f64::from_unknown(value)?).map(OptionValue::Duration),
    })
}

/// Builds the configuration from the engine options (camelCase keys; a missing, `undefined` or
/// `null` one means the default), one schema option after the other.
pub(crate) fn build_config(options: &Object) -> Result<Checked<Config>> {
    let mut builder = Config::builder();
    for (js_name, info) in JS_OPTIONS.iter() {
        let Some(value) = options.get::<Unknown>(js_name)? else { continue };
        if matches!(value.get_type()?, ValueType::Undefined | ValueType::Null) {
            continue;
        }
        let value = match option_value(info, value)? {
            Ok(value) => value,
            Err(problem) => return Ok(Err(problem)),
        };
        builder = match builder.set(info.name, value) {
            Ok(builder) => builder,
            Err(e) => return Ok(Err(e.into())),
        };
    }
    Ok(builder.build().map_err(ConfigProblem::from))
}
