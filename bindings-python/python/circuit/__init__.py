"""circuit: a circuit breaker with a Rust core.

Exact half-open probing under any concurrency, stale results that never drive a transition,
no timers or threads, asyncio support, and a native hot path. Behaviour: docs/semantics.md.

    breaker = circuit.CircuitBreaker("inventory", failure_threshold=5, reset_timeout=30.0)

    @breaker
    def fetch(item_id: int) -> dict: ...

    @breaker
    async def fetch_async(item_id: int) -> dict: ...
"""

from __future__ import annotations

import asyncio
import contextvars
import enum
import functools
import inspect
import logging
import sys
from dataclasses import dataclass
from typing import Any, Awaitable, Callable, Coroutine, Literal, Optional, Tuple, TypeVar, Union, overload

from . import _circuit
from ._circuit import ManualClock, Metrics, Permit
from ._errors import CircuitConfigError, CircuitError, CircuitOpenError, PermitAlreadyRecordedError

if sys.version_info >= (3, 10):
    from typing import ParamSpec
else:  # pragma: no cover
    from typing_extensions import ParamSpec

__all__ = [
    "CircuitBreaker",
    "CircuitConfigError",
    "CircuitError",
    "CircuitOpenError",
    "ManualClock",
    "Metrics",
    "Permit",
    "PermitAlreadyRecordedError",
    "State",
    "StateChange",
]
__version__: str = _circuit.__version__

_circuit.register(CircuitOpenError, CircuitConfigError, PermitAlreadyRecordedError)

logger = logging.getLogger("circuit")

P = ParamSpec("P")
R = TypeVar("R")


class State(str, enum.Enum):
    """A breaker state; the values are spelled as in every circuit binding."""

    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"
    FORCED_OPEN = "forced_open"
    DISABLED = "disabled"

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class StateChange:
    """One transition, passed to `on_state_change` callbacks. `at` is in seconds on the
    breaker's clock (for a lazy transition: the instant it became due)."""

    from_state: State
    to_state: State
    reason: str
    at: float
    generation: int


IgnoreSpec = Union[type, Tuple[type, ...], Callable[[BaseException], bool], None]


class CircuitBreaker(_circuit.Breaker):
    """A circuit breaker. Safe to share between threads and asyncio tasks.

    Every option is keyword-only and defaults to the core's default (docs/semantics.md); a bad
    value raises `CircuitConfigError` (a `ValueError`) naming the option, a value of the wrong
    type a `TypeError` naming it. Durations are float seconds.

    Use it as a decorator (`@breaker` on `def` or `async def`), a context manager (`with
    breaker:` / `async with breaker:`), through `breaker.call(fn, *args, **kwargs)`, or with the
    two-step API (`allow()` then `record_success/record_failure/record_ignored`).
    """

    def __init__(self, name: Optional[str] = None, **options: Any) -> None:
        # All options are parsed and validated by the native __new__.
        self._permits: contextvars.ContextVar[Tuple[Permit, ...]] = contextvars.ContextVar(
            f"circuit_permits_{id(self)}", default=()
        )

    # -- state -------------------------------------------------------------------------------

    @property
    def state(self) -> State:
        """The current state (due time-driven transitions are applied first)."""
        return State(self._state)

    # -- listeners ---------------------------------------------------------------------------

    def on_state_change(self, callback: Callable[[StateChange], Any]) -> Callable[[], None]:
        """Calls `callback(StateChange)` on every transition, once, in order, with no lock held
        (it may use this breaker). An exception it raises is logged on the "circuit" logger and
        never reaches the protected call. Returns a function that unregisters the callback."""

        def deliver(event: Any) -> None:
            try:
                callback(
                    StateChange(
                        State(event.from_state), State(event.to_state), event.reason, event.at, event.generation
                    )
                )
            except Exception:
                logger.exception("circuit %r: state-change callback %r raised", self.name, callback)

        listener_id = self._on_transition(deliver)

        def remove() -> None:
            self._remove_listener(listener_id)

        return remove

    # -- wrapping ----------------------------------------------------------------------------

    @overload
    def __call__(self, func: Callable[P, Coroutine[Any, Any, R]]) -> Callable[P, Coroutine[Any, Any, R]]: ...

    @overload
    def __call__(self, func: Callable[P, R]) -> Callable[P, R]: ...

    def __call__(self, func: Callable[P, Any]) -> Callable[P, Any]:
        """Decorator: calls of `func` go through the breaker; signature and metadata are kept."""
        if inspect.iscoroutinefunction(func):
            return self._wrap_async(func)
        guarded = self._guard(func)
        functools.update_wrapper(guarded, func)
        return guarded

    def _wrap_async(self, func: Callable[P, Coroutine[Any, Any, R]]) -> Callable[P, Coroutine[Any, Any, R]]:
        if self.timeout is not None:
            call_async = self.call_async

            @functools.wraps(func)
            async def with_timeout(*args: P.args, **kwargs: P.kwargs) -> R:
                return await call_async(func, *args, **kwargs)

            with_timeout.breaker = self  # type: ignore[attr-defined]
            return with_timeout

        admit, done, fallback = self._admit, self._done, self.fallback

        @functools.wraps(func)
        async def protected(*args: P.args, **kwargs: P.kwargs) -> R:
            try:
                token = admit()
            except CircuitOpenError:
                if fallback is None:
                    raise
                value = fallback(*args, **kwargs)
                return (await value) if inspect.isawaitable(value) else value  # type: ignore[no-any-return]
            try:
                result = await func(*args, **kwargs)
            except BaseException as error:
                done(token, error)
                raise
            done(token, None)
            return result

        protected.breaker = self  # type: ignore[attr-defined]
        return protected

    async def call_async(self, func: Callable[..., Awaitable[R]], /, *args: Any, **kwargs: Any) -> R:
        """Awaits `func(*args, **kwargs)` through the breaker; applies `timeout` if set."""
        try:
            permit = self.allow()
        except CircuitOpenError:
            fallback = self.fallback
            if fallback is None:
                raise
            result = fallback(*args, **kwargs)
            if inspect.isawaitable(result):
                result = await result
            return result  # type: ignore[no-any-return]
        timeout = self.timeout
        try:
            if timeout is None:
                value = await func(*args, **kwargs)
            else:
                try:
                    value = await asyncio.wait_for(func(*args, **kwargs), timeout)
                except asyncio.TimeoutError as error:
                    self.record_failure(permit)
                    raise TimeoutError(
                        f"circuit {self.name!r}: call did not finish within {timeout} s" if self.name
                        else f"circuit: call did not finish within {timeout} s"
                    ) from error
        except BaseException as error:
            if not permit.recorded:
                self._done(permit, error)
            raise
        self.record_success(permit)
        return value

    # -- context managers ----------------------------------------------------------------------

    def __enter__(self) -> Permit:
        permit = self.allow()
        self._permits.set(self._permits.get() + (permit,))
        return permit

    def __exit__(self, exc_type: Any, exc: Optional[BaseException], tb: Any) -> Literal[False]:
        stack = self._permits.get()
        self._permits.set(stack[:-1])
        self._done(stack[-1], exc)
        return False

    async def __aenter__(self) -> Permit:
        return self.__enter__()

    async def __aexit__(self, exc_type: Any, exc: Optional[BaseException], tb: Any) -> Literal[False]:
        return self.__exit__(exc_type, exc, tb)

    # -- display -----------------------------------------------------------------------------

    def __repr__(self) -> str:
        m = self.metrics()
        return (
            f"<CircuitBreaker name={self.name!r} state={m.state} admitted={m.admitted} "
            f"rejected={m.rejected} failures={m.failures} consecutive_failures={m.consecutive_failures}>"
        )
