//! Families: one breaker per key (a downstream host, endpoint or tenant), created on first use,
//! with bounded memory (docs/semantics.md, "Families").
//!
//! A family holds at most `max_keys` members. Members idle for `idle_ttl` (on the family's clock)
//! and members beyond the bound are evicted lazily, on `get` (no threads, amortised O(1): a queue
//! of keys in order of last use, with stale entries skipped). A member is never evicted while it is
//! *pinned*: open, half-open or forced open (forgetting it would forget the outage), disabled (a
//! manual override the operator chose), or referenced
//! outside the family (an `OwnedPermit`, or an `Arc` a caller kept), so a permit always records on
//! the breaker that issued it. When the family is full and every member is pinned, `get` of a new
//! key returns the family's one shared *overflow* breaker, so memory never grows past `max_keys`
//! members plus that one.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Weak};
use std::time::Duration;

use crate::breaker::CircuitBreaker;
use crate::clock::{Clock, ClockSource};
use crate::config::Config;
use crate::error::ConfigError;
use crate::events::Transition;
use crate::metrics::Metrics;
use crate::state::State;
use crate::sync::{AtomicBool, Mutex, Ordering};

/// Default bound on the number of members.
pub const DEFAULT_MAX_KEYS: usize = 1024;
/// Default idle time after which an unpinned member is evicted.
pub const DEFAULT_IDLE_TTL: Duration = Duration::from_secs(600);
/// How many queue entries one `get` examines at most while expiring idle members; a `get` that
/// needs room examines at most four times as many of the least recently used members, so a
/// family full of pinned members at its old end answers with the overflow breaker even if an
/// evictable member sits further on (pinned ones rotate to the back, so later calls reach it).
const SCAN: usize = 8;

/// The key that names the overflow breaker (`<family>/(overflow)`, and its `key` label in the
/// exported metrics). Reserved: `get` of this key answers with the overflow breaker.
pub const OVERFLOW_KEY: &str = "(overflow)";

/// A transition of one member, as family listeners receive it.
#[derive(Debug, Clone, Copy)]
pub struct FamilyEvent<'a> {
    /// The member's key; `None` for the overflow breaker.
    pub key: Option<&'a str>,
    /// The transition.
    pub transition: &'a Transition,
}

type FamilyListener = Arc<dyn Fn(FamilyEvent<'_>) + Send + Sync>;

/// Identifies a family listener, to remove it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FamilyListenerId(u64);

struct Listeners {
    next: u64,
    list: Vec<(u64, Arc<AtomicBool>, FamilyListener)>,
}

struct Shared {
    listeners: Mutex<Listeners>,
}

impl Shared {
    fn deliver(&self, key: Option<&str>, transition: &Transition) {
        let snapshot: Vec<(Arc<AtomicBool>, FamilyListener)> =
            self.listeners.lock().list.iter().map(|(_, removed, l)| (Arc::clone(removed), Arc::clone(l))).collect();
        for (removed, listener) in snapshot {
            if !removed.load(Ordering::Acquire) {
                let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    listener(FamilyEvent { key, transition });
                }));
            }
        }
    }
}

struct Member {
    breaker: Arc<CircuitBreaker>,
    /// Family clock instant of the last `get`.
    last_used: u64,
}

struct Members {
    map: HashMap<Arc<str>, Member>,
    /// Keys in order of last use, each with the `last_used` it had when queued (an entry whose
    /// stamp is older than its member's is stale and skipped).
    order: VecDeque<(Arc<str>, u64)>,
    evicted: u64,
    overflowed: u64,
}

/// Makes a family's members (and its overflow breaker) from their configuration, instead of the
/// family building breakers of this process: how a family lives in a host region
/// (`circuit_shm::HostRegion::family`). An error (a full region) answers that `get` with the
/// overflow breaker.
pub type MemberSource = Arc<dyn Fn(Config) -> Result<CircuitBreaker, String> + Send + Sync>;

/// A family of breakers, one per key. `Send + Sync`; share it by reference or `Arc`.
///
/// ```
/// use circuit::{Config, Family, ManualClock, State};
/// use std::time::Duration;
///
/// let clock = ManualClock::new();
/// let config = Config::builder().name("api").failure_threshold(1).build().unwrap();
/// let family = Family::builder(config).max_keys(100).idle_ttl(Duration::from_secs(60)).clock(clock.clone()).build().unwrap();
/// let a = family.get("a.example:443");
/// assert_eq!(a.name(), Some("api/a.example:443"));
/// let permit = a.allow().unwrap();
/// a.record_failure(permit).unwrap();
/// assert_eq!(family.get("a.example:443").state(), State::Open);
/// assert_eq!(family.get("b.example:443").state(), State::Closed);
/// assert_eq!(family.len(), 2);
/// ```
pub struct Family {
    config: Config,
    max_keys: usize,
    idle_ttl: u64,
    clock: ClockSource,
    source: Option<MemberSource>,
    members: Mutex<Members>,
    overflow: Arc<CircuitBreaker>,
    shared: Arc<Shared>,
}

/// Builds a [`Family`].
pub struct FamilyBuilder {
    config: Config,
    max_keys: usize,
    idle_ttl: Duration,
    clock: ClockSource,
    source: Option<MemberSource>,
}

impl FamilyBuilder {
    /// Most members at once (default 1024, at least 1).
    pub fn max_keys(mut self, max_keys: usize) -> Self {
        self.max_keys = max_keys;
        self
    }

    /// Idle time after which an unpinned member is evicted (default 10 min). With zero, an unpinned
    /// member is evicted by the first `get` of another key once the clock has moved.
    pub fn idle_ttl(mut self, idle_ttl: Duration) -> Self {
        self.idle_ttl = idle_ttl;
        self
    }

    /// The clock of the family and of every member (default: the monotonic clock).
    pub fn clock(mut self, clock: impl Clock + 'static) -> Self {
        self.clock = ClockSource::Other(Arc::new(clock));
        self
    }

    /// Like [`Self::clock`], for a clock already shared behind an `Arc` (a binding's clock object).
    pub fn shared_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = ClockSource::Other(clock);
        self
    }

    /// Members (and the overflow breaker) come from `source` (see [`MemberSource`]); the family's
    /// clock still times idle eviction, so give it the members' clock too.
    pub fn member_source(mut self, source: MemberSource) -> Self {
        self.source = Some(source);
        self
    }

    /// The family, or why the options are refused.
    pub fn build(self) -> Result<Family, ConfigError> {
        if self.max_keys == 0 {
            return Err(ConfigError::new("max_keys", "must be at least 1"));
        }
        let idle_ttl = u64::try_from(self.idle_ttl.as_nanos()).unwrap_or(u64::MAX);
        let shared = Arc::new(Shared { listeners: Mutex::new(Listeners { next: 0, list: Vec::new() }) });
        let overflow_config = self.config.with_name(member_name(self.config.name(), OVERFLOW_KEY));
        let overflow = Arc::new(match &self.source {
            Some(source) => source(overflow_config).map_err(|e| ConfigError::new("region", e))?,
            None => CircuitBreaker::build_shared(overflow_config, self.clock.clone()),
        });
        forward(&overflow, &shared, None);
        Ok(Family {
            config: self.config,
            max_keys: self.max_keys,
            idle_ttl,
            clock: self.clock,
            source: self.source,
            members: Mutex::new(Members { map: HashMap::new(), order: VecDeque::new(), evicted: 0, overflowed: 0 }),
            overflow,
            shared,
        })
    }
}

fn member_name(family: Option<&str>, key: &str) -> String {
    match family {
        Some(family) => format!("{family}/{key}"),
        None => key.to_owned(),
    }
}

/// Registers on `breaker` the listener that hands its transitions to the family's listeners.
fn forward(breaker: &CircuitBreaker, shared: &Arc<Shared>, key: Option<Arc<str>>) {
    let shared: Weak<Shared> = Arc::downgrade(shared);
    breaker.on_transition(move |t| {
        if let Some(shared) = shared.upgrade() {
            shared.deliver(key.as_deref(), t);
        }
    });
}

/// Whether eviction must keep `member` (docs: "pinned"). Reads the state as last applied: applying
/// a due transition here would run listeners under the family's lock (an open member whose open
/// duration has elapsed is therefore still pinned until it is next used).
fn pinned(member: &Member) -> bool {
    Arc::strong_count(&member.breaker) > 1
        || matches!(
            member.breaker.state_as_applied(),
            State::Open | State::HalfOpen | State::ForcedOpen | State::Disabled
        )
}

/// A family-level view: every member's metrics, and the family's own counts.
#[derive(Debug, Clone)]
pub struct FamilyMetrics {
    /// Each member's key and metrics snapshot, in no particular order.
    pub members: Vec<(Arc<str>, Metrics)>,
    /// The overflow breaker's metrics.
    pub overflow: Metrics,
    /// Members evicted so far (idle or to make room).
    pub evicted: u64,
    /// `get` calls answered with the overflow breaker because every member was pinned.
    pub overflowed: u64,
}

impl Family {
    /// A builder for a family whose members use `config` (named `<config name>/<key>`).
    pub fn builder(config: Config) -> FamilyBuilder {
        FamilyBuilder {
            config,
            max_keys: DEFAULT_MAX_KEYS,
            idle_ttl: DEFAULT_IDLE_TTL,
            clock: ClockSource::Monotonic,
            source: None,
        }
    }

    /// A family with the default bounds on the monotonic clock.
    pub fn new(config: Config) -> Self {
        Self::builder(config).build().expect("the default bounds are valid")
    }

    /// The breaker for `key`, created on first use. If the family is full and no member can be
    /// evicted (all pinned), the shared overflow breaker (see the module docs).
    pub fn get(&self, key: &str) -> Arc<CircuitBreaker> {
        if key == OVERFLOW_KEY {
            // Reserved: a member of that key would share the overflow breaker's name and labels.
            return Arc::clone(&self.overflow);
        }
        let now = self.clock.now();
        let mut members = self.members.lock();
        let members = &mut *members;
        self.expire(members, now);
        if let Some((shared_key, member)) = members.map.get_key_value(key) {
            let (shared_key, breaker, fresh) =
                (Arc::clone(shared_key), Arc::clone(&member.breaker), member.last_used != now);
            if fresh {
                if let Some(member) = members.map.get_mut(key) {
                    member.last_used = now;
                }
                members.order.push_back((shared_key, now));
                self.compact(members);
            }
            return breaker;
        }
        if members.map.len() >= self.max_keys && !self.evict_one(members) {
            members.overflowed += 1;
            return Arc::clone(&self.overflow);
        }
        let key: Arc<str> = Arc::from(key);
        let config = self.config.with_name(member_name(self.config.name(), &key));
        let breaker = match &self.source {
            Some(source) => match source(config) {
                Ok(breaker) => Arc::new(breaker),
                Err(_) => {
                    members.overflowed += 1;
                    return Arc::clone(&self.overflow);
                }
            },
            None => Arc::new(CircuitBreaker::build_shared(config, self.clock.clone())),
        };
        forward(&breaker, &self.shared, Some(Arc::clone(&key)));
        members.map.insert(Arc::clone(&key), Member { breaker: Arc::clone(&breaker), last_used: now });
        members.order.push_back((key, now));
        self.compact(members);
        breaker
    }

    /// Drops up to a few idle, unpinned members from the front of the queue.
    fn expire(&self, members: &mut Members, now: u64) {
        for _ in 0..SCAN {
            let Some((key, stamp)) = members.order.front().cloned() else { return };
            let Some(member) = members.map.get(&key) else {
                members.order.pop_front();
                continue;
            };
            if member.last_used != stamp {
                members.order.pop_front(); // stale: a later entry exists
                continue;
            }
            if now.saturating_sub(stamp) < self.idle_ttl {
                return;
            }
            members.order.pop_front();
            if pinned(member) {
                // Kept; looked at again after the others.
                members.order.push_back((key, stamp));
            } else {
                members.map.remove(&key);
                members.evicted += 1;
            }
        }
    }

    /// Evicts the least recently used unpinned member among the first few of the queue.
    fn evict_one(&self, members: &mut Members) -> bool {
        for _ in 0..members.order.len().min(SCAN * 4) {
            let Some((key, stamp)) = members.order.pop_front() else { return false };
            let Some(member) = members.map.get(&key) else { continue };
            if member.last_used != stamp {
                continue;
            }
            if pinned(member) {
                members.order.push_back((key, stamp));
                continue;
            }
            members.map.remove(&key);
            members.evicted += 1;
            return true;
        }
        false
    }

    /// Keeps the queue within twice the members (stale entries are dropped in one O(n) pass once
    /// they outnumber live ones, so amortised O(1) per `get`).
    fn compact(&self, members: &mut Members) {
        if members.order.len() > 2 * members.map.len() + SCAN {
            let map = &members.map;
            members.order.retain(|(key, stamp)| map.get(key).is_some_and(|m| m.last_used == *stamp));
        }
    }

    /// How many members the family holds (the overflow breaker not counted).
    pub fn len(&self) -> usize {
        self.members.lock().map.len()
    }

    /// Whether the family holds no member.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether `key` has a member now (does not create one or count as a use).
    pub fn contains(&self, key: &str) -> bool {
        self.members.lock().map.contains_key(key)
    }

    /// The keys of the current members, in no particular order.
    pub fn keys(&self) -> Vec<Arc<str>> {
        self.members.lock().map.keys().cloned().collect()
    }

    /// The overflow breaker (answers `get` when the family is full and every member is pinned).
    pub fn overflow(&self) -> &Arc<CircuitBreaker> {
        &self.overflow
    }

    /// Every member's metrics and the family's counts.
    pub fn metrics(&self) -> FamilyMetrics {
        let (breakers, evicted, overflowed) = {
            let members = self.members.lock();
            let breakers: Vec<(Arc<str>, Arc<CircuitBreaker>)> =
                members.map.iter().map(|(k, m)| (Arc::clone(k), Arc::clone(&m.breaker))).collect();
            (breakers, members.evicted, members.overflowed)
        };
        // Snapshots are taken without the family's lock (a snapshot may deliver transitions).
        let members = breakers.into_iter().map(|(k, b)| (k, b.metrics())).collect();
        FamilyMetrics { members, overflow: self.overflow.metrics(), evicted, overflowed }
    }

    /// Registers a listener for every member's transitions (and the overflow breaker's), with the
    /// member's key. Delivered like a breaker's own listeners: by the thread that caused the
    /// transition, with no lock held; a panic inside it is caught.
    pub fn on_transition(&self, listener: impl Fn(FamilyEvent<'_>) + Send + Sync + 'static) -> FamilyListenerId {
        let mut listeners = self.shared.listeners.lock();
        listeners.next += 1;
        let id = listeners.next;
        listeners.list.push((id, Arc::new(AtomicBool::new(false)), Arc::new(listener)));
        FamilyListenerId(id)
    }

    /// Unregisters a family listener; returns whether it was registered. Once this returns, the
    /// listener is not called again by a delivery that starts afterwards, nor by one in progress on
    /// this thread.
    pub fn remove_listener(&self, id: FamilyListenerId) -> bool {
        let mut listeners = self.shared.listeners.lock();
        let Some(index) = listeners.list.iter().position(|(i, _, _)| *i == id.0) else { return false };
        let (_, removed, _) = listeners.list.remove(index);
        removed.store(true, Ordering::Release);
        true
    }

    /// The members' configuration (each member's name is `<name>/<key>`).
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The bound on members.
    pub fn max_keys(&self) -> usize {
        self.max_keys
    }

    /// The idle time after which an unpinned member is evicted.
    pub fn idle_ttl(&self) -> Duration {
        Duration::from_nanos(self.idle_ttl)
    }
}

impl std::fmt::Debug for Family {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Family")
            .field("name", &self.config.name())
            .field("max_keys", &self.max_keys)
            .field("idle_ttl", &self.idle_ttl())
            .finish_non_exhaustive()
    }
}
