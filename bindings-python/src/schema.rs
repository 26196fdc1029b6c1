//! The engine's public surface, exported to Python as plain tuples so that the Python package
//! spells nothing itself and the tests can walk it: `OPTIONS` (name, kind, default, bounds, doc),
//! `METRICS` (name, kind, doc), and the spellings `STATES`, `REASONS`, `REJECT_REASONS`,
//! `OUTCOMES` (in code order).

use pyo3::prelude::*;
use pyo3::types::PyTuple;

pub(crate) fn add_to(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    let options = engine::OPTIONS.iter().map(|o| (o.name, o.kind.as_str(), o.default, o.bounds, o.doc));
    m.add("OPTIONS", PyTuple::new(py, options)?)?;
    let metrics = engine::METRICS.iter().map(|f| (f.name, f.kind.as_str(), f.doc));
    m.add("METRICS", PyTuple::new(py, metrics)?)?;
    m.add("STATES", PyTuple::new(py, engine::State::ALL.iter().map(|v| v.as_str()))?)?;
    m.add("REASONS", PyTuple::new(py, engine::Reason::ALL.iter().map(|v| v.as_str()))?)?;
    m.add("REJECT_REASONS", PyTuple::new(py, engine::RejectReason::ALL.iter().map(|v| v.as_str()))?)?;
    m.add("OUTCOMES", PyTuple::new(py, engine::Outcome::ALL.iter().map(|v| v.as_str()))?)?;
    Ok(())
}
