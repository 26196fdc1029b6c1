"""circuit.prometheus: a real scrape over HTTP (prometheus_client's own server on 127.0.0.1),
parsed with prometheus_client's parser; registration, unregistration and bad input."""

from __future__ import annotations

import urllib.request
from typing import Dict, Iterator, Tuple

import pytest
from prometheus_client import REGISTRY, CollectorRegistry, generate_latest, start_http_server
from prometheus_client.parser import text_string_to_metric_families

import circuit
import circuit.prometheus

Samples = Dict[Tuple[str, Tuple[Tuple[str, str], ...]], float]


@pytest.fixture
def registry() -> CollectorRegistry:
    return CollectorRegistry()


@pytest.fixture
def scrape_url(registry: CollectorRegistry) -> Iterator[str]:
    """The URL of prometheus_client's HTTP exposition server for `registry`, on a free port."""
    server, thread = start_http_server(0, addr="127.0.0.1", registry=registry)
    try:
        yield f"http://127.0.0.1:{server.server_port}/metrics"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def scrape(url: str) -> Tuple[Dict[str, str], Samples]:
    """TYPE per family and every sample, read over HTTP and parsed by prometheus_client."""
    with urllib.request.urlopen(url, timeout=10) as response:
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("text/plain")
        text = response.read().decode()
    types: Dict[str, str] = {}
    samples: Samples = {}
    for family in text_string_to_metric_families(text):
        types[family.name] = family.type
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return types, samples


def fail(breaker: circuit.CircuitBreaker, times: int) -> None:
    for _ in range(times):
        breaker.record_failure(breaker.allow())


def test_a_scrape_over_http_reads_fresh_snapshots(
    registry: CollectorRegistry, scrape_url: str, clock: circuit.ManualClock
) -> None:
    payments = circuit.CircuitBreaker("payments", failure_threshold=2, reset_timeout=10.0, clock=clock)
    hosts = circuit.Family("hosts", failure_threshold=1, clock=clock)
    collector = circuit.prometheus.register(payments, hosts, registry=registry)
    assert collector.sources == [payments, hosts]

    types, samples = scrape(scrape_url)
    # Every family of the core's set, with the core's type (the parser names counters without _total).
    assert {name: kind for name, kind in types.items() if name.startswith("circuit_")} == {
        name.removesuffix("_total"): kind for name, kind, *_ in circuit._circuit.METRIC_FAMILIES
    }
    assert samples[("circuit_breaker_state", (("name", "payments"), ("state", "closed")))] == 1.0
    assert samples[("circuit_breaker_state", (("key", "(overflow)"), ("name", "hosts"), ("state", "closed")))] == 1.0
    assert not any(name == "circuit_breaker_transitions_total" for name, _ in samples)

    fail(payments, 2)
    with pytest.raises(circuit.CircuitOpenError):
        payments.allow()
    fail(hosts["db"], 1)
    clock.advance(1.5)

    _, samples = scrape(scrape_url)
    assert samples[("circuit_breaker_state", (("name", "payments"), ("state", "open")))] == 1.0
    assert samples[("circuit_breaker_state", (("name", "payments"), ("state", "closed")))] == 0.0
    assert samples[("circuit_breaker_calls_total", (("name", "payments"), ("outcome", "failure")))] == 2.0
    assert samples[("circuit_breaker_rejected_calls_total", (("name", "payments"), ("reason", "open")))] == 1.0
    transition = (("from", "closed"), ("name", "payments"), ("reason", "failure_threshold"), ("to", "open"))
    assert samples[("circuit_breaker_transitions_total", transition)] == 1.0
    assert samples[("circuit_breaker_time_in_state_seconds", (("name", "payments"),))] == pytest.approx(1.5)
    member = (("key", "db"), ("name", "hosts"), ("state", "open"))
    assert samples[("circuit_breaker_state", member)] == 1.0

    collector.unregister()
    collector.unregister()  # idempotent
    types, samples = scrape(scrape_url)
    assert not any(name.startswith("circuit_") for name in types)


def test_samples_are_the_cores_points(registry: CollectorRegistry, clock: circuit.ManualClock) -> None:
    breaker = circuit.CircuitBreaker(clock=clock)  # unnamed: name=""
    breaker.record_success(breaker.allow())
    circuit.prometheus.register(breaker, registry=registry)
    exported = {
        (s.name, tuple(sorted(s.labels.items())), s.value)
        for f in text_string_to_metric_families(generate_latest(registry).decode())
        for s in f.samples
    }
    points = {(n, tuple(sorted(labels.items())), v) for n, _, _, labels, v in circuit._circuit._metric_points(breaker)}
    assert exported == points
    assert ("circuit_breaker_calls_total", (("name", ""), ("outcome", "success")), 1.0) in exported


def test_add_and_remove_sources(registry: CollectorRegistry) -> None:
    a, b = circuit.CircuitBreaker("a"), circuit.CircuitBreaker("b")
    collector = circuit.prometheus.register(a, registry=registry)
    collector.add(b)
    collector.add(b)  # once only
    assert collector.sources == [a, b]
    text = generate_latest(registry).decode()
    assert 'circuit_breaker_state{name="b",state="closed"} 1.0' in text
    assert collector.remove(a) and not collector.remove(a)
    assert 'name="a"' not in generate_latest(registry).decode()


def test_the_default_registry() -> None:
    collector = circuit.prometheus.register(circuit.CircuitBreaker("on-the-default-registry"))
    try:
        assert 'name="on-the-default-registry"' in generate_latest(REGISTRY).decode()
    finally:
        collector.unregister()
    assert 'name="on-the-default-registry"' not in generate_latest(REGISTRY).decode()


def test_a_second_collector_on_one_registry_is_refused(registry: CollectorRegistry) -> None:
    circuit.prometheus.register(circuit.CircuitBreaker("a"), registry=registry)
    with pytest.raises(ValueError, match="Duplicated timeseries"):
        circuit.prometheus.register(circuit.CircuitBreaker("b"), registry=registry)


def test_bad_sources_are_refused(registry: CollectorRegistry) -> None:
    with pytest.raises(TypeError, match="expected a circuit.CircuitBreaker or a circuit.Family, got int"):
        circuit.prometheus.register(42, registry=registry)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="got str"):
        circuit._circuit._metric_points("payments")  # type: ignore[arg-type]
    collector = circuit.prometheus.register(registry=registry)
    with pytest.raises(TypeError):
        collector.add(object())  # type: ignore[arg-type]
    assert collector.sources == []
