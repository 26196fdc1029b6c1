//! The one metric set (docs/observability.md) through the C ABI: the family table, each
//! breaker's points (what an exporter turns into its library's objects), the lifetime transition
//! counts, and the canonical Prometheus text (`circuit::exposition::render`, byte for byte).

use std::ffi::{CString, c_char, c_void};
use std::sync::OnceLock;

use engine::Metrics;
use engine::exposition::{self, FAMILIES, Source};

use crate::breaker::with_breaker;
use crate::buffer::{check_buffer, copy_out};
use crate::family::{FAMILIES as FAMILY_TABLE, circuit_family, invalid};
use crate::status::*;
use crate::types::*;

/// The key label of a family's overflow breaker in the metric set.
pub(crate) const CIRCUIT_OVERFLOW_KEY: &str = engine::OVERFLOW_KEY;

/// A Prometheus metric type.
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum circuit_metric_kind {
    /// A value that goes up and down.
    CIRCUIT_METRIC_GAUGE = 0,
    /// A monotonic total (its name ends in `_total`).
    CIRCUIT_METRIC_COUNTER = 1,
}

/// One family of the metric set (all strings static and NUL-terminated).
#[repr(C)]
#[derive(Debug)]
pub struct circuit_metric_family {
    /// The Prometheus name, e.g. "circuit_breaker_calls_total".
    pub name: *const c_char,
    /// The OpenTelemetry instrument name, e.g. "circuit_breaker.calls".
    pub otel_name: *const c_char,
    /// The HELP text.
    pub help: *const c_char,
    /// The unit for OpenTelemetry ("1" or "s").
    pub unit: *const c_char,
    /// Gauge or counter.
    pub kind: circuit_metric_kind,
    /// The family's own label names (beyond `name` and `key`), sorted; `label_count` entries.
    pub label_names: *const *const c_char,
    /// Number of entries of `label_names`.
    pub label_count: usize,
}

/// One sample of one breaker: its family, the values of the family's labels (in
/// `family->label_names` order; `label_count` entries) and the value. The `name` label (the
/// breaker's name, or the family's for a member) and `key` label are the exporter's to add.
/// Valid only during the visitor call.
#[repr(C)]
#[derive(Debug)]
pub struct circuit_metric_point {
    /// The family (static).
    pub family: *const circuit_metric_family,
    /// The label values, `label_count` NUL-terminated strings.
    pub label_values: *const *const c_char,
    /// Equal to `family->label_count`.
    pub label_count: usize,
    /// The value.
    pub value: f64,
}

/// The static C mirror of `circuit::exposition::FAMILIES`.
struct Table {
    _strings: Vec<CString>,
    _labels: Vec<Vec<*const c_char>>,
    families: Vec<circuit_metric_family>,
}

// SAFETY: the table is immutable after construction; its pointers point into its own heap data.
unsafe impl Send for Table {}
// SAFETY: as above.
unsafe impl Sync for Table {}

fn table() -> &'static Table {
    static TABLE: OnceLock<Table> = OnceLock::new();
    TABLE.get_or_init(|| {
        let mut strings = Vec::new();
        let mut c = |s: &str| {
            let owned = CString::new(s).unwrap_or_default();
            let pointer = owned.as_ptr();
            strings.push(owned);
            pointer
        };
        let mut labels = Vec::new();
        let mut families = Vec::new();
        for f in FAMILIES {
            let names: Vec<*const c_char> = f.labels.iter().map(|l| c(l)).collect();
            families.push(circuit_metric_family {
                name: c(f.name),
                otel_name: c(&f.otel_name()),
                help: c(f.help),
                unit: c(f.unit),
                kind: match f.kind {
                    exposition::Kind::Gauge => circuit_metric_kind::CIRCUIT_METRIC_GAUGE,
                    exposition::Kind::Counter => circuit_metric_kind::CIRCUIT_METRIC_COUNTER,
                },
                label_names: if names.is_empty() { std::ptr::null() } else { names.as_ptr() },
                label_count: names.len(),
            });
            labels.push(names);
        }
        Table { _strings: strings, _labels: labels, families }
    })
}

/// The number of families of the metric set (`circuit_metric_family_at`).
#[unsafe(no_mangle)]
pub extern "C" fn circuit_metric_family_count() -> usize {
    FAMILIES.len()
}

/// The family at `index` (0 to `circuit_metric_family_count() - 1`, sorted by name), or NULL
/// out of range. Static data: do not free.
#[unsafe(no_mangle)]
pub extern "C" fn circuit_metric_family_at(index: usize) -> *const circuit_metric_family {
    std::panic::catch_unwind(|| table().families.get(index).map_or(std::ptr::null(), |f| f as *const _))
        .unwrap_or(std::ptr::null())
}

/// Receives one point of `circuit_metric_points`.
pub type circuit_metric_point_visitor =
    Option<unsafe extern "C" fn(userdata: *mut c_void, point: *const circuit_metric_point)>;

/// Receives one point of `circuit_family_metric_points` with the member's key (`key_len` bytes of
/// UTF-8, not NUL-terminated; "(overflow)" for the overflow breaker).
pub type circuit_family_metric_point_visitor = Option<
    unsafe extern "C" fn(userdata: *mut c_void, key: *const c_char, key_len: usize, point: *const circuit_metric_point),
>;

/// Calls `visit` with each point of `m`, family by family in name order.
fn visit_points(m: &Metrics, mut visit: impl FnMut(&circuit_metric_point)) {
    let families = &table().families;
    for point in exposition::points(m) {
        let index = FAMILIES.iter().position(|f| f.name == point.family.name).unwrap_or(0);
        let values: Vec<CString> = point.labels.iter().map(|(_, v)| CString::new(*v).unwrap_or_default()).collect();
        let pointers: Vec<*const c_char> = values.iter().map(|v| v.as_ptr()).collect();
        visit(&circuit_metric_point {
            family: &families[index],
            label_values: if pointers.is_empty() { std::ptr::null() } else { pointers.as_ptr() },
            label_count: pointers.len(),
            value: point.value,
        });
    }
}

/// Calls `visitor(userdata, point)` for every sample of the metric set of this breaker (a
/// snapshot taken first; no lock is held during the calls, which happen on the calling thread
/// before it returns). Exporters build their metrics from these points, so every language
/// exports the same set.
///
/// Returns `CIRCUIT_OK`, `CIRCUIT_ERR_INVALID_HANDLE` or `CIRCUIT_ERR_NULL_POINTER` (`visitor`).
///
/// # Safety
/// `visitor` is NULL or a function with the `circuit_metric_point_visitor` signature.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn circuit_metric_points(
    breaker: circuit_breaker,
    visitor: circuit_metric_point_visitor,
    userdata: *mut c_void,
) -> circuit_status {
    guard("circuit_metric_points", || {
        let Some(visit) = visitor else {
            return fail(CIRCUIT_ERR_NULL_POINTER, "circuit_metric_points: `visitor` is NULL");
        };
        let mut metrics = None;
        let st = with_breaker("circuit_metric_points", breaker, |b| {
            metrics = Some(b.metrics());
            CIRCUIT_OK
        });
        if let Some(m) = metrics {
            // SAFETY: the caller passed a function with this signature; the point lives for the call.
            visit_points(&m, |p| unsafe { visit(userdata, p) });
        }
        st
    })
}

/// A family's name and its members' snapshots by key.
type FamilySources = (Option<String>, Vec<(String, Metrics)>);

/// A family's members sorted by key, then its overflow breaker (key "(overflow)"), with the
/// family's name.
fn family_sources(function: &'static str, family: circuit_family) -> Result<FamilySources, circuit_status> {
    let Some(entry) = FAMILY_TABLE.get(family) else {
        return Err(invalid(function, family));
    };
    let m = entry.family.metrics();
    let mut members: Vec<(String, Metrics)> = m.members.into_iter().map(|(k, m)| (k.to_string(), m)).collect();
    members.sort_by(|a, b| a.0.cmp(&b.0));
    members.push((CIRCUIT_OVERFLOW_KEY.to_owned(), m.overflow));
    Ok((entry.family.config().name().map(str::to_owned), members))
}

/// Calls `visitor(userdata, key, key_len, point)` for every sample of every member of the family
/// (sorted by key) and then of its overflow breaker (key "(overflow)"); the `name` label of these
/// samples is the family's name (`circuit_config_set_name` of its config). Snapshots are taken
/// first; no lock is held during the calls, on the calling thread.
///
/// Returns `CIRCUIT_OK`, `CIRCUIT_ERR_INVALID_HANDLE` or `CIRCUIT_ERR_NULL_POINTER` (`visitor`).
///
/// # Safety
/// `visitor` is NULL or a function with the `circuit_family_metric_point_visitor` signature.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn circuit_family_metric_points(
    family: circuit_family,
    visitor: circuit_family_metric_point_visitor,
    userdata: *mut c_void,
) -> circuit_status {
    guard("circuit_family_metric_points", || {
        let Some(visit) = visitor else {
            return fail(CIRCUIT_ERR_NULL_POINTER, "circuit_family_metric_points: `visitor` is NULL");
        };
        let (_, members) = match family_sources("circuit_family_metric_points", family) {
            Ok(sources) => sources,
            Err(status) => return status,
        };
        for (key, m) in &members {
            let pointer = if key.is_empty() { c"".as_ptr() } else { key.as_ptr().cast::<c_char>() };
            // SAFETY: the caller passed a function with this signature; key and point live for the call.
            visit_points(m, |p| unsafe { visit(userdata, pointer, key.len(), p) });
        }
        CIRCUIT_OK
    })
}

/// Receives one lifetime transition count of `circuit_transitions`.
pub type circuit_transition_count_visitor = Option<
    unsafe extern "C" fn(
        userdata: *mut c_void,
        from: circuit_breaker_state,
        to: circuit_breaker_state,
        reason: circuit_reason,
        count: u64,
    ),
>;

/// Calls `visitor(userdata, from, to, reason, count)` for each (from, to, reason) the breaker
/// went through at least once in its life, with how many times (a snapshot taken first; no lock
/// is held during the calls, on the calling thread).
///
/// Returns `CIRCUIT_OK`, `CIRCUIT_ERR_INVALID_HANDLE` or `CIRCUIT_ERR_NULL_POINTER` (`visitor`).
///
/// # Safety
/// `visitor` is NULL or a function with the `circuit_transition_count_visitor` signature.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn circuit_transitions(
    breaker: circuit_breaker,
    visitor: circuit_transition_count_visitor,
    userdata: *mut c_void,
) -> circuit_status {
    guard("circuit_transitions", || {
        let Some(visit) = visitor else {
            return fail(CIRCUIT_ERR_NULL_POINTER, "circuit_transitions: `visitor` is NULL");
        };
        let mut counts = None;
        let st = with_breaker("circuit_transitions", breaker, |b| {
            counts = Some(b.metrics().transitions);
            CIRCUIT_OK
        });
        for (from, to, reason, n) in counts.iter().flat_map(|c| c.iter()) {
            // SAFETY: the caller passed a function with this signature.
            unsafe { visit(userdata, from.into(), to.into(), reason.into(), n) };
        }
        st
    })
}

/// Writes the canonical Prometheus text exposition (format 0.0.4, docs/observability.md) of
/// `breakers` (`breaker_count` handles, each labelled with its name) and then of `families`
/// (`family_count` handles: each family's members sorted by key, then its overflow breaker with
/// key "(overflow)", all with the family's name) into `buffer`, `snprintf` style: truncated to
/// `buffer_len - 1` bytes and NUL-terminated, with the full length (excluding the NUL) written to
/// `*out_needed` if it is not NULL. `buffer` may be NULL when `buffer_len` is 0. The text changes
/// from call to call (`circuit_breaker_time_in_state_seconds`): when `*out_needed >= buffer_len`,
/// grow the buffer past it and call again until it fits.
///
/// Returns `CIRCUIT_OK`, `CIRCUIT_ERR_INVALID_HANDLE` (the message names the handle) or
/// `CIRCUIT_ERR_NULL_POINTER` (`breakers`/`families` NULL with a nonzero count, or `buffer` NULL
/// with a nonzero `buffer_len`).
///
/// # Safety
/// `breakers` points to `breaker_count` handles and `families` to `family_count` handles (either
/// may be NULL when its count is 0); `buffer` is NULL or points to `buffer_len` writable bytes;
/// `out_needed` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn circuit_prometheus_render(
    breakers: *const circuit_breaker,
    breaker_count: usize,
    families: *const circuit_family,
    family_count: usize,
    buffer: *mut c_char,
    buffer_len: usize,
    out_needed: *mut usize,
) -> circuit_status {
    // SAFETY: forwarded contract.
    guard("circuit_prometheus_render", || unsafe {
        render(
            "circuit_prometheus_render",
            breakers,
            breaker_count,
            families,
            family_count,
            buffer,
            buffer_len,
            out_needed,
        )
    })
}

/// `circuit_prometheus_render` of one breaker.
///
/// # Safety
/// As `circuit_prometheus_render`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn circuit_prometheus_text(
    breaker: circuit_breaker,
    buffer: *mut c_char,
    buffer_len: usize,
    out_needed: *mut usize,
) -> circuit_status {
    // SAFETY: forwarded contract; `&breaker` is one readable handle.
    guard("circuit_prometheus_text", || unsafe {
        render("circuit_prometheus_text", &breaker, 1, std::ptr::null(), 0, buffer, buffer_len, out_needed)
    })
}

/// `circuit_prometheus_render` of one family: its members sorted by key, then its overflow
/// breaker (key "(overflow)"), all labelled with the family's name.
///
/// # Safety
/// As `circuit_prometheus_render`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn circuit_family_prometheus_text(
    family: circuit_family,
    buffer: *mut c_char,
    buffer_len: usize,
    out_needed: *mut usize,
) -> circuit_status {
    // SAFETY: forwarded contract; `&family` is one readable handle.
    guard("circuit_family_prometheus_text", || unsafe {
        render("circuit_family_prometheus_text", std::ptr::null(), 0, &family, 1, buffer, buffer_len, out_needed)
    })
}

/// # Safety
/// As `circuit_prometheus_render`.
#[allow(clippy::too_many_arguments)]
unsafe fn render(
    function: &'static str,
    breakers: *const circuit_breaker,
    breaker_count: usize,
    families: *const circuit_family,
    family_count: usize,
    buffer: *mut c_char,
    buffer_len: usize,
    out_needed: *mut usize,
) -> circuit_status {
    if let Err(status) = check_buffer(function, buffer, buffer_len) {
        return status;
    }
    if breakers.is_null() && breaker_count > 0 {
        return fail(CIRCUIT_ERR_NULL_POINTER, format!("{function}: `breakers` is NULL with count {breaker_count}"));
    }
    if families.is_null() && family_count > 0 {
        return fail(CIRCUIT_ERR_NULL_POINTER, format!("{function}: `families` is NULL with count {family_count}"));
    }
    // SAFETY: non-null arrays of the given lengths per the contract.
    let breakers =
        if breaker_count == 0 { &[][..] } else { unsafe { std::slice::from_raw_parts(breakers, breaker_count) } };
    // SAFETY: as above.
    let families =
        if family_count == 0 { &[][..] } else { unsafe { std::slice::from_raw_parts(families, family_count) } };
    let mut own: Vec<(Option<String>, Metrics)> = Vec::with_capacity(breakers.len());
    for &handle in breakers {
        let st = with_breaker(function, handle, |b| {
            own.push((b.name().map(str::to_owned), b.metrics()));
            CIRCUIT_OK
        });
        if st != CIRCUIT_OK {
            return st;
        }
    }
    let mut groups = Vec::with_capacity(families.len());
    for &handle in families {
        match family_sources(function, handle) {
            Ok(group) => groups.push(group),
            Err(status) => return status,
        }
    }
    let mut sources: Vec<Source<'_>> = own.iter().map(|(name, m)| Source::breaker(name.as_deref(), m)).collect();
    for (name, members) in &groups {
        sources.extend(members.iter().map(|(key, m)| Source::member(name.as_deref(), key, m)));
    }
    let text = exposition::render(&sources);
    // SAFETY: per the contract.
    unsafe { copy_out(&text, buffer, buffer_len, out_needed) };
    CIRCUIT_OK
}
