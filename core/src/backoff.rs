//! How long the breaker stays open (docs/semantics.md, "Open duration and backoff"):
//! `min(reset_timeout * backoff_multiplier^attempt, max_reset_timeout)`, then scaled by a random
//! factor in `(1 - jitter, 1]` drawn from a SplitMix64 sequence. With `jitter_seed` the sequence
//! is the same in every language and run; without it each breaker draws its own seed, so a fleet
//! does not recover in lockstep.

use crate::config::Config;

/// A small, fast, reproducible random sequence (SplitMix64).
#[derive(Debug, Clone)]
pub(crate) struct Jitter {
    state: u64,
}

impl Jitter {
    pub(crate) fn new(seed: Option<u64>) -> Self {
        let seed = seed.unwrap_or_else(|| {
            use std::hash::{BuildHasher, Hasher};
            std::collections::hash_map::RandomState::new().build_hasher().finish()
        });
        Self { state: seed }
    }

    /// The sequence's position (a state document carries it, so a restored breaker draws on).
    pub(crate) fn state(&self) -> u64 {
        self.state
    }

    /// A uniform float in [0, 1).
    fn next_unit(&mut self) -> f64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        (z >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }
}

/// The open duration, in nanoseconds, for the given re-opening `attempt` (0 for a trip from
/// closed). Saturates instead of overflowing; consumes one jitter draw when jitter is on.
pub(crate) fn open_duration(config: &Config, attempt: u32, jitter: &mut Jitter) -> u64 {
    let base = if config.backoff_multiplier == 1.0 || attempt == 0 {
        config.reset_timeout
    } else {
        let exponent = i32::try_from(attempt).unwrap_or(i32::MAX);
        let grown = config.reset_timeout as f64 * config.backoff_multiplier.powi(exponent);
        // `as` saturates: +inf and anything above u64::MAX become u64::MAX.
        grown as u64
    };
    let capped = base.min(config.max_reset_timeout);
    if config.jitter == 0.0 {
        return capped;
    }
    let factor = 1.0 - config.jitter * jitter.next_unit();
    (capped as f64 * factor) as u64
}
