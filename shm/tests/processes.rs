//! Several processes on one region: creation races, crashes while holding a lock or mid-claim,
//! counting under the lock, the shared clocks. Each test re-executes this binary as its children
//! (see `common`).
#![cfg(target_os = "linux")]

mod common;

use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use circuit_shm::{ClaimStage, ClockKind, ErrorKind, Region, RegionOptions, host_monotonic_nanos};
use common::*;

fn opts() -> RegionOptions {
    RegionOptions::new(8, 4)
}

/// A child waits for the parent's start signal (a file), so children race at the same instant.
fn wait_for_go() {
    let go = PathBuf::from(std::env::var("CIRCUIT_SHM_GO").unwrap());
    let deadline = Instant::now() + HANG_GUARD;
    while !go.exists() {
        assert!(Instant::now() < deadline, "never told to go");
        std::hint::spin_loop();
    }
}

#[test]
fn racing_creators_end_with_one_valid_region() {
    if let Some(role) = role() {
        assert_eq!(role, "creator");
        wait_for_go();
        let region = Region::open(child_path(), opts()).unwrap();
        let record = region.record("shared", "failure_threshold=5").unwrap();
        record.words()[0].fetch_add(1, Ordering::AcqRel);
        println!("CREATED {}", region.created());
        return;
    }
    const CHILDREN: usize = 8;
    for round in 0..3 {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("race.circuit");
        let go = dir.path().join(format!("go-{round}"));
        let children: Vec<_> = (0..CHILDREN)
            .map(|_| {
                spawn(
                    "racing_creators_end_with_one_valid_region",
                    "creator",
                    &path,
                    &[("CIRCUIT_SHM_GO", go.display().to_string())],
                )
            })
            .collect();
        std::fs::write(&go, b"").unwrap();
        let mut creators = 0;
        for mut c in children {
            let lines = Lines::new(c.stdout.take().unwrap());
            creators += usize::from(lines.expect("CREATED") == "true");
            wait_ok(c);
        }
        assert_eq!(creators, 1, "exactly one process created the region");
        let region = Region::open(&path, RegionOptions { create: false, ..opts() }).unwrap();
        assert!(!region.created());
        let records = region.records().unwrap();
        assert_eq!(records.len(), 1, "one breaker, whoever created it");
        assert_eq!(records[0].name(), "shared");
        assert_eq!(records[0].words()[0].load(Ordering::Acquire), CHILDREN as u64);
        let mut names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        names.sort();
        assert_eq!(
            names,
            [std::ffi::OsString::from(format!("go-{round}")), "race.circuit".into()],
            "no temporary file left"
        );
    }
}

#[test]
fn a_lock_owner_killed_while_holding_it_is_reported_and_the_lock_works() {
    if let Some(role) = role() {
        assert_eq!(role, "holder");
        let region = Region::open(child_path(), opts()).unwrap();
        let record = region.record("victim", "").unwrap();
        let guard = record.mutex().lock().unwrap();
        assert!(!guard.owner_died());
        guard.words()[0].store(41, Ordering::Release); // a half-done update
        println!("LOCKED");
        park();
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("r");
    let region = Region::open(&path, opts()).unwrap();
    let mut child = spawn("a_lock_owner_killed_while_holding_it_is_reported_and_the_lock_works", "holder", &path, &[]);
    let lines = Lines::new(child.stdout.take().unwrap());
    lines.expect("LOCKED");
    let record = region.find("victim").unwrap().expect("the child created it");
    assert!(record.mutex().try_lock().unwrap().is_none(), "the child holds it");
    assert!(record.mutex().lock_timeout(Duration::from_millis(20)).unwrap().is_none());
    kill(child);
    {
        let guard = record.mutex().lock().unwrap();
        assert!(guard.owner_died(), "the dead owner is reported");
        assert_eq!(guard.words()[0].load(Ordering::Acquire), 41, "the half-done update is visible to repair");
        guard.words()[0].store(0, Ordering::Release);
    }
    let guard = record.mutex().lock().unwrap();
    assert!(!guard.owner_died(), "reported once; the lock is consistent again");
    drop(guard);
    let guard = record.mutex().try_lock().unwrap().expect("free");
    assert!(!guard.owner_died());
}

#[test]
fn a_lock_left_unrepaired_is_an_error_not_a_hang() {
    if let Some(role) = role() {
        let region = Region::open(child_path(), opts()).unwrap();
        let record = region.record("victim", "").unwrap();
        if role == "prober" {
            // Another process meets the same error, in every form, and never blocks.
            let lock = record.mutex();
            assert!(matches!(lock.try_lock().unwrap_err().kind(), ErrorKind::LockNotRecoverable { .. }));
            assert!(matches!(lock.lock().unwrap_err().kind(), ErrorKind::LockNotRecoverable { .. }));
            let timed = lock.lock_timeout(Duration::from_secs(30)).unwrap_err();
            assert!(matches!(timed.kind(), ErrorKind::LockNotRecoverable { .. }), "{timed}");
            return;
        }
        assert_eq!(role, "holder");
        let _guard = record.mutex().lock().unwrap();
        println!("LOCKED");
        park();
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("r");
    let region = Region::open(&path, opts()).unwrap();
    let mut child = spawn("a_lock_left_unrepaired_is_an_error_not_a_hang", "holder", &path, &[]);
    Lines::new(child.stdout.take().unwrap()).expect("LOCKED");
    kill(child);
    let record = region.find("victim").unwrap().unwrap();
    assert!(record.mutex().poison_for_tests().unwrap(), "the owner had died");
    for _ in 0..2 {
        let err = record.mutex().lock().unwrap_err();
        assert!(matches!(err.kind(), ErrorKind::LockNotRecoverable { record: Some(0) }), "{err}");
        assert!(err.to_string().contains("not recoverable"), "{err}");
        assert!(matches!(record.mutex().try_lock().unwrap_err().kind(), ErrorKind::LockNotRecoverable { .. }));
        let timed = record.mutex().lock_timeout(Duration::from_secs(30)).unwrap_err();
        assert!(matches!(timed.kind(), ErrorKind::LockNotRecoverable { .. }), "{timed}");
    }
    wait_ok(spawn("a_lock_left_unrepaired_is_an_error_not_a_hang", "prober", &path, &[]));
    // The other records are unaffected.
    let other = region.record("other", "").unwrap();
    assert!(!other.mutex().lock().unwrap().owner_died());
}

#[test]
fn a_claimer_killed_mid_claim_does_not_make_the_record_unusable() {
    if let Some(role) = role() {
        let stage = match role.as_str() {
            "marked" => ClaimStage::Marked,
            "mutex" => ClaimStage::MutexReady,
            "written" => ClaimStage::Written,
            other => panic!("unknown role {other}"),
        };
        let region = Region::open(child_path(), RegionOptions::new(1, 4)).unwrap();
        let _ = region.record_with_claim_hook("half", "a=1", |s| {
            if s == stage {
                println!("STAGE");
                park();
            }
        });
        unreachable!("parked");
    }
    for role in ["marked", "mutex", "written"] {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r");
        // Capacity 1: the only record is the one the child was claiming.
        let region = Region::open(&path, RegionOptions::new(1, 4)).unwrap();
        let mut child = spawn("a_claimer_killed_mid_claim_does_not_make_the_record_unusable", role, &path, &[]);
        Lines::new(child.stdout.take().unwrap()).expect("STAGE");
        kill(child);
        assert!(region.find("half").unwrap().is_none(), "{role}: a half-claimed record is never visible");
        assert!(region.records().unwrap().is_empty());
        // A fresh opener sees a valid region too.
        Region::open(&path, RegionOptions { create: false, ..RegionOptions::new(1, 4) }).unwrap();
        let record = region.record("whole", "b=2").unwrap();
        assert_eq!(record.index(), 0, "{role}: the abandoned claim was taken over");
        assert_eq!(record.options_text().unwrap(), "b=2");
        assert!(record.words().iter().all(|w| w.load(Ordering::Acquire) == 0));
        let guard = record.mutex().lock().unwrap();
        assert!(!guard.owner_died(), "{role}: the record's lock was initialised afresh");
        drop(guard);
        let again = region.record("half", "a=1").unwrap_err();
        assert!(matches!(again.kind(), ErrorKind::Full { capacity: 1 }), "{again}");
    }
}

#[test]
fn four_processes_counting_under_the_lock_lose_nothing() {
    const PER_CHILD: u64 = 10_000;
    if let Some(role) = role() {
        assert_eq!(role, "counter");
        let region = Region::open(child_path(), opts()).unwrap();
        let record = region.record("count", "").unwrap();
        wait_for_go();
        let lock = record.mutex();
        for _ in 0..PER_CHILD {
            let guard = lock.lock().unwrap();
            assert!(!guard.owner_died());
            // A load and a store: only mutual exclusion keeps these exact.
            let w = guard.words();
            let v = w[0].load(Ordering::Relaxed);
            w[0].store(v + 1, Ordering::Relaxed);
            w[1].fetch_add(1, Ordering::Relaxed);
        }
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("count");
    let go = dir.path().join("go");
    let region = Region::open(&path, opts()).unwrap();
    let children: Vec<_> = (0..4)
        .map(|_| {
            spawn(
                "four_processes_counting_under_the_lock_lose_nothing",
                "counter",
                &path,
                &[("CIRCUIT_SHM_GO", go.display().to_string())],
            )
        })
        .collect();
    std::fs::write(&go, b"").unwrap();
    for c in children {
        wait_ok(c);
    }
    let record = region.find("count").unwrap().unwrap();
    let guard = record.mutex().lock().unwrap();
    assert_eq!(guard.words()[0].load(Ordering::Acquire), 4 * PER_CHILD);
    assert_eq!(guard.words()[1].load(Ordering::Acquire), 4 * PER_CHILD);
}

#[test]
fn the_manual_clock_is_shared_between_processes() {
    let manual = RegionOptions { clock: ClockKind::Manual, ..opts() };
    if let Some(role) = role() {
        assert_eq!(role, "ticker");
        let region = Region::open(child_path(), manual).unwrap();
        let clock = region.clock();
        assert_eq!(clock.now(), 1_000, "the parent's advance is visible");
        println!("ADVANCED {}", clock.advance(Duration::from_millis(1500)).unwrap());
        let deadline = Instant::now() + HANG_GUARD;
        while clock.now() < 1_500_001_000 + 2_000_000_000 {
            assert!(Instant::now() < deadline);
            std::thread::yield_now();
        }
        println!("SAW {}", clock.now());
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("clock");
    let region = Region::open(&path, manual).unwrap();
    assert_eq!(region.clock().now(), 0);
    region.clock().advance(Duration::from_nanos(1_000)).unwrap();
    let mut child = spawn("the_manual_clock_is_shared_between_processes", "ticker", &path, &[]);
    let lines = Lines::new(child.stdout.take().unwrap());
    assert_eq!(lines.expect("ADVANCED"), "1500001000");
    assert_eq!(region.clock().now(), 1_500_001_000, "the child's advance is visible");
    assert_eq!(region.clock().advance(Duration::from_secs(2)).unwrap(), 3_500_001_000);
    assert_eq!(lines.expect("SAW"), "3500001000");
    wait_ok(child);
}

#[test]
fn the_host_clock_is_one_clock_for_every_process() {
    if let Some(role) = role() {
        assert_eq!(role, "reader");
        let region = Region::open(child_path(), opts()).unwrap();
        println!("NOW {}", region.clock().now());
        println!("RAW {}", host_monotonic_nanos());
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("clock");
    let region = Region::open(&path, opts()).unwrap();
    let before = region.clock().now();
    let mut child = spawn("the_host_clock_is_one_clock_for_every_process", "reader", &path, &[]);
    let lines = Lines::new(child.stdout.take().unwrap());
    let seen: u64 = lines.expect("NOW").parse().unwrap();
    let raw: u64 = lines.expect("RAW").parse().unwrap();
    wait_ok(child);
    let after = host_monotonic_nanos();
    assert!(before <= seen && seen <= raw && raw <= after, "{before} {seen} {raw} {after}");
    let err = region.clock().advance(Duration::from_secs(1)).unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::ClockNotManual), "{err}");
}
