"""Decorator, context managers, call(), fallback, ignore, BaseException handling, repr."""

from __future__ import annotations

import contextvars
import gc
import inspect
import threading
import weakref
from typing import Any, AsyncIterator, Dict, Iterator, List

import pytest

import circuit


def tripped(clock: circuit.ManualClock, **options: Any) -> circuit.CircuitBreaker:
    breaker = circuit.CircuitBreaker("svc", failure_threshold=1, reset_timeout=10.0, clock=clock, **options)
    with pytest.raises(RuntimeError):
        with breaker:
            raise RuntimeError("down")
    assert breaker.state == circuit.State.OPEN
    return breaker


def test_decorator_keeps_signature_and_metadata() -> None:
    breaker = circuit.CircuitBreaker()

    @breaker
    def add(a: int, b: int = 2) -> int:
        """Adds."""
        return a + b

    assert add(1) == 3 and add(1, b=5) == 6
    assert add.__name__ == "add" and add.__doc__ == "Adds."
    assert inspect.signature(add) == inspect.signature(add.__wrapped__)  # type: ignore[attr-defined]
    assert list(inspect.signature(add).parameters) == ["a", "b"]
    assert breaker.metrics().successes == 2


def test_decorator_on_methods_and_static_use() -> None:
    breaker = circuit.CircuitBreaker()

    class Service:
        def __init__(self) -> None:
            self.calls = 0

        @breaker
        def fetch(self, key: str) -> str:
            self.calls += 1
            return key.upper()

    service = Service()
    assert service.fetch("a") == "A" and service.calls == 1
    assert Service.fetch(service, "b") == "B"


def test_exceptions_propagate_and_count(clock: circuit.ManualClock) -> None:
    breaker = circuit.CircuitBreaker(failure_threshold=2, clock=clock)

    @breaker
    def boom() -> None:
        raise KeyError("k")

    for _ in range(2):
        with pytest.raises(KeyError):
            boom()
    assert breaker.state == "open"
    with pytest.raises(circuit.CircuitOpenError) as info:
        boom()
    assert info.value.reason == "open" and info.value.state == "open" and info.value.retry_after == 30.0
    assert isinstance(info.value, circuit.CircuitError)


def test_base_exceptions_are_ignored_and_reraised() -> None:
    breaker = circuit.CircuitBreaker(failure_threshold=1)

    @breaker
    def interrupted() -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        interrupted()
    m = breaker.metrics()
    assert breaker.state == "closed" and m.ignored == 1 and m.failures == 0


def test_ignore_types_and_predicate() -> None:
    by_type = circuit.CircuitBreaker(failure_threshold=1, ignore=(LookupError,))
    by_predicate = circuit.CircuitBreaker(failure_threshold=1, ignore=lambda e: "404" in str(e))
    empty: Dict[str, int] = {}
    with pytest.raises(KeyError):
        by_type.call(lambda: empty["missing"])
    with pytest.raises(ValueError):
        by_predicate.call(lambda: (_ for _ in ()).throw(ValueError("404 not found")))
    assert by_type.state == "closed" and by_type.metrics().ignored == 1
    assert by_predicate.state == "closed" and by_predicate.metrics().ignored == 1
    with pytest.raises(ValueError):
        by_predicate.call(lambda: (_ for _ in ()).throw(ValueError("500")))
    assert by_predicate.state == "open"


def test_fallback_gets_the_same_arguments(clock: circuit.ManualClock) -> None:
    seen: List[Any] = []

    def fallback(*args: Any, **kwargs: Any) -> str:
        seen.append((args, kwargs))
        return "cached"

    breaker = tripped(clock, fallback=fallback)

    @breaker
    def fetch(key: str, *, fresh: bool = False) -> str:
        raise AssertionError("not called while open")

    assert fetch("a", fresh=True) == "cached"
    assert seen == [(("a",), {"fresh": True})]
    assert breaker.call(fetch.__wrapped__, "b") == "cached"  # type: ignore[attr-defined]


def test_context_managers_nest_and_record(clock: circuit.ManualClock) -> None:
    breaker = circuit.CircuitBreaker(failure_threshold=3, clock=clock)
    with breaker as outer:
        with breaker as inner:
            assert outer is not inner
        assert inner.recorded and not outer.recorded
    assert outer.recorded
    with pytest.raises(ValueError):
        with breaker:
            raise ValueError
    m = breaker.metrics()
    assert (m.successes, m.failures, m.consecutive_failures) == (2, 1, 1)


def test_permit_context_manager_and_two_step(clock: circuit.ManualClock) -> None:
    breaker = tripped(clock)
    clock.advance(10)
    permit = breaker.allow()
    assert permit.is_probe
    with pytest.raises(circuit.CircuitOpenError) as info:
        breaker.allow()
    assert info.value.reason == "half_open_full" and info.value.retry_after is None
    with permit:
        pass
    assert breaker.state == "closed"
    with pytest.raises(circuit.PermitAlreadyRecordedError):
        breaker.record_failure(permit)
    other = circuit.CircuitBreaker()
    with pytest.raises(ValueError):
        other.record_success(breaker.allow())


def test_dropped_probe_permit_returns_its_slot(clock: circuit.ManualClock) -> None:
    breaker = tripped(clock)
    clock.advance(10)
    breaker.allow()  # dropped at once, unrecorded
    second = breaker.allow()
    assert second.is_probe
    assert breaker.metrics().ignored == 1
    assert breaker.record_success(second)


def test_forced_open_and_disabled() -> None:
    breaker = circuit.CircuitBreaker(failure_threshold=1)
    breaker.force_open()
    with pytest.raises(circuit.CircuitOpenError) as info:
        breaker.call(lambda: None)
    assert info.value.reason == "forced_open" and info.value.retry_after is None
    breaker.disable()
    for _ in range(5):
        with pytest.raises(ZeroDivisionError):
            breaker.call(lambda: 1 / 0)
    assert breaker.state == circuit.State.DISABLED
    breaker.reset()
    assert breaker.metrics().state == circuit.State.CLOSED


def test_repr_shows_name_state_and_counts() -> None:
    breaker = circuit.CircuitBreaker("db")
    breaker.call(lambda: None)
    text = repr(breaker)
    assert "name='db'" in text and "state=closed" in text and "admitted=1" in text


def test_manual_clock_rounds_to_nanoseconds() -> None:
    a, b = circuit.ManualClock(), circuit.ManualClock()
    a.advance(0.999)
    a.advance(0.001)
    b.advance(1.0)
    assert a.now_ns() == b.now_ns() == 1_000_000_000
    with pytest.raises(ValueError):
        a.advance(-1.0)


def test_with_block_that_recorded_its_permit_keeps_the_real_exception() -> None:
    breaker = circuit.CircuitBreaker(failure_threshold=5)
    with pytest.raises(ConnectionError):
        with breaker as permit:
            breaker.record_failure(permit)
            raise ConnectionError("the application's error")
    with breaker as permit:
        breaker.record_ignored(permit)  # recorded by hand, then the block ends normally
    m = breaker.metrics()
    assert (m.failures, m.ignored, m.successes) == (1, 1, 0)
    with breaker:  # the per-context permit stack was unwound both times
        pass
    assert breaker.metrics().successes == 1


def test_context_does_not_grow_per_breaker() -> None:
    before = len(contextvars.copy_context())
    for _ in range(10_000):
        with circuit.CircuitBreaker():
            pass
    assert len(contextvars.copy_context()) <= before + 1


def test_with_block_keeps_no_reference_to_the_breaker() -> None:
    breaker = circuit.CircuitBreaker()
    with breaker:
        pass
    ref = weakref.ref(breaker)
    del breaker
    gc.collect()
    assert ref() is None


def test_with_blocks_of_two_breakers_interleave_by_hand() -> None:
    a, b = circuit.CircuitBreaker(), circuit.CircuitBreaker()
    pa = a.__enter__()
    pb = b.__enter__()
    a.__exit__(ValueError, ValueError(), None)  # not nested: a's block ends first
    b.__exit__(None, None, None)
    assert pa.recorded and pb.recorded
    assert (a.metrics().failures, b.metrics().successes) == (1, 1)


def test_with_blocks_are_per_thread() -> None:
    breaker = circuit.CircuitBreaker(failure_threshold=10**6)
    barrier = threading.Barrier(8)

    def worker(i: int) -> None:
        for n in range(200):
            try:
                with breaker:
                    if n == 0:
                        barrier.wait()  # all eight threads inside a block of the same breaker
                    if i % 2:
                        raise ValueError
            except ValueError:
                pass

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    m = breaker.metrics()
    assert (m.successes, m.failures) == (800, 800)


def test_generator_functions_are_refused_by_the_decorator() -> None:
    # Calling a generator function only creates the generator: counting that as the call's success
    # would hide every failure that happens while it runs.
    breaker = circuit.CircuitBreaker(failure_threshold=1)

    def lines() -> Iterator[str]:
        yield "a"

    async def events() -> AsyncIterator[str]:
        yield "a"

    with pytest.raises(TypeError, match="generator function"):
        breaker(lines)
    with pytest.raises(TypeError, match="generator function"):
        breaker(events)
