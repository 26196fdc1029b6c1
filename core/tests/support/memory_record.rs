#![allow(dead_code)] // each test file uses part of it
//! A `HostRecord` over plain memory, for tests of the engine's shared mode within one process:
//! several breaker objects on one record behave as breakers in several processes would (each
//! may claim a different process id, so transitions made by another are "remote").

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};

use circuit::HostRecord;

/// One record's memory, shared by the objects made with [`MemoryRecord::process`].
pub struct MemoryBlock {
    words: &'static [AtomicU64],
    locked: AtomicBool,
    /// Set by a test to make the next `lock` report that the previous holder died.
    pub owner_died: AtomicBool,
    /// Processes that `is_alive` reports as gone.
    pub dead: std::sync::Mutex<Vec<u32>>,
}

static FORKS: AtomicU64 = AtomicU64::new(0);

impl MemoryBlock {
    /// A zeroed record of `words` words (leaked: tests are short-lived).
    pub fn new(words: usize) -> Arc<MemoryBlock> {
        let words: Vec<AtomicU64> = (0..words).map(|_| AtomicU64::new(0)).collect();
        Arc::new(MemoryBlock {
            words: Box::leak(words.into_boxed_slice()),
            locked: AtomicBool::new(false),
            owner_died: AtomicBool::new(false),
            dead: std::sync::Mutex::new(Vec::new()),
        })
    }

    /// The record's words.
    pub fn words(&self) -> &'static [AtomicU64] {
        self.words
    }
}

/// The record as process `pid` sees it.
pub struct MemoryRecord {
    pub block: Arc<MemoryBlock>,
    pub pid: AtomicU32,
}

impl MemoryRecord {
    pub fn process(block: &Arc<MemoryBlock>, pid: u32) -> Arc<dyn HostRecord> {
        Arc::new(MemoryRecord { block: Arc::clone(block), pid: AtomicU32::new(pid) })
    }
}

impl HostRecord for MemoryRecord {
    fn words(&self) -> &'static [AtomicU64] {
        self.block.words
    }

    fn lock(&self) -> bool {
        while self.block.locked.compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed).is_err() {
            std::thread::yield_now();
        }
        self.block.owner_died.swap(false, Ordering::AcqRel)
    }

    fn unlock(&self) {
        self.block.locked.store(false, Ordering::Release);
    }

    fn process_id(&self) -> u32 {
        self.pid.load(Ordering::Relaxed)
    }

    fn is_alive(&self, pid: u32) -> bool {
        !self.block.dead.lock().unwrap().contains(&pid)
    }

    fn forks(&self) -> &'static AtomicU64 {
        &FORKS
    }
}
