"""asyncio: the async decorator, `async with`, timeouts, cancellation, 1,000 concurrent tasks."""

from __future__ import annotations

import asyncio
from typing import List

import pytest

import circuit


def test_async_decorator_keeps_metadata_and_counts() -> None:
    breaker = circuit.CircuitBreaker(failure_threshold=2)

    @breaker
    async def fetch(x: int) -> int:
        """Fetches."""
        await asyncio.sleep(0)
        if x < 0:
            raise ValueError("negative")
        return x * 2

    async def main() -> None:
        assert await fetch(2) == 4
        for _ in range(2):
            with pytest.raises(ValueError):
                await fetch(-1)
        with pytest.raises(circuit.CircuitOpenError):
            await fetch(1)

    asyncio.run(main())
    assert fetch.__name__ == "fetch" and fetch.__doc__ == "Fetches."
    assert asyncio.iscoroutinefunction(fetch)
    m = breaker.metrics()
    assert (m.successes, m.failures, m.rejected) == (1, 2, 1)


def test_async_timeout_cancels_and_counts_as_failure() -> None:
    breaker = circuit.CircuitBreaker(failure_threshold=1, timeout=0.01)
    cancelled: List[bool] = []

    @breaker
    async def slow() -> None:
        try:
            await asyncio.sleep(5)
        except asyncio.CancelledError:
            cancelled.append(True)
            raise

    async def main() -> None:
        with pytest.raises(TimeoutError):
            await slow()

    asyncio.run(main())
    assert cancelled == [True]
    assert breaker.state == "open" and breaker.metrics().failures == 1


def test_cancellation_is_ignored_and_reraised() -> None:
    breaker = circuit.CircuitBreaker(failure_threshold=1)

    @breaker
    async def hang() -> None:
        await asyncio.sleep(5)

    async def main() -> None:
        task = asyncio.ensure_future(hang())
        await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    assert breaker.state == "closed" and breaker.metrics().ignored == 1


def test_async_fallback_and_async_with() -> None:
    async def fallback(key: str) -> str:
        return f"cached:{key}"

    breaker = circuit.CircuitBreaker(failure_threshold=1, fallback=fallback)

    @breaker
    async def get(key: str) -> str:
        raise ConnectionError(key)

    async def main() -> None:
        with pytest.raises(ConnectionError):
            await get("a")
        assert await get("b") == "cached:b"
        with pytest.raises(circuit.CircuitOpenError):
            async with breaker:
                pass
        breaker.reset()
        async with breaker as permit:
            assert not permit.recorded
        assert permit.recorded

    asyncio.run(main())


def test_one_thousand_concurrent_tasks() -> None:
    breaker = circuit.CircuitBreaker(failure_rate_threshold=0.9, minimum_calls=100, window_size=1000)

    @breaker
    async def work(i: int) -> int:
        await asyncio.sleep(0.001)
        if i % 10 == 0:
            raise RuntimeError(i)
        return i

    async def main() -> List[object]:
        results: List[object] = await asyncio.gather(*(work(i) for i in range(1000)), return_exceptions=True)
        return results

    results = asyncio.run(main())
    failures = [r for r in results if isinstance(r, RuntimeError)]
    assert len(results) == 1000 and len(failures) == 100
    m = breaker.metrics()
    assert (m.admitted, m.successes, m.failures, m.rejected) == (1000, 900, 100, 0)
    assert breaker.state == "closed"


def test_async_context_managers_are_per_task() -> None:
    breaker = circuit.CircuitBreaker(failure_threshold=100)

    async def one(fail: bool) -> None:
        async with breaker:
            await asyncio.sleep(0.001)
            if fail:
                raise ValueError

    async def main() -> None:
        await asyncio.gather(*(one(i % 2 == 0) for i in range(50)), return_exceptions=True)

    asyncio.run(main())
    m = breaker.metrics()
    assert (m.successes, m.failures) == (25, 25)
