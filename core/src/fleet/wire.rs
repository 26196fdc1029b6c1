//! What a sync sends to the store and how its reply is read: the arguments of [`super::SCRIPT`]
//! and its reply, independent of any client library. Every reply field is checked; a malformed
//! reply is a failed sync, never a panic.

use super::{FleetConfig, FleetProbe};
use crate::state::Outcome;

/// One value of the script's reply, as a client library gives it (Redis integers and bulk strings).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// An integer reply.
    Int(i64),
    /// A bulk or simple string reply.
    Text(String),
}

/// What to send: `EVALSHA sha 1 key args...` (or `EVAL script 1 key args...`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncRequest {
    key: String,
    args: Vec<String>,
}

impl SyncRequest {
    pub(super) fn new(
        key: &str,
        c: &FleetConfig,
        fingerprint: &str,
        epoch: u64,
        [calls, failures, slow]: [u64; 3],
        want: u32,
        verdicts: &[(FleetProbe, Outcome)],
    ) -> Self {
        let ms = |d: std::time::Duration| d.as_millis().to_string();
        let rate = |v: Option<f64>| v.map_or("-1".to_owned(), |v| format!("{v}"));
        let mut args = vec![
            fingerprint.to_owned(),
            ms(c.window),
            c.buckets.to_string(),
            c.minimum_calls.to_string(),
            rate(c.failure_rate_threshold),
            rate(c.slow_call_rate_threshold),
            ms(c.reset_timeout),
            ms(c.max_reset_timeout),
            format!("{}", c.backoff_multiplier),
            c.half_open_max_calls.to_string(),
            c.success_threshold.to_string(),
            ms(c.probe_lease),
            ms(c.key_expiry),
            epoch.to_string(),
            calls.to_string(),
            failures.to_string(),
            slow.to_string(),
            want.to_string(),
            verdicts.len().to_string(),
        ];
        for (probe, outcome) in verdicts {
            args.push(probe.epoch.to_string());
            args.push(probe.id.to_string());
            args.push(outcome.as_str().to_owned());
        }
        Self { key: key.to_owned(), args }
    }

    /// The one key (`circuit:{name}`).
    pub fn keys(&self) -> [&str; 1] {
        [&self.key]
    }

    /// The script's arguments.
    pub fn args(&self) -> &[String] {
        &self.args
    }
}

pub(super) enum Parsed {
    Ok {
        epoch: u64,
        state: String,
        open_remaining_ms: u64,
        #[allow(dead_code)]
        lease_ms: u64,
        window_calls: u64,
        window_failures: u64,
        grants: Vec<u64>,
    },
    Mismatch {
        stored: String,
    },
}

fn int(r: Option<&Reply>) -> Result<u64, String> {
    match r {
        Some(Reply::Int(i)) => u64::try_from(*i).map_err(|_| format!("negative field {i}")),
        Some(Reply::Text(t)) => t.parse::<u64>().map_err(|_| format!("not a count: {t:?}")),
        None => Err("reply too short".to_owned()),
    }
}

fn text(r: Option<&Reply>) -> Result<String, String> {
    match r {
        Some(Reply::Text(t)) => Ok(t.clone()),
        Some(Reply::Int(i)) => Ok(i.to_string()),
        None => Err("reply too short".to_owned()),
    }
}

pub(super) fn parse(reply: &[Reply]) -> Result<Parsed, String> {
    match text(reply.first())?.as_str() {
        "ok" => {
            let grants =
                reply.get(8..).unwrap_or_default().iter().map(|r| int(Some(r))).collect::<Result<Vec<_>, _>>()?;
            if grants.len() > 10_000 {
                return Err("too many probe grants".to_owned());
            }
            let state = text(reply.get(2))?;
            if !matches!(state.as_str(), "closed" | "open" | "half_open") {
                return Err(format!("unknown state {state:?}"));
            }
            Ok(Parsed::Ok {
                epoch: int(reply.get(1))?,
                state,
                open_remaining_ms: int(reply.get(3))?,
                lease_ms: int(reply.get(4))?,
                window_calls: int(reply.get(5))?,
                window_failures: int(reply.get(6))?,
                grants,
            })
        }
        "mismatch" => Ok(Parsed::Mismatch { stored: text(reply.get(1))? }),
        other => Err(format!("the store answered {other:?}: {}", text(reply.get(1)).unwrap_or_default())),
    }
}
