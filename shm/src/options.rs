//! Options texts: a canonical `key=value;key=value` rendering of a breaker's options.
//!
//! A key is non-empty and made of ASCII letters, digits, `_`, `-` and `.`; a value is any text
//! without `;` or control characters (it may be empty). The empty text has no options. A key may
//! appear once. Two texts are the same configuration when they hold the same pairs, in any order.

use std::collections::BTreeMap;
use std::fmt;

/// One option that differs between an existing breaker and a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OptionDifference {
    /// The option's key.
    pub key: String,
    /// Its value in the existing breaker, or `None` if it has none.
    pub existing: Option<String>,
    /// Its value in the request, or `None` if it has none.
    pub requested: Option<String>,
}

impl fmt::Display for OptionDifference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let show = |v: &Option<String>| match v {
            Some(v) => format!("{v:?}"),
            None => "unset".to_string(),
        };
        write!(f, "{} (existing {}, requested {})", self.key, show(&self.existing), show(&self.requested))
    }
}

/// Parses an options text into its pairs, or says why it is not one.
pub fn parse_options(text: &str) -> Result<BTreeMap<&str, &str>, String> {
    let mut pairs = BTreeMap::new();
    if text.is_empty() {
        return Ok(pairs);
    }
    for (i, pair) in text.split(';').enumerate() {
        let Some((key, value)) = pair.split_once('=') else {
            return Err(format!("pair {} ({pair:?}) has no '='", i + 1));
        };
        if key.is_empty() {
            return Err(format!("pair {} ({pair:?}) has an empty key", i + 1));
        }
        if let Some(c) = key.chars().find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))) {
            return Err(format!("key {key:?} contains {c:?}"));
        }
        if let Some(c) = value.chars().find(|c| c.is_control()) {
            return Err(format!("value of {key:?} contains the control character {c:?}"));
        }
        if pairs.insert(key, value).is_some() {
            return Err(format!("key {key:?} appears twice"));
        }
    }
    Ok(pairs)
}

/// The options that differ between two parsed texts, in key order.
pub fn diff_options(existing: &BTreeMap<&str, &str>, requested: &BTreeMap<&str, &str>) -> Vec<OptionDifference> {
    let mut keys: Vec<&str> = existing.keys().chain(requested.keys()).copied().collect();
    keys.sort_unstable();
    keys.dedup();
    keys.into_iter()
        .filter_map(|k| {
            let (a, b) = (existing.get(k), requested.get(k));
            (a != b).then(|| OptionDifference {
                key: k.to_string(),
                existing: a.map(|v| v.to_string()),
                requested: b.map(|v| v.to_string()),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_diffs() {
        let a = parse_options("failure_threshold=5;reset_timeout=30s;jitter=0").unwrap();
        let b = parse_options("reset_timeout=30s;failure_threshold=3;window_size=10").unwrap();
        let d = diff_options(&a, &b);
        let keys: Vec<_> = d.iter().map(|d| d.key.as_str()).collect();
        assert_eq!(keys, ["failure_threshold", "jitter", "window_size"]);
        assert_eq!(d[0].existing.as_deref(), Some("5"));
        assert_eq!(d[0].requested.as_deref(), Some("3"));
        assert_eq!(d[1].requested, None);
        assert_eq!(d[2].existing, None);
        assert!(diff_options(&a, &parse_options("jitter=0;reset_timeout=30s;failure_threshold=5").unwrap()).is_empty());
    }

    #[test]
    fn refuses_malformed_texts() {
        for bad in ["a", "=1", "a=1;", ";a=1", "a=1;a=2", "a b=1", "a=\n"] {
            assert!(parse_options(bad).is_err(), "{bad:?}");
        }
        assert!(parse_options("").unwrap().is_empty());
        assert_eq!(parse_options("a=").unwrap().get("a"), Some(&""));
    }
}
