//! Unit tests with in-memory services; tests/rust-http runs the layer against real HTTP servers.

use std::future::{Future, Ready, ready};
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use tower_layer::Layer;
use tower_service::Service;

use super::*;
use crate::http::{HttpError, Verdict};
use crate::{Config, ManualClock, Outcome, RejectReason, State};

/// Answers every request with the status it carries in its body.
#[derive(Clone)]
struct Echo;

impl Service<::http::Request<u16>> for Echo {
    type Response = ::http::Response<()>;
    type Error = std::io::Error;
    type Future = Ready<Result<Self::Response, Self::Error>>;
    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }
    fn call(&mut self, request: ::http::Request<u16>) -> Self::Future {
        let status = *request.body();
        let response = ::http::Response::builder().status(status).header("retry-after", "30").body(()).unwrap();
        ready(Ok(response))
    }
}

/// Fails every call with an I/O error, or never answers.
#[derive(Clone)]
struct Broken {
    hang: bool,
}

impl Service<&'static str> for Broken {
    type Response = ::http::Response<()>;
    type Error = std::io::Error;
    type Future = std::pin::Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;
    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }
    fn call(&mut self, _: &'static str) -> Self::Future {
        if self.hang { Box::pin(std::future::pending()) } else { Box::pin(ready(Err(std::io::Error::other("down")))) }
    }
}

fn poll_once<F: Future>(future: F) -> Poll<F::Output> {
    pin!(future).poll(&mut Context::from_waker(Waker::noop()))
}

fn now<F: Future>(future: F) -> F::Output {
    match poll_once(future) {
        Poll::Ready(output) => output,
        Poll::Pending => panic!("the test services answer at once"),
    }
}

fn request(origin: &str, status: u16) -> ::http::Request<u16> {
    ::http::Request::get(format!("{origin}/path?q=1")).body(status).unwrap()
}

fn breaker(threshold: u32) -> Arc<CircuitBreaker> {
    Arc::new(CircuitBreaker::new(Config::builder().name("b").failure_threshold(threshold).build().unwrap()))
}

#[test]
fn statuses_are_classified_by_the_core_and_rejection_skips_the_inner_service() {
    let breaker = breaker(2);
    let mut service = CircuitLayer::new(Arc::clone(&breaker)).layer(Echo);
    for status in [200, 404, 501, 503, 500] {
        assert_eq!(now(service.call(request("http://a", status))).unwrap().status(), status);
    }
    let m = breaker.metrics();
    assert_eq!((m.successes, m.failures, m.state), (3, 2, State::Open));
    let rejected = now(service.call(request("http://a", 200))).unwrap_err();
    assert_eq!(rejected.rejected().map(|r| (r.reason(), r.name())), Some((RejectReason::Open, Some("b"))));
    assert_eq!(rejected.to_string(), rejected.rejected().unwrap().to_string());
}

#[test]
fn retry_after_of_the_opening_failure_sets_the_open_duration() {
    let clock = ManualClock::new();
    let config = Config::builder().failure_threshold(1).reset_timeout(Duration::from_secs(1)).build().unwrap();
    let breaker = Arc::new(CircuitBreaker::with_clock(config, clock.clone()));
    let mut service = CircuitLayer::new(Arc::clone(&breaker)).layer(Echo);
    now(service.call(request("http://a", 429))).unwrap();
    clock.advance(Duration::from_secs(29));
    assert!(breaker.allow().is_err());
    clock.advance(Duration::from_secs(1));
    assert!(breaker.allow().is_ok());
}

#[test]
fn per_origin_and_per_key_pick_family_members() {
    let family = Arc::new(Family::new(Config::builder().name("f").failure_threshold(1).build().unwrap()));
    let mut service = CircuitLayer::per_origin(Arc::clone(&family)).layer(Echo);
    now(service.call(request("https://a.example:8443", 503))).unwrap();
    now(service.call(request("https://b.example", 200))).unwrap();
    assert_eq!(family.get("https://a.example:8443").state(), State::Open);
    assert_eq!(family.get("https://b.example").state(), State::Closed);

    let mut by_path =
        CircuitLayer::per_key(Arc::clone(&family), |r: &::http::Request<u16>| r.uri().path().to_owned()).layer(Echo);
    now(by_path.call(request("http://c", 500))).unwrap();
    assert_eq!(family.get("/path").state(), State::Open);
}

#[test]
fn origin_falls_back_to_the_host_header() {
    let relative = ::http::Request::get("/x").header("host", "h.example:81").body(()).unwrap();
    assert_eq!(origin(&relative), "h.example:81");
    assert_eq!(origin(&::http::Request::get("/x").body(()).unwrap()), "");
    assert_eq!(origin(&::http::Request::get("http://h.example/x").body(()).unwrap()), "http://h.example");
}

#[test]
fn errors_fail_unless_mapped_and_custom_classifiers_decide() {
    let breaker = breaker(100);
    let mut service = CircuitLayer::new(Arc::clone(&breaker)).classify(OkIsSuccess).layer(Broken { hang: false });
    assert!(matches!(now(service.call("x")), Err(CircuitError::Inner(_))));
    assert_eq!(breaker.metrics().failures, 1);

    let mut service = CircuitLayer::new(Arc::clone(&breaker)).layer(Broken { hang: false });
    now(service.call("x")).unwrap_err();
    assert_eq!(breaker.metrics().failures, 2);

    let mapped = HttpClassifier::new().map_errors(|_: &std::io::Error| HttpError::Cancelled);
    let mut service = CircuitLayer::new(Arc::clone(&breaker)).classify(mapped).layer(Broken { hang: false });
    now(service.call("x")).unwrap_err();
    assert_eq!((breaker.metrics().failures, breaker.metrics().ignored), (2, 1));

    let errors_are_fine =
        |_: &Result<::http::Response<()>, std::io::Error>| Verdict { outcome: Outcome::Success, retry_after: None };
    let mut service = CircuitLayer::new(Arc::clone(&breaker)).classify(errors_are_fine).layer(Broken { hang: false });
    now(service.call("x")).unwrap_err();
    assert_eq!((breaker.metrics().failures, breaker.metrics().successes), (2, 1));
}

#[test]
fn a_dropped_future_is_ignored() {
    let breaker = breaker(1);
    let mut service = CircuitLayer::new(Arc::clone(&breaker)).classify(OkIsSuccess).layer(Broken { hang: true });
    let mut future = Box::pin(service.call("x"));
    assert!(future.as_mut().poll(&mut Context::from_waker(Waker::noop())).is_pending());
    drop(future);
    let m = breaker.metrics();
    assert_eq!((m.admitted, m.ignored, m.failures, m.state), (1, 1, 0, State::Closed));
}
