//! The response future: records the outcome when the inner future resolves.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use super::classify::Classify;
use super::error::CircuitError;
use crate::error::Rejected;
use crate::http::Verdict;
use crate::permit::OwnedPermit;
use crate::state::Outcome;

/// The future of a [`CircuitService`](super::CircuitService) call. When the inner future resolves
/// (for an HTTP client: when the response headers arrive; the body is passed on untouched) the
/// classifier's verdict is recorded on the permit. Dropped before that (the caller cancelled),
/// the permit is recorded `ignored`.
#[must_use = "futures do nothing unless polled"]
pub struct ResponseFuture<F, C> {
    state: State<F, C>,
}

enum State<F, C> {
    Rejected(Rejected),
    Admitted { inner: Pin<Box<F>>, permit: OwnedPermit, classify: Arc<C> },
    Done,
}

impl<F, C> ResponseFuture<F, C> {
    pub(super) fn rejected(rejected: Rejected) -> Self {
        Self { state: State::Rejected(rejected) }
    }

    pub(super) fn admitted(inner: F, permit: OwnedPermit, classify: Arc<C>) -> Self {
        Self { state: State::Admitted { inner: Box::pin(inner), permit, classify } }
    }
}

impl<F, C, Res, E> Future for ResponseFuture<F, C>
where
    F: Future<Output = Result<Res, E>>,
    C: Classify<Res, E>,
{
    type Output = Result<Res, CircuitError<E>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let state = &mut self.get_mut().state;
        if let State::Admitted { inner, .. } = state {
            let result = std::task::ready!(inner.as_mut().poll(cx));
            if let State::Admitted { permit, classify, .. } = std::mem::replace(state, State::Done) {
                record(&permit, classify.classify(&result));
            }
            return Poll::Ready(result.map_err(CircuitError::Inner));
        }
        match std::mem::replace(state, State::Done) {
            State::Rejected(rejected) => Poll::Ready(Err(CircuitError::Rejected(rejected))),
            _ => panic!("circuit ResponseFuture polled after completion"),
        }
    }
}

fn record(permit: &OwnedPermit, verdict: Verdict) {
    // A permit records once and this one is fresh: there is no error to report.
    let _ = match (verdict.outcome, verdict.retry_after) {
        (Outcome::Failure, Some(retry_after)) => permit.record_failure_retry_after(retry_after),
        (outcome, _) => permit.record(outcome),
    };
}

impl<F, C> std::fmt::Debug for ResponseFuture<F, C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = match &self.state {
            State::Rejected(_) => "rejected",
            State::Admitted { .. } => "admitted",
            State::Done => "done",
        };
        f.debug_struct("ResponseFuture").field("state", &state).finish()
    }
}
