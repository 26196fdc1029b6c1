"""Every fleet conformance vector (tests/conformance/fleet/*.json, README "Fleet vectors") through
the Python API: a `CircuitBreaker(..., fleet=...)` whose fleet runs on the breaker's manual clock,
this test being the host (in place of `RedisFleet`) that polls the core's sans-IO fleet and answers
each request with the vector's hand-built reply."""

from __future__ import annotations

import json
import math
import pathlib
from typing import Any, Dict, List, Optional, Tuple

import pytest

import circuit
from circuit import _circuit

VECTOR_DIR = pathlib.Path(__file__).resolve().parents[2] / "tests" / "conformance" / "fleet"
VECTORS: List[Dict[str, Any]] = [v for p in sorted(VECTOR_DIR.glob("*.json")) for v in json.loads(p.read_text())["vectors"]]


def test_there_are_enough_fleet_vectors() -> None:
    assert len(VECTORS) >= 12


def seconds(options: Dict[str, Any]) -> Dict[str, Any]:
    """Vector options as Python keywords: `_ms` durations in float seconds."""
    return {(k[:-3] if k.endswith("_ms") else k): (v / 1000.0 if k.endswith("_ms") else v) for k, v in options.items()}


class Host:
    """Stands in for `RedisFleet` (the breaker calls `_attach(name)`): one `_Fleet` on `clock`."""

    def __init__(self, clock: circuit.ManualClock, options: Dict[str, Any]) -> None:
        self.clock = clock
        self.options = options
        self.fleet: Optional[_circuit._Fleet] = None

    def _attach(self, name: str) -> _circuit._Fleet:
        self.fleet = _circuit._Fleet(name, clock=self.clock, **self.options)
        return self.fleet


def event_json(event: Tuple[Any, ...]) -> Dict[str, Any]:
    kind, frm, to, epoch, stored = event
    if kind == "transition":
        return {"kind": kind, "from": frm, "to": to, "epoch": epoch}
    if kind == "mismatch":
        return {"kind": kind, "stored": stored}
    return {"kind": kind}


def request_fields(args: List[str]) -> Dict[str, Any]:
    n = int(args[18])
    verdicts = [[int(args[19 + 3 * i]), int(args[20 + 3 * i]), args[21 + 3 * i]] for i in range(n)]
    fields = ("epoch", "calls", "failures", "slow", "want")
    return {**{f: int(args[13 + i]) for i, f in enumerate(fields)}, "verdicts": verdicts}


def check_fields(where: str, expect: Dict[str, Any], actual: Dict[str, Any]) -> None:
    for field, want in expect.items():
        got = actual[field]
        ok = math.isclose(got, want) if isinstance(want, (int, float)) and not isinstance(want, bool) else got == want
        assert ok, f"{where}: {field} is {got!r}, want {want!r}"


def check_events(where: str, step: Dict[str, Any], events: List[Tuple[Any, ...]]) -> None:
    if "events" in step:
        assert [event_json(e) for e in events] == step["events"], where


def record(breaker: circuit.CircuitBreaker, permit: circuit.Permit, outcome: str) -> bool:
    return {"success": breaker.record_success, "failure": breaker.record_failure, "ignored": breaker.record_ignored}[
        outcome
    ](permit)


def fleet_allow(breaker: circuit.CircuitBreaker, step: Dict[str, Any], where: str, permits: Dict[str, Any]) -> None:
    try:
        permit = breaker.allow()
    except circuit.CircuitOpenError as rejected:
        if not rejected.fleet:
            got = "local_rejected"
        else:
            got = "fleet_half_open_full" if rejected.reason == "half_open_full" else "fleet_open"
        assert got == step["expect"], f"{where}: {got} ({rejected})"
        if "retry_after_ms" in step:
            retry = None if rejected.retry_after is None else rejected.retry_after * 1000.0
            want = step["retry_after_ms"]
            if want is None or retry is None:
                assert retry is None and want is None, f"{where}: {retry}"
            else:
                assert math.isclose(retry, want), f"{where}: {retry}"
        return
    got = "fleet_probe" if permit.is_fleet_probe else "admitted"
    assert got == step["expect"], where
    if "permit" in step:
        permits[step["permit"]] = permit
    else:
        breaker.record_ignored(permit)


@pytest.mark.parametrize("vector", VECTORS, ids=[v["name"] for v in VECTORS])
def test_fleet_vector(vector: Dict[str, Any]) -> None:
    clock = circuit.ManualClock()
    config = dict(vector.get("config", {}))
    name = config.pop("name", "vector")
    host = Host(clock, seconds(vector.get("fleet", {})))
    if "invalid_fleet_option" in vector:
        with pytest.raises(circuit.CircuitConfigError) as refused:
            _circuit._Fleet(name, clock=clock, **host.options)
        assert refused.value.option == vector["invalid_fleet_option"]
        return
    breaker = circuit.CircuitBreaker(name, clock=clock, fleet=host, **seconds(config))
    fleet = host.fleet
    assert fleet is not None
    permits: Dict[str, Any] = {}
    pending = False
    for i, step in enumerate(vector["steps"]):
        where = f"{vector['name']} step {i} ({step})"
        op = step["op"]
        if op == "advance":
            clock.advance(step["ms"] / 1000.0)
        elif op == "fleet_poll":
            polled = fleet.poll()
            if step["expect"] is None:
                assert polled is None, where
            else:
                assert polled is not None, f"{where}: a sync is due"
                check_fields(where, step["expect"], request_fields(polled[1]))
                pending = True
        elif op in ("fleet_reply", "fleet_fail"):
            assert pending, f"{where}: no request to answer"
            pending = False
            events = fleet.fail("timeout") if op == "fleet_fail" else fleet.complete(step["reply"])
            check_events(where, step, events)
        elif op == "fleet_tick":
            check_events(where, step, fleet.events())
        elif op == "fleet_status":
            s = breaker.fleet_status()
            assert s is not None
            actual = {"state": s.state, "epoch": s.epoch, "degraded": s.degraded, "syncs": s.syncs}
            check_fields(where, step["expect"], {**actual, "sync_failures": s.sync_failures})
        elif op == "fleet_allow":
            fleet_allow(breaker, step, where, permits)
        elif op == "call":
            for _ in range(step.get("repeat", 1)):
                assert record(breaker, breaker.allow(), step["outcome"]), where
        elif op == "record":
            counted = record(breaker, permits.pop(step["permit"]), step["outcome"])
            assert ("counted" if counted else "stale") == step["expect"], where
        elif op == "state":
            assert breaker.state == step["expect"], where
        elif op == "metrics":
            m = breaker.metrics()
            actual = {"admitted": m.admitted, "ignored": m.ignored, "rejected": m.rejected}
            check_fields(where, step["expect"], {**actual, "successes": m.successes, "failures": m.failures})
        else:
            pytest.fail(f"{where}: unknown op {op}")
