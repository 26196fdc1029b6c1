//! [`FleetSet`]: the fleet breakers of one service made on demand by name from one set of
//! options, for families (a fleet breaker per member, `<family>/<key>`) and for hosts that sync
//! many breakers. Bounded by use: a fleet nobody else holds that stayed idle (closed, nothing to
//! send, no probe held) for `idle_ttl` is forgotten by [`FleetSet::sweep`], which hosts run from
//! their sync loop (never on the call path). A forgotten fleet made again rejoins the store's
//! state at its first sync (joining never resets it).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use super::{Fleet, FleetConfig};

/// How long a fleet of a set may stay idle before [`FleetSet::sweep`] forgets it, unless the
/// host says otherwise (10 minutes, as a family's `idle_ttl`).
pub const DEFAULT_FLEET_IDLE_TTL: Duration = Duration::from_secs(600);

/// Fleet breakers by name, made from one set of options. `T` is the host's fleet object (a
/// [`Fleet`], or one that carries a clock or an event sink with it). `Send + Sync`.
#[derive(Debug)]
pub struct FleetSet<T = Fleet> {
    template: FleetConfig,
    idle_ttl: u64,
    fleets: Mutex<BTreeMap<String, Slot<T>>>,
}

#[derive(Debug)]
struct Slot<T> {
    fleet: Arc<T>,
    /// Local instant from which the fleet was seen idle by every sweep since (None: busy).
    idle_since: Option<u64>,
}

impl<T: AsRef<Fleet>> FleetSet<T> {
    /// A set whose fleets take the options of `template` (validated; its name is replaced by
    /// each fleet's) and are forgotten after `idle_ttl` idle.
    pub fn new(template: FleetConfig, idle_ttl: Duration) -> Result<Self, crate::ConfigError> {
        let mut probe = template.clone();
        probe.name = "fleet-set".into();
        probe.validate()?;
        let idle_ttl = u64::try_from(idle_ttl.as_nanos()).unwrap_or(u64::MAX);
        Ok(Self { template, idle_ttl, fleets: Mutex::new(BTreeMap::new()) })
    }

    /// The options every fleet of the set takes (the name aside).
    pub fn template(&self) -> &FleetConfig {
        &self.template
    }

    fn fleets(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Slot<T>>> {
        self.fleets.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The fleet breaker `name`, made with `make` (given the set's options named `name`) if the
    /// set has none. An error of `make` is returned and nothing is kept.
    pub fn get_or_make<E>(&self, name: &str, make: impl FnOnce(FleetConfig) -> Result<Arc<T>, E>) -> Result<Arc<T>, E> {
        let mut fleets = self.fleets();
        if let Some(slot) = fleets.get_mut(name) {
            slot.idle_since = None;
            return Ok(Arc::clone(&slot.fleet));
        }
        let mut config = self.template.clone();
        config.name = name.to_owned();
        let fleet = make(config)?;
        fleets.insert(name.to_owned(), Slot { fleet: Arc::clone(&fleet), idle_since: None });
        Ok(fleet)
    }

    /// The fleet breaker `name`, if the set has it.
    pub fn get(&self, name: &str) -> Option<Arc<T>> {
        self.fleets().get(name).map(|slot| Arc::clone(&slot.fleet))
    }

    /// Every fleet of the set, by name.
    pub fn all(&self) -> Vec<(String, Arc<T>)> {
        self.fleets().iter().map(|(name, slot)| (name.clone(), Arc::clone(&slot.fleet))).collect()
    }

    /// How many fleets the set holds.
    pub fn len(&self) -> usize {
        self.fleets().len()
    }

    /// Whether the set holds no fleet.
    pub fn is_empty(&self) -> bool {
        self.fleets().is_empty()
    }

    /// Forgets, at local instant `now`, every fleet that no one else holds (no breaker, no call in
    /// flight; `kept`: references the host itself keeps of each fleet, e.g. in a handle table)
    /// and that every sweep for `idle_ttl` found idle ([`Fleet::is_idle`]). Returns the fleets
    /// forgotten (their hosts drop what they kept for them).
    pub fn sweep(&self, now: u64, kept: usize) -> Vec<(String, Arc<T>)> {
        let mut fleets = self.fleets();
        let mut gone = Vec::new();
        let idle_ttl = self.idle_ttl;
        fleets.retain(|name, slot| {
            let unheld = Arc::strong_count(&slot.fleet) <= 1 + kept;
            if !(unheld && (*slot.fleet).as_ref().is_idle()) {
                slot.idle_since = None;
                return true;
            }
            let since = *slot.idle_since.get_or_insert(now);
            if now.saturating_sub(since) < idle_ttl {
                return true;
            }
            gone.push((name.clone(), Arc::clone(&slot.fleet)));
            false
        });
        gone
    }
}

impl AsRef<Fleet> for Fleet {
    fn as_ref(&self) -> &Fleet {
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::Outcome;

    fn set(idle_ttl: Duration) -> FleetSet {
        FleetSet::new(FleetConfig::new(""), idle_ttl).unwrap()
    }

    fn make(config: FleetConfig) -> Result<Arc<Fleet>, crate::ConfigError> {
        Fleet::new(config, 0).map(Arc::new)
    }

    #[test]
    fn one_fleet_per_name_with_the_sets_options_and_its_own_name() {
        let mut template = FleetConfig::new("ignored");
        template.minimum_calls = 7;
        let set: FleetSet = FleetSet::new(template, DEFAULT_FLEET_IDLE_TTL).unwrap();
        let a = set.get_or_make("api/a", make).unwrap();
        let again = set.get_or_make("api/a", make).unwrap();
        let b = set.get_or_make("api/b", make).unwrap();
        assert!(Arc::ptr_eq(&a, &again));
        assert!(!Arc::ptr_eq(&a, &b));
        assert_eq!(a.config().name, "api/a");
        assert_eq!(a.config().minimum_calls, 7);
        assert_eq!(set.all().into_iter().map(|(n, _)| n).collect::<Vec<_>>(), ["api/a", "api/b"]);
        assert_eq!(set.len(), 2);
        assert!(Arc::ptr_eq(&set.get("api/b").unwrap(), &b));
        assert!(set.get("api/c").is_none());
    }

    #[test]
    fn invalid_options_are_refused_at_creation() {
        let mut template = FleetConfig::new("");
        template.buckets = 0;
        let err = FleetSet::<Fleet>::new(template, DEFAULT_FLEET_IDLE_TTL).unwrap_err();
        assert_eq!(err.option(), "buckets");
    }

    #[test]
    fn a_held_or_busy_fleet_is_kept_an_idle_one_forgotten_after_idle_ttl() {
        let set = set(Duration::from_nanos(100));
        let held = set.get_or_make("held", make).unwrap();
        drop(set.get_or_make("busy", make).unwrap());
        drop(set.get_or_make("idle", make).unwrap());
        // A fresh fleet wants its first sync: not idle until it has synced.
        for (_, fleet) in set.all() {
            let request = fleet.poll(0).unwrap();
            let reply = vec![
                crate::fleet::Reply::Text("ok".into()),
                crate::fleet::Reply::Int(1),
                crate::fleet::Reply::Text("closed".into()),
                crate::fleet::Reply::Int(0),
                crate::fleet::Reply::Int(0),
                crate::fleet::Reply::Int(0),
                crate::fleet::Reply::Int(0),
                crate::fleet::Reply::Int(0),
            ];
            drop(request);
            let _ = fleet.complete(0, Ok(reply));
        }
        set.get("busy").unwrap().record(Outcome::Success, false);
        assert!(set.sweep(10, 0).is_empty());
        assert!(set.sweep(200, 0).iter().map(|(n, _)| n.as_str()).eq(["idle"]));
        assert_eq!(set.len(), 2);
        // "busy" has an outcome to send: kept until a sync sends it, then idle for idle_ttl.
        let busy = set.get("busy").unwrap();
        let _ = busy.poll(1_000_000_000).unwrap();
        drop(busy);
        assert!(set.sweep(1_000, 0).is_empty());
        drop(held);
    }
}
