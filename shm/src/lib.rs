//! Host-shared memory regions for circuit breakers.
//!
//! A [`Region`] is a file (typically under `/dev/shm`) mapped `MAP_SHARED` by every process on the
//! host that opens the same path. It holds a fixed directory of named [`Record`]s; each record has
//! an options text, a robust process-shared lock ([`RecordLock`]) and `record_words` atomic words.
//! Breakers with the same name in one region are meant to be one breaker across processes: the
//! state machine over these words lives in the core and is built on this crate's views.
//!
//! ```no_run
//! use circuit_shm::{Region, RegionOptions};
//! use std::sync::atomic::Ordering;
//!
//! let region = Region::open("/dev/shm/my-service.circuit", RegionOptions::new(64, 32))?;
//! let record = region.record("payments", "failure_threshold=5;reset_timeout=30000")?;
//! let guard = record.mutex().lock()?;
//! if guard.owner_died() {
//!     // a process died holding the lock: repair the words before using them
//! }
//! guard.words()[0].fetch_add(1, Ordering::AcqRel);
//! # Ok::<(), circuit_shm::RegionError>(())
//! ```
//!
//! Every byte of the file is untrusted: opening validates the whole header and directory, every
//! later read re-checks the lengths it uses, and a bad file is a [`RegionError`] naming the path
//! and the problem. See `docs/shared.md` for the layout, its version policy, limits, security and
//! crash safety. Linux only.
#![cfg(target_os = "linux")]
#![warn(missing_docs)]

mod clock;
mod error;
mod host;
pub mod layout;
mod lock;
mod options;
mod record;
mod region;

pub use clock::{ClockKind, RegionClock, host_monotonic_nanos};
pub use error::{ErrorKind, RegionError};
pub use host::{HostRegion, ManualRegionClock};
pub use lock::{RecordGuard, RecordLock};
pub use options::{OptionDifference, diff_options, parse_options};
#[doc(hidden)]
pub use record::ClaimStage;
pub use record::Record;
pub use region::{Region, RegionOptions};
