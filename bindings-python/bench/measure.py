"""How the Python benchmarks time their candidates: round-robin rounds (every candidate once per
round, so load from other processes hits them alike), each sample `calls` calls (async: awaits
in one running event loop) on 1 or more threads calling the same callable, timed from the first
thread's start to the last one's end (ns per call = that wall time / all threads' calls, so the
throughput is its inverse). Figures are medians over rounds; a ratio is the median of the
per-round ratios."""

from __future__ import annotations

import asyncio
import statistics
import threading
import time
from typing import Any, Callable, Dict, List

from candidates import Candidates

Samples = Dict[str, List[float]]


def _sync_loop(fn: Callable[[int], Any], calls: int, spans: List[tuple[int, int]]) -> None:
    start = time.perf_counter_ns()
    for i in range(calls):
        fn(i)
    spans.append((start, time.perf_counter_ns()))


def _async_loop(fn: Callable[[int], Any], calls: int, spans: List[tuple[int, int]]) -> None:
    async def loop() -> None:
        start = time.perf_counter_ns()
        for i in range(calls):
            await fn(i)
        spans.append((start, time.perf_counter_ns()))

    asyncio.run(loop())


def sample(kind: str, fn: Callable[[int], Any], calls: int, threads: int) -> float:
    """ns per call of one sample."""
    loop = _sync_loop if kind == "sync" else _async_loop
    spans: List[tuple[int, int]] = []
    if threads == 1:
        loop(fn, calls, spans)
    else:
        workers = [threading.Thread(target=loop, args=(fn, calls, spans)) for _ in range(threads)]
        for w in workers:
            w.start()
        for w in workers:
            w.join()
    return (max(end for _, end in spans) - min(start for start, _ in spans)) / (calls * threads)


def measure(candidates: Candidates, calls: int, rounds: int, threads: int = 1) -> Samples:
    """Per candidate, one sample per round (async candidates make a quarter as many awaits)."""
    samples: Samples = {name: [] for name in candidates}
    for name, (kind, fn) in candidates.items():  # warm-up: caches, lazily created types
        sample(kind, fn, max(1, calls // 20), 1)
    for _ in range(rounds):
        for name, (kind, fn) in candidates.items():
            samples[name].append(sample(kind, fn, calls if kind == "sync" else calls // 4, threads))
    return samples


def median(samples: Samples, name: str) -> float:
    return statistics.median(samples[name])


def ratio(samples: Samples, slow: str, fast: str) -> float:
    """How many times faster `fast` is than `slow`: the median of the per-round ratios."""
    return statistics.median(s / f for s, f in zip(samples[slow], samples[fast]))
