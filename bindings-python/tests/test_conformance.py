"""Every conformance vector (tests/conformance/*.json) through the Python API."""

from __future__ import annotations

import json
import math
import pathlib
from typing import Any, Dict, List, Optional

import pytest

import circuit

VECTOR_DIR = pathlib.Path(__file__).resolve().parents[2] / "tests" / "conformance"


def load_vectors() -> List[Dict[str, Any]]:
    vectors: List[Dict[str, Any]] = []
    for path in sorted(VECTOR_DIR.glob("*.json")):
        vectors.extend(json.loads(path.read_text())["vectors"])
    return vectors


VECTORS = load_vectors()


def test_there_are_enough_vectors() -> None:
    assert len(VECTORS) >= 40


def options(config: Dict[str, Any], clock: circuit.ManualClock) -> Dict[str, Any]:
    out: Dict[str, Any] = {"clock": clock}
    for key, value in config.items():
        if key.endswith("_ms"):
            out[key[:-3]] = value / 1000.0
        else:
            out[key] = value
    return out


def near(expected: float, actual: float) -> bool:
    return math.isclose(expected, actual, rel_tol=1e-6, abs_tol=1e-6)


def seconds_to_ms(value: Optional[float]) -> Optional[float]:
    return None if value is None else value * 1000.0


@pytest.mark.parametrize("vector", VECTORS, ids=[v["name"] for v in VECTORS])
def test_vector(vector: Dict[str, Any]) -> None:
    clock = circuit.ManualClock()
    opts = options(vector.get("config", {}), clock)
    name = opts.pop("name", None)
    if "invalid_option" in vector:
        with pytest.raises(circuit.CircuitConfigError) as info:
            circuit.CircuitBreaker(name, **opts)
        assert info.value.option == vector["invalid_option"]
        return
    breaker = circuit.CircuitBreaker(name, **opts)
    events: List[circuit.StateChange] = []
    breaker.on_state_change(events.append)
    permits: Dict[str, circuit.Permit] = {}

    def record(permit: circuit.Permit, outcome: str) -> bool:
        return {"success": breaker.record_success, "failure": breaker.record_failure, "ignored": breaker.record_ignored}[
            outcome
        ](permit)

    for index, step in enumerate(vector["steps"]):
        where = f"step {index} {step}"
        op = step["op"]
        if op == "allow":
            if step.get("expect") == "rejected":
                with pytest.raises(circuit.CircuitOpenError) as rejected:
                    breaker.allow()
                if "reason" in step:
                    assert rejected.value.reason == step["reason"], where
                if "retry_after_ms" in step:
                    got = seconds_to_ms(rejected.value.retry_after)
                    if step["retry_after_ms"] is None:
                        assert got is None, where
                    else:
                        assert got is not None and near(step["retry_after_ms"], got), f"{where}: {got}"
                continue
            permit = breaker.allow()
            if "probe" in step:
                assert permit.is_probe == step["probe"], where
            if "permit" in step:
                permits[step["permit"]] = permit
            else:
                breaker.record_ignored(permit)
        elif op == "record":
            permit = permits[step["permit"]]
            try:
                answer = "counted" if record(permit, step["outcome"]) else "stale"
            except circuit.PermitAlreadyRecordedError:
                answer = "already_recorded"
            assert answer == step["expect"], where
        elif op == "call":
            for _ in range(step.get("repeat", 1)):
                permit = breaker.allow()
                if "duration_ms" in step:
                    clock.advance(step["duration_ms"] / 1000.0)
                assert record(permit, step["outcome"]), where
        elif op == "advance":
            clock.advance(step["ms"] / 1000.0)
        elif op == "state":
            assert breaker.state == step["expect"], where
            assert isinstance(breaker.state, circuit.State)
        elif op == "metrics":
            m = breaker.metrics()
            for field, want in step["expect"].items():
                if field == "time_in_state_ms":
                    got_value: Any = m.time_in_state * 1000.0
                elif field == "retry_after_ms":
                    got_value = seconds_to_ms(m.retry_after)
                else:
                    got_value = getattr(m, field)
                if want is None or isinstance(want, str):
                    assert got_value == want, f"{where}: {field}={got_value}"
                else:
                    assert got_value is not None and near(want, got_value), f"{where}: {field}={got_value}"
        elif op in ("reset", "force_open", "disable"):
            getattr(breaker, op)()
        elif op == "events":
            got_events = [(e.from_state.value, e.to_state.value, e.reason, e.at * 1000.0) for e in events]
            want_events = [(e["from"], e["to"], e["reason"], e["at_ms"]) for e in step["expect"]]
            assert len(got_events) == len(want_events), f"{where}: {got_events}"
            for g, w in zip(got_events, want_events):
                assert g[:3] == w[:3] and near(w[3], g[3]), f"{where}: {got_events}"
            events.clear()
        else:
            raise AssertionError(f"unknown op {op}")
