//! One process: options, modes, records, errors.
#![cfg(target_os = "linux")]

use std::os::unix::fs::PermissionsExt;
use std::sync::atomic::Ordering;

use circuit_shm::layout::{NAME_MAX, OPTIONS_MAX};
use circuit_shm::{ClockKind, ErrorKind, Region, RegionOptions};

fn mode_of(path: &std::path::Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn the_file_mode_is_0600_by_default_and_a_given_mode_is_honoured() {
    let dir = tempfile::tempdir().unwrap();
    let default = dir.path().join("default");
    Region::open(&default, RegionOptions::new(4, 4)).unwrap();
    assert_eq!(mode_of(&default), 0o600);
    assert_eq!(RegionOptions::default().mode, 0o600);
    for mode in [0o640, 0o660, 0o666, 0o700] {
        let path = dir.path().join(format!("m{mode:o}"));
        Region::open(&path, RegionOptions { mode, ..RegionOptions::new(4, 4) }).unwrap();
        assert_eq!(mode_of(&path), mode, "exactly, whatever the umask");
        // Opening an existing region leaves its mode alone.
        Region::open(&path, RegionOptions::new(4, 4)).unwrap();
        assert_eq!(mode_of(&path), mode);
    }
    for mode in [0o400, 0o1600, 0o200] {
        let err = Region::open(dir.path().join("bad"), RegionOptions { mode, ..RegionOptions::new(4, 4) }).unwrap_err();
        assert!(matches!(err.kind(), ErrorKind::InvalidOptions { option: "mode", .. }), "{err}");
    }
    assert!(!dir.path().join("bad").exists());
}

#[test]
fn create_false_does_not_create_and_bad_options_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("absent");
    let err = Region::open(&path, RegionOptions { create: false, ..RegionOptions::new(4, 4) }).unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::NotFound), "{err}");
    assert!(err.to_string().contains(&path.display().to_string()), "{err}");
    assert!(!path.exists());
    for (capacity, words, option) in
        [(0, 4, "capacity"), (65_537, 4, "capacity"), (4, 0, "record_words"), (4, 4097, "record_words")]
    {
        let err = Region::open(&path, RegionOptions::new(capacity, words)).unwrap_err();
        assert!(matches!(err.kind(), ErrorKind::InvalidOptions { option: o, .. } if *o == option), "{err}");
    }
}

#[test]
fn reopening_with_other_layout_or_clock_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("r");
    let region = Region::open(&path, RegionOptions::new(4, 4)).unwrap();
    let err = Region::open(&path, RegionOptions::new(5, 4)).unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::LayoutMismatch { field: "capacity", existing: 4, requested: 5 }), "{err}");
    assert!(err.to_string().contains("capacity = 4"), "{err}");
    let err = Region::open(&path, RegionOptions::new(4, 8)).unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::LayoutMismatch { field: "record_words", .. }), "{err}");
    let err = Region::open(&path, RegionOptions { clock: ClockKind::Manual, ..RegionOptions::new(4, 4) }).unwrap_err();
    assert!(
        matches!(err.kind(), ErrorKind::ClockMismatch { existing: ClockKind::Host, requested: ClockKind::Manual }),
        "{err}"
    );
    assert!(err.to_string().contains("uses the host clock"), "{err}");
    let manual = dir.path().join("m");
    Region::open(&manual, RegionOptions { clock: ClockKind::Manual, ..RegionOptions::new(4, 4) }).unwrap();
    let err = Region::open(&manual, RegionOptions::new(4, 4)).unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::ClockMismatch { existing: ClockKind::Manual, .. }), "{err}");
    drop(region);
}

#[test]
fn records_are_found_by_name_and_shared_between_handles() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("r");
    let a = Region::open(&path, RegionOptions::new(4, 3)).unwrap();
    let b = Region::open(&path, RegionOptions::new(4, 3)).unwrap();
    assert!(a.created() && !b.created());
    let ra = a.record("payments", "failure_threshold=5;reset_timeout=30000").unwrap();
    assert_eq!(ra.words().len(), 3);
    ra.words()[2].store(7, Ordering::Release);
    // Same pairs in another order: the same configuration.
    let rb = b.record("payments", "reset_timeout=30000;failure_threshold=5").unwrap();
    assert_eq!(rb.index(), ra.index());
    assert_eq!(rb.words()[2].load(Ordering::Acquire), 7);
    assert_eq!(rb.options_text().unwrap(), "failure_threshold=5;reset_timeout=30000");
    let other = b.record("search", "").unwrap();
    assert_ne!(other.index(), ra.index());
    assert_eq!(other.words()[2].load(Ordering::Acquire), 0);
    let names: Vec<_> = a.records().unwrap().iter().map(|r| r.name().to_string()).collect();
    assert_eq!(names, ["payments", "search"]);
    assert!(a.find("nope").unwrap().is_none());
    assert_eq!(a.find("search").unwrap().unwrap().index(), other.index());
    // A record keeps its region alive.
    drop((a, b));
    assert_eq!(ra.words()[2].load(Ordering::Acquire), 7);
    assert_eq!(ra.region().capacity(), 4);
    // Records are Send + Sync: threads share one.
    std::thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| {
                for _ in 0..1000 {
                    let g = ra.mutex().lock().unwrap();
                    let v = g.words()[0].load(Ordering::Relaxed);
                    g.words()[0].store(v + 1, Ordering::Relaxed);
                }
            });
        }
    });
    assert_eq!(ra.words()[0].load(Ordering::Acquire), 2000);
}

#[test]
fn options_mismatch_names_the_breaker_and_every_differing_option() {
    let dir = tempfile::tempdir().unwrap();
    let region = Region::open(dir.path().join("r"), RegionOptions::new(4, 4)).unwrap();
    region.record("payments", "failure_threshold=5;reset_timeout=30000;jitter=0").unwrap();
    let err = region.record("payments", "failure_threshold=3;reset_timeout=30000;window_size=10").unwrap_err();
    let ErrorKind::OptionsMismatch { breaker, differences } = err.kind() else { panic!("{err}") };
    assert_eq!(breaker, "payments");
    let keys: Vec<_> = differences.iter().map(|d| d.key.as_str()).collect();
    assert_eq!(keys, ["failure_threshold", "jitter", "window_size"]);
    let text = err.to_string();
    assert!(text.contains("breaker \"payments\""), "{text}");
    assert!(text.contains("failure_threshold (existing \"5\", requested \"3\")"), "{text}");
    assert!(text.contains("jitter (existing \"0\", requested unset)"), "{text}");
    assert!(text.contains("window_size (existing unset, requested \"10\")"), "{text}");
    assert!(!text.contains("reset_timeout"), "{text}");
}

#[test]
fn a_full_region_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let region = Region::open(dir.path().join("r"), RegionOptions::new(3, 1)).unwrap();
    for name in ["a", "b", "c"] {
        region.record(name, "").unwrap();
    }
    let err = region.record("d", "").unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::Full { capacity: 3 }), "{err}");
    assert!(err.to_string().contains("region full: all 3 records are in use"), "{err}");
    // Existing names still resolve.
    assert_eq!(region.record("b", "").unwrap().index(), 1);
}

#[test]
fn names_and_options_texts_are_checked() {
    let dir = tempfile::tempdir().unwrap();
    let region = Region::open(dir.path().join("r"), RegionOptions::new(4, 1)).unwrap();
    let longest = "n".repeat(NAME_MAX);
    assert_eq!(region.record(&longest, "").unwrap().name(), longest);
    for bad in [String::new(), "n".repeat(NAME_MAX + 1), "a\0b".to_string()] {
        let err = region.record(&bad, "").unwrap_err();
        assert!(matches!(err.kind(), ErrorKind::InvalidName { .. }), "{err}");
    }
    let err = region.record(&"é".repeat(129), "").unwrap_err();
    assert!(err.to_string().contains("258 bytes, the limit is 256"), "{err}");
    let long_options = format!("k={}", "v".repeat(OPTIONS_MAX - 2));
    assert_eq!(region.record("long", &long_options).unwrap().options_text().unwrap(), long_options);
    let too_long = format!("k={}", "v".repeat(OPTIONS_MAX - 1));
    let err = region.record("toolong", &too_long).unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::InvalidOptionsText { .. }), "{err}");
    for bad in ["nokey", "a=1;a=2", "a=1;", "=x"] {
        let err = region.record("bad", bad).unwrap_err();
        assert!(matches!(err.kind(), ErrorKind::InvalidOptionsText { breaker, .. } if breaker == "bad"), "{err}");
    }
    assert!(region.find("bad").unwrap().is_none(), "a refused request claims nothing");
}

#[test]
fn relocking_from_the_owning_thread_is_an_error_not_a_deadlock() {
    let dir = tempfile::tempdir().unwrap();
    let region = Region::open(dir.path().join("r"), RegionOptions::new(2, 1)).unwrap();
    let record = region.record("x", "").unwrap();
    let lock = record.mutex();
    let guard = lock.lock().unwrap();
    let err = lock.lock().unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::Lock { record: Some(0), errno } if *errno == libc::EDEADLK), "{err}");
    assert!(err.to_string().contains("the lock of record 0"), "{err}");
    drop(guard);
    assert!(lock.try_lock().unwrap().is_some());
}

#[test]
fn symlinks_directories_and_fifos_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let real = dir.path().join("real");
    Region::open(&real, RegionOptions::new(2, 1)).unwrap();
    let link = dir.path().join("link");
    std::os::unix::fs::symlink(&real, &link).unwrap();
    let err = Region::open(&link, RegionOptions::new(2, 1)).unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::Symlink), "{err}");
    let sub = dir.path().join("sub");
    std::fs::create_dir(&sub).unwrap();
    let err = Region::open(&sub, RegionOptions::new(2, 1)).unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::NotRegularFile), "{err}");
    let fifo = dir.path().join("fifo");
    let c = std::ffi::CString::new(fifo.as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    let err = Region::open(&fifo, RegionOptions::new(2, 1)).unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::NotRegularFile), "{err}");
}
