"""State export and import: `breaker.export_state()` and `CircuitBreaker(..., state=document)`,
round trips, refusals as `circuit.StateError`, and hostile documents (every truncation and seeded
random byte edits): never a crash, always a `StateError` or a working breaker."""

from __future__ import annotations

import json
import pathlib
import pickle
import random
from typing import Any, Dict

import pytest

import circuit

GOLDEN = pathlib.Path(__file__).resolve().parents[2] / "tests" / "conformance" / "golden" / "state-open.json"
T0 = 1_800_000_000.0  # the golden document's export instant, unix seconds
# The configuration the golden document was written with (tests/conformance/11_state.json).
OPTIONS: Dict[str, Any] = dict(
    failure_threshold=2, reset_timeout=10.0, backoff_multiplier=2.0, max_reset_timeout=600.0, jitter_seed=1
)


def payments(clock: circuit.ManualClock, **extra: Any) -> circuit.CircuitBreaker:
    return circuit.CircuitBreaker("payments", clock=clock, **OPTIONS, **extra)


def trip(breaker: circuit.CircuitBreaker) -> None:
    breaker.record_success(breaker.allow())
    for _ in range(2):
        breaker.record_failure(breaker.allow())
    with pytest.raises(circuit.CircuitOpenError):
        breaker.allow()


def test_round_trip_carries_the_outage_over(clock: circuit.ManualClock) -> None:
    old = payments(clock)
    trip(old)
    clock.advance(3.0)
    document = old.export_state(now=T0)
    assert json.loads(document) == json.loads(GOLDEN.read_text())

    other_clock = circuit.ManualClock()
    new = payments(other_clock, state=document, state_now=T0 + 4.0)
    m = new.metrics()
    assert (m.state, m.generation, m.successes, m.failures, m.opened) == ("open", 1, 1, 2, 1)
    assert m.retry_after == pytest.approx(3.0)
    assert m.transitions == [("closed", "open", "failure_threshold", 1)]
    with pytest.raises(circuit.CircuitOpenError) as rejected:
        new.allow()
    assert rejected.value.retry_after == pytest.approx(3.0)
    # And back again: the new breaker's document is its own state.
    again = json.loads(new.export_state(now=T0 + 4.0))
    assert again["open_remaining_ms"] == pytest.approx(3000.0)
    assert again["totals"]["rejected_open"] == 2  # the one carried over and the one just now


def test_bytes_documents_and_the_system_time(clock: circuit.ManualClock) -> None:
    # Exported and imported at the system time; an hour's opening is far from over.
    old = circuit.CircuitBreaker("db", failure_threshold=1, reset_timeout=3600.0, clock=clock)
    old.record_failure(old.allow())
    document = old.export_state()
    assert json.loads(document)["exported_at_unix_ms"] > 1_600_000_000_000
    new = circuit.CircuitBreaker("db", failure_threshold=1, reset_timeout=3600.0, state=document.encode())
    assert new.state == circuit.State.OPEN
    retry_after = new.metrics().retry_after
    assert retry_after is not None and 0.0 < retry_after <= 3600.0


def test_a_refusal_is_a_state_error_and_creates_nothing(clock: circuit.ManualClock) -> None:
    renamed = GOLDEN.read_text().replace('"payments"', '"inventory"')
    with pytest.raises(circuit.StateError) as refused:
        payments(clock, state=renamed, state_now=T0)
    error = refused.value
    assert isinstance(error, ValueError) and isinstance(error, circuit.CircuitError)
    assert error.field == "name" and "`name`" in str(error) and error.message == str(error)
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is circuit.StateError and (copy.field, copy.message) == (error.field, error.message)

    with pytest.raises(circuit.StateError) as refused:
        payments(clock, state="not json", state_now=T0)
    assert refused.value.field is None


def test_only_an_unused_breaker_imports(clock: circuit.ManualClock) -> None:
    breaker = payments(clock)
    breaker.record_success(breaker.allow())
    with pytest.raises(circuit.StateError) as refused:
        breaker._import_state(GOLDEN.read_text(), T0)
    assert refused.value.field == "state"
    assert breaker.metrics().state == "closed" and breaker.metrics().successes == 1


def test_bad_arguments_name_themselves(clock: circuit.ManualClock) -> None:
    with pytest.raises(TypeError, match="the state document must be a str or bytes, got dict"):
        payments(clock, state={"format": "circuit-breaker-state"})
    with pytest.raises(TypeError, match="`state_now` is given without `state`"):
        payments(clock, state_now=T0)
    with pytest.raises(ValueError, match="`state_now` must be finite, non-negative unix seconds"):
        payments(clock, state=GOLDEN.read_text(), state_now=-1.0)
    with pytest.raises(TypeError, match="`state_now` must be unix seconds"):
        payments(clock, state=GOLDEN.read_text(), state_now="now")
    with pytest.raises(ValueError, match="`now` must be finite"):
        payments(clock).export_state(now=float("nan"))
    with pytest.raises(TypeError, match="`now` must be unix seconds"):
        payments(clock).export_state(now=True)
    with pytest.raises(circuit.StateError, match="not valid Unicode") as refused:
        payments(clock, state='{"format": "\ud800"}', state_now=T0)
    assert refused.value.field is None
    with pytest.raises(circuit.StateError, match="not UTF-8"):
        payments(clock, state=b'{"format": "\xff"}', state_now=T0)
    with pytest.raises(TypeError, match="unexpected keyword argument .state."):  # a family takes no state
        circuit.Family("payments", state=GOLDEN.read_text())


def test_an_oversized_document_is_refused(clock: circuit.ManualClock) -> None:
    with pytest.raises(circuit.StateError) as refused:
        payments(clock, state=" " * (64 * 1024 * 1024 + 1), state_now=T0)
    assert refused.value.field is None


def try_import(document: bytes, clock: circuit.ManualClock) -> bool:
    """A hostile document either builds a breaker that works (True) or raises StateError (False)."""
    try:
        breaker = payments(clock, state=document, state_now=T0 + 1.0)
    except circuit.StateError as error:
        assert error.field is None or isinstance(error.field, str)
        assert str(error)
        return False
    m = breaker.metrics()
    assert m.state in circuit._circuit.STATES
    try:
        breaker.record_success(breaker.allow())
    except circuit.CircuitOpenError:
        pass
    json.loads(breaker.export_state(now=T0 + 2.0))
    return True


def test_every_truncation_is_refused(clock: circuit.ManualClock) -> None:
    golden = GOLDEN.read_bytes().rstrip()
    for length in range(len(golden)):
        with pytest.raises(circuit.StateError):
            payments(clock, state=golden[:length], state_now=T0)
    payments(clock, state=golden, state_now=T0)


def test_random_byte_edits_never_crash(clock: circuit.ManualClock) -> None:
    rng = random.Random(14)
    golden = bytearray(GOLDEN.read_bytes())
    compact = bytearray(json.dumps(json.loads(golden)).encode())
    interesting = b'0123456789-.eE"{}[],:nulltruefalse \\\xff'
    accepted = 0
    for round_ in range(3000):
        document = bytearray(golden if round_ % 2 else compact)
        for _ in range(rng.randint(1, 4)):
            at = rng.randrange(len(document))
            action = rng.randrange(4)
            if action == 0:
                document[at] = rng.randrange(256)
            elif action == 1:
                document[at] = interesting[rng.randrange(len(interesting))]
            elif action == 2:
                del document[at]
            else:
                document.insert(at, interesting[rng.randrange(len(interesting))])
        accepted += try_import(bytes(document), clock)
    assert 0 < accepted < 3000  # both paths taken (an edit inside a string or a number may be valid)
