"""Host-shared breakers (`circuit.HostRegion`, `CircuitBreaker(..., region=...)`; docs/python.md,
"Host-shared breakers"): real processes, started with multiprocessing's spawn and fork methods
and with `os.fork()`, sharing one breaker through a region file under tmp_path. Then the
region's refusals (`RegionError`), and every conformance vector again with each breaker in a
fresh region."""

from __future__ import annotations

import contextlib
import json
import multiprocessing
import os
import pathlib
import pickle
import signal
import stat
import types
import warnings
from multiprocessing.process import BaseProcess
from typing import Any, Dict, Iterator, List, Optional

import pytest

import circuit
import test_conformance as conformance

METHODS = ["spawn", "fork"]
TIMEOUT = 60.0  # seconds any child or barrier may take before the test fails


def context(method: str) -> Any:
    """The multiprocessing context of `method` (typed Any: its factories are not in BaseContext)."""
    return multiprocessing.get_context(method)


@contextlib.contextmanager
def quiet_fork() -> Iterator[None]:
    """Python 3.12+ warns when a multi-threaded process forks (pytest may have helper threads);
    the children here only use the breaker and exit."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        yield


def start(processes: List[BaseProcess]) -> None:
    with quiet_fork():
        for process in processes:
            process.start()


def join(processes: List[BaseProcess]) -> None:
    for process in processes:
        process.join(TIMEOUT)
        if process.is_alive():
            process.kill()
            process.join()
        assert process.exitcode == 0, f"child {process.pid} exited with {process.exitcode}"


def counts(breaker: circuit.CircuitBreaker) -> Dict[str, int]:
    own = breaker.process_counts()
    assert own is not None
    return {"admitted": own.admitted, "failures": own.failures, "successes": own.successes}


# -- children (module level, so that spawn can import them) ------------------------------------


def fail_in_turn(path: str, turns: Any, done: Any, results: Any, attempts: int) -> None:
    """Makes `attempts` calls that fail, one process at a time (the `turns` lock), then, once
    every process has finished, checks that the breaker is open here too."""
    breaker = circuit.CircuitBreaker("payments", region=circuit.HostRegion(path), failure_threshold=5, reset_timeout=600.0)
    admitted = rejected = 0
    for _ in range(attempts):
        with turns:
            try:
                permit = breaker.allow()
            except circuit.CircuitOpenError:
                rejected += 1
            else:
                assert breaker.record_failure(permit)
                admitted += 1
    done.wait(TIMEOUT)
    state = breaker.state.value
    try:
        breaker.allow()
        allowed_after = True
    except circuit.CircuitOpenError:
        allowed_after = False
    results.put((admitted, rejected, state, allowed_after, counts(breaker)))


def race_in_half_open(path: str, ready: Any, finished: Any, results: Any) -> None:
    """Once the parent has moved the region's clock past the open duration, asks four times for a
    permit and keeps every one it gets until every process has asked."""
    breaker = circuit.CircuitBreaker(
        "search", region=circuit.HostRegion(path, manual_clock=True), failure_threshold=1, reset_timeout=10.0,
        half_open_max_calls=2,
    )
    ready.wait(TIMEOUT)
    permits: List[circuit.Permit] = []
    for _ in range(4):
        try:
            permits.append(breaker.allow())
        except circuit.CircuitOpenError as rejected:
            assert rejected.reason == "half_open_full"
    results.put(len(permits))
    finished.wait(TIMEOUT)
    for permit in permits:
        assert permit.is_probe
        breaker.record_ignored(permit)


def trip(path: str) -> None:
    breaker = circuit.CircuitBreaker(
        "inventory", region=circuit.HostRegion(path, manual_clock=True), failure_threshold=1, reset_timeout=10.0
    )
    assert breaker.record_failure(breaker.allow())
    assert breaker.state == circuit.State.OPEN


def hold_probe(path: str, holding: Any) -> None:
    """Takes the only probe and never records it; waits to be killed."""
    breaker = circuit.CircuitBreaker(
        "ledger", region=circuit.HostRegion(path, manual_clock=True), failure_threshold=1, reset_timeout=10.0,
        half_open_max_calls=1,
    )
    permit = breaker.allow()
    holding.put(permit.is_probe)
    signal.pause()


# -- one breaker across processes ----------------------------------------------------------------


@pytest.mark.parametrize("method", METHODS)
def test_four_processes_count_exactly_five_failures_then_all_see_it_open(method: str, tmp_path: pathlib.Path) -> None:
    path = str(tmp_path / "region.circuit")
    ctx = context(method)
    turns, done, results = ctx.Lock(), ctx.Barrier(4), ctx.Queue()
    children = [ctx.Process(target=fail_in_turn, args=(path, turns, done, results, 4)) for _ in range(4)]
    start(children)
    outcomes = [results.get(timeout=TIMEOUT) for _ in children]
    join(children)
    assert sum(o[0] for o in outcomes) == 5, f"admitted failing calls: {outcomes}"
    assert sum(o[1] for o in outcomes) == 16 - 5
    assert all(o[2] == "open" and not o[3] for o in outcomes), outcomes
    assert [o[4]["failures"] for o in outcomes] == [o[0] for o in outcomes], "each process's own counts"
    watcher = circuit.CircuitBreaker("payments", region=circuit.HostRegion(path), failure_threshold=5, reset_timeout=600.0)
    m = watcher.metrics()
    assert (m.state, m.admitted, m.failures, m.opened) == ("open", 5, 5, 1), "region-wide totals"
    assert m.rejected_open == 16 - 5 + 4  # and each child's last look
    assert counts(watcher) == {"admitted": 0, "failures": 0, "successes": 0}


@pytest.mark.parametrize("method", METHODS)
def test_eight_processes_racing_in_half_open_admit_exactly_two(method: str, tmp_path: pathlib.Path) -> None:
    path = str(tmp_path / "region.circuit")
    region = circuit.HostRegion(path, manual_clock=True)
    breaker = circuit.CircuitBreaker(
        "search", region=region, failure_threshold=1, reset_timeout=10.0, half_open_max_calls=2
    )
    assert breaker.record_failure(breaker.allow())
    ctx = context(method)
    ready, finished, results = ctx.Barrier(9), ctx.Barrier(8), ctx.Queue()
    children = [ctx.Process(target=race_in_half_open, args=(path, ready, finished, results)) for _ in range(8)]
    start(children)
    region.advance(10.0)
    ready.wait(TIMEOUT)
    admitted = [results.get(timeout=TIMEOUT) for _ in children]
    join(children)
    assert sum(admitted) == 2, admitted
    m = breaker.metrics()
    assert m.rejected_half_open_full == 8 * 4 - 2
    assert m.state == "half_open", "every probe was recorded ignored: still half-open"


def test_a_listener_hears_another_processs_transition_as_remote_at_its_next_operation(
    tmp_path: pathlib.Path,
) -> None:
    path = str(tmp_path / "region.circuit")
    region = circuit.HostRegion(path, manual_clock=True)
    breaker = circuit.CircuitBreaker("inventory", region=region, failure_threshold=1, reset_timeout=10.0)
    events: List[circuit.StateChange] = []
    breaker.on_state_change(events.append)
    assert breaker.state.value == "closed"
    child = context("spawn").Process(target=trip, args=(path,))
    start([child])
    join([child])
    assert events == [], "delivered lazily, at this process's next operation"
    assert breaker.state == circuit.State.OPEN
    assert [(e.from_state, e.to_state, e.reason, e.remote) for e in events] == [
        (circuit.State.CLOSED, circuit.State.OPEN, "failure_threshold", True)
    ]
    region.advance(10.0)
    probe = breaker.allow()
    assert breaker.record_success(probe)
    assert [(e.from_state.value, e.to_state.value, e.remote) for e in events[1:]] == [
        ("open", "half_open", False),
        ("half_open", "closed", False),
    ]
    assert [e.generation for e in events] == [1, 2, 3]


@pytest.mark.parametrize("method", METHODS)
def test_a_child_killed_holding_the_probe_does_not_wedge_the_breaker(method: str, tmp_path: pathlib.Path) -> None:
    path = str(tmp_path / "region.circuit")
    region = circuit.HostRegion(path, manual_clock=True)
    breaker = circuit.CircuitBreaker(
        "ledger", region=region, failure_threshold=1, reset_timeout=10.0, half_open_max_calls=1
    )
    assert breaker.record_failure(breaker.allow())
    region.advance(10.0)
    ctx = context(method)
    holding = ctx.Queue()
    child = ctx.Process(target=hold_probe, args=(path, holding))
    start([child])
    try:
        assert holding.get(timeout=TIMEOUT) is True
        with pytest.raises(circuit.CircuitOpenError) as rejected:
            breaker.allow()
        assert rejected.value.reason == "half_open_full", "the child holds the only probe"
    finally:
        assert child.pid is not None
        os.kill(child.pid, signal.SIGKILL)
        child.join(TIMEOUT)  # reaped: a zombie still counts as alive
    assert child.exitcode == -signal.SIGKILL
    probe = breaker.allow()
    assert probe.is_probe, "the dead child's probe slot came back"
    assert breaker.record_success(probe)
    assert breaker.state == circuit.State.CLOSED


def test_a_breaker_made_before_fork_keeps_working_in_the_child_and_the_counts_add_up(tmp_path: pathlib.Path) -> None:
    region = circuit.HostRegion(tmp_path / "region.circuit")
    breaker = circuit.CircuitBreaker("profile", region=region, failure_threshold=100)
    for _ in range(2):
        assert breaker.record_success(breaker.allow())
    reading, writing = os.pipe()
    with quiet_fork():
        pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        code = 1
        try:
            os.close(reading)
            for _ in range(3):
                breaker.record_success(breaker.allow())
            breaker.record_failure(breaker.allow())
            report = {"own": counts(breaker), "total_successes": breaker.metrics().successes}
            os.write(writing, json.dumps(report).encode())
            code = 0
        finally:
            os._exit(code)
    os.close(writing)
    with os.fdopen(reading) as pipe:
        report = json.loads(pipe.read() or "null")
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0 and report is not None
    assert report["own"] == {"admitted": 4, "failures": 1, "successes": 3}, "the child's own counts only"
    assert report["total_successes"] == 5
    assert breaker.record_success(breaker.allow())
    assert counts(breaker) == {"admitted": 3, "failures": 0, "successes": 3}
    m = breaker.metrics()
    assert (m.admitted, m.successes, m.failures, m.consecutive_failures) == (7, 6, 1, 0)


# -- the region's API and its refusals --------------------------------------------------------


def test_the_region_file_is_created_with_mode_0600(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "region.circuit"
    region = circuit.HostRegion(path, 8)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert (region.path, region.capacity, region.manual_clock, region.closed) == (str(path), 8, False, False)
    assert "capacity=8" in repr(region)
    again = circuit.HostRegion(str(path), 8)  # joins the existing file
    assert again.capacity == 8


def test_options_that_differ_are_refused_naming_each_option(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "region.circuit"
    circuit.CircuitBreaker("payments", region=circuit.HostRegion(path), failure_threshold=5, reset_timeout=30.0)
    same = circuit.CircuitBreaker("payments", region=circuit.HostRegion(path), failure_threshold=5, reset_timeout=30.0)
    assert same.state == circuit.State.CLOSED, "the same options join the breaker"
    with pytest.raises(circuit.RegionError) as refused:
        circuit.CircuitBreaker("payments", region=circuit.HostRegion(path), failure_threshold=3, reset_timeout=60.0)
    error = refused.value
    assert isinstance(error, circuit.CircuitError)
    assert error.kind == "options_mismatch"
    assert error.path == str(path)
    assert error.options == ("failure_threshold", "reset_timeout")
    assert "failure_threshold" in str(error) and "reset_timeout" in str(error) and str(path) in str(error)
    assert str(error) == error.message
    copy = pickle.loads(pickle.dumps(error))
    assert (type(copy), copy.kind, copy.options, str(copy)) == (circuit.RegionError, error.kind, error.options, str(error))


@pytest.mark.parametrize(
    "content,kind,words",
    [
        (b"this is not a circuit region\n" * 40, "foreign", "not a circuit region"),
        (b"CIRC", "truncated", "truncated"),
    ],
    ids=["garbage", "truncated"],
)
def test_a_corrupt_file_is_refused_with_a_clear_message(
    tmp_path: pathlib.Path, content: bytes, kind: str, words: str
) -> None:
    path = tmp_path / "region.circuit"
    path.write_bytes(content)
    with pytest.raises(circuit.RegionError) as refused:
        circuit.HostRegion(path)
    assert refused.value.kind == kind
    assert words in str(refused.value) and str(path) in str(refused.value), str(refused.value)


def test_other_refusals(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "region.circuit"
    region = circuit.HostRegion(path, 1)
    with pytest.raises(circuit.RegionError) as unnamed:
        circuit.CircuitBreaker(region=region)
    assert unnamed.value.kind == "unnamed" and "needs a name" in str(unnamed.value)
    circuit.CircuitBreaker("a", region=region)
    with pytest.raises(circuit.RegionError) as full:
        circuit.CircuitBreaker("b", region=region)
    assert full.value.kind == "full" and "capacity" in str(full.value)
    with pytest.raises(circuit.RegionError) as layout:
        circuit.HostRegion(path, 2)
    assert layout.value.kind == "layout_mismatch" and "capacity" in str(layout.value)
    with pytest.raises(circuit.RegionError) as clock:
        circuit.HostRegion(path, 1, manual_clock=True)
    assert clock.value.kind == "clock_mismatch"
    with pytest.raises(circuit.RegionError) as host_clock:
        region.advance(1.0)
    assert host_clock.value.kind == "clock_not_manual"
    with pytest.raises(TypeError, match="`clock` and `region`"):
        circuit.CircuitBreaker("c", region=region, clock=circuit.ManualClock())
    with pytest.raises(TypeError, match="`region`"):
        circuit.CircuitBreaker("c", region=str(path))
    with pytest.raises(TypeError, match="`clock` and `region`"):
        circuit.Family("f", region=region, clock=circuit.ManualClock())
    with pytest.raises(TypeError, match="`path`"):
        circuit.HostRegion(42)  # type: ignore[arg-type]
    with pytest.raises(circuit.CircuitConfigError) as capacity:
        circuit.HostRegion(tmp_path / "other.circuit", 0)
    assert capacity.value.option == "capacity"
    with pytest.raises(circuit.RegionError) as invalid:
        circuit.CircuitBreaker("x" * 300, region=circuit.HostRegion(tmp_path / "third.circuit"))
    assert invalid.value.kind == "invalid_name"


def test_breakers_keep_working_after_the_region_is_closed(tmp_path: pathlib.Path) -> None:
    with circuit.HostRegion(tmp_path / "region.circuit", manual_clock=True) as region:
        breaker = circuit.CircuitBreaker("x", region=region, failure_threshold=1, reset_timeout=1.0)
        assert breaker.region is region and breaker.clock is None
        region.advance(0.5)
        assert region.now() == 0.5
    assert region.closed
    region.close()  # twice is fine
    assert breaker.record_failure(breaker.allow())
    assert breaker.state.value == "open"
    with pytest.raises(ValueError, match="closed"):
        region.advance(1.0)
    with pytest.raises(ValueError, match="closed"):
        circuit.CircuitBreaker("y", region=region)
    reopened = circuit.HostRegion(tmp_path / "region.circuit", manual_clock=True)
    reopened.advance(1.0)
    assert breaker.state == circuit.State.HALF_OPEN, "the breaker reads the region's clock"


def test_process_counts_of_a_breaker_of_one_process_are_its_counts() -> None:
    breaker = circuit.CircuitBreaker(failure_threshold=2)
    assert breaker.region is None
    breaker.record_failure(breaker.allow())
    own = breaker.process_counts()
    assert own is not None and (own.admitted, own.failures, own.rejected_open) == (1, 1, 0)
    assert "failures=1" in repr(own)


def test_objects_beyond_sixteen_have_no_counts_of_their_own(tmp_path: pathlib.Path) -> None:
    region = circuit.HostRegion(tmp_path / "region.circuit")
    objects = [circuit.CircuitBreaker("x", region=region) for _ in range(17)]
    assert [o.process_counts() is None for o in objects] == [False] * 16 + [True]
    last = objects[-1]
    assert last.record_success(last.allow())
    assert last.metrics().successes == 1, "the overflow still counts in the totals"


def test_a_breaker_in_a_region_restores_a_saved_state(tmp_path: pathlib.Path) -> None:
    clock = circuit.ManualClock()
    saved = circuit.CircuitBreaker("orders", failure_threshold=1, clock=clock)
    saved.record_failure(saved.allow())
    document = saved.export_state(now=1_000.0)
    region = circuit.HostRegion(tmp_path / "region.circuit", manual_clock=True)
    restored = circuit.CircuitBreaker("orders", region=region, failure_threshold=1, state=document, state_now=1_000.0)
    assert restored.state == circuit.State.OPEN
    joined = circuit.CircuitBreaker("orders", region=circuit.HostRegion(tmp_path / "region.circuit", manual_clock=True),
                                    failure_threshold=1)
    assert joined.state == circuit.State.OPEN, "the restored state is the region's"


def test_state_change_remote_defaults_to_false() -> None:
    event = circuit.StateChange(circuit.State.CLOSED, circuit.State.OPEN, "failure_threshold", 0.0, 1)
    assert event.remote is False
    family_event = circuit.FamilyStateChange(circuit.State.CLOSED, circuit.State.OPEN, "failure_threshold", 0.0, 1, "k")
    assert family_event.remote is False and family_event.key == "k"


# -- every conformance vector, each breaker in a fresh region ------------------------------------


class RegionClock:
    """What the runner takes for its `ManualClock`: a real one (for families, which take no
    region) and the manual clock of every region made for the vector, advanced together."""

    def __init__(self, folder: pathlib.Path) -> None:
        self.manual = circuit.ManualClock()
        self.regions: List[circuit.HostRegion] = []
        self.folder = folder

    def advance(self, seconds: float) -> float:
        for region in self.regions:
            region.advance(seconds)
        return self.manual.advance(seconds)

    def now(self) -> float:
        return self.manual.now()

    def fresh_region(self) -> circuit.HostRegion:
        region = circuit.HostRegion(self.folder / f"region-{len(self.regions)}.circuit", 2, manual_clock=True)
        region.advance(self.manual.now_ns() / 1e9)
        self.regions.append(region)
        return region


class CircuitInRegions(types.ModuleType):
    """The `circuit` module as the conformance runner sees it in the region variant: every
    `CircuitBreaker(...)` is made in a fresh region (named "conformance" if the vector gives no
    name: a breaker in a region needs one), `Family(...)` gets the real manual clock."""

    def __init__(self, folder: pathlib.Path) -> None:
        super().__init__("circuit")
        self.folder = folder
        self.clock: Optional[RegionClock] = None

    def __getattr__(self, name: str) -> Any:
        return getattr(circuit, name)

    def ManualClock(self) -> RegionClock:  # noqa: N802 - stands for the class
        self.clock = RegionClock(self.folder)
        return self.clock

    def CircuitBreaker(self, name: Optional[str] = None, **options: Any) -> circuit.CircuitBreaker:  # noqa: N802
        clock = options.pop("clock")
        assert isinstance(clock, RegionClock)
        return circuit.CircuitBreaker(name or "conformance", region=clock.fresh_region(), **options)

    def Family(self, name: Optional[str] = None, **options: Any) -> circuit.Family:  # noqa: N802
        clock = options.pop("clock")
        assert isinstance(clock, RegionClock)
        return circuit.Family(name, clock=clock.manual, **options)


@pytest.mark.parametrize("vector", conformance.VECTORS, ids=[v["name"] for v in conformance.VECTORS])
def test_vector_in_a_region(vector: Dict[str, Any], tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The runner of test_conformance.py, unchanged, with this module's `circuit`: every vector
    runs, including those that restore a breaker from a state document (`import` steps: the
    restored breaker is made in a fresh region too) and the family vectors (their breaker in a
    region, the family in this process)."""
    monkeypatch.setattr(conformance, "circuit", CircuitInRegions(tmp_path))
    conformance.test_vector(vector)


def test_the_region_variant_makes_breakers_in_regions(tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> None:
    made: List[circuit.CircuitBreaker] = []
    proxy = CircuitInRegions(tmp_path)
    original = proxy.CircuitBreaker

    def record(name: Optional[str] = None, **options: Any) -> circuit.CircuitBreaker:
        made.append(original(name, **options))
        return made[-1]

    monkeypatch.setattr(proxy, "CircuitBreaker", record)
    monkeypatch.setattr(conformance, "circuit", proxy)
    vector = next(v for v in conformance.VECTORS if "family" not in v and "invalid_option" not in v)
    conformance.test_vector(vector)
    assert made and all(b.region is not None for b in made)
    assert proxy.clock is not None and len(proxy.clock.regions) == len(made)
