"""The core's HTTP outcome classifier (docs/semantics.md, "HTTP outcomes"), the one every circuit
integration in every language uses:

    >>> from circuit import http
    >>> http.classify_status(503), http.classify_status(404), http.classify_error("cancelled")
    ('failure', 'success', 'ignored')
    >>> http.classify_response(429, "30")
    Verdict(outcome='failure', retry_after=30.0)

Outcomes are spelled "success", "failure" and "ignored"; durations are float seconds; `now` is the
wall-clock instant the response headers arrived, in unix seconds (default: `time.time()`), used only
to measure a `Retry-After` HTTP-date. A value of the wrong type raises `TypeError`, a bad value
(a status outside 100-999, an unknown error kind, a negative `now`) `ValueError`, each naming the
argument. The integrations: `circuit.httpx`, `circuit.requests`, `circuit.aiohttp`.
"""

from __future__ import annotations

from typing import Literal, NamedTuple, Optional, cast

from . import _circuit

__all__ = [
    "ErrorKind",
    "OutcomeName",
    "Verdict",
    "classify_error",
    "classify_response",
    "classify_status",
    "parse_retry_after",
]

OutcomeName = Literal["success", "failure", "ignored"]
ErrorKind = Literal["connect", "timeout", "cancelled", "other"]


class Verdict(NamedTuple):
    """What a response means for a breaker: the outcome to record, and the retry time (seconds)
    to record with a failure (None for a success, or without a usable `Retry-After`)."""

    outcome: OutcomeName
    retry_after: Optional[float]


def classify_status(status: int) -> OutcomeName:
    """The outcome a response with `status` stands for: 5xx except 501, 408 and 429 are failures;
    every other status (1xx-4xx, 501) is a success."""
    return cast(OutcomeName, _circuit.classify_status(status))


def classify_error(kind: ErrorKind) -> OutcomeName:
    """The outcome of an exchange that ended without a response: "cancelled" (the caller's own
    cancellation) is ignored; "connect", "timeout" and "other" are failures."""
    return cast(OutcomeName, _circuit.classify_error(kind))


def classify_response(status: int, retry_after: Optional[str] = None, now: Optional[float] = None) -> Verdict:
    """The verdict on a response with `status` and the `Retry-After` header value `retry_after`."""
    outcome, seconds = _circuit.classify_response(status, retry_after, now)
    return Verdict(cast(OutcomeName, outcome), seconds)


def parse_retry_after(value: str, now: Optional[float] = None) -> Optional[float]:
    """Seconds a `Retry-After` value (delta-seconds or an HTTP-date, measured from `now`) asks
    for; 0 for a date in the past; None for a value in none of the accepted forms."""
    return _circuit.parse_retry_after(value, now)
