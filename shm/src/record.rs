//! The directory of named records.
//!
//! A record's state word moves `free -> claiming -> ready`, and only under the directory's robust
//! lock, so two processes asking for the same new name cannot both claim a record for it. A ready
//! record's name and options are written before its state becomes ready (release) and never change
//! afterwards, so a lookup reads them without the lock (acquire). A claimer that dies mid-claim
//! leaves its record `claiming`; since claims happen only under the directory lock, whoever holds
//! that lock next knows every `claiming` record is abandoned and frees it (the robust lock hands
//! the lock over with `EOWNERDEAD`).

use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::{ErrorKind, RegionError};
use crate::layout::*;
use crate::lock::RecordLock;
use crate::options::{diff_options, parse_options};
use crate::region::Region;

/// One named record of a region: its words, its lock, its name and options text. Holds the
/// region alive.
#[derive(Clone)]
pub struct Record {
    region: Region,
    index: usize,
    name: String,
}

impl std::fmt::Debug for Record {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Record").field("index", &self.index).field("name", &self.name).finish()
    }
}

/// A point inside a claim, for tests that kill a claimer there.
#[doc(hidden)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClaimStage {
    /// The state word says `claiming`.
    Marked,
    /// The record's mutex is initialised.
    MutexReady,
    /// Name and options are written; the state is not yet `ready`.
    Written,
}

impl Record {
    /// The record's index in the directory.
    pub fn index(&self) -> usize {
        self.index
    }

    /// The breaker's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The region the record lives in.
    pub fn region(&self) -> &Region {
        &self.region
    }

    /// The record's `record_words` shared words. Lock-free use is the caller's design; the words
    /// start at zero.
    pub fn words(&self) -> &[AtomicU64] {
        let base = self.region.record_base(self.index) + R_WORDS_OFFSET / 8;
        &self.region.inner.map.words()[base..base + self.region.record_words()]
    }

    /// The record's robust process-shared lock.
    pub fn mutex(&self) -> RecordLock<'_> {
        RecordLock { raw: self.region.record_lock(self.index), region: &self.region, words: self.words() }
    }

    /// The record's options text, as its creator rendered it.
    pub fn options_text(&self) -> Result<String, RegionError> {
        self.region.read_options(self.index)
    }
}

fn tag_of(state: u64) -> u64 {
    state >> 32
}

impl Region {
    fn bad_record(&self, index: usize, field: &'static str, value: u64, reason: &'static str) -> RegionError {
        RegionError::new(self.path(), ErrorKind::BadRecord { index, field, value, reason })
    }

    /// Checks record `i`'s state and lengths (at open, and before every use of its bytes).
    pub(crate) fn check_record(&self, i: usize) -> Result<u64, RegionError> {
        let state = self.record_word(i, R_STATE).load(Ordering::Acquire);
        let tag = tag_of(state);
        for w in R_RESERVED_START..R_RESERVED_END {
            let v = self.record_word(i, w).load(Ordering::Relaxed);
            if v != 0 {
                return Err(self.bad_record(i, "reserved", v, "reserved record words must be zero"));
            }
        }
        match tag {
            TAG_FREE if state != 0 => return Err(self.bad_record(i, "state", state, "a free record carries a pid")),
            TAG_FREE | TAG_CLAIMING => {}
            TAG_READY => {
                let n = self.record_word(i, R_NAME_LEN).load(Ordering::Relaxed);
                if n == 0 || n > NAME_MAX as u64 {
                    return Err(self.bad_record(i, "name_len", n, "not in 1..=256 (the name area)"));
                }
                let o = self.record_word(i, R_OPTIONS_LEN).load(Ordering::Relaxed);
                if o > OPTIONS_MAX as u64 {
                    return Err(self.bad_record(i, "options_len", o, "beyond the 2048-byte options area"));
                }
                let name = self.read_bytes(i, R_NAME_OFFSET, n as usize);
                if std::str::from_utf8(&name).is_err() {
                    return Err(self.bad_record(i, "name", n, "not UTF-8"));
                }
                let options = self.read_bytes(i, R_OPTIONS_OFFSET, o as usize);
                if std::str::from_utf8(&options).is_err() {
                    return Err(self.bad_record(i, "options", o, "not UTF-8"));
                }
            }
            _ => {
                return Err(self.bad_record(i, "state", state, "state tag out of range (0 free, 1 claiming, 2 ready)"));
            }
        }
        Ok(state)
    }

    /// `len` bytes of record `i` from byte `offset` (an area start; `len` within the area).
    fn read_bytes(&self, i: usize, offset: usize, len: usize) -> Vec<u8> {
        let base = self.record_base(i) + offset / 8;
        let words = &self.inner.map.words()[base..base + len.div_ceil(8)];
        let mut out: Vec<u8> = words.iter().flat_map(|w| w.load(Ordering::Relaxed).to_ne_bytes()).collect();
        out.truncate(len);
        out
    }

    fn write_bytes(&self, i: usize, offset: usize, area: usize, bytes: &[u8]) {
        let base = self.record_base(i) + offset / 8;
        let words = &self.inner.map.words()[base..base + area / 8];
        for (k, w) in words.iter().enumerate() {
            let mut b = [0u8; 8];
            for (j, slot) in b.iter_mut().enumerate() {
                *slot = bytes.get(k * 8 + j).copied().unwrap_or(0);
            }
            w.store(u64::from_ne_bytes(b), Ordering::Relaxed);
        }
    }

    /// The name of ready record `i`, re-validated.
    fn read_name(&self, i: usize) -> Result<String, RegionError> {
        self.check_record(i)?;
        let n = self.record_word(i, R_NAME_LEN).load(Ordering::Relaxed).min(NAME_MAX as u64) as usize;
        String::from_utf8(self.read_bytes(i, R_NAME_OFFSET, n))
            .map_err(|_| self.bad_record(i, "name", n as u64, "not UTF-8"))
    }

    pub(crate) fn read_options(&self, i: usize) -> Result<String, RegionError> {
        self.check_record(i)?;
        let n = self.record_word(i, R_OPTIONS_LEN).load(Ordering::Relaxed).min(OPTIONS_MAX as u64) as usize;
        String::from_utf8(self.read_bytes(i, R_OPTIONS_OFFSET, n))
            .map_err(|_| self.bad_record(i, "options", n as u64, "not UTF-8"))
    }

    fn check_name(&self, name: &str) -> Result<(), RegionError> {
        let invalid = |reason: String| {
            let shown: String = name.chars().take(64).collect();
            Err(RegionError::new(self.path(), ErrorKind::InvalidName { name: shown, reason }))
        };
        if name.is_empty() {
            return invalid("empty".into());
        }
        if name.len() > NAME_MAX {
            return invalid(format!("{} bytes, the limit is {NAME_MAX}", name.len()));
        }
        if name.contains('\0') {
            return invalid("contains NUL".into());
        }
        Ok(())
    }

    /// Finds the ready record called `name`, without taking any lock.
    pub fn find(&self, name: &str) -> Result<Option<Record>, RegionError> {
        self.check_name(name)?;
        for i in 0..self.capacity() {
            let state = self.check_record(i)?;
            if tag_of(state) != TAG_READY {
                continue;
            }
            let n = self.record_word(i, R_NAME_LEN).load(Ordering::Relaxed);
            if n != name.len() as u64 {
                continue;
            }
            if self.read_name(i)? == name {
                return Ok(Some(Record { region: self.clone(), index: i, name: name.to_string() }));
            }
        }
        Ok(None)
    }

    /// Every ready record, in directory order, without taking any lock.
    pub fn records(&self) -> Result<Vec<Record>, RegionError> {
        let mut out = Vec::new();
        for i in 0..self.capacity() {
            if tag_of(self.check_record(i)?) == TAG_READY {
                out.push(Record { region: self.clone(), index: i, name: self.read_name(i)? });
            }
        }
        Ok(out)
    }

    /// Finds the record called `name`, or claims a free one for it with `options` (a
    /// `key=value;key=value` text, at most [`OPTIONS_MAX`] bytes). An existing record whose options
    /// hold different pairs is refused with [`ErrorKind::OptionsMismatch`], naming the breaker and
    /// each differing option; a region with no free record is [`ErrorKind::Full`].
    pub fn record(&self, name: &str, options: &str) -> Result<Record, RegionError> {
        self.record_with_claim_hook(name, options, |_| {})
    }

    /// [`Region::record`], calling `hook` at each [`ClaimStage`] of a claim (test support).
    #[doc(hidden)]
    pub fn record_with_claim_hook(
        &self,
        name: &str,
        options: &str,
        mut hook: impl FnMut(ClaimStage),
    ) -> Result<Record, RegionError> {
        self.check_name(name)?;
        let invalid = |reason: String| {
            Err(RegionError::new(self.path(), ErrorKind::InvalidOptionsText { breaker: name.to_string(), reason }))
        };
        if options.len() > OPTIONS_MAX {
            return invalid(format!("{} bytes, the limit is {OPTIONS_MAX}", options.len()));
        }
        if let Err(reason) = parse_options(options) {
            return invalid(reason);
        }
        if let Some(r) = self.find(name)? {
            return self.same_options(r, options);
        }
        let (_guard, _owner_died) = self.dir_lock()?;
        // Under the directory lock: nobody else is claiming, so a `claiming` record is abandoned
        // (its claimer died holding this lock, which is what `_owner_died` reports).
        if let Some(r) = self.find(name)? {
            return self.same_options(r, options);
        }
        let pid = std::process::id();
        for i in 0..self.capacity() {
            let state = self.check_record(i)?;
            if tag_of(state) == TAG_READY {
                continue;
            }
            let claiming = state_word(TAG_CLAIMING, pid);
            if self
                .record_word(i, R_STATE)
                .compare_exchange(state, claiming, Ordering::AcqRel, Ordering::Acquire)
                .is_err()
            {
                // Only a process breaking the protocol (or a corrupted file) changes a state word
                // under our lock; skip that record.
                continue;
            }
            hook(ClaimStage::Marked);
            // SAFETY: the record's mutex area lies in the mapping (`mutex_at` checks); the record is
            // not ready, so no process can have found it and be using its mutex.
            unsafe { crate::lock::RawLock::init(self.record_lock(i).ptr) }.map_err(|rc| {
                self.record_word(i, R_STATE).store(0, Ordering::Release);
                RegionError::io(self.path(), "pthread_mutex_init", std::io::Error::from_raw_os_error(rc))
            })?;
            hook(ClaimStage::MutexReady);
            self.write_bytes(i, R_NAME_OFFSET, NAME_MAX, name.as_bytes());
            self.write_bytes(i, R_OPTIONS_OFFSET, OPTIONS_MAX, options.as_bytes());
            self.record_word(i, R_NAME_LEN).store(name.len() as u64, Ordering::Relaxed);
            self.record_word(i, R_OPTIONS_LEN).store(options.len() as u64, Ordering::Relaxed);
            let base = self.record_base(i) + R_WORDS_OFFSET / 8;
            for w in &self.inner.map.words()[base..base + self.record_words()] {
                w.store(0, Ordering::Relaxed);
            }
            hook(ClaimStage::Written);
            self.record_word(i, R_STATE).store(state_word(TAG_READY, pid), Ordering::Release);
            return Ok(Record { region: self.clone(), index: i, name: name.to_string() });
        }
        Err(RegionError::new(self.path(), ErrorKind::Full { capacity: self.capacity() }))
    }

    fn same_options(&self, r: Record, requested: &str) -> Result<Record, RegionError> {
        let existing = r.options_text()?;
        if existing == requested {
            return Ok(r);
        }
        let a = parse_options(&existing).map_err(|_| self.bad_record(r.index, "options", 0, "not a key=value text"))?;
        let b = parse_options(requested).expect("checked by the caller");
        let differences = diff_options(&a, &b);
        if differences.is_empty() {
            return Ok(r);
        }
        Err(RegionError::new(self.path(), ErrorKind::OptionsMismatch { breaker: r.name.clone(), differences }))
    }
}

// `Record` must be shareable between threads: it only holds a `Region` (an `Arc`).
const _: fn() = || {
    fn assert<T: Send + Sync>() {}
    assert::<Record>();
    assert::<Region>();
};
