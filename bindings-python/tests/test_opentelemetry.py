"""circuit.opentelemetry: observable instruments read through the OpenTelemetry SDK's
InMemoryMetricReader."""

from __future__ import annotations

from typing import Any, Dict, Iterator, Tuple

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import Gauge, InMemoryMetricReader, NumberDataPoint, Sum

import circuit
import circuit.opentelemetry

Points = Dict[Tuple[str, Tuple[Tuple[str, Any], ...]], float]


@pytest.fixture
def reader() -> Iterator[InMemoryMetricReader]:
    yield InMemoryMetricReader()


@pytest.fixture
def provider(reader: InMemoryMetricReader) -> Iterator[MeterProvider]:
    provider = MeterProvider(metric_readers=[reader])
    yield provider
    provider.shutdown()


def collect(reader: InMemoryMetricReader) -> Tuple[Dict[str, Any], Points]:
    """Every metric by name (its data object) and every data point by (name, attributes)."""
    data = reader.get_metrics_data()
    metrics: Dict[str, Any] = {}
    points: Points = {}
    if data is None:  # nothing observed at all
        return metrics, points
    for resource in data.resource_metrics:
        for scope in resource.scope_metrics:
            for metric in scope.metrics:
                metrics[metric.name] = metric
                for point in metric.data.data_points:
                    assert isinstance(point, NumberDataPoint), point
                    points[(metric.name, tuple(sorted((point.attributes or {}).items())))] = float(point.value)
    return metrics, points


def test_instruments_report_the_cores_points(
    provider: MeterProvider, reader: InMemoryMetricReader, clock: circuit.ManualClock
) -> None:
    payments = circuit.CircuitBreaker("payments", failure_threshold=1, clock=clock)
    hosts = circuit.Family("hosts", clock=clock)
    hosts["db"].record_success(hosts["db"].allow())
    instruments = circuit.opentelemetry.instrument(provider.get_meter("test"), payments, hosts)
    assert len(instruments.instruments) == len(circuit._circuit.METRIC_FAMILIES)

    payments.record_failure(payments.allow())
    clock.advance(2.0)
    metrics, points = collect(reader)

    by_otel = {otel: (kind, help_text, unit) for _, kind, help_text, _, unit, otel in circuit._circuit.METRIC_FAMILIES}
    assert set(metrics) == set(by_otel)
    for name, metric in metrics.items():
        kind, help_text, unit = by_otel[name]
        assert metric.description == help_text and metric.unit == unit
        if kind == "counter":
            assert isinstance(metric.data, Sum) and metric.data.is_monotonic, name
        else:
            assert isinstance(metric.data, Gauge), name

    otel_of = {name: otel for name, *_, otel in circuit._circuit.METRIC_FAMILIES}
    expected = {
        (otel_of[family], tuple(sorted(labels.items()))): value
        for family, _, _, labels, value in circuit._circuit._metric_points(payments, hosts)
    }
    assert points == expected
    assert points[("circuit_breaker.state", (("name", "payments"), ("state", "open")))] == 1.0
    assert points[("circuit_breaker.calls", (("key", "db"), ("name", "hosts"), ("outcome", "success")))] == 1.0
    transition = (("from", "closed"), ("name", "payments"), ("reason", "failure_threshold"), ("to", "open"))
    assert points[("circuit_breaker.transitions", transition)] == 1.0
    assert points[("circuit_breaker.time_in_state_seconds", (("name", "payments"),))] == pytest.approx(2.0)

    instruments.close()
    instruments.close()
    assert instruments.sources == []
    _, points = collect(reader)
    assert points == {}


def test_bad_sources_are_refused(provider: MeterProvider) -> None:
    with pytest.raises(TypeError, match="expected a circuit.CircuitBreaker or a circuit.Family, got dict"):
        circuit.opentelemetry.instrument(provider.get_meter("test"), {})  # type: ignore[arg-type]
