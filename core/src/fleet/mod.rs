//! Fleet breakers (SEMANTICS §13, docs/fleet.md): the instance side of a breaker shared by every
//! instance of a service through a store (Redis), without I/O.
//!
//! A call runs only if its local breaker (unchanged) and the fleet breaker both admit it. The fleet
//! breaker's state lives in the store and moves only inside one atomic script ([`SCRIPT`]), which
//! adds each instance's outcome deltas to a time window, evaluates the fleet rule (failure and
//! slow-call rates over the window, summed across instances), makes transitions with
//! `epoch += 1`, and grants half-open probes as leases so the fleet-wide probe cap is exact. This
//! module never touches the network: [`Fleet::poll`] says what to send when a sync is due,
//! [`Fleet::complete`] applies what came back. The host (a binding's event loop, goroutine or
//! thread) runs the round trip; nothing of it happens inside [`Fleet::admit`] or a record.
//!
//! Time: the script reads the store's clock and answers with *remaining* durations, which this
//! side turns into instants of its own monotonic clock on receipt. No wall-clock value crosses
//! hosts.

mod options;
mod set;
mod sha1;
mod tally;
mod wire;

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use crate::state::Outcome;

pub use options::{FLEET_OPTIONS, fleet_option_info};
pub use set::{DEFAULT_FLEET_IDLE_TTL, FleetSet};
pub use wire::{Reply, SyncRequest};

/// The fleet state machine's script (Lua, for `EVALSHA`/`EVAL`).
pub const SCRIPT: &str = include_str!("script.lua");

/// The SHA-1 of [`SCRIPT`], hex, as `EVALSHA` wants it (and `SCRIPT LOAD` returns).
pub fn script_sha1() -> String {
    sha1::hex(SCRIPT.as_bytes())
}

/// What the fleet does when the store cannot be reached for longer than `max_staleness`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreFailure {
    /// The local breaker alone decides (the default).
    Local,
    /// Every call is rejected by the fleet level.
    Open,
    /// Every call is admitted by the fleet level.
    Closed,
}

impl StoreFailure {
    /// Parses `local`, `open` or `closed`.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "local" => Some(Self::Local),
            "open" => Some(Self::Open),
            "closed" => Some(Self::Closed),
            _ => None,
        }
    }

    /// The spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Local => "local",
            Self::Open => "open",
            Self::Closed => "closed",
        }
    }
}

/// The fleet breaker's options (docs/fleet.md, "The fleet rule").
#[derive(Debug, Clone, PartialEq)]
pub struct FleetConfig {
    /// The breaker's name (the store key is `circuit:{name}`, a cluster hash tag).
    pub name: String,
    /// The window the rates are measured over (default 10 s).
    pub window: Duration,
    /// Buckets of the window (default 10).
    pub buckets: u32,
    /// Calls the window must hold, summed over the fleet, before a rate can trip it (default 20).
    pub minimum_calls: u32,
    /// Failure rate over the fleet's window that opens it (default 0.5; `None`: no failure rule).
    pub failure_rate_threshold: Option<f64>,
    /// Slow-call rate that opens it (default none).
    pub slow_call_rate_threshold: Option<f64>,
    /// First open duration (default 30 s), grown by `backoff_multiplier` per re-opening up to
    /// `max_reset_timeout` (default 300 s).
    pub reset_timeout: Duration,
    /// Growth of the open duration per re-opening from half-open (default 2).
    pub backoff_multiplier: f64,
    /// Cap of the open duration.
    pub max_reset_timeout: Duration,
    /// Probes admitted fleet-wide per half-open epoch (default 1).
    pub half_open_max_calls: u32,
    /// Probe successes that close it (default 1, at most `half_open_max_calls`).
    pub success_threshold: u32,
    /// How long a granted probe may take before its slot is given back (default 10 s).
    pub probe_lease: Duration,
    /// How often an instance syncs (default 250 ms), and at once on a would-trip or a verdict.
    pub sync_interval: Duration,
    /// What decides when the store is unreachable (default [`StoreFailure::Local`]).
    pub on_store_failure: StoreFailure,
    /// How old the last successful sync may be before the degraded mode applies (default 2 s).
    pub max_staleness: Duration,
    /// Expiry of an abandoned breaker's key in the store (default 24 h).
    pub key_expiry: Duration,
}

impl FleetConfig {
    /// The defaults for a breaker named `name`.
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            window: Duration::from_secs(10),
            buckets: 10,
            minimum_calls: 20,
            failure_rate_threshold: Some(0.5),
            slow_call_rate_threshold: None,
            reset_timeout: Duration::from_secs(30),
            backoff_multiplier: 2.0,
            max_reset_timeout: Duration::from_secs(300),
            half_open_max_calls: 1,
            success_threshold: 1,
            probe_lease: Duration::from_secs(10),
            sync_interval: Duration::from_millis(250),
            on_store_failure: StoreFailure::Local,
            max_staleness: Duration::from_secs(2),
            key_expiry: Duration::from_secs(86_400),
        }
    }

    /// Checks every option; the error names the option.
    pub fn validate(&self) -> Result<(), crate::ConfigError> {
        use crate::ConfigError as E;
        let rate = |name: &'static str, v: Option<f64>| match v {
            Some(r) if !(r > 0.0 && r <= 1.0) => Err(E::new(name, "must be in (0, 1]")),
            _ => Ok(()),
        };
        if self.name.is_empty() || self.name.len() > 200 || self.name.contains(['{', '}']) {
            return Err(E::new("name", "a fleet breaker needs a name of 1 to 200 bytes without braces"));
        }
        if self.buckets == 0 || self.buckets > 1000 {
            return Err(E::new("buckets", "must be 1 to 1000"));
        }
        let ms = |d: Duration| d.as_millis();
        if ms(self.window) < u128::from(self.buckets) {
            return Err(E::new("window", "must be at least one millisecond per bucket"));
        }
        rate("failure_rate_threshold", self.failure_rate_threshold)?;
        rate("slow_call_rate_threshold", self.slow_call_rate_threshold)?;
        if self.failure_rate_threshold.is_none() && self.slow_call_rate_threshold.is_none() {
            return Err(E::new("failure_rate_threshold", "a fleet breaker needs a failure or slow-call rate rule"));
        }
        if ms(self.reset_timeout) == 0 || self.max_reset_timeout < self.reset_timeout {
            return Err(E::new("reset_timeout", "must be at least 1 ms and at most max_reset_timeout"));
        }
        if !(self.backoff_multiplier.is_finite() && self.backoff_multiplier >= 1.0) {
            return Err(E::new("backoff_multiplier", "must be a finite number >= 1"));
        }
        if self.half_open_max_calls == 0 || self.half_open_max_calls > 10_000 {
            return Err(E::new("half_open_max_calls", "must be 1 to 10,000"));
        }
        if self.success_threshold == 0 || self.success_threshold > self.half_open_max_calls {
            return Err(E::new("success_threshold", "must be 1 to half_open_max_calls"));
        }
        if ms(self.probe_lease) == 0 {
            return Err(E::new("probe_lease", "must be at least 1 ms"));
        }
        if ms(self.sync_interval) == 0 || self.max_staleness < self.sync_interval {
            return Err(E::new("sync_interval", "must be at least 1 ms and at most max_staleness"));
        }
        if ms(self.key_expiry) < ms(self.max_reset_timeout) {
            return Err(E::new("key_expiry", "must be at least max_reset_timeout"));
        }
        Ok(())
    }

    /// The store key: `circuit:{name}` (the braces make it a cluster hash tag).
    pub fn key(&self) -> String {
        format!("circuit:{{{}}}", self.name)
    }

    /// The options every instance must agree on, as text (what the fingerprint hashes).
    pub fn canonical(&self) -> String {
        let r = |v: Option<f64>| v.map_or("-".to_owned(), |v| format!("{v}"));
        format!(
            "window={}ms;buckets={};minimum_calls={};failure_rate_threshold={};slow_call_rate_threshold={};\
             reset_timeout={}ms;backoff_multiplier={};max_reset_timeout={}ms;half_open_max_calls={};\
             success_threshold={};probe_lease={}ms",
            self.window.as_millis(),
            self.buckets,
            self.minimum_calls,
            r(self.failure_rate_threshold),
            r(self.slow_call_rate_threshold),
            self.reset_timeout.as_millis(),
            self.backoff_multiplier,
            self.max_reset_timeout.as_millis(),
            self.half_open_max_calls,
            self.success_threshold,
            self.probe_lease.as_millis(),
        )
    }

    /// A short hash of [`Self::canonical`], stored with the breaker: an instance with other options
    /// is told so ([`FleetEvent::Mismatch`]) and never overwrites the store.
    pub fn fingerprint(&self) -> String {
        sha1::hex(self.canonical().as_bytes())[..16].to_owned()
    }
}

/// The fleet breaker's state, as last learned from the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FleetState {
    /// Admits every call the local breaker admits.
    Closed,
    /// Rejects until the open duration has passed (then the store moves it to half-open).
    Open,
    /// Admits only calls holding a probe lease granted by the store.
    HalfOpen,
}

impl FleetState {
    fn parse(text: &str) -> Option<Self> {
        match text {
            "closed" => Some(Self::Closed),
            "open" => Some(Self::Open),
            "half_open" => Some(Self::HalfOpen),
            _ => None,
        }
    }

    /// The spelling (as in every binding).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Closed => "closed",
            Self::Open => "open",
            Self::HalfOpen => "half_open",
        }
    }
}

/// A probe lease granted by the store, held by one call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FleetProbe {
    epoch: u64,
    /// The store's lease ids start at 1: the niche keeps `Option<FleetProbe>` two words.
    id: std::num::NonZeroU64,
}

/// The fleet level's answer to a call the local breaker admitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// Run the call; record its outcome with [`Fleet::record`].
    Admit,
    /// Run the call as the fleet's probe; record it with [`Fleet::record_probe`].
    Probe(FleetProbe),
    /// Do not run it: the fleet is open (`retry_after` known) or every probe lease is taken.
    Reject {
        /// The fleet's state.
        state: FleetState,
        /// Time until the fleet may admit a probe, when open.
        retry_after: Option<Duration>,
    },
}

/// Something the host should tell its listeners or logs about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FleetEvent {
    /// The fleet breaker moved (learned at a sync).
    Transition {
        /// The state left.
        from: FleetState,
        /// The state entered.
        to: FleetState,
        /// The store's epoch after the move.
        epoch: u64,
    },
    /// The store has not answered for longer than `max_staleness`: the degraded mode decides.
    StoreDegraded,
    /// The store answered again after a degraded period.
    StoreRecovered,
    /// The store holds this breaker with other options (its fingerprint); nothing was written.
    Mismatch {
        /// The stored fingerprint.
        stored: String,
    },
}

/// A snapshot of the fleet level for metrics.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FleetStatus {
    /// The state as last learned.
    pub state: FleetState,
    /// The store's epoch as last learned.
    pub epoch: u64,
    /// Whether the degraded mode decides now.
    pub degraded: bool,
    /// Time since the last successful sync (`None`: never synced).
    pub staleness: Option<Duration>,
    /// Syncs completed and failed, lifetime.
    pub syncs: u64,
    /// Syncs that failed (store error or time-out), lifetime.
    pub sync_failures: u64,
}

#[derive(Debug)]
struct View {
    state: FleetState,
    epoch: u64,
    /// Local instant at which the fleet's open duration ends.
    open_until: u64,
    /// Probe leases granted and not yet handed to a call.
    probes: Vec<FleetProbe>,
    /// Probe ids asked for and not yet granted.
    wanted: u32,
    verdicts: Vec<(FleetProbe, Outcome)>,
    in_flight: Option<(Vec<(FleetProbe, Outcome)>, u64)>,
    next_sync_at: u64,
    last_ok: Option<u64>,
    created_at: u64,
    degraded: bool,
    failures_in_row: u32,
    window_calls: u64,
    /// The outcome totals as of the last sync sent: `(calls, failures, slow)`.
    sent: [u64; 3],
    /// The attached breaker's outcome totals ([`Fleet::attach`]) when it was attached.
    source_base: [u64; 3],
    /// Outcomes of fleet probes the attached breaker counted (their verdicts travel apart).
    probe_counted: [u64; 3],
    window_failures: u64,
    syncs: u64,
    sync_failures: u64,
    mismatch: bool,
    /// Whether `StoreDegraded` was reported (and `StoreRecovered` not yet).
    announced: bool,
    jitter: u64,
}

/// [`Fleet::gate`] value that sends every admission through the lock (a gate deadline is never
/// 0: it is a sync's instant plus `max_staleness`).
const GATE_SHUT: u64 = 0;

/// One instance's side of a fleet breaker. `Send + Sync`.
#[derive(Debug)]
pub struct Fleet {
    config: FleetConfig,
    key: String,
    fingerprint: String,
    /// This instance's outcome totals (calls, failures, slow), monotonic, in per-thread lines
    /// ([`tally`]): a thread with a slot of its own records with a relaxed load and store at a
    /// fixed address. A sync sends the totals' growth since the last one.
    outcomes: tally::Tally,
    /// Set when a sync should go out at once (a would-trip, a verdict, a wanted probe).
    urgent: AtomicBool,
    /// The gate: while it is not [`GATE_SHUT`], every call the local breaker admits before this
    /// local instant is admitted here without the lock (`u64::MAX`: for ever, until a sync or
    /// a staleness check shuts it). One word, so the closed path makes one load.
    gate: AtomicU64,
    /// The breaker whose own counters feed this fleet's deltas ([`Self::attach`]), and its
    /// address for the record path's one comparison (0: none).
    source: OnceLock<Arc<crate::CircuitBreaker>>,
    source_addr: AtomicUsize,
    /// The attached breaker's address while the gate is open for ever, 0 otherwise: the closed
    /// path's one load and comparison answers both whether the gate is open and whether the
    /// breaker is the attached one (whose permits need nothing more from this level).
    fast_gate: AtomicUsize,
    view: Mutex<View>,
}

impl Fleet {
    /// An instance of the fleet breaker `config` (validated), created at local instant `now`.
    pub fn new(config: FleetConfig, now: u64) -> Result<Self, crate::ConfigError> {
        config.validate()?;
        let staleness = nanos(config.max_staleness);
        Ok(Self {
            key: config.key(),
            fingerprint: config.fingerprint(),
            outcomes: tally::Tally::new(),
            urgent: AtomicBool::new(true),
            gate: AtomicU64::new(match config.on_store_failure {
                StoreFailure::Open => now.saturating_add(staleness),
                StoreFailure::Local | StoreFailure::Closed => u64::MAX,
            }),
            view: Mutex::new(View {
                state: FleetState::Closed,
                epoch: 0,
                open_until: 0,
                probes: Vec::new(),
                wanted: 0,
                verdicts: Vec::new(),
                in_flight: None,
                next_sync_at: now,
                last_ok: None,
                created_at: now,
                degraded: false,
                failures_in_row: 0,
                window_calls: 0,
                sent: [0; 3],
                source_base: [0; 3],
                probe_counted: [0; 3],
                window_failures: 0,
                syncs: 0,
                sync_failures: 0,
                mismatch: false,
                announced: false,
                jitter: 0x9E37_79B9_7F4A_7C15 ^ now,
            }),
            source: OnceLock::new(),
            source_addr: AtomicUsize::new(0),
            fast_gate: AtomicUsize::new(0),
            config,
        })
    }

    /// Feeds this fleet level's outcome deltas from `breaker`'s own lifetime counters, which its
    /// record path keeps anyway, instead of a tally of the fleet's own: a closed-state call through
    /// [`Self::record_call`] then adds nothing to the local breaker's record but one comparison.
    /// Attach before the first call, with a breaker whose every call goes through this fleet's
    /// [`Self::allow_call`] and [`Self::record_call`] (the bindings attach the breaker a fleet is
    /// configured on); record through those, not [`Self::record`], whose outcomes the breaker's
    /// counters would count again. Returns `false`, and the fleet keeps its tally for every
    /// breaker, when it is already attached to another breaker or `breaker` is shared by
    /// processes (`crate::host`). The fleet holds `breaker` until it is dropped: one breaker's
    /// memory per fleet at most, kept so that no outcome of it is lost.
    pub fn attach(&self, breaker: &Arc<crate::CircuitBreaker>) -> bool {
        let mut v = self.view();
        if let Some(attached) = self.source.get() {
            return Arc::ptr_eq(attached, breaker);
        }
        // A shared breaker's own counts start again in a forked child (a new process entry):
        // its fleet keeps the tally.
        if breaker.is_shared() {
            return false;
        }
        v.source_base = breaker.fleet_outcomes();
        let _ = self.source.set(Arc::clone(breaker));
        self.source_addr.store(Arc::as_ptr(breaker) as usize, Ordering::Release);
        self.set_gate(&v, self.gate.load(Ordering::Acquire));
        true
    }

    /// Opens the gate until local instant `until` ([`GATE_SHUT`]: shuts it), under the view's
    /// lock. The fast gate closes first and opens last, so it is never open for a shut gate
    /// longer than a call admitted just before the change takes.
    fn set_gate(&self, _locked: &View, until: u64) {
        let fast = if until == u64::MAX { self.source_addr.load(Ordering::Relaxed) } else { 0 };
        if fast == 0 {
            self.fast_gate.store(0, Ordering::Release);
        }
        self.gate.store(until, Ordering::Release);
        if fast != 0 {
            self.fast_gate.store(fast, Ordering::Release);
        }
    }

    /// Whether `breaker` is the attached one and the gate is open for ever ([`Self::fast_gate`]).
    #[inline(always)]
    fn owns_fast_gate(&self, breaker: &crate::CircuitBreaker) -> bool {
        self.fast_gate.load(Ordering::Acquire) == std::ptr::from_ref(breaker) as usize
    }

    /// Whether `breaker` is the attached one (its counters feed the deltas).
    #[inline(always)]
    fn fed_by(&self, breaker: &crate::CircuitBreaker) -> bool {
        self.source_addr.load(Ordering::Relaxed) == std::ptr::from_ref(breaker) as usize
    }

    /// This instance's outcome totals `[calls, failures, slow]`: the tally's, plus what the
    /// attached breaker counted since it was attached, less its fleet probes. Under the view's
    /// lock, so a probe outcome in `probe_counted` is in the breaker's counters as read here.
    fn totals(&self, v: &View) -> [u64; 3] {
        let tally = self.outcomes.totals();
        let Some(breaker) = self.source.get() else { return tally };
        let now = breaker.fleet_outcomes();
        [0, 1, 2].map(|i| {
            let fed = now[i].saturating_sub(v.source_base[i]).saturating_sub(v.probe_counted[i]);
            tally[i].wrapping_add(fed)
        })
    }

    /// The options.
    pub fn config(&self) -> &FleetConfig {
        &self.config
    }

    fn view(&self) -> std::sync::MutexGuard<'_, View> {
        self.view.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The fleet level's decision for a call the local breaker admitted, at local instant `now`.
    /// Lock-free while the fleet is closed and the last sync is fresh.
    #[inline]
    pub fn admit(&self, now: u64) -> Admission {
        self.admit_lazy(|| now)
    }

    /// [`Self::admit`] reading the local clock only when the answer depends on it. While the
    /// fleet is closed (and the options match), a call is admitted with two atomic loads and no
    /// clock read, unless `on_store_failure` is `open`: in the `local` and `closed` modes a stale
    /// store admits too, so freshness does not change the answer; in the `open` mode it does,
    /// and the closed path reads the clock once.
    #[inline]
    pub fn admit_lazy(&self, now: impl FnOnce() -> u64) -> Admission {
        let until = self.gate.load(Ordering::Acquire);
        if until == u64::MAX {
            return Admission::Admit;
        }
        let now = now();
        if now < until {
            return Admission::Admit;
        }
        self.admit_slow(now)
    }

    /// Until when (local instant) an open gate holds without a newer sync: for ever in the modes
    /// where a stale store admits as well.
    fn gate_deadline(&self, last_ok: u64) -> u64 {
        match self.config.on_store_failure {
            StoreFailure::Open => last_ok.saturating_add(nanos(self.config.max_staleness)),
            StoreFailure::Local | StoreFailure::Closed => u64::MAX,
        }
    }

    fn admit_slow(&self, now: u64) -> Admission {
        let mut v = self.view();
        self.refresh_degraded(&mut v, now);
        if v.degraded || v.mismatch {
            return match self.config.on_store_failure {
                StoreFailure::Open => Admission::Reject { state: FleetState::Open, retry_after: None },
                StoreFailure::Local | StoreFailure::Closed => Admission::Admit,
            };
        }
        match v.state {
            FleetState::Closed => Admission::Admit,
            FleetState::Open => {
                if now >= v.open_until {
                    // The store moves it to half-open at the next sync: ask for a probe now.
                    v.wanted = v.wanted.max(1);
                    self.urgent.store(true, Ordering::Release);
                }
                Admission::Reject {
                    state: FleetState::Open,
                    retry_after: Some(Duration::from_nanos(v.open_until.saturating_sub(now))),
                }
            }
            FleetState::HalfOpen => match v.probes.pop() {
                Some(probe) => Admission::Probe(probe),
                None => {
                    v.wanted = v.wanted.saturating_add(1).min(self.config.half_open_max_calls);
                    self.urgent.store(true, Ordering::Release);
                    Admission::Reject { state: FleetState::HalfOpen, retry_after: None }
                }
            },
        }
    }

    /// Records the outcome of a call admitted with [`Admission::Admit`] (`slow`: as the local
    /// breaker classified it). Lock-free; a failure that might trip the fleet asks for a sync now.
    #[inline]
    pub fn record(&self, outcome: Outcome, slow: bool) {
        self.record_on(crate::host::ThreadSlot::current(), outcome, slow);
    }

    /// [`Self::record`] with the calling thread's [`crate::host::ThreadSlot`] already looked up.
    #[inline(always)]
    pub fn record_on(&self, slot: crate::host::ThreadSlot, outcome: Outcome, slow: bool) {
        if outcome == Outcome::Ignored {
            return;
        }
        let slot = slot.get();
        self.outcomes.add(slot, tally::Kind::Calls, 1);
        if slow {
            self.outcomes.add(slot, tally::Kind::Slow, 1);
        }
        if outcome == Outcome::Failure {
            self.outcomes.add(slot, tally::Kind::Failures, 1);
            self.check_would_trip();
        }
    }

    /// Counts `n` successes of ordinary (not probe, not slow) permits at once, as `n` calls of
    /// [`Self::record_on`] would: for a binding that holds trivial successes back and hands them
    /// over in bulk (the Node binding, with [`crate::CircuitBreaker::record_successes`]).
    #[inline]
    pub fn record_successes_on(&self, slot: crate::host::ThreadSlot, n: u32) {
        self.outcomes.add(slot.get(), tally::Kind::Calls, u64::from(n));
    }

    /// [`Self::record_successes_on`] after `breaker` recorded the `n` successes and counted
    /// `counted` of them ([`crate::CircuitBreaker::record_successes_on`]): an attached breaker's
    /// counters hold the counted ones already, so only the stale rest goes to the tally.
    #[inline]
    pub fn record_successes_after(
        &self,
        breaker: &crate::CircuitBreaker,
        slot: crate::host::ThreadSlot,
        n: u32,
        counted: u32,
    ) {
        let n = if self.fed_by(breaker) { n.saturating_sub(counted) } else { n };
        if n != 0 {
            self.record_successes_on(slot, n);
        }
    }

    #[cold]
    fn check_would_trip(&self) {
        let Some(rate) = self.config.failure_rate_threshold else { return };
        let v = self.view();
        let [calls, failures, _] = self.totals(&v);
        let total = v.window_calls + calls.saturating_sub(v.sent[0]);
        let failed = v.window_failures + failures.saturating_sub(v.sent[1]);
        if total >= u64::from(self.config.minimum_calls) && failed as f64 / total as f64 >= rate {
            self.urgent.store(true, Ordering::Release);
        }
    }

    /// Records a probe's outcome; the verdict goes out at once with the next sync.
    pub fn record_probe(&self, probe: FleetProbe, outcome: Outcome) {
        self.view().verdicts.push((probe, outcome));
        self.urgent.store(true, Ordering::Release);
    }

    /// What to send to the store now, if a sync is due at local instant `now` (none while one is
    /// in flight). The host runs it (`EVALSHA` [`script_sha1`] with [`SyncRequest::keys`] and
    /// [`SyncRequest::args`], falling back to `EVAL` [`SCRIPT`] on `NOSCRIPT`) and hands the reply to
    /// [`Self::complete`], with no lock held.
    pub fn poll(&self, now: u64) -> Option<SyncRequest> {
        let mut v = self.view();
        if v.in_flight.is_some() {
            return None;
        }
        let urgent = self.urgent.load(Ordering::Acquire);
        if now < v.next_sync_at && !(urgent && v.failures_in_row == 0) {
            return None;
        }
        self.urgent.store(false, Ordering::Release);
        let totals = self.totals(&v);
        let [calls, failures, slow] = [0, 1, 2].map(|i| totals[i].saturating_sub(v.sent[i]));
        // Never back: a fleet probe's outcome is taken out of the attached breaker's totals just
        // before the breaker counts it (`record_fed_probe`), a dip that must not be sent again.
        for (sent, total) in v.sent.iter_mut().zip(totals) {
            *sent = (*sent).max(total);
        }
        let verdicts = std::mem::take(&mut v.verdicts);
        let want = if v.state == FleetState::Open && now < v.open_until { 0 } else { v.wanted };
        let request = SyncRequest::new(
            &self.key,
            &self.config,
            &self.fingerprint,
            v.epoch,
            [calls, failures, slow],
            want,
            &verdicts,
        );
        v.in_flight = Some((verdicts, now));
        Some(request)
    }

    /// Applies the store's reply to the request [`Self::poll`] gave at local instant `now`
    /// (`Err` for a store error or a time-out: the sync's deltas and verdicts are dropped, never
    /// counted twice). Returns what happened, for the host's listeners.
    pub fn complete(&self, now: u64, reply: Result<Vec<Reply>, String>) -> Vec<FleetEvent> {
        let mut events = Vec::new();
        let mut v = self.view();
        let Some((_sent, _at)) = v.in_flight.take() else { return events };
        v.syncs += 1;
        match reply.and_then(|r| wire::parse(&r)) {
            Ok(wire::Parsed::Ok { epoch, state, open_remaining_ms, window_calls, window_failures, grants, .. }) => {
                let state = FleetState::parse(&state).unwrap_or(FleetState::Closed);
                // A degraded period ends here. It is reported as a pair even when no host call
                // came in time to announce it (the mode decided calls all the same).
                self.refresh_degraded(&mut v, now);
                if v.degraded && !v.announced {
                    events.push(FleetEvent::StoreDegraded);
                    v.announced = true;
                }
                if v.announced {
                    events.push(FleetEvent::StoreRecovered);
                    v.announced = false;
                }
                v.degraded = false;
                v.mismatch = false;
                v.failures_in_row = 0;
                v.last_ok = Some(now);
                if (state, epoch) != (v.state, v.epoch) && epoch >= v.epoch {
                    if state != v.state {
                        events.push(FleetEvent::Transition { from: v.state, to: state, epoch });
                    }
                    v.probes.clear();
                }
                if epoch >= v.epoch {
                    v.state = state;
                    v.epoch = epoch;
                }
                v.open_until = now.saturating_add(open_remaining_ms.saturating_mul(1_000_000));
                v.window_calls = window_calls;
                v.window_failures = window_failures;
                // A lease id 0 is never granted; one would expire unused in the store.
                for id in grants.into_iter().filter_map(std::num::NonZeroU64::new) {
                    v.probes.push(FleetProbe { epoch, id });
                }
                v.wanted = v.wanted.saturating_sub(v.probes.len() as u32);
                v.next_sync_at = now.saturating_add(nanos(self.config.sync_interval));
            }
            Ok(wire::Parsed::Mismatch { stored }) => {
                if !v.mismatch {
                    events.push(FleetEvent::Mismatch { stored });
                }
                v.mismatch = true;
                v.next_sync_at = now.saturating_add(nanos(self.config.max_staleness));
            }
            Err(_) => {
                v.sync_failures += 1;
                v.failures_in_row = v.failures_in_row.saturating_add(1);
                let backoff = self.backoff(&mut v);
                v.next_sync_at = now.saturating_add(backoff);
            }
        }
        self.refresh_degraded(&mut v, now);
        if v.degraded && !v.announced {
            events.push(FleetEvent::StoreDegraded);
            v.announced = true;
        }
        let open_gate = !v.mismatch && !v.degraded && v.state == FleetState::Closed;
        let until = self.gate_deadline(v.last_ok.unwrap_or(v.created_at));
        self.set_gate(&v, if open_gate { until } else { GATE_SHUT });
        events
    }

    /// What changed without a sync at local instant `now`: the store became stale
    /// ([`FleetEvent::StoreDegraded`], once). Hosts call it when [`Self::poll`] has nothing to send.
    pub fn events(&self, now: u64) -> Vec<FleetEvent> {
        let mut v = self.view();
        self.refresh_degraded(&mut v, now);
        if v.degraded && !v.announced {
            v.announced = true;
            return vec![FleetEvent::StoreDegraded];
        }
        Vec::new()
    }

    /// Jittered exponential reconnect delay: sync_interval * 2^(failures-1), at most
    /// max_staleness, times a factor in [0.5, 1).
    fn backoff(&self, v: &mut View) -> u64 {
        let base = nanos(self.config.sync_interval);
        let grown = base.saturating_mul(1u64 << v.failures_in_row.saturating_sub(1).min(20));
        let capped = grown.min(nanos(self.config.max_staleness));
        v.jitter ^= v.jitter << 13;
        v.jitter ^= v.jitter >> 7;
        v.jitter ^= v.jitter << 17;
        let factor = 0.5 + (v.jitter >> 11) as f64 / (1u64 << 53) as f64 / 2.0;
        (capped as f64 * factor) as u64
    }

    fn refresh_degraded(&self, v: &mut View, now: u64) {
        let since = v.last_ok.unwrap_or(v.created_at);
        v.degraded = now.saturating_sub(since) > nanos(self.config.max_staleness);
        if v.degraded {
            let open = self.config.on_store_failure != StoreFailure::Open;
            self.set_gate(v, if open { u64::MAX } else { GATE_SHUT });
        }
    }

    /// Whether forgetting this instance's side loses nothing: closed, every outcome sent and its
    /// sync answered, no probe granted, wanted or awaiting its verdict. ([`FleetSet::sweep`].)
    pub fn is_idle(&self) -> bool {
        let v = self.view();
        let totals = self.totals(&v);
        v.state == FleetState::Closed
            && v.in_flight.is_none()
            && v.probes.is_empty()
            && v.wanted == 0
            && v.verdicts.is_empty()
            && !self.urgent.load(Ordering::Acquire)
            && totals.iter().zip(v.sent).all(|(&total, sent)| total <= sent)
    }

    /// The fleet level's state for metrics, at local instant `now`.
    pub fn status(&self, now: u64) -> FleetStatus {
        let mut v = self.view();
        self.refresh_degraded(&mut v, now);
        FleetStatus {
            state: v.state,
            epoch: v.epoch,
            degraded: v.degraded,
            staleness: v.last_ok.map(|t| Duration::from_nanos(now.saturating_sub(t))),
            syncs: v.syncs,
            sync_failures: v.sync_failures,
        }
    }
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// A call admitted by both levels: the local breaker's permit, and the fleet probe lease if the
/// call is the fleet's probe. Record it with [`Fleet::record_call`].
///
/// The permit is kept *carried*: a fleet probe's, and any permit of a breaker that is not the
/// fleet's attached one ([`Fleet::attach`]), has its ticket marked so that the breaker's inlined
/// record paths leave its outcome to the fleet. [`Self::local`] is the breaker's permit as issued;
/// hosts that keep permits as plain data rebuild them with [`Fleet::permit_from_parts`], from
/// either form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FleetPermit {
    carried: crate::RawPermit,
    probe: Option<FleetProbe>,
}

impl FleetPermit {
    /// The local breaker's permit, as the breaker issued it.
    pub fn local(&self) -> crate::RawPermit {
        self.carried.unmarked()
    }

    /// The local part as carried (its ticket possibly marked), for hosts that keep permits as
    /// plain data ([`crate::RawPermit::to_parts`]) and record its closed path with
    /// [`Fleet::record_fast_on`]; [`Fleet::permit_from_parts`] takes it back too.
    pub fn carried(&self) -> crate::RawPermit {
        self.carried
    }

    /// Whether the local permit is a half-open probe of the local breaker (`local().is_probe()`,
    /// without unmarking: a ticket is no probe's exactly when its low 31 bits are all set).
    #[inline]
    pub fn is_local_probe(&self) -> bool {
        self.carried.to_parts().2 | crate::permit::TICKET_MARK != crate::RawPermit::NO_TICKET
    }

    /// Whether the call is the fleet's probe (it holds a lease granted by the store).
    pub fn is_fleet_probe(&self) -> bool {
        self.probe.is_some()
    }

    /// The fleet probe lease as `(epoch, id)`, for hosts that carry permits as plain data (the
    /// C ABI). The store checks both at the verdict, so a forged pair is a stale verdict.
    pub fn probe_parts(&self) -> Option<(u64, u64)> {
        self.probe.map(|p| (p.epoch, p.id.get()))
    }
}

fn lease_of(parts: Option<(u64, u64)>) -> Option<FleetProbe> {
    parts.and_then(|(epoch, id)| Some(FleetProbe { epoch, id: std::num::NonZeroU64::new(id)? }))
}

/// Why a call was refused: by the local breaker, or by the fleet.
#[derive(Debug, Clone, PartialEq)]
pub enum Refused {
    /// The local breaker refused (the fleet was not asked).
    Local(crate::Rejected),
    /// The local breaker admitted, the fleet refused (the local permit was given back as ignored).
    Fleet {
        /// The fleet's state.
        state: FleetState,
        /// Time until the fleet may admit a probe, when open.
        retry_after: Option<Duration>,
    },
}

impl Fleet {
    /// Both levels for one call: the local breaker first, then the fleet, with `now` reading
    /// this fleet's clock (only when the answer depends on it, see [`Self::admit_lazy`]). A fleet
    /// refusal gives the local permit back as ignored. No I/O.
    #[inline(always)]
    pub fn allow_call(
        &self,
        breaker: &crate::CircuitBreaker,
        now: impl FnOnce() -> u64,
    ) -> Result<FleetPermit, Refused> {
        self.allow_call_on(breaker, crate::host::ThreadSlot::current(), now)
    }

    /// [`Self::allow_call`] with the calling thread's [`crate::host::ThreadSlot`] already looked
    /// up (one thread-local access per call instead of one per level).
    #[inline(always)]
    pub fn allow_call_on(
        &self,
        breaker: &crate::CircuitBreaker,
        slot: crate::host::ThreadSlot,
        now: impl FnOnce() -> u64,
    ) -> Result<FleetPermit, Refused> {
        let local = breaker.allow_raw_on(slot).map_err(Refused::Local)?;
        // The closed path of the attached breaker: one load and comparison, inlined; the permit
        // is the breaker's own. Anything else (the gate shut, a deadline to check, another
        // breaker) goes out of line, so the caller's loop keeps its registers.
        if self.owns_fast_gate(breaker) {
            return Ok(FleetPermit { carried: local, probe: None });
        }
        self.allow_call_rest(breaker, local, now)
    }

    /// The closed path of [`Self::allow_call_on`] alone, with no call in it: `Some(permit)` when
    /// `breaker` is the attached one, the gate is open for ever and the local breaker admitted
    /// the call on its own inlined path (the permit is the local breaker's own, unmarked, no
    /// fleet probe); `None` when nothing was done and
    /// [`Self::allow_call_on`] decides. For hosts whose frame would otherwise keep every value
    /// across the slow paths' calls (the C ABI: the rest is a call out of line).
    #[inline(always)]
    pub fn allow_own_on(
        &self,
        breaker: &crate::CircuitBreaker,
        slot: crate::host::ThreadSlot,
    ) -> Option<crate::RawPermit> {
        if !self.owns_fast_gate(breaker) {
            return None;
        }
        breaker.allow_fast_on(slot)
    }

    /// The fleet level of [`Self::allow_call_on`] off the closed path: scalars in, the permit out
    /// through a place of the slow branch's own (an aggregate passed or returned would be merged
    /// through memory on the fast path too).
    #[inline(always)]
    fn allow_call_rest(
        &self,
        breaker: &crate::CircuitBreaker,
        local: crate::RawPermit,
        now: impl FnOnce() -> u64,
    ) -> Result<FleetPermit, Refused> {
        let mut out = (0, None);
        let (generation, admitted_at, ticket) = local.to_parts();
        self.allow_call_gated(breaker, generation, admitted_at, ticket, now, &mut out)?;
        let carried = crate::RawPermit::from_parts(generation, admitted_at, out.0);
        Ok(FleetPermit { carried, probe: out.1 })
    }

    /// A permit of `breaker` through this fleet rebuilt from plain data: its local part as
    /// [`FleetPermit::local`] or [`FleetPermit::carried`] gave it (a marked ticket is told from a
    /// real one, so either form will do: the Node binding keeps the local one, whose ordinary
    /// permits travel as a generation alone; the C ABI the carried one) and the lease
    /// [`FleetPermit::probe_parts`]. Marked as [`Self::allow_call`] marks it. Any value is safe:
    /// a forged local part is stale or already recorded at the breaker, a forged lease a stale
    /// verdict.
    pub fn permit_from_parts(
        &self,
        breaker: &crate::CircuitBreaker,
        local: crate::RawPermit,
        probe: Option<(u64, u64)>,
    ) -> FleetPermit {
        let (local, probe) = (local.unmarked(), lease_of(probe));
        let carried = if probe.is_some() || !self.fed_by(breaker) { local.marked() } else { local };
        FleetPermit { carried, probe }
    }

    /// The fleet level of [`Self::allow_call_on`] off the attached breaker's closed path.
    /// `#[cold]` lays the callers' closed path out first (a third of a nanosecond on the bare
    /// pair); the calls that come here (the `open` mode, other breakers) pay one call either way.
    #[cold]
    #[inline(never)]
    fn allow_call_gated(
        &self,
        breaker: &crate::CircuitBreaker,
        generation: u64,
        admitted_at: u64,
        ticket: u32,
        now: impl FnOnce() -> u64,
        out: &mut (u32, Option<FleetProbe>),
    ) -> Result<(), Refused> {
        let local = crate::RawPermit::from_parts(generation, admitted_at, ticket);
        let probe = match self.admit_lazy(now) {
            Admission::Admit => None,
            Admission::Probe(granted) => Some(granted),
            Admission::Reject { state, retry_after } => {
                let _ = breaker.record_raw(local, Outcome::Ignored);
                return Err(Refused::Fleet { state, retry_after });
            }
        };
        // Marked unless the breaker's own record path may count it: a probe's outcome is a
        // verdict, and another breaker's outcomes go to the tally.
        let carried = if probe.is_some() || !self.fed_by(breaker) { local.marked() } else { local };
        *out = (carried.to_parts().2, probe);
        Ok(())
    }

    /// Records a call admitted by [`Self::allow_call`] on both levels: the local breaker as usual
    /// (its answer is returned), and the fleet's deltas (classified slow as the local breaker
    /// classifies it) or, for the fleet's probe, its verdict. No I/O.
    #[inline(always)]
    pub fn record_call(
        &self,
        breaker: &crate::CircuitBreaker,
        permit: FleetPermit,
        outcome: Outcome,
    ) -> Result<crate::Recorded, crate::PermitError> {
        self.record_call_on(breaker, crate::host::ThreadSlot::current(), permit, outcome)
    }

    /// [`Self::record_call`] with the calling thread's [`crate::host::ThreadSlot`] already looked
    /// up.
    #[inline(always)]
    pub fn record_call_on(
        &self,
        breaker: &crate::CircuitBreaker,
        slot: crate::host::ThreadSlot,
        permit: FleetPermit,
        outcome: Outcome,
    ) -> Result<crate::Recorded, crate::PermitError> {
        // The closed path: the breaker's inlined record path takes only an unmarked permit (the
        // attached breaker's ordinary calls), whose outcome its counters feed to the deltas, so
        // nothing more is due here. Anything else goes out of line in one call, so the caller's
        // loop keeps its registers.
        if let Some(recorded) = self.record_fast_on(breaker, slot, permit.carried, outcome) {
            return Ok(recorded);
        }
        // Scalars, not the struct: a struct passed to the call would be stored on the fast
        // path too.
        let (generation, admitted_at, ticket) = permit.carried.to_parts();
        self.record_call_other(breaker, generation, admitted_at, ticket, outcome, permit.probe)
    }

    /// The inlined part of [`Self::record_call_on`], for hosts that keep the permit as plain data
    /// and read the rest of it only when needed (the C ABI): `Some` when the local breaker's own
    /// inlined record path took the outcome of the permit carried as `carried`
    /// ([`FleetPermit::carried`]; only an unmarked one, the attached breaker's ordinary call, can
    /// be taken), `None` when nothing was recorded and [`Self::record_call_on`] is needed.
    #[inline(always)]
    pub fn record_fast_on(
        &self,
        breaker: &crate::CircuitBreaker,
        slot: crate::host::ThreadSlot,
        carried: crate::RawPermit,
        outcome: Outcome,
    ) -> Option<crate::Recorded> {
        breaker.record_fast_on(slot, &carried, outcome)
    }

    /// [`Self::record_call_on`] for everything but an attached breaker's fast path (`#[cold]`
    /// as [`Self::allow_call_gated`] is).
    #[cold]
    #[inline(never)]
    fn record_call_other(
        &self,
        breaker: &crate::CircuitBreaker,
        generation: u64,
        admitted_at: u64,
        ticket: u32,
        outcome: Outcome,
        probe: Option<FleetProbe>,
    ) -> Result<crate::Recorded, crate::PermitError> {
        let slot = crate::host::ThreadSlot::current();
        let local = crate::RawPermit::from_parts(generation, admitted_at, ticket).unmarked();
        if self.fed_by(breaker) {
            // The breaker's counters are the fleet's tally: a counted ordinary outcome needs
            // nothing more here, but a failure's would-trip check.
            if let Some(probe) = probe {
                return self.record_fed_probe(breaker, slot, local, probe, outcome, None);
            }
            let recorded = breaker.record_raw_on(slot, local, outcome)?;
            if recorded == crate::Recorded::Stale || outcome == Outcome::Failure {
                self.fed_outcome(breaker, slot, local, outcome, recorded);
            }
            return Ok(recorded);
        }
        let slow = outcome != Outcome::Ignored && breaker.is_slow_now(&local);
        let recorded = breaker.record_raw_on(slot, local, outcome)?;
        match probe {
            Some(probe) => self.record_probe(probe, outcome),
            None => self.record_on(slot, outcome, slow),
        }
        Ok(recorded)
    }

    /// The rest of an ordinary record on the attached breaker: a stale outcome the breaker did
    /// not count goes to the tally; a failure gets its would-trip check.
    #[cold]
    fn fed_outcome(
        &self,
        breaker: &crate::CircuitBreaker,
        slot: crate::host::ThreadSlot,
        local: crate::RawPermit,
        outcome: Outcome,
        recorded: crate::Recorded,
    ) {
        if recorded == crate::Recorded::Stale {
            let slow = outcome != Outcome::Ignored && breaker.is_slow_now(&local);
            self.record_on(slot, outcome, slow);
        } else if outcome == Outcome::Failure {
            self.check_would_trip();
        }
    }

    /// A fleet probe's record on the attached breaker. Its outcome enters the breaker's
    /// counters, which feed the deltas, but it travels as a verdict: it is taken out of the
    /// deltas *before* the breaker counts it (a sync in between sends one call less for a moment,
    /// never the probe: `sent` never goes back) and given back if the breaker does not count it.
    /// Slow as classified before the record: a call slow then is slow at the breaker's later
    /// reading too.
    #[cold]
    fn record_fed_probe(
        &self,
        breaker: &crate::CircuitBreaker,
        slot: crate::host::ThreadSlot,
        local: crate::RawPermit,
        probe: FleetProbe,
        outcome: Outcome,
        retry_after: Option<Duration>,
    ) -> Result<crate::Recorded, crate::PermitError> {
        let counts = outcome != Outcome::Ignored;
        let slow = counts && breaker.is_slow_now(&local);
        let taken = [counts, counts && outcome == Outcome::Failure, slow].map(u64::from);
        let adjust = |give_back: bool| {
            let mut v = self.view();
            for (total, n) in v.probe_counted.iter_mut().zip(taken) {
                *total = if give_back { total.wrapping_sub(n) } else { total.wrapping_add(n) };
            }
        };
        adjust(false);
        let result = match retry_after {
            Some(after) => breaker.record_raw_retry_after(local, after),
            None => breaker.record_raw_on(slot, local, outcome),
        };
        if !matches!(result, Ok(crate::Recorded::Counted)) {
            adjust(true);
        }
        if result.is_ok() {
            self.record_probe(probe, outcome);
        }
        result
    }

    /// [`Self::record_call`] for a failure that carries the dependency's retry time
    /// (SEMANTICS §12): the local breaker gets the hint; the fleet counts a failure (slow as the
    /// local breaker classifies it) or, for the fleet's probe, a failed verdict. No I/O.
    pub fn record_call_retry_after(
        &self,
        breaker: &crate::CircuitBreaker,
        permit: FleetPermit,
        retry_after: Duration,
    ) -> Result<crate::Recorded, crate::PermitError> {
        let local = permit.local();
        if self.fed_by(breaker) {
            let slot = crate::host::ThreadSlot::current();
            if let Some(probe) = permit.probe {
                return self.record_fed_probe(breaker, slot, local, probe, Outcome::Failure, Some(retry_after));
            }
            let recorded = breaker.record_raw_retry_after(local, retry_after)?;
            self.fed_outcome(breaker, slot, local, Outcome::Failure, recorded);
            return Ok(recorded);
        }
        let slow = breaker.is_slow_now(&local);
        let recorded = breaker.record_raw_retry_after(local, retry_after)?;
        match permit.probe {
            Some(probe) => self.record_probe(probe, Outcome::Failure),
            None => self.record(Outcome::Failure, slow),
        }
        Ok(recorded)
    }
}
