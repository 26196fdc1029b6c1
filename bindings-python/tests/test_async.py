"""asyncio: the async decorator, `async with`, timeouts, cancellation, 1,000 concurrent tasks."""

from __future__ import annotations

import asyncio
import functools
import inspect
import sys
from typing import Any, Awaitable, Callable, Dict, List

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


# -- the breaker's own deadline (`timeout=`) -------------------------------------------------------

needs_311 = pytest.mark.skipif(sys.version_info < (3, 11), reason="Task.cancelling()/asyncio.timeout are 3.11+")
needs_312 = pytest.mark.skipif(
    sys.version_info < (3, 12), reason="before 3.12 asyncio.wait_for runs the call in a separate task"
)


@pytest.mark.parametrize("ignored", [False, True])
def test_functions_own_timeout_error_is_not_the_breakers(ignored: bool) -> None:
    # A client/socket timeout raised by the function itself is the function's error: it is classified
    # like any other (so `ignore=` applies) and propagates unchanged, even with `timeout=` set.
    breaker = circuit.CircuitBreaker(
        failure_threshold=2, timeout=5.0, ignore=(asyncio.TimeoutError,) if ignored else None
    )
    own = asyncio.TimeoutError("read timed out")

    @breaker
    async def read() -> None:
        await asyncio.sleep(0)
        raise own

    async def main() -> None:
        with pytest.raises(asyncio.TimeoutError) as info:
            await read()
        assert info.value is own
        with pytest.raises(asyncio.TimeoutError) as info:
            await breaker.call_async(read.__wrapped__)  # type: ignore[attr-defined]
        assert info.value is own

    asyncio.run(main())
    m = breaker.metrics()
    if ignored:
        assert (m.failures, m.ignored, breaker.state) == (0, 2, "closed")
    else:
        assert (m.failures, m.ignored, breaker.state) == (2, 0, "open")


def test_breaker_timeout_raises_timeout_error_and_counts_once() -> None:
    breaker = circuit.CircuitBreaker(failure_threshold=2, timeout=0.01)

    async def hang() -> None:
        await asyncio.sleep(5)

    async def main() -> None:
        with pytest.raises(TimeoutError) as info:
            await breaker.call_async(hang)
        assert "within 0.01 s" in str(info.value)
        if sys.version_info >= (3, 11):
            task = asyncio.current_task()
            assert task is not None and task.cancelling() == 0  # the deadline's cancel was withdrawn
        await asyncio.sleep(0)  # the task is not left cancelled

    asyncio.run(main())
    m = breaker.metrics()
    assert (m.failures, m.ignored, breaker.state) == (1, 0, "closed")


def test_breaker_timeout_with_a_callers_cancel_stays_ignored() -> None:
    breaker = circuit.CircuitBreaker(failure_threshold=1, timeout=5.0)

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
    m = breaker.metrics()
    assert (m.failures, m.ignored, breaker.state) == (0, 1, "closed")


def test_swallowed_breaker_deadline_keeps_the_functions_result() -> None:
    breaker = circuit.CircuitBreaker(failure_threshold=1, timeout=0.01)

    async def stubborn() -> str:
        try:
            await asyncio.sleep(5)
        except asyncio.CancelledError:
            return "partial"
        return "full"

    async def main() -> None:
        assert await breaker.call_async(stubborn) == "partial"
        if sys.version_info >= (3, 11):
            task = asyncio.current_task()
            assert task is not None and task.cancelling() == 0

    asyncio.run(main())
    assert breaker.metrics().successes == 1


# -- a sync callable that returns an awaitable --------------------------------------------------------


class AsyncCallable:
    def __init__(self) -> None:
        self.calls = 0

    async def __call__(self, fail: bool) -> str:
        self.calls += 1
        await asyncio.sleep(0)
        if fail:
            raise ConnectionError("down")
        return "ok"


async def _coroutine_function(fail: bool) -> str:
    await asyncio.sleep(0)
    if fail:
        raise ConnectionError("down")
    return "ok"


def _plain_wrapper(fail: bool) -> Awaitable[str]:
    return _coroutine_function(fail)


@pytest.mark.parametrize("form", ["async __call__", "plain wrapper", "call()"])
def test_sync_callable_returning_an_awaitable_records_the_awaited_outcome(form: str) -> None:
    breaker = circuit.CircuitBreaker(failure_threshold=2)
    target: Callable[[bool], Any]
    if form == "async __call__":
        target = breaker(AsyncCallable())
    elif form == "plain wrapper":
        target = breaker(_plain_wrapper)
    else:
        target = functools.partial(breaker.call, _plain_wrapper)

    async def main() -> None:
        pending = target(False)
        assert inspect.isawaitable(pending)
        assert breaker.metrics().successes == 0  # not a success before it finished
        assert await pending == "ok"
        assert breaker.metrics().successes == 1
        for _ in range(2):
            with pytest.raises(ConnectionError):
                await target(True)
        with pytest.raises(circuit.CircuitOpenError):
            await target(False)

    asyncio.run(main())
    m = breaker.metrics()
    assert (m.successes, m.failures, m.rejected, breaker.state) == (1, 2, 1, "open")


def test_sync_callable_returning_a_future_gets_it_back_and_its_outcome_recorded() -> None:
    breaker = circuit.CircuitBreaker(failure_threshold=5)

    async def fail() -> None:
        raise ConnectionError("down")

    async def hang() -> None:
        await asyncio.sleep(10)

    @breaker
    def start(coro: Any) -> "asyncio.Task[None]":
        return asyncio.ensure_future(coro)

    async def main() -> None:
        task = start(fail())
        assert isinstance(task, asyncio.Task)  # the caller keeps its Task
        assert breaker.metrics().failures == 0
        with pytest.raises(ConnectionError):
            await task
        await asyncio.sleep(0)  # done callbacks run one step later
        assert breaker.metrics().failures == 1
        cancelled = start(hang())
        await asyncio.sleep(0)
        cancelled.cancel()
        with pytest.raises(asyncio.CancelledError):
            await cancelled
        await asyncio.sleep(0)

    asyncio.run(main())
    m = breaker.metrics()
    assert (m.successes, m.failures, m.ignored) == (0, 1, 1)


class _AwaitableContext:
    """An awaitable that is also an async context manager (like an HTTP client's request)."""

    def __await__(self) -> Any:
        return asyncio.sleep(0, "awaited").__await__()

    async def __aenter__(self) -> str:
        return "entered"

    async def __aexit__(self, *exc: object) -> None:
        return None


def test_sync_callable_returning_another_awaitable_gets_it_back_recorded_as_ignored() -> None:
    breaker = circuit.CircuitBreaker()
    request = breaker(_AwaitableContext)

    async def main() -> None:
        async with request() as value:
            assert value == "entered"
        assert await request() == "awaited"

    asyncio.run(main())
    m = breaker.metrics()
    assert (m.successes, m.failures, m.ignored) == (0, 0, 2)


def test_sync_callable_returning_an_awaitable_gets_the_breaker_timeout_and_ignores_cancel() -> None:
    breaker = circuit.CircuitBreaker(failure_threshold=1, timeout=0.01)

    def hang() -> Awaitable[None]:
        return asyncio.sleep(5)

    protected = breaker(hang)

    async def main() -> None:
        task = asyncio.ensure_future(breaker(lambda: asyncio.sleep(5))())
        await asyncio.sleep(0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert breaker.metrics().ignored == 1
        with pytest.raises(TimeoutError):
            await protected()

    asyncio.run(main())
    assert breaker.state == "open" and breaker.metrics().failures == 1


# -- a deadline of the caller around the protected call ----------------------------------------------


async def _hang() -> None:
    await asyncio.sleep(5)


def _forms(breaker: circuit.CircuitBreaker) -> Dict[str, Callable[[], Awaitable[None]]]:
    decorated = breaker(_hang)

    async def async_with() -> None:
        async with breaker:
            await _hang()

    async def sync_with() -> None:
        with breaker:
            await _hang()

    return {
        "decorator": decorated,
        "call_async": lambda: breaker.call_async(_hang),
        "async with": async_with,
        "with": sync_with,
    }


FORMS = ["decorator", "call_async", "async with", "with"]


@needs_311
@pytest.mark.parametrize("form", FORMS)
def test_callers_asyncio_timeout_counts_as_failure(form: str) -> None:
    breaker = circuit.CircuitBreaker(failure_threshold=1)
    call = _forms(breaker)[form]

    async def main() -> None:
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.01):  # type: ignore[attr-defined,unused-ignore]
                await call()

    asyncio.run(main())
    m = breaker.metrics()
    assert (m.failures, m.ignored, breaker.state) == (1, 0, "open")


@needs_312
@pytest.mark.parametrize("form", FORMS)
def test_callers_wait_for_counts_as_failure(form: str) -> None:
    breaker = circuit.CircuitBreaker(failure_threshold=1)
    call = _forms(breaker)[form]

    async def main() -> None:
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(call(), 0.01)

    asyncio.run(main())
    m = breaker.metrics()
    assert (m.failures, m.ignored, breaker.state) == (1, 0, "open")


@pytest.mark.parametrize("form", FORMS)
def test_explicit_cancel_stays_ignored(form: str) -> None:
    breaker = circuit.CircuitBreaker(failure_threshold=1)
    call = _forms(breaker)[form]

    async def cancel_it() -> None:
        task = asyncio.ensure_future(call())
        await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    async def main() -> None:
        await cancel_it()
        if sys.version_info >= (3, 11):
            # Also inside a caller's deadline that has not expired.
            async with asyncio.timeout(5):  # type: ignore[attr-defined,unused-ignore]
                await cancel_it()

    asyncio.run(main())
    m = breaker.metrics()
    assert (m.failures, m.ignored, breaker.state) == (0, 2 if sys.version_info >= (3, 11) else 1, "closed")


@needs_311
def test_cancel_by_a_task_group_after_a_sibling_failed_stays_ignored() -> None:
    breaker = circuit.CircuitBreaker(failure_threshold=1)

    async def sibling_fails() -> None:
        await asyncio.sleep(0.01)
        raise KeyError("sibling")

    async def slow_sibling() -> None:
        await asyncio.sleep(5)

    async def main() -> None:
        with pytest.raises(BaseException) as info:
            async with asyncio.TaskGroup() as group:  # type: ignore[attr-defined,unused-ignore]
                group.create_task(sibling_fails())
                group.create_task(slow_sibling())
                await breaker.call_async(_hang)
        assert "ExceptionGroup" in type(info.value).__name__

    asyncio.run(main())
    m = breaker.metrics()
    assert (m.failures, m.ignored, breaker.state) == (0, 1, "closed")


@pytest.mark.skipif(sys.version_info < (3, 11), reason="asyncio.TaskGroup is 3.11+")
@pytest.mark.parametrize("form", ["call_async", "decorator", "async with"])
def test_cancel_by_a_task_group_whose_only_other_child_failed_stays_ignored(form: str) -> None:
    breaker = circuit.CircuitBreaker(failure_threshold=1)
    decorated = breaker(_hang)

    async def sibling_fails() -> None:
        await asyncio.sleep(0.01)
        raise KeyError("sibling")

    async def protected() -> None:
        if form == "call_async":
            await breaker.call_async(_hang)
        elif form == "decorator":
            await decorated()
        else:
            async with breaker:
                await _hang()

    async def main() -> None:
        with pytest.raises(BaseException) as info:
            async with asyncio.TaskGroup() as group:  # type: ignore[attr-defined,unused-ignore]
                group.create_task(sibling_fails())
                await protected()
        assert "ExceptionGroup" in type(info.value).__name__
        await asyncio.sleep(0)

    asyncio.run(main())
    m = breaker.metrics()
    assert (m.failures, m.ignored, breaker.state) == (0, 1, "closed")


def test_object_with_async_call_is_wrapped_as_a_coroutine_function() -> None:
    breaker = circuit.CircuitBreaker(failure_threshold=1, fallback=lambda fail: "cached")
    target = breaker(AsyncCallable())
    assert inspect.iscoroutinefunction(target)

    async def main() -> None:
        with pytest.raises(ConnectionError):
            await target(True)
        assert await target(False) == "cached"  # rejected: the sync fallback's value, as for async def

    asyncio.run(main())
    assert breaker.metrics().rejected == 1
