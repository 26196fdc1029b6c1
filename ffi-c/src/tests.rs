//! Unit tests of the C ABI from Rust: header freshness, spellings, and a proptest "fuzzer" that
//! drives random call sequences with random, stale, forged and destroyed handles and permits.

use std::ffi::CStr;

use proptest::prelude::*;

use crate::*;

#[test]
fn header_is_fresh() {
    let generated = include_str!(concat!(env!("OUT_DIR"), "/circuit.h"));
    let committed_path = concat!(env!("CARGO_MANIFEST_DIR"), "/../include/circuit.h");
    let committed = std::fs::read_to_string(committed_path).unwrap_or_default();
    assert!(
        generated == committed,
        "include/circuit.h is stale: run `make header` (it copies the header cbindgen generated into OUT_DIR)"
    );
}

#[test]
fn names_match_the_engine_spellings() {
    let text = |p: *const std::ffi::c_char| unsafe { CStr::from_ptr(p) }.to_str().unwrap().to_owned();
    for state in engine::State::ALL {
        assert_eq!(text(circuit_state_name(u32::from(state.code()))), state.as_str());
        assert_eq!(circuit_breaker_state::from(*state) as u32, u32::from(state.code()));
    }
    for reason in engine::Reason::ALL {
        assert_eq!(text(circuit_reason_name(u32::from(reason.code()))), reason.as_str());
        assert_eq!(circuit_reason::from(*reason) as u32, u32::from(reason.code()));
    }
    assert!(circuit_state_name(99).is_null());
    assert!(circuit_reason_name(99).is_null());
    assert_eq!(text(circuit_status_name(203)), "CIRCUIT_ERR_INVALID_HANDLE");
    assert_eq!(text(circuit_version()), env!("CARGO_PKG_VERSION"));
}

#[test]
fn panic_is_caught_and_reported() {
    // What `circuit_test_panic` (a test-hooks build only) does: a panic inside the boundary.
    let status = crate::status::guard("circuit_test_panic", || panic!("deliberate panic for testing"));
    assert_eq!(status, circuit_status::CIRCUIT_ERR_PANIC);
    let mut buf = [0 as std::ffi::c_char; 256];
    let n = unsafe { circuit_last_error_message(buf.as_mut_ptr(), buf.len()) };
    let message = unsafe { CStr::from_ptr(buf.as_ptr()) }.to_str().unwrap();
    assert_eq!(n, message.len());
    assert!(message.contains("circuit_test_panic"), "{message}");
}

#[derive(Debug, Clone)]
enum Op {
    Create { threshold: u32, manual: bool },
    Destroy(usize),
    Allow(usize),
    Record { permit: usize, handle: usize, outcome: u8 },
    State(usize),
    Metrics(usize),
    Manual(usize, u8),
    Advance(u64),
    ForgeHandle(u64),
    ForgePermit { handle: usize, generation: u64, ticket: u32, flags: u32 },
    FamilyAllow(u8),
    FamilyView,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (0u32..4, any::<bool>()).prop_map(|(threshold, manual)| Op::Create { threshold, manual }),
        (0usize..8).prop_map(Op::Destroy),
        (0usize..8).prop_map(Op::Allow),
        (0usize..16, 0usize..8, 0u8..3).prop_map(|(permit, handle, outcome)| Op::Record { permit, handle, outcome }),
        (0usize..8).prop_map(Op::State),
        (0usize..8).prop_map(Op::Metrics),
        (0usize..8, 0u8..3).prop_map(|(h, m)| Op::Manual(h, m)),
        (0u64..3_000_000_000).prop_map(Op::Advance),
        any::<u64>().prop_map(Op::ForgeHandle),
        (0u8..6).prop_map(Op::FamilyAllow),
        Just(Op::FamilyView),
        (0usize..8, 0u64..6, any::<u32>(), 0u32..8).prop_map(|(handle, generation, ticket, flags)| Op::ForgePermit {
            handle,
            generation,
            ticket,
            flags
        }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    /// No sequence of calls crashes, every status is one the contract allows for that call, and
    /// a destroyed or forged handle is always refused.
    #[test]
    fn random_call_sequences_never_misbehave(ops in proptest::collection::vec(op(), 1..60)) {
        use circuit_status::*;
        let mut clock = 0u64;
        prop_assert_eq!(unsafe { circuit_clock_manual_new(&mut clock) }, CIRCUIT_OK);
        let mut handles: Vec<u64> = Vec::new();
        let mut destroyed: Vec<u64> = Vec::new();
        let mut permits: Vec<circuit_permit> = Vec::new();
        let mut family = 0u64;
        {
            let config = circuit_config_new();
            unsafe {
                prop_assert_eq!(circuit_config_set_failure_threshold(config, 1), CIRCUIT_OK);
                prop_assert_eq!(circuit_config_set_manual_clock(config, clock), CIRCUIT_OK);
                prop_assert_eq!(circuit_family_create(config, 2, 1_000_000_000, &mut family), CIRCUIT_OK);
                circuit_config_free(config);
            }
        }
        let pick = |v: &Vec<u64>, i: usize| if v.is_empty() { 0 } else { v[i % v.len()] };
        for op in ops {
            match op {
                Op::Create { threshold, manual } => {
                    let config = circuit_config_new();
                    unsafe {
                        prop_assert_eq!(circuit_config_set_failure_threshold(config, threshold), CIRCUIT_OK);
                        prop_assert_eq!(circuit_config_set_reset_timeout_ns(config, 1_000_000_000), CIRCUIT_OK);
                        if manual {
                            prop_assert_eq!(circuit_config_set_manual_clock(config, clock), CIRCUIT_OK);
                        }
                    }
                    let mut handle = 0;
                    let status = unsafe { circuit_create(config, &mut handle) };
                    unsafe { circuit_config_free(config) };
                    if threshold == 0 {
                        prop_assert_eq!(status, CIRCUIT_ERR_INVALID_CONFIG);
                        prop_assert_eq!(handle, 0);
                    } else {
                        prop_assert_eq!(status, CIRCUIT_OK);
                        prop_assert!(handle != 0 && !handles.contains(&handle) && !destroyed.contains(&handle));
                        handles.push(handle);
                    }
                }
                Op::Destroy(i) => {
                    let h = pick(&handles, i);
                    let status = circuit_destroy(h);
                    if h == 0 {
                        prop_assert_eq!(status, CIRCUIT_ERR_INVALID_HANDLE);
                    } else {
                        prop_assert_eq!(status, CIRCUIT_OK);
                        handles.retain(|x| *x != h);
                        destroyed.push(h);
                        prop_assert_eq!(circuit_destroy(h), CIRCUIT_ERR_INVALID_HANDLE);
                    }
                }
                Op::Allow(i) => {
                    let h = if i % 4 == 3 { pick(&destroyed, i) } else { pick(&handles, i) };
                    let mut permit = circuit_permit::default();
                    let mut retry = 0u64;
                    let status = unsafe { circuit_allow(h, &mut permit, &mut retry) };
                    match status {
                        CIRCUIT_OK => { prop_assert_eq!(permit.breaker, h); permits.push(permit); }
                        CIRCUIT_REJECTED_OPEN => prop_assert!(retry != CIRCUIT_NO_TIME),
                        CIRCUIT_REJECTED_HALF_OPEN_FULL | CIRCUIT_REJECTED_FORCED_OPEN => prop_assert_eq!(retry, CIRCUIT_NO_TIME),
                        CIRCUIT_ERR_INVALID_HANDLE => prop_assert!(!handles.contains(&h)),
                        other => prop_assert!(false, "allow returned {:?}", other),
                    }
                }
                Op::Record { permit, handle, outcome } => {
                    if permits.is_empty() { continue; }
                    let index = permit % permits.len();
                    let h = if handle % 3 == 0 { pick(&handles, handle) } else { permits[index].breaker };
                    let before = permits[index];
                    let p = &mut permits[index];
                    let status = unsafe {
                        match outcome { 0 => circuit_record_success(h, p), 1 => circuit_record_failure(h, p), _ => circuit_record_ignored(h, p) }
                    };
                    match status {
                        CIRCUIT_OK | CIRCUIT_STALE => prop_assert!(p.flags & CIRCUIT_PERMIT_SPENT != 0 && before.flags & CIRCUIT_PERMIT_SPENT == 0),
                        CIRCUIT_ERR_ALREADY_RECORDED | CIRCUIT_ERR_FOREIGN_PERMIT | CIRCUIT_ERR_INVALID_HANDLE => prop_assert_eq!(*p, before),
                        other => prop_assert!(false, "record returned {:?}", other),
                    }
                    if before.flags & CIRCUIT_PERMIT_SPENT != 0 {
                        prop_assert_eq!(status, CIRCUIT_ERR_ALREADY_RECORDED);
                    }
                }
                Op::State(i) => {
                    let h = pick(&handles, i);
                    let mut state = circuit_breaker_state::CIRCUIT_STATE_CLOSED;
                    let status = unsafe { circuit_state(h, &mut state) };
                    prop_assert_eq!(status, if h == 0 { CIRCUIT_ERR_INVALID_HANDLE } else { CIRCUIT_OK });
                    prop_assert_eq!(unsafe { circuit_state(h, std::ptr::null_mut()) }, CIRCUIT_ERR_NULL_POINTER);
                }
                Op::Metrics(i) => {
                    let h = pick(&handles, i);
                    let mut m = std::mem::MaybeUninit::<circuit_metrics_snapshot>::zeroed();
                    let status = unsafe { circuit_metrics(h, m.as_mut_ptr()) };
                    if status == CIRCUIT_OK {
                        let m = unsafe { m.assume_init() };
                        // Forged closed-state permits can feed outcomes (a raw permit carries no
                        // per-call state), so only structural facts are checked here.
                        prop_assert!(m.window_failures <= m.window_calls && (m.state as u32) < 5);
                    } else {
                        prop_assert_eq!(status, CIRCUIT_ERR_INVALID_HANDLE);
                    }
                }
                Op::Manual(i, which) => {
                    let h = pick(&handles, i);
                    let status = match which { 0 => circuit_reset(h), 1 => circuit_force_open(h), _ => circuit_disable(h) };
                    prop_assert_eq!(status, if h == 0 { CIRCUIT_ERR_INVALID_HANDLE } else { CIRCUIT_OK });
                }
                Op::Advance(ns) => {
                    prop_assert_eq!(unsafe { circuit_clock_manual_advance(clock, ns, std::ptr::null_mut()) }, CIRCUIT_OK);
                }
                Op::ForgeHandle(h) => {
                    if handles.contains(&h) { continue; }
                    let mut permit = circuit_permit::default();
                    prop_assert_eq!(unsafe { circuit_allow(h, &mut permit, std::ptr::null_mut()) }, CIRCUIT_ERR_INVALID_HANDLE);
                    prop_assert_eq!(circuit_reset(h), CIRCUIT_ERR_INVALID_HANDLE);
                    prop_assert_eq!(circuit_destroy(h), CIRCUIT_ERR_INVALID_HANDLE);
                    prop_assert_eq!(circuit_clock_destroy(h), CIRCUIT_ERR_INVALID_HANDLE);
                }
                Op::ForgePermit { handle, generation, ticket, flags } => {
                    let h = pick(&handles, handle);
                    let mut forged = circuit_permit { breaker: h, generation, admitted_at_ns: 0, ticket, flags, ..Default::default() };
                    let status = unsafe { circuit_record_ignored(h, &mut forged) };
                    prop_assert!(matches!(status, CIRCUIT_OK | CIRCUIT_STALE | CIRCUIT_ERR_ALREADY_RECORDED | CIRCUIT_ERR_INVALID_HANDLE), "{:?}", status);
                    // A forged CIRCUIT_PERMIT_MEMBER flag never releases a handle it was not made for.
                    let mut state = circuit_breaker_state::CIRCUIT_STATE_CLOSED;
                    prop_assert_eq!(unsafe { circuit_state(h, &mut state) }, if h == 0 { CIRCUIT_ERR_INVALID_HANDLE } else { CIRCUIT_OK });
                }
                Op::FamilyAllow(key) => {
                    let key = [b'a' + key];
                    let mut permit = circuit_permit::default();
                    let mut retry = 0u64;
                    let status = unsafe { circuit_family_allow(family, key.as_ptr().cast(), 1, &mut permit, &mut retry) };
                    match status {
                        CIRCUIT_OK => {
                            prop_assert!(permit.flags & CIRCUIT_PERMIT_MEMBER != 0 && !handles.contains(&permit.breaker));
                            permits.push(permit);
                        }
                        CIRCUIT_REJECTED_OPEN => prop_assert!(retry != CIRCUIT_NO_TIME),
                        other => prop_assert!(false, "family allow returned {:?}", other),
                    }
                }
                Op::FamilyView => {
                    let mut m = std::mem::MaybeUninit::<circuit_family_metrics_snapshot>::zeroed();
                    prop_assert_eq!(unsafe { circuit_family_metrics(family, m.as_mut_ptr()) }, CIRCUIT_OK);
                    let m = unsafe { m.assume_init() };
                    let mut len = 0usize;
                    prop_assert_eq!(unsafe { circuit_family_len(family, &mut len) }, CIRCUIT_OK);
                    prop_assert!(m.members as usize == len && len <= 2);
                }
            }
        }
        for h in handles {
            prop_assert_eq!(circuit_destroy(h), CIRCUIT_OK);
        }
        // Unrecorded family permits are abandoned as the docs say; each releases its handle.
        for mut p in permits.into_iter().filter(|p| p.flags & (CIRCUIT_PERMIT_MEMBER | CIRCUIT_PERMIT_SPENT) == CIRCUIT_PERMIT_MEMBER) {
            let h = p.breaker;
            let status = unsafe { circuit_record_ignored(h, &mut p) };
            prop_assert!(matches!(status, CIRCUIT_OK | CIRCUIT_STALE), "{:?}", status);
            prop_assert_eq!(circuit_destroy(h), CIRCUIT_ERR_INVALID_HANDLE);
        }
        prop_assert_eq!(circuit_family_destroy(family), CIRCUIT_OK);
        prop_assert_eq!(circuit_clock_destroy(clock), CIRCUIT_OK);
    }
}

/// Counts the live heap blocks of one odd size (a count window of `ODD_WINDOW` outcomes is one
/// such block), so the test below can see when a window is freed, whatever other tests allocate.
mod window_blocks {
    use std::alloc::{GlobalAlloc, Layout, System};
    use std::sync::atomic::{AtomicIsize, Ordering};

    pub(super) const ODD_WINDOW: u32 = 999_983;
    pub(super) static LIVE: AtomicIsize = AtomicIsize::new(0);

    struct Counting;

    // SAFETY: forwards every call to the system allocator unchanged.
    unsafe impl GlobalAlloc for Counting {
        unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
            if layout.size() == ODD_WINDOW as usize {
                LIVE.fetch_add(1, Ordering::SeqCst);
            }
            // SAFETY: the caller's layout contract is passed on.
            unsafe { System.alloc(layout) }
        }
        unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
            if layout.size() == ODD_WINDOW as usize {
                LIVE.fetch_sub(1, Ordering::SeqCst);
            }
            // SAFETY: `ptr` came from `alloc` with this layout.
            unsafe { System.dealloc(ptr, layout) }
        }
    }

    #[global_allocator]
    static ALLOCATOR: Counting = Counting;
}

/// A breaker another (idle) thread still holds in its per-thread cache gives back its window at
/// `circuit_destroy`, not when that thread next calls the library.
#[test]
fn destroy_frees_the_window_of_a_breaker_cached_by_another_thread() {
    use window_blocks::{LIVE, ODD_WINDOW};
    let config = circuit_config_new();
    unsafe {
        assert_eq!(circuit_config_set_failure_rate_threshold(config, 0.5), circuit_status::CIRCUIT_OK);
        assert_eq!(circuit_config_set_window_size(config, ODD_WINDOW), circuit_status::CIRCUIT_OK);
    }
    let before = LIVE.load(std::sync::atomic::Ordering::SeqCst);
    let mut handle = 0;
    assert_eq!(unsafe { circuit_create(config, &mut handle) }, circuit_status::CIRCUIT_OK);
    unsafe { circuit_config_free(config) };
    assert_eq!(LIVE.load(std::sync::atomic::Ordering::SeqCst), before + 1, "the window is one block");

    let (used_tx, used_rx) = std::sync::mpsc::channel();
    let (exit_tx, exit_rx) = std::sync::mpsc::channel::<()>();
    let idle = std::thread::spawn(move || {
        let mut permit = circuit_permit::default();
        assert_eq!(unsafe { circuit_allow(handle, &mut permit, std::ptr::null_mut()) }, circuit_status::CIRCUIT_OK);
        assert_eq!(unsafe { circuit_record_success(handle, &mut permit) }, circuit_status::CIRCUIT_OK);
        used_tx.send(()).unwrap();
        let _ = exit_rx.recv();
    });
    used_rx.recv().unwrap();
    assert_eq!(circuit_destroy(handle), circuit_status::CIRCUIT_OK);
    let after = LIVE.load(std::sync::atomic::Ordering::SeqCst);
    exit_tx.send(()).unwrap();
    idle.join().unwrap();
    assert_eq!(after, before, "the window outlived circuit_destroy in the idle thread's cache");
}
