//! Real HTTP servers on 127.0.0.1 (hyper, one tokio task per connection) and the hyper client the
//! tests wrap with the circuit layer.

#![allow(dead_code)] // each test binary uses part of it

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use circuit::{Config, Family, ManualClock};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Empty, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;

/// What the test servers answer with.
pub type ServerBody = BoxBody<Bytes, Infallible>;
/// The client every test wraps.
pub type HttpClient = Client<HttpConnector, Empty<Bytes>>;

/// Hang guard for every await on the network: generous, never part of an assertion.
pub const HANG_GUARD: Duration = Duration::from_secs(30);

/// A running server; it stops when the test's runtime shuts down.
pub struct Server {
    pub addr: SocketAddr,
    requests: Arc<AtomicUsize>,
}

impl Server {
    /// `http://127.0.0.1:<port>`: the key `CircuitLayer::per_origin` gives this server.
    pub fn origin(&self) -> String {
        format!("http://{}", self.addr)
    }
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.origin())
    }
    /// Requests that reached the server.
    pub fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }
}

/// Serves `handler` on 127.0.0.1 with an ephemeral port.
pub async fn serve<H, F>(handler: H) -> Server
where
    H: Fn(Request<Incoming>) -> F + Clone + Send + Sync + 'static,
    F: Future<Output = Response<ServerBody>> + Send + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind 127.0.0.1:0");
    let addr = listener.local_addr().expect("local address");
    let requests = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&requests);
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else { return };
            let (handler, counter) = (handler.clone(), Arc::clone(&counter));
            let service = service_fn(move |request| {
                counter.fetch_add(1, Ordering::SeqCst);
                let response = handler(request);
                async move { Ok::<_, Infallible>(response.await) }
            });
            tokio::spawn(async move {
                let _ =
                    hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), service).await;
            });
        }
    });
    Server { addr, requests }
}

/// A response with `status`, an optional `Retry-After` and a short body.
pub fn respond(status: u16, retry_after: Option<&str>) -> Response<ServerBody> {
    let mut builder = Response::builder().status(status);
    if let Some(value) = retry_after {
        builder = builder.header("retry-after", value);
    }
    builder.body(Full::new(Bytes::from_static(b"body")).boxed()).expect("a valid response")
}

/// A server that always answers `status`.
pub async fn status_server(status: u16) -> Server {
    serve(move |_| async move { respond(status, None) }).await
}

/// A server that answers the status in the path: `/status/503`.
pub async fn echo_status_server() -> Server {
    serve(|request: Request<Incoming>| async move {
        let status = request.uri().path().trim_start_matches("/status/").parse().expect("a status in the path");
        respond(status, None)
    })
    .await
}

/// A port nothing listens on: bound, then released.
pub async fn unused_port() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind 127.0.0.1:0");
    listener.local_addr().expect("local address")
}

pub fn client() -> HttpClient {
    Client::builder(TokioExecutor::new()).build_http()
}

pub fn get(url: &str) -> Request<Empty<Bytes>> {
    Request::get(url).body(Empty::new()).expect("a valid request")
}

/// A family named `api` whose members open after `failure_threshold` consecutive failures.
pub fn family(failure_threshold: u32) -> Arc<Family> {
    let config = Config::builder().name("api").failure_threshold(failure_threshold).build().expect("valid config");
    Arc::new(Family::new(config))
}

/// The same on a manual clock, with a 1 s reset timeout.
pub fn family_on(clock: &ManualClock, failure_threshold: u32) -> Arc<Family> {
    let config = Config::builder()
        .name("api")
        .failure_threshold(failure_threshold)
        .reset_timeout(Duration::from_secs(1))
        .build()
        .expect("valid config");
    Arc::new(Family::builder(config).clock(clock.clone()).build().expect("valid family"))
}

/// Awaits `future` under the hang guard.
pub async fn guarded<F: Future>(future: F) -> F::Output {
    tokio::time::timeout(HANG_GUARD, future).await.expect("hang guard: the call did not finish in 30 s")
}
