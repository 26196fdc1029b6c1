//! The fleet breaker against a real `redis-server`, started by the test on a free loopback port
//! and stopped by PID. A missing `redis-server` fails the suite (it never skips).

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

mod support;

use circuit_redis::RedisFleet;
use engine::Outcome;
use engine::fleet::{Admission, FleetConfig, FleetEvent, FleetState, StoreFailure};
use support::{Server, free_port};

fn config(name: &str) -> FleetConfig {
    let mut c = FleetConfig::new(name);
    c.minimum_calls = 10;
    c.failure_rate_threshold = Some(0.5);
    c.reset_timeout = Duration::from_millis(300);
    c.max_reset_timeout = Duration::from_secs(5);
    c.sync_interval = Duration::from_millis(20);
    c.max_staleness = Duration::from_millis(300);
    c.probe_lease = Duration::from_secs(2);
    c
}

/// Syncs every instance until `done` holds (a hang guard of a few seconds).
fn settle(fleets: &[&RedisFleet], mut done: impl FnMut() -> bool) -> Vec<FleetEvent> {
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut events = Vec::new();
    loop {
        for f in fleets {
            events.extend(f.sync());
        }
        if done() {
            return events;
        }
        assert!(Instant::now() < deadline, "never settled; events so far: {events:?}");
        std::thread::sleep(Duration::from_millis(2));
    }
}

#[test]
fn failures_of_the_fleet_open_it_for_every_instance() {
    let server = Server::start();
    let a = RedisFleet::new(server.client(), config("trip")).unwrap();
    let b = RedisFleet::new(server.client(), config("trip")).unwrap();
    settle(&[&a, &b], || a.status().syncs > 0 && b.status().syncs > 0);
    // Six failures here and six successes there: 50% of 12 calls >= 10 calls trips the fleet.
    for _ in 0..6 {
        assert_eq!(a.admit(), Admission::Admit);
        a.record(Outcome::Failure, false);
        assert_eq!(b.admit(), Admission::Admit);
        b.record(Outcome::Success, false);
    }
    let began = Instant::now();
    let events = settle(&[&a, &b], || a.status().state == FleetState::Open && b.status().state == FleetState::Open);
    assert!(began.elapsed() < Duration::from_millis(500), "within a sync interval and a round trip");
    assert!(events.iter().any(|e| matches!(e, FleetEvent::Transition { to: FleetState::Open, .. })));
    assert!(matches!(b.admit(), Admission::Reject { state: FleetState::Open, retry_after: Some(_) }));
    // A newcomer joins the open fleet; it never resets it.
    let c = RedisFleet::new(server.client(), config("trip")).unwrap();
    settle(&[&c], || c.status().syncs > 0);
    assert_eq!(c.status().state, FleetState::Open);
}

#[test]
fn one_sick_instance_alone_does_not_open_the_fleet() {
    let server = Server::start();
    let sick = RedisFleet::new(server.client(), config("share")).unwrap();
    let healthy: Vec<RedisFleet> = (0..3).map(|_| RedisFleet::new(server.client(), config("share")).unwrap()).collect();
    // Steady state: the window already holds the healthy instances' traffic.
    for h in &healthy {
        for _ in 0..20 {
            h.record(Outcome::Success, false);
        }
    }
    let warm: Vec<&RedisFleet> = healthy.iter().collect();
    settle(&warm, || warm.iter().all(|f| f.status().syncs >= 2));
    for _ in 0..10 {
        sick.record(Outcome::Failure, false);
        for h in &healthy {
            h.record(Outcome::Success, false);
            h.record(Outcome::Success, false);
        }
    }
    let all: Vec<&RedisFleet> = std::iter::once(&sick).chain(healthy.iter()).collect();
    settle(&all, || all.iter().all(|f| f.status().syncs >= 2));
    assert_eq!(sick.status().state, FleetState::Closed, "10 failures of 130 calls: 8%");
}

#[test]
fn the_fleet_probe_cap_holds_across_instances_and_a_verdict_closes_it() {
    let server = Server::start();
    let mut c = config("probes");
    c.half_open_max_calls = 2;
    c.success_threshold = 2;
    let fleets: Vec<RedisFleet> = (0..5).map(|_| RedisFleet::new(server.client(), c.clone()).unwrap()).collect();
    let all: Vec<&RedisFleet> = fleets.iter().collect();
    for _ in 0..10 {
        fleets[0].record(Outcome::Failure, false);
    }
    settle(&all, || all.iter().all(|f| f.status().state == FleetState::Open));
    std::thread::sleep(Duration::from_millis(320));
    // Everyone asks for probes; the store grants at most two for the epoch.
    let mut probes = Vec::new();
    // Well within the 2 s lease (an expired lease frees its slot for another probe).
    let deadline = Instant::now() + Duration::from_millis(800);
    while Instant::now() < deadline {
        for f in &fleets {
            if let Admission::Probe(p) = f.admit() {
                probes.push((f, p));
            }
            f.sync();
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(probes.len(), 2, "half_open_max_calls probes fleet-wide in the epoch");
    for (f, p) in &probes {
        f.record_probe(*p, Outcome::Success);
    }
    settle(&all, || all.iter().all(|f| f.status().state == FleetState::Closed));
}

#[test]
fn a_verdict_from_an_earlier_epoch_changes_nothing() {
    let server = Server::start();
    let mut c = config("stale");
    c.probe_lease = Duration::from_millis(100);
    let a = RedisFleet::new(server.client(), c.clone()).unwrap();
    for _ in 0..10 {
        a.record(Outcome::Failure, false);
    }
    settle(&[&a], || a.status().state == FleetState::Open);
    std::thread::sleep(Duration::from_millis(320));
    let probe = loop {
        if let Admission::Probe(p) = a.admit() {
            break p;
        }
        a.sync();
        std::thread::sleep(Duration::from_millis(2));
    };
    // The lease expires; a second probe of the same epoch fails and re-opens the fleet.
    std::thread::sleep(Duration::from_millis(150));
    let second = loop {
        if let Admission::Probe(p) = a.admit() {
            break p;
        }
        a.sync();
        std::thread::sleep(Duration::from_millis(2));
    };
    a.record_probe(second, Outcome::Failure);
    settle(&[&a], || a.status().state == FleetState::Open);
    let epoch = a.status().epoch;
    // The first probe's late success belongs to an earlier epoch: the fleet stays open.
    a.record_probe(probe, Outcome::Success);
    let before = a.status().syncs;
    settle(&[&a], || a.status().syncs > before + 2);
    assert_eq!((a.status().state, a.status().epoch), (FleetState::Open, epoch));
}

#[test]
fn the_store_down_is_the_configured_degraded_mode_and_never_fails_a_call() {
    for mode in [StoreFailure::Local, StoreFailure::Open, StoreFailure::Closed] {
        let port = free_port();
        let mut server = Server::on(port);
        let mut c = config(&format!("down-{}", mode.as_str()));
        c.on_store_failure = mode;
        let a = RedisFleet::new(server.client(), c).unwrap();
        settle(&[&a], || a.status().syncs > 0);
        server.stop();
        let began = Instant::now();
        let events = settle(&[&a], || a.status().degraded);
        assert!(events.contains(&FleetEvent::StoreDegraded), "{events:?}");
        assert!(began.elapsed() < Duration::from_secs(2));
        let admitted = matches!(a.admit(), Admission::Admit);
        assert_eq!(admitted, mode != StoreFailure::Open, "{mode:?}");
        let t = Instant::now();
        a.sync();
        assert!(t.elapsed() < Duration::from_millis(400), "a sync against a dead store is bounded");
        let _restarted = Server::on(port);
        let events = settle(&[&a], || !a.status().degraded);
        assert!(events.contains(&FleetEvent::StoreRecovered), "{events:?}");
        assert_eq!(a.admit(), Admission::Admit);
    }
}

#[test]
fn script_flush_falls_back_to_eval_and_a_paused_server_degrades_then_recovers() {
    let server = Server::start();
    let a = RedisFleet::new(server.client(), config("flush")).unwrap();
    settle(&[&a], || a.status().syncs > 0);
    server.command(&["SCRIPT", "FLUSH"]);
    let before = a.status();
    settle(&[&a], || a.status().syncs > before.syncs + 2);
    assert_eq!(a.status().sync_failures, before.sync_failures, "NOSCRIPT is answered with EVAL");
    server.command(&["CLIENT", "PAUSE", "700", "ALL"]);
    let events = settle(&[&a], || a.status().degraded);
    assert!(events.contains(&FleetEvent::StoreDegraded));
    assert_eq!(a.admit(), Admission::Admit, "local mode: the local breaker alone decides");
    settle(&[&a], || !a.status().degraded);
}

#[test]
fn other_options_are_reported_and_never_overwrite_the_store() {
    let server = Server::start();
    let a = RedisFleet::new(server.client(), config("mismatch")).unwrap();
    settle(&[&a], || a.status().syncs > 0);
    let mut other = config("mismatch");
    other.minimum_calls = 99;
    let b = RedisFleet::new(server.client(), other).unwrap();
    let events = settle(&[&b], || b.status().syncs > 0);
    assert!(events.iter().any(|e| matches!(e, FleetEvent::Mismatch { .. })), "{events:?}");
    let stored = server.command(&["HGET", "circuit:{mismatch}", "fp"]);
    assert_eq!(stored, redis::Value::BulkString(a.fleet().config().fingerprint().into_bytes()));
}

#[test]
fn each_instance_sends_about_one_round_trip_per_sync_interval_however_many_calls() {
    let server = Server::start();
    let mut c = config("rate");
    c.sync_interval = Duration::from_millis(50);
    let a = RedisFleet::new(server.client(), c).unwrap();
    let began = Instant::now();
    let mut calls = 0u64;
    while began.elapsed() < Duration::from_millis(1000) {
        for _ in 0..1000 {
            if a.admit() == Admission::Admit {
                a.record(Outcome::Success, false);
                calls += 1;
            }
        }
        a.sync();
    }
    let syncs = a.status().syncs;
    assert!(calls > 100_000, "{calls} calls");
    assert!((15..=25).contains(&syncs), "{syncs} syncs in 1 s at a 50 ms interval");
}

#[test]
fn a_call_runs_only_if_the_local_breaker_and_the_fleet_both_admit_it() {
    use engine::fleet::Refused;
    use engine::{CircuitBreaker, Config, State};
    let server = Server::start();
    let local = |name: &str| CircuitBreaker::new(Config::builder().name(name).failure_threshold(1000).build().unwrap());
    let (breaker_a, breaker_b) = (local("a"), local("b"));
    let a = RedisFleet::new(server.client(), config("both")).unwrap();
    let b = RedisFleet::new(server.client(), config("both")).unwrap();
    for _ in 0..10 {
        let permit = a.allow(&breaker_a).unwrap();
        assert!(a.record_call(&breaker_a, permit, Outcome::Failure).unwrap().counted());
    }
    settle(&[&a, &b], || b.status().state == FleetState::Open);
    assert_eq!(breaker_b.state(), State::Closed, "the local breaker alone would admit");
    match b.allow(&breaker_b) {
        Err(Refused::Fleet { state: FleetState::Open, retry_after: Some(_) }) => {}
        other => panic!("the fleet refuses: {other:?}"),
    }
    assert_eq!(breaker_b.metrics().ignored, 1, "the local permit was given back");
    // A local breaker that is open refuses before the fleet is asked.
    breaker_a.force_open();
    assert!(matches!(a.allow(&breaker_a), Err(Refused::Local(_))));
    // The fleet's probe: after the open time, one instance's call is the probe and closes it.
    // Keep syncing while the open time passes (a silent instance would soon be degraded).
    let until = Instant::now() + Duration::from_millis(320);
    while Instant::now() < until {
        a.sync();
        b.sync();
        std::thread::sleep(Duration::from_millis(5));
    }
    let permit = loop {
        if let Ok(p) = b.allow(&breaker_b) {
            break p;
        }
        b.sync();
        std::thread::sleep(Duration::from_millis(2));
    };
    assert!(permit.is_fleet_probe());
    assert!(b.record_call(&breaker_b, permit, Outcome::Success).unwrap().counted());
    settle(&[&a, &b], || a.status().state == FleetState::Closed && b.status().state == FleetState::Closed);
}

/// Children re-execute this test binary with `CIRCUIT_FLEET_ROLE` set (see the test below).
fn child_role() -> Option<(String, u16)> {
    let role = std::env::var("CIRCUIT_FLEET_ROLE").ok()?;
    let port = std::env::var("CIRCUIT_FLEET_PORT").ok()?.parse().ok()?;
    Some((role, port))
}

#[test]
fn instances_in_separate_processes_learn_of_a_trip_within_a_sync_interval() {
    const TEST: &str = "instances_in_separate_processes_learn_of_a_trip_within_a_sync_interval";
    if let Some((role, port)) = child_role() {
        let client = redis::Client::open(format!("redis://127.0.0.1:{port}/")).unwrap();
        let fleet = RedisFleet::new(client, config("processes")).unwrap();
        settle(&[&fleet], || fleet.status().syncs > 0);
        println!("READY");
        if role == "failer" {
            std::io::stdin().read_line(&mut String::new()).unwrap();
            for _ in 0..10 {
                fleet.record(Outcome::Failure, false);
            }
        }
        let began = Instant::now();
        settle(&[&fleet], || fleet.status().state == FleetState::Open);
        println!("OPEN {}", began.elapsed().as_millis());
        return;
    }
    use std::io::{BufRead, BufReader, Write};
    let server = Server::start();
    let spawn = |role: &str| {
        Command::new(std::env::current_exe().unwrap())
            .args([TEST, "--exact", "--nocapture", "--test-threads=1"])
            .env("CIRCUIT_FLEET_ROLE", role)
            .env("CIRCUIT_FLEET_PORT", server.port.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let mut children: Vec<Child> = vec![spawn("failer"), spawn("watcher"), spawn("watcher")];
    let mut readers: Vec<_> = children.iter_mut().map(|c| BufReader::new(c.stdout.take().unwrap()).lines()).collect();
    let expect = |reader: &mut std::io::Lines<BufReader<std::process::ChildStdout>>, marker: &str| loop {
        let line = reader.next().expect("the child ended early").unwrap();
        if let Some(at) = line.find(marker) {
            return line[at + marker.len()..].trim().to_owned();
        }
    };
    for r in readers.iter_mut() {
        expect(r, "READY");
    }
    writeln!(children[0].stdin.as_mut().unwrap()).unwrap();
    for r in readers.iter_mut() {
        let waited: u64 = expect(r, "OPEN").parse().unwrap();
        assert!(waited < 1_000, "an instance learned of the trip after {waited} ms");
    }
    for mut c in children {
        assert!(c.wait().unwrap().success());
    }
}

/// A store that lost the breaker (a restart without persistence, FLUSHALL, eviction, an expired
/// key) while the instances had seen later epochs: the store starts again past every epoch an
/// instance has seen, closed, so no instance ignores it as older, and the fleet can trip again.
#[test]
fn a_store_that_lost_the_breaker_resumes_past_every_seen_epoch() {
    let server = Server::start();
    let a = RedisFleet::new(server.client(), config_with_long_reset("lost")).unwrap();
    let b = RedisFleet::new(server.client(), config_with_long_reset("lost")).unwrap();
    settle(&[&a, &b], || a.status().syncs > 0 && b.status().syncs > 0);
    for _ in 0..10 {
        assert_eq!(a.admit(), Admission::Admit);
        a.record(Outcome::Failure, false);
    }
    settle(&[&a, &b], || a.status().state == FleetState::Open && b.status().state == FleetState::Open);
    let seen = a.status().epoch;
    assert!(seen >= 1);
    server.command(&["DEL", "circuit:{lost}"]);
    let events = settle(&[&a, &b], || a.status().state == FleetState::Closed && b.status().state == FleetState::Closed);
    assert!(a.status().epoch > seen && b.status().epoch == a.status().epoch, "{:?} / {:?}", a.status(), b.status());
    assert!(
        events
            .iter()
            .any(|e| matches!(e, FleetEvent::Transition { from: FleetState::Open, to: FleetState::Closed, .. }))
    );
    // The deltas count again: the fleet trips once more.
    for _ in 0..10 {
        assert_eq!(b.admit(), Admission::Admit);
        b.record(Outcome::Failure, false);
    }
    settle(&[&a, &b], || a.status().state == FleetState::Open && b.status().state == FleetState::Open);
    // A newcomer (seen epoch 0) still never resets the fleet.
    let newcomer = RedisFleet::new(server.client(), config_with_long_reset("lost")).unwrap();
    settle(&[&newcomer], || newcomer.status().syncs > 0);
    assert_eq!(newcomer.status().state, FleetState::Open);
}

fn config_with_long_reset(name: &str) -> FleetConfig {
    let mut c = config(name);
    c.reset_timeout = Duration::from_secs(60);
    c.max_reset_timeout = Duration::from_secs(60);
    c
}

#[test]
fn a_family_gives_each_member_its_own_fleet_breaker_across_instances() {
    use circuit_redis::RedisFleetSet;
    use engine::fleet::Refused;
    use engine::{Config, Family};
    let server = Server::start();
    let local = || Family::new(Config::builder().name("hosts").failure_threshold(1000).build().unwrap());
    let (family_a, family_b) = (local(), local());
    let a = RedisFleetSet::new(server.client(), config("")).unwrap();
    let b = RedisFleetSet::new(server.client(), config("")).unwrap();
    let down_a = family_a.get("down");
    for _ in 0..10 {
        let permit = a.allow(&down_a).unwrap();
        assert!(a.record_call(&down_a, permit, Outcome::Failure).unwrap().counted());
    }
    let (down_b, up_b) = (family_b.get("down"), family_b.get("up"));
    let permit = b.allow(&up_b).unwrap();
    assert!(b.record_call(&up_b, permit, Outcome::Success).unwrap().counted());
    let deadline = Instant::now() + Duration::from_secs(5);
    while b.status("hosts/down").is_none_or(|s| s.state != FleetState::Open) {
        a.sync();
        b.sync();
        if b.status("hosts/down").is_none() {
            drop(b.fleet("hosts/down")); // instance b has no call on it yet: join it
        }
        assert!(Instant::now() < deadline, "instance b never saw hosts/down open");
        std::thread::sleep(Duration::from_millis(2));
    }
    assert!(matches!(b.allow(&down_b), Err(Refused::Fleet { state: FleetState::Open, .. })));
    let permit = b.allow(&up_b).expect("another member's fleet breaker is closed");
    assert!(b.record_call(&up_b, permit, Outcome::Success).unwrap().counted());
    assert_eq!(b.status("hosts/up").unwrap().state, FleetState::Closed);
    let mut names = b.names();
    names.sort();
    assert_eq!(names, ["hosts/down", "hosts/up"]);
    let mut keys: Vec<String> =
        redis::cmd("KEYS").arg("circuit:*").query(&mut server.client().get_connection().unwrap()).unwrap();
    keys.sort();
    assert_eq!(keys, ["circuit:{hosts/down}", "circuit:{hosts/up}"], "one store key per member");
}
