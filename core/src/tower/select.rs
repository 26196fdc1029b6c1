//! Which breaker guards a request: [`SelectBreaker`] and its three forms.

use std::sync::Arc;

use crate::breaker::CircuitBreaker;
use crate::family::Family;

/// Picks the breaker that guards one request.
pub trait SelectBreaker<Req> {
    /// The breaker for `request`.
    fn select(&self, request: &Req) -> Arc<CircuitBreaker>;
}

/// One breaker for every request ([`CircuitLayer::new`](super::CircuitLayer::new)).
#[derive(Debug, Clone)]
pub struct OneBreaker(pub(super) Arc<CircuitBreaker>);

impl<Req> SelectBreaker<Req> for OneBreaker {
    fn select(&self, _request: &Req) -> Arc<CircuitBreaker> {
        Arc::clone(&self.0)
    }
}

/// A family member per key ([`CircuitLayer::per_key`](super::CircuitLayer::per_key)).
pub struct PerKey<F> {
    pub(super) family: Arc<Family>,
    pub(super) key: F,
}

impl<Req, F, K> SelectBreaker<Req> for PerKey<F>
where
    F: Fn(&Req) -> K,
    K: AsRef<str>,
{
    fn select(&self, request: &Req) -> Arc<CircuitBreaker> {
        self.family.get((self.key)(request).as_ref())
    }
}

impl<F> std::fmt::Debug for PerKey<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PerKey").field("family", &self.family).finish_non_exhaustive()
    }
}

/// A family member per HTTP origin ([`CircuitLayer::per_origin`](super::CircuitLayer::per_origin)).
#[derive(Debug, Clone)]
pub struct PerOrigin(pub(super) Arc<Family>);

impl<B> SelectBreaker<::http::Request<B>> for PerOrigin {
    fn select(&self, request: &::http::Request<B>) -> Arc<CircuitBreaker> {
        self.0.get(&origin(request))
    }
}

/// The key [`PerOrigin`] uses: `scheme://authority` of the request's URI (scheme `http` if the URI
/// has none), or the `Host` header for a URI without an authority, or `""` without either.
pub fn origin<B>(request: &::http::Request<B>) -> String {
    let uri = request.uri();
    match uri.authority() {
        Some(authority) => format!("{}://{}", uri.scheme_str().unwrap_or("http"), authority.as_str()),
        None => request
            .headers()
            .get(::http::header::HOST)
            .and_then(|host| host.to_str().ok())
            .unwrap_or_default()
            .to_owned(),
    }
}
