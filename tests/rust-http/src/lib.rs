//! Tests of `circuit::tower::CircuitLayer` and of the `circuit::prometheus` and
//! `circuit::opentelemetry` exporters, with real servers on 127.0.0.1 (in `tests/`).
//! The library itself is empty: it only compiles the documentation's example.

/// docs/integrations/rust-tower.md, compiled and run as a doctest.
#[cfg(doctest)]
#[doc = include_str!("../../../docs/integrations/rust-tower.md")]
struct RustTowerGuide;
