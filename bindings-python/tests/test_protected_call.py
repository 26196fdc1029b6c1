"""The native protected await (`ProtectedCall`, what `@breaker` on an `async def`, `call_async` and
a sync callable returning a coroutine give on a breaker without `timeout`): the coroutine protocol,
admission when awaited, recording on every way out, and its introspection."""

from __future__ import annotations

import asyncio
import collections.abc
import gc
import inspect
import sys
import warnings
from typing import Any, Awaitable, Callable, Dict, List

import pytest

import circuit


async def echo(*args: Any, **kwargs: Any) -> Any:
    await asyncio.sleep(0)
    return (args, kwargs)


def _forms(breaker: circuit.CircuitBreaker) -> Dict[str, Callable[..., Any]]:
    decorated = breaker(echo)

    def plain(*args: Any, **kwargs: Any) -> Awaitable[Any]:
        return echo(*args, **kwargs)

    return {
        "decorator": decorated,
        "call_async": lambda *a, **k: breaker.call_async(echo, *a, **k),
        "sync returning a coroutine": breaker(plain),
    }


FORMS = ["decorator", "call_async", "sync returning a coroutine"]


@pytest.mark.parametrize("form", FORMS)
def test_is_a_coroutine_for_asyncio(form: str) -> None:
    breaker = circuit.CircuitBreaker()
    call = _forms(breaker)[form]

    async def main() -> None:
        pending = call(1)
        assert isinstance(pending, collections.abc.Coroutine) and asyncio.iscoroutine(pending)
        assert inspect.isawaitable(pending)
        assert await asyncio.create_task(pending) == ((1,), {})
        assert list(await asyncio.gather(call(2), call(3))) == [((2,), {}), ((3,), {})]

    asyncio.run(main())
    assert breaker.metrics().successes == 3


@pytest.mark.parametrize("args", [(), (1,), (1, 2), (1, 2, 3), (1, 2, 3, 4, 5)])
@pytest.mark.parametrize("form", FORMS)
def test_passes_arguments_and_keywords(form: str, args: tuple[int, ...]) -> None:
    call = _forms(circuit.CircuitBreaker())[form]

    async def main() -> None:
        assert await call(*args) == (args, {})
        assert await call(*args, key="value") == (args, {"key": "value"})

    asyncio.run(main())


def test_decorated_coroutine_function_introspects_like_one() -> None:
    breaker = circuit.CircuitBreaker()

    async def fetch(item: int, *, retries: int = 2) -> int:
        """Fetches."""
        return item

    decorated = breaker(fetch)
    assert inspect.iscoroutinefunction(decorated) and asyncio.iscoroutinefunction(decorated)
    assert decorated.__name__ == "fetch" and decorated.__doc__ == "Fetches."
    assert decorated.__wrapped__ is fetch  # type: ignore[attr-defined]
    assert inspect.signature(decorated) == inspect.signature(fetch)
    assert decorated.breaker is breaker  # type: ignore[attr-defined]

    class Client:
        @breaker
        async def get(self, item: int) -> int:
            return item * 10

    assert inspect.iscoroutinefunction(Client().get)
    assert asyncio.run(Client().get(4)) == 40


def test_admits_when_awaited_and_calls_nothing_when_rejected() -> None:
    breaker = circuit.CircuitBreaker()
    calls: List[int] = []

    @breaker
    async def work(x: int) -> int:
        calls.append(x)
        return x

    async def main() -> None:
        early = work(1)
        assert calls == [] and breaker.metrics().admitted == 0  # nothing happens before the await
        breaker.force_open()
        with pytest.raises(circuit.CircuitOpenError):
            await early
        breaker.reset()
        assert await work(2) == 2

    asyncio.run(main())
    assert calls == [2]
    m = breaker.metrics()
    assert (m.admitted, m.rejected, m.successes) == (1, 1, 1)


def test_fallback_with_inline_and_packed_arguments() -> None:
    async def fallback(*args: Any, **kwargs: Any) -> str:
        return f"cached {args} {kwargs}"

    breaker = circuit.CircuitBreaker(fallback=fallback)
    breaker.force_open()
    decorated = breaker(echo)

    async def main() -> None:
        assert await decorated(1) == "cached (1,) {}"
        assert await decorated(1, 2, 3, 4, k=5) == "cached (1, 2, 3, 4) {'k': 5}"

    asyncio.run(main())


def test_suspended_call_records_when_it_finishes_and_failures_are_classified() -> None:
    breaker = circuit.CircuitBreaker(failure_threshold=2, ignore=KeyError)

    @breaker
    async def work(error: BaseException | None) -> str:
        await asyncio.sleep(0.001)
        if error is not None:
            raise error
        return "done"

    async def main() -> None:
        pending = asyncio.ensure_future(work(None))
        await asyncio.sleep(0)
        assert breaker.metrics().successes == 0
        assert await pending == "done"
        with pytest.raises(KeyError):
            await work(KeyError("ignored"))
        with pytest.raises(ValueError):
            await work(ValueError("counted"))

    asyncio.run(main())
    m = breaker.metrics()
    assert (m.successes, m.ignored, m.failures) == (1, 1, 1)


def test_send_throw_close_follow_the_coroutine_protocol() -> None:
    breaker = circuit.CircuitBreaker()
    decorated = breaker(echo)

    unstarted = decorated(1)
    with pytest.raises(TypeError):
        unstarted.send("not None")  # like a just-started coroutine; still usable afterwards
    unstarted.close()  # closed before it started: nothing admitted
    with pytest.raises(RuntimeError):
        unstarted.send(None)
    assert breaker.metrics().admitted == 0

    thrown = decorated(2)
    with pytest.raises(ValueError):
        thrown.throw(ValueError("before start"))  # raised at once, nothing admitted
    assert breaker.metrics().admitted == 0

    running: Any = decorated(3)
    yielded = running.send(None)  # suspended in asyncio.sleep(0)
    assert yielded is None and running.cr_await is not None
    with pytest.raises(StopIteration) as stop:
        running.send(None)
    assert stop.value.value == ((3,), {})
    assert running.cr_await is None

    closed = decorated(4)
    closed.send(None)
    closed.close()  # a running call that is closed counts as ignored
    thrown_in = decorated(5)
    thrown_in.send(None)
    with pytest.raises(OSError):
        thrown_in.throw(OSError, "thrown in")  # the older (type, value) form
    m = breaker.metrics()
    assert (m.admitted, m.successes, m.ignored, m.failures) == (3, 1, 1, 1)


def test_a_call_is_awaited_once_and_never_reentered() -> None:
    breaker = circuit.CircuitBreaker()
    holder: List[Any] = []

    @breaker
    async def reenter() -> None:
        holder[0].send(None)

    call = reenter()
    holder.append(call)

    async def main() -> None:
        with pytest.raises(RuntimeError, match="already executing"):
            await call
        with pytest.raises(RuntimeError, match="cannot reuse"):
            await call

    asyncio.run(main())
    holder.clear()


def test_never_awaited_warns_like_a_coroutine() -> None:
    decorated = circuit.CircuitBreaker()(echo)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        pending = decorated(1)
        del pending
        gc.collect()
    assert any("coroutine 'echo' was never awaited" in str(w.message) for w in caught)


def test_abandoned_running_call_is_ignored_and_cycles_are_collected() -> None:
    breaker = circuit.CircuitBreaker()
    decorated = breaker(echo)
    for _ in range(200):  # more than the free list keeps
        call: Any = decorated([])
        call.send(None)
        call.cr_await.cr_frame.f_locals["args"][0].append(call)  # a cycle through the argument
        del call
    gc.collect()
    m = breaker.metrics()
    assert (m.admitted, m.ignored) == (200, 200)


@pytest.mark.skipif(sys.version_info < (3, 11), reason="asyncio.TaskGroup is 3.11+")
@pytest.mark.parametrize("form", FORMS)
def test_task_group_cancel_awaiting_the_call_directly_is_ignored(form: str) -> None:
    # The group's body awaits the native call itself: the body's frame is not on the stack while
    # the cancellation passes through, so the group is found along the task's awaited chain.
    breaker = circuit.CircuitBreaker(failure_threshold=1)

    async def hang() -> None:
        await asyncio.sleep(5)

    call: Callable[[], Awaitable[None]] = {
        "decorator": breaker(hang),
        "call_async": lambda: breaker.call_async(hang),
        "sync returning a coroutine": breaker(lambda: hang()),
    }[form]

    async def sibling_fails() -> None:
        await asyncio.sleep(0.01)
        raise KeyError("sibling")

    async def main() -> None:
        with pytest.raises(BaseException) as info:
            async with asyncio.TaskGroup() as group:  # type: ignore[attr-defined,unused-ignore]
                group.create_task(sibling_fails())
                await call()
        assert "ExceptionGroup" in type(info.value).__name__
        await asyncio.sleep(0)

    asyncio.run(main())
    m = breaker.metrics()
    assert (m.failures, m.ignored, breaker.state) == (0, 1, "closed")


def test_nested_breakers_each_record() -> None:
    outer, inner = circuit.CircuitBreaker("outer"), circuit.CircuitBreaker("inner")
    decorated = outer(inner(echo))
    assert asyncio.run(decorated(7)) == ((7,), {})
    assert outer.metrics().successes == inner.metrics().successes == 1


def test_collector_running_inside_a_step_is_safe() -> None:
    # The collector may visit or clear a call while one of its steps runs (the step owns the stage).
    breaker = circuit.CircuitBreaker()

    @breaker
    async def collect() -> str:
        gc.collect()
        await asyncio.sleep(0)
        gc.collect()
        return "ok"

    assert asyncio.run(collect()) == "ok"
    assert breaker.metrics().successes == 1
