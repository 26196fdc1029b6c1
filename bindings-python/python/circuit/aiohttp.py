"""Circuit breaking for aiohttp (3.12+): a client middleware that gives every origin
(`scheme://host:port`) its own breaker, from a `circuit.Family`
(docs/integrations/python-aiohttp.md).

    async with aiohttp.ClientSession(middlewares=(circuit.aiohttp.middleware(timeout=10.0),)) as s:
        ...

Each request (each hop of a redirect) is admitted by its origin's breaker, and its outcome recorded
when the response headers arrive, with the core's classifier (`circuit.http`): 5xx except 501, 408
and 429 are failures, and a failure's `Retry-After` keeps the breaker open at least that long; a
connection error or a timeout is a failure; the caller's own cancellation is ignored. The body is
streamed to the caller, never read here. A rejected request raises `CircuitOpenError`, both a
`circuit.CircuitOpenError` and an `aiohttp.ClientError`, unless `fallback(request)` answers with a
response instead.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any, Awaitable, Callable, Optional, Union

import aiohttp
from aiohttp import ClientHandlerType, ClientRequest, ClientResponse

from . import http
from ._http import IsFailure, Protection, RejectedRequest, maybe_await, origin

if TYPE_CHECKING:
    from . import Family

__all__ = ["CircuitMiddleware", "CircuitOpenError", "middleware"]


class CircuitOpenError(RejectedRequest, aiohttp.ClientError):
    """A request the origin's breaker refused: a `circuit.CircuitOpenError` (`name`, `state`,
    `reason`, `retry_after`, plus the origin `key`) and an `aiohttp.ClientError` (`request`: the
    `aiohttp.ClientRequest`)."""


def _error_kind(error: BaseException) -> Optional[http.ErrorKind]:
    # ServerTimeoutError is both a connection error and a TimeoutError: a timeout.
    if isinstance(error, asyncio.TimeoutError):
        return "timeout"
    if isinstance(error, aiohttp.ClientConnectionError):
        return "connect"
    return None


Fallback = Callable[[ClientRequest], Union[ClientResponse, Awaitable[ClientResponse]]]


class CircuitMiddleware:
    """The middleware `middleware()` returns; `family` holds its breakers, one per origin."""

    def __init__(
        self,
        *,
        family: Optional["Family"],
        fallback: Optional[Fallback],
        timeout: Optional[float],
        is_failure: Optional[IsFailure],
        breaker_options: Any,
    ) -> None:
        self._protection: Protection[ClientRequest, ClientResponse] = Protection(
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

    async def __call__(self, request: ClientRequest, handler: ClientHandlerType) -> ClientResponse:
        protection = self._protection
        url = request.url
        try:
            breaker, permit = protection.admit(origin(url.scheme, url.host or "", url.port), request)
        except RejectedRequest:
            if protection.fallback is None:
                raise
            return await maybe_await(protection.fallback(request))  # type: ignore[no-any-return]
        try:
            if protection.timeout is None:
                response = await handler(request)
            else:  # the integration's own timeout, inside the protected call: a host that hangs fails
                response = await asyncio.wait_for(handler(request), protection.timeout)
        except BaseException as error:
            protection.fail(breaker, permit, error)
            raise
        protection.respond(breaker, permit, response, response.status, response.headers.get("Retry-After"))
        return response


def middleware(
    *,
    family: Optional["Family"] = None,
    fallback: Optional[Fallback] = None,
    timeout: Optional[float] = None,
    is_failure: Optional[IsFailure] = None,
    **breaker_options: Any,
) -> CircuitMiddleware:
    """A client middleware for `aiohttp.ClientSession(middlewares=(...,))` that protects every
    request with its origin's breaker.

    `family`: the `circuit.Family` to use (else one is made from `breaker_options`, every option
    `circuit.Family` takes); `fallback(request)`: returns (or is a coroutine function returning) the
    `aiohttp.ClientResponse` for a rejected request, e.g. from a mirror; `timeout`: seconds until the
    response headers, inside the protected call, so a host that hangs fails (the session's own
    `ClientTimeout` still applies; its total timeout, which fires outside the middleware, looks like
    the caller's cancellation); `is_failure(response_or_error)`: True for a failure, False for a
    success (an error: ignored), None for the core's classification."""
    return CircuitMiddleware(
        family=family, fallback=fallback, timeout=timeout, is_failure=is_failure, breaker_options=breaker_options
    )
