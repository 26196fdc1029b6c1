//! A [`tower`](https://docs.rs/tower) layer (feature `tower`): every call through the service asks
//! a breaker first and records its outcome when the call resolves.
//!
//! * [`CircuitLayer::new`]: one breaker for the service; [`CircuitLayer::per_key`]: a [`Family`]
//!   member per key; [`CircuitLayer::per_origin`]: a member per HTTP origin (`scheme://authority`).
//! * The breaker is asked in `call`, not in `poll_ready` (which is the inner service's). A
//!   rejected call never reaches the inner service and resolves to [`CircuitError::Rejected`].
//! * The outcome is the classifier's verdict ([`Classify`]) on the inner future's result, recorded
//!   when that future resolves (for an HTTP client, when the response headers arrive: the body is
//!   passed through, never buffered). The default [`HttpClassifier`] applies
//!   [`http::classify_response`](crate::http::classify_response) (5xx except 501, 408, 429 fail;
//!   `Retry-After` is recorded with the failure) and counts every error as a failure; dropping the
//!   future before it resolves (the caller's cancellation) records `ignored`.
//! * Put a timeout layer *inside* the circuit layer, so a timeout is an error the breaker sees.
//!
//! ```
//! use circuit::tower::{CircuitError, CircuitLayer};
//! use circuit::{Config, Family};
//! use std::sync::Arc;
//! use tower_layer::Layer;
//! use tower_service::Service;
//!
//! # #[derive(Clone)] struct Upstream;
//! # impl Service<http::Request<()>> for Upstream {
//! #     type Response = http::Response<()>; type Error = std::io::Error;
//! #     type Future = std::future::Ready<Result<http::Response<()>, std::io::Error>>;
//! #     fn poll_ready(&mut self, _: &mut std::task::Context<'_>) -> std::task::Poll<Result<(), Self::Error>> { std::task::Poll::Ready(Ok(())) }
//! #     fn call(&mut self, _: http::Request<()>) -> Self::Future {
//! #         std::future::ready(Ok(http::Response::builder().status(503).body(()).unwrap()))
//! #     }
//! # }
//! let config = Config::builder().name("upstream").failure_threshold(1).build()?;
//! let family = Arc::new(Family::new(config));
//! let mut service = CircuitLayer::per_origin(Arc::clone(&family)).layer(Upstream);
//! # let block_on = |f| circuit_block_on(f);
//! let request = || http::Request::get("http://a.example/").body(()).unwrap();
//! let response = block_on(service.call(request())).unwrap(); // a 503: the breaker opens
//! assert_eq!(response.status(), 503);
//! match block_on(service.call(request())) {
//!     Err(CircuitError::Rejected(rejected)) => assert_eq!(rejected.name(), Some("upstream/http://a.example")),
//!     other => panic!("expected a rejection, got {other:?}"),
//! }
//! # fn circuit_block_on<T>(f: impl std::future::Future<Output = T>) -> T {
//! #     let mut f = std::pin::pin!(f);
//! #     match f.as_mut().poll(&mut std::task::Context::from_waker(std::task::Waker::noop())) {
//! #         std::task::Poll::Ready(v) => v,
//! #         std::task::Poll::Pending => unreachable!("the example's futures are ready"),
//! #     }
//! # }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod classify;
mod error;
mod future;
mod select;

use std::sync::Arc;
use std::task::{Context, Poll};

pub use classify::{Classify, ClassifyError, ErrorsAreFailures, HttpClassifier, OkIsSuccess};
pub use error::{BoxError, CircuitError};
pub use future::ResponseFuture;
pub use select::{OneBreaker, PerKey, PerOrigin, SelectBreaker, origin};

use crate::breaker::CircuitBreaker;
use crate::family::Family;

/// Wraps a service in a [`CircuitService`]. Cheap to clone (the selector and the classifier are
/// shared).
#[derive(Debug)]
pub struct CircuitLayer<S = OneBreaker, C = HttpClassifier> {
    select: Arc<S>,
    classify: Arc<C>,
}

impl<S, C> Clone for CircuitLayer<S, C> {
    fn clone(&self) -> Self {
        Self { select: Arc::clone(&self.select), classify: Arc::clone(&self.classify) }
    }
}

impl CircuitLayer {
    /// One breaker guards every call.
    pub fn new(breaker: Arc<CircuitBreaker>) -> Self {
        Self::with_selector(OneBreaker(breaker))
    }

    /// A member of `family` per HTTP origin of the request ([`origin`]).
    pub fn per_origin(family: Arc<Family>) -> CircuitLayer<PerOrigin> {
        CircuitLayer::with_selector(PerOrigin(family))
    }

    /// A member of `family` per key, `key(&request)`.
    pub fn per_key<F>(family: Arc<Family>, key: F) -> CircuitLayer<PerKey<F>> {
        CircuitLayer::with_selector(PerKey { family, key })
    }
}

impl<S> CircuitLayer<S> {
    /// Any [`SelectBreaker`], with the default classifier.
    pub fn with_selector(select: S) -> Self {
        Self { select: Arc::new(select), classify: Arc::new(HttpClassifier::new()) }
    }
}

impl<S, C> CircuitLayer<S, C> {
    /// Replaces the classifier: a [`Classify`] implementation, a closure
    /// `Fn(&Result<Response, Error>) -> Verdict`, [`OkIsSuccess`] for services that are not HTTP, or
    /// [`HttpClassifier::map_errors`] to say what the inner service's errors mean.
    pub fn classify<C2>(self, classify: C2) -> CircuitLayer<S, C2> {
        CircuitLayer { select: self.select, classify: Arc::new(classify) }
    }
}

impl<Inner, S, C> tower_layer::Layer<Inner> for CircuitLayer<S, C> {
    type Service = CircuitService<Inner, S, C>;

    fn layer(&self, inner: Inner) -> Self::Service {
        CircuitService { inner, select: Arc::clone(&self.select), classify: Arc::clone(&self.classify) }
    }
}

/// A service whose calls go through a breaker (see the [module docs](self)).
#[derive(Debug)]
pub struct CircuitService<Inner, S = OneBreaker, C = HttpClassifier> {
    inner: Inner,
    select: Arc<S>,
    classify: Arc<C>,
}

impl<Inner: Clone, S, C> Clone for CircuitService<Inner, S, C> {
    fn clone(&self) -> Self {
        Self { inner: self.inner.clone(), select: Arc::clone(&self.select), classify: Arc::clone(&self.classify) }
    }
}

impl<Inner, S, C> CircuitService<Inner, S, C> {
    /// The wrapped service.
    pub fn get_ref(&self) -> &Inner {
        &self.inner
    }
    /// The wrapped service, mutably.
    pub fn get_mut(&mut self) -> &mut Inner {
        &mut self.inner
    }
    /// Unwraps the inner service.
    pub fn into_inner(self) -> Inner {
        self.inner
    }
}

impl<Inner, Req, S, C> tower_service::Service<Req> for CircuitService<Inner, S, C>
where
    Inner: tower_service::Service<Req>,
    S: SelectBreaker<Req>,
    C: Classify<Inner::Response, Inner::Error>,
{
    type Response = Inner::Response;
    type Error = CircuitError<Inner::Error>;
    type Future = ResponseFuture<Inner::Future, C>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(CircuitError::Inner)
    }

    /// Asks the request's breaker: admitted, calls the inner service; rejected, does not (whatever
    /// the inner `poll_ready` reserved stays with this service for its next call).
    fn call(&mut self, request: Req) -> Self::Future {
        match self.select.select(&request).allow_owned() {
            Ok(permit) => ResponseFuture::admitted(self.inner.call(request), permit, Arc::clone(&self.classify)),
            Err(rejected) => ResponseFuture::rejected(rejected),
        }
    }
}

#[cfg(test)]
mod tests;
