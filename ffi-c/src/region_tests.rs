//! Unit tests of the host-region functions: NULL pointers, closed handles, bad paths, the
//! messages of refused breakers, process counts. (Several processes: tests/c/test_region.c.)

use std::ffi::{CStr, CString, c_char};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::*;

fn message() -> String {
    let mut buf = [0 as c_char; 1024];
    // SAFETY: buf has buf.len() writable bytes.
    unsafe { circuit_last_error_message(buf.as_mut_ptr(), buf.len()) };
    // SAFETY: NUL-terminated by circuit_last_error_message.
    unsafe { CStr::from_ptr(buf.as_ptr()) }.to_str().unwrap().to_owned()
}

/// A fresh path in a fresh directory under the system temp dir (removed by the guard).
struct TempPath(PathBuf);

impl TempPath {
    fn new(name: &str) -> TempPath {
        static N: AtomicU64 = AtomicU64::new(0);
        let dir = std::env::temp_dir().join(format!(
            "circuit-ffi-region-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        TempPath(dir.join(name))
    }

    fn c(&self) -> CString {
        CString::new(self.0.to_str().unwrap()).unwrap()
    }
}

impl Drop for TempPath {
    fn drop(&mut self) {
        if let Some(dir) = self.0.parent() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

fn open_manual(path: &TempPath) -> circuit_region {
    let mut region = 0;
    // SAFETY: a NUL-terminated path and a writable out-pointer.
    let st = unsafe { circuit_region_open_manual(path.c().as_ptr(), 8, &mut region) };
    assert_eq!(st, circuit_status::CIRCUIT_OK, "{}", message());
    region
}

fn config(name: Option<&str>, threshold: u32, region: circuit_region) -> *mut circuit_config {
    let config = circuit_config_new();
    // SAFETY: a live config; NUL-terminated strings.
    unsafe {
        if let Some(name) = name {
            let name = CString::new(name).unwrap();
            assert_eq!(circuit_config_set_name(config, name.as_ptr()), circuit_status::CIRCUIT_OK);
        }
        assert_eq!(circuit_config_set_failure_threshold(config, threshold), circuit_status::CIRCUIT_OK);
        assert_eq!(circuit_config_set_region(config, region), circuit_status::CIRCUIT_OK);
    }
    config
}

fn create(config: *mut circuit_config) -> (circuit_status, circuit_breaker) {
    let mut breaker = 0;
    // SAFETY: a live config and a writable out-pointer.
    let st = unsafe { circuit_create(config, &mut breaker) };
    // SAFETY: from circuit_config_new, freed once.
    unsafe { circuit_config_free(config) };
    (st, breaker)
}

#[test]
fn null_pointers_are_refused_and_name_the_argument() {
    let path = TempPath::new("r");
    let mut region = 0;
    // SAFETY: NULL is what is being tested; every other pointer is valid.
    unsafe {
        assert_eq!(circuit_region_open(std::ptr::null(), 4, &mut region), circuit_status::CIRCUIT_ERR_NULL_POINTER);
        assert!(message().contains("`path`"), "{}", message());
        assert_eq!(
            circuit_region_open_manual(path.c().as_ptr(), 4, std::ptr::null_mut()),
            circuit_status::CIRCUIT_ERR_NULL_POINTER
        );
        assert!(message().contains("`out_region`"), "{}", message());
        assert_eq!(circuit_config_set_region(std::ptr::null_mut(), 1), circuit_status::CIRCUIT_ERR_NULL_POINTER);
        assert_eq!(circuit_process_counts(1, std::ptr::null_mut()), circuit_status::CIRCUIT_ERR_NULL_POINTER);
        assert_eq!(circuit_is_shared(1, std::ptr::null_mut()), circuit_status::CIRCUIT_ERR_NULL_POINTER);
    }
    assert_eq!(region, 0, "out-parameters untouched on error");
    assert!(!path.0.exists());
}

#[test]
fn closed_and_forged_handles_are_refused() {
    let path = TempPath::new("r");
    let region = open_manual(&path);
    assert_eq!(circuit_region_advance(region, 5), circuit_status::CIRCUIT_OK);
    assert_eq!(circuit_region_close(region), circuit_status::CIRCUIT_OK);
    assert_eq!(circuit_region_close(region), circuit_status::CIRCUIT_ERR_INVALID_HANDLE);
    assert!(message().contains("not a live region handle"), "{}", message());
    assert_eq!(circuit_region_advance(region, 5), circuit_status::CIRCUIT_ERR_INVALID_HANDLE);
    for forged in [0, u64::MAX, region + 1] {
        assert_eq!(circuit_region_close(forged), circuit_status::CIRCUIT_ERR_INVALID_HANDLE);
    }
    let config = circuit_config_new();
    // SAFETY: a live config.
    unsafe {
        assert_eq!(circuit_config_set_region(config, region), circuit_status::CIRCUIT_ERR_INVALID_HANDLE);
        circuit_config_free(config);
    }
    // A clock handle is not a region handle.
    let mut clock = 0;
    // SAFETY: a writable out-pointer.
    unsafe { circuit_clock_manual_new(&mut clock) };
    assert_eq!(circuit_region_close(clock), circuit_status::CIRCUIT_ERR_INVALID_HANDLE);
    circuit_clock_destroy(clock);
}

#[test]
fn bad_paths_are_region_errors_naming_the_path() {
    let path = TempPath::new("no-such-dir/r");
    let mut region = 0;
    // SAFETY: a NUL-terminated path and a writable out-pointer.
    let st = unsafe { circuit_region_open(path.c().as_ptr(), 4, &mut region) };
    assert_eq!(st, circuit_status::CIRCUIT_ERR_REGION);
    let text = message();
    assert!(text.starts_with("circuit_region_open: circuit region "), "{text}");
    assert!(text.contains("no-such-dir"), "{text}");

    // A file that is not a region.
    let foreign = TempPath::new("foreign");
    std::fs::write(&foreign.0, vec![7u8; 4096]).unwrap();
    // SAFETY: as above.
    let st = unsafe { circuit_region_open(foreign.c().as_ptr(), 4, &mut region) };
    assert_eq!(st, circuit_status::CIRCUIT_ERR_REGION);
    assert!(message().contains("foreign") || message().contains("not a circuit region"), "{}", message());

    // The other clock, another capacity.
    let manual = TempPath::new("manual");
    let r = open_manual(&manual);
    // SAFETY: as above.
    let st = unsafe { circuit_region_open(manual.c().as_ptr(), 8, &mut region) };
    assert_eq!(st, circuit_status::CIRCUIT_ERR_REGION);
    assert!(message().contains("clock"), "{}", message());
    // SAFETY: as above.
    let st = unsafe { circuit_region_open_manual(manual.c().as_ptr(), 9, &mut region) };
    assert_eq!(st, circuit_status::CIRCUIT_ERR_REGION);
    assert!(message().contains("capacity"), "{}", message());
    assert_eq!(region, 0);
    circuit_region_close(r);

    // A host-clock region does not advance.
    let host = TempPath::new("host");
    // SAFETY: as above.
    assert_eq!(unsafe { circuit_region_open(host.c().as_ptr(), 2, &mut region) }, circuit_status::CIRCUIT_OK);
    assert_eq!(circuit_region_advance(region, 1), circuit_status::CIRCUIT_ERR_REGION);
    assert!(message().contains("host clock"), "{}", message());
    circuit_region_close(region);
}

#[test]
fn one_breaker_by_name_and_a_mismatch_names_every_differing_option() {
    let path = TempPath::new("r");
    let region = open_manual(&path);
    let (st, a) = create(config(Some("payments"), 2, region));
    assert_eq!(st, circuit_status::CIRCUIT_OK, "{}", message());
    let (st, b) = create(config(Some("payments"), 2, region));
    assert_eq!(st, circuit_status::CIRCUIT_OK, "{}", message());
    let mut shared = false;
    // SAFETY: writable out-pointer.
    unsafe { circuit_is_shared(a, &mut shared) };
    assert!(shared);

    // Two failures through `a` open `b` too.
    for _ in 0..2 {
        let mut permit = circuit_permit::default();
        // SAFETY: writable out-pointers.
        unsafe {
            assert_eq!(circuit_allow(a, &mut permit, std::ptr::null_mut()), circuit_status::CIRCUIT_OK);
            circuit_record_failure(a, &mut permit);
        }
    }
    let mut state = circuit_breaker_state::CIRCUIT_STATE_CLOSED;
    // SAFETY: writable out-pointer.
    unsafe { circuit_state(b, &mut state) };
    assert_eq!(state, circuit_breaker_state::CIRCUIT_STATE_OPEN);

    // Region-wide metrics, per-object counts.
    let mut counts = circuit_process_counts_snapshot::default();
    // SAFETY: writable out-pointers.
    unsafe {
        assert_eq!(circuit_process_counts(a, &mut counts), circuit_status::CIRCUIT_OK);
        assert_eq!((counts.admitted, counts.failures), (2, 2));
        assert_eq!(circuit_process_counts(b, &mut counts), circuit_status::CIRCUIT_OK);
        assert_eq!((counts.admitted, counts.failures), (0, 0));
    }

    // Other options: refused, naming each.
    let other = config(Some("payments"), 3, region);
    // SAFETY: a live config.
    unsafe { circuit_config_set_half_open_max_calls(other, 2) };
    let (st, _) = create(other);
    assert_eq!(st, circuit_status::CIRCUIT_ERR_REGION);
    let text = message();
    assert!(text.starts_with("circuit_create: circuit region "), "{text}");
    assert!(text.contains("\"payments\" already exists with different options"), "{text}");
    assert!(text.contains("failure_threshold"), "{text}");
    assert!(text.contains("half_open_max_calls"), "{text}");

    // No name: refused, saying so.
    let (st, _) = create(config(None, 2, region));
    assert_eq!(st, circuit_status::CIRCUIT_ERR_REGION);
    assert!(message().contains("needs a name"), "{}", message());

    // A manual clock as well: refused.
    let both = config(Some("payments"), 2, region);
    let mut clock = 0;
    // SAFETY: a live config and writable out-pointer.
    unsafe {
        circuit_clock_manual_new(&mut clock);
        circuit_config_set_manual_clock(both, clock);
    }
    let (st, _) = create(both);
    assert_eq!(st, circuit_status::CIRCUIT_ERR_INVALID_CONFIG);
    assert!(message().contains("region's clock"), "{}", message());
    circuit_clock_destroy(clock);

    // Closing the region leaves its breakers working; the region's clock still drives them.
    let clock_region = open_manual(&path);
    assert_eq!(circuit_region_close(region), circuit_status::CIRCUIT_OK);
    assert_eq!(circuit_region_advance(clock_region, 30_000_000_000), circuit_status::CIRCUIT_OK);
    // SAFETY: writable out-pointer.
    unsafe { circuit_state(a, &mut state) };
    assert_eq!(state, circuit_breaker_state::CIRCUIT_STATE_HALF_OPEN);
    circuit_region_close(clock_region);
    assert_eq!(circuit_destroy(a), circuit_status::CIRCUIT_OK);
    assert_eq!(circuit_destroy(b), circuit_status::CIRCUIT_OK);
}

#[test]
fn a_breaker_of_one_process_reports_its_totals_as_process_counts() {
    let config = circuit_config_new();
    let (st, b) = create(config);
    assert_eq!(st, circuit_status::CIRCUIT_OK);
    let mut permit = circuit_permit::default();
    let mut counts = circuit_process_counts_snapshot::default();
    let mut shared = true;
    // SAFETY: writable out-pointers.
    unsafe {
        circuit_allow(b, &mut permit, std::ptr::null_mut());
        circuit_record_success(b, &mut permit);
        assert_eq!(circuit_process_counts(b, &mut counts), circuit_status::CIRCUIT_OK);
        circuit_is_shared(b, &mut shared);
    }
    assert_eq!((counts.admitted, counts.successes), (1, 1));
    assert!(!shared);
    circuit_destroy(b);
    // SAFETY: writable out-pointer.
    assert_eq!(unsafe { circuit_process_counts(b, &mut counts) }, circuit_status::CIRCUIT_ERR_INVALID_HANDLE);
}

#[test]
fn status_names() {
    // SAFETY: static strings.
    let text = |code| unsafe { CStr::from_ptr(circuit_status_name(code)) }.to_str().unwrap();
    assert_eq!(text(2), "CIRCUIT_NO_PROCESS_ENTRY");
    assert_eq!(text(208), "CIRCUIT_ERR_REGION");
}

fn family_in(config: *mut circuit_config, max_keys: u32) -> (circuit_status, circuit_family) {
    let mut family = 0;
    // SAFETY: a live config and a writable out-pointer.
    let st = unsafe { circuit_family_create(config, max_keys, 0, &mut family) };
    // SAFETY: from circuit_config_new, freed once.
    unsafe { circuit_config_free(config) };
    (st, family)
}

fn member(family: circuit_family, key: &str) -> circuit_breaker {
    let mut breaker = 0;
    // SAFETY: key has key.len() readable bytes; a writable out-pointer.
    let st = unsafe { circuit_family_get(family, key.as_ptr().cast(), key.len(), &mut breaker) };
    assert_eq!(st, circuit_status::CIRCUIT_OK, "{}", message());
    breaker
}

fn name_of(breaker: circuit_breaker) -> String {
    let mut buf = [0 as c_char; 128];
    let mut needed = 0;
    // SAFETY: buf has buf.len() writable bytes.
    unsafe { circuit_name(breaker, buf.as_mut_ptr(), buf.len(), &mut needed) };
    // SAFETY: NUL-terminated by circuit_name.
    unsafe { CStr::from_ptr(buf.as_ptr()) }.to_str().unwrap().to_owned()
}

fn state_of(breaker: circuit_breaker) -> circuit_breaker_state {
    let mut state = circuit_breaker_state::CIRCUIT_STATE_CLOSED;
    // SAFETY: writable out-pointer.
    assert_eq!(unsafe { circuit_state(breaker, &mut state) }, circuit_status::CIRCUIT_OK);
    state
}

#[test]
fn a_family_in_a_region_shares_its_members_and_overflows_when_the_region_is_full() {
    let path = TempPath::new("r");
    let region = open_manual(&path); // capacity 8
    let (st, a) = family_in(config(Some("hosts"), 1, region), 0);
    assert_eq!(st, circuit_status::CIRCUIT_OK, "{}", message());
    let (st, b) = family_in(config(Some("hosts"), 1, region), 0);
    assert_eq!(st, circuit_status::CIRCUIT_OK, "{}", message());

    // One failure through `a`'s member trips `b`'s member of the same key, not another key.
    let x = member(a, "x.example");
    assert_eq!(name_of(x), "hosts/x.example");
    let mut shared = false;
    // SAFETY: writable out-pointers.
    unsafe {
        circuit_is_shared(x, &mut shared);
        let mut permit = circuit_permit::default();
        assert_eq!(circuit_allow(x, &mut permit, std::ptr::null_mut()), circuit_status::CIRCUIT_OK);
        circuit_record_failure(x, &mut permit);
    }
    assert!(shared, "a member of a family in a region is a region breaker");
    let bx = member(b, "x.example");
    assert_eq!(state_of(bx), circuit_breaker_state::CIRCUIT_STATE_OPEN);
    let by = member(b, "y.example");
    assert_eq!(state_of(by), circuit_breaker_state::CIRCUIT_STATE_CLOSED);

    // The region's clock drives the members.
    assert_eq!(circuit_region_advance(region, 30_000_000_000), circuit_status::CIRCUIT_OK);
    assert_eq!(state_of(bx), circuit_breaker_state::CIRCUIT_STATE_HALF_OPEN);

    // Records used: hosts/(overflow), hosts/x.example, hosts/y.example. Fill the rest: a new key
    // then gets the overflow breaker.
    for key in ["k1", "k2", "k3", "k4", "k5"] {
        let m = member(b, key);
        assert_eq!(name_of(m), format!("hosts/{key}"));
        circuit_destroy(m);
    }
    let full = member(b, "one-too-many");
    assert_eq!(name_of(full), "hosts/(overflow)");
    let mut contains = true;
    // SAFETY: key readable, out-pointer writable.
    unsafe { circuit_family_contains(b, "one-too-many".as_ptr().cast(), 12, &mut contains) };
    assert!(!contains);

    // The same family with other options: refused by the region, naming the option.
    let (st, _) = family_in(config(Some("hosts"), 3, region), 0);
    assert_eq!(st, circuit_status::CIRCUIT_ERR_REGION);
    let text = message();
    assert!(text.starts_with("circuit_family_create: circuit region "), "{text}");
    assert!(text.contains("\"hosts/(overflow)\" already exists with different options"), "{text}");
    assert!(text.contains("failure_threshold"), "{text}");

    // A new family in a full region: no room for its overflow breaker.
    let (st, _) = family_in(config(Some("other"), 1, region), 0);
    assert_eq!(st, circuit_status::CIRCUIT_ERR_REGION);
    assert!(message().contains("full"), "{}", message());

    // No name; a manual clock as well.
    let (st, _) = family_in(config(None, 1, region), 0);
    assert_eq!(st, circuit_status::CIRCUIT_ERR_REGION);
    assert!(message().contains("needs a name"), "{}", message());
    let both = config(Some("hosts"), 1, region);
    let mut clock = 0;
    // SAFETY: a live config and a writable out-pointer.
    unsafe {
        circuit_clock_manual_new(&mut clock);
        circuit_config_set_manual_clock(both, clock);
    }
    let (st, _) = family_in(both, 0);
    assert_eq!(st, circuit_status::CIRCUIT_ERR_INVALID_CONFIG);
    assert!(message().contains("region's clock"), "{}", message());
    circuit_clock_destroy(clock);

    for h in [x, bx, by, full] {
        assert_eq!(circuit_destroy(h), circuit_status::CIRCUIT_OK);
    }
    assert_eq!(circuit_family_destroy(a), circuit_status::CIRCUIT_OK);
    assert_eq!(circuit_family_destroy(b), circuit_status::CIRCUIT_OK);
    circuit_region_close(region);
}
