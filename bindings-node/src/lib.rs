//! Node binding of the circuit engine (napi-rs).
//!
//! This crate is the private native layer (`binding.js`); the public API is the hand-written
//! JavaScript of `lib/` (re-exported by `index.js`), which validates types, names options in
//! camelCase, builds the error classes and turns queued transitions into `EventEmitter` events.
//! Every state decision is the core's: this crate converts values and hands permits back and
//! forth, nothing more. One module per concept, as `lib/` has one file per concept:
//!
//! * [`schema`]: **one definition of the surface.** The options, metrics fields and spellings are
//!   the core's schema (`engine::OPTIONS`, `METRICS`, `State::ALL`, ...), exported by `schema()`:
//!   `lib/schema.js` builds its tables from it, [`options`] loops over the options converting each
//!   by its kind for `ConfigBuilder::set`, and `__test__/schema.test.js` walks it against
//!   `index.d.ts` and docs/node.md.
//! * [`protocol`]: **the numeric wire protocol** of the fast path (packed permits, sentinels,
//!   result bits), whose JavaScript side is `lib/protocol.js`; `protocol()` exports it and
//!   `__test__/protocol.test.js` checks that both sides agree.
//! * [`fast_path`]: **two tiers of entry points.** Construction, metrics, manual control and event
//!   draining are ordinary `#[napi]` items ([`breaker`], [`clock`]). The calls on the hot path
//!   (`fastAllow`, `fastRecord`, ...) are plain N-API functions that read their numbers from, and
//!   write their result into, the thread's call frame ([`frame`], a `Float64Array` over native
//!   memory): napi-rs 3.16 wraps every generated callback in per-call borrow tracking that
//!   allocates, which would cost more than the rest of `breaker.execute`, and argument handles and
//!   result values cost about as much as the N-API call itself.
//! * [`registry`]: **breakers by id.** A breaker lives in a per-thread registry (each Node worker
//!   is its own thread with its own breakers) and JavaScript refers to it by a small integer. The
//!   `NativeBreaker` object owns the id and frees the breaker when it is garbage-collected;
//!   `lib/breaker.js` keeps that object alive for as long as anything can still use the id.
//! * **Permits are plain data.** `allow` returns the core's `RawPermit` as numbers: just the
//!   generation for an ordinary permit, or its parts for a probe or a time-stamped permit.
//!   JavaScript hands them back to `fastRecord`/`fastRecordParts`, which rebuild the permit with
//!   `RawPermit::from_parts` (the core never trusts such a value to free a probe slot it does not
//!   hold) and record it. An admitted call therefore allocates nothing here. The spent flag lives
//!   on the JavaScript permit object, and `lib/permit.js` records a garbage-collected unrecorded
//!   probe permit as ignored.
//! * **Trivial successes.** The core decides whether a success would change nothing but its
//!   tallies (`CircuitBreaker::success_is_trivial`); `allow` publishes the generation for which it
//!   does in a cell that JavaScript reads through a `Float64Array` ([`trivial`], `trivialView`,
//!   one per page of cells), and a transition clears it. JavaScript holds such successes back as a plain count and hands them
//!   over with its next call (`fastSettle`, `CircuitBreaker::record_successes`), which halves the
//!   native calls of a stream of successful calls and changes nothing observable.
//! * **Events.** A core listener queues each transition, in order (the core delivers each once, in
//!   order, with no lock held; all of a breaker's calls are on its own JS thread). Every call
//!   that can cause one reports an "events pending" bit and `lib/breaker.js` drains the queue right
//!   after the call returns, or, for a call made from a JS listener, from the delivery loop
//!   already running once that listener returns.
//! * **Families.** [`family`]'s `NativeFamily` owns an engine `Family`; `get` hands a member out as
//!   a `NativeBreaker` of the registry whose entry holds the member's `Arc`, which pins it (the
//!   core never evicts a member referenced outside the family) while the JS object lives. A core
//!   family listener queues transitions with their key; `lib/family.js` drains them like a
//!   breaker's, after its own calls and after each member's delivery. The call-scoped API holds
//!   no `NativeBreaker`: `allow` gives a [`member_permit`] `NativeMemberPermit` owning the core's
//!   `OwnedPermit` (its `Arc` pins the member) and recording drops it, so a member is pinned only
//!   while a call is in flight, whatever the garbage collector does; `inspect` reads a member's
//!   name and state.
//! * **Observability.** [`exposition`]: the core's metric set (`families()`) and each snapshot's
//!   samples (`points()` of a breaker and of a family, built by the core's `exposition::points`
//!   with the `name`/`key` labels added there), which the exporters of `lib/observe/` turn into
//!   prom-client and OpenTelemetry objects; [`state`]: the portable state document (export, and
//!   import at construction so that a refused document creates nothing).
//! * **Host regions.** [`region`]'s `NativeRegion` owns a `circuit_shm::HostRegion`;
//!   `createBreaker`'s `region` argument makes the breaker the region's breaker of its name, one
//!   breaker across processes. Such a breaker never has a trivial success (the core says so), so
//!   every success reaches it, and its transitions (other processes' too, marked `remote`) come
//!   through the same listener and queue.
//! * **Fleet breakers.** [`fleet`]'s `NativeFleet` is the core's sans-IO fleet breaker of one
//!   name (`engine::fleet::Fleet`); `lib/fleet.js` (`redisFleet`) runs its Redis round trips on
//!   the event loop. A breaker created with a fleet keeps it in its registry entry: `fastAllow`
//!   admits through `Fleet::allow_call`, the records go through `Fleet::record_call`, and a fleet
//!   probe lease travels as two more permit parts. No I/O on the call path.
//! * [`http`]: the core's HTTP classifier (`engine::http`), converted; `lib/http/classify.js`
//!   checks and names the arguments.
//! * Nothing here starts a thread, a timer or a threadsafe function: the addon never keeps the
//!   event loop alive.

// Public only so that test builds, where napi-rs registers nothing, do not take the `#[napi]`
// items for dead code; the crate is a cdylib whose only interface is what it registers.
pub mod breaker;
pub mod clock;
pub mod exposition;
pub mod family;
pub mod fast_path;
pub mod fleet;
pub mod fleet_set;
pub mod frame;
pub mod http;
pub mod member_permit;
pub mod options;
pub mod protocol;
pub mod region;
pub mod registry;
pub mod schema;
pub mod state;
pub mod trivial;
