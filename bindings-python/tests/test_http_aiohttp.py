"""circuit.aiohttp specifics: the body is streamed (the outcome recorded when the headers arrive),
the caller's cancellation is ignored, the session's own read timeout is a failure, errors map to
the core's kinds."""

from __future__ import annotations

import asyncio
from typing import Iterator

import aiohttp
import pytest

import circuit
import circuit.aiohttp
from loopback import HANG_GUARD, Loopback


@pytest.fixture
def server() -> Iterator[Loopback]:
    with Loopback() as s:
        yield s


async def requested(server: Loopback, path: str) -> None:
    """Returns once `server` has received a request for `path` (bounded by HANG_GUARD)."""
    for _ in range(int(HANG_GUARD / 0.01)):
        if path in server.paths:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"{path} was never requested")


def test_the_body_is_streamed_not_buffered(server: Loopback) -> None:
    async def main() -> None:
        middleware = circuit.aiohttp.middleware()
        async with aiohttp.ClientSession(middlewares=(middleware,)) as session:
            async with session.get(server.url("/stream")) as response:
                assert await response.content.readany() == b"first" and not server.release.is_set()
                assert middleware.family[server.origin].metrics().successes == 1, "recorded at the headers"
                server.release.set()
                assert await response.read() == b"second"

    asyncio.run(main())


def test_a_cancelled_task_is_ignored(server: Loopback) -> None:
    async def main() -> None:
        middleware = circuit.aiohttp.middleware(failure_threshold=1, timeout=HANG_GUARD * 2)
        async with aiohttp.ClientSession(middlewares=(middleware,)) as session:
            task = asyncio.ensure_future(session.get(server.url("/hang")))
            await requested(server, "/hang")
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            m = middleware.family[server.origin].metrics()
            assert (m.ignored, m.failures, m.state) == (1, 0, "closed")

    asyncio.run(main())


def test_the_sessions_read_timeout_is_a_failure(server: Loopback) -> None:
    async def main() -> None:
        middleware = circuit.aiohttp.middleware(failure_threshold=1)
        timeout = aiohttp.ClientTimeout(sock_read=0.3)
        async with aiohttp.ClientSession(middlewares=(middleware,), timeout=timeout) as session:
            with pytest.raises(aiohttp.ServerTimeoutError):
                await session.get(server.url("/hang"))
            assert middleware.family[server.origin].state == circuit.State.OPEN

    asyncio.run(main())


@pytest.mark.parametrize(
    "error, kind",
    [
        (aiohttp.ServerTimeoutError(), "timeout"),  # both a connection error and a TimeoutError
        (asyncio.TimeoutError(), "timeout"),
        (aiohttp.ServerDisconnectedError(), "connect"),
        (aiohttp.ClientConnectionError(), "connect"),
        (aiohttp.ClientPayloadError(), None),
    ],
)
def test_errors_map_to_the_cores_kinds(error: BaseException, kind: object) -> None:
    assert circuit.aiohttp._error_kind(error) == kind


def test_the_rejection_is_both_error_classes() -> None:
    assert issubclass(circuit.aiohttp.CircuitOpenError, circuit.CircuitOpenError)
    assert issubclass(circuit.aiohttp.CircuitOpenError, aiohttp.ClientError)
