"""OpenTelemetry export of breakers and families (docs/observability.md), for the
`opentelemetry-api` (the `opentelemetry` extra: ``pip install circuit-core[opentelemetry]``).

    instruments = circuit.opentelemetry.instrument(meter, payments, per_host)
    ...
    instruments.close()

Creates one observable instrument per family of the core's metric set, named by the core
(`circuit_breaker.calls`, `circuit_breaker.state`, ...; counters as observable counters, gauges as
observable gauges) with its unit and description. Their callbacks read a fresh snapshot of every
source at each collection (a call pays nothing for being exported) and report the core's samples
(`circuit._circuit._metric_points`) with the same attributes as the Prometheus labels (`name`,
`key` for family members, `outcome`, `reason`, `state`, `from`/`to`). Create the instruments once
per meter: the OpenTelemetry API has no way to remove an instrument, so `close()` makes them
report nothing instead.
"""

from __future__ import annotations

import threading
from typing import Iterable, List, Union

from opentelemetry.metrics import CallbackOptions, Meter, Observation

from . import _circuit

__all__ = ["Instrumentation", "instrument"]

Source = Union[_circuit.Breaker, _circuit.Family]


class Instrumentation:
    """The instruments `instrument` created, and the sources they report."""

    def __init__(self, meter: Meter, sources: List[Source]) -> None:
        self._lock = threading.Lock()
        self._sources = sources
        self.instruments: List[object] = []
        """The observable instruments, in the order of `circuit._circuit.METRIC_FAMILIES`."""
        for name, kind, help_text, _labels, unit, otel_name in _circuit.METRIC_FAMILIES:
            create = meter.create_observable_counter if kind == "counter" else meter.create_observable_gauge
            self.instruments.append(
                create(otel_name, callbacks=[self._callback(name)], unit=unit, description=help_text)
            )

    @property
    def sources(self) -> List[Source]:
        """The breakers and families reported, in order."""
        with self._lock:
            return list(self._sources)

    def close(self) -> None:
        """Stops reporting (idempotent): every instrument observes nothing from now on, and the
        sources are no longer kept alive."""
        with self._lock:
            self._sources = []

    def _callback(self, family: str) -> "_Observe":
        return _Observe(self, family)


class _Observe:
    """The callback of one instrument: the samples of its family."""

    __slots__ = ("_owner", "_family")

    def __init__(self, owner: Instrumentation, family: str) -> None:
        self._owner = owner
        self._family = family

    def __call__(self, options: CallbackOptions) -> Iterable[Observation]:
        sources = self._owner.sources
        if not sources:
            return []
        return [
            Observation(value, labels)
            for name, _kind, _help, labels, value in _circuit._metric_points(*sources)
            if name == self._family
        ]


def instrument(meter: Meter, *sources: Source) -> Instrumentation:
    """Reports `sources` (breakers and families: members by key, then the overflow breaker with
    key "(overflow)") through observable instruments created on `meter`."""
    for source in sources:
        if not isinstance(source, (_circuit.Breaker, _circuit.Family)):
            raise TypeError(f"expected a circuit.CircuitBreaker or a circuit.Family, got {type(source).__name__}")
    return Instrumentation(meter, list(sources))
