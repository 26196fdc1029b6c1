"""Circuit breaking for requests: an adapter that gives every origin (`scheme://host:port`) its own
breaker, from a `circuit.Family` (docs/integrations/python-requests.md).

    session = requests.Session()
    adapter = circuit.requests.CircuitAdapter(failure_threshold=5, timeout=10.0)
    session.mount("https://", adapter)
    session.mount("http://", adapter)

Each request is admitted by its origin's breaker, and its outcome recorded when `send` returns with
the response headers, with the core's classifier (`circuit.http`): 5xx except 501, 408 and 429 are
failures, and a failure's `Retry-After` keeps the breaker open at least that long; a connection
error or a timeout is a failure. With `stream=True` the body is left to the caller, never read
here. A rejected request raises `CircuitOpenError`, both a `circuit.CircuitOpenError` and a
`requests.ConnectionError`, unless `fallback(request)` answers with a response instead.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Mapping, Optional, Tuple, Union
from urllib.parse import urlsplit

import requests
from requests.adapters import DEFAULT_POOLBLOCK, DEFAULT_POOLSIZE, DEFAULT_RETRIES, HTTPAdapter

from . import http
from ._http import IsFailure, Protection, RejectedRequest, origin

if TYPE_CHECKING:
    from urllib3.util.retry import Retry

    from . import Family

__all__ = ["CircuitAdapter", "CircuitOpenError"]


class CircuitOpenError(RejectedRequest, requests.ConnectionError):
    """A request the origin's breaker refused: a `circuit.CircuitOpenError` (`name`, `state`,
    `reason`, `retry_after`, plus the origin `key`) and a `requests.ConnectionError` (`request`)."""


def _error_kind(error: BaseException) -> Optional[http.ErrorKind]:
    if isinstance(error, requests.Timeout):  # before ConnectionError: ConnectTimeout is both
        return "timeout"
    if isinstance(error, requests.ConnectionError):
        return "connect"
    return None


def _key(request: requests.PreparedRequest) -> str:
    parts = urlsplit(request.url or "")
    return origin(parts.scheme, parts.hostname or "", parts.port)


class CircuitAdapter(HTTPAdapter):
    """A requests transport adapter (`session.mount(prefix, adapter)`) that protects every request
    it sends with its origin's breaker.

    `family`: the `circuit.Family` to use (else one is made from `breaker_options`, every option
    `circuit.Family` takes); `fallback(request)`: returns the `requests.Response` for a rejected
    request; `timeout`: seconds, replacing each request's own
    timeout, so a host that hangs fails; `is_failure(response_or_error)`: True for a failure, False
    for a success (an error: ignored), None for the core's classification. `pool_connections`,
    `pool_maxsize`, `max_retries` and `pool_block` are `HTTPAdapter`'s."""

    def __init__(
        self,
        *,
        family: Optional["Family"] = None,
        fallback: Optional[Callable[[requests.PreparedRequest], requests.Response]] = None,
        timeout: Optional[float] = None,
        is_failure: Optional[IsFailure] = None,
        pool_connections: int = DEFAULT_POOLSIZE,
        pool_maxsize: int = DEFAULT_POOLSIZE,
        max_retries: Union["Retry", int, None] = DEFAULT_RETRIES,
        pool_block: bool = DEFAULT_POOLBLOCK,
        **breaker_options: Any,
    ) -> None:
        self._protection: Protection[requests.PreparedRequest, requests.Response] = Protection(
            family=family,
            fallback=fallback,
            timeout=timeout,
            is_failure=is_failure,
            breaker_options=breaker_options,
            rejection=CircuitOpenError,
            error_kind=_error_kind,
        )
        super().__init__(pool_connections, pool_maxsize, max_retries, pool_block)

    @property
    def family(self) -> "Family":
        """The family of breakers, one per origin."""
        return self._protection.family

    def send(
        self,
        request: requests.PreparedRequest,
        stream: bool = False,
        timeout: Union[None, float, Tuple[float, float], Tuple[float, None]] = None,
        verify: Union[bool, str] = True,
        cert: Union[None, bytes, str, Tuple[Union[bytes, str], Union[bytes, str]]] = None,
        proxies: Optional[Mapping[str, str]] = None,
    ) -> requests.Response:
        protection = self._protection
        try:
            breaker, permit = protection.admit(_key(request), request)
        except RejectedRequest:
            if protection.fallback is None:
                raise
            return protection.fallback(request)  # type: ignore[no-any-return]
        if protection.timeout is not None:
            timeout = protection.timeout
        try:
            response = super().send(request, stream=stream, timeout=timeout, verify=verify, cert=cert, proxies=proxies)
        except BaseException as error:
            protection.fail(breaker, permit, error)
            raise
        protection.respond(breaker, permit, response, response.status_code, response.headers.get("retry-after"))
        return response
