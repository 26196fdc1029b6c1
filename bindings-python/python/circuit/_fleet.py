"""Fleet breakers over Redis (docs/fleet.md; docs/python.md, "Fleet breakers (Redis)").

`RedisFleet` runs the store round trips of the core's sans-IO fleet breakers (`_circuit._Fleet`,
one per breaker name) with a redis-py client: on a daemon thread for a `redis.Redis`, on an
asyncio task for a `redis.asyncio.Redis`. Nothing here runs on the call path: a breaker with
`fleet=` admits and records in native code without I/O.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import sys
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional, Tuple

from . import _circuit

__all__ = ["FleetEvent", "RedisFleet"]

logger = logging.getLogger("circuit")

_EventTuple = Tuple[str, Optional[str], Optional[str], Optional[int], Optional[str]]


@dataclass(frozen=True)
class FleetEvent:
    """Something a sync learned about a fleet breaker.

    Attributes:
        kind: "transition", "store_degraded", "store_recovered" or "mismatch".
        name: the breaker's name.
        from_state, to_state: for a transition, "closed", "open" or "half_open" (else None).
        epoch: for a transition, the store's epoch after it (else None).
        stored: for a mismatch, the fingerprint of the options stored (else None).
    """

    kind: str
    name: str
    from_state: Optional[str] = None
    to_state: Optional[str] = None
    epoch: Optional[int] = None
    stored: Optional[str] = None


def _is_async_client(client: Any) -> bool:
    for attribute in ("evalsha", "execute_command"):
        method = getattr(client, attribute, None)
        if method is not None and inspect.iscoroutinefunction(method):
            return True
    return False


def _is_noscript(error: BaseException) -> bool:
    return type(error).__name__ == "NoScriptError" or str(error).startswith("NOSCRIPT")


def _describe(error: BaseException) -> str:
    text = str(error)
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


class RedisFleet:
    """The fleet breakers of one service over one Redis: `CircuitBreaker(name, fleet=fleet)`
    makes a call run only if the local breaker and the fleet breaker of that name both admit it.

    `client` is a `redis.Redis` or a `redis.asyncio.Redis` (anything with `evalsha` and `eval`,
    plain or coroutine methods). The fleet options are those of docs/fleet.md, durations in float
    seconds; every instance of a breaker name must use the same ones (else a "mismatch" event).
    A refused option raises `CircuitConfigError` naming it.

    Syncs: with a sync client, a daemon thread (`thread=True`, the default) syncs every breaker
    whose sync is due; `thread=False` leaves it to `sync()`. With an asyncio client, a task on
    the running loop does, started when a breaker is attached or makes a call inside a loop
    (stop it with `await fleet.aclose()`); `await fleet.async_sync()` runs one round by hand.

    Families: `Family(name, fleet=fleet)` gives each member the fleet breaker of its name
    (`<name>/<key>`), made on first use. A fleet breaker no breaker holds that stayed idle
    (closed, nothing to send, no probe) for `idle_ttl` seconds (default 600) is forgotten; one
    used again is made again and rejoins the store's state at its first sync.

    The response timeout is `max(sync_interval, 0.05)` for an asyncio client; a sync client
    should have its own short `socket_timeout` and `socket_connect_timeout` and no retries
    (`retry=None`), as a sync runs on its own thread but one slow sync delays the next.
    """

    def __init__(
        self,
        client: Any,
        *,
        sync_interval: float = 0.25,
        on_store_failure: str = "local",
        window: float = 10.0,
        buckets: int = 10,
        minimum_calls: int = 20,
        failure_rate_threshold: Optional[float] = 0.5,
        slow_call_rate_threshold: Optional[float] = None,
        reset_timeout: float = 30.0,
        backoff_multiplier: float = 2.0,
        max_reset_timeout: float = 300.0,
        half_open_max_calls: int = 1,
        success_threshold: int = 1,
        probe_lease: float = 10.0,
        max_staleness: float = 2.0,
        key_expiry: float = 86400.0,
        thread: Optional[bool] = None,
        idle_ttl: float = 600.0,
    ) -> None:
        if not callable(getattr(client, "evalsha", None)) or not callable(getattr(client, "eval", None)):
            raise TypeError("RedisFleet: `client` must be a redis.Redis or redis.asyncio.Redis (evalsha and eval)")
        self._options: Dict[str, Any] = dict(
            sync_interval=sync_interval,
            on_store_failure=on_store_failure,
            window=window,
            buckets=buckets,
            minimum_calls=minimum_calls,
            failure_rate_threshold=failure_rate_threshold,
            slow_call_rate_threshold=slow_call_rate_threshold,
            reset_timeout=reset_timeout,
            backoff_multiplier=backoff_multiplier,
            max_reset_timeout=max_reset_timeout,
            half_open_max_calls=half_open_max_calls,
            success_threshold=success_threshold,
            probe_lease=probe_lease,
            max_staleness=max_staleness,
            key_expiry=key_expiry,
        )
        _circuit._Fleet("options", **self._options)  # checks every option now
        if isinstance(idle_ttl, bool) or not isinstance(idle_ttl, (int, float)) or not idle_ttl >= 0:
            raise ValueError(f"RedisFleet: `idle_ttl` must be a number of seconds >= 0, got {idle_ttl!r}")
        self._idle_ttl = float(idle_ttl)
        # name -> monotonic time since which every sync round found that fleet forgettable.
        self._idle_since: Dict[str, float] = {}
        self._client = client
        self._is_async = _is_async_client(client)
        if thread is None:
            thread = not self._is_async
        if thread and self._is_async:
            raise ValueError("RedisFleet: `thread=True` needs a sync client; an asyncio client syncs on a task")
        self._sync_interval = float(sync_interval)
        self._timeout = max(self._sync_interval, 0.05)
        self._tick = min(0.01, self._sync_interval / 2)
        self._lock = threading.Lock()
        self._fleets: Dict[str, _circuit._Fleet] = {}
        self._listeners: List[Callable[[FleetEvent], Any]] = []
        self._task: Optional["asyncio.Task[None]"] = None
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None
        if thread:
            self._thread = threading.Thread(target=self._run_thread, name="circuit-fleet-sync", daemon=True)
            self._thread.start()

    # -- attachment (called by CircuitBreaker(..., fleet=self)) --------------------------------

    def _attach(self, name: str) -> _circuit._Fleet:
        with self._lock:
            fleet = self._fleets.get(name)
            if fleet is None:
                fleet = _circuit._Fleet(name, **self._options)
                self._fleets[name] = fleet
                if self._is_async:
                    fleet._arm(self._wake)
        if self._is_async and self._wake():
            fleet._disarm()
        return fleet

    def _wake(self) -> bool:
        """Starts the sync task on the running loop, if there is one; True once it runs."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return False
        if self._stop.is_set():
            return True
        task = self._task
        if task is None or task.done() or task.get_loop() is not loop:
            self._task = loop.create_task(self._run_task(), name="circuit-fleet-sync")
        return True

    @property
    def names(self) -> List[str]:
        """The breaker names attached."""
        with self._lock:
            return list(self._fleets)

    # -- events -------------------------------------------------------------------------------

    def on_event(self, callback: Callable[[FleetEvent], Any]) -> Callable[[], None]:
        """Calls `callback(FleetEvent)` for every fleet event, from the sync thread or task (or
        `sync()`'s caller). An exception it raises is logged on the "circuit" logger and
        swallowed. Returns `remove()`."""
        with self._lock:
            self._listeners.append(callback)

        def remove() -> None:
            with self._lock:
                if callback in self._listeners:
                    self._listeners.remove(callback)

        return remove

    def _deliver(self, name: str, raw: List[_EventTuple]) -> List[FleetEvent]:
        events = [FleetEvent(kind, name, from_state, to_state, epoch, stored) for kind, from_state, to_state, epoch, stored in raw]
        if events:
            with self._lock:
                listeners = list(self._listeners)
            for event in events:
                for callback in listeners:
                    try:
                        callback(event)
                    except Exception:
                        logger.exception("circuit fleet %r: event callback %r raised", name, callback)
        return events

    # -- syncs --------------------------------------------------------------------------------

    def _due(self) -> List[Tuple[_circuit._Fleet, Optional[Tuple[str, List[str]]]]]:
        with self._lock:
            self._forget_idle()
            fleets = list(self._fleets.values())
        return [(fleet, fleet.poll()) for fleet in fleets]

    def _forget_idle(self) -> None:
        """Forgets the fleets no breaker holds (only this dict refers to them) that stayed idle
        (closed, nothing to send, no probe: `_Fleet._idle`) for `idle_ttl`; one used again is
        made again and rejoins the store's state at its first sync. Called with the lock held."""
        now = time.monotonic()
        for name in list(self._fleets):
            fleet = self._fleets[name]
            # The dict, `fleet` and getrefcount's argument: no breaker holds it.
            held = sys.getrefcount(fleet) > 3
            if not held and fleet._idle():
                since = self._idle_since.setdefault(name, now)
                if now - since >= self._idle_ttl:
                    del self._fleets[name]
                    del self._idle_since[name]
            else:
                self._idle_since.pop(name, None)

    def sync(self) -> List[FleetEvent]:
        """One round with a sync client: a round trip for every attached breaker whose sync is
        due (returns at once for the others). Returns the events (also given to the listeners).
        Never raises because of the store."""
        if self._is_async:
            raise TypeError("RedisFleet.sync: the client is an asyncio client; use `await fleet.async_sync()`")
        events: List[FleetEvent] = []
        for fleet, request in self._due():
            if request is None:
                raw = fleet.events()
            else:
                key, args = request
                try:
                    raw = fleet.complete(self._round_trip(key, args))
                except Exception as error:
                    raw = fleet.fail(_describe(error))
            events.extend(self._deliver(fleet.name, raw))
        return events

    def _round_trip(self, key: str, args: List[str]) -> Any:
        try:
            reply = self._client.evalsha(_circuit.FLEET_SCRIPT_SHA1, 1, key, *args)
        except Exception as error:
            if not _is_noscript(error):
                raise
            reply = self._client.eval(_circuit.FLEET_SCRIPT, 1, key, *args)
        if inspect.isawaitable(reply):
            close = getattr(reply, "close", None)
            if close is not None:
                close()
            raise TypeError("the client returned an awaitable: use an asyncio RedisFleet")
        return reply

    async def async_sync(self) -> List[FleetEvent]:
        """`sync()` for an asyncio client (each round trip bounded by the response timeout)."""
        if not self._is_async:
            raise TypeError("RedisFleet.async_sync: the client is a sync client; use `fleet.sync()`")
        events: List[FleetEvent] = []
        for fleet, request in self._due():
            if request is None:
                raw = fleet.events()
            else:
                key, args = request
                try:
                    reply = await asyncio.wait_for(self._async_round_trip(key, args), self._timeout)
                    raw = fleet.complete(reply)
                except asyncio.CancelledError:
                    fleet.fail("cancelled")
                    raise
                except Exception as error:
                    raw = fleet.fail(_describe(error))
            events.extend(self._deliver(fleet.name, raw))
        return events

    async def _async_round_trip(self, key: str, args: List[str]) -> Any:
        try:
            return await self._client.evalsha(_circuit.FLEET_SCRIPT_SHA1, 1, key, *args)
        except Exception as error:
            if not _is_noscript(error):
                raise
            return await self._client.eval(_circuit.FLEET_SCRIPT, 1, key, *args)

    def _run_thread(self) -> None:
        while not self._stop.wait(self._tick):
            try:
                self.sync()
            except Exception:  # never expected: sync() swallows store errors
                logger.exception("circuit fleet: sync failed")

    async def _run_task(self) -> None:
        while not self._stop.is_set():
            try:
                await self.async_sync()
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("circuit fleet: sync failed")
            await asyncio.sleep(self._tick)

    # -- shutdown -----------------------------------------------------------------------------

    def close(self) -> None:
        """Stops the sync thread (a sync client). The breakers keep working on their last
        knowledge of the fleet, then in the degraded mode."""
        self._stop.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join()

    async def aclose(self) -> None:
        """Stops the sync task (an asyncio client) or thread."""
        self._stop.set()
        task, self._task = self._task, None
        if task is not None and not task.done():
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                pass
        thread = self._thread
        if thread is not None:
            await asyncio.get_running_loop().run_in_executor(None, thread.join)

    def __repr__(self) -> str:
        return f"<RedisFleet names={self.names!r} {'asyncio' if self._is_async else 'sync'}>"
