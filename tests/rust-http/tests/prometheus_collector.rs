//! `circuit::prometheus::Collector` writes the samples of the golden exposition, in its order, and
//! serves them over a real HTTP scrape (a hyper server on 127.0.0.1, a hyper client).

mod golden_scenario;
mod support;

use std::sync::Arc;

use bytes::Bytes;
use circuit::Outcome;
use golden_scenario::{Scenario, call, descriptors, golden_text, samples};
use http_body_util::{BodyExt, Full};
use hyper::Response;
use prometheus_client::registry::Registry;
use support::{client, get, guarded, serve};

const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

fn registry(scenario: &Scenario) -> Registry {
    let mut collector = circuit::prometheus::Collector::new();
    collector.add_breaker(Arc::clone(&scenario.breaker)).add_family(Arc::clone(&scenario.family));
    let mut registry = Registry::default();
    registry.register_collector(Box::new(collector));
    registry
}

fn encode(registry: &Registry) -> String {
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, registry).expect("encodes");
    text
}

#[test]
fn the_collector_writes_the_golden_samples_in_order() {
    let scenario = golden_scenario::run();
    let text = encode(&registry(&scenario));
    let golden = golden_text();
    assert_eq!(samples(&text), samples(&golden), "{text}");
    assert_eq!(descriptors(&text, true), descriptors(&golden, false), "{text}");
    // What prometheus-client's OpenMetrics encoder writes beyond the 0.0.4 text.
    assert!(text.contains("# TYPE circuit_breaker_calls counter\n"), "{text}");
    assert!(text.contains("# UNIT circuit_breaker_time_in_state_seconds seconds\n"), "{text}");
    assert!(text.contains("circuit_breaker_state{key=\"(overflow)\",name=\"api\",state=\"closed\"} 1.0\n"));
    assert!(text.ends_with("# EOF\n"), "{text}");
}

#[test]
fn an_unnamed_breaker_has_an_empty_name_label() {
    let breaker = Arc::new(circuit::CircuitBreaker::new(circuit::Config::default()));
    let mut collector = circuit::prometheus::Collector::new();
    collector.add_breaker(breaker);
    let mut registry = Registry::default();
    registry.register_collector(Box::new(collector));
    let text = encode(&registry);
    assert!(text.contains("circuit_breaker_state{name=\"\",state=\"closed\"} 1.0\n"), "{text}");
}

#[tokio::test]
async fn a_scrape_over_http_reads_fresh_snapshots() {
    let scenario = golden_scenario::run();
    let registry = Arc::new(registry(&scenario));
    let server = serve(move |_| {
        let body = encode(&registry);
        async move {
            Response::builder()
                .header("content-type", OPENMETRICS)
                .body(Full::new(Bytes::from(body)).boxed())
                .expect("a valid response")
        }
    })
    .await;
    let http = client();
    let scrape = || async {
        let response = guarded(http.request(get(&server.url("/metrics")))).await.expect("the scrape answers");
        assert_eq!(response.headers()["content-type"], OPENMETRICS);
        let body = guarded(response.into_body().collect()).await.expect("the body").to_bytes();
        String::from_utf8(body.to_vec()).expect("UTF-8 text")
    };

    assert_eq!(samples(&scrape().await), samples(&golden_text()));

    // The next scrape sees what happened since: a call, a new family member, time passing.
    call(&scenario.breaker, Outcome::Success);
    call(&scenario.family.get("c"), Outcome::Failure);
    scenario.clock.advance(std::time::Duration::from_millis(500));
    let text = scrape().await;
    assert!(text.contains("circuit_breaker_calls_total{name=\"payments\",outcome=\"success\"} 4\n"), "{text}");
    assert!(text.contains("circuit_breaker_calls_total{key=\"c\",name=\"api\",outcome=\"failure\"} 1\n"), "{text}");
    assert!(text.contains("circuit_breaker_time_in_state_seconds{name=\"payments\"} 0.75\n"), "{text}");
    assert_eq!(server.requests(), 2);
}
