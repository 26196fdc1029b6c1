"""The family under the HTTP integrations: bounded however many origins are hit, an open member
never evicted early, and a permit that no longer pins its member once recorded and dropped (by
reference counting alone: no cycle waits for the garbage collector)."""

from __future__ import annotations

import contextlib
import gc
import random
from typing import Iterator, List

import httpx
import pytest

import circuit
import circuit.httpx
from loopback import RefusingPort


@contextlib.contextmanager
def no_garbage_collector() -> Iterator[None]:
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def test_a_million_random_keys_stay_within_the_bound() -> None:
    clock = circuit.ManualClock()
    family = circuit.Family("scan", max_keys=1000, idle_ttl=60.0, clock=clock, failure_threshold=1)
    pinned = [family[f"down-{i}"] for i in range(10)]  # open and held: never evicted
    for breaker in pinned:
        breaker.record_failure(breaker.allow())
    rng = random.Random(7)
    for i in range(1_000_000):
        family.get("%016x" % rng.getrandbits(64))
        if i % 1000 == 0:
            clock.advance(1.0)
            assert len(family) <= family.max_keys
    assert len(family) <= family.max_keys
    assert all(f"down-{i}" in family for i in range(10))
    assert family.metrics().evicted >= 1_000_000 - family.max_keys


def test_an_open_member_is_never_evicted_early() -> None:
    clock = circuit.ManualClock()
    family = circuit.Family(max_keys=4, idle_ttl=10.0, clock=clock, failure_threshold=1, reset_timeout=30.0)
    down = family["down"]
    down.record_failure(down.allow())
    del down
    for step in range(200):  # far past idle_ttl, and past reset_timeout: due, not yet applied
        clock.advance(1.0)
        family.get(f"k{step}")
        assert "down" in family
    member = family["down"]
    assert member.state == circuit.State.HALF_OPEN and member.metrics().opened == 1


def test_a_recorded_and_dropped_permit_no_longer_pins_its_member() -> None:
    family = circuit.Family(max_keys=1)
    assert family["a"] is not family["a"], "a new wrapper each time: nothing cached pins the member"
    with no_garbage_collector():
        permit = family["a"].allow()
        assert family.get("b").name == family.overflow.name, "an unrecorded permit pins its member"
        family["a"].record_success(permit)
        assert family.get("b").name == family.overflow.name, "the kept permit object still holds it"
        del permit
        assert family.get("b").name == "b", "dropped: `a` can be evicted"
        assert "a" not in family


def test_a_request_pins_its_member_only_while_in_flight() -> None:
    transport = circuit.httpx.CircuitTransport(max_keys=4, failure_threshold=1000)
    ports: List[RefusingPort] = [RefusingPort() for _ in range(12)]
    try:
        with no_garbage_collector(), httpx.Client(transport=transport) as client:
            for port in ports:
                with pytest.raises(httpx.ConnectError):
                    client.get(port.url("/"))
                assert len(transport.family) <= 4
            assert transport.family.metrics().overflowed == 0, "no finished request still pins its member"
            assert transport.family.metrics().evicted == 8
    finally:
        for port in ports:
            port.__exit__()
