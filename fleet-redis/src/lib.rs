//! Fleet-wide circuit breakers over Redis (docs/fleet.md): the store round trip of the core's
//! sans-IO fleet breaker ([`circuit::fleet::Fleet`](engine::fleet::Fleet)).
//!
//! A call runs only if its local breaker and the fleet breaker both admit it; the fleet's state
//! lives in Redis and moves only inside one Lua script. This crate does the I/O the core refuses
//! to do: [`RedisFleet::sync`] sends this instance's outcome deltas and probe verdicts when a sync
//! is due (every `sync_interval`, and at once on a would-trip or a verdict) and applies the reply.
//!
//! **Threading.** `sync` blocks for one round trip (bounded by the response timeout). Never call
//! it on the call path: run it from a thread or task of its own, every few milliseconds
//! (`sync` itself decides whether a sync is due, so calling it often costs nothing):
//!
//! ```no_run
//! use circuit_redis::RedisFleet;
//! use engine::fleet::FleetConfig;
//! use std::sync::Arc;
//!
//! let client = redis::Client::open("redis://127.0.0.1:6379/")?;
//! let fleet = Arc::new(RedisFleet::new(client, FleetConfig::new("payments"))?);
//! let syncer = Arc::clone(&fleet);
//! std::thread::spawn(move || loop {
//!     for event in syncer.sync() {
//!         eprintln!("fleet: {event:?}");
//!     }
//!     std::thread::sleep(std::time::Duration::from_millis(10));
//! });
//! // on the call path: the local breaker first, then
//! match fleet.admit() {
//!     engine::fleet::Admission::Admit => { /* call, then fleet.record(outcome, slow) */ }
//!     _ => { /* rejected by the fleet */ }
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::sync::Mutex;
use std::time::Duration;

use engine::fleet::{Admission, Fleet, FleetConfig, FleetEvent, FleetProbe, FleetStatus, Reply, SCRIPT, script_sha1};
use engine::{Clock, MonotonicClock, Outcome};

/// One instance's fleet breaker with its Redis connection.
pub struct RedisFleet {
    fleet: Fleet,
    store: Store,
    clock: Box<dyn Clock>,
}

/// The Redis side: a connection made lazily and replaced after an error, and the script's SHA-1.
struct Store {
    client: redis::Client,
    connection: Mutex<Option<redis::Connection>>,
    sha: String,
    timeout: Duration,
}

impl std::fmt::Debug for RedisFleet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisFleet").field("fleet", &self.fleet).finish_non_exhaustive()
    }
}

impl RedisFleet {
    /// A fleet breaker for `config` over `client` (connected lazily, reconnected after errors),
    /// on the host's monotonic clock. The response timeout is `sync_interval`.
    pub fn new(client: redis::Client, config: FleetConfig) -> Result<Self, engine::ConfigError> {
        Self::with_clock(client, config, Box::new(MonotonicClock))
    }

    /// [`Self::new`] on another clock (tests).
    pub fn with_clock(
        client: redis::Client,
        config: FleetConfig,
        clock: Box<dyn Clock>,
    ) -> Result<Self, engine::ConfigError> {
        let store = Store::new(client, &config);
        let fleet = Fleet::new(config, clock.now_nanos())?;
        Ok(Self { fleet, store, clock })
    }

    /// The core's fleet breaker (for `status`, `config`).
    pub fn fleet(&self) -> &Fleet {
        &self.fleet
    }

    /// Feeds the fleet's deltas from `breaker`'s own counters (`Fleet::attach`): its closed-state
    /// calls through [`Self::allow`] and [`Self::record_call`] then cost little more than the
    /// local breaker's. Attach the breaker whose every call goes through this fleet, before its
    /// first call; `false` if another breaker is attached (that one keeps the fleet's tally).
    pub fn attach(&self, breaker: &std::sync::Arc<engine::CircuitBreaker>) -> bool {
        self.fleet.attach(breaker)
    }

    /// The fleet level's decision for a call the local breaker admitted. No I/O.
    pub fn admit(&self) -> Admission {
        self.fleet.admit(self.clock.now_nanos())
    }

    /// Both levels for one call: `breaker` (the local breaker) first, then the fleet. No I/O.
    #[inline(always)]
    pub fn allow(
        &self,
        breaker: &engine::CircuitBreaker,
    ) -> Result<engine::fleet::FleetPermit, engine::fleet::Refused> {
        // The closure captures `self` (in a register already), not the clock's fat pointer,
        // which would be loaded on the closed path for the out-of-line branch that reads it.
        let this = self;
        self.fleet.allow_call(breaker, move || this.clock.now_nanos())
    }

    /// Records a call admitted by [`Self::allow`] on both levels. No I/O.
    #[inline(always)]
    pub fn record_call(
        &self,
        breaker: &engine::CircuitBreaker,
        permit: engine::fleet::FleetPermit,
        outcome: Outcome,
    ) -> Result<engine::Recorded, engine::PermitError> {
        self.fleet.record_call(breaker, permit, outcome)
    }

    /// Records an admitted call's outcome. No I/O.
    pub fn record(&self, outcome: Outcome, slow: bool) {
        self.fleet.record(outcome, slow);
    }

    /// Records a probe's outcome. No I/O.
    pub fn record_probe(&self, probe: FleetProbe, outcome: Outcome) {
        self.fleet.record_probe(probe, outcome);
    }

    /// The fleet level's state.
    pub fn status(&self) -> FleetStatus {
        self.fleet.status(self.clock.now_nanos())
    }

    /// Runs one sync with the store if one is due (else returns at once); returns what happened.
    /// Blocks for at most about one response timeout. Never call it on the call path.
    pub fn sync(&self) -> Vec<FleetEvent> {
        self.store.sync(&self.fleet, &*self.clock)
    }
}

impl Store {
    /// The store of fleets with the options `config` (the response timeout: `sync_interval`,
    /// at least 50 ms).
    fn new(client: redis::Client, config: &FleetConfig) -> Self {
        let timeout = config.sync_interval.max(Duration::from_millis(50));
        Self { client, connection: Mutex::new(None), sha: script_sha1(), timeout }
    }

    /// One sync of `fleet` if one is due.
    fn sync(&self, fleet: &Fleet, clock: &dyn Clock) -> Vec<FleetEvent> {
        let Some(request) = fleet.poll(clock.now_nanos()) else {
            return fleet.events(clock.now_nanos());
        };
        let reply = self.round_trip(request.keys()[0], request.args());
        fleet.complete(clock.now_nanos(), reply)
    }

    fn round_trip(&self, key: &str, args: &[String]) -> Result<Vec<Reply>, String> {
        let mut slot = self.connection.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if slot.is_none() {
            let connection = self.client.get_connection_with_timeout(self.timeout).map_err(|e| e.to_string())?;
            connection.set_read_timeout(Some(self.timeout)).map_err(|e| e.to_string())?;
            connection.set_write_timeout(Some(self.timeout)).map_err(|e| e.to_string())?;
            *slot = Some(connection);
        }
        let Some(connection) = slot.as_mut() else { return Err("no connection".to_owned()) };
        let run = |connection: &mut redis::Connection, by_sha: bool| -> redis::RedisResult<redis::Value> {
            let mut cmd = if by_sha { redis::cmd("EVALSHA") } else { redis::cmd("EVAL") };
            cmd.arg(if by_sha { self.sha.as_str() } else { SCRIPT }).arg(1).arg(key);
            for a in args {
                cmd.arg(a);
            }
            cmd.query(connection)
        };
        let value = match run(connection, true) {
            Err(e) if e.kind() == redis::ErrorKind::NoScriptError => run(connection, false),
            other => other,
        };
        match value {
            Ok(value) => convert(value),
            Err(e) => {
                // A broken or timed-out connection is replaced at the next sync.
                *slot = None;
                Err(e.to_string())
            }
        }
    }
}

/// The fleet breakers of one service made on demand by name from one set of options
/// ([`FleetSet`](engine::fleet::FleetSet)), over one Redis connection: for a
/// [`Family`](engine::Family), whose members each go through the fleet breaker of their name
/// (`<family>/<key>`), or for many breakers. [`Self::sync`] syncs every fleet that is due (one
/// after the other, on the calling thread) and forgets the idle ones no caller holds.
///
/// ```no_run
/// use circuit_redis::RedisFleetSet;
/// use engine::fleet::FleetConfig;
///
/// let client = redis::Client::open("redis://127.0.0.1:6379/")?;
/// let fleets = RedisFleetSet::new(client, FleetConfig::new(""))?;
/// let family = engine::Family::new(engine::Config::builder().name("hosts").build()?);
/// let member = family.get("db-1");
/// if let Ok(permit) = fleets.allow(&member) {
///     // call db-1, then
///     let _ = fleets.record_call(&member, permit, engine::Outcome::Success);
/// }
/// // on a thread of its own, every few milliseconds: fleets.sync()
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct RedisFleetSet {
    set: engine::fleet::FleetSet<Fleet>,
    store: Store,
    clock: Box<dyn Clock>,
}

impl std::fmt::Debug for RedisFleetSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisFleetSet").field("set", &self.set).finish_non_exhaustive()
    }
}

/// A call admitted by both levels of a [`RedisFleetSet`]: the fleet it went through and the
/// permit. Record it with [`RedisFleetSet::record_call`].
#[derive(Debug)]
pub struct SetPermit {
    fleet: std::sync::Arc<Fleet>,
    permit: engine::fleet::FleetPermit,
}

impl SetPermit {
    /// The two-level permit.
    pub fn permit(&self) -> &engine::fleet::FleetPermit {
        &self.permit
    }
}

impl RedisFleetSet {
    /// Fleets with the options of `template` (its name is each fleet's), forgotten after 10
    /// minutes idle, over `client`, on the host's monotonic clock.
    pub fn new(client: redis::Client, template: FleetConfig) -> Result<Self, engine::ConfigError> {
        Self::with_clock(client, template, engine::fleet::DEFAULT_FLEET_IDLE_TTL, Box::new(MonotonicClock))
    }

    /// [`Self::new`] with another idle time and clock (tests).
    pub fn with_clock(
        client: redis::Client,
        template: FleetConfig,
        idle_ttl: Duration,
        clock: Box<dyn Clock>,
    ) -> Result<Self, engine::ConfigError> {
        let store = Store::new(client, &template);
        Ok(Self { set: engine::fleet::FleetSet::new(template, idle_ttl)?, store, clock })
    }

    /// The fleet breaker `name`, made on first use.
    pub fn fleet(&self, name: &str) -> std::sync::Arc<Fleet> {
        let now = self.clock.now_nanos();
        let made = self.set.get_or_make(name, |config| Fleet::new(config, now).map(std::sync::Arc::new));
        // The set's options were validated, and a name is not checked: this cannot fail.
        made.unwrap_or_else(|e| unreachable!("fleet set options were validated: {e}"))
    }

    /// Both levels for one call on `breaker` (a family member or a named breaker): the local
    /// breaker first, then the fleet breaker of its name. No I/O.
    pub fn allow(&self, breaker: &engine::CircuitBreaker) -> Result<SetPermit, engine::fleet::Refused> {
        let fleet = self.fleet(breaker.name().unwrap_or_default());
        let permit = fleet.allow_call(breaker, || self.clock.now_nanos())?;
        Ok(SetPermit { fleet, permit })
    }

    /// Records a call admitted by [`Self::allow`] on both levels. No I/O.
    pub fn record_call(
        &self,
        breaker: &engine::CircuitBreaker,
        permit: SetPermit,
        outcome: Outcome,
    ) -> Result<engine::Recorded, engine::PermitError> {
        permit.fleet.record_call(breaker, permit.permit, outcome)
    }

    /// The fleet level of `name`, if the set has that fleet.
    pub fn status(&self, name: &str) -> Option<FleetStatus> {
        self.set.get(name).map(|f| f.status(self.clock.now_nanos()))
    }

    /// The names of the set's fleets.
    pub fn names(&self) -> Vec<String> {
        self.set.all().into_iter().map(|(name, _)| name).collect()
    }

    /// Forgets the idle fleets, then runs one sync for every fleet that is due (one after the
    /// other); returns what happened, by fleet name. Blocks for at most about one response timeout
    /// per fleet synced. Never call it on the call path.
    pub fn sync(&self) -> Vec<(String, FleetEvent)> {
        drop(self.set.sweep(self.clock.now_nanos(), 0));
        let mut events = Vec::new();
        for (name, fleet) in self.set.all() {
            events.extend(self.store.sync(&fleet, &*self.clock).into_iter().map(|e| (name.clone(), e)));
        }
        events
    }
}

fn convert(value: redis::Value) -> Result<Vec<Reply>, String> {
    let redis::Value::Array(items) = value else { return Err(format!("unexpected reply {value:?}")) };
    items
        .into_iter()
        .map(|item| match item {
            redis::Value::Int(i) => Ok(Reply::Int(i)),
            redis::Value::BulkString(bytes) => String::from_utf8(bytes).map(Reply::Text).map_err(|e| e.to_string()),
            redis::Value::SimpleString(s) => Ok(Reply::Text(s)),
            other => Err(format!("unexpected reply item {other:?}")),
        })
        .collect()
}
