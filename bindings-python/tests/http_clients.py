"""One driver per HTTP integration, so tests/test_http_behaviour.py runs every scenario through
each: `driver.open(**options)` builds the integration with `options` (as its users pass them)
and a client using it; `client.get(url)` sends a GET and returns the status (the body read), or
raises what the client raised. The async clients run on their own event loop."""

from __future__ import annotations

import asyncio
from typing import Any, Callable, Coroutine, List, Type, TypeVar

import aiohttp
import httpx
import requests

import circuit
import circuit.aiohttp
import circuit.httpx
import circuit.requests
from circuit._http import RejectedRequest

T = TypeVar("T")


class Client:
    family: circuit.Family
    rejection: Type[RejectedRequest]  # the integration's rejection class

    def get(self, url: str) -> int:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError


class Driver:
    name: str
    client_error: Type[BaseException]  # the client's own error class, that rejections also are

    def open(self, **options: Any) -> Client:
        raise NotImplementedError

    def fallback_to(self, url: str) -> Callable[[Any], Any]:
        """A fallback answering a rejected request with a plain GET of `url` (a mirror)."""
        raise NotImplementedError


class _Loop:
    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return self.loop.run_until_complete(coroutine)


# -- httpx -------------------------------------------------------------------------------------


class _HttpxClient(Client):
    rejection = circuit.httpx.CircuitOpenError

    def __init__(self, options: Any) -> None:
        self.transport = circuit.httpx.CircuitTransport(**options)
        self.family = self.transport.family
        self.client = httpx.Client(transport=self.transport)

    def get(self, url: str) -> int:
        return self.client.get(url).status_code

    def close(self) -> None:
        self.client.close()


class HttpxDriver(Driver):
    name = "httpx"
    client_error = httpx.TransportError

    def open(self, **options: Any) -> Client:
        return _HttpxClient(options)

    def fallback_to(self, url: str) -> Callable[[Any], Any]:
        def fallback(request: httpx.Request) -> httpx.Response:
            response = httpx.get(url)
            return httpx.Response(response.status_code, content=response.content)

        return fallback


class _AsyncHttpxClient(Client, _Loop):
    rejection = circuit.httpx.CircuitOpenError

    def __init__(self, options: Any) -> None:
        self.transport = circuit.httpx.AsyncCircuitTransport(**options)
        self.family = self.transport.family
        _Loop.__init__(self)
        self.client = httpx.AsyncClient(transport=self.transport)

    def get(self, url: str) -> int:
        async def get() -> int:
            return (await self.client.get(url)).status_code

        return self.run(get())

    def close(self) -> None:
        self.run(self.client.aclose())
        self.loop.close()


class AsyncHttpxDriver(HttpxDriver):
    name = "httpx-async"

    def open(self, **options: Any) -> Client:
        return _AsyncHttpxClient(options)

    def fallback_to(self, url: str) -> Callable[[Any], Any]:
        async def fallback(request: httpx.Request) -> httpx.Response:
            async with httpx.AsyncClient() as client:
                response = await client.get(url)
            return httpx.Response(response.status_code, content=response.content)

        return fallback


# -- requests ----------------------------------------------------------------------------------


class _RequestsClient(Client):
    rejection = circuit.requests.CircuitOpenError

    def __init__(self, options: Any) -> None:
        self.adapter = circuit.requests.CircuitAdapter(**options)
        self.family = self.adapter.family
        self.session = requests.Session()
        self.session.mount("http://", self.adapter)

    def get(self, url: str) -> int:
        return self.session.get(url).status_code

    def close(self) -> None:
        self.session.close()


class RequestsDriver(Driver):
    name = "requests"
    client_error = requests.ConnectionError

    def open(self, **options: Any) -> Client:
        return _RequestsClient(options)

    def fallback_to(self, url: str) -> Callable[[Any], Any]:
        def fallback(request: requests.PreparedRequest) -> requests.Response:
            return requests.get(url)

        return fallback


# -- aiohttp -----------------------------------------------------------------------------------


class _AiohttpClient(Client, _Loop):
    rejection = circuit.aiohttp.CircuitOpenError

    def __init__(self, options: Any) -> None:
        self.middleware = circuit.aiohttp.middleware(**options)
        self.family = self.middleware.family
        _Loop.__init__(self)

        async def session() -> aiohttp.ClientSession:
            return aiohttp.ClientSession(middlewares=(self.middleware,))

        self.session = self.run(session())

    def get(self, url: str) -> int:
        async def get() -> int:
            async with self.session.get(url) as response:
                await response.read()
                return response.status

        return self.run(get())

    def close(self) -> None:
        self.run(self.session.close())
        self.loop.close()


class AiohttpDriver(Driver):
    name = "aiohttp"
    client_error = aiohttp.ClientError

    def open(self, **options: Any) -> Client:
        return _AiohttpClient(options)

    def fallback_to(self, url: str) -> Callable[[Any], Any]:
        # The mirror's response, read, from a session of its own (closed once it has answered).
        async def fallback(request: aiohttp.ClientRequest) -> aiohttp.ClientResponse:
            async with aiohttp.ClientSession() as session:
                response = await session.get(url)
                await response.read()
                return response

        return fallback


DRIVERS: List[Driver] = [HttpxDriver(), AsyncHttpxDriver(), RequestsDriver(), AiohttpDriver()]
