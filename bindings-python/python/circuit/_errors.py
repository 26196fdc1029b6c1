"""Exception classes (registered with the native module so it raises them)."""

from __future__ import annotations

from typing import Optional, Sequence, Tuple

__all__ = [
    "CircuitError",
    "CircuitOpenError",
    "CircuitConfigError",
    "PermitAlreadyRecordedError",
    "RegionError",
    "StateError",
]


class CircuitError(Exception):
    """Base class of every error raised by circuit."""


class CircuitOpenError(CircuitError):
    """The breaker refused the call.

    Attributes:
        name: the breaker's name (or None).
        state: the breaker's state: "open", "half_open" or "forced_open".
        reason: "open", "half_open_full" or "forced_open".
        retry_after: seconds until a probe may be admitted, or None when unknown
            ("half_open_full") or never by itself ("forced_open").
        fleet: True when the fleet breaker refused (`CircuitBreaker(..., fleet=RedisFleet(...))`:
            the local breaker admitted the call, the fleet is "open" or, "half_open", has every
            probe lease taken; or the store is unreachable and `on_store_failure="open"`); False
            for a refusal of the local breaker.
    """

    name: Optional[str]
    state: str
    reason: str
    retry_after: Optional[float]
    fleet: bool

    def __init__(
        self, name: Optional[str], state: str, reason: str, retry_after: Optional[float], fleet: bool = False
    ) -> None:
        self.name = name
        self.state = state
        self.reason = reason
        self.retry_after = retry_after
        self.fleet = fleet
        who = f"circuit {name!r}" if name else "circuit"
        message = f"{who} rejected the call ({'fleet ' if fleet else ''}{reason})"
        if retry_after is not None:
            message += f"; retry after {retry_after:.3f}s"
        super().__init__(message)

    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (type(self), (self.name, self.state, self.reason, self.retry_after, self.fleet))


class CircuitConfigError(CircuitError, ValueError):
    """An option was refused; nothing was created. `option` names it (snake_case)."""

    option: str

    def __init__(self, option: str, message: str) -> None:
        self.option = option
        super().__init__(message)

    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (type(self), (self.option, str(self)))


class PermitAlreadyRecordedError(CircuitError, ValueError):
    """A permit was recorded a second time; nothing changed."""


class StateError(CircuitError, ValueError):
    """A state document was refused (malformed, truncated, foreign, from a newer layout,
    inconsistent, for another breaker, or given to a breaker already used); nothing was created.

    Attributes:
        field: the document field at fault as a dotted path (e.g. "version", "window.buckets"),
            or None when the problem is the whole document (not JSON, not an object, too large).
        message: what is wrong (also `str(error)`).
    """

    field: Optional[str]
    message: str

    def __init__(self, field: Optional[str], message: str) -> None:
        self.field = field
        self.message = message
        super().__init__(message)

    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (type(self), (self.field, self.message))


class RegionError(CircuitError):
    """A host region (`HostRegion`, or `CircuitBreaker(..., region=...)`) refused: the file is
    not a valid region, is from a newer layout, or was created with another capacity or clock;
    the breaker exists in the region with other options; the region is full; the breaker has no
    name; or a system call failed. Nothing was created.

    Attributes:
        path: the region's path.
        kind: what went wrong, one of "options_mismatch", "full", "unnamed", "foreign",
            "truncated", "size_mismatch", "newer_version", "unknown_version", "not_ready",
            "bad_header", "bad_record", "layout_mismatch", "clock_mismatch", "clock_not_manual",
            "invalid_name", "invalid_options_text", "invalid_options", "symlink",
            "not_regular_file", "not_found", "lock", "lock_not_recoverable", "breaker", "io"
            (or "other" for a kind this version does not name).
        message: the core's message, naming the path and the problem (also `str(error)`); for
            an options mismatch it names every differing option with both values.
        options: the names of the differing options of an options mismatch (else empty).
    """

    path: str
    kind: str
    message: str
    options: Tuple[str, ...]

    def __init__(self, path: str, kind: str, message: str, options: Sequence[str] = ()) -> None:
        self.path = path
        self.kind = kind
        self.message = message
        self.options = tuple(options)
        super().__init__(message)

    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (type(self), (self.path, self.kind, self.message, self.options))
