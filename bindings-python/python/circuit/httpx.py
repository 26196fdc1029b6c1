"""Circuit breaking for httpx: a transport that gives every origin (`scheme://host:port`) its own
breaker, from a `circuit.Family` (docs/integrations/python-httpx.md).

    client = httpx.Client(transport=circuit.httpx.CircuitTransport(failure_threshold=5))
    async_client = httpx.AsyncClient(transport=circuit.httpx.AsyncCircuitTransport())

Each request is admitted by its origin's breaker, and its outcome recorded when the response headers
arrive, with the core's classifier (`circuit.http`): 5xx except 501, 408 and 429 are failures, and a
failure's `Retry-After` keeps the breaker open at least that long; a connection error or a timeout
is a failure; the caller's own cancellation is ignored. The body is streamed to the caller, never
read here. A rejected request raises `CircuitOpenError`, both a `circuit.CircuitOpenError` and an
`httpx.TransportError`, unless `fallback(request)` answers with a response instead.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Awaitable, Callable, Optional, Union

import httpx

from . import http
from ._http import IsFailure, Protection, RejectedRequest, maybe_await, origin

__all__ = ["AsyncCircuitTransport", "CircuitOpenError", "CircuitTransport"]

if TYPE_CHECKING:
    from . import Family


class CircuitOpenError(RejectedRequest, httpx.TransportError):
    """A request the origin's breaker refused: a `circuit.CircuitOpenError` (`name`, `state`,
    `reason`, `retry_after`, plus the origin `key`) and an `httpx.TransportError` (`request`)."""


def _error_kind(error: BaseException) -> Optional[http.ErrorKind]:
    if isinstance(error, httpx.TimeoutException):
        return "timeout"
    if isinstance(error, (httpx.NetworkError, httpx.ProtocolError, httpx.ProxyError)):
        return "connect"
    return None


def _key(request: httpx.Request) -> str:
    return origin(request.url.scheme, request.url.host, request.url.port)


class _Options:
    """What both transports take and do before and after the inner transport."""

    def __init__(
        self,
        fallback: Optional[Callable[[httpx.Request], Any]],
        timeout: Optional[float],
        is_failure: Optional[IsFailure],
        family: Optional["Family"],
        breaker_options: Any,
    ) -> None:
        self._protection: Protection[httpx.Request, httpx.Response] = Protection(
            family=family,
            fallback=fallback,
            timeout=timeout,
            is_failure=is_failure,
            breaker_options=breaker_options,
            rejection=CircuitOpenError,
            error_kind=_error_kind,
        )

    @property
    def family(self) -> "Family":
        """The family of breakers, one per origin."""
        return self._protection.family

    def _with_timeout(self, request: httpx.Request) -> httpx.Request:
        # The integration's own timeout, inside the protected call: a host that hangs fails.
        timeout = self._protection.timeout
        if timeout is not None:
            request.extensions = {**request.extensions, "timeout": httpx.Timeout(timeout).as_dict()}
        return request

    def _record(self, breaker: Any, permit: Any, response: httpx.Response) -> httpx.Response:
        self._protection.respond(breaker, permit, response, response.status_code, response.headers.get("retry-after"))
        return response


class CircuitTransport(_Options, httpx.BaseTransport):
    """An httpx transport (for `httpx.Client(transport=...)`) that protects every request sent
    through `inner` (default: a new `httpx.HTTPTransport()`) with its origin's breaker.

    `family`: the `circuit.Family` to use (else one is made from `breaker_options`, every option
    `circuit.Family` takes); `fallback(request)`: returns the `httpx.Response` for a rejected
    request; `timeout`: seconds, httpx's connect/read/write/pool timeouts for every request (they
    replace the client's); `is_failure(response_or_error)`: True for a failure, False for a success
    (an error: ignored), None for the core's classification."""

    def __init__(
        self,
        inner: Optional[httpx.BaseTransport] = None,
        *,
        family: Optional["Family"] = None,
        fallback: Optional[Callable[[httpx.Request], httpx.Response]] = None,
        timeout: Optional[float] = None,
        is_failure: Optional[IsFailure] = None,
        **breaker_options: Any,
    ) -> None:
        super().__init__(fallback, timeout, is_failure, family, breaker_options)
        self.inner = httpx.HTTPTransport() if inner is None else inner

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        protection = self._protection
        try:
            breaker, permit = protection.admit(_key(request), request)
        except RejectedRequest:
            if protection.fallback is None:
                raise
            return protection.fallback(request)  # type: ignore[no-any-return]
        try:
            response = self.inner.handle_request(self._with_timeout(request))
        except BaseException as error:
            protection.fail(breaker, permit, error)
            raise
        return self._record(breaker, permit, response)

    def close(self) -> None:
        self.inner.close()


class AsyncCircuitTransport(_Options, httpx.AsyncBaseTransport):
    """`CircuitTransport` for `httpx.AsyncClient`: wraps `inner` (default: a new
    `httpx.AsyncHTTPTransport()`); `fallback` may be a coroutine function. A cancelled task
    (`task.cancel()`, a caller's `asyncio.timeout`) is the caller's cancellation: ignored."""

    def __init__(
        self,
        inner: Optional[httpx.AsyncBaseTransport] = None,
        *,
        family: Optional["Family"] = None,
        fallback: Optional[Callable[[httpx.Request], Union[httpx.Response, Awaitable[httpx.Response]]]] = None,
        timeout: Optional[float] = None,
        is_failure: Optional[IsFailure] = None,
        **breaker_options: Any,
    ) -> None:
        super().__init__(fallback, timeout, is_failure, family, breaker_options)
        self.inner = httpx.AsyncHTTPTransport() if inner is None else inner

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        protection = self._protection
        try:
            breaker, permit = protection.admit(_key(request), request)
        except RejectedRequest:
            if protection.fallback is None:
                raise
            return await maybe_await(protection.fallback(request))  # type: ignore[no-any-return]
        try:
            response = await self.inner.handle_async_request(self._with_timeout(request))
        except BaseException as error:
            protection.fail(breaker, permit, error)
            raise
        return self._record(breaker, permit, response)

    async def aclose(self) -> None:
        await self.inner.aclose()
