//! The error a [`CircuitService`](super::CircuitService) returns.

use crate::error::Rejected;

/// The error of a call through the circuit: the breaker refused it, or the inner service failed.
///
/// Transparent: `Display` and `source` are those of the wrapped error, so a reporter that walks
/// the chain prints each message once. Match the variants to tell a rejection (serve a fallback,
/// retry after [`Rejected::retry_after`]) from a failure of the call itself.
#[derive(Debug)]
pub enum CircuitError<E> {
    /// The breaker refused the call; the inner service was not called.
    Rejected(Rejected),
    /// The inner service's own error (already recorded on the breaker by the classifier).
    Inner(E),
}

impl<E> CircuitError<E> {
    /// The rejection, if the breaker refused the call.
    pub fn rejected(&self) -> Option<&Rejected> {
        match self {
            Self::Rejected(rejected) => Some(rejected),
            Self::Inner(_) => None,
        }
    }

    /// The inner service's error, if the call was made and failed.
    pub fn into_inner(self) -> Option<E> {
        match self {
            Self::Rejected(_) => None,
            Self::Inner(error) => Some(error),
        }
    }
}

impl<E: std::fmt::Display> std::fmt::Display for CircuitError<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Rejected(rejected) => rejected.fmt(f),
            Self::Inner(error) => error.fmt(f),
        }
    }
}

impl<E: std::error::Error + 'static> std::error::Error for CircuitError<E> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Rejected(rejected) => rejected.source(),
            Self::Inner(error) => error.source(),
        }
    }
}

/// What tower's `timeout`, `buffer` and similar layers return.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

impl<E: Into<BoxError>> CircuitError<E> {
    /// Erases the type, for outer layers that want a [`BoxError`] (tower's `BoxError` is not itself an
    /// `Error`, so `CircuitError<BoxError>` is not one either): a rejection becomes a boxed
    /// [`Rejected`] (recover it with `downcast_ref::<Rejected>()`), an inner error its own box.
    /// Use it as `ServiceBuilder::new().map_err(CircuitError::into_box_error)`.
    pub fn into_box_error(self) -> BoxError {
        match self {
            Self::Rejected(rejected) => Box::new(rejected),
            Self::Inner(error) => error.into(),
        }
    }
}
