"""Threads: half-open admits exactly half_open_max_calls among 32 racing threads; counters add
up under contention; no Python-level lock is held across the protected call."""

from __future__ import annotations

import threading
from typing import List

import pytest

import circuit


@pytest.mark.parametrize("max_calls", [1, 3])
def test_32_threads_racing_in_half_open(max_calls: int) -> None:
    for _ in range(20):
        clock = circuit.ManualClock()
        breaker = circuit.CircuitBreaker(
            failure_threshold=1, reset_timeout=1.0, half_open_max_calls=max_calls, clock=clock
        )
        with pytest.raises(OSError):
            breaker.call(lambda: (_ for _ in ()).throw(OSError()))
        clock.advance(1.0)
        barrier = threading.Barrier(32)
        admitted: List[circuit.Permit] = []
        lock = threading.Lock()

        def race() -> None:
            barrier.wait()
            try:
                permit = breaker.allow()
            except circuit.CircuitOpenError as error:
                assert error.reason == "half_open_full"
                return
            with lock:
                admitted.append(permit)

        threads = [threading.Thread(target=race) for _ in range(32)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len(admitted) == max_calls
        assert all(p.is_probe for p in admitted)


def test_threads_share_a_breaker_and_every_call_counts() -> None:
    breaker = circuit.CircuitBreaker(failure_threshold=10**6)

    @breaker
    def work(i: int) -> int:
        if i % 7 == 0:
            raise ValueError(i)
        return i

    def run() -> None:
        for i in range(2000):
            try:
                work(i)
            except ValueError:
                pass

    threads = [threading.Thread(target=run) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    m = breaker.metrics()
    assert m.admitted == 16000 and m.successes + m.failures == 16000 and m.failures == 8 * 286


def test_no_lock_is_held_across_the_call() -> None:
    breaker = circuit.CircuitBreaker()
    inside = threading.Event()
    release = threading.Event()

    @breaker
    def slow() -> None:
        inside.set()
        release.wait(5)

    t = threading.Thread(target=slow)
    t.start()
    assert inside.wait(5)
    # Another thread uses the breaker while the first call is still running.
    assert breaker.call(lambda: 42) == 42
    assert breaker.metrics().admitted == 2
    release.set()
    t.join()
