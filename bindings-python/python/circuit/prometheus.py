"""Prometheus export of breakers and families (docs/observability.md), for `prometheus_client`
(the `prometheus` extra: ``pip install circuit-core[prometheus]``).

    collector = circuit.prometheus.register(payments, per_host)  # on prometheus_client.REGISTRY
    ...
    collector.unregister()

A custom collector: every scrape reads one fresh snapshot per breaker (a call pays nothing for
being exported) and yields the metric set the core declares, with the core's names, HELP texts
and labels, built from its samples (`circuit._circuit._metric_points`). Each family of the set
appears once per registry, so give one collector every breaker and family a registry exports
(`register(a, b, ...)` or `collector.add(c)`); a second collector on the same registry is refused
by prometheus_client (`ValueError`, duplicated timeseries).
"""

from __future__ import annotations

import threading
from typing import Iterator, List, Optional, Union

from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import REGISTRY, CollectorRegistry

from . import _circuit

__all__ = ["BreakerCollector", "register"]

Source = Union[_circuit.Breaker, _circuit.Family]


def _check(source: object) -> Source:
    if not isinstance(source, (_circuit.Breaker, _circuit.Family)):
        raise TypeError(f"expected a circuit.CircuitBreaker or a circuit.Family, got {type(source).__name__}")
    return source


class BreakerCollector:
    """A prometheus_client collector of breakers and families (members by key, then the
    family's overflow breaker with key "(overflow)"). Holds its sources (keeps them alive) until
    they are removed."""

    def __init__(self, *sources: Source) -> None:
        self._lock = threading.Lock()
        self._sources: List[Source] = [_check(s) for s in sources]
        self._registry: Optional[CollectorRegistry] = None

    @property
    def sources(self) -> List[Source]:
        """The breakers and families exported, in order."""
        with self._lock:
            return list(self._sources)

    def add(self, source: Source) -> None:
        """Exports `source` too, from the next scrape on."""
        checked = _check(source)
        with self._lock:
            if not any(s is checked for s in self._sources):
                self._sources.append(checked)

    def remove(self, source: Source) -> bool:
        """Stops exporting `source`; returns whether it was exported."""
        with self._lock:
            for index, s in enumerate(self._sources):
                if s is source:
                    del self._sources[index]
                    return True
        return False

    def describe(self) -> List[Metric]:
        """The metric set without samples: what prometheus_client checks for duplicates."""
        return [_family(name, kind, help_text) for name, kind, help_text, *_ in _circuit.METRIC_FAMILIES]

    def collect(self) -> Iterator[Metric]:
        """One snapshot per source, as the metric set (every family, even without samples)."""
        families = {name: _family(name, kind, help_text) for name, kind, help_text, *_ in _circuit.METRIC_FAMILIES}
        for name, kind, _help, labels, value in _circuit._metric_points(*self.sources):
            families[name].add_sample(name, labels, value)
        yield from families.values()

    def unregister(self) -> None:
        """Removes this collector from the registry `register` put it on (idempotent)."""
        with self._lock:
            registry, self._registry = self._registry, None
        if registry is not None:
            registry.unregister(self)


def _family(name: str, kind: str, help_text: str) -> Metric:
    # prometheus_client names a counter family without `_total` (its samples keep it).
    if kind == "counter":
        return CounterMetricFamily(name, help_text)
    return GaugeMetricFamily(name, help_text)


def register(*sources: Source, registry: Optional[CollectorRegistry] = None) -> BreakerCollector:
    """Exports `sources` (breakers and families) on `registry` (default:
    `prometheus_client.REGISTRY`); returns the collector, whose `unregister()` stops it."""
    collector = BreakerCollector(*sources)
    target = REGISTRY if registry is None else registry
    target.register(collector)
    collector._registry = target
    return collector
