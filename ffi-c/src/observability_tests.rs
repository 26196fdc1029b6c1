//! Unit tests of the observability and state functions: the C family table mirrors the core's,
//! the text equals `circuit::exposition::render`, and random documents never get in.

use std::ffi::{CStr, c_char};

use proptest::prelude::*;

use crate::*;

fn text(p: *const c_char) -> String {
    unsafe { CStr::from_ptr(p) }.to_str().unwrap().to_owned()
}

fn breaker(name: &str) -> circuit_breaker {
    let config = circuit_config_new();
    let name = std::ffi::CString::new(name).unwrap();
    let mut b = 0;
    let mut clock = 0;
    unsafe {
        // A manual clock: the text does not change between two calls (time_in_state).
        assert_eq!(circuit_clock_manual_new(&mut clock), circuit_status::CIRCUIT_OK);
        assert_eq!(circuit_config_set_manual_clock(config, clock), circuit_status::CIRCUIT_OK);
        assert_eq!(circuit_config_set_name(config, name.as_ptr()), circuit_status::CIRCUIT_OK);
        assert_eq!(circuit_create(config, &mut b), circuit_status::CIRCUIT_OK);
        circuit_config_free(config);
        circuit_clock_destroy(clock);
    }
    b
}

#[test]
fn the_family_table_mirrors_the_core() {
    assert_eq!(circuit_metric_family_count(), engine::exposition::FAMILIES.len());
    assert!(circuit_metric_family_at(circuit_metric_family_count()).is_null());
    for (i, f) in engine::exposition::FAMILIES.iter().enumerate() {
        let c = unsafe { &*circuit_metric_family_at(i) };
        assert_eq!(text(c.name), f.name);
        assert_eq!(text(c.otel_name), f.otel_name());
        assert_eq!(text(c.help), f.help);
        assert_eq!(text(c.unit), f.unit);
        assert_eq!(c.kind == circuit_metric_kind::CIRCUIT_METRIC_COUNTER, f.kind == engine::exposition::Kind::Counter);
        let labels: Vec<String> = (0..c.label_count).map(|j| text(unsafe { *c.label_names.add(j) })).collect();
        assert_eq!(labels, f.labels);
    }
}

#[test]
fn the_text_is_the_cores_render() {
    let b = breaker("payments");
    let mut needed = 0;
    assert_eq!(unsafe { circuit_prometheus_text(b, std::ptr::null_mut(), 0, &mut needed) }, circuit_status::CIRCUIT_OK);
    let mut buffer = vec![0 as c_char; needed + 1];
    assert_eq!(
        unsafe { circuit_prometheus_text(b, buffer.as_mut_ptr(), buffer.len(), &mut needed) },
        circuit_status::CIRCUIT_OK
    );
    let expected = BREAKERS
        .get(b)
        .map(|core| engine::exposition::render(&[engine::exposition::Source::breaker(core.name(), &core.metrics())]));
    assert_eq!(Some(text(buffer.as_ptr())), expected);
    assert_eq!(circuit_destroy(b), circuit_status::CIRCUIT_OK);
}

use crate::breaker::BREAKERS;

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// Random bytes, and random edits of a real document, are refused without a panic and leave
    /// the breaker unused.
    #[test]
    fn random_documents_are_refused(bytes in proptest::collection::vec(any::<u8>(), 0..300), at in 0usize..400, byte in any::<u8>()) {
        let b = breaker("payments");
        let status = unsafe { circuit_restore(b, bytes.as_ptr().cast(), bytes.len(), 0) };
        prop_assert!(matches!(status, circuit_status::CIRCUIT_ERR_INVALID_STATE | circuit_status::CIRCUIT_ERR_INVALID_ARGUMENT), "{status:?}");
        let source = breaker("payments");
        let mut doc = vec![0 as c_char; 4096];
        let mut len = 0;
        unsafe { circuit_export(source, 0, doc.as_mut_ptr(), doc.len(), &mut len) };
        let mut edited: Vec<u8> = doc[..len].iter().map(|&c| c as u8).collect();
        let index = at % edited.len();
        edited[index] = byte;
        let status = unsafe { circuit_restore(b, edited.as_ptr().cast(), edited.len(), 0) };
        let mut m = std::mem::MaybeUninit::uninit();
        unsafe { circuit_metrics(b, m.as_mut_ptr()) };
        let m = unsafe { m.assume_init() };
        // An edit may leave a valid document (a digit for a digit); a refused one changes nothing.
        prop_assert!(status == circuit_status::CIRCUIT_OK
            || (matches!(status, circuit_status::CIRCUIT_ERR_INVALID_STATE | circuit_status::CIRCUIT_ERR_INVALID_ARGUMENT)
                && m.generation == 0 && m.admitted == 0), "{status:?} {m:?}");
        circuit_destroy(b);
        circuit_destroy(source);
    }
}
