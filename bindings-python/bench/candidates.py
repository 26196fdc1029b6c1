"""The candidates every Python benchmark times: for sync calls a bare call, the smallest
hand-written try/except decorator that records outcomes (the floor of any pure-Python wrapper),
circuit's `@breaker` and two-step API, pybreaker and circuitbreaker; for async calls a bare
`await`, a forwarding `async def` wrapper (the floor of any wrapper written in Python), circuit's
async decorator and `call_async`, aiobreaker and purgatory. Each peer is configured like circuit's
default rule (5 consecutive failures, 60 s open)."""

from __future__ import annotations

import datetime
import functools
from typing import Any, Callable, Dict, Iterable, Optional, Tuple

import circuit

# name -> (kind, callable): kind "sync" (called) or "async" (called and awaited).
Candidates = Dict[str, Tuple[str, Callable[[int], Any]]]


def work(x: int) -> int:
    return x


async def awork(x: int) -> int:
    return x


def try_except_decorator(func: Callable[..., Any]) -> Callable[..., Any]:
    """The floor: the least a pure-Python wrapper that records outcomes can do."""
    state = {"failures": 0}

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            result = func(*args, **kwargs)
        except Exception:
            state["failures"] += 1
            raise
        state["failures"] = 0
        return result

    return wrapper


def forwarding(func: Callable[..., Any]) -> Callable[..., Any]:
    """The async floor of a wrapper written in Python: one more coroutine that awaits the call."""

    @functools.wraps(func)
    async def wrapper(*args: Any, **kwargs: Any) -> Any:
        return await func(*args, **kwargs)

    return wrapper


def _sync() -> Dict[str, Callable[[], Callable[[int], Any]]]:
    def two_step() -> Callable[[int], Any]:
        breaker = circuit.CircuitBreaker("bench2", failure_threshold=5, reset_timeout=60.0)

        def call(x: int) -> int:
            permit = breaker.allow()
            try:
                result = work(x)
            except Exception:
                breaker.record_failure(permit)
                raise
            breaker.record_success(permit)
            return result

        return call

    def pybreaker_() -> Callable[[int], Any]:
        import pybreaker

        return pybreaker.CircuitBreaker(fail_max=5, reset_timeout=60)(work)  # type: ignore[no-any-return]

    def circuitbreaker_() -> Callable[[int], Any]:
        import circuitbreaker

        return circuitbreaker.circuit(failure_threshold=5, recovery_timeout=60)(work)  # type: ignore[no-any-return]

    return {
        "bare call": lambda: work,
        "hand-written try/except decorator": lambda: try_except_decorator(work),
        "circuit @breaker": lambda: circuit.CircuitBreaker("bench", failure_threshold=5, reset_timeout=60.0)(work),
        "circuit two-step (allow/record)": two_step,
        "pybreaker": pybreaker_,
        "circuitbreaker": circuitbreaker_,
    }


def _async() -> Dict[str, Callable[[], Callable[[int], Any]]]:
    def call_async() -> Callable[[int], Any]:
        breaker = circuit.CircuitBreaker("abench2", failure_threshold=5, reset_timeout=60.0)
        return functools.partial(breaker.call_async, awork)

    def aiobreaker_() -> Callable[[int], Any]:
        import aiobreaker

        breaker = aiobreaker.CircuitBreaker(fail_max=5, timeout_duration=datetime.timedelta(seconds=60))
        return breaker(awork)  # type: ignore[no-any-return]

    def purgatory_() -> Callable[[int], Any]:
        import purgatory

        factory = purgatory.AsyncCircuitBreakerFactory(default_threshold=5, default_ttl=60)
        return factory("bench")(awork)  # type: ignore[no-any-return]

    return {
        "bare await": lambda: awork,
        "forwarding async def (floor of a Python wrapper)": lambda: forwarding(awork),
        "circuit @breaker (async)": lambda: circuit.CircuitBreaker("abench", failure_threshold=5, reset_timeout=60.0)(
            awork
        ),
        "circuit call_async": call_async,
        "aiobreaker": aiobreaker_,
        "purgatory": purgatory_,
    }


def candidates(only: Optional[Iterable[str]] = None) -> Candidates:
    """Every candidate (or the ones named in `only`), in table order, each on its own breaker."""
    made: Candidates = {}
    wanted = None if only is None else set(only)
    for kind, table in (("sync", _sync()), ("async", _async())):
        for name, make in table.items():
            if wanted is None or name in wanted:
                made[name] = (kind, make())
    return made
