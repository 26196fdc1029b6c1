"""record_failure(permit, retry_after=...): the dependency's own retry time (semantics.md,
"Retry times from the dependency")."""

from __future__ import annotations

import datetime
import math
from typing import Any

import pytest

import circuit


def breaker_on(clock: circuit.ManualClock, **options: Any) -> circuit.CircuitBreaker:
    return circuit.CircuitBreaker("dep", reset_timeout=10.0, clock=clock, **options)


def rejection_retry_after(breaker: circuit.CircuitBreaker) -> float | None:
    with pytest.raises(circuit.CircuitOpenError) as info:
        breaker.allow()
    return info.value.retry_after


def test_tripping_failure_opens_for_the_retry_time(clock: circuit.ManualClock) -> None:
    breaker = breaker_on(clock, failure_threshold=1)
    assert breaker.record_failure(breaker.allow(), retry_after=60.0)
    assert breaker.state == "open"
    assert breaker.metrics().retry_after == 60.0
    assert rejection_retry_after(breaker) == 60.0
    clock.advance(59.999)
    assert breaker.state == "open"
    clock.advance(0.001)
    assert breaker.state == "half_open"


def test_timedelta_and_probe_failure(clock: circuit.ManualClock) -> None:
    breaker = breaker_on(clock, failure_threshold=1)
    breaker.record_failure(breaker.allow())
    assert rejection_retry_after(breaker) == 10.0
    clock.advance(10.0)
    probe = breaker.allow()
    assert probe.is_probe
    assert breaker.record_failure(probe, retry_after=datetime.timedelta(seconds=45))
    assert rejection_retry_after(breaker) == 45.0


def test_capped_by_max_reset_timeout(clock: circuit.ManualClock) -> None:
    breaker = breaker_on(clock, failure_threshold=1, max_reset_timeout=120.0)
    breaker.record_failure(breaker.allow(), retry_after=3600.0)
    assert rejection_retry_after(breaker) == 120.0


def test_never_shorter_than_the_breakers_own_open_duration(clock: circuit.ManualClock) -> None:
    breaker = breaker_on(clock, failure_threshold=1)
    breaker.record_failure(breaker.allow(), retry_after=1.0)
    assert rejection_retry_after(breaker) == 10.0


def test_non_tripping_failure_retry_time_changes_nothing(clock: circuit.ManualClock) -> None:
    breaker = breaker_on(clock, failure_threshold=2)
    assert breaker.record_failure(breaker.allow(), retry_after=600.0)
    assert breaker.state == "closed"
    assert breaker.metrics().consecutive_failures == 1
    breaker.record_failure(breaker.allow())  # the tripping failure carries no retry time
    assert rejection_retry_after(breaker) == 10.0


@pytest.mark.parametrize("zero", [None, 0, 0.0, datetime.timedelta(0)])
def test_none_or_zero_is_an_ordinary_failure(clock: circuit.ManualClock, zero: Any) -> None:
    breaker = breaker_on(clock, failure_threshold=1)
    assert breaker.record_failure(breaker.allow(), retry_after=zero)
    assert rejection_retry_after(breaker) == 10.0
    assert breaker.metrics().failures == 1


@pytest.mark.parametrize("bad", [-1.0, -0.5, math.nan, math.inf, datetime.timedelta(seconds=-1)])
def test_invalid_values_raise_value_error_and_leave_the_permit(clock: circuit.ManualClock, bad: Any) -> None:
    breaker = breaker_on(clock, failure_threshold=1)
    permit = breaker.allow()
    with pytest.raises(ValueError, match="retry_after"):
        breaker.record_failure(permit, retry_after=bad)
    assert not permit.recorded
    assert breaker.record_failure(permit)


@pytest.mark.parametrize("bad", ["30", True, [1.0], object()])
def test_wrong_types_raise_type_error(clock: circuit.ManualClock, bad: Any) -> None:
    breaker = breaker_on(clock, failure_threshold=1)
    permit = breaker.allow()
    with pytest.raises(TypeError, match="retry_after"):
        breaker.record_failure(permit, retry_after=bad)
    assert not permit.recorded


def test_keyword_only_and_permit_errors(clock: circuit.ManualClock) -> None:
    breaker = breaker_on(clock, failure_threshold=5)
    permit = breaker.allow()
    with pytest.raises(TypeError):
        breaker.record_failure(permit, 30.0)  # type: ignore[call-arg]
    assert breaker.record_failure(permit, retry_after=30.0)
    assert permit.recorded
    with pytest.raises(circuit.PermitAlreadyRecordedError):
        breaker.record_failure(permit, retry_after=30.0)
    with pytest.raises(ValueError, match="different circuit breaker"):
        circuit.CircuitBreaker().record_failure(breaker.allow(), retry_after=30.0)


def test_stale_permit_returns_false(clock: circuit.ManualClock) -> None:
    breaker = breaker_on(clock, failure_threshold=1)
    permit = breaker.allow()
    breaker.force_open()
    breaker.reset()
    assert not breaker.record_failure(permit, retry_after=30.0)
    assert breaker.state == "closed"
