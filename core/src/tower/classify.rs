//! What a finished call means for the breaker: [`Classify`] and the HTTP default.

use std::time::SystemTime;

use crate::http::{self, HttpError, Verdict};
use crate::state::Outcome;

/// Turns the result of the inner service's call into a [`Verdict`]: the outcome to record and,
/// for a failure, the dependency's retry time. Any `Fn(&Result<Res, E>) -> Verdict` closure is a
/// classifier.
pub trait Classify<Res, E> {
    /// The verdict on one finished call.
    fn classify(&self, result: &Result<Res, E>) -> Verdict;
}

impl<F, Res, E> Classify<Res, E> for F
where
    F: Fn(&Result<Res, E>) -> Verdict,
{
    fn classify(&self, result: &Result<Res, E>) -> Verdict {
        self(result)
    }
}

/// Maps the inner service's error to the kind of HTTP failure it stands for
/// ([`http::classify_error`] then decides the outcome). Any `Fn(&E) -> HttpError` closure is one.
pub trait ClassifyError<E> {
    /// The kind of failure `error` is.
    fn kind(&self, error: &E) -> HttpError;
}

impl<F, E> ClassifyError<E> for F
where
    F: Fn(&E) -> HttpError,
{
    fn kind(&self, error: &E) -> HttpError {
        self(error)
    }
}

/// The default error mapping: every error is [`HttpError::Other`], a failure.
#[derive(Debug, Clone, Copy, Default)]
pub struct ErrorsAreFailures;

impl<E> ClassifyError<E> for ErrorsAreFailures {
    fn kind(&self, _error: &E) -> HttpError {
        HttpError::Other
    }
}

/// The default classifier for [`http::Response`](::http::Response)s: the status and the
/// `Retry-After` header through [`http::classify_response`] (an HTTP-date is measured from
/// `SystemTime::now()` when the headers arrived); an error through the error mapping, every error a
/// failure unless [`HttpClassifier::map_errors`] says otherwise.
#[derive(Debug, Clone, Copy, Default)]
pub struct HttpClassifier<M = ErrorsAreFailures> {
    errors: M,
}

impl HttpClassifier {
    /// Every error a failure.
    pub fn new() -> Self {
        Self { errors: ErrorsAreFailures }
    }
}

impl<M> HttpClassifier<M> {
    /// Maps errors to the kind of failure they are, e.g. a timeout layer's `Elapsed` to
    /// [`HttpError::Timeout`], or an error of the caller's own making to [`HttpError::Cancelled`]
    /// (ignored).
    pub fn map_errors<N>(self, errors: N) -> HttpClassifier<N> {
        HttpClassifier { errors }
    }
}

impl<B, E, M: ClassifyError<E>> Classify<::http::Response<B>, E> for HttpClassifier<M> {
    fn classify(&self, result: &Result<::http::Response<B>, E>) -> Verdict {
        match result {
            Ok(response) => {
                let retry_after =
                    response.headers().get(::http::header::RETRY_AFTER).and_then(|value| value.to_str().ok());
                http::classify_response(response.status().as_u16(), retry_after, SystemTime::now())
            }
            Err(error) => Verdict { outcome: http::classify_error(self.errors.kind(error)), retry_after: None },
        }
    }
}

/// A classifier for services that are not HTTP: `Ok` is a success, `Err` a failure.
#[derive(Debug, Clone, Copy, Default)]
pub struct OkIsSuccess;

impl<Res, E> Classify<Res, E> for OkIsSuccess {
    fn classify(&self, result: &Result<Res, E>) -> Verdict {
        let outcome = if result.is_ok() { Outcome::Success } else { Outcome::Failure };
        Verdict { outcome, retry_after: None }
    }
}
