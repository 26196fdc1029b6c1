//! The native half of the Python package `circuit` (`circuit._circuit`). The public, documented
//! API lives in `python/circuit/__init__.py`; this module holds everything on the hot path:
//! admission and recording, the sync decorator's call wrapper, the protected await (the async
//! decorator's callable in `async_guard.rs`, the coroutine-like `ProtectedCall` in
//! `protected_call.rs` and `protected_call_type.rs`), outcome classification, the bridge to the
//! engine's listeners, and the core's HTTP classifier (`http.rs`), the metric set's samples (`exposition.rs`) and
//! state export/import (`state.rs`). All state logic is the Rust
//! engine's. Options and metrics are walked from the engine's schema (`engine::OPTIONS`,
//! `engine::METRICS`), which is also exported, with the engine's spellings, for the package and
//! its tests (`schema.rs`).

mod arguments;
mod async_guard;
mod breaker;
mod classify;
mod clock;
mod delivery;
mod errors;
mod exposition;
mod family;
mod fleet;
mod guard;
mod http;
mod metrics;
mod options;
mod permit;
mod protected_call;
mod protected_call_type;
mod region;
mod schema;
mod state;

use pyo3::prelude::*;

#[pymodule]
fn _circuit(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<clock::ManualClock>()?;
    m.add_class::<breaker::Breaker>()?;
    m.add_class::<permit::Permit>()?;
    m.add_class::<guard::Guarded>()?;
    m.add("AsyncGuarded", async_guard::type_object(m.py())?)?;
    m.add_class::<metrics::Metrics>()?;
    metrics::install(m.py())?;
    m.add_class::<breaker::StateChange>()?;
    m.add_class::<region::HostRegion>()?;
    m.add_class::<region::ProcessCounts>()?;
    m.add_class::<family::Family>()?;
    m.add_class::<family::FamilyMetrics>()?;
    m.add_function(wrap_pyfunction!(errors::register, m)?)?;
    schema::add_to(m)?;
    http::add_to(m)?;
    exposition::add_to(m)?;
    fleet::add_to(m)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
