//! The error type: every failure names the region's path and the problem.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

use crate::clock::ClockKind;
use crate::options::OptionDifference;

/// An error opening or using a region. [`RegionError::kind`] says what went wrong; `Display`
/// names the path and the problem.
#[derive(Debug)]
pub struct RegionError {
    path: PathBuf,
    kind: ErrorKind,
}

/// What went wrong.
#[derive(Debug)]
#[non_exhaustive]
pub enum ErrorKind {
    /// A system call failed.
    Io {
        /// What was being done.
        op: &'static str,
        /// The error.
        source: io::Error,
    },
    /// The file does not exist and `create` was false.
    NotFound,
    /// The path is a symbolic link (regions are opened with `O_NOFOLLOW`).
    Symlink,
    /// The path is not a regular file.
    NotRegularFile,
    /// The file is shorter than its header, or than its header says it is.
    Truncated {
        /// The file's size.
        size: u64,
        /// The size the header (or a minimal header) needs.
        needed: u64,
    },
    /// The file is longer than its header says.
    SizeMismatch {
        /// The file's size.
        size: u64,
        /// The size the header implies.
        expected: u64,
    },
    /// The file does not start with the region magic: not a circuit region.
    Foreign {
        /// The first word found.
        magic: u64,
    },
    /// The file was written by a newer layout than this library reads.
    NewerVersion {
        /// The file's layout version.
        found: u64,
        /// The version this library reads.
        supported: u64,
    },
    /// The file's layout version is not one this library knows (an older or invalid layout).
    UnknownVersion {
        /// The file's layout version.
        found: u64,
        /// The version this library reads.
        supported: u64,
    },
    /// The header was not completely initialised.
    NotReady,
    /// A header field is out of range or disagrees with another.
    BadHeader {
        /// The field.
        field: &'static str,
        /// Its value.
        value: u64,
        /// Why it is refused.
        reason: &'static str,
    },
    /// A record's field is out of range.
    BadRecord {
        /// The record's index.
        index: usize,
        /// The field.
        field: &'static str,
        /// Its value.
        value: u64,
        /// Why it is refused.
        reason: &'static str,
    },
    /// The caller's [`RegionOptions`](crate::RegionOptions) are invalid.
    InvalidOptions {
        /// The option.
        option: &'static str,
        /// Why.
        reason: String,
    },
    /// The existing region was created with a different layout parameter.
    LayoutMismatch {
        /// `capacity` or `record_words`.
        field: &'static str,
        /// The region's value.
        existing: u64,
        /// The caller's value.
        requested: u64,
    },
    /// The existing region uses the other clock.
    ClockMismatch {
        /// The region's clock.
        existing: ClockKind,
        /// The caller's clock.
        requested: ClockKind,
    },
    /// A record name is empty, too long or not allowed.
    InvalidName {
        /// The name (possibly cut to a readable length).
        name: String,
        /// Why.
        reason: String,
    },
    /// An options text is not `key=value;key=value` or is too long.
    InvalidOptionsText {
        /// The breaker.
        breaker: String,
        /// Why.
        reason: String,
    },
    /// Every record is in use.
    Full {
        /// The region's capacity.
        capacity: usize,
    },
    /// The breaker exists with different options.
    OptionsMismatch {
        /// The breaker's name.
        breaker: String,
        /// Each differing option.
        differences: Vec<OptionDifference>,
    },
    /// A lock's owner died and the state it protected was left unrecoverable
    /// (`ENOTRECOVERABLE`): the region must be recreated.
    LockNotRecoverable {
        /// The record's index, or `None` for the directory lock.
        record: Option<usize>,
    },
    /// A lock operation failed (for example `EDEADLK`: this thread already holds it).
    Lock {
        /// The record's index, or `None` for the directory lock.
        record: Option<usize>,
        /// The pthread error number.
        errno: i32,
    },
    /// `advance` was called on a region that uses the host clock.
    ClockNotManual,
    /// A breaker in a region needs a name (the name is what processes share).
    Unnamed,
    /// The breaker's configuration does not fit a record, or the record holds something else.
    Breaker {
        /// The breaker's name.
        breaker: String,
        /// Why.
        reason: String,
    },
}

impl RegionError {
    pub(crate) fn new(path: &Path, kind: ErrorKind) -> RegionError {
        RegionError::build(path, kind)
    }

    fn build(path: &Path, kind: ErrorKind) -> RegionError {
        RegionError { path: path.to_path_buf(), kind }
    }

    pub(crate) fn io(path: &Path, op: &'static str, source: io::Error) -> RegionError {
        RegionError::new(path, ErrorKind::Io { op, source })
    }

    /// What went wrong.
    pub fn kind(&self) -> &ErrorKind {
        &self.kind
    }

    /// The region's path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

fn lock_name(record: &Option<usize>) -> String {
    match record {
        Some(i) => format!("the lock of record {i}"),
        None => "the directory lock".to_string(),
    }
}

impl fmt::Display for RegionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "circuit region {}: ", self.path.display())?;
        match &self.kind {
            ErrorKind::Io { op, source } => write!(f, "{op} failed: {source}"),
            ErrorKind::NotFound => write!(f, "no such file (and create is false)"),
            ErrorKind::Symlink => write!(f, "the path is a symbolic link; regions are not opened through links"),
            ErrorKind::NotRegularFile => write!(f, "not a regular file"),
            ErrorKind::Truncated { size, needed } => {
                write!(f, "file truncated: {size} bytes, the layout needs {needed}")
            }
            ErrorKind::SizeMismatch { size, expected } => {
                write!(f, "file size {size} disagrees with the header, which implies {expected} bytes")
            }
            ErrorKind::Foreign { magic } => {
                write!(f, "not a circuit region (magic {magic:#018x}, expected {:#018x})", crate::layout::MAGIC)
            }
            ErrorKind::NewerVersion { found, supported } => write!(
                f,
                "written by a newer layout (version {found}); this library reads version {supported} only, \
                 upgrade it or use another path"
            ),
            ErrorKind::UnknownVersion { found, supported } => {
                write!(f, "unknown layout version {found}; this library reads version {supported} only")
            }
            ErrorKind::NotReady => write!(f, "the region was never completely initialised"),
            ErrorKind::BadHeader { field, value, reason } => write!(f, "header field {field} = {value}: {reason}"),
            ErrorKind::BadRecord { index, field, value, reason } => {
                write!(f, "record {index}: field {field} = {value}: {reason}")
            }
            ErrorKind::InvalidOptions { option, reason } => write!(f, "invalid option {option}: {reason}"),
            ErrorKind::LayoutMismatch { field, existing, requested } => {
                write!(f, "the region was created with {field} = {existing}, but {requested} was requested")
            }
            ErrorKind::ClockMismatch { existing, requested } => {
                write!(f, "the region uses the {existing} clock, but the {requested} clock was requested")
            }
            ErrorKind::InvalidName { name, reason } => write!(f, "invalid breaker name {name:?}: {reason}"),
            ErrorKind::InvalidOptionsText { breaker, reason } => {
                write!(f, "invalid options text for breaker {breaker:?}: {reason}")
            }
            ErrorKind::Full { capacity } => {
                write!(f, "region full: all {capacity} records are in use (capacity is fixed at creation)")
            }
            ErrorKind::OptionsMismatch { breaker, differences } => {
                write!(f, "breaker {breaker:?} already exists with different options: ")?;
                for (i, d) in differences.iter().enumerate() {
                    if i > 0 {
                        write!(f, ", ")?;
                    }
                    write!(f, "{d}")?;
                }
                Ok(())
            }
            ErrorKind::LockNotRecoverable { record } => write!(
                f,
                "{} is not recoverable (a previous owner died and its state was not repaired); recreate the region",
                lock_name(record)
            ),
            ErrorKind::Lock { record, errno } => {
                write!(f, "{} failed: {}", lock_name(record), io::Error::from_raw_os_error(*errno))
            }
            ErrorKind::ClockNotManual => write!(f, "the region uses the host clock; only a manual clock advances"),
            ErrorKind::Unnamed => write!(f, "a breaker in a region needs a name: processes share a breaker by name"),
            ErrorKind::Breaker { breaker, reason } => write!(f, "breaker {breaker:?}: {reason}"),
        }
    }
}

impl std::error::Error for RegionError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.kind {
            ErrorKind::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}
