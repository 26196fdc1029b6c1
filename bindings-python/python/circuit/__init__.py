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
from dataclasses import dataclass, field
from types import FrameType
from typing import Any, Awaitable, Callable, Coroutine, Literal, Optional, ParamSpec, Tuple, TypeVar, Union, overload

from . import _circuit, http
from ._circuit import FamilyMetrics, FleetStatus, HostRegion, ManualClock, Metrics, Permit, ProcessCounts
from ._errors import (
    CircuitConfigError,
    CircuitError,
    CircuitOpenError,
    PermitAlreadyRecordedError,
    RegionError,
    StateError,
)
from ._fleet import FleetEvent, RedisFleet

__all__ = [
    "CircuitBreaker",
    "CircuitConfigError",
    "CircuitError",
    "CircuitOpenError",
    "Family",
    "FamilyMetrics",
    "FamilyStateChange",
    "FleetEvent",
    "FleetStatus",
    "HostRegion",
    "ManualClock",
    "Metrics",
    "Permit",
    "PermitAlreadyRecordedError",
    "ProcessCounts",
    "RedisFleet",
    "RegionError",
    "State",
    "StateChange",
    "StateError",
    "http",
]
__version__: str = _circuit.__version__

logger = logging.getLogger("circuit")

P = ParamSpec("P")
R = TypeVar("R")

_Token = Union[int, Permit]

# Task.cancelling() / Task.uncancel() (3.11+): how a cancellation that a deadline withdraws is told
# apart from a plain `task.cancel()`.
_CANCELLING = sys.version_info >= (3, 11)

# The `with breaker:` blocks open in the current context, innermost last, as (breaker, permit)
# pairs. One variable for every breaker, so the context does not grow per breaker; an immutable
# tuple, so a context copied for a new task or thread never sees a later change of its origin.
_open_blocks: contextvars.ContextVar[Tuple[Tuple[_circuit.Breaker, Permit], ...]] = contextvars.ContextVar(
    "circuit_open_blocks", default=()
)

# Code of asyncio.TaskGroup's methods: a TaskGroup withdraws the cancel of its parent task when a
# child failed, and that is not a deadline (see _settle_cancelled).
_TASK_GROUP_CODE = frozenset(
    f.__code__ for f in vars(getattr(asyncio, "TaskGroup", object)).values() if inspect.isfunction(f)
)


def _current_task() -> Optional["asyncio.Task[Any]"]:
    """The running task where Task.cancelling() exists (3.11+), else None."""
    if not _CANCELLING:
        return None
    try:
        return asyncio.current_task()
    except RuntimeError:  # no running event loop (a `with` block in a plain thread)
        return None


def _awaiting_in_task_group(task: "asyncio.Task[Any]") -> bool:
    """Whether `task` is suspended inside a TaskGroup's own code (its `async with` exit)."""
    awaited: Any = task.get_coro()
    for _ in range(1000):
        if awaited is None:
            return False
        frame = getattr(awaited, "cr_frame", None) or getattr(awaited, "gi_frame", None)
        if frame is not None and frame.f_code in _TASK_GROUP_CODE:
            return True
        awaited = getattr(awaited, "cr_await", None) or getattr(awaited, "gi_yieldfrom", None)
    return False


def _task_group_aborting(task: "asyncio.Task[Any]") -> bool:
    """Whether a TaskGroup around the running call is cancelling it because a child failed.

    Called while the CancelledError passes through the protected call: the `async with
    TaskGroup() as group:` body that holds the group is one of the coroutines awaiting the call,
    found on the stack (Python callers) or along the task's chain of awaited coroutines (which
    also covers a native protected call, whose awaiting frame is not on the stack). A group that
    asked to cancel its parent withdraws that cancel on exit, which would otherwise look like an
    expired deadline."""
    task_group = getattr(asyncio, "TaskGroup", None)
    if task_group is None:
        return False

    def aborting(frame: FrameType) -> bool:
        return any(
            isinstance(value, task_group) and getattr(value, "_parent_cancel_requested", False)
            for value in frame.f_locals.values()
        )

    frame: Optional[FrameType] = sys._getframe(1)
    for _ in range(256):
        if frame is None:
            break
        if aborting(frame):
            return True
        frame = frame.f_back
    awaited: Any = task.get_coro()
    for _ in range(1000):
        if awaited is None:
            return False
        frame = getattr(awaited, "cr_frame", None) or getattr(awaited, "gi_frame", None)
        if frame is not None and aborting(frame):
            return True
        awaited = getattr(awaited, "cr_await", None) or getattr(awaited, "gi_yieldfrom", None)
    return False


def _finish(breaker: _circuit.Breaker, token: _Token, error: Optional[BaseException]) -> None:
    """Records the outcome of a finished call: success without `error`, else as classified."""
    if isinstance(error, asyncio.CancelledError):
        _cancelled(breaker, token, error)
    else:
        breaker._done(token, error)


def _cancelled(breaker: _circuit.Breaker, token: _Token, error: BaseException) -> None:
    """A CancelledError left the call: neutral, unless (3.11+) it is a deadline of the caller.

    `asyncio.timeout()` (and `asyncio.wait_for` from 3.12, built on it) cancel the task when the
    deadline expires and withdraw that cancel with `Task.uncancel()` as the CancelledError passes
    through them, turning it into `TimeoutError`; a plain `task.cancel()` is never withdrawn. That
    happens after the error has left this call, so the outcome is recorded one loop step later."""
    task = _current_task()
    if task is None or _task_group_aborting(task):
        breaker._done(token, error)
        return
    task.get_loop().call_soon(_settle_cancelled, breaker, token, error, task, task.cancelling())


def _settle_cancelled(
    breaker: _circuit.Breaker, token: _Token, error: BaseException, task: "asyncio.Task[Any]", pending: int
) -> None:
    if isinstance(token, Permit) and token.recorded:  # recorded by hand meanwhile
        return
    if task.cancelling() < pending and not _awaiting_in_task_group(task):
        breaker._fail(token)
    else:
        breaker._done(token, error)


class _Deadline:
    """The breaker's `timeout` for one call in `task`: a loop timer that cancels the task. Unlike
    asyncio.wait_for, it tells its own cancellation apart from any other one, and from a
    TimeoutError raised by the call itself."""

    __slots__ = ("_task", "_handle", "_fired", "_cancelling")

    def __init__(self, task: "asyncio.Task[Any]", seconds: float) -> None:
        self._task = task
        self._fired = False
        self._cancelling = task.cancelling() if _CANCELLING else 0
        self._handle = task.get_loop().call_later(seconds, self._expire)

    def _expire(self) -> None:
        self._fired = True
        self._task.cancel()

    def close(self) -> bool:
        """Disarms the timer (call exactly once). True if the deadline fired and no other
        cancellation of the task is pending (3.10 cannot tell: True if it fired)."""
        self._handle.cancel()
        if not self._fired:
            return False
        if _CANCELLING:
            return self._task.uncancel() <= self._cancelling
        return True


def _timeout_error(breaker: _circuit.Breaker, seconds: float) -> TimeoutError:
    who = f"circuit {breaker.name!r}" if breaker.name else "circuit"
    return TimeoutError(f"{who}: call did not finish within {seconds} s")


async def _await_protected(breaker: _circuit.Breaker, token: _Token, awaitable: Awaitable[R]) -> R:
    """Awaits `awaitable`, admitted as `token`, and records its outcome; applies `timeout`. What
    `call_async` and the native sync path give on a breaker with `timeout` (without one, the
    native `ProtectedCall` does all of this, handing cancellations to `_cancelled`)."""
    timeout = breaker.timeout
    if timeout is None:
        try:
            result = await awaitable
        except BaseException as error:
            _finish(breaker, token, error)
            raise
        breaker._done(token, None)
        return result
    task = asyncio.current_task()
    if task is None:  # pragma: no cover - asyncio always runs coroutines in a task
        breaker._done(token, asyncio.CancelledError())  # neutral
        if inspect.iscoroutine(awaitable):
            awaitable.close()
        raise RuntimeError("circuit: `timeout` needs an asyncio task")
    deadline = _Deadline(task, timeout)
    try:
        result = await awaitable
    except BaseException as error:
        if deadline.close() and isinstance(error, asyncio.CancelledError):
            breaker._fail(token)
            raise _timeout_error(breaker, timeout) from error
        _finish(breaker, token, error)
        raise
    deadline.close()
    breaker._done(token, None)
    return result


def _protect_result(breaker: _circuit.Breaker, token: _Token, value: Any) -> Any:
    """What the native sync path returns when the function's result is awaitable (a coroutine
    result on a breaker without `timeout` never gets here: it becomes a native `ProtectedCall`).

    A coroutine can only be awaited, so a coroutine that awaits it and records its outcome takes
    its place. An `asyncio.Future` (a `Task`, say) is returned unchanged, its outcome recorded by
    a done callback (a cancelled future is neutral), so code that keeps, cancels or adds callbacks
    to it still can. Any other awaitable (an object with `__await__` that may also be an async
    context manager, for example) is returned unchanged and the call is recorded as ignored: its
    outcome cannot be observed without changing what the caller gets."""
    if inspect.iscoroutine(value):
        return _await_protected(breaker, token, value)
    if isinstance(value, asyncio.Future):

        def settle(future: "asyncio.Future[Any]") -> None:
            if future.cancelled():
                breaker._done(token, asyncio.CancelledError())
            else:
                breaker._done(token, future.exception())

        value.add_done_callback(settle)
        return value
    breaker._done(token, asyncio.CancelledError())  # neutral: the outcome is out of sight
    return value


# The engine's state spellings (`circuit._circuit.STATES`) by member name: "half_open" is
# State.HALF_OPEN. A state the engine renames fails here, at import; one it adds fails
# tests/test_schema.py until it gets a member.
_STATES = {spelling.upper(): spelling for spelling in _circuit.STATES}


class State(str, enum.Enum):
    """A breaker state; the values are spelled as in every circuit binding."""

    CLOSED = _STATES["CLOSED"]
    OPEN = _STATES["OPEN"]
    HALF_OPEN = _STATES["HALF_OPEN"]
    FORCED_OPEN = _STATES["FORCED_OPEN"]
    DISABLED = _STATES["DISABLED"]

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class StateChange:
    """One transition, passed to `on_state_change` callbacks. `at` is in seconds on the
    breaker's clock (for a lazy transition: the instant it became due). `remote` is True when
    another process made the transition (a breaker in a `HostRegion`): each process hears every
    transition of a shared breaker, another process's at its own next operation on it."""

    from_state: State
    to_state: State
    reason: str
    at: float
    generation: int
    remote: bool = field(default=False, kw_only=True)


@dataclass(frozen=True)
class FamilyStateChange(StateChange):
    """One transition of a family member, passed to `Family.on_state_change` callbacks: a
    `StateChange` plus the member's `key` (None for the family's overflow breaker)."""

    key: Optional[str]


IgnoreSpec = Union[type, Tuple[type, ...], Callable[[BaseException], bool], None]

def _mark_coroutine_function(wrapper: Any, func: Any) -> None:
    """Makes the native `wrapper` of `func` pass `inspect.iscoroutinefunction` (and asyncio's):
    3.12+ read the mark `inspect.markcoroutinefunction` sets; 3.10 and 3.11 accept a function-like
    object (`__name__`, `__code__`, `__defaults__`, `__kwdefaults__`) whose code is a coroutine's."""
    target = func if inspect.iscoroutinefunction(func) else func.__call__
    wrapper.__code__ = target.__code__
    wrapper.__defaults__ = getattr(target, "__defaults__", None)
    wrapper.__kwdefaults__ = getattr(target, "__kwdefaults__", None)
    if not hasattr(wrapper, "__name__"):
        wrapper.__name__ = getattr(func, "__name__", type(func).__name__)
    if sys.version_info >= (3, 12):
        inspect.markcoroutinefunction(wrapper)


_circuit.register(CircuitOpenError, CircuitConfigError, PermitAlreadyRecordedError, _protect_result, _cancelled)


class CircuitBreaker(_circuit.Breaker):
    """A circuit breaker. Safe to share between threads and asyncio tasks.

    Every option is keyword-only and defaults to the core's default (docs/semantics.md); a bad
    value raises `CircuitConfigError` (a `ValueError`) naming the option, a value of the wrong
    type a `TypeError` naming it. Durations are float seconds.

    Use it as a decorator (`@breaker` on `def` or `async def`), a context manager (`with
    breaker:` / `async with breaker:`), through `breaker.call(fn, *args, **kwargs)`, or with the
    two-step API (`allow()` then `record_success/record_failure/record_ignored`).

    `state=document` restores a state saved by `export_state()` (in this process or another, in
    any circuit binding; docs/observability.md): a refused document raises `StateError` naming
    the field at fault, and nothing is created. `state_now` (unix seconds) is the wall-clock
    instant of that import, for tests; it defaults to the system time.

    `region=HostRegion(path)` makes it the breaker of this name in a host-shared region: one
    breaker for every process on the host that opens the same path (docs/python.md, "Host-shared
    breakers"). It needs a name, reads the region's clock (so it takes no `clock`), and raises
    `RegionError` if the region refuses (other options, full, not a region).

    `fleet=RedisFleet(client)` also puts every call through the fleet breaker of this name, shared
    by every instance of the service through Redis (docs/python.md, "Fleet breakers (Redis)"): it
    needs a name; a fleet refusal raises `CircuitOpenError` with `fleet=True`; `fleet_status()`
    gives the fleet level's state. No call does I/O or fails because of the store.
    """

    def __init__(self, name: Optional[str] = None, **options: Any) -> None:
        # All options are parsed and validated by the native __new__; nothing is kept here.
        pass

    # -- state -------------------------------------------------------------------------------

    @property
    def state(self) -> State:
        """The current state (due time-driven transitions are applied first)."""
        return State(self._state)

    # -- listeners ---------------------------------------------------------------------------

    def on_state_change(self, callback: Callable[[StateChange], Any]) -> Callable[[], None]:
        """Calls `callback(StateChange)` for every transition: once, in order, with no lock held
        (it may use this breaker), on the thread that caused the transition or on another thread
        that is already delivering this breaker's earlier events, possibly after the causing call
        has returned. An exception it raises is logged on the "circuit" logger and never reaches
        the protected call.

        Returns `remove()`, which unregisters the callback: once `remove()` has returned, the
        callback is never called again, not even for an event being delivered at that moment. If
        another thread is running the callback, `remove()` waits (without holding the GIL) until
        that call returns; called from inside a callback on the delivering thread, it never waits."""

        name = self.name  # not `self`: the engine keeps `deliver`, which must not keep the breaker alive

        def deliver(event: Any) -> None:
            try:
                callback(
                    StateChange(
                        State(event.from_state),
                        State(event.to_state),
                        event.reason,
                        event.at,
                        event.generation,
                        remote=event.remote,
                    )
                )
            except Exception:
                logger.exception("circuit %r: state-change callback %r raised", name, callback)

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
        """Decorator: calls of `func` go through the breaker; signature and metadata are kept.

        A coroutine function (or an object whose `__call__` is one) gets an async wrapper. For any
        other callable, a call that returns an awaitable is not an outcome yet: a coroutine is
        replaced by one that awaits it and records its outcome (and applies `timeout`); an
        `asyncio.Future` is returned unchanged and recorded when it completes; any other awaitable
        is returned unchanged and recorded as ignored. A generator function (sync
        or async) is refused with `TypeError`: the call only creates the generator, so the
        breaker would never see how the work ends; protect the calls made inside it instead."""
        if inspect.isgeneratorfunction(func) or inspect.isasyncgenfunction(func):
            raise TypeError(
                f"circuit: cannot protect the generator function {getattr(func, '__qualname__', func)!r}: "
                "calling it only creates the generator; protect the calls made inside it instead"
            )
        if inspect.iscoroutinefunction(func) or inspect.iscoroutinefunction(getattr(func, "__call__", None)):
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

        # Without a deadline the whole protected await is native: each call returns a
        # `ProtectedCall`, which admits, calls `func` and records when awaited.
        guarded = self._guard_async(func)
        functools.update_wrapper(guarded, func)
        _mark_coroutine_function(guarded, func)
        return guarded

    def call_async(self, func: Callable[..., Awaitable[R]], /, *args: Any, **kwargs: Any) -> Coroutine[Any, Any, R]:
        """Awaits `func(*args, **kwargs)` through the breaker; applies `timeout` if set."""
        if self.timeout is None:
            return self._call_async(func, args, kwargs)
        return self._call_async_timed(func, *args, **kwargs)

    async def _call_async_timed(self, func: Callable[..., Awaitable[R]], /, *args: Any, **kwargs: Any) -> R:
        try:
            token = self._admit()
        except CircuitOpenError:
            fallback = self.fallback
            if fallback is None:
                raise
            result = fallback(*args, **kwargs)
            if inspect.isawaitable(result):
                result = await result
            return result  # type: ignore[no-any-return]
        try:
            awaitable = func(*args, **kwargs)
        except BaseException as error:
            _finish(self, token, error)
            raise
        return await _await_protected(self, token, awaitable)

    # -- context managers ----------------------------------------------------------------------

    def __enter__(self) -> Permit:
        permit = self.allow()
        _open_blocks.set(_open_blocks.get() + ((self, permit),))
        return permit

    def __exit__(self, exc_type: Any, exc: Optional[BaseException], tb: Any) -> Literal[False]:
        blocks = _open_blocks.get()
        index = len(blocks) - 1
        while index >= 0 and blocks[index][0] is not self:
            index -= 1
        if index < 0:
            raise RuntimeError("circuit: __exit__ without a matching __enter__ in this context")
        permit = blocks[index][1]
        _open_blocks.set(blocks[:index] + blocks[index + 1 :])
        if not permit.recorded:  # the block may have recorded it by hand
            _finish(self, permit, exc)
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


class Family(_circuit.Family):
    """One circuit breaker per key (a downstream host, endpoint or tenant), created on first use
    and named `<name>/<key>`, with bounded memory (docs/semantics.md, "Families").
    `region=HostRegion(path)` makes every member (and the overflow breaker) the region's breaker of
    its name, one breaker per key across processes (docs/python.md, "Host-shared breakers"); the
    family then needs a name, reads the region's clock (so it takes no `clock`), and answers new
    keys with the overflow breaker once the region is full.

    Takes every option `CircuitBreaker` takes (each member gets them), plus `max_keys` (at most
    this many members, default 1024) and `idle_ttl` (seconds or a `datetime.timedelta`, default
    600: an unpinned member idle that long is evicted, lazily, on the family's clock). A member is
    never evicted while it is open, half-open, forced open or disabled, or while something outside
    the family holds it: a `CircuitBreaker` returned by `get` or an unrecorded `Permit`. When the
    family is full and every member is pinned, `get` of a new key returns the shared `overflow`
    breaker. Safe to share between threads and asyncio tasks.
    """

    _breaker_class = CircuitBreaker

    def __init__(self, name: Optional[str] = None, **options: Any) -> None:
        # All options are parsed and validated by the native __new__.
        pass

    def get(self, key: str) -> CircuitBreaker:
        """The breaker for `key`, created on first use (the `overflow` breaker if the family is
        full and every member is pinned). Each call returns a new `CircuitBreaker` object for the
        same member (so `family[k] is family[k]` is false, while both drive one breaker); keeping
        it keeps the member from being evicted, so keep it only as long as you use it."""
        return super().get(key)  # type: ignore[return-value]

    def __getitem__(self, key: str) -> CircuitBreaker:
        """`family[key]` is `family.get(key)`: creates the member if needed, never a KeyError."""
        return super().get(key)  # type: ignore[return-value]

    @property
    def overflow(self) -> CircuitBreaker:
        """The shared breaker answering `get` when the family is full and every member is pinned."""
        return super().overflow  # type: ignore[return-value]

    def on_state_change(self, callback: Callable[[FamilyStateChange], Any]) -> Callable[[], None]:
        """Calls `callback(FamilyStateChange)` for every transition of every member (and of the
        overflow breaker, with `key` None), delivered as `CircuitBreaker.on_state_change`
        delivers: once, in order per member, with no lock held, an exception logged on the
        "circuit" logger. Returns `remove()`, which unregisters the callback with the same
        guarantees (once it has returned the callback is never called again; it waits, without
        the GIL, for a call running on another thread)."""

        name = self.name

        def deliver(key: Optional[str], event: Any) -> None:
            try:
                callback(
                    FamilyStateChange(
                        State(event.from_state),
                        State(event.to_state),
                        event.reason,
                        event.at,
                        event.generation,
                        key,
                        remote=event.remote,
                    )
                )
            except Exception:
                logger.exception("circuit family %r: state-change callback %r raised", name, callback)

        listener_id = self._on_transition(deliver)

        def remove() -> None:
            self._remove_listener(listener_id)

        return remove

    def __repr__(self) -> str:
        return f"<Family name={self.name!r} members={len(self)} max_keys={self.max_keys} idle_ttl={self.idle_ttl}>"
