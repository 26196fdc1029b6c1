"""Every conformance vector (tests/conformance/*.json) through the Python API."""

from __future__ import annotations

import json
import math
import pathlib
from typing import Any, Dict, List, Optional, Tuple

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

import circuit
import circuit.prometheus
from circuit import http

VECTOR_DIR = pathlib.Path(__file__).resolve().parents[2] / "tests" / "conformance"


def load_vectors() -> List[Dict[str, Any]]:
    vectors: List[Dict[str, Any]] = []
    for path in sorted(VECTOR_DIR.glob("*.json")):
        vectors.extend(json.loads(path.read_text())["vectors"])
    return vectors


VECTORS = load_vectors()


def test_there_are_enough_vectors() -> None:
    assert len(VECTORS) >= 40


def test_every_file_and_op_is_run() -> None:
    files = {path.name for path in VECTOR_DIR.glob("*.json")}
    assert {"08_http.json", "09_family.json", "10_observability.json", "11_state.json"} <= files
    ops = {step["op"] for vector in VECTORS for step in vector.get("steps", [])}
    assert ops <= KNOWN_OPS, f"ops this runner does not know: {sorted(ops - KNOWN_OPS)}"
    assert ops >= {"http_status", "http_error", "http_response", "http_call", "family_call", "family_events"}
    assert ops >= {"transitions", "prometheus", "export", "import"}


# Every op of tests/conformance/README.md.
KNOWN_OPS = {
    *("allow", "record", "call", "advance", "state", "metrics", "reset", "force_open", "disable", "events"),
    *("http_status", "http_error", "http_response", "http_call"),
    *("family_call", "family_allow", "family_get", "family_contains", "family_len", "family_keys"),
    *("family_metrics", "family_events"),
    *("transitions", "prometheus", "export", "import"),
}


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


def http_verdict(step: Dict[str, Any]) -> http.Verdict:
    """`http_response` / `http_call`: the verdict on `status` (or `error`) with `retry_after`."""
    if "error" in step:
        return http.Verdict(http.classify_error(step["error"]), None)
    return http.classify_response(step["status"], step.get("retry_after"), float(step.get("now_unix_s", 0)))


def make_family(vector: Dict[str, Any], name: Optional[str], opts: Dict[str, Any]) -> circuit.Family:
    spec = vector["family"]
    extra: Dict[str, Any] = {}
    if "max_keys" in spec:
        extra["max_keys"] = spec["max_keys"]
    if "idle_ttl_ms" in spec:
        extra["idle_ttl"] = spec["idle_ttl_ms"] / 1000.0
    return circuit.Family(spec.get("name", name), **extra, **opts)


def check_rejection(step: Dict[str, Any], where: str, allow: Any) -> None:
    """`allow` (a callable) must reject as `step` says."""
    with pytest.raises(circuit.CircuitOpenError) as rejected:
        allow()
    if "reason" in step:
        assert rejected.value.reason == step["reason"], where
    if "retry_after_ms" in step:
        got = seconds_to_ms(rejected.value.retry_after)
        if step["retry_after_ms"] is None:
            assert got is None, where
        else:
            assert got is not None and near(step["retry_after_ms"], got), f"{where}: {got}"


def record(breaker: circuit.CircuitBreaker, permit: circuit.Permit, outcome: str) -> bool:
    return {"success": breaker.record_success, "failure": breaker.record_failure, "ignored": breaker.record_ignored}[
        outcome
    ](permit)


def run_calls(breaker: circuit.CircuitBreaker, clock: circuit.ManualClock, step: Dict[str, Any], where: str) -> None:
    for _ in range(step.get("repeat", 1)):
        permit = breaker.allow()
        if "duration_ms" in step:
            clock.advance(step["duration_ms"] / 1000.0)
        assert record(breaker, permit, step["outcome"]), where


Permits = Dict[str, Tuple[circuit.CircuitBreaker, circuit.Permit]]


def admit(breaker: circuit.CircuitBreaker, step: Dict[str, Any], where: str, permits: Permits) -> None:
    """`allow` / `family_allow` that must admit: keep the permit (and its breaker) or record it ignored."""
    permit = breaker.allow()
    if "probe" in step:
        assert permit.is_probe == step["probe"], where
    if "permit" in step:
        permits[step["permit"]] = (breaker, permit)
    else:
        breaker.record_ignored(permit)


def family_step(
    family: circuit.Family,
    clock: circuit.ManualClock,
    step: Dict[str, Any],
    where: str,
    permits: Permits,
    seen: List[circuit.FamilyStateChange],
) -> None:
    """A `family_*` step. Member wrappers live only inside this call (a reference pins a member);
    a kept permit pins its member, as it should, until a `record` with `drop` releases it."""
    op = step["op"]
    if op == "family_call":
        run_calls(family[step["key"]], clock, step, where)
    elif op == "family_allow":
        if step.get("expect") == "rejected":
            check_rejection(step, where, lambda: family[step["key"]].allow())
        else:
            admit(family[step["key"]], step, where, permits)
    elif op == "family_get":
        member = family[step["key"]]
        if "expect_name" in step:
            assert member.name == step["expect_name"], f"{where}: {member.name}"
        if "expect_state" in step:
            assert member.state == step["expect_state"], f"{where}: {member.state}"
    elif op == "family_contains":
        assert (step["key"] in family) == step["expect"], where
    elif op == "family_len":
        assert len(family) == step["expect"], where
    elif op == "family_keys":
        assert sorted(family.keys()) == step["expect"], f"{where}: {family.keys()}"
    elif op == "family_metrics":
        m = family.metrics()
        counts = {"evicted": m.evicted, "overflowed": m.overflowed, "members": len(m.members)}
        for field, want in step["expect"].items():
            assert counts[field] == want, f"{where}: {field}={counts[field]}"
    elif op == "family_events":
        got = [(e.key, e.from_state.value, e.to_state.value, e.reason, e.at * 1000.0) for e in seen]
        want = [(e["key"], e["from"], e["to"], e["reason"], e["at_ms"]) for e in step["expect"]]
        assert len(got) == len(want), f"{where}: {got}"
        for g, w in zip(got, want):
            assert g[:4] == w[:4] and near(w[4], g[4]), f"{where}: {got}"
        seen.clear()
    else:
        raise AssertionError(f"unknown op {op}")


def http_step(breaker: circuit.CircuitBreaker, step: Dict[str, Any], where: str) -> None:
    op = step["op"]
    if op == "http_status":
        assert http.classify_status(step["status"]) == step["expect"], where
    elif op == "http_error":
        assert http.classify_error(step["error"]) == step["expect"], where
    elif op == "http_response":
        verdict = http_verdict(step)
        assert verdict.outcome == step["expect"], f"{where}: {verdict}"
        got = seconds_to_ms(verdict.retry_after)
        want = step["expect_retry_after_ms"]
        assert (got is None) == (want is None) and (want is None or near(want, got or 0.0)), f"{where}: {verdict}"
    elif op == "http_call":
        permit = breaker.allow()
        outcome, retry_after = http_verdict(step)
        if outcome == "failure" and retry_after is not None:
            assert breaker.record_failure(permit, retry_after=retry_after), where
        else:
            assert record(breaker, permit, outcome), where
    else:
        raise AssertionError(f"unknown op {op}")


Exposition = Tuple[Dict[str, Tuple[str, str]], set[Tuple[str, Tuple[Tuple[str, str], ...], float]]]


def exposition(text: str) -> Exposition:
    """A text exposition parsed by prometheus_client: HELP and TYPE per family, and the set of
    samples (name, labels, value)."""
    heads: Dict[str, Tuple[str, str]] = {}
    samples: set[Tuple[str, Tuple[Tuple[str, str], ...], float]] = set()
    for family in text_string_to_metric_families(text):
        heads[family.name] = (family.documentation, family.type)
        for sample in family.samples:
            samples.add((sample.name, tuple(sorted(sample.labels.items())), sample.value))
    return heads, samples


def prometheus_step(breaker: circuit.CircuitBreaker, family: Optional[circuit.Family], step: Dict[str, Any]) -> None:
    """`prometheus`: the collector's scrape on a fresh registry, against the golden file."""
    registry = CollectorRegistry()
    sources: List[Any] = [breaker] if family is None else [breaker, family]
    collector = circuit.prometheus.register(*sources, registry=registry)
    got = exposition(generate_latest(registry).decode())
    collector.unregister()
    want = exposition((VECTOR_DIR / step["expect_file"]).read_text())
    assert got[0] == want[0], f"HELP/TYPE: {got[0]}"
    assert got[1] == want[1], f"missing: {sorted(want[1] - got[1])}; extra: {sorted(got[1] - want[1])}"


def wall_seconds(step: Dict[str, Any]) -> float:
    return float(step["wall_unix_ms"]) / 1000.0


def import_step(
    breaker: circuit.CircuitBreaker, name: Optional[str], opts: Dict[str, Any], step: Dict[str, Any], where: str
) -> Optional[circuit.CircuitBreaker]:
    """`import`: a breaker built from the document (returned), or a refusal naming the field (None)."""
    text = (VECTOR_DIR / step["file"]).read_text() if "file" in step else step["text"]
    if "replace" in step:
        old, new = step["replace"]
        assert old in text, f"{where}: nothing to replace"
        text = text.replace(old, new)
    if "expect_error_field" not in step:
        return circuit.CircuitBreaker(name, state=text, state_now=wall_seconds(step), **opts)
    with pytest.raises(circuit.StateError) as refused:
        if breaker.metrics().admitted > 0:  # only an unused breaker imports
            breaker._import_state(text, wall_seconds(step))
        else:
            circuit.CircuitBreaker(name, state=text, state_now=wall_seconds(step), **opts)
    assert refused.value.field == step["expect_error_field"], f"{where}: {refused.value!r}"
    assert isinstance(refused.value, ValueError) and str(refused.value), where
    return None


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
    family = make_family(vector, name, opts) if "family" in vector else None
    family_seen: List[circuit.FamilyStateChange] = []
    if family is not None:
        family.on_state_change(family_seen.append)
    permits: Permits = {}

    for index, step in enumerate(vector["steps"]):
        where = f"step {index} {step}"
        op = step["op"]
        if op == "allow":
            if step.get("expect") == "rejected":
                check_rejection(step, where, breaker.allow)
            else:
                admit(breaker, step, where, permits)
        elif op == "record":
            issuer, permit = permits[step["permit"]]
            try:
                answer = "counted" if record(issuer, permit, step["outcome"]) else "stale"
            except circuit.PermitAlreadyRecordedError:
                answer = "already_recorded"
            assert answer == step["expect"], where
            del issuer, permit
            if step.get("drop"):
                del permits[step["permit"]]  # the last reference: the permit no longer pins its member
        elif op == "call":
            run_calls(breaker, clock, step, where)
        elif op.startswith("http_"):
            http_step(breaker, step, where)
        elif op.startswith("family_"):
            assert family is not None, f"{where}: not a family vector"
            family_step(family, clock, step, where, permits, family_seen)
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
        elif op == "transitions":
            got_counts = sorted(breaker.metrics().transitions)
            want_counts = sorted((e["from"], e["to"], e["reason"], e["count"]) for e in step["expect"])
            assert got_counts == want_counts, f"{where}: {got_counts}"
        elif op == "prometheus":
            prometheus_step(breaker, family, step)
        elif op == "export":
            document = json.loads(breaker.export_state(now=wall_seconds(step)))
            golden = json.loads((VECTOR_DIR / step["expect_file"]).read_text())
            assert document == golden, f"{where}: {document}"
        elif op == "import":
            restored = import_step(breaker, name, opts, step, where)
            if restored is not None:
                breaker = restored
                breaker.on_state_change(events.append)
        elif op == "events":
            got_events = [(e.from_state.value, e.to_state.value, e.reason, e.at * 1000.0) for e in events]
            want_events = [(e["from"], e["to"], e["reason"], e["at_ms"]) for e in step["expect"]]
            assert len(got_events) == len(want_events), f"{where}: {got_events}"
            for g, w in zip(got_events, want_events):
                assert g[:3] == w[:3] and near(w[3], g[3]), f"{where}: {got_events}"
            events.clear()
        else:
            raise AssertionError(f"unknown op {op}")
