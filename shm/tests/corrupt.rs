//! Every byte of a region file is untrusted: damaged, foreign, truncated, wrong-version and
//! random files are refused with the right error, and never make the reader panic or crash.
#![cfg(target_os = "linux")]

use std::path::Path;

use circuit_shm::layout::*;
use circuit_shm::{ErrorKind, Region, RegionError, RegionOptions};
use proptest::prelude::*;

const CAPACITY: usize = 4;
const WORDS: usize = 8;

fn opts() -> RegionOptions {
    RegionOptions { create: false, ..RegionOptions::new(CAPACITY, WORDS) }
}

fn rsize() -> usize {
    record_size(WORDS as u64).unwrap() as usize
}

/// The bytes of a valid region with two records ("alpha", "beta").
fn valid_bytes() -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("valid");
    let region = Region::open(&path, RegionOptions::new(CAPACITY, WORDS)).unwrap();
    region.record("alpha", "failure_threshold=5").unwrap();
    region.record("beta", "").unwrap();
    let bytes = std::fs::read(&path).unwrap();
    assert_eq!(bytes.len(), HEADER_LEN + CAPACITY * rsize());
    bytes
}

fn open_bytes(dir: &Path, bytes: &[u8]) -> Result<Region, RegionError> {
    let path = dir.join("f");
    let _ = std::fs::remove_file(&path);
    std::fs::write(&path, bytes).unwrap();
    Region::open(&path, opts())
}

fn set_word(bytes: &mut [u8], byte_offset: usize, value: u64) {
    bytes[byte_offset..byte_offset + 8].copy_from_slice(&value.to_ne_bytes());
}

fn header(bytes: &mut [u8], word: usize, value: u64) {
    set_word(bytes, word * 8, value);
}

fn record_field(bytes: &mut [u8], index: usize, word: usize, value: u64) {
    set_word(bytes, HEADER_LEN + index * rsize() + word * 8, value);
}

#[test]
fn the_valid_file_opens() {
    let dir = tempfile::tempdir().unwrap();
    let region = open_bytes(dir.path(), &valid_bytes()).unwrap();
    let names: Vec<_> = region.records().unwrap().iter().map(|r| r.name().to_string()).collect();
    assert_eq!(names, ["alpha", "beta"]);
}

#[test]
fn truncated_files_are_refused_at_every_length() {
    let dir = tempfile::tempdir().unwrap();
    let bytes = valid_bytes();
    let mut lengths: Vec<usize> = (0..=HEADER_LEN + 8).collect();
    lengths.extend((HEADER_LEN..bytes.len()).step_by(61));
    lengths.extend([HEADER_LEN + rsize() - 1, HEADER_LEN + rsize(), bytes.len() - 8, bytes.len() - 1]);
    for len in lengths {
        let err = open_bytes(dir.path(), &bytes[..len]).unwrap_err();
        let needed = if len < HEADER_LEN { HEADER_LEN } else { bytes.len() } as u64;
        assert!(
            matches!(err.kind(), ErrorKind::Truncated { size, needed: n } if *size == len as u64 && *n == needed),
            "length {len}: {err}"
        );
        assert!(err.to_string().contains("truncated"), "{err}");
    }
}

#[test]
fn a_longer_file_disagrees_with_its_header() {
    let dir = tempfile::tempdir().unwrap();
    for extra in [1, 8, 64, rsize()] {
        let mut bytes = valid_bytes();
        bytes.resize(bytes.len() + extra, 0);
        let err = open_bytes(dir.path(), &bytes).unwrap_err();
        assert!(matches!(err.kind(), ErrorKind::SizeMismatch { .. }), "{err}");
    }
}

#[test]
fn foreign_files_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut bytes = valid_bytes();
    header(&mut bytes, H_MAGIC, u64::from_ne_bytes(*b"CIRCSHM1"));
    let err = open_bytes(dir.path(), &bytes).unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::Foreign { .. }), "{err}");
    assert!(err.to_string().contains("not a circuit region"), "{err}");
    let text = "just some text, long enough to pass the size check. ".repeat(10);
    let err = open_bytes(dir.path(), text.as_bytes()).unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::Foreign { .. }), "{err}");
    let err = open_bytes(dir.path(), b"#!/bin/sh\necho hi\n").unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::Foreign { .. }), "a short foreign file: {err}");
    let err = open_bytes(dir.path(), &vec![0u8; bytes.len()]).unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::Foreign { magic: 0 }), "{err}");
    // The other byte order is foreign too.
    let mut swapped = valid_bytes();
    header(&mut swapped, H_MAGIC, MAGIC.swap_bytes());
    assert!(matches!(open_bytes(dir.path(), &swapped).unwrap_err().kind(), ErrorKind::Foreign { .. }));
}

#[test]
fn other_layout_versions_are_refused_saying_which() {
    let dir = tempfile::tempdir().unwrap();
    for (version, newer) in [(2, true), (3, true), (u64::MAX, true), (0, false)] {
        let mut bytes = valid_bytes();
        header(&mut bytes, H_VERSION, version);
        let err = open_bytes(dir.path(), &bytes).unwrap_err();
        if newer {
            assert!(
                matches!(err.kind(), ErrorKind::NewerVersion { found, supported: 1 } if *found == version),
                "{err}"
            );
            assert!(err.to_string().contains(&format!("newer layout (version {version})")), "{err}");
        } else {
            assert!(matches!(err.kind(), ErrorKind::UnknownVersion { found: 0, supported: 1 }), "{err}");
            assert!(err.to_string().contains("unknown layout version 0"), "{err}");
        }
    }
}

fn expect_bad_header(bytes: &[u8], field: &str) {
    let dir = tempfile::tempdir().unwrap();
    let err = open_bytes(dir.path(), bytes).unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::BadHeader { field: f, .. } if *f == field), "{field}: {err}");
    assert!(err.to_string().contains(&format!("header field {field}")), "{err}");
}

#[test]
fn header_fields_out_of_range_or_disagreeing_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let edit = |word: usize, value: u64| {
        let mut b = valid_bytes();
        header(&mut b, word, value);
        b
    };
    expect_bad_header(&edit(H_HEADER_LEN, 512), "header_len");
    expect_bad_header(&edit(H_HEADER_LEN, 0), "header_len");
    for capacity in [0, MAX_CAPACITY + 1, u64::MAX, u64::MAX / 2] {
        expect_bad_header(&edit(H_CAPACITY, capacity), "capacity");
    }
    for words in [0, MAX_RECORD_WORDS + 1, u64::MAX, u64::MAX / 8 + 1] {
        expect_bad_header(&edit(H_RECORD_WORDS, words), "record_words");
    }
    for size in [0, u64::MAX, record_size(WORDS as u64).unwrap() + 64, 1] {
        expect_bad_header(&edit(H_RECORD_SIZE, size), "record_size");
    }
    expect_bad_header(&edit(H_FLAGS, 2), "flags");
    expect_bad_header(&edit(H_MUTEX_SIZE, 24), "mutex_size");
    expect_bad_header(&edit(H_RESERVED_START, 1), "reserved");
    expect_bad_header(&edit(H_RESERVED_END - 1, 1), "reserved");
    // In range, but the file is not the size they imply.
    let err = open_bytes(dir.path(), &edit(H_CAPACITY, MAX_CAPACITY)).unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::Truncated { .. }), "{err}");
    let err = open_bytes(dir.path(), &edit(H_CAPACITY, 3)).unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::SizeMismatch { .. }), "{err}");
    let mut b = valid_bytes();
    header(&mut b, H_RECORD_WORDS, 64);
    header(&mut b, H_RECORD_SIZE, record_size(64).unwrap());
    let err = open_bytes(dir.path(), &b).unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::Truncated { .. }), "{err}");
    let err = open_bytes(dir.path(), &edit(H_READY, 0)).unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::NotReady), "{err}");
    // The arithmetic itself is checked.
    assert_eq!(record_size(u64::MAX), None);
    assert_eq!(file_size(u64::MAX, 2), None);
    assert_eq!(file_size(1, u64::MAX), None);
}

fn expect_bad_record(bytes: &[u8], index: usize, field: &str) {
    let dir = tempfile::tempdir().unwrap();
    let err = open_bytes(dir.path(), bytes).unwrap_err();
    assert!(
        matches!(err.kind(), ErrorKind::BadRecord { index: i, field: f, .. } if *i == index && *f == field),
        "{field}: {err}"
    );
    assert!(err.to_string().contains(&format!("record {index}: field {field}")), "{err}");
}

#[test]
fn record_fields_out_of_range_are_refused() {
    let edit = |index: usize, word: usize, value: u64| {
        let mut b = valid_bytes();
        record_field(&mut b, index, word, value);
        b
    };
    expect_bad_record(&edit(0, R_NAME_LEN, NAME_MAX as u64 + 1), 0, "name_len");
    expect_bad_record(&edit(1, R_NAME_LEN, u64::MAX), 1, "name_len");
    expect_bad_record(&edit(0, R_NAME_LEN, 0), 0, "name_len");
    expect_bad_record(&edit(0, R_OPTIONS_LEN, OPTIONS_MAX as u64 + 1), 0, "options_len");
    expect_bad_record(&edit(0, R_OPTIONS_LEN, u64::MAX), 0, "options_len");
    for state in [3 << 32, u64::MAX, 7, (TAG_READY << 32) | (1 << 40)] {
        expect_bad_record(&edit(2, R_STATE, state), 2, "state");
    }
    expect_bad_record(&edit(1, R_RESERVED_START, 1), 1, "reserved");
    expect_bad_record(&edit(3, R_RESERVED_END - 1, u64::MAX), 3, "reserved");
    // "beta" renamed "alph": still valid; renamed "alpha": a duplicate.
    let mut b = valid_bytes();
    b[HEADER_LEN + rsize() + R_NAME_OFFSET..][..4].copy_from_slice(b"alph");
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(open_bytes(dir.path(), &b).unwrap().find("alph").unwrap().unwrap().index(), 1);
    record_field(&mut b, 1, R_NAME_LEN, 5);
    b[HEADER_LEN + rsize() + R_NAME_OFFSET + 4] = b'a';
    expect_bad_record(&b, 1, "name");
    let mut b = valid_bytes();
    b[HEADER_LEN + R_NAME_OFFSET] = 0xff;
    expect_bad_record(&b, 0, "name");
    let mut b = valid_bytes();
    b[HEADER_LEN + R_OPTIONS_OFFSET] = 0xc3; // a lone UTF-8 lead byte
    expect_bad_record(&b, 0, "options");
    // A record being claimed (its claimer died) is valid: it is freed by the next claim.
    let dir = tempfile::tempdir().unwrap();
    let region = open_bytes(dir.path(), &edit(2, R_STATE, (TAG_CLAIMING << 32) | 12345)).unwrap();
    assert_eq!(region.record("gamma", "").unwrap().index(), 2);
}

#[test]
fn damage_after_opening_is_an_error_on_use_not_a_crash() {
    use std::sync::atomic::Ordering;
    let dir = tempfile::tempdir().unwrap();
    let region = open_bytes(dir.path(), &valid_bytes()).unwrap();
    let record = region.find("alpha").unwrap().unwrap();
    // Another process scribbles over the directory while we hold the region open.
    let words = record.words();
    assert_eq!(words.len(), WORDS);
    let file = std::fs::OpenOptions::new().write(true).open(dir.path().join("f")).unwrap();
    use std::os::unix::fs::FileExt;
    file.write_all_at(&u64::MAX.to_ne_bytes(), (HEADER_LEN + R_NAME_LEN * 8) as u64).unwrap();
    let err = region.find("alpha").unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::BadRecord { index: 0, field: "name_len", .. }), "{err}");
    assert!(record.options_text().is_err());
    assert!(region.records().is_err());
    words[0].store(1, Ordering::Release); // the words themselves are still plain memory
}

/// Offsets worth hitting: the header, and each record's state, lengths and first name bytes.
fn hot_offset() -> impl Strategy<Value = usize> {
    let r = rsize();
    prop_oneof![
        0..HEADER_LEN,
        (0..CAPACITY, 0..80usize).prop_map(move |(i, o)| HEADER_LEN + i * r + o),
        (0..CAPACITY, 0..8usize).prop_map(move |(i, o)| HEADER_LEN + i * r + R_OPTIONS_OFFSET + o),
        0..HEADER_LEN + CAPACITY * r,
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1500, failure_persistence: None, ..ProptestConfig::default() })]

    /// Random bytes over a valid region's header and directory: an error or a valid region,
    /// never a panic; a region that opens answers lookups without panicking.
    #[test]
    fn random_damage_never_panics(
        writes in prop::collection::vec((hot_offset(), any::<u8>()), 1..12),
        cut in prop::option::weighted(0.1, 0..HEADER_LEN + CAPACITY * 2500),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let mut bytes = valid_bytes_cached().to_vec();
        for (offset, byte) in writes {
            bytes[offset] = byte;
        }
        if let Some(cut) = cut {
            bytes.truncate(cut.min(bytes.len()));
        }
        match open_bytes(dir.path(), &bytes) {
            Ok(region) => {
                let _ = region.records();
                let _ = region.find("alpha");
                let _ = region.find("beta");
                if let Ok(Some(r)) = region.find("alpha") {
                    let _ = r.options_text();
                    prop_assert_eq!(r.words().len(), WORDS);
                }
                let _ = region.clock().now();
            }
            Err(e) => {
                prop_assert!(e.to_string().starts_with("circuit region "));
            }
        }
    }
}

fn valid_bytes_cached() -> &'static [u8] {
    static BYTES: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
    BYTES.get_or_init(valid_bytes)
}
