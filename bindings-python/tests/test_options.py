"""Every option: defaults, wrong types (TypeError) and bad values (CircuitConfigError, a
ValueError), each naming the option; nothing is created."""

from __future__ import annotations

import math
from typing import Any, Dict

import pytest

import circuit

BAD_VALUES = [
    ("failure_rate_threshold", {"failure_rate_threshold": 0.0}),
    ("failure_rate_threshold", {"failure_rate_threshold": 1.5}),
    ("failure_rate_threshold", {"failure_rate_threshold": math.nan}),
    ("slow_call_rate_threshold", {"slow_call_duration": 1.0, "slow_call_rate_threshold": -0.1}),
    ("slow_call_rate_threshold", {"slow_call_rate_threshold": 0.5}),
    ("slow_call_duration", {"slow_call_duration": -1.0}),
    ("slow_call_duration", {"slow_call_duration": 0.0}),
    ("minimum_calls", {"failure_rate_threshold": 0.5, "minimum_calls": 0}),
    ("minimum_calls", {"failure_rate_threshold": 0.5, "window_size": 5, "minimum_calls": 6}),
    ("window_size", {"failure_rate_threshold": 0.5, "window_size": 0}),
    ("window_size", {"window_size": -3}),
    ("window_duration", {"failure_rate_threshold": 0.5, "window_duration": math.inf}),
    ("window_buckets", {"failure_rate_threshold": 0.5, "window_duration": 1.0, "window_buckets": 0}),
    ("window_buckets", {"failure_rate_threshold": 0.5, "window_duration": 1.0, "window_buckets": 3}),
    ("reset_timeout", {"reset_timeout": -1.0}),
    ("reset_timeout", {"reset_timeout": math.nan}),
    ("backoff_multiplier", {"backoff_multiplier": 0.5}),
    ("backoff_multiplier", {"backoff_multiplier": math.inf}),
    ("max_reset_timeout", {"reset_timeout": 10.0, "max_reset_timeout": 5.0}),
    ("jitter", {"jitter": 1.0}),
    ("jitter", {"jitter": -0.5}),
    ("jitter_seed", {"jitter_seed": -1}),
    ("half_open_max_calls", {"half_open_max_calls": 0}),
    ("success_threshold", {"success_threshold": 0}),
    ("success_threshold", {"half_open_max_calls": 2, "success_threshold": 3}),
    ("half_open_max_wait", {"half_open_max_wait": -2.0}),
    ("failure_threshold", {"failure_threshold": 0}),
    ("failure_threshold", {"failure_threshold": -1}),
    ("timeout", {"timeout": 0}),
    ("timeout", {"timeout": -1.0}),
    ("window_duration", {"failure_rate_threshold": 0.5, "window_size": 10, "window_duration": 1.0}),
]


@pytest.mark.parametrize("option,kwargs", BAD_VALUES, ids=[f"{o}-{i}" for i, (o, _) in enumerate(BAD_VALUES)])
def test_bad_value_names_the_option(option: str, kwargs: Dict[str, Any]) -> None:
    with pytest.raises(circuit.CircuitConfigError) as info:
        circuit.CircuitBreaker(**kwargs)
    assert info.value.option == option
    assert option in str(info.value)
    assert isinstance(info.value, ValueError)


WRONG_TYPES = [
    ("failure_threshold", "5"),
    ("failure_threshold", 5.0),
    ("failure_threshold", True),
    ("failure_rate_threshold", "0.5"),
    ("reset_timeout", "30s"),
    ("minimum_calls", 2.5),
    ("window_size", None.__class__),
    ("jitter_seed", 1.5),
    ("ignore", 42),
    ("ignore", (ValueError, 3)),
    ("fallback", "not callable"),
    ("clock", object()),
    ("timeout", "1"),
]


@pytest.mark.parametrize("option,value", WRONG_TYPES, ids=[f"{o}-{i}" for i, (o, _) in enumerate(WRONG_TYPES)])
def test_wrong_type_names_the_option(option: str, value: Any) -> None:
    with pytest.raises(TypeError) as info:
        circuit.CircuitBreaker(**{option: value})
    assert option in str(info.value)


def test_name_must_be_a_string() -> None:
    with pytest.raises(TypeError, match="name"):
        circuit.CircuitBreaker(42)  # type: ignore[arg-type]


def test_options_are_keyword_only() -> None:
    with pytest.raises(TypeError):
        circuit.CircuitBreaker("a", 5)  # type: ignore[call-arg]


def test_defaults() -> None:
    clock = circuit.ManualClock()
    breaker = circuit.CircuitBreaker(clock=clock)
    for _ in range(4):
        with pytest.raises(RuntimeError):
            breaker.call(lambda: (_ for _ in ()).throw(RuntimeError()))
    assert breaker.state == "closed"
    with pytest.raises(RuntimeError):
        breaker.call(lambda: (_ for _ in ()).throw(RuntimeError()))
    assert breaker.state == "open"
    assert breaker.metrics().retry_after == 30.0
    assert breaker.name is None and breaker.timeout is None and breaker.fallback is None and breaker.clock is clock


def test_all_options_accepted() -> None:
    breaker = circuit.CircuitBreaker(
        "full",
        failure_threshold=3,
        failure_rate_threshold=0.5,
        slow_call_duration=0.2,
        slow_call_rate_threshold=0.8,
        minimum_calls=5,
        window_duration=10,
        window_buckets=5,
        reset_timeout=1.5,
        backoff_multiplier=2,
        max_reset_timeout=60.0,
        jitter=0.1,
        jitter_seed=7,
        half_open_max_calls=2,
        success_threshold=1,
        half_open_max_wait=5.0,
        ignore=KeyError,
        fallback=lambda: None,
        timeout=2.0,
        clock=circuit.ManualClock(),
    )
    assert breaker.name == "full" and breaker.timeout == 2.0
