"""circuit.httpx specifics: the body is streamed (the outcome recorded when the headers arrive), the
caller's cancellation is ignored, the integration's timeout replaces the client's, errors map to
the core's kinds."""

from __future__ import annotations

import asyncio
from typing import Iterator

import httpx
import pytest

import circuit
import circuit.httpx
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
    transport = circuit.httpx.CircuitTransport()
    with httpx.Client(transport=transport) as client:
        with client.stream("GET", server.url("/stream")) as response:
            chunks = response.iter_raw()
            assert next(chunks) == b"first" and not server.release.is_set()
            assert transport.family[server.origin].metrics().successes == 1, "recorded at the headers"
            server.release.set()
            assert b"".join(chunks) == b"second"


def test_the_async_body_is_streamed_not_buffered(server: Loopback) -> None:
    async def main() -> None:
        transport = circuit.httpx.AsyncCircuitTransport()
        async with httpx.AsyncClient(transport=transport) as client:
            async with client.stream("GET", server.url("/stream")) as response:
                chunks = response.aiter_raw()
                assert await chunks.__anext__() == b"first" and not server.release.is_set()
                assert transport.family[server.origin].metrics().successes == 1
                server.release.set()
                assert b"".join([chunk async for chunk in chunks]) == b"second"

    asyncio.run(main())


def test_a_cancelled_task_is_ignored(server: Loopback) -> None:
    async def main() -> None:
        transport = circuit.httpx.AsyncCircuitTransport(failure_threshold=1)
        async with httpx.AsyncClient(transport=transport) as client:
            task = asyncio.ensure_future(client.get(server.url("/hang")))
            await requested(server, "/hang")
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            m = transport.family[server.origin].metrics()
            assert (m.ignored, m.failures, m.state) == (1, 0, "closed")

    asyncio.run(main())


def test_a_deadline_of_the_caller_is_its_cancellation(server: Loopback) -> None:
    async def main() -> None:
        transport = circuit.httpx.AsyncCircuitTransport(failure_threshold=1)
        async with httpx.AsyncClient(transport=transport) as client:
            with pytest.raises(asyncio.TimeoutError):
                await asyncio.wait_for(client.get(server.url("/hang")), 0.3)
            m = transport.family[server.origin].metrics()
            assert (m.ignored, m.failures) == (1, 0)

    asyncio.run(main())


def test_the_integration_timeout_replaces_the_clients(server: Loopback) -> None:
    transport = circuit.httpx.CircuitTransport(timeout=0.3, failure_threshold=1)
    with httpx.Client(transport=transport, timeout=HANG_GUARD * 2) as client:
        with pytest.raises(httpx.ReadTimeout):
            client.get(server.url("/hang"))
    assert transport.family[server.origin].state == circuit.State.OPEN


def test_the_clients_own_timeout_is_a_failure(server: Loopback) -> None:
    transport = circuit.httpx.CircuitTransport(failure_threshold=1)
    with httpx.Client(transport=transport, timeout=0.3) as client:
        with pytest.raises(httpx.ReadTimeout):
            client.get(server.url("/hang"))
    assert transport.family[server.origin].metrics().failures == 1


def test_an_error_of_the_inner_transport_is_a_failure_and_propagates(server: Loopback) -> None:
    class Broken(httpx.BaseTransport):
        def handle_request(self, request: httpx.Request) -> httpx.Response:
            raise httpx.RemoteProtocolError("server hung up", request=request)

    transport = circuit.httpx.CircuitTransport(Broken(), failure_threshold=1)
    with httpx.Client(transport=transport) as client:
        with pytest.raises(httpx.RemoteProtocolError):
            client.get("http://example.invalid/")
        with pytest.raises(circuit.httpx.CircuitOpenError) as rejected:
            client.get("http://EXAMPLE.invalid:80/other")
    assert rejected.value.key == "http://example.invalid:80"
    assert rejected.value.request.url.path == "/other"


def test_the_rejection_is_both_error_classes() -> None:
    assert issubclass(circuit.httpx.CircuitOpenError, circuit.CircuitOpenError)
    assert issubclass(circuit.httpx.CircuitOpenError, httpx.TransportError)
