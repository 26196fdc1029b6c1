//! Breakers shared by real processes through a region (docs/shared.md): each test re-executes
//! this binary as its children (see `common`).
#![cfg(target_os = "linux")]

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use circuit_shm::{ClockKind, ErrorKind, HostRegion, RegionOptions};
use common::*;
use engine::{CircuitBreaker, Config, State, Transition};

fn manual(path: &Path) -> HostRegion {
    HostRegion::open_with(path, RegionOptions { clock: ClockKind::Manual, ..HostRegion::options(8) }).unwrap()
}

fn config(threshold: u32, probes: u32) -> Config {
    Config::builder()
        .name("payments")
        .failure_threshold(threshold)
        .reset_timeout(Duration::from_secs(10))
        .half_open_max_calls(probes)
        .build()
        .unwrap()
}

fn wait_for(file: &str) {
    let go = PathBuf::from(std::env::var(file).unwrap());
    let deadline = Instant::now() + HANG_GUARD;
    while !go.exists() {
        assert!(Instant::now() < deadline, "never told to go");
        std::thread::yield_now();
    }
}

#[test]
fn failures_in_four_processes_open_the_one_breaker_after_exactly_five() {
    const TEST: &str = "failures_in_four_processes_open_the_one_breaker_after_exactly_five";
    if let Some(role) = role() {
        assert_eq!(role, "failer");
        let breaker = manual(&child_path()).breaker(config(5, 1)).unwrap();
        wait_for("GO");
        let mut counted = 0;
        while let Ok(permit) = breaker.allow() {
            counted += u32::from(breaker.record_failure(permit).unwrap().counted());
        }
        assert_eq!(breaker.state(), State::Open);
        println!("COUNTED {counted}");
        return;
    }
    for round in 0..5 {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r");
        let go = dir.path().join(format!("go-{round}"));
        let region = manual(&path);
        let breaker = region.breaker(config(5, 1)).unwrap();
        let children: Vec<_> =
            (0..4).map(|_| spawn(TEST, "failer", &path, &[("GO", go.display().to_string())])).collect();
        std::fs::write(&go, b"").unwrap();
        let mut counted = 0;
        for mut child in children {
            let lines = Lines::new(child.stdout.take().unwrap());
            counted += lines.expect("COUNTED").parse::<u32>().unwrap();
            wait_ok(child);
            drop(lines);
        }
        assert_eq!(counted, 5, "exactly failure_threshold failures counted across every process");
        let m = breaker.metrics();
        assert_eq!((m.state, m.generation, m.failures), (State::Open, 1, 5));
        assert!(breaker.allow().is_err(), "open here too");
    }
}

#[test]
fn eight_processes_racing_in_half_open_admit_exactly_the_cap() {
    const TEST: &str = "eight_processes_racing_in_half_open_admit_exactly_the_cap";
    if let Some(role) = role() {
        assert_eq!(role, "prober");
        let breaker = manual(&child_path()).breaker(config(1, 2)).unwrap();
        println!("READY");
        wait_for("GO");
        let admitted = (0..5).filter_map(|_| breaker.allow_raw().ok()).filter(|p| p.is_probe()).count();
        println!("ADMITTED {admitted}");
        // Stay alive while the others try: a process that is gone gives its probes back.
        wait_for("DONE");
        return;
    }
    for round in 0..3 {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r");
        let go = dir.path().join(format!("go-{round}"));
        let region = manual(&path);
        let breaker = region.breaker(config(1, 2)).unwrap();
        assert!(breaker.record_failure(breaker.allow().unwrap()).unwrap().counted());
        let done = dir.path().join(format!("done-{round}"));
        let env = [("GO", go.display().to_string()), ("DONE", done.display().to_string())];
        let mut children: Vec<_> = (0..8).map(|_| spawn(TEST, "prober", &path, &env)).collect();
        let lines: Vec<_> = children.iter_mut().map(|c| Lines::new(c.stdout.take().unwrap())).collect();
        for l in &lines {
            l.expect("READY");
        }
        region.advance(Duration::from_secs(10)).unwrap();
        std::fs::write(&go, b"").unwrap();
        let admitted: usize = lines.iter().map(|l| l.expect("ADMITTED").parse::<usize>().unwrap()).sum();
        std::fs::write(&done, b"").unwrap();
        for child in children {
            wait_ok(child);
        }
        assert_eq!(admitted, 2, "half_open_max_calls across eight processes");
        assert_eq!(breaker.metrics().rejected_half_open_full, 38);
    }
}

#[test]
fn a_listener_hears_another_processs_transition_as_remote() {
    const TEST: &str = "a_listener_hears_another_processs_transition_as_remote";
    if role().is_some() {
        let breaker = manual(&child_path()).breaker(config(2, 1)).unwrap();
        for _ in 0..2 {
            assert!(breaker.record_failure(breaker.allow().unwrap()).unwrap().counted());
        }
        println!("TRIPPED");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("r");
    let region = manual(&path);
    let breaker = region.breaker(config(2, 1)).unwrap();
    let seen: Arc<Mutex<Vec<Transition>>> = Arc::default();
    let sink = Arc::clone(&seen);
    breaker.on_transition(move |t| sink.lock().unwrap().push(*t));
    let mut child = spawn(TEST, "tripper", &path, &[]);
    let lines = Lines::new(child.stdout.take().unwrap());
    lines.expect("TRIPPED");
    wait_ok(child);
    drop(lines);
    assert!(seen.lock().unwrap().is_empty(), "delivered lazily, at this process's next operation");
    assert!(breaker.allow().is_err());
    region.advance(Duration::from_secs(10)).unwrap();
    assert!(breaker.allow().unwrap().is_probe());
    let seen = seen.lock().unwrap().clone();
    let kinds: Vec<_> = seen.iter().map(|t| (t.from, t.to, t.generation, t.remote)).collect();
    assert_eq!(
        kinds,
        [(State::Closed, State::Open, 1, true), (State::Open, State::HalfOpen, 2, false)],
        "the child's trip is remote, this process's transition local"
    );
}

#[test]
fn a_process_killed_holding_the_only_probe_does_not_wedge_the_breaker() {
    const TEST: &str = "a_process_killed_holding_the_only_probe_does_not_wedge_the_breaker";
    if role().is_some() {
        let breaker = manual(&child_path()).breaker(config(1, 1)).unwrap();
        let probe = breaker.allow_raw().unwrap();
        assert!(probe.is_probe());
        println!("PROBING");
        park();
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("r");
    let region = manual(&path);
    let breaker = region.breaker(config(1, 1)).unwrap();
    assert!(breaker.record_failure(breaker.allow().unwrap()).unwrap().counted());
    region.advance(Duration::from_secs(10)).unwrap();
    let mut child = spawn(TEST, "prober", &path, &[]);
    Lines::new(child.stdout.take().unwrap()).expect("PROBING");
    assert!(breaker.allow().is_err(), "the child holds the only probe slot");
    kill(child);
    let probe = breaker.allow().expect("the dead process's probe slot came back");
    assert!(breaker.record_success(probe).unwrap().counted());
    assert_eq!(breaker.state(), State::Closed);
}

#[test]
fn a_process_killed_holding_the_breakers_lock_mid_update_leaves_a_working_breaker() {
    const TEST: &str = "a_process_killed_holding_the_breakers_lock_mid_update_leaves_a_working_breaker";
    if role().is_some() {
        let region = manual(&child_path());
        let breaker = region.breaker(config(3, 1)).unwrap();
        assert!(breaker.record_failure(breaker.allow().unwrap()).unwrap().counted());
        let record = region.region().find("payments").unwrap().unwrap();
        let guard = record.mutex().lock().unwrap();
        // A half-done update: the failure run sealed (as a transition out of closed does first)
        // and the inactive copy of the state overwritten with garbage.
        let words = guard.words();
        words[1].fetch_or(0xFFFF_FFFF, std::sync::atomic::Ordering::AcqRel);
        for w in &words[700..900] {
            w.store(0xABAD_1DEA, std::sync::atomic::Ordering::Relaxed);
        }
        println!("HOLDING");
        park();
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("r");
    let region = manual(&path);
    let breaker = region.breaker(config(3, 1)).unwrap();
    let mut child = spawn(TEST, "holder", &path, &[]);
    Lines::new(child.stdout.take().unwrap()).expect("HOLDING");
    kill(child);
    let m = breaker.metrics();
    assert_eq!((m.state, m.generation, m.failures), (State::Closed, 0, 1), "repaired: the committed state");
    let permit = breaker.allow().unwrap();
    assert!(breaker.record_success(permit).unwrap().counted(), "the sealed run was reopened");
    for _ in 0..3 {
        assert!(breaker.record_failure(breaker.allow().unwrap()).unwrap().counted());
    }
    assert_eq!(breaker.state(), State::Open);
    let again = region.breaker(config(3, 1)).unwrap();
    assert_eq!(again.state(), State::Open, "a newcomer joins the repaired state");
}

#[test]
fn host_clock_regions_share_the_monotonic_clock() {
    const TEST: &str = "host_clock_regions_share_the_monotonic_clock";
    let short = || {
        Config::builder().name("fast").failure_threshold(1).reset_timeout(Duration::from_millis(50)).build().unwrap()
    };
    if role().is_some() {
        let breaker = HostRegion::open(child_path(), 8).unwrap().breaker(short()).unwrap();
        assert!(breaker.record_failure(breaker.allow().unwrap()).unwrap().counted());
        println!("OPEN");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("r");
    let region = HostRegion::open(&path, 8).unwrap();
    let breaker = region.breaker(short()).unwrap();
    let mut child = spawn(TEST, "opener", &path, &[]);
    let lines = Lines::new(child.stdout.take().unwrap());
    lines.expect("OPEN");
    wait_ok(child);
    drop(lines);
    let rejected = breaker.allow().unwrap_err();
    let left = rejected.retry_after().unwrap();
    // The open-state rejection reads the coarse clock (a few milliseconds behind at most).
    assert!(left <= Duration::from_millis(60), "{left:?}");
    std::thread::sleep(left + Duration::from_millis(5));
    assert!(breaker.allow().unwrap().is_probe(), "the due instant is the same in both processes");
}

#[test]
fn a_different_configuration_is_refused_naming_each_option() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("r");
    let region = HostRegion::open(&path, 4).unwrap();
    let _first = region.breaker(config(5, 1)).unwrap();
    let e = region.breaker(config(3, 2)).unwrap_err();
    assert!(matches!(e.kind(), ErrorKind::OptionsMismatch { .. }), "{e}");
    let text = e.to_string();
    assert!(text.contains("failure_threshold") && text.contains("half_open_max_calls"), "{text}");
    assert!(!text.contains("reset_timeout"), "only the differing options: {text}");
    let unnamed = region.breaker(Config::builder().build().unwrap()).unwrap_err();
    assert!(matches!(unnamed.kind(), ErrorKind::Unnamed), "{unnamed}");
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
}

#[test]
fn a_full_region_and_a_state_too_large_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let region = HostRegion::open(dir.path().join("r"), 1).unwrap();
    let _one = region.breaker(config(5, 1)).unwrap();
    let named = |n: &str| Config::builder().name(n).build().unwrap();
    let e = region.breaker(named("second")).unwrap_err();
    assert!(matches!(e.kind(), ErrorKind::Full { .. }), "{e}");
    let big = HostRegion::open(dir.path().join("big"), 1).unwrap();
    let huge = Config::builder().name("huge").failure_rate_threshold(0.5).window_size(500_000).build().unwrap();
    let e = big.breaker(huge).unwrap_err();
    assert!(matches!(e.kind(), ErrorKind::Breaker { .. }) && e.to_string().contains("window_size"), "{e}");
}

#[test]
fn corrupted_breaker_records_never_crash_an_operation() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("r");
    let region = manual(&path);
    let breaker = region.breaker(config(3, 2)).unwrap();
    let record = region.region().find("payments").unwrap().unwrap();
    let words = record.words();
    let mut seed = 0x9E37_79B9_7F4A_7C15u64;
    for round in 0..300 {
        for _ in 0..8 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let index = (seed % words.len() as u64) as usize;
            words[index].store(seed.rotate_left(round), std::sync::atomic::Ordering::Relaxed);
        }
        let fresh = region.breaker(config(3, 2));
        for b in [Some(&breaker), fresh.as_ref().ok()].into_iter().flatten() {
            for step in 0..6 {
                region.advance(Duration::from_secs(4)).unwrap();
                if let Ok(p) = b.allow() {
                    let _ = if step % 2 == 0 { b.record_failure(p) } else { b.record_success(p) };
                }
                let _ = b.metrics();
            }
        }
    }
    breaker.reset();
    assert_eq!(breaker.state(), State::Closed);
    let _: &CircuitBreaker = &breaker;
}

#[test]
fn a_killed_child_not_yet_reaped_gives_its_probe_back() {
    const TEST: &str = "a_killed_child_not_yet_reaped_gives_its_probe_back";
    if role().is_some() {
        let breaker = manual(&child_path()).breaker(config(1, 1)).unwrap();
        assert!(breaker.allow_raw().unwrap().is_probe());
        println!("PROBING");
        park();
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("r");
    let region = manual(&path);
    let breaker = region.breaker(config(1, 1)).unwrap();
    assert!(breaker.record_failure(breaker.allow().unwrap()).unwrap().counted());
    region.advance(Duration::from_secs(10)).unwrap();
    let mut child = spawn(TEST, "prober", &path, &[]);
    let lines = Lines::new(child.stdout.take().unwrap());
    lines.expect("PROBING");
    child.kill().unwrap(); // not waited for: a zombie until reaped
    let deadline = Instant::now() + HANG_GUARD;
    let probe = loop {
        if let Ok(p) = breaker.allow() {
            break p;
        }
        assert!(Instant::now() < deadline, "the zombie kept its probe");
        std::thread::sleep(Duration::from_millis(2));
    };
    assert!(probe.is_probe());
    let _ = child.wait();
    drop(lines);
}

#[test]
fn a_family_in_a_region_shares_each_member_across_processes() {
    const TEST: &str = "a_family_in_a_region_shares_each_member_across_processes";
    let family_config =
        || Config::builder().name("api").failure_threshold(2).reset_timeout(Duration::from_secs(5)).build().unwrap();
    if role().is_some() {
        let region = manual(&child_path());
        let family = region.family(family_config()).unwrap().max_keys(4).build().unwrap();
        let member = family.get("a.example:443");
        for _ in 0..2 {
            assert!(member.record_failure(member.allow().unwrap()).unwrap().counted());
        }
        println!("TRIPPED");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("r");
    let region = manual(&path);
    let family = region.family(family_config()).unwrap().max_keys(4).build().unwrap();
    type Heard = Vec<(Option<String>, bool)>;
    let seen: Arc<Mutex<Heard>> = Arc::default();
    let sink = Arc::clone(&seen);
    family.on_transition(move |e| sink.lock().unwrap().push((e.key.map(str::to_owned), e.transition.remote)));
    assert_eq!(family.get("a.example:443").state(), State::Closed);
    let mut child = spawn(TEST, "tripper", &path, &[]);
    let lines = Lines::new(child.stdout.take().unwrap());
    lines.expect("TRIPPED");
    wait_ok(child);
    drop(lines);
    assert_eq!(family.get("a.example:443").state(), State::Open, "the child's trip of the member");
    assert_eq!(family.get("b.example:443").state(), State::Closed, "other keys are other breakers");
    assert_eq!(*seen.lock().unwrap(), [(Some("a.example:443".to_owned()), true)]);
    let names: Vec<String> = region.region().records().unwrap().iter().map(|r| r.name().to_owned()).collect();
    assert!(
        names.contains(&"api/a.example:443".to_owned()) && names.contains(&"api/(overflow)".to_owned()),
        "{names:?}"
    );
}

#[test]
fn a_full_region_answers_new_family_keys_with_the_overflow_breaker() {
    let dir = tempfile::tempdir().unwrap();
    let region = HostRegion::open(dir.path().join("r"), 3).unwrap();
    let config = Config::builder().name("api").failure_threshold(1).build().unwrap();
    let family = region.family(config).unwrap().build().unwrap(); // takes the overflow's record
    let a = family.get("a");
    let b = family.get("b");
    let c = family.get("c"); // no record left
    assert_eq!(a.name(), Some("api/a"));
    assert_eq!(b.name(), Some("api/b"));
    assert_eq!(c.name(), Some("api/(overflow)"));
    assert_eq!(family.metrics().overflowed, 1);
    assert!(HostRegion::open(dir.path().join("u"), 2).unwrap().family(Config::builder().build().unwrap()).is_err());
}

/// Review findings: a forked child's copy of a breaker takes its own process entry before it
/// counts, admits a probe or logs a transition, and dropping an unused copy never frees the
/// parent's entry.
#[test]
fn a_forked_child_never_uses_or_frees_its_parents_process_entry() {
    const TEST: &str = "a_forked_child_never_uses_or_frees_its_parents_process_entry";
    if role().is_some() {
        let region = manual(&child_path());
        let breaker = region.breaker(config(1, 1)).unwrap();
        assert!(breaker.record_success(breaker.allow().unwrap()).unwrap().counted());
        // SAFETY: this child process runs one test on one thread; the forked grandchild only
        // uses the breaker and exits.
        let pid = unsafe { libc::fork() };
        assert!(pid >= 0);
        if pid == 0 {
            drop(breaker); // an inherited copy, never used: gives nothing back
            let again = manual(&child_path()).breaker(config(1, 1)).unwrap();
            assert!(again.record_success(again.allow().unwrap()).unwrap().counted());
            let own = again.process_counts().unwrap();
            std::process::exit(if own.admitted == 1 { 0 } else { 9 });
        }
        let mut status = 0;
        // SAFETY: waiting for the child just forked.
        unsafe { libc::waitpid(pid, &mut status, 0) };
        assert!(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0, "the grandchild counted on its own");
        let own = breaker.process_counts().unwrap();
        assert_eq!(own.admitted, 1, "the parent's entry was neither freed nor shared");
        // A child whose first operation is a probe owns it under its own pid: killed, it gives it back.
        assert!(breaker.record_failure(breaker.allow().unwrap()).unwrap().counted());
        region.advance(Duration::from_secs(10)).unwrap();
        let taken = child_path().with_extension("probe-taken");
        // SAFETY: as above; the grandchild takes the probe and waits to be killed.
        let pid = unsafe { libc::fork() };
        if pid == 0 {
            let probe = breaker.allow_raw().unwrap();
            assert!(probe.is_probe());
            std::fs::write(&taken, b"").unwrap();
            std::thread::sleep(HANG_GUARD);
            std::process::exit(3);
        }
        let deadline = Instant::now() + HANG_GUARD;
        while !taken.exists() {
            assert!(Instant::now() < deadline, "the grandchild never took the probe");
            std::thread::sleep(Duration::from_millis(1));
        }
        assert!(breaker.allow().is_err(), "the grandchild holds the only probe");
        // SAFETY: killing and reaping our own child.
        unsafe {
            libc::kill(pid, libc::SIGKILL);
            libc::waitpid(pid, &mut status, 0);
        }
        let probe = breaker.allow().expect("the killed grandchild's probe came back");
        assert!(probe.is_probe());
        println!("FORKS OK");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("r");
    let _region = manual(&path);
    let mut child = spawn(TEST, "forker", &path, &[]);
    let lines = Lines::new(child.stdout.take().unwrap());
    lines.expect("FORKS OK");
    wait_ok(child);
    drop(lines);
}
