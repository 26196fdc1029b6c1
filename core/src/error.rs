//! The error taxonomy shared by every binding: an invalid configuration, a rejected call, and a
//! misused permit. The C ABI adds its own codes (null pointer, invalid handle, panic) on top.

use std::sync::Arc;
use std::time::Duration;

use crate::state::{RejectReason, State};

/// An option was refused by [`crate::ConfigBuilder::build`]; nothing was created.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    option: &'static str,
    reason: String,
}

impl ConfigError {
    pub(crate) fn new(option: &'static str, reason: impl Into<String>) -> Self {
        Self { option, reason: reason.into() }
    }

    /// The option's name, spelled as in docs/semantics.md (snake_case).
    pub fn option(&self) -> &'static str {
        self.option
    }

    /// Why the value was refused.
    pub fn reason(&self) -> &str {
        &self.reason
    }
}

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "invalid option `{}`: {}", self.option, self.reason)
    }
}

impl std::error::Error for ConfigError {}

/// `allow` refused the call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejected {
    pub(crate) name: Option<Arc<str>>,
    pub(crate) state: State,
    pub(crate) reason: RejectReason,
    pub(crate) retry_after: Option<Duration>,
}

impl Rejected {
    /// The breaker's name, if it has one.
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }
    /// The breaker's state when it refused.
    pub fn state(&self) -> State {
        self.state
    }
    /// Why it refused.
    pub fn reason(&self) -> RejectReason {
        self.reason
    }
    /// Time until a probe may be admitted: the rest of the open duration for `open`; `None` for
    /// `forced_open` (only a manual action ends it) and for `half_open_full` (a slot frees when an
    /// in-flight probe reports, which cannot be predicted).
    pub fn retry_after(&self) -> Option<Duration> {
        self.retry_after
    }
}

impl std::fmt::Display for Rejected {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.name {
            Some(name) => write!(f, "circuit `{name}` rejected the call ({})", self.reason)?,
            None => write!(f, "circuit rejected the call ({})", self.reason)?,
        }
        if let Some(after) = self.retry_after {
            write!(f, "; retry after {after:?}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Rejected {}

/// A permit was misused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PermitError {
    /// The permit was already recorded; nothing changed.
    AlreadyRecorded,
    /// The permit was issued by another breaker; nothing changed.
    ForeignPermit,
}

impl std::fmt::Display for PermitError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::AlreadyRecorded => "permit already recorded: each permit takes exactly one outcome",
            Self::ForeignPermit => "permit was issued by a different circuit breaker",
        })
    }
}

impl std::error::Error for PermitError {}

/// Any error the engine reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// See [`ConfigError`].
    InvalidConfig(ConfigError),
    /// See [`Rejected`].
    Rejected(Rejected),
    /// See [`PermitError`].
    Permit(PermitError),
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::InvalidConfig(e) => e.fmt(f),
            Self::Rejected(e) => e.fmt(f),
            Self::Permit(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::InvalidConfig(e) => Some(e),
            Self::Rejected(e) => Some(e),
            Self::Permit(e) => Some(e),
        }
    }
}

impl From<ConfigError> for Error {
    fn from(e: ConfigError) -> Self {
        Self::InvalidConfig(e)
    }
}
impl From<Rejected> for Error {
    fn from(e: Rejected) -> Self {
        Self::Rejected(e)
    }
}
impl From<PermitError> for Error {
    fn from(e: PermitError) -> Self {
        Self::Permit(e)
    }
}
