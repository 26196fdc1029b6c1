//! The on-disk layout of a region, version 1.
//!
//! Every field is a native-endian 64-bit word (the file never leaves its host). A file is
//! `HEADER_LEN + capacity * record_size` bytes:
//!
//! ```text
//! header (HEADER_LEN = 256 bytes)
//!   word 0  MAGIC            b"CIRCSHM\0"
//!   word 1  VERSION          1
//!   word 2  HEADER_LEN       256
//!   word 3  CAPACITY         1..=MAX_CAPACITY records
//!   word 4  RECORD_WORDS     1..=MAX_RECORD_WORDS user words per record
//!   word 5  RECORD_SIZE      record_size(RECORD_WORDS), repeated so a disagreement is caught
//!   word 6  FLAGS            bit 0: the region uses its manual clock; other bits zero
//!   word 7  MUTEX_SIZE       size_of::<pthread_mutex_t>() of the creator (an ABI check)
//!   word 8  READY            READY_VALUE once the header is complete (written last)
//!   word 9  MANUAL_CLOCK     the manual clock, nanoseconds (atomic)
//!   words 10..16             reserved, zero
//!   bytes 128..192           the directory's robust process-shared mutex
//!   bytes 192..256           reserved
//! record i at HEADER_LEN + i * RECORD_SIZE (RECORD_SIZE a multiple of 64)
//!   word 0  STATE            (tag << 32) | pid: 0 free, 1 being claimed, 2 ready
//!   word 1  NAME_LEN         1..=NAME_MAX once ready
//!   word 2  OPTIONS_LEN      0..=OPTIONS_MAX
//!   words 3..8               reserved
//!   bytes 64..320            the name (UTF-8, NAME_MAX bytes)
//!   bytes 320..2368          the options text (UTF-8, OPTIONS_MAX bytes)
//!   bytes 2368..2432         the record's robust process-shared mutex
//!   bytes 2432..             RECORD_WORDS atomic words, padded to a multiple of 64 bytes
//! ```
//!
//! Version policy: a reader accepts exactly [`VERSION`]. A larger version is a newer layout and is
//! refused with [`ErrorKind::NewerVersion`](crate::ErrorKind::NewerVersion); anything else is
//! refused with [`ErrorKind::UnknownVersion`](crate::ErrorKind::UnknownVersion). A layout change,
//! even one that only adds a field, bumps the version.

/// The first word of every region file.
pub const MAGIC: u64 = u64::from_ne_bytes(*b"CIRCSHM\0");
/// The layout this crate writes and reads.
pub const VERSION: u64 = 1;
/// The header's length in bytes.
pub const HEADER_LEN: usize = 256;
/// The value of the `READY` word once a region is fully initialised.
pub const READY_VALUE: u64 = u64::from_ne_bytes(*b"READY-v1");
/// `FLAGS` bit: the region's time is its manual clock.
pub const FLAG_MANUAL_CLOCK: u64 = 1;
/// Every `FLAGS` bit version 1 knows.
pub const KNOWN_FLAGS: u64 = FLAG_MANUAL_CLOCK;

/// Header word indexes.
pub const H_MAGIC: usize = 0;
/// Header word index of the layout version.
pub const H_VERSION: usize = 1;
/// Header word index of the header length.
pub const H_HEADER_LEN: usize = 2;
/// Header word index of the capacity.
pub const H_CAPACITY: usize = 3;
/// Header word index of the number of user words per record.
pub const H_RECORD_WORDS: usize = 4;
/// Header word index of the record size in bytes.
pub const H_RECORD_SIZE: usize = 5;
/// Header word index of the flags.
pub const H_FLAGS: usize = 6;
/// Header word index of the creator's `pthread_mutex_t` size.
pub const H_MUTEX_SIZE: usize = 7;
/// Header word index of the ready flag.
pub const H_READY: usize = 8;
/// Header word index of the manual clock.
pub const H_MANUAL_CLOCK: usize = 9;
/// First reserved header word (reserved words run up to [`H_RESERVED_END`]).
pub const H_RESERVED_START: usize = 10;
/// End (exclusive) of the reserved header words.
pub const H_RESERVED_END: usize = 16;
/// Byte offset of the directory mutex in the header.
pub const DIR_MUTEX_OFFSET: usize = 128;

/// The largest capacity a region may have.
pub const MAX_CAPACITY: u64 = 65_536;
/// The largest number of user words per record.
pub const MAX_RECORD_WORDS: u64 = 4_096;
/// The longest record name, in bytes of UTF-8.
pub const NAME_MAX: usize = 256;
/// The longest options text, in bytes of UTF-8.
pub const OPTIONS_MAX: usize = 2_048;
/// Bytes reserved for a `pthread_mutex_t`.
pub const MUTEX_AREA: usize = 64;

/// Record word index of the state word.
pub const R_STATE: usize = 0;
/// Record word index of the name length.
pub const R_NAME_LEN: usize = 1;
/// Record word index of the options text length.
pub const R_OPTIONS_LEN: usize = 2;
/// First reserved record word.
pub const R_RESERVED_START: usize = 3;
/// End (exclusive) of the reserved record words.
pub const R_RESERVED_END: usize = 8;
/// Byte offset of the name area in a record.
pub const R_NAME_OFFSET: usize = 64;
/// Byte offset of the options area in a record.
pub const R_OPTIONS_OFFSET: usize = R_NAME_OFFSET + NAME_MAX;
/// Byte offset of the record mutex.
pub const R_MUTEX_OFFSET: usize = R_OPTIONS_OFFSET + OPTIONS_MAX;
/// Byte offset of the user words.
pub const R_WORDS_OFFSET: usize = R_MUTEX_OFFSET + MUTEX_AREA;

/// State tag of a free record.
pub const TAG_FREE: u64 = 0;
/// State tag of a record being claimed (under the directory lock).
pub const TAG_CLAIMING: u64 = 1;
/// State tag of a ready record.
pub const TAG_READY: u64 = 2;

const _: () = assert!(R_WORDS_OFFSET.is_multiple_of(64));
const _: () = assert!(R_MUTEX_OFFSET.is_multiple_of(64));
const _: () = assert!(size_of::<libc::pthread_mutex_t>() <= MUTEX_AREA);
const _: () = assert!(align_of::<libc::pthread_mutex_t>() <= 64);
const _: () = assert!(NAME_MAX.is_multiple_of(8) && OPTIONS_MAX.is_multiple_of(8));

/// The size of one record holding `record_words` user words, or `None` on overflow.
pub fn record_size(record_words: u64) -> Option<u64> {
    let words = record_words.checked_mul(8)?.checked_add(63)? / 64 * 64;
    (R_WORDS_OFFSET as u64).checked_add(words)
}

/// The size of a region file, or `None` on overflow.
pub fn file_size(capacity: u64, record_size: u64) -> Option<u64> {
    capacity.checked_mul(record_size)?.checked_add(HEADER_LEN as u64)
}

/// A state word from its tag and pid.
pub(crate) fn state_word(tag: u64, pid: u32) -> u64 {
    (tag << 32) | u64::from(pid)
}
