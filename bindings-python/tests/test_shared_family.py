"""Families in a host region (`circuit.Family(name, region=...)`; docs/python.md, "Host-shared
breakers"): each key's member `<name>/<key>` is one breaker across processes. A child process
(multiprocessing's spawn and fork methods) trips a member; this process's member of that key is
then open and the family's listener hears the transition with the key and `remote=True` at its
next operation on that member; other keys stay closed; a region filled by another process answers
new keys with the overflow breaker; and the refusals."""

from __future__ import annotations

import pathlib
from typing import Any, Dict, List, Optional, Tuple

import pytest

import circuit
from test_shared import METHODS, TIMEOUT, context, join, start

OPTIONS: Dict[str, Any] = {"failure_threshold": 2, "reset_timeout": 5.0}


# -- children (module level, so that spawn can import them) ------------------------------------


def trip_member(path: str, key: str, results: Any) -> None:
    """Makes the family in the region and trips the member of `key` with two failures."""
    family = circuit.Family("api", region=circuit.HostRegion(path, 8, manual_clock=True), max_keys=4, **OPTIONS)
    heard: List[Tuple[Optional[str], str, bool]] = []
    family.on_state_change(lambda e: heard.append((e.key, e.to_state.value, e.remote)))
    member = family.get(key)
    for _ in range(2):
        assert member.record_failure(member.allow())
    results.put((member.name, member.state.value, heard))


def claim_keys(path: str, keys: List[str], results: Any) -> None:
    """Makes the family in the region and gets a member for each of `keys`."""
    family = circuit.Family("api", region=circuit.HostRegion(path, 3), **OPTIONS)
    results.put([family.get(key).name for key in keys])


# -- across processes ----------------------------------------------------------------------------


@pytest.mark.parametrize("method", METHODS)
def test_a_member_tripped_by_another_process_is_open_here_and_heard_as_remote(method: str, tmp_path: pathlib.Path) -> None:
    path = str(tmp_path / "region.circuit")
    region = circuit.HostRegion(path, 8, manual_clock=True)
    family = circuit.Family("api", region=region, max_keys=4, **OPTIONS)
    assert family.region is region and family.clock is None
    events: List[circuit.FamilyStateChange] = []
    family.on_state_change(events.append)
    member = family.get("a.example:443")
    assert member.name == "api/a.example:443"
    assert member.state.value == "closed"
    ctx = context(method)
    results = ctx.Queue()
    child = ctx.Process(target=trip_member, args=(path, "a.example:443", results))
    start([child])
    name, state, heard = results.get(timeout=TIMEOUT)
    join([child])
    assert (name, state, heard) == ("api/a.example:443", "open", [("a.example:443", "open", False)])
    assert events == [], "delivered lazily, at this process's next operation on the member"
    assert member.state.value == "open", "the child's trip"
    assert [(e.key, e.from_state, e.to_state, e.reason, e.remote) for e in events] == [
        ("a.example:443", circuit.State.CLOSED, circuit.State.OPEN, "failure_threshold", True)
    ]
    assert family.get("b.example:443").state == circuit.State.CLOSED, "another key is another breaker"
    with pytest.raises(circuit.CircuitOpenError):
        family["a.example:443"].allow()
    # One clock, the region's: advancing it moves the member to half-open here.
    region.advance(5.0)
    assert member.state.value == "half_open"
    assert [(e.key, e.to_state.value, e.remote) for e in events[1:]] == [("a.example:443", "half_open", False)]
    assert member.record_success(member.allow())
    assert member.state.value == "closed"
    assert family.overflow.name == "api/(overflow)"
    assert family.metrics().members["a.example:443"].state == "closed"


def test_a_region_filled_by_another_process_answers_new_keys_with_the_overflow_breaker(tmp_path: pathlib.Path) -> None:
    path = str(tmp_path / "region.circuit")
    family = circuit.Family("api", region=circuit.HostRegion(path, 3), **OPTIONS)  # takes the overflow's record
    ctx = context("spawn")
    results = ctx.Queue()
    child = ctx.Process(target=claim_keys, args=(path, ["a", "b"], results))
    start([child])
    assert results.get(timeout=TIMEOUT) == ["api/a", "api/b"]
    join([child])
    c = family.get("c")
    assert c.name == "api/(overflow)", "no record left for a new key"
    assert "c" not in family
    assert family.get("a").name == "api/a", "a key another process claimed is joined"
    assert family.metrics().overflowed == 1


def test_members_and_the_overflow_breaker_report_the_family_region(tmp_path: pathlib.Path) -> None:
    region = circuit.HostRegion(tmp_path / "region.circuit", 3)
    family = circuit.Family("api", region=region, max_keys=1, **OPTIONS)
    member = family.get("a")
    assert member.region is region, "a member lives in its family's region"
    assert family["a"].region is region
    assert family.overflow.region is region
    assert family.get("b").name == "api/(overflow)" and family.get("b").region is region
    alone = circuit.Family("api", max_keys=1, **OPTIONS)
    assert alone.region is None and alone.get("a").region is None and alone.overflow.region is None


def test_refusals(tmp_path: pathlib.Path) -> None:
    region = circuit.HostRegion(tmp_path / "one.circuit", 1)
    with pytest.raises(circuit.RegionError) as unnamed:
        circuit.Family(region=region)
    assert unnamed.value.kind == "unnamed"
    circuit.Family("first", region=region)
    with pytest.raises(circuit.CircuitConfigError) as full:
        circuit.Family("second", region=region)
    assert full.value.option == "region" and "full" in str(full.value), str(full.value)
    other = circuit.HostRegion(tmp_path / "other.circuit", 4)
    circuit.Family("api", region=other, **OPTIONS)
    with pytest.raises(circuit.CircuitConfigError) as mismatch:
        circuit.Family("api", region=other, failure_threshold=3)
    assert mismatch.value.option == "region" and "failure_threshold" in str(mismatch.value)
    with pytest.raises(TypeError, match="`region`"):
        circuit.Family("api", region=str(tmp_path / "other.circuit"))
    with pytest.raises(TypeError, match="`clock` and `region`"):
        circuit.Family("api", region=other, clock=circuit.ManualClock())
    closed = circuit.HostRegion(tmp_path / "closed.circuit", 4)
    closed.close()
    with pytest.raises(ValueError, match="closed"):
        circuit.Family("api", region=closed)

