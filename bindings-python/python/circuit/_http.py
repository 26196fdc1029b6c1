"""What the HTTP integrations (`circuit.httpx`, `circuit.requests`, `circuit.aiohttp`) share: the
origin key, the options, admission and rejection, and recording a response or an error with the
core's classifier (`circuit.http`). Each integration only adapts its client's request, response and
exception types to these."""

from __future__ import annotations

import inspect
from typing import TYPE_CHECKING, Any, Callable, Dict, Generic, Optional, Tuple, Type, TypeVar

from . import http
from ._circuit import Permit
from ._errors import CircuitOpenError

if TYPE_CHECKING:
    from . import CircuitBreaker, Family

Request = TypeVar("Request")
Response = TypeVar("Response")

# `is_failure(response_or_error)`: True records a failure, False a success (for a response) or
# an ignored call (for an error), None leaves the decision to the core's classifier.
IsFailure = Callable[[Any], Optional[bool]]

_DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443}


def origin(scheme: str, host: str, port: Optional[int]) -> str:
    """The family key of a request: `scheme://host:port`, lower-cased, the scheme's default port
    filled in, an IPv6 address in brackets."""
    scheme = scheme.lower()
    host = host.lower()
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    if port is None:
        port = _DEFAULT_PORTS.get(scheme)
    return f"{scheme}://{host}" if port is None else f"{scheme}://{host}:{port}"


class RejectedRequest(CircuitOpenError):
    """Base of the integrations' rejection errors: a `circuit.CircuitOpenError` (`name`, `state`,
    `reason`, `retry_after`) that also carries the request's origin `key`."""

    key: Optional[str]

    def __init__(
        self, name: Optional[str], state: str, reason: str, retry_after: Optional[float], key: Optional[str] = None
    ) -> None:
        super().__init__(name, state, reason, retry_after)
        self.key = key

    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (type(self), (self.name, self.state, self.reason, self.retry_after, self.key))


def _error_kind_default(error: BaseException) -> http.ErrorKind:
    # A BaseException that is not an Exception (asyncio.CancelledError, KeyboardInterrupt,
    # SystemExit, GeneratorExit) is the caller stopping the call, not the dependency failing.
    return "other" if isinstance(error, Exception) else "cancelled"


class Protection(Generic[Request, Response]):
    """The breaker side of one integration instance: a family of breakers keyed by origin, the
    fallback, the integration's own request timeout and the classification override."""

    def __init__(
        self,
        *,
        family: Optional["Family"],
        fallback: Optional[Callable[[Request], Any]],
        timeout: Optional[float],
        is_failure: Optional[IsFailure],
        breaker_options: Dict[str, Any],
        rejection: Type[RejectedRequest],
        error_kind: Callable[[BaseException], Optional[http.ErrorKind]],
    ) -> None:
        from . import Family  # not at import time: circuit/__init__.py is still running then

        if family is None:
            family = Family(**breaker_options)
        elif breaker_options:
            raise TypeError(
                "circuit: pass breaker options to the Family given as `family`, not to the integration: "
                + ", ".join(sorted(breaker_options))
            )
        elif not isinstance(family, Family):
            raise TypeError(f"circuit: `family` must be a circuit.Family, got {type(family).__name__}")
        if fallback is not None and not callable(fallback):
            raise TypeError(f"circuit: `fallback` must be a callable, got {type(fallback).__name__}")
        if is_failure is not None and not callable(is_failure):
            raise TypeError(f"circuit: `is_failure` must be a callable, got {type(is_failure).__name__}")
        if timeout is not None:
            if isinstance(timeout, bool) or not isinstance(timeout, (int, float)):
                raise TypeError(f"circuit: `timeout` must be seconds (a float), got {type(timeout).__name__}")
            if not 0 < timeout < float("inf"):
                raise ValueError(f"circuit: `timeout` must be a finite number of seconds above 0, got {timeout}")
        self.family: "Family" = family
        self.fallback = fallback
        self.timeout: Optional[float] = None if timeout is None else float(timeout)
        self.is_failure = is_failure
        self._rejection = rejection
        self._error_kind = error_kind

    def admit(self, key: str, request: Request) -> Tuple["CircuitBreaker", Permit]:
        """The member for `key` and a permit from it; raises the integration's rejection error
        (its `request` attribute set to `request`) when the breaker refuses."""
        breaker = self.family[key]
        try:
            return breaker, breaker.allow()
        except CircuitOpenError as rejected:
            error = self._rejection(rejected.name, rejected.state, rejected.reason, rejected.retry_after, key)
            setattr(error, "request", request)  # a property of httpx's errors, a plain attribute elsewhere
            raise error from None

    def respond(
        self, breaker: "CircuitBreaker", permit: Permit, response: Any, status: int, retry_after: Optional[str]
    ) -> None:
        """Records the outcome of a response whose headers just arrived (`retry_after`: the value of
        its `Retry-After` header, if any)."""
        outcome, seconds = http.classify_response(status, retry_after)
        if self.is_failure is not None:
            try:
                answer = self.is_failure(response)
            except BaseException:
                _record(breaker, permit, outcome, seconds)
                raise
            if answer is not None:
                outcome = "failure" if answer else "success"
                if answer and seconds is None and retry_after is not None:
                    seconds = http.parse_retry_after(retry_after)
        _record(breaker, permit, outcome, seconds)

    def fail(self, breaker: "CircuitBreaker", permit: Permit, error: BaseException) -> None:
        """Records the outcome of an exchange that `error` ended before a response."""
        kind = _error_kind_default(error)
        if kind != "cancelled":
            kind = self._error_kind(error) or kind
        outcome = http.classify_error(kind)
        if self.is_failure is not None and kind != "cancelled":
            try:
                answer = self.is_failure(error)
            except BaseException:
                _record(breaker, permit, outcome, None)
                raise
            if answer is not None:
                outcome = "failure" if answer else "ignored"
        _record(breaker, permit, outcome, None)


def _record(breaker: "CircuitBreaker", permit: Permit, outcome: http.OutcomeName, retry_after: Optional[float]) -> None:
    if permit.recorded:
        return
    if outcome == "failure":
        breaker.record_failure(permit, retry_after=retry_after)
    elif outcome == "success":
        breaker.record_success(permit)
    else:
        breaker.record_ignored(permit)


async def maybe_await(value: Any) -> Any:
    """`value`, awaited if it is awaitable (a fallback may be sync or async)."""
    if inspect.isawaitable(value):
        return await value
    return value
