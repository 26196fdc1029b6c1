//! Families: per-key members, the memory bound, eviction rules and family listeners.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use circuit::{CircuitBreaker, Config, Family, ManualClock, Outcome, State};

fn family(max_keys: usize, idle_ttl: Duration, clock: &ManualClock) -> Family {
    let config =
        Config::builder().name("api").failure_threshold(1).reset_timeout(Duration::from_secs(30)).build().unwrap();
    Family::builder(config).max_keys(max_keys).idle_ttl(idle_ttl).clock(clock.clone()).build().unwrap()
}

fn trip(breaker: &CircuitBreaker) {
    let p = breaker.allow().unwrap();
    assert!(breaker.record_failure(p).unwrap().counted());
    assert_eq!(breaker.state(), State::Open);
}

#[test]
fn members_are_created_once_per_key_and_named_after_the_family() {
    let clock = ManualClock::new();
    let family = family(10, Duration::from_secs(60), &clock);
    let a = family.get("a");
    assert_eq!(a.name(), Some("api/a"));
    assert!(Arc::ptr_eq(&a, &family.get("a")));
    assert!(!Arc::ptr_eq(&a, &family.get("b")));
    assert_eq!(family.len(), 2);
    assert!(family.contains("a") && !family.contains("c"));
    let mut keys: Vec<String> = family.keys().iter().map(|k| k.to_string()).collect();
    keys.sort();
    assert_eq!(keys, ["a", "b"]);
    let unnamed = Family::builder(Config::builder().build().unwrap()).clock(clock.clone()).build().unwrap();
    assert_eq!(unnamed.get("k").name(), Some("k"));
}

#[test]
fn one_key_down_does_not_touch_another() {
    let clock = ManualClock::new();
    let family = family(10, Duration::from_secs(60), &clock);
    trip(&family.get("down"));
    assert_eq!(family.get("down").state(), State::Open);
    assert_eq!(family.get("fine").state(), State::Closed);
    assert!(family.get("fine").allow().is_ok());
}

#[test]
fn a_flood_of_keys_stays_within_max_keys() {
    let clock = ManualClock::new();
    let family = family(100, Duration::from_secs(600), &clock);
    let mut seed = 0x2545_F491_4F6C_DD1D_u64;
    let floods = if cfg!(debug_assertions) { 200_000 } else { 1_000_000 };
    for i in 0..floods {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let breaker = family.get(&format!("host-{seed:x}"));
        if i % 1000 == 0 {
            clock.advance(Duration::from_millis(1));
            let p = breaker.allow().unwrap();
            assert!(breaker.record_success(p).unwrap().counted());
        }
        assert!(family.len() <= 100);
    }
    let m = family.metrics();
    assert_eq!(m.members.len(), 100);
    assert_eq!(m.evicted, floods as u64 - 100);
    assert_eq!(m.overflowed, 0, "nothing was pinned, so no key needed the overflow breaker");
}

#[test]
fn an_open_member_is_never_evicted_and_a_full_family_of_pinned_members_overflows() {
    let clock = ManualClock::new();
    let family = family(3, Duration::from_secs(1), &clock);
    for key in ["a", "b", "c"] {
        trip(&family.get(key));
    }
    clock.advance(Duration::from_secs(10)); // idle far beyond idle_ttl, still open
    let d = family.get("d");
    assert!(Arc::ptr_eq(&d, family.overflow()), "every member open: the overflow breaker answers");
    assert_eq!(d.name(), Some("api/(overflow)"));
    assert_eq!(family.len(), 3);
    for key in ["a", "b", "c"] {
        assert!(family.contains(key));
        assert_eq!(family.get(key).state(), State::Open, "{key} kept its outage");
    }
    assert_eq!(family.metrics().overflowed, 1);
    // Once a member recovers (closed again), it can be evicted to make room.
    clock.advance(Duration::from_secs(30));
    let a = family.get("a");
    let probe = a.allow().unwrap();
    assert!(a.record_success(probe).unwrap().counted());
    assert_eq!(a.state(), State::Closed);
    drop(a);
    clock.advance(Duration::from_secs(2));
    let e = family.get("e");
    assert!(!Arc::ptr_eq(&e, family.overflow()));
    assert!(!family.contains("a") && family.contains("e") && family.len() == 3);
}

#[test]
fn a_permit_keeps_its_member_alive_through_a_flood() {
    let clock = ManualClock::new();
    let family = family(2, Duration::ZERO, &clock);
    let held = family.get("held");
    let permit = held.allow_owned().unwrap();
    drop(held);
    for i in 0..1000 {
        clock.advance(Duration::from_secs(1));
        let _ = family.get(&format!("k{i}"));
    }
    assert!(family.contains("held"), "pinned by its outstanding permit");
    assert!(permit.record(Outcome::Failure).unwrap().counted());
    assert_eq!(family.get("held").state(), State::Open);
}

#[test]
fn idle_members_are_evicted_after_idle_ttl_on_the_family_clock() {
    let clock = ManualClock::new();
    let family = family(10, Duration::from_secs(60), &clock);
    let weak = Arc::downgrade(&family.get("idle"));
    clock.advance(Duration::from_secs(59));
    let _ = family.get("other");
    assert!(family.contains("idle"), "not idle long enough");
    clock.advance(Duration::from_secs(1));
    let _ = family.get("other");
    assert!(!family.contains("idle"));
    assert!(weak.upgrade().is_none(), "an evicted member is freed, with its listener");
    assert_eq!(family.metrics().evicted, 1);
}

#[test]
fn family_listeners_hear_every_member_with_its_key() {
    let clock = ManualClock::new();
    let family = family(1, Duration::from_secs(60), &clock);
    type Heard = Vec<(Option<String>, State)>;
    let heard: Arc<Mutex<Heard>> = Arc::default();
    let sink = Arc::clone(&heard);
    let id = family.on_transition(move |e| sink.lock().unwrap().push((e.key.map(str::to_owned), e.transition.to)));
    trip(&family.get("a"));
    trip(&family.get("b")); // full, "a" open: the overflow breaker
    assert_eq!(*heard.lock().unwrap(), [(Some("a".to_owned()), State::Open), (None, State::Open)]);
    assert!(family.remove_listener(id));
    assert!(!family.remove_listener(id));
    family.get("a").reset();
    assert_eq!(heard.lock().unwrap().len(), 2, "a removed listener is not called");
}

#[test]
fn a_disabled_member_is_kept() {
    let clock = ManualClock::new();
    let family = family(1, Duration::ZERO, &clock);
    family.get("maintenance").disable();
    clock.advance(Duration::from_secs(1));
    assert!(Arc::ptr_eq(&family.get("other"), family.overflow()));
    assert_eq!(family.get("maintenance").state(), State::Disabled);
}

#[test]
fn max_keys_must_be_positive() {
    let err = Family::builder(Config::builder().build().unwrap()).max_keys(0).build().unwrap_err();
    assert!(err.to_string().contains("max_keys"), "{err}");
}

#[test]
fn a_listener_may_use_the_family_while_eviction_runs() {
    let clock = ManualClock::new();
    let family = Arc::new(family(1, Duration::from_secs(1), &clock));
    let weak = Arc::downgrade(&family);
    let seen = Arc::new(Mutex::new(0));
    let count = Arc::clone(&seen);
    family.on_transition(move |_| {
        // Calling back into the family from a listener must not deadlock.
        if let Some(family) = weak.upgrade() {
            let _ = family.len();
            let _ = family.get("from-listener");
        }
        *count.lock().unwrap() += 1;
    });
    trip(&family.get("a")); // the listener runs here, outside every lock
    clock.advance(Duration::from_secs(60)); // "a" is due half-open; eviction must not apply it
    let _ = family.get("b");
    assert!(*seen.lock().unwrap() >= 1);
}
