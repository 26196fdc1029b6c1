//! When the outcome is recorded: at the response headers (the body streams through untouched),
//! and never for a call the caller dropped. Real servers on 127.0.0.1.

mod support;

use std::sync::{Arc, Mutex};

use bytes::Bytes;
use circuit::State;
use circuit::tower::CircuitLayer;
use http_body_util::{BodyExt, channel::Channel};
use hyper::Response;
use support::*;
use tokio::sync::{Notify, oneshot};
use tower::{ServiceBuilder, ServiceExt};

#[tokio::test]
async fn a_call_the_caller_drops_is_ignored() {
    let arrived = Arc::new(Notify::new());
    let server = {
        let arrived = Arc::clone(&arrived);
        serve(move |_| {
            arrived.notify_one();
            std::future::pending()
        })
        .await
    };
    let family = family(1);
    let service = ServiceBuilder::new().layer(CircuitLayer::per_origin(Arc::clone(&family))).service(client());
    let call = service.oneshot(get(&server.url("/")));
    // The call is dropped once the server holds the request: the caller's cancellation.
    tokio::select! {
        _ = guarded(arrived.notified()) => {}
        result = call => panic!("the hanging server answered: {result:?}"),
    }
    let metrics = family.get(&server.origin()).metrics();
    assert_eq!((metrics.admitted, metrics.ignored, metrics.failures, metrics.state), (1, 1, 0, State::Closed));
}

#[tokio::test]
async fn the_body_streams_through_and_the_outcome_is_recorded_at_the_headers() {
    let (release_tx, release_rx) = oneshot::channel::<()>();
    let release = Arc::new(Mutex::new(Some(release_rx)));
    let server = serve(move |_| {
        let release = release.lock().unwrap().take().expect("one request");
        async move {
            let (mut sender, body) = Channel::<Bytes>::new(1);
            tokio::spawn(async move {
                sender.send_data(Bytes::from_static(b"first")).await.unwrap();
                release.await.expect("the test releases the rest");
                sender.send_data(Bytes::from_static(b"rest")).await.unwrap();
            });
            Response::builder().status(500).body(body.boxed()).unwrap()
        }
    })
    .await;
    let family = family(1);
    let service = ServiceBuilder::new().layer(CircuitLayer::per_origin(Arc::clone(&family))).service(client());

    // The headers arrive while the server holds back the rest of the body: nothing is buffered.
    let response = guarded(service.oneshot(get(&server.url("/")))).await.unwrap();
    assert_eq!(response.status(), 500);
    let member = family.get(&server.origin());
    assert_eq!((member.metrics().failures, member.state()), (1, State::Open));

    let mut body = response.into_body();
    let first = guarded(body.frame()).await.expect("a first frame").unwrap().into_data().unwrap();
    assert_eq!(first, "first");
    release_tx.send(()).unwrap();
    let rest = guarded(body.collect()).await.unwrap().to_bytes();
    assert_eq!(rest, "rest");
}
