//! What each HTTP exchange counts as, through `CircuitLayer` around a hyper client, against real
//! servers on 127.0.0.1.

mod support;

use std::sync::Arc;
use std::time::Duration;

use circuit::http::HttpError;
use circuit::tower::{CircuitError, CircuitLayer, HttpClassifier};
use circuit::{CircuitBreaker, Config, ManualClock, RejectReason, State};
use support::*;
use tower::{Service, ServiceBuilder, ServiceExt};

#[tokio::test]
async fn each_origin_has_its_own_breaker() {
    let (failing, healthy) = (status_server(503).await, status_server(200).await);
    let family = family(2);
    let mut service = ServiceBuilder::new().layer(CircuitLayer::per_origin(Arc::clone(&family))).service(client());
    for _ in 0..2 {
        assert_eq!(guarded(service.ready().await.unwrap().call(get(&failing.url("/")))).await.unwrap().status(), 503);
        assert_eq!(guarded(service.ready().await.unwrap().call(get(&healthy.url("/")))).await.unwrap().status(), 200);
    }
    assert_eq!(family.get(&failing.origin()).state(), State::Open);
    assert_eq!(family.get(&healthy.origin()).state(), State::Closed);
    let rejected = guarded(service.ready().await.unwrap().call(get(&failing.url("/")))).await;
    assert!(matches!(rejected, Err(CircuitError::Rejected(_))));
    assert_eq!(guarded(service.ready().await.unwrap().call(get(&healthy.url("/")))).await.unwrap().status(), 200);
    assert_eq!((failing.requests(), healthy.requests()), (2, 3));
}

#[tokio::test]
async fn five_hundreds_408_and_429_fail_other_statuses_succeed() {
    let server = echo_status_server().await;
    let breaker = Arc::new(CircuitBreaker::new(Config::builder().failure_threshold(1000).build().unwrap()));
    let service = ServiceBuilder::new().layer(CircuitLayer::new(Arc::clone(&breaker))).service(client());
    let failing = [500, 502, 503, 504, 599, 408, 429];
    let succeeding = [200, 204, 301, 304, 400, 401, 403, 404, 409, 501];
    for status in failing.into_iter().chain(succeeding) {
        // Spawned: the layer's future is `Send`.
        let call = tokio::spawn(service.clone().oneshot(get(&server.url(&format!("/status/{status}")))));
        assert_eq!(guarded(call).await.unwrap().unwrap().status(), status);
    }
    let metrics = breaker.metrics();
    assert_eq!((metrics.failures, metrics.successes), (failing.len() as u64, succeeding.len() as u64));
}

#[tokio::test]
async fn connection_refused_is_a_failure() {
    let addr = unused_port().await;
    let family = family(1);
    let service = ServiceBuilder::new().layer(CircuitLayer::per_origin(Arc::clone(&family))).service(client());
    let url = format!("http://{addr}/");
    match guarded(service.clone().oneshot(get(&url))).await {
        Err(CircuitError::Inner(error)) => assert!(error.is_connect(), "{error:?}"),
        other => panic!("expected a connection error, got {other:?}"),
    }
    let member = family.get(&format!("http://{addr}"));
    assert_eq!((member.metrics().failures, member.state()), (1, State::Open));
    assert!(matches!(guarded(service.oneshot(get(&url))).await, Err(CircuitError::Rejected(_))));
}

#[tokio::test]
async fn a_timeout_inside_the_circuit_layer_is_a_failure() {
    let hanging = serve(|_| std::future::pending()).await;
    let family = family(1);
    // Circuit outside, timeout inside: the breaker sees the timeout's error. 200 ms is the
    // timeout under test, not a timing assertion: the server never answers.
    let is_timeout = |error: &tower::BoxError| {
        if error.is::<tower::timeout::error::Elapsed>() { HttpError::Timeout } else { HttpError::Other }
    };
    let service = ServiceBuilder::new()
        .layer(CircuitLayer::per_origin(Arc::clone(&family)).classify(HttpClassifier::new().map_errors(is_timeout)))
        .timeout(Duration::from_millis(200))
        .service(client());
    match guarded(service.clone().oneshot(get(&hanging.url("/")))).await {
        Err(CircuitError::Inner(error)) => assert!(error.is::<tower::timeout::error::Elapsed>(), "{error:?}"),
        other => panic!("expected a timeout, got {other:?}"),
    }
    assert_eq!(hanging.requests(), 1);
    let member = family.get(&hanging.origin());
    assert_eq!((member.metrics().failures, member.state()), (1, State::Open));
}

#[tokio::test]
async fn a_rejection_names_the_member_and_never_reaches_the_server() {
    let server = status_server(500).await;
    let family = family(1);
    let service = ServiceBuilder::new().layer(CircuitLayer::per_origin(Arc::clone(&family))).service(client());
    assert_eq!(guarded(service.clone().oneshot(get(&server.url("/")))).await.unwrap().status(), 500);
    let error = guarded(service.oneshot(get(&server.url("/")))).await.unwrap_err();
    let CircuitError::Rejected(rejected) = &error else { panic!("expected a rejection, got {error:?}") };
    let member = format!("api/{}", server.origin());
    assert_eq!((rejected.name(), rejected.reason()), (Some(member.as_str()), RejectReason::Open));
    assert!(error.to_string().contains(&member), "{error}");
    assert_eq!(server.requests(), 1);
    let boxed = error.into_box_error();
    assert_eq!(boxed.downcast_ref::<circuit::Rejected>().and_then(|r| r.name()), Some(member.as_str()));
}

#[tokio::test]
async fn retry_after_keeps_the_member_open_past_its_reset_timeout() {
    let server = serve(|_| async { respond(503, Some("30")) }).await;
    let clock = ManualClock::new();
    let family = family_on(&clock, 1); // reset_timeout 1 s
    let service = ServiceBuilder::new().layer(CircuitLayer::per_origin(Arc::clone(&family))).service(client());
    assert_eq!(guarded(service.clone().oneshot(get(&server.url("/")))).await.unwrap().status(), 503);

    clock.advance(Duration::from_secs(5));
    match guarded(service.clone().oneshot(get(&server.url("/")))).await {
        Err(CircuitError::Rejected(rejected)) => assert_eq!(rejected.retry_after(), Some(Duration::from_secs(25))),
        other => panic!("expected a rejection 5 s in, got {other:?}"),
    }
    clock.advance(Duration::from_secs(25));
    assert_eq!(guarded(service.oneshot(get(&server.url("/")))).await.unwrap().status(), 503);
    assert_eq!(server.requests(), 2);
}
