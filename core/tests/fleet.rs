//! The fleet breaker's instance side without a store (sans-IO): what a sync sends, how replies
//! are applied, the degraded modes, and that no reply can make it panic. The store side (the
//! Lua script) is tested against a real redis-server in fleet-redis/tests.

use std::time::Duration;

use circuit::Outcome;
use circuit::fleet::{Admission, Fleet, FleetConfig, FleetEvent, FleetState, Reply, SCRIPT, StoreFailure, script_sha1};
use proptest::prelude::*;

const MS: u64 = 1_000_000;

fn ok(epoch: i64, state: &str, remaining_ms: i64, grants: &[i64]) -> Result<Vec<Reply>, String> {
    let mut r = vec![
        Reply::Text("ok".into()),
        Reply::Int(epoch),
        Reply::Text(state.into()),
        Reply::Int(remaining_ms),
        Reply::Int(10_000),
        Reply::Int(0),
        Reply::Int(0),
        Reply::Int(0),
    ];
    r.extend(grants.iter().map(|&g| Reply::Int(g)));
    Ok(r)
}

fn fleet(mode: StoreFailure) -> Fleet {
    let mut c = FleetConfig::new("payments");
    c.on_store_failure = mode;
    Fleet::new(c, 0).unwrap()
}

#[test]
fn the_script_is_named_by_its_sha1_and_options_are_checked() {
    assert_eq!(script_sha1().len(), 40);
    assert!(SCRIPT.contains("redis.call(\"TIME\")"));
    let mut c = FleetConfig::new("x");
    c.success_threshold = 2;
    assert_eq!(Fleet::new(c, 0).unwrap_err().option(), "success_threshold");
    let mut c = FleetConfig::new("x");
    c.failure_rate_threshold = Some(1.5);
    assert_eq!(Fleet::new(c, 0).unwrap_err().option(), "failure_rate_threshold");
    assert_eq!(FleetConfig::new("pay").key(), "circuit:{pay}");
    assert_ne!(FleetConfig::new("a").fingerprint(), {
        let mut c = FleetConfig::new("a");
        c.minimum_calls = 3;
        c.fingerprint()
    });
}

#[test]
fn a_sync_carries_the_deltas_once_and_an_open_reply_rejects_until_it_ends() {
    let mut c = FleetConfig::new("payments");
    c.max_staleness = Duration::from_secs(60); // this test jumps seconds between syncs
    let f = Fleet::new(c, 0).unwrap();
    for _ in 0..3 {
        assert_eq!(f.admit(0), Admission::Admit);
        f.record(Outcome::Failure, false);
    }
    f.record(Outcome::Success, true);
    let request = f.poll(0).expect("the first sync is due at once");
    assert_eq!(&request.args()[14..18], ["4", "3", "1", "0"], "calls, failures, slow, wanted probes");
    assert!(f.poll(0).is_none(), "one sync in flight at a time");
    let events = f.complete(MS, ok(1, "open", 5_000, &[]));
    assert_eq!(events, [FleetEvent::Transition { from: FleetState::Closed, to: FleetState::Open, epoch: 1 }]);
    assert!(
        matches!(f.admit(2 * MS), Admission::Reject { state: FleetState::Open, retry_after: Some(d) } if d == Duration::from_millis(4_999))
    );
    let next = f.poll(300 * MS).expect("due after sync_interval");
    assert_eq!(&next.args()[13..16], ["1", "0", "0"], "the new epoch; the deltas were sent once");
    let _ = f.complete(300 * MS, ok(1, "open", 4_700, &[]));
    // The open time passes: the next admission asks for a probe at once.
    assert!(matches!(f.admit(5_001 * MS), Admission::Reject { .. }));
    let ask = f.poll(5_001 * MS).expect("urgent");
    assert_eq!(ask.args()[17], "1");
    let _ = f.complete(5_002 * MS, ok(2, "half_open", 0, &[7]));
    let Admission::Probe(probe) = f.admit(5_003 * MS) else { panic!("the granted probe") };
    assert!(matches!(f.admit(5_003 * MS), Admission::Reject { state: FleetState::HalfOpen, .. }));
    f.record_probe(probe, Outcome::Success);
    let verdict = f.poll(5_003 * MS).expect("a verdict goes out at once");
    assert_eq!(&verdict.args()[18..], ["1", "2", "7", "success"]);
}

#[test]
fn a_would_trip_syncs_at_once() {
    let mut c = FleetConfig::new("p");
    c.minimum_calls = 4;
    let f = Fleet::new(c, 0).unwrap();
    let _ = f.poll(0);
    let _ = f.complete(0, ok(0, "closed", 0, &[]));
    assert!(f.poll(MS).is_none(), "not due yet");
    for _ in 0..4 {
        f.record(Outcome::Failure, false);
    }
    assert!(f.poll(2 * MS).is_some(), "four failures of four calls would trip: sync now");
}

#[test]
fn each_degraded_mode_decides_when_the_store_is_gone() {
    for (mode, admits) in [(StoreFailure::Local, true), (StoreFailure::Closed, true), (StoreFailure::Open, false)] {
        let f = fleet(mode);
        let _ = f.poll(0);
        let _ = f.complete(0, ok(0, "closed", 0, &[]));
        let _ = f.poll(300 * MS);
        assert!(f.complete(300 * MS, Err("connection refused".into())).is_empty(), "not stale yet");
        let events = f.events(2_100 * MS);
        assert_eq!(events, [FleetEvent::StoreDegraded]);
        assert!(f.events(2_200 * MS).is_empty(), "announced once");
        assert_eq!(matches!(f.admit(2_200 * MS), Admission::Admit), admits, "{mode:?}");
        assert!(f.status(2_200 * MS).degraded);
        let request = f.poll(3_000 * MS).expect("a retry after the backoff");
        drop(request);
        let events = f.complete(3_000 * MS, ok(0, "closed", 0, &[]));
        assert_eq!(events, [FleetEvent::StoreRecovered]);
        assert_eq!(f.admit(3_001 * MS), Admission::Admit);
    }
}

#[test]
fn a_mismatch_is_reported_once_and_the_local_breaker_decides() {
    let f = fleet(StoreFailure::Open);
    let _ = f.poll(0);
    let events = f.complete(0, Ok(vec![Reply::Text("mismatch".into()), Reply::Text("abc".into())]));
    assert_eq!(events, [FleetEvent::Mismatch { stored: "abc".into() }]);
    assert!(matches!(f.admit(MS), Admission::Reject { .. }), "a mismatched fleet uses the degraded mode");
}

proptest! {
    #[test]
    fn no_reply_makes_the_fleet_panic(items in proptest::collection::vec(prop_oneof![
        any::<i64>().prop_map(Reply::Int),
        "[a-z_]{0,10}".prop_map(Reply::Text),
        Just(Reply::Text("ok".into())),
        Just(Reply::Text("half_open".into())),
    ], 0..20)) {
        let f = fleet(StoreFailure::Local);
        let _ = f.poll(0);
        let _ = f.complete(MS, Ok(items));
        let _ = f.admit(2 * MS);
        let _ = f.status(2 * MS);
    }
}

#[test]
fn the_closed_path_reads_the_clock_only_when_the_mode_needs_it() {
    for mode in [StoreFailure::Local, StoreFailure::Closed] {
        let f = fleet(mode);
        f.poll(0).unwrap();
        f.complete(0, ok(0, "closed", 0, &[]));
        let read = std::cell::Cell::new(0);
        let clock = || {
            read.set(read.get() + 1);
            u64::MAX / 2 // long stale: the mode admits anyway
        };
        assert_eq!(f.admit_lazy(clock), Admission::Admit);
        assert_eq!(read.get(), 0, "{mode:?}: no clock read while closed");
    }
    let f = fleet(StoreFailure::Open);
    f.poll(0).unwrap();
    f.complete(0, ok(0, "closed", 0, &[]));
    assert_eq!(f.admit_lazy(|| 10 * MS), Admission::Admit);
    assert!(
        matches!(f.admit_lazy(|| 3_000 * MS), Admission::Reject { state: FleetState::Open, .. }),
        "open: stale rejects"
    );
}

#[test]
fn successes_handed_over_in_bulk_count_as_single_records_do() {
    let slot = circuit::host::ThreadSlot::current();
    let bulk = fleet(StoreFailure::Local);
    let single = fleet(StoreFailure::Local);
    bulk.record_successes_on(slot, 5);
    bulk.record_on(slot, Outcome::Failure, false);
    for _ in 0..5 {
        single.record_on(slot, Outcome::Success, false);
    }
    single.record_on(slot, Outcome::Failure, false);
    let (a, b) = (bulk.poll(0).expect("due"), single.poll(0).expect("due"));
    assert_eq!(&a.args()[14..17], ["6", "1", "0"], "calls, failures, slow");
    assert_eq!(a.args()[14..17], b.args()[14..17]);
}

/// A fleet attached to its breaker takes its deltas from the breaker's own counters, exactly as
/// its tally would have counted them: ordinary outcomes, slow calls, stale outcomes (which the
/// breaker does not count), and not the fleet's own probes (their verdicts travel apart).
#[test]
fn an_attached_breakers_counters_feed_the_same_deltas_as_the_tally() {
    use std::sync::Arc;
    let clock = circuit::ManualClock::new();
    let config = || {
        circuit::Config::builder()
            .name("payments")
            .failure_threshold(100)
            .slow_call_duration(Duration::from_millis(50))
            .build()
            .unwrap()
    };
    let breaker = Arc::new(circuit::CircuitBreaker::with_clock(config(), clock.clone()));
    let other = Arc::new(circuit::CircuitBreaker::with_clock(config(), clock.clone()));
    let mut c = FleetConfig::new("payments");
    c.max_staleness = Duration::from_secs(3600);
    let f = Fleet::new(c, 0).unwrap();
    // Outcomes counted before the attachment are not this fleet's.
    let p = breaker.allow_raw().unwrap();
    let _ = breaker.record_raw(p, Outcome::Failure).unwrap();
    assert!(f.attach(&breaker) && f.attach(&breaker), "attached (again: the same breaker)");
    assert!(!f.attach(&other), "one breaker feeds a fleet; another keeps the tally");
    let now = || 0;
    for outcome in [Outcome::Failure, Outcome::Failure, Outcome::Success, Outcome::Ignored] {
        let p = f.allow_call(&breaker, now).unwrap();
        let _ = f.record_call(&breaker, p, outcome).unwrap();
    }
    let slow = f.allow_call(&breaker, now).unwrap();
    clock.advance(Duration::from_millis(60));
    let _ = f.record_call(&breaker, slow, Outcome::Success).unwrap();
    // Stale: the breaker moved on before the outcome came; the fleet still counts the call.
    let stale = f.allow_call(&breaker, now).unwrap();
    breaker.reset();
    assert_eq!(f.record_call(&breaker, stale, Outcome::Failure).unwrap(), circuit::Recorded::Stale);
    // Another breaker through the same fleet: the tally.
    let p = f.allow_call(&other, now).unwrap();
    let _ = f.record_call(&other, p, Outcome::Success).unwrap();
    assert!(!f.is_idle(), "outcomes to send");
    let request = f.poll(0).expect("due");
    assert_eq!(&request.args()[14..17], ["6", "3", "1"], "calls, failures, slow");
    let _ = f.complete(MS, ok(1, "half_open", 0, &[9]));
    let probe = f.allow_call(&breaker, now).unwrap();
    assert!(probe.is_fleet_probe());
    let _ = f.record_call(&breaker, probe, Outcome::Failure).unwrap();
    let request = f.poll(2 * MS).expect("the verdict goes out at once");
    assert_eq!(&request.args()[14..17], ["0", "0", "0"], "the probe is a verdict, not a delta");
    assert!(request.args().iter().any(|a| a == "9"), "the verdict names its lease");
    let _ = f.complete(3 * MS, ok(2, "open", 1_000, &[]));
    // Retry hints count the same way.
    let _ = f.complete(3 * MS, ok(3, "closed", 0, &[]));
    let _ = f.poll(300 * MS);
    let _ = f.complete(300 * MS, ok(3, "closed", 0, &[]));
    let p = f.allow_call(&breaker, now).unwrap();
    let _ = f.record_call_retry_after(&breaker, p, Duration::from_secs(1)).unwrap();
    let request = f.poll(600 * MS).expect("due");
    assert_eq!(&request.args()[14..17], ["1", "1", "0"], "a failure with a retry hint");
}

/// One instance driven twice in lockstep: a fleet attached to its breaker, and a fleet keeping
/// its own tally for an identical breaker.
struct Twin {
    clock: circuit::ManualClock,
    breakers: [std::sync::Arc<circuit::CircuitBreaker>; 2],
    fleets: [Fleet; 2],
    /// The deltas each fleet sent so far: `[calls, failures, slow]`.
    sent: [[u64; 3]; 2],
    now: u64,
    epoch: i64,
}

impl Twin {
    fn new() -> Self {
        let clock = circuit::ManualClock::new();
        let breaker = || {
            let config = circuit::Config::builder()
                .name("twin")
                .failure_threshold(1000)
                .slow_call_duration(Duration::from_millis(50))
                .build()
                .unwrap();
            std::sync::Arc::new(circuit::CircuitBreaker::with_clock(config, clock.clone()))
        };
        let fleet = || {
            let mut c = FleetConfig::new("twin");
            c.max_staleness = Duration::from_secs(1 << 30);
            Fleet::new(c, 0).unwrap()
        };
        let twin = Self {
            breakers: [breaker(), breaker()],
            fleets: [fleet(), fleet()],
            clock,
            sent: [[0; 3]; 2],
            now: 0,
            epoch: 0,
        };
        assert!(twin.fleets[0].attach(&twin.breakers[0]));
        twin
    }

    /// One call on both, recorded with `outcome` after `took` of the breakers' clock; `stale`:
    /// the breaker moves on (reset) before the outcome comes.
    fn call(&self, outcome: Outcome, took: Duration, stale: bool) {
        let permits: Vec<_> = (0..2).map(|i| self.fleets[i].allow_call(&self.breakers[i], || self.now)).collect();
        self.clock.advance(took);
        for (i, permit) in permits.into_iter().enumerate() {
            if stale {
                self.breakers[i].reset();
            }
            if let Ok(permit) = permit {
                let _ = self.fleets[i].record_call(&self.breakers[i], permit, outcome);
            }
        }
    }

    /// A sync of both with the same reply; returns each fleet's request arguments.
    fn sync(&mut self, state: &str, grants: &[i64]) {
        self.now += 300 * MS;
        for i in 0..2 {
            if let Some(request) = self.fleets[i].poll(self.now) {
                let args = request.args();
                for (k, total) in self.sent[i].iter_mut().enumerate() {
                    *total += args[14 + k].parse::<u64>().unwrap();
                }
                let _ = self.fleets[i].complete(self.now, ok(self.epoch, state, 0, grants));
            }
        }
    }
}

proptest! {
    /// Whatever the calls (successes, failures, ignored, slow, stale, fleet probes), a fleet fed by
    /// its breaker's counters sends exactly the deltas its own tally would have sent.
    #[test]
    fn an_attached_fleet_sends_the_deltas_of_a_tally(ops in proptest::collection::vec(0u8..8, 1..80)) {
        let mut twin = Twin::new();
        for op in ops {
            match op {
                0 | 1 => twin.call(Outcome::Success, Duration::ZERO, false),
                2 => twin.call(Outcome::Failure, Duration::ZERO, false),
                3 => twin.call(Outcome::Ignored, Duration::ZERO, false),
                4 => twin.call(Outcome::Success, Duration::from_millis(60), false),
                5 => twin.call(Outcome::Failure, Duration::from_millis(60), true),
                6 => twin.sync("closed", &[]),
                _ => {
                    // A half-open round: a lease granted to each, a probe call, closed again.
                    twin.epoch += 1;
                    twin.sync("half_open", &[twin.epoch]);
                    twin.call(Outcome::Failure, Duration::from_millis(60), false);
                    twin.epoch += 1;
                    twin.sync("closed", &[]);
                }
            }
        }
        twin.sync("closed", &[]);
        twin.sync("closed", &[]);
        prop_assert_eq!(twin.sent[0], twin.sent[1], "attached vs tally: [calls, failures, slow]");
        prop_assert!(twin.fleets[0].is_idle() && twin.fleets[1].is_idle());
    }
}

/// The attached breaker's closed-state permit is the breaker's own (its outcome is the
/// breaker's inlined record, whose counters feed the deltas); a shut gate refuses it; any other
/// breaker's permit, and a fleet probe, is marked for the fleet's own record path, and every
/// permit survives its plain-data forms (the C ABI keeps `carried`, the Node binding `local`).
#[test]
fn only_the_attached_breakers_closed_permits_take_the_breakers_own_path() {
    use std::sync::Arc;
    let config = || circuit::Config::builder().name("payments").failure_threshold(100).build().unwrap();
    let breaker = Arc::new(circuit::CircuitBreaker::new(config()));
    let other = Arc::new(circuit::CircuitBreaker::new(config()));
    let mut c = FleetConfig::new("payments");
    c.max_staleness = Duration::from_secs(3600);
    let f = Fleet::new(c, 0).unwrap();
    let now = || 0;
    let before = f.allow_call(&breaker, now).unwrap();
    assert_ne!(before.carried(), before.local(), "not attached yet: marked for the tally");
    let _ = f.record_call(&breaker, before, Outcome::Success).unwrap();
    assert!(f.attach(&breaker));
    let own = f.allow_call(&breaker, now).unwrap();
    assert_eq!(own.carried(), own.local(), "the breaker's own permit");
    assert!(!own.local().is_probe() && !own.is_fleet_probe());
    let theirs = f.allow_call(&other, now).unwrap();
    assert_ne!(theirs.carried(), theirs.local(), "another breaker's permit is marked");
    assert!(!theirs.local().is_probe(), "the mark is not a local probe ticket");
    for (b, p) in [(&breaker, own), (&other, theirs)] {
        let (g, a, t) = p.carried().to_parts();
        let carried = circuit::RawPermit::from_parts(g, a, t);
        assert_eq!(f.permit_from_parts(b, carried, p.probe_parts()), p, "rebuilt from the carried parts");
        assert_eq!(f.permit_from_parts(b, p.local(), p.probe_parts()), p, "rebuilt from the local parts");
    }
    // The closed path the C ABI takes: the breaker's own admission, and its own record.
    let slot = circuit::host::ThreadSlot::current();
    let c_own = f.allow_own_on(&breaker, slot).expect("the attached breaker's closed path");
    assert!(f.allow_own_on(&other, slot).is_none(), "another breaker's calls take the full path");
    assert_eq!(f.record_fast_on(&breaker, slot, c_own, Outcome::Success), Some(circuit::Recorded::Counted));
    assert_eq!(f.record_fast_on(&other, slot, theirs.carried(), Outcome::Success), None, "marked: nothing recorded");
    // Node's ordinary permits travel as a generation alone: rebuilt, the other breaker's success
    // still reaches the tally.
    let generation = theirs.local().generation();
    let plain = circuit::RawPermit::from_parts(generation, circuit::RawPermit::NO_TIME, circuit::RawPermit::NO_TICKET);
    let _ = f.record_call(&other, f.permit_from_parts(&other, plain, None), Outcome::Success).unwrap();
    let _ = f.record_call(&breaker, own, Outcome::Success).unwrap();
    let request = f.poll(0).expect("due");
    assert_eq!(&request.args()[14..17], ["4", "0", "0"], "one call before attaching, one of each breaker, one C");
    // A shut gate refuses the attached breaker's calls too; an open one gives its own permits again.
    let _ = f.complete(MS, ok(1, "open", 60_000, &[]));
    assert!(f.allow_call(&breaker, || MS).is_err(), "the fleet is open");
    assert!(f.poll(300 * MS).is_some(), "due");
    let _ = f.complete(300 * MS, ok(2, "closed", 0, &[]));
    let again = f.allow_call(&breaker, || 300 * MS).unwrap();
    assert_eq!(again.carried(), again.local(), "the gate is open again for the attached breaker");
    let _ = f.record_call(&breaker, again, Outcome::Success).unwrap();
    // A fleet probe is marked (the attached breaker's, and another's), its verdict is sent and its
    // call is no delta.
    assert!(f.poll(600 * MS).is_some(), "due");
    let _ = f.complete(600 * MS, ok(3, "half_open", 0, &[7, 8]));
    let probe = f.allow_call(&breaker, || 600 * MS).unwrap();
    assert!(probe.is_fleet_probe() && probe.carried() != probe.local());
    assert!(!probe.local().is_probe() && !probe.is_local_probe(), "the mark is not a local probe");
    assert!(f.allow_own_on(&breaker, slot).is_none(), "the gate is shut");
    let theirs = f.allow_call(&other, || 600 * MS).unwrap();
    assert!(theirs.is_fleet_probe() && theirs.carried() != theirs.local());
    assert_eq!(f.record_fast_on(&breaker, slot, probe.carried(), Outcome::Success), None, "a probe is no fast record");
    let _ = f.record_call(&breaker, probe, Outcome::Success).unwrap();
    let _ = f.record_call(&other, theirs, Outcome::Success).unwrap();
    let request = f.poll(601 * MS).expect("the verdicts go out at once");
    assert_eq!(&request.args()[14..17], ["0", "0", "0"], "probes are verdicts, not deltas");
    assert_eq!(&request.args()[18..], ["2", "3", "8", "success", "3", "7", "success"], "both verdicts, by lease");
}
