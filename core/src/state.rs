//! The vocabulary shared by every binding: states, transition reasons, rejection reasons,
//! outcomes. Each has a stable snake_case spelling (`as_str`) used in every language and in the
//! conformance vectors, and a stable integer code (`code`) used by the C ABI.

macro_rules! spelled_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident = $code:literal => $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[repr(u8)]
        pub enum $name {
            $($(#[$vmeta])* $variant = $code),+
        }

        impl $name {
            /// Every value, in code order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The spelling used in every language and in the conformance vectors.
            pub const fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }

            /// The stable integer code (used by the C ABI).
            pub const fn code(self) -> u8 {
                self as u8
            }

            /// The value with this code, if any.
            pub const fn from_code(code: u8) -> Option<Self> {
                match code { $($code => Some($name::$variant),)+ _ => None }
            }

            /// Parses the spelling returned by [`Self::as_str`].
            pub fn parse(text: &str) -> Option<Self> {
                match text { $($text => Some($name::$variant),)+ _ => None }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

spelled_enum! {
    /// The state of a breaker (docs/semantics.md, "States").
    State {
        /// Admits every call; trip rules are evaluated after each counted outcome.
        Closed = 0 => "closed",
        /// Admits nothing until the open duration has elapsed.
        Open = 1 => "open",
        /// Admits at most `half_open_max_calls` probes.
        HalfOpen = 2 => "half_open",
        /// Manually isolated: admits nothing until `reset()` or `disable()`.
        ForcedOpen = 3 => "forced_open",
        /// Admits everything, counts outcomes, never trips.
        Disabled = 4 => "disabled",
    }
}

spelled_enum! {
    /// Why a transition happened.
    Reason {
        /// Consecutive failures reached `failure_threshold` (closed -> open).
        FailureThreshold = 0 => "failure_threshold",
        /// The window's failure rate reached `failure_rate_threshold` (closed -> open).
        FailureRate = 1 => "failure_rate",
        /// The window's slow-call rate reached `slow_call_rate_threshold` (closed -> open).
        SlowCallRate = 2 => "slow_call_rate",
        /// The open duration elapsed (open -> half_open).
        OpenElapsed = 3 => "open_elapsed",
        /// A probe failed (half_open -> open).
        ProbeFailure = 4 => "probe_failure",
        /// No verdict within `half_open_max_wait` (half_open -> open).
        HalfOpenMaxWait = 5 => "half_open_max_wait",
        /// `success_threshold` probes succeeded (half_open -> closed).
        ProbeSuccess = 6 => "probe_success",
        /// `reset()` was called.
        Reset = 7 => "reset",
        /// `force_open()` was called.
        ForceOpen = 8 => "force_open",
        /// `disable()` was called.
        Disable = 9 => "disable",
    }
}

impl Reason {
    /// The state a transition for this reason enters (each reason has exactly one).
    pub const fn target(self) -> State {
        match self {
            Reason::FailureThreshold
            | Reason::FailureRate
            | Reason::SlowCallRate
            | Reason::ProbeFailure
            | Reason::HalfOpenMaxWait => State::Open,
            Reason::OpenElapsed => State::HalfOpen,
            Reason::ProbeSuccess | Reason::Reset => State::Closed,
            Reason::ForceOpen => State::ForcedOpen,
            Reason::Disable => State::Disabled,
        }
    }
}

spelled_enum! {
    /// Why `allow` refused a call.
    RejectReason {
        /// The breaker is open.
        Open = 0 => "open",
        /// The breaker is half-open and every probe slot is taken.
        HalfOpenFull = 1 => "half_open_full",
        /// The breaker was forced open.
        ForcedOpen = 2 => "forced_open",
    }
}

spelled_enum! {
    /// What became of an admitted call.
    Outcome {
        /// The call succeeded.
        Success = 0 => "success",
        /// The call failed in a way that is the dependency's fault.
        Failure = 1 => "failure",
        /// Neutral: cancelled, or an error that says nothing about the dependency.
        Ignored = 2 => "ignored",
    }
}

/// Whether a recorded outcome counted.
#[must_use]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Recorded {
    /// The permit belonged to the current generation; the outcome was applied.
    Counted,
    /// The permit came from an earlier generation; only the `stale` tally moved.
    Stale,
}

impl Recorded {
    /// `true` for [`Recorded::Counted`].
    pub const fn counted(self) -> bool {
        matches!(self, Self::Counted)
    }
}
