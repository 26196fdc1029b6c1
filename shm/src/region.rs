//! Opening, creating and validating a region file, and its mapping.

use std::fs::{File, OpenOptions};
use std::io;
use std::marker::PhantomData;
use std::os::unix::fs::{FileExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::ptr::NonNull;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::clock::{ClockKind, RegionClock};
use crate::error::{ErrorKind, RegionError};
use crate::layout::*;
use crate::lock::{Acquired, DirGuard, RawLock};

/// How to open a region.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegionOptions {
    /// The number of records, 1..=[`MAX_CAPACITY`]; fixed at creation.
    pub capacity: usize,
    /// The number of `AtomicU64` words per record, 1..=[`MAX_RECORD_WORDS`]; fixed at creation.
    pub record_words: usize,
    /// The file's permission bits when this call creates it (`0o600` by default). Applied with
    /// `fchmod`, so the umask does not change them.
    pub mode: u32,
    /// Create the file if it does not exist (otherwise [`ErrorKind::NotFound`]).
    pub create: bool,
    /// The region's clock when this call creates it; an existing region using the other clock is
    /// refused.
    pub clock: ClockKind,
}

impl RegionOptions {
    /// `capacity` records of `record_words` words, mode `0o600`, created if missing, host clock.
    pub fn new(capacity: usize, record_words: usize) -> RegionOptions {
        RegionOptions { capacity, record_words, mode: 0o600, create: true, clock: ClockKind::Host }
    }
}

impl Default for RegionOptions {
    fn default() -> RegionOptions {
        RegionOptions::new(64, 64)
    }
}

/// The shared mapping of the whole file.
pub(crate) struct Mapping {
    ptr: NonNull<u8>,
    len: usize,
}

// SAFETY: the mapping is plain shared memory; every access through it goes through atomics or
// process-shared pthread mutexes, which are designed for concurrent use from any thread.
unsafe impl Send for Mapping {}
// SAFETY: as above.
unsafe impl Sync for Mapping {}

impl Mapping {
    fn new(file: &File, len: usize, path: &Path) -> Result<Mapping, RegionError> {
        use std::os::fd::AsRawFd;
        // SAFETY: mapping a file we opened read-write, `len` bytes (checked to be the file's size,
        // non-zero), shared; the result is checked for MAP_FAILED.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                file.as_raw_fd(),
                0,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(RegionError::io(path, "mmap", io::Error::last_os_error()));
        }
        let ptr =
            NonNull::new(p.cast::<u8>()).ok_or_else(|| RegionError::io(path, "mmap", io::Error::other("null")))?;
        Ok(Mapping { ptr, len })
    }

    /// The whole mapping as words (its length is a multiple of 8, its base page-aligned).
    pub(crate) fn words(&self) -> &[AtomicU64] {
        // SAFETY: the mapping is `len` bytes, page-aligned (so 8-aligned), readable and writable
        // for as long as `self` lives; `AtomicU64` has no invalid bit patterns and allows shared
        // mutation, which is what other processes do.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr().cast::<AtomicU64>(), self.len / 8) }
    }

    pub(crate) fn mutex_at(&self, offset: usize) -> *mut libc::pthread_mutex_t {
        assert!(offset.is_multiple_of(64) && offset + MUTEX_AREA <= self.len, "mutex offset out of the mapping");
        // SAFETY: `offset + MUTEX_AREA <= len` was just checked, so the pointer stays in the mapping.
        unsafe { self.ptr.as_ptr().add(offset).cast() }
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: `ptr`/`len` are exactly what mmap returned; nothing borrows the mapping any more
        // (every borrower holds the `Arc` that owns it).
        unsafe { libc::munmap(self.ptr.as_ptr().cast(), self.len) };
    }
}

pub(crate) struct Inner {
    pub(crate) path: PathBuf,
    pub(crate) map: Mapping,
    pub(crate) capacity: usize,
    pub(crate) record_words: usize,
    pub(crate) record_size: usize,
    pub(crate) clock: ClockKind,
    created: bool,
    /// Set once a breaker uses the mapping: it is then never unmapped (see `host::keep_mapped`).
    pub(crate) kept: std::sync::atomic::AtomicBool,
    _file: File,
}

/// A region: a file-backed mapping shared by every process that opens the same path. Cloning is
/// cheap (the mapping is reference-counted); a clone survives `fork`, since the mapping is
/// `MAP_SHARED`.
#[derive(Clone)]
pub struct Region {
    pub(crate) inner: Arc<Inner>,
}

impl std::fmt::Debug for Region {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Region")
            .field("path", &self.inner.path)
            .field("capacity", &self.inner.capacity)
            .field("record_words", &self.inner.record_words)
            .field("clock", &self.inner.clock)
            .finish()
    }
}

fn bad_header(path: &Path, field: &'static str, value: u64, reason: &'static str) -> RegionError {
    RegionError::new(path, ErrorKind::BadHeader { field, value, reason })
}

fn check_options(path: &Path, o: &RegionOptions) -> Result<(), RegionError> {
    let invalid = |option, reason: String| Err(RegionError::new(path, ErrorKind::InvalidOptions { option, reason }));
    if o.capacity == 0 || o.capacity as u64 > MAX_CAPACITY {
        return invalid("capacity", format!("{} is not in 1..={MAX_CAPACITY}", o.capacity));
    }
    if o.record_words == 0 || o.record_words as u64 > MAX_RECORD_WORDS {
        return invalid("record_words", format!("{} is not in 1..={MAX_RECORD_WORDS}", o.record_words));
    }
    if o.mode & !0o777 != 0 {
        return invalid("mode", format!("{:#o} has bits outside 0o777", o.mode));
    }
    if o.mode & 0o600 != 0o600 {
        return invalid("mode", format!("{:#o} does not let the owner read and write", o.mode));
    }
    Ok(())
}

/// The validated parameters of a header.
struct Header {
    capacity: u64,
    record_words: u64,
    record_size: u64,
    clock: ClockKind,
}

/// Validates a header read from a file of `size` bytes. Pure: every value is untrusted.
fn parse_header(path: &Path, w: &[u64; HEADER_LEN / 8], size: u64) -> Result<Header, RegionError> {
    if w[H_MAGIC] != MAGIC {
        return Err(RegionError::new(path, ErrorKind::Foreign { magic: w[H_MAGIC] }));
    }
    let version = w[H_VERSION];
    if version > VERSION {
        return Err(RegionError::new(path, ErrorKind::NewerVersion { found: version, supported: VERSION }));
    }
    if version != VERSION {
        return Err(RegionError::new(path, ErrorKind::UnknownVersion { found: version, supported: VERSION }));
    }
    if w[H_HEADER_LEN] != HEADER_LEN as u64 {
        return Err(bad_header(path, "header_len", w[H_HEADER_LEN], "a version 1 header is 256 bytes"));
    }
    if w[H_READY] != READY_VALUE {
        return Err(RegionError::new(path, ErrorKind::NotReady));
    }
    let capacity = w[H_CAPACITY];
    if capacity == 0 || capacity > MAX_CAPACITY {
        return Err(bad_header(path, "capacity", capacity, "not in 1..=65536"));
    }
    let record_words = w[H_RECORD_WORDS];
    if record_words == 0 || record_words > MAX_RECORD_WORDS {
        return Err(bad_header(path, "record_words", record_words, "not in 1..=4096"));
    }
    let record_size = w[H_RECORD_SIZE];
    if Some(record_size) != crate::layout::record_size(record_words) {
        return Err(bad_header(path, "record_size", record_size, "disagrees with record_words"));
    }
    if w[H_FLAGS] & !KNOWN_FLAGS != 0 {
        return Err(bad_header(path, "flags", w[H_FLAGS], "unknown flag bits"));
    }
    if w[H_MUTEX_SIZE] != size_of::<libc::pthread_mutex_t>() as u64 {
        return Err(bad_header(
            path,
            "mutex_size",
            w[H_MUTEX_SIZE],
            "created by a process with a different pthread ABI (another architecture or libc)",
        ));
    }
    if let Some(v) = w[H_RESERVED_START..H_RESERVED_END].iter().find(|v| **v != 0) {
        return Err(bad_header(path, "reserved", *v, "reserved header words must be zero"));
    }
    let expected = file_size(capacity, record_size)
        .ok_or_else(|| bad_header(path, "capacity", capacity, "the file size overflows"))?;
    if size < expected {
        return Err(RegionError::new(path, ErrorKind::Truncated { size, needed: expected }));
    }
    if size > expected {
        return Err(RegionError::new(path, ErrorKind::SizeMismatch { size, expected }));
    }
    if usize::try_from(expected).is_err() {
        return Err(bad_header(path, "capacity", capacity, "the region does not fit in the address space"));
    }
    let clock = if w[H_FLAGS] & FLAG_MANUAL_CLOCK != 0 { ClockKind::Manual } else { ClockKind::Host };
    Ok(Header { capacity, record_words, record_size, clock })
}

static TMP_SEQ: AtomicU64 = AtomicU64::new(0);

impl Region {
    /// Opens the region at `path`, creating it if `options.create` and it does not exist.
    ///
    /// Creation is race-free: the file is built and fully initialised under a unique temporary
    /// name in the same directory (`O_EXCL`), then `link(2)`ed to `path`; when several processes
    /// create at once, one link wins and the others open the winner's file. An opener therefore
    /// never sees a half-initialised region.
    ///
    /// Opening validates everything: a regular file (not followed through a symbolic link), the
    /// magic, the layout version, every header field, the size, every record's state and lengths.
    /// An existing region must have the requested `capacity`, `record_words` and `clock`.
    pub fn open(path: impl AsRef<Path>, options: RegionOptions) -> Result<Region, RegionError> {
        let path = path.as_ref();
        check_options(path, &options)?;
        // A created-then-lost race is followed by an open of the winner; a file removed between
        // the two makes us try again, a bounded number of times.
        for _ in 0..16 {
            match Self::open_existing(path, &options) {
                Err(e) if matches!(e.kind(), ErrorKind::NotFound) && options.create => {}
                other => return other,
            }
            match Self::create(path, &options)? {
                Some(region) => return Ok(region),
                None => continue,
            }
        }
        Err(RegionError::io(path, "open", io::Error::other("the file kept appearing and disappearing")))
    }

    fn open_existing(path: &Path, options: &RegionOptions) -> Result<Region, RegionError> {
        let file = match OpenOptions::new().read(true).write(true).custom_flags(libc::O_NOFOLLOW).open(path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(RegionError::new(path, ErrorKind::NotFound)),
            Err(e) if e.raw_os_error() == Some(libc::ELOOP) => return Err(RegionError::new(path, ErrorKind::Symlink)),
            Err(e) if e.raw_os_error() == Some(libc::EISDIR) => {
                return Err(RegionError::new(path, ErrorKind::NotRegularFile));
            }
            Err(e) => return Err(RegionError::io(path, "open", e)),
        };
        let meta = file.metadata().map_err(|e| RegionError::io(path, "fstat", e))?;
        if !meta.file_type().is_file() {
            return Err(RegionError::new(path, ErrorKind::NotRegularFile));
        }
        let size = meta.size();
        // A short file that is not a region at all is foreign rather than truncated.
        if (8..HEADER_LEN as u64).contains(&size) {
            let mut magic = [0u8; 8];
            file.read_exact_at(&mut magic, 0).map_err(|e| RegionError::io(path, "read header", e))?;
            let magic = u64::from_ne_bytes(magic);
            if magic != MAGIC {
                return Err(RegionError::new(path, ErrorKind::Foreign { magic }));
            }
        }
        if size < HEADER_LEN as u64 {
            return Err(RegionError::new(path, ErrorKind::Truncated { size, needed: HEADER_LEN as u64 }));
        }
        let mut bytes = [0u8; HEADER_LEN];
        file.read_exact_at(&mut bytes, 0).map_err(|e| RegionError::io(path, "read header", e))?;
        let mut words = [0u64; HEADER_LEN / 8];
        for (w, chunk) in words.iter_mut().zip(bytes.chunks_exact(8)) {
            let mut b = [0u8; 8];
            b.copy_from_slice(chunk);
            *w = u64::from_ne_bytes(b);
        }
        let h = parse_header(path, &words, size)?;
        if h.capacity != options.capacity as u64 {
            return Err(RegionError::new(
                path,
                ErrorKind::LayoutMismatch {
                    field: "capacity",
                    existing: h.capacity,
                    requested: options.capacity as u64,
                },
            ));
        }
        if h.record_words != options.record_words as u64 {
            return Err(RegionError::new(
                path,
                ErrorKind::LayoutMismatch {
                    field: "record_words",
                    existing: h.record_words,
                    requested: options.record_words as u64,
                },
            ));
        }
        if h.clock != options.clock {
            return Err(RegionError::new(
                path,
                ErrorKind::ClockMismatch { existing: h.clock, requested: options.clock },
            ));
        }
        // Every value below fits in usize: `parse_header` checked the total size does.
        let len = (HEADER_LEN as u64 + h.capacity * h.record_size) as usize;
        let map = Mapping::new(&file, len, path)?;
        let region = Region {
            inner: Arc::new(Inner {
                kept: std::sync::atomic::AtomicBool::new(false),
                path: path.to_path_buf(),
                map,
                capacity: h.capacity as usize,
                record_words: h.record_words as usize,
                record_size: h.record_size as usize,
                clock: h.clock,
                created: false,
                _file: file,
            }),
        };
        // The header may have changed between the read and the map: it must still say the same.
        // (Only the fields: the clock moves, and the directory mutex changes as processes lock it.)
        let live = region.inner.map.words();
        let changed = (0..H_RESERVED_END).any(|i| i != H_MANUAL_CLOCK && live[i].load(Ordering::Acquire) != words[i]);
        if changed {
            return Err(bad_header(path, "header", 0, "changed while the region was being opened"));
        }
        for i in 0..region.inner.capacity {
            region.check_record(i)?;
        }
        let mut names = std::collections::HashSet::new();
        for r in region.records()? {
            if !names.insert(r.name().to_string()) {
                return Err(RegionError::new(
                    path,
                    ErrorKind::BadRecord {
                        index: r.index(),
                        field: "name",
                        value: 0,
                        reason: "a second record with the same name",
                    },
                ));
            }
        }
        Ok(region)
    }

    /// Builds the region under a temporary name and links it to `path`. `Ok(None)`: another
    /// process linked first; open its file.
    fn create(path: &Path, options: &RegionOptions) -> Result<Option<Region>, RegionError> {
        let file_name = path
            .file_name()
            .ok_or_else(|| RegionError::io(path, "create", io::Error::other("the path has no file name")))?;
        let dir = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let seq = TMP_SEQ.fetch_add(1, Ordering::Relaxed);
        let mut tmp_name = std::ffi::OsString::from(".");
        tmp_name.push(file_name);
        tmp_name.push(format!(".{}.{}.{}.tmp", std::process::id(), seq, crate::host_monotonic_nanos()));
        let tmp = dir.join(tmp_name);
        let result = Self::build(path, &tmp, options);
        let region = match result {
            Ok(r) => r,
            Err(e) => {
                let _ = std::fs::remove_file(&tmp);
                return Err(e);
            }
        };
        let linked = std::fs::hard_link(&tmp, path);
        let _ = std::fs::remove_file(&tmp);
        match linked {
            Ok(()) => Ok(Some(region)),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(None),
            Err(e) => Err(RegionError::io(path, "link", e)),
        }
    }

    fn build(path: &Path, tmp: &Path, o: &RegionOptions) -> Result<Region, RegionError> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .mode(o.mode)
            .custom_flags(libc::O_NOFOLLOW)
            .open(tmp)
            .map_err(|e| RegionError::io(path, "create the temporary file", e))?;
        file.set_permissions(std::fs::Permissions::from_mode(o.mode))
            .map_err(|e| RegionError::io(path, "fchmod", e))?;
        let record_size = record_size(o.record_words as u64).expect("record_words is bounded");
        let size = file_size(o.capacity as u64, record_size).expect("capacity is bounded");
        let len = usize::try_from(size)
            .map_err(|_| RegionError::io(path, "create", io::Error::other("the region does not fit in memory")))?;
        file.set_len(size).map_err(|e| RegionError::io(path, "ftruncate", e))?;
        let map = Mapping::new(&file, len, path)?;
        let w = map.words();
        w[H_MAGIC].store(MAGIC, Ordering::Relaxed);
        w[H_VERSION].store(VERSION, Ordering::Relaxed);
        w[H_HEADER_LEN].store(HEADER_LEN as u64, Ordering::Relaxed);
        w[H_CAPACITY].store(o.capacity as u64, Ordering::Relaxed);
        w[H_RECORD_WORDS].store(o.record_words as u64, Ordering::Relaxed);
        w[H_RECORD_SIZE].store(record_size, Ordering::Relaxed);
        let flags = if o.clock == ClockKind::Manual { FLAG_MANUAL_CLOCK } else { 0 };
        w[H_FLAGS].store(flags, Ordering::Relaxed);
        w[H_MUTEX_SIZE].store(size_of::<libc::pthread_mutex_t>() as u64, Ordering::Relaxed);
        w[H_MANUAL_CLOCK].store(0, Ordering::Relaxed);
        // SAFETY: the directory mutex area lies in the mapping (checked by `mutex_at`) and no other
        // process can see this file yet (it is not linked to `path`).
        unsafe { RawLock::init(map.mutex_at(DIR_MUTEX_OFFSET)) }
            .map_err(|rc| RegionError::io(path, "pthread_mutex_init", io::Error::from_raw_os_error(rc)))?;
        w[H_READY].store(READY_VALUE, Ordering::Release);
        Ok(Region {
            inner: Arc::new(Inner {
                kept: std::sync::atomic::AtomicBool::new(false),
                path: path.to_path_buf(),
                map,
                capacity: o.capacity,
                record_words: o.record_words,
                record_size: record_size as usize,
                clock: o.clock,
                created: true,
                _file: file,
            }),
        })
    }

    /// The path the region was opened with.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// True when this call created the file (it won the creation race), false when it opened an
    /// existing region.
    pub fn created(&self) -> bool {
        self.inner.created
    }

    /// The number of records (fixed at creation).
    pub fn capacity(&self) -> usize {
        self.inner.capacity
    }

    /// The number of words per record (fixed at creation).
    pub fn record_words(&self) -> usize {
        self.inner.record_words
    }

    /// The region's clock kind (fixed at creation).
    pub fn clock_kind(&self) -> ClockKind {
        self.inner.clock
    }

    /// The region's clock.
    pub fn clock(&self) -> RegionClock<'_> {
        RegionClock { region: self }
    }

    pub(crate) fn manual_clock_word(&self) -> &AtomicU64 {
        &self.inner.map.words()[H_MANUAL_CLOCK]
    }

    /// Word index of record `i`'s first word in the mapping.
    pub(crate) fn record_base(&self, i: usize) -> usize {
        (HEADER_LEN + i * self.inner.record_size) / 8
    }

    pub(crate) fn record_word(&self, i: usize, w: usize) -> &AtomicU64 {
        &self.inner.map.words()[self.record_base(i) + w]
    }

    pub(crate) fn dir_lock(&self) -> Result<(DirGuard, bool), RegionError> {
        let raw = RawLock { ptr: self.inner.map.mutex_at(DIR_MUTEX_OFFSET), record: None };
        let died = matches!(raw.lock(self)?, Acquired::OwnerDied);
        Ok((DirGuard { raw, _not_send: PhantomData }, died))
    }

    pub(crate) fn record_lock(&self, i: usize) -> RawLock {
        RawLock {
            ptr: self.inner.map.mutex_at(HEADER_LEN + i * self.inner.record_size + R_MUTEX_OFFSET),
            record: Some(i),
        }
    }
}
