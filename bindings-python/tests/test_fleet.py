"""Fleet breakers (`circuit.RedisFleet`) against a real `redis-server`, started here on a free
loopback port and stopped by PID. A missing `redis-server` FAILS these tests (never skips):
`scripts/need-redis` installs it (Debian package redis-server)."""

from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess
import sys
import time
from typing import Any, Callable, Iterator, List

import pytest
import redis
import redis.asyncio
from redis.backoff import NoBackoff
from redis.asyncio.retry import Retry as AsyncRetry
from redis.retry import Retry

import circuit

SYNC = 0.02


class Server:
    def __init__(self) -> None:
        if shutil.which("redis-server") is None:
            pytest.fail("redis-server is missing: the fleet tests need it (apt-get install redis-server, or scripts/need-redis)")
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port: int = s.getsockname()[1]
        self.process: "subprocess.Popen[bytes] | None" = None
        self.start()

    def start(self) -> None:
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                assert time.monotonic() < deadline, f"redis-server did not start on port {self.port}"
                time.sleep(0.01)

    def stop(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            self.process = None

    def client(self) -> redis.Redis:
        return redis.Redis(
            host="127.0.0.1", port=self.port, socket_timeout=0.5, socket_connect_timeout=0.5, retry=Retry(NoBackoff(), 0)
        )

    def async_client(self) -> redis.asyncio.Redis:
        return redis.asyncio.Redis(
            host="127.0.0.1",
            port=self.port,
            socket_timeout=0.5,
            socket_connect_timeout=0.5,
            retry=AsyncRetry(NoBackoff(), 0),
        )


@pytest.fixture
def server() -> Iterator[Server]:
    s = Server()
    try:
        yield s
    finally:
        s.stop()


OPTIONS: dict[str, Any] = dict(
    sync_interval=SYNC, minimum_calls=10, reset_timeout=0.3, max_reset_timeout=5.0, max_staleness=0.3, probe_lease=5.0
)


def until(condition: Callable[[], bool], step: Callable[[], object], what: str, seconds: float = 5.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"never: {what}"
        step()
        time.sleep(0.002)


def fail() -> None:
    raise ValueError("boom")


# A second instance of the service, in its own process.
CHILD = r"""
import sys, time
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry
import circuit

port, role, name = int(sys.argv[1]), sys.argv[2], sys.argv[3]
client = redis.Redis(host="127.0.0.1", port=port, socket_timeout=0.5, socket_connect_timeout=0.5, retry=Retry(NoBackoff(), 0))
fleet = circuit.RedisFleet(client, sync_interval=0.02, minimum_calls=10, reset_timeout=0.3, max_reset_timeout=5.0,
                           max_staleness=0.3, probe_lease=5.0, thread=False)
breaker = circuit.CircuitBreaker(name, fleet=fleet, failure_threshold=1000)
status = breaker.fleet_status()
while status is None or status.syncs == 0:
    fleet.sync()
    status = breaker.fleet_status()
if role == "trip":
    for _ in range(10):
        try:
            breaker.call(lambda: 1 / 0)
        except ZeroDivisionError:
            pass
    while breaker.fleet_status().state != "open":
        fleet.sync()
        time.sleep(0.001)
    print("tripped", time.monotonic(), flush=True)
elif role == "probe":
    held = []
    deadline = time.monotonic() + 1.5
    while time.monotonic() < deadline:
        fleet.sync()
        try:
            held.append(breaker.allow())
            print("probe", flush=True)
        except circuit.CircuitOpenError as error:
            assert error.fleet, error
        time.sleep(0.003)
    print("done", flush=True)
client.close()
"""


def child(server: Server, role: str, name: str) -> "subprocess.Popen[str]":
    return subprocess.Popen(
        [sys.executable, "-c", CHILD, str(server.port), role, name], stdout=subprocess.PIPE, text=True
    )


def test_a_fleet_breaker_needs_a_name_and_valid_options() -> None:
    with pytest.raises(circuit.CircuitConfigError) as error:
        circuit.RedisFleet(redis.Redis(), minimum_calls=10, reset_timeout=0.0, thread=False)
    assert error.value.option == "reset_timeout"
    with pytest.raises(circuit.CircuitConfigError) as error:
        circuit.RedisFleet(redis.Redis(), on_store_failure="maybe", thread=False)
    assert error.value.option == "on_store_failure"
    fleet = circuit.RedisFleet(redis.Redis(), thread=False)
    with pytest.raises(TypeError, match="needs a name"):
        circuit.CircuitBreaker(fleet=fleet)
    with pytest.raises(circuit.CircuitConfigError):
        circuit.CircuitBreaker("bad{name}", fleet=fleet)
    with pytest.raises(TypeError, match="RedisFleet"):
        circuit.CircuitBreaker("x", fleet=object())
    plain = circuit.CircuitBreaker("plain")
    assert plain.fleet is None and plain.fleet_status() is None
    breaker = circuit.CircuitBreaker("named", fleet=fleet)
    assert breaker.fleet is fleet and fleet.names == ["named"]
    assert circuit.CircuitBreaker("named", fleet=fleet).fleet_status() is not None


def test_a_trip_in_one_process_reaches_the_other(server: Server) -> None:
    client = server.client()
    try:
        fleet = circuit.RedisFleet(client, **OPTIONS, thread=False)
        events: List[circuit.FleetEvent] = []
        fleet.on_event(events.append)
        breaker = circuit.CircuitBreaker("trip", fleet=fleet, failure_threshold=1000)
        until(lambda: breaker.fleet_status().syncs > 0, fleet.sync, "a first sync")  # type: ignore[union-attr]
        assert breaker.call(lambda: 7) == 7
        other = child(server, "trip", "trip")
        until(lambda: breaker.fleet_status().state == "open", fleet.sync, "the trip")  # type: ignore[union-attr]
        seen = time.monotonic()
        out, _ = other.communicate(timeout=10)
        assert other.returncode == 0, out
        tripped = float(out.split()[1])
        assert seen - tripped < SYNC + 0.25, f"learned {seen - tripped:.3f}s after the trip"
        assert [(e.kind, e.to_state) for e in events] == [("transition", "open")]
        with pytest.raises(circuit.CircuitOpenError) as error:
            breaker.call(lambda: 7)
        assert error.value.fleet is True and error.value.state == "open" and error.value.retry_after is not None
        assert breaker.state == circuit.State.CLOSED  # the local breaker is untouched
        with pytest.raises(circuit.CircuitOpenError) as error:
            with breaker:
                pass
        assert error.value.fleet
    finally:
        client.close()


def test_the_probe_cap_holds_across_processes(server: Server) -> None:
    client = server.client()
    try:
        fleet = circuit.RedisFleet(client, **OPTIONS, thread=False)
        breaker = circuit.CircuitBreaker("probes", fleet=fleet, failure_threshold=1000)
        until(lambda: breaker.fleet_status().syncs > 0, fleet.sync, "a first sync")  # type: ignore[union-attr]
        for _ in range(10):
            with pytest.raises(ValueError):
                breaker.call(fail)
        until(lambda: breaker.fleet_status().state == "open", fleet.sync, "the trip")  # type: ignore[union-attr]
        others = [child(server, "probe", "probes") for _ in range(2)]
        outs = [p.communicate(timeout=15)[0] for p in others]
        assert all(p.returncode == 0 for p in others), outs
        probes = sum(out.split().count("probe") for out in outs)
        assert probes == 1, outs
    finally:
        client.close()


@pytest.mark.parametrize("mode", ["local", "open", "closed"])
def test_store_down_then_back(server: Server, mode: str) -> None:
    client = server.client()
    try:
        fleet = circuit.RedisFleet(client, **OPTIONS, on_store_failure=mode, thread=False)
        events: List[str] = []
        fleet.on_event(lambda e: events.append(e.kind))
        breaker = circuit.CircuitBreaker("down", fleet=fleet, failure_threshold=1000)
        until(lambda: breaker.fleet_status().syncs > 0, fleet.sync, "a first sync")  # type: ignore[union-attr]
        server.stop()
        until(lambda: "store_degraded" in events, fleet.sync, "degraded")
        status = breaker.fleet_status()
        assert status is not None and status.degraded and status.sync_failures > 0
        for _ in range(20):
            fleet.sync()  # never raises because of the store
            if mode == "open":
                with pytest.raises(circuit.CircuitOpenError) as error:
                    breaker.call(lambda: 1)
                assert error.value.fleet
            else:
                assert breaker.call(lambda: 1) == 1
        server.start()
        until(lambda: "store_recovered" in events, fleet.sync, "recovered")
        assert breaker.call(lambda: 2) == 2
        assert not breaker.fleet_status().degraded  # type: ignore[union-attr]
    finally:
        client.close()


def test_script_flush_falls_back_to_eval(server: Server) -> None:
    client = server.client()
    try:
        fleet = circuit.RedisFleet(client, **OPTIONS, thread=False)
        breaker = circuit.CircuitBreaker("flush", fleet=fleet)
        until(lambda: breaker.fleet_status().syncs >= 2, fleet.sync, "two syncs")  # type: ignore[union-attr]
        client.script_flush()
        syncs = breaker.fleet_status().syncs  # type: ignore[union-attr]
        until(lambda: breaker.fleet_status().syncs >= syncs + 2, fleet.sync, "two more syncs")  # type: ignore[union-attr]
        assert breaker.fleet_status().sync_failures == 0  # type: ignore[union-attr]
        stats: Any = client.info("commandstats")
        assert stats["cmdstat_eval"]["calls"] >= 2  # the first sync, then after the flush
    finally:
        client.close()


def test_an_options_mismatch_is_reported(server: Server) -> None:
    first, second = server.client(), server.client()
    try:
        a = circuit.RedisFleet(first, **OPTIONS, thread=False)
        b = circuit.RedisFleet(second, **{**OPTIONS, "minimum_calls": 11}, thread=False)
        seen: List[circuit.FleetEvent] = []

        def listener(event: circuit.FleetEvent) -> None:
            seen.append(event)
            raise RuntimeError("a listener's error is swallowed")

        b.on_event(listener)
        ba = circuit.CircuitBreaker("mismatch", fleet=a)
        bb = circuit.CircuitBreaker("mismatch", fleet=b)
        until(lambda: ba.fleet_status().syncs > 0, a.sync, "a first sync")  # type: ignore[union-attr]
        until(lambda: bool(seen), b.sync, "the mismatch")
        assert seen[0].kind == "mismatch" and seen[0].name == "mismatch" and seen[0].stored
        assert bb.call(lambda: 3) == 3  # the degraded mode (local) decides
    finally:
        first.close()
        second.close()


def test_an_asyncio_client_syncs_on_a_task(server: Server) -> None:
    async def main() -> None:
        client = server.async_client()
        fleet = circuit.RedisFleet(client, **OPTIONS)
        try:
            with pytest.raises(TypeError):
                fleet.sync()
            breaker = circuit.CircuitBreaker("async-trip", fleet=fleet, failure_threshold=1000)

            async def ok() -> int:
                return 5

            protected = breaker(ok)
            assert await protected() == 5  # the task runs on this loop from the attach
            deadline = time.monotonic() + 5
            while breaker.fleet_status().syncs == 0:  # type: ignore[union-attr]
                assert time.monotonic() < deadline
                await asyncio.sleep(0.005)
            other = child(server, "trip", "async-trip")
            while breaker.fleet_status().state != "open":  # type: ignore[union-attr]
                assert time.monotonic() < deadline + 5, "never learned of the trip"
                await asyncio.sleep(0.002)
            seen = time.monotonic()
            out, _ = await asyncio.get_running_loop().run_in_executor(None, other.communicate)
            assert other.returncode == 0, out
            assert seen - float(out.split()[1]) < SYNC + 0.25
            with pytest.raises(circuit.CircuitOpenError) as error:
                await protected()
            assert error.value.fleet
            with pytest.raises(circuit.CircuitOpenError):
                async with breaker:
                    pass
        finally:
            await fleet.aclose()
            await client.aclose()

    asyncio.run(main())


def test_family_members_are_fleet_breakers_of_their_own_names(server: Server) -> None:
    client = server.client()
    try:
        with pytest.raises(TypeError, match="needs a name"):
            circuit.Family(fleet=circuit.RedisFleet(client, **OPTIONS, thread=False))
        with pytest.raises(TypeError, match="fleet"):
            circuit.Family("hosts", fleet=object())
        fleet = circuit.RedisFleet(client, **OPTIONS, thread=False)
        family = circuit.Family("hosts", fleet=fleet, failure_threshold=1000)
        assert family.fleet is fleet
        sick, well = family["a.example"], family["b.example"]
        assert sick.fleet is fleet and sick.fleet_status() is not None
        until(lambda: sick.fleet_status().syncs > 0 and well.fleet_status().syncs > 0, fleet.sync, "first syncs")  # type: ignore[union-attr]
        for _ in range(10):
            with pytest.raises(ValueError):
                sick.call(fail)
        until(lambda: sick.fleet_status().state == "open", fleet.sync, "the member's trip")  # type: ignore[union-attr]
        assert sorted(fleet.names) == ["hosts/a.example", "hosts/b.example"]
        with pytest.raises(circuit.CircuitOpenError) as error:
            family["a.example"].call(lambda: 7)
        assert error.value.fleet is True
        assert well.call(lambda: 7) == 7  # another key's fleet breaker is closed
        stored = client.hget("circuit:{hosts/a.example}", "state")
        assert stored == b"open"
    finally:
        client.close()


def test_a_retry_after_failure_counts_on_both_levels(server: Server) -> None:
    client = server.client()
    try:
        fleet = circuit.RedisFleet(client, **OPTIONS, thread=False)
        breaker = circuit.CircuitBreaker("hinted", fleet=fleet, failure_threshold=1000)
        until(lambda: breaker.fleet_status().syncs > 0, fleet.sync, "a first sync")  # type: ignore[union-attr]
        for _ in range(10):
            breaker.record_failure(breaker.allow(), retry_after=5.0)
        until(lambda: breaker.fleet_status().state == "open", fleet.sync, "the trip from hinted failures")  # type: ignore[union-attr]
        assert breaker.state == circuit.State.CLOSED  # 10 failures are below the local threshold
    finally:
        client.close()


def test_an_idle_fleet_breaker_no_breaker_holds_is_forgotten(server: Server) -> None:
    client = server.client()
    try:
        with pytest.raises(ValueError, match="idle_ttl"):
            circuit.RedisFleet(client, **OPTIONS, thread=False, idle_ttl=-1)
        fleet = circuit.RedisFleet(client, **OPTIONS, thread=False, idle_ttl=0)
        family = circuit.Family("idle", fleet=fleet, failure_threshold=1000)
        held = family["held"]
        assert family["gone"].call(lambda: 7) == 7  # its breaker object is dropped at once
        assert sorted(fleet.names) == ["idle/gone", "idle/held"]
        until(lambda: fleet.names == ["idle/held"], fleet.sync, "the idle, unheld fleet breaker forgotten")
        assert held.fleet_status() is not None  # a held one stays, however idle
        # Used again: made again, it rejoins the store's state (the key is still there).
        assert family["gone"].call(lambda: 8) == 8
        assert "idle/gone" in fleet.names
        assert client.exists("circuit:{idle/gone}") == 1
    finally:
        client.close()


def test_a_store_that_lost_the_breaker_resumes_past_every_seen_epoch(server: Server) -> None:
    client = server.client()
    try:
        options = dict(OPTIONS, reset_timeout=60.0, max_reset_timeout=60.0)
        fleets = [circuit.RedisFleet(client, **options, thread=False) for _ in range(2)]
        a, b = (circuit.CircuitBreaker("lost", fleet=f, failure_threshold=1000) for f in fleets)

        def sync() -> None:
            for f in fleets:
                f.sync()

        def both(state: str) -> Callable[[], bool]:
            return lambda: a.fleet_status().state == state and b.fleet_status().state == state  # type: ignore[union-attr]

        until(lambda: b.fleet_status().syncs > 0, sync, "b's first sync")  # type: ignore[union-attr]
        for _ in range(10):
            with pytest.raises(ValueError):
                a.call(fail)
        until(both("open"), sync, "open at both instances")
        seen = a.fleet_status().epoch  # type: ignore[union-attr]
        client.flushall()
        until(both("closed"), sync, "closed again at both instances after the store lost it")
        assert a.fleet_status().epoch > seen  # type: ignore[union-attr]
        assert b.fleet_status().epoch == a.fleet_status().epoch  # type: ignore[union-attr]
        for _ in range(10):
            with pytest.raises(ValueError):
                b.call(fail)
        until(both("open"), sync, "the fleet trips again")
    finally:
        client.close()
