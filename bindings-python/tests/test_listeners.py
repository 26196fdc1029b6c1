"""State-change callbacks: order, fields, re-entrancy, failures that never break anything."""

from __future__ import annotations

import logging
import threading
import time
from typing import Callable, Dict, List

import pytest

import circuit


def test_events_in_order_with_fields() -> None:
    clock = circuit.ManualClock()
    breaker = circuit.CircuitBreaker(failure_threshold=1, reset_timeout=2.0, clock=clock)
    events: List[circuit.StateChange] = []
    breaker.on_state_change(events.append)
    with pytest.raises(ValueError):
        breaker.call(lambda: (_ for _ in ()).throw(ValueError()))
    clock.advance(5.0)
    assert breaker.state == "half_open"
    assert [(e.from_state, e.to_state, e.reason, e.at) for e in events] == [
        (circuit.State.CLOSED, circuit.State.OPEN, "failure_threshold", 0.0),
        (circuit.State.OPEN, circuit.State.HALF_OPEN, "open_elapsed", 2.0),
    ]
    assert [e.generation for e in events] == [1, 2]


def test_callback_may_call_back_into_the_breaker() -> None:
    breaker = circuit.CircuitBreaker(failure_threshold=1)
    seen: List[str] = []

    def on_change(event: circuit.StateChange) -> None:
        seen.append(f"{event.to_state}:{breaker.state}")
        if event.to_state == circuit.State.OPEN:
            breaker.reset()

    breaker.on_state_change(on_change)
    with pytest.raises(ValueError):
        breaker.call(lambda: (_ for _ in ()).throw(ValueError()))
    assert seen == ["open:open", "closed:closed"]
    assert breaker.state == "closed"


def test_failing_callback_is_logged_and_never_breaks_the_call(caplog: pytest.LogCaptureFixture) -> None:
    breaker = circuit.CircuitBreaker(failure_threshold=1)
    good: List[circuit.StateChange] = []

    def bad(event: circuit.StateChange) -> None:
        raise RuntimeError("listener bug")

    empty: Dict[str, int] = {}
    breaker.on_state_change(bad)
    breaker.on_state_change(good.append)
    with caplog.at_level(logging.ERROR, logger="circuit"):
        with pytest.raises(KeyError):
            breaker.call(lambda: empty["x"])
    assert len(good) == 1 and breaker.state == "open"
    assert "listener bug" in caplog.text


def test_unsubscribe() -> None:
    breaker = circuit.CircuitBreaker()
    events: List[circuit.StateChange] = []
    remove = breaker.on_state_change(events.append)
    breaker.force_open()
    remove()
    breaker.reset()
    assert len(events) == 1


def test_listener_removed_by_another_listener_is_not_called_for_the_same_event() -> None:
    breaker = circuit.CircuitBreaker()
    calls: List[str] = []
    remove_b: List[Callable[[], None]] = []

    def a(event: circuit.StateChange) -> None:
        calls.append("a")
        remove_b[0]()

    def b(event: circuit.StateChange) -> None:
        calls.append("b")

    breaker.on_state_change(a)
    remove_b.append(breaker.on_state_change(b))
    breaker.force_open()
    assert calls == ["a"]
    breaker.reset()
    assert calls == ["a", "a"]


def test_unsubscribe_from_another_thread_while_the_listener_runs() -> None:
    # Unsubscribing may wait for a delivery in progress on another thread; that delivery needs the
    # GIL, so the unsubscribe must not hold it while waiting (this would deadlock otherwise).
    breaker = circuit.CircuitBreaker()
    running = threading.Event()
    finished = threading.Event()
    seen: List[str] = []

    def slow(event: circuit.StateChange) -> None:
        running.set()
        for _ in range(20):
            time.sleep(0.001)  # gives up and retakes the GIL
        seen.append(str(event.to_state))
        finished.set()

    remove = breaker.on_state_change(slow)
    deliverer = threading.Thread(target=breaker.force_open)
    deliverer.start()
    assert running.wait(10)
    remover = threading.Thread(target=remove)
    remover.start()
    remover.join(10)
    deliverer.join(10)
    assert not remover.is_alive() and not deliverer.is_alive()
    assert finished.is_set() and seen == ["forced_open"]
    breaker.reset()
    assert seen == ["forced_open"]
