//! Fault injection against a real `redis-server` (one per test, on a free loopback port, stopped
//! by PID; a stopped server is continued before it is killed). A missing `redis-server` fails the
//! suite. The syncs run on a thread of their own, as a host would run them; the calls run on the
//! test thread, so "a call never blocks on the store" is measured where it matters.
//!
//! Injected: `CLIENT PAUSE`, SIGSTOP/SIGCONT of the server (each degraded mode), kill and restart
//! on the same port, `SCRIPT FLUSH`, and a userspace TCP proxy adding latency above the response
//! timeout or black-holing the traffic (`tc netem` does not work in this sandbox).

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

mod support;

use circuit_redis::RedisFleet;
use engine::fleet::{FleetConfig, FleetEvent, FleetState, Refused, StoreFailure};
use engine::{CircuitBreaker, Config, Outcome};
use support::{Server, free_port};

/// The generous bound of one admit + record on the call path.
const CALL_BOUND: Duration = Duration::from_millis(20);

fn client(port: u16) -> redis::Client {
    redis::Client::open(format!("redis://127.0.0.1:{port}/")).unwrap()
}

fn config(name: &str, mode: StoreFailure) -> FleetConfig {
    let mut c = FleetConfig::new(name);
    c.minimum_calls = 10_000; // the calls here never trip the fleet
    c.reset_timeout = Duration::from_millis(300);
    c.max_reset_timeout = Duration::from_secs(5);
    c.sync_interval = Duration::from_millis(20); // response timeout: 50 ms
    c.max_staleness = Duration::from_millis(250);
    c.on_store_failure = mode;
    c
}

fn local(name: &str) -> CircuitBreaker {
    CircuitBreaker::new(Config::builder().name(name).failure_threshold(1000).build().unwrap())
}

/// A host's sync loop on a thread of its own, collecting the events.
struct Syncer {
    stop: Arc<AtomicBool>,
    events: Arc<Mutex<Vec<FleetEvent>>>,
    handle: Option<JoinHandle<()>>,
}

impl Syncer {
    fn spawn(fleet: &Arc<RedisFleet>) -> Syncer {
        let stop = Arc::new(AtomicBool::new(false));
        let events = Arc::new(Mutex::new(Vec::new()));
        let (f, s, e) = (Arc::clone(fleet), Arc::clone(&stop), Arc::clone(&events));
        let handle = std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                let new = f.sync();
                e.lock().unwrap().extend(new);
                std::thread::sleep(Duration::from_millis(2));
            }
        });
        Syncer { stop, events, handle: Some(handle) }
    }

    fn events(&self) -> Vec<FleetEvent> {
        self.events.lock().unwrap().clone()
    }

    /// Only the store events, in order.
    fn store_events(&self) -> Vec<FleetEvent> {
        self.events()
            .into_iter()
            .filter(|e| matches!(e, FleetEvent::StoreDegraded | FleetEvent::StoreRecovered))
            .collect()
    }
}

impl Drop for Syncer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

/// The call path, on the test thread: counts, the slowest call, and the refusals by kind.
#[derive(Debug, Default)]
struct Calls {
    admitted: u64,
    fleet_refused: u64,
    slowest: Duration,
}

impl Calls {
    /// One admit + record through both levels. Panics on anything the store could have caused
    /// besides the configured mode's refusal.
    fn one(&mut self, fleet: &RedisFleet, breaker: &CircuitBreaker, mode: StoreFailure) {
        let began = Instant::now();
        match fleet.allow(breaker) {
            Ok(permit) => {
                let _recorded = fleet.record_call(breaker, permit, Outcome::Success).expect("recording never fails");
                self.admitted += 1;
            }
            Err(Refused::Fleet { state: FleetState::Open, .. }) if mode == StoreFailure::Open => {
                self.fleet_refused += 1
            }
            Err(other) => panic!("a call failed because of the store ({mode:?}): {other:?}"),
        }
        let took = began.elapsed();
        self.slowest = self.slowest.max(took);
        assert!(took < CALL_BOUND, "a call took {took:?} ({mode:?})");
    }

    /// Calls until `done` holds, within `limit`.
    fn until(
        &mut self,
        fleet: &RedisFleet,
        breaker: &CircuitBreaker,
        mode: StoreFailure,
        limit: Duration,
        what: &str,
        mut done: impl FnMut() -> bool,
    ) {
        let deadline = Instant::now() + limit;
        while !done() {
            assert!(Instant::now() < deadline, "never {what} ({mode:?}); calls {self:?}");
            for _ in 0..50 {
                self.one(fleet, breaker, mode);
            }
            std::thread::sleep(Duration::from_micros(500));
        }
    }
}

/// The common run: healthy, `inject`, the configured degraded mode applies after max_staleness
/// while calls never fail or block, `heal`, StoreRecovered and admits again.
fn degrade_and_recover(
    name: &str,
    mode: StoreFailure,
    port: u16,
    inject: impl FnOnce(),
    heal: impl FnOnce(),
) -> Arc<RedisFleet> {
    let fleet = Arc::new(RedisFleet::new(client(port), config(name, mode)).unwrap());
    let breaker = local(name);
    let syncer = Syncer::spawn(&fleet);
    let mut calls = Calls::default();
    calls.until(&fleet, &breaker, mode, Duration::from_secs(5), "synced", || fleet.status().syncs > 0);
    assert_eq!(calls.fleet_refused, 0);
    inject();
    let injected = Instant::now();
    calls.until(&fleet, &breaker, mode, Duration::from_secs(3), "degraded", || fleet.status().degraded);
    let degraded_after = injected.elapsed();
    assert!(
        degraded_after >= Duration::from_millis(150),
        "degraded only after about max_staleness: {degraded_after:?}"
    );
    // The degraded mode decides now.
    let mut during = Calls::default();
    for _ in 0..200 {
        during.one(&fleet, &breaker, mode);
    }
    match mode {
        StoreFailure::Open => assert_eq!((during.admitted, during.fleet_refused), (0, 200), "open: the fleet rejects"),
        StoreFailure::Closed | StoreFailure::Local => assert_eq!(during.admitted, 200, "{mode:?}: admitted"),
    }
    if mode == StoreFailure::Local {
        // The local breaker alone decides: an open local breaker refuses, the fleet is not asked.
        let open_local = local(&format!("{name}-open"));
        open_local.force_open();
        assert!(matches!(fleet.allow(&open_local), Err(Refused::Local(_))));
    }
    let failures_while_down = fleet.status().sync_failures;
    assert!(failures_while_down > 0, "the syncs failed while the store was unreachable");
    heal();
    calls.until(&fleet, &breaker, mode, Duration::from_secs(5), "recovered", || !fleet.status().degraded);
    // The recovery event is reported after the sync that cleared the flag: give it a moment.
    let deadline = Instant::now() + Duration::from_secs(1);
    while syncer.store_events().len() < 2 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(
        syncer.store_events(),
        vec![FleetEvent::StoreDegraded, FleetEvent::StoreRecovered],
        "degraded then recovered, once each"
    );
    for _ in 0..200 {
        calls.one(&fleet, &breaker, mode);
    }
    assert!(fleet.allow(&breaker).is_ok() || mode == StoreFailure::Open);
    let status = fleet.status();
    assert_eq!(status.state, FleetState::Closed);
    assert!(!status.degraded);
    eprintln!("{name}: degraded after {degraded_after:?}, slowest call {:?}, {:?}", calls.slowest, status);
    drop(syncer);
    fleet
}

#[test]
fn client_pause_degrades_without_blocking_calls_then_recovers() {
    let server = Server::start();
    degrade_and_recover(
        "pause",
        StoreFailure::Local,
        server.port,
        || {
            server.command(&["CLIENT", "PAUSE", "800", "ALL"]);
        },
        || {}, // the pause ends by itself
    );
}

#[test]
fn sigstop_of_the_server_applies_each_degraded_mode_and_sigcont_recovers() {
    for mode in [StoreFailure::Local, StoreFailure::Open, StoreFailure::Closed] {
        let server = Server::start();
        degrade_and_recover(
            &format!("stop-{}", mode.as_str()),
            mode,
            server.port,
            || server.signal("-STOP"),
            || server.signal("-CONT"),
        );
    }
}

#[test]
fn a_killed_and_restarted_store_is_rejoined_without_a_fight() {
    let port = free_port();
    let server = Arc::new(Mutex::new(Some(Server::on(port))));
    let name = "restart";
    let other = Arc::new(RedisFleet::new(client(port), config(name, StoreFailure::Local)).unwrap());
    let other_syncer = Syncer::spawn(&other);
    let (s1, s2) = (Arc::clone(&server), Arc::clone(&server));
    let fleet = degrade_and_recover(
        name,
        StoreFailure::Local,
        port,
        move || {
            if let Some(mut s) = s1.lock().unwrap().take() {
                s.stop();
            }
        },
        move || *s2.lock().unwrap() = Some(Server::on(port)),
    );
    // The next sync re-created the hash; both instances agree on it and nothing flaps.
    let guard = server.lock().unwrap();
    let restarted = guard.as_ref().unwrap();
    let fp = restarted.command(&["HGET", "circuit:{restart}", "fp"]);
    assert_eq!(fp, redis::Value::BulkString(fleet.fleet().config().fingerprint().into_bytes()));
    let deadline = Instant::now() + Duration::from_secs(3);
    while other.status().degraded || other.status().epoch != fleet.status().epoch {
        assert!(Instant::now() < deadline, "the instances disagree: {:?} / {:?}", other.status(), fleet.status());
        fleet.sync();
        std::thread::sleep(Duration::from_millis(5));
    }
    let epoch = fleet.status().epoch;
    let before = (fleet.status().syncs, other.status().syncs);
    while fleet.status().syncs < before.0 + 5 || other.status().syncs < before.1 + 5 {
        assert!(Instant::now() < deadline + Duration::from_secs(2), "syncs stalled");
        fleet.sync();
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!((fleet.status().epoch, other.status().epoch), (epoch, epoch), "no epoch fight after the restart");
    assert_eq!(other.status().state, FleetState::Closed);
    assert!(!other.status().degraded && fleet.status().sync_failures > 0, "{:?}", other.status());
    let events = other_syncer.store_events();
    assert_eq!(events, vec![FleetEvent::StoreDegraded, FleetEvent::StoreRecovered], "{events:?}");
}

#[test]
fn script_flush_falls_back_to_eval_without_a_failed_sync() {
    let server = Server::start();
    let fleet = Arc::new(RedisFleet::new(server.client(), config("flush", StoreFailure::Local)).unwrap());
    let breaker = local("flush");
    let syncer = Syncer::spawn(&fleet);
    let mut calls = Calls::default();
    let mode = StoreFailure::Local;
    calls.until(&fleet, &breaker, mode, Duration::from_secs(5), "synced", || fleet.status().syncs > 0);
    for _ in 0..3 {
        server.command(&["SCRIPT", "FLUSH"]);
        let before = fleet.status();
        calls.until(&fleet, &breaker, mode, Duration::from_secs(3), "synced after the flush", || {
            fleet.status().syncs > before.syncs + 2
        });
        assert_eq!(fleet.status().sync_failures, before.sync_failures, "NOSCRIPT is answered with EVAL");
    }
    assert!(syncer.store_events().is_empty());
    assert_eq!(calls.fleet_refused, 0);
}

/// A userspace TCP proxy in front of the server: `latency_ms` delays every chunk from the client,
/// `black_hole` reads and drops everything in both directions (connections stay open).
struct Proxy {
    port: u16,
    latency_ms: Arc<AtomicU64>,
    black_hole: Arc<AtomicBool>,
}

impl Proxy {
    fn start(upstream: u16) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let latency_ms = Arc::new(AtomicU64::new(0));
        let black_hole = Arc::new(AtomicBool::new(false));
        let (latency, hole) = (Arc::clone(&latency_ms), Arc::clone(&black_hole));
        std::thread::spawn(move || {
            for downstream in listener.incoming() {
                let Ok(downstream) = downstream else { return };
                let Ok(up) = TcpStream::connect(("127.0.0.1", upstream)) else { continue };
                let _ = (downstream.set_nodelay(true), up.set_nodelay(true));
                let (d2, u2) = (downstream.try_clone().unwrap(), up.try_clone().unwrap());
                let (l1, h1, h2) = (Arc::clone(&latency), Arc::clone(&hole), Arc::clone(&hole));
                std::thread::spawn(move || pump(downstream, up, Some(l1), h1));
                std::thread::spawn(move || pump(u2, d2, None, h2));
            }
        });
        Proxy { port, latency_ms, black_hole }
    }
}

fn pump(mut from: TcpStream, mut to: TcpStream, latency: Option<Arc<AtomicU64>>, hole: Arc<AtomicBool>) {
    let mut buf = [0u8; 16 * 1024];
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if hole.load(Ordering::Relaxed) {
            continue;
        }
        if let Some(l) = &latency {
            let ms = l.load(Ordering::Relaxed);
            if ms > 0 {
                std::thread::sleep(Duration::from_millis(ms));
            }
        }
        if to.write_all(&buf[..n]).is_err() {
            break;
        }
    }
    let _ = to.shutdown(Shutdown::Both);
    let _ = from.shutdown(Shutdown::Both);
}

#[test]
fn proxy_latency_above_the_response_timeout_degrades_and_recovers() {
    let server = Server::start();
    let proxy = Proxy::start(server.port);
    for mode in [StoreFailure::Local, StoreFailure::Open] {
        degrade_and_recover(
            &format!("latency-{}", mode.as_str()),
            mode,
            proxy.port,
            || proxy.latency_ms.store(120, Ordering::Relaxed), // the response timeout is 50 ms
            || proxy.latency_ms.store(0, Ordering::Relaxed),
        );
    }
}

#[test]
fn a_black_holing_proxy_degrades_and_recovers() {
    let server = Server::start();
    let proxy = Proxy::start(server.port);
    for mode in [StoreFailure::Closed, StoreFailure::Open] {
        degrade_and_recover(
            &format!("hole-{}", mode.as_str()),
            mode,
            proxy.port,
            || proxy.black_hole.store(true, Ordering::Relaxed),
            || proxy.black_hole.store(false, Ordering::Relaxed),
        );
    }
}
