"""Fault injection for `circuit.RedisFleet` against a real `redis-server` (started on a free
loopback port, stopped by PID; a missing one FAILS): SIGSTOP/SIGCONT of the server in each
degraded mode, `CLIENT PAUSE`, kill and restart, and a TCP proxy that adds latency or black-holes
traffic. The syncs run on the fleet's own thread (the default for a sync client) or asyncio task,
the calls on the test's thread: no call fails or blocks because of the store, the configured mode
decides once the store is stale, and `store_degraded` then `store_recovered` mark it."""

from __future__ import annotations

import asyncio
import signal
import socket
import threading
import time
from typing import Any, Callable, List, Optional

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

import circuit
from test_fleet import OPTIONS, Server

CALL_BOUND = 0.05  # seconds: generous for a loaded 2-core machine; a blocked call takes 0.3 s or more


@pytest.fixture
def server() -> Any:
    s = Server()
    try:
        yield s
    finally:
        if s.process is not None:
            s.process.send_signal(signal.SIGCONT)
        s.stop()


class Watch:
    """The fleet's store events, and the calls made through one breaker on this thread."""

    def __init__(self, fleet: circuit.RedisFleet, breaker: circuit.CircuitBreaker, mode: str) -> None:
        self.breaker, self.mode = breaker, mode
        self.events: List[str] = []
        self.admitted = self.refused = 0
        self.slowest = 0.0
        fleet.on_event(lambda e: self.events.append(e.kind) if e.kind.startswith("store_") else None)

    def call(self) -> None:
        began = time.monotonic()
        try:
            assert self.breaker.call(lambda: 1) == 1
            self.admitted += 1
        except circuit.CircuitOpenError as error:
            assert self.mode == "open" and error.fleet, f"a call failed because of the store ({self.mode}): {error!r}"
            self.refused += 1
        took = time.monotonic() - began
        self.slowest = max(self.slowest, took)
        assert took < CALL_BOUND, f"a call took {took:.3f} s ({self.mode})"

    def until(self, condition: Callable[[], bool], what: str, seconds: float = 5.0) -> None:
        deadline = time.monotonic() + seconds
        while not condition():
            assert time.monotonic() < deadline, f"never {what} ({self.mode}); events {self.events}"
            for _ in range(20):
                self.call()
            time.sleep(0.002)

    def status(self) -> circuit.FleetStatus:
        status = self.breaker.fleet_status()
        assert status is not None
        return status


def degrade_and_recover(
    client: redis.Redis, name: str, mode: str, inject: Callable[[], object], heal: Callable[[], object]
) -> Watch:
    fleet = circuit.RedisFleet(client, **{**OPTIONS, "on_store_failure": mode})
    try:
        breaker = circuit.CircuitBreaker(name, fleet=fleet, failure_threshold=1000)
        watch = Watch(fleet, breaker, mode)
        watch.until(lambda: watch.status().syncs > 0, "a first sync")
        assert watch.refused == 0
        inject()
        injected = time.monotonic()
        watch.until(lambda: watch.status().degraded, "degraded")
        assert time.monotonic() - injected >= 0.2, "degraded only after about max_staleness (0.3 s)"
        before = (watch.admitted, watch.refused)
        for _ in range(100):
            watch.call()
        if mode == "open":
            assert watch.refused - before[1] == 100, "open: the fleet level rejects every call"
        else:
            assert watch.admitted - before[0] == 100, f"{mode}: every call runs"
        # A sync client's round trip ends at its socket timeout (0.5 s here), after max_staleness.
        watch.until(lambda: watch.status().sync_failures > 0, "a failed sync")
        heal()
        watch.until(lambda: not watch.status().degraded, "recovered", seconds=8.0)
        watch.until(lambda: len(watch.events) >= 2, "the recovery event")
        assert watch.events == ["store_degraded", "store_recovered"]
        for _ in range(50):
            watch.call()
        assert watch.status().state == "closed"
        return watch
    finally:
        fleet.close()


@pytest.mark.parametrize("mode", ["local", "open", "closed"])
def test_sigstop_of_the_server_applies_the_mode_and_sigcont_recovers(server: Server, mode: str) -> None:
    client = server.client()
    try:
        assert server.process is not None
        process = server.process
        degrade_and_recover(
            client,
            f"stop-{mode}",
            mode,
            lambda: process.send_signal(signal.SIGSTOP),
            lambda: process.send_signal(signal.SIGCONT),
        )
    finally:
        client.close()


def test_client_pause_degrades_without_blocking_calls(server: Server) -> None:
    client, admin = server.client(), server.client()
    try:
        degrade_and_recover(
            client, "pause", "local", lambda: admin.client_pause(1000), lambda: None
        )
    finally:
        client.close()
        admin.close()


def test_a_killed_and_restarted_server_is_rejoined(server: Server) -> None:
    client = server.client()
    try:
        degrade_and_recover(client, "restart", "local", server.stop, server.start)
        assert client.hget("circuit:{restart}", "state") == b"closed"  # the hash is made again
    finally:
        client.close()


class Proxy:
    """A TCP relay in front of the server: `latency` seconds before each chunk is passed on;
    `black_hole` drops everything both ways; `heal()` ends both and resets open connections."""

    def __init__(self, port: int) -> None:
        self.upstream = port
        self.latency = 0.0
        self.black_hole = False
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self.listener.getsockname()[1]
        self.connections: List[socket.socket] = []
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                near, _ = self.listener.accept()
            except OSError:
                return
            far = socket.create_connection(("127.0.0.1", self.upstream))
            with self.lock:
                self.connections += [near, far]
            threading.Thread(target=self._pump, args=(near, far), daemon=True).start()
            threading.Thread(target=self._pump, args=(far, near), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while True:
                data = source.recv(65536)
                if not data:
                    break
                if self.latency:
                    time.sleep(self.latency)
                if not self.black_hole:
                    sink.sendall(data)
        except OSError:
            pass
        finally:
            for s in (source, sink):
                try:
                    s.close()
                except OSError:
                    pass

    def heal(self) -> None:
        self.latency, self.black_hole = 0.0, False
        with self.lock:
            connections, self.connections = self.connections, []
        for s in connections:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def close(self) -> None:
        self.heal()
        self.listener.close()

    def client(self) -> redis.Redis:
        return redis.Redis(
            host="127.0.0.1", port=self.port, socket_timeout=0.2, socket_connect_timeout=0.2, retry=Retry(NoBackoff(), 0)
        )


@pytest.mark.parametrize("fault", ["latency", "black_hole"])
def test_a_proxy_adding_latency_or_black_holing_degrades_and_recovers(server: Server, fault: str) -> None:
    proxy = Proxy(server.port)
    client = proxy.client()

    def inject() -> None:
        if fault == "latency":
            proxy.latency = 0.5  # above the client's 0.2 s socket timeout
        else:
            proxy.black_hole = True

    try:
        degrade_and_recover(client, f"proxy-{fault}", "closed", inject, proxy.heal)
    finally:
        client.close()
        proxy.close()


def test_an_asyncio_client_on_a_stopped_server_applies_open_and_recovers(server: Server) -> None:
    assert server.process is not None
    process = server.process

    async def main() -> None:
        client = server.async_client()
        fleet = circuit.RedisFleet(client, **{**OPTIONS, "on_store_failure": "open"})
        events: List[str] = []
        fleet.on_event(lambda e: events.append(e.kind))
        breaker = circuit.CircuitBreaker("async-stop", fleet=fleet, failure_threshold=1000)

        async def until(condition: Callable[[], bool], what: str) -> None:
            deadline = time.monotonic() + 8
            while not condition():
                assert time.monotonic() < deadline, f"never {what}; events {events}"
                await asyncio.sleep(0.005)

        def status() -> circuit.FleetStatus:
            s = breaker.fleet_status()
            assert s is not None
            return s

        async def call() -> Optional[int]:
            began = time.monotonic()
            try:
                return await breaker.call_async(asyncio.sleep, 0, 1)
            except circuit.CircuitOpenError as error:
                assert error.fleet
                return None
            finally:
                assert time.monotonic() - began < CALL_BOUND

        try:
            assert await call() == 1  # starts the sync task
            await until(lambda: status().syncs > 0, "a first sync")
            process.send_signal(signal.SIGSTOP)
            await until(lambda: "store_degraded" in events, "degraded")
            assert [await call() for _ in range(20)] == [None] * 20  # open: the fleet rejects
            process.send_signal(signal.SIGCONT)
            await until(lambda: "store_recovered" in events, "recovered")
            assert await call() == 1
            assert [e for e in events if e.startswith("store_")] == ["store_degraded", "store_recovered"]
        finally:
            await fleet.aclose()
            await client.aclose()

    asyncio.run(main())
