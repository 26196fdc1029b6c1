//! Reading and writing plain values in a record's shared words (the encoded locked state).
//!
//! Every access is `Relaxed`: the encoded state is only read and written under the record's
//! process-shared lock, which orders them; the commit word tells which copy is whole.

use std::sync::atomic::{AtomicU64, Ordering};

/// Appends words to a slice; writes past its end are dropped (sizes are checked at attach, so
/// this only guards against a bug, never reached by any input).
pub(crate) struct Writer<'a> {
    words: &'a [AtomicU64],
    at: usize,
}

impl<'a> Writer<'a> {
    pub(crate) fn new(words: &'a [AtomicU64]) -> Self {
        Self { words, at: 0 }
    }

    pub(crate) fn put(&mut self, value: u64) {
        if let Some(word) = self.words.get(self.at) {
            word.store(value, Ordering::Relaxed);
        }
        self.at += 1;
    }

    pub(crate) fn put_option(&mut self, value: Option<u64>) {
        self.put(value.unwrap_or(u64::MAX));
    }
}

/// Reads words from a slice; `None` past its end (a truncated or corrupted encoding).
pub(crate) struct Reader<'a> {
    words: &'a [AtomicU64],
    at: usize,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(words: &'a [AtomicU64]) -> Self {
        Self { words, at: 0 }
    }

    pub(crate) fn get(&mut self) -> Option<u64> {
        let value = self.words.get(self.at)?.load(Ordering::Relaxed);
        self.at += 1;
        Some(value)
    }

    /// A value no larger than `max`.
    pub(crate) fn get_at_most(&mut self, max: u64) -> Option<u64> {
        self.get().filter(|&v| v <= max)
    }

    pub(crate) fn get_u32(&mut self) -> Option<u32> {
        self.get().and_then(|v| u32::try_from(v).ok())
    }

    pub(crate) fn get_option(&mut self) -> Option<Option<u64>> {
        self.get().map(|v| (v != u64::MAX).then_some(v))
    }
}
