//! The engine's shared mode (docs/shared.md) within one process: breaker objects on one record
//! stand for breakers in several processes (each claims its own process id). Multi-process tests
//! with real regions live in `shm/tests`.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Barrier, Mutex};
use std::time::Duration;

use circuit::{CircuitBreaker, Config, ManualClock, State, Transition};
use proptest::prelude::*;

#[path = "support/memory_record.rs"]
mod memory_record;
use memory_record::{MemoryBlock, MemoryRecord};

fn config() -> Config {
    Config::builder()
        .name("payments")
        .failure_threshold(3)
        .reset_timeout(Duration::from_secs(10))
        .half_open_max_calls(2)
        .build()
        .unwrap()
}

fn attach(block: &Arc<MemoryBlock>, pid: u32, config: &Config, clock: &ManualClock) -> CircuitBreaker {
    CircuitBreaker::shared(config.clone(), MemoryRecord::process(block, pid), Some(Arc::new(clock.clone())))
        .expect("attaches")
}

fn listen(breaker: &CircuitBreaker) -> Arc<Mutex<Vec<Transition>>> {
    let seen: Arc<Mutex<Vec<Transition>>> = Arc::default();
    let sink = Arc::clone(&seen);
    breaker.on_transition(move |t| sink.lock().unwrap().push(*t));
    seen
}

#[test]
fn failures_in_two_processes_open_the_one_breaker_and_both_hear_it() {
    let block = MemoryBlock::new(circuit::shared::RECORD_WORDS);
    let clock = ManualClock::new();
    let a = attach(&block, 101, &config(), &clock);
    let b = attach(&block, 102, &config(), &clock);
    let (seen_a, seen_b) = (listen(&a), listen(&b));
    assert!(a.record_failure(a.allow().unwrap()).unwrap().counted());
    assert!(b.record_failure(b.allow().unwrap()).unwrap().counted());
    assert_eq!(a.metrics().consecutive_failures, 2, "one failure run across processes");
    assert!(a.record_failure(a.allow().unwrap()).unwrap().counted());
    assert_eq!(b.state(), State::Open, "a trip in one process is the other's");
    assert!(b.allow().is_err());
    let a_events = seen_a.lock().unwrap().clone();
    let b_events = seen_b.lock().unwrap().clone();
    assert_eq!(a_events.len(), 1);
    assert_eq!(b_events.len(), 1);
    assert!(!a_events[0].remote, "the process that tripped it hears a local transition");
    assert!(b_events[0].remote, "the other process hears it as remote");
    assert_eq!((b_events[0].from, b_events[0].to, b_events[0].generation), (State::Closed, State::Open, 1));
    let m = b.metrics();
    assert_eq!((m.admitted, m.failures, m.rejected_open), (3, 3, 1), "totals are region-wide");
    let own_a = a.process_counts().unwrap();
    let own_b = b.process_counts().unwrap();
    assert_eq!((own_a.admitted, own_a.failures), (2, 2));
    assert_eq!((own_b.admitted, own_b.failures, own_b.rejected_open), (1, 1, 1));
}

#[test]
fn a_joining_process_takes_the_state_as_it_is_and_is_not_replayed_history() {
    let block = MemoryBlock::new(circuit::shared::RECORD_WORDS);
    let clock = ManualClock::new();
    let a = attach(&block, 1, &config(), &clock);
    for _ in 0..3 {
        assert!(a.record_failure(a.allow().unwrap()).unwrap().counted());
    }
    let late = attach(&block, 2, &config(), &clock);
    let seen = listen(&late);
    assert_eq!(late.state(), State::Open);
    assert_eq!(late.metrics().generation, 1);
    assert!(seen.lock().unwrap().is_empty(), "transitions before attaching are not delivered");
    clock.advance(Duration::from_secs(10));
    let probe = late.allow().unwrap();
    assert!(probe.is_probe());
    assert_eq!(seen.lock().unwrap().len(), 1, "open -> half_open, made by this process");
    assert!(!seen.lock().unwrap()[0].remote);
}

#[test]
fn eight_processes_racing_in_half_open_admit_exactly_the_cap() {
    for _round in 0..20 {
        let block = MemoryBlock::new(circuit::shared::RECORD_WORDS);
        let clock = ManualClock::new();
        let breakers: Vec<Arc<CircuitBreaker>> =
            (0..8).map(|pid| Arc::new(attach(&block, 10 + pid, &config(), &clock))).collect();
        for _ in 0..3 {
            assert!(breakers[0].record_failure(breakers[0].allow().unwrap()).unwrap().counted());
        }
        clock.advance(Duration::from_secs(10));
        let start = Arc::new(Barrier::new(8));
        let admitted: usize = std::thread::scope(|s| {
            let handles: Vec<_> = breakers
                .iter()
                .map(|b| {
                    let start = Arc::clone(&start);
                    s.spawn(move || {
                        start.wait();
                        (0..4).filter_map(|_| b.allow_raw().ok()).count()
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).sum()
        });
        assert_eq!(admitted, 2, "half_open_max_calls = 2 across every process");
        assert_eq!(breakers[3].metrics().rejected_half_open_full, 30);
    }
}

#[test]
fn a_dead_processs_probe_slot_comes_back() {
    let block = MemoryBlock::new(circuit::shared::RECORD_WORDS);
    let clock = ManualClock::new();
    let one = Config::builder().name("p").failure_threshold(1).reset_timeout(Duration::from_secs(1)).build().unwrap();
    let doomed = attach(&block, 7, &one, &clock);
    let survivor = attach(&block, 8, &one, &clock);
    assert!(doomed.record_failure(doomed.allow().unwrap()).unwrap().counted());
    clock.advance(Duration::from_secs(1));
    let held = doomed.allow_raw().expect("the probe");
    assert!(held.is_probe());
    assert!(survivor.allow().is_err(), "the only probe slot is taken");
    block.dead.lock().unwrap().push(7);
    let probe = survivor.allow().expect("the dead process's slot was freed");
    assert!(survivor.record_success(probe).unwrap().counted());
    assert_eq!(survivor.state(), State::Closed);
}

#[test]
fn a_holder_that_died_mid_transition_is_repaired() {
    let block = MemoryBlock::new(circuit::shared::RECORD_WORDS);
    let clock = ManualClock::new();
    let a = attach(&block, 1, &config(), &clock);
    let b = attach(&block, 2, &config(), &clock);
    assert!(a.record_failure(a.allow().unwrap()).unwrap().counted());
    // As if a process had sealed the failure run to leave `closed` and died holding the lock.
    let words = block.words();
    words[1].store((words[1].load(Ordering::Relaxed) & !0xFFFF_FFFF) | 0xFFFF_FFFF, Ordering::Relaxed);
    block.owner_died.store(true, Ordering::Relaxed);
    assert_eq!(b.metrics().state, State::Closed);
    let permit = b.allow().unwrap();
    assert!(b.record_success(permit).unwrap().counted(), "the sealed run was repaired");
    for _ in 0..3 {
        assert!(b.record_failure(b.allow().unwrap()).unwrap().counted());
    }
    assert_eq!(a.state(), State::Open);
}

#[test]
fn a_state_that_fails_validation_is_rebuilt_from_the_published_state() {
    let block = MemoryBlock::new(circuit::shared::RECORD_WORDS);
    let clock = ManualClock::new();
    let a = attach(&block, 1, &config(), &clock);
    for _ in 0..3 {
        assert!(a.record_failure(a.allow().unwrap()).unwrap().counted());
    }
    for word in &block.words()[680..] {
        word.store(0xDEAD_BEEF_DEAD_BEEF, Ordering::Relaxed);
    }
    let b = attach(&block, 2, &config(), &clock);
    let m = b.metrics();
    assert_eq!((m.state, m.generation), (State::Open, 1));
    clock.advance(Duration::from_secs(10));
    assert!(b.allow().unwrap().is_probe());
}

#[test]
fn a_configuration_whose_state_cannot_fit_is_refused_naming_the_options() {
    let block = MemoryBlock::new(circuit::shared::RECORD_WORDS);
    let big = Config::builder().name("big").failure_rate_threshold(0.5).window_size(1_000_000).build().unwrap();
    let e = CircuitBreaker::shared(big, MemoryRecord::process(&block, 1), None).unwrap_err();
    assert!(e.to_string().contains("window_size"), "{e}");
    let other = MemoryBlock::new(circuit::shared::RECORD_WORDS);
    other.words()[6].store(42, Ordering::Relaxed);
    let e = CircuitBreaker::shared(config(), MemoryRecord::process(&other, 1), None).unwrap_err();
    assert!(e.to_string().contains("other than a breaker"), "{e}");
}

#[test]
fn rate_windows_count_every_process_exactly() {
    let block = MemoryBlock::new(circuit::shared::RECORD_WORDS);
    let clock = ManualClock::new();
    let rate =
        Config::builder().name("rate").failure_rate_threshold(0.5).minimum_calls(10).window_size(20).build().unwrap();
    let a = Arc::new(attach(&block, 1, &rate, &clock));
    let b = Arc::new(attach(&block, 2, &rate, &clock));
    std::thread::scope(|s| {
        for breaker in [&a, &b] {
            s.spawn(move || {
                for _ in 0..1000 {
                    let p = breaker.allow().unwrap();
                    assert!(breaker.record_success(p).unwrap().counted());
                }
            });
        }
    });
    let m = a.metrics();
    assert_eq!((m.successes, m.window_calls, m.window_failures), (2000, 20, 0));
    for _ in 0..10 {
        let p = b.allow().unwrap();
        assert!(b.record_failure(p).unwrap().counted());
    }
    assert_eq!(a.state(), State::Open, "10 failures of 20 outcomes trip it");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    /// No content of the record makes any operation panic.
    #[test]
    fn no_record_content_makes_an_operation_panic(
        words in proptest::collection::vec((0usize..circuit::shared::RECORD_WORDS, any::<u64>()), 1..64),
        rate in any::<bool>(),
    ) {
        let block = MemoryBlock::new(circuit::shared::RECORD_WORDS);
        let clock = ManualClock::new();
        let config = if rate {
            Config::builder().name("f").failure_rate_threshold(0.5).window_duration(Duration::from_secs(10)).build().unwrap()
        } else {
            config()
        };
        let a = attach(&block, 1, &config, &clock);
        for (index, value) in &words {
            block.words()[*index].store(*value, Ordering::Relaxed);
        }
        let b = CircuitBreaker::shared(config, MemoryRecord::process(&block, 2), Some(Arc::new(clock.clone())));
        for breaker in [Some(&a), b.as_ref().ok()].into_iter().flatten() {
            for step in 0..20u32 {
                clock.advance(Duration::from_millis(700));
                if let Ok(p) = breaker.allow() {
                    let _ = if step % 3 == 0 { breaker.record_failure(p) } else { breaker.record_success(p) };
                }
                let _ = breaker.metrics();
                let _ = breaker.export_state();
            }
            breaker.reset();
            prop_assert_eq!(breaker.state(), State::Closed);
        }
    }
}

/// Review finding: a holder killed mid-`reset()` leaves the run sealed; the survivor's plain
/// success must not trip the breaker (the repair reopens the run before the trip is re-checked).
#[test]
fn a_sealed_run_left_by_a_dead_holder_never_trips_on_a_success() {
    let c = Config::builder().name("p").failure_threshold(5).build().unwrap();
    let clock = ManualClock::new();
    let block = MemoryBlock::new(circuit::shared::RECORD_WORDS);
    let _a = attach(&block, 1, &c, &clock);
    let s = attach(&block, 2, &c, &clock);
    block.words()[1].store(0xFFFF_FFFF, Ordering::Relaxed);
    block.owner_died.store(true, Ordering::Relaxed);
    let p = s.allow().unwrap();
    let _ = s.record_success(p).unwrap();
    let m = s.metrics();
    assert_eq!((m.state, m.failures, m.transitions.total()), (State::Closed, 0, 0));
}

/// Review finding: a dead section that reopened a success cell without committing its ledger
/// must not make later successes of that cell vanish from the window.
#[test]
fn successes_of_a_cell_reopened_by_a_dead_holder_still_count() {
    let c = Config::builder().name("r").failure_rate_threshold(0.5).minimum_calls(10).window_size(100).build().unwrap();
    let clock = ManualClock::new();
    let block = MemoryBlock::new(circuit::shared::RECORD_WORDS);
    let a = attach(&block, 1, &c, &clock);
    let b = attach(&block, 2, &c, &clock);
    let words = block.words();
    let keep = |i: usize| !(8..24).contains(&i);
    let snap: Vec<(usize, u64)> =
        (0..32).chain(680..words.len()).filter(|&i| keep(i)).map(|i| (i, words[i].load(Ordering::Relaxed))).collect();
    // `a`'s locked success reopens its cell; then it dies before its commit (state rolled back).
    assert!(a.record_success(a.allow().unwrap()).unwrap().counted());
    for (i, v) in snap {
        words[i].store(v, Ordering::Relaxed);
    }
    block.owner_died.store(true, Ordering::Relaxed);
    block.dead.lock().unwrap().push(1);
    std::mem::forget(a);
    let n = attach(&block, 3, &c, &clock);
    for _ in 0..10 {
        assert!(b.record_success(b.allow().unwrap()).unwrap().counted());
    }
    for _ in 0..80 {
        assert!(n.record_success(n.allow().unwrap()).unwrap().counted());
    }
    assert_eq!(b.metrics().window_calls, 90);
    for _ in 0..10 {
        let _ = b.record_failure(b.allow().unwrap());
    }
    assert_eq!(b.metrics().state, State::Closed, "10 failures of 100 outcomes do not trip at 0.5");
}

/// Review finding: a time window's head near u64::MAX in the record must not overflow anything.
#[test]
fn a_hostile_time_window_head_is_refused_not_overflowed() {
    let c = Config::builder()
        .name("t")
        .failure_rate_threshold(0.5)
        .window_duration(Duration::from_secs(10))
        .build()
        .unwrap();
    let clock = ManualClock::new();
    let block = MemoryBlock::new(circuit::shared::RECORD_WORDS);
    let a = attach(&block, 1, &c, &clock);
    clock.advance(Duration::from_secs(5));
    let _ = a.record_failure(a.allow().unwrap()).unwrap();
    let words = block.words();
    let commit = words[5].load(Ordering::Relaxed);
    let copy_words = (words.len() - 680) / 2;
    let start = 680 + (commit as usize & 1) * copy_words;
    let copy = &words[start..start + copy_words];
    let at = (0..copy_words - 3)
        .find(|&i| {
            copy[i].load(Ordering::Relaxed) == 2
                && copy[i + 1].load(Ordering::Relaxed) == 10
                && copy[i + 2].load(Ordering::Relaxed) == 1_000_000_000
        })
        .expect("the time window's encoding");
    copy[at + 3].store(u64::MAX - 2, Ordering::Relaxed);
    let other = attach(&block, 2, &c, &clock);
    let _ = other.export_state();
    assert_eq!(other.metrics().generation, 0);
}
