"""Memory of circuit breakers as a Python program sees it: bytes per breaker, and a dict of 100,000
breakers keyed by str.

tracemalloc sees only Python's allocator, not the engine's Rust heap, so this measures the growth
of the process's resident set (RSS, /proc/self/statm) while it creates many breakers and keeps
them, each measurement in a fresh interpreter (so no memory freed earlier is reused): the figure
is everything a breaker costs (the Python object, the engine's state, allocator overhead), minus
nothing. Families of breakers sharing one configuration arrive with issue 12; until then a
keyed collection is a dict of breakers.

    python bench/memory.py            prints the figures
    python bench/memory.py --one KIND N   (internal) bytes of RSS growth for N breakers of KIND
"""

from __future__ import annotations

import gc
import os
import subprocess
import sys
from typing import Any, Callable, Dict, List

import circuit

COUNT = 100_000

KINDS: Dict[str, Callable[[int], Any]] = {
    # The default rule: trip after consecutive failures.
    "consecutive": lambda i: circuit.CircuitBreaker(failure_threshold=5),
    # A failure-rate rule over a 100-outcome count window.
    "count_window_100": lambda i: circuit.CircuitBreaker(failure_rate_threshold=0.5, window_size=100),
}


def rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def grow(kind: str, count: int, keyed: bool) -> int:
    """RSS growth in bytes for `count` breakers of `kind` (in a dict keyed by str if `keyed`)."""
    make = KINDS[kind]
    keys = [f"tenant-{i:06d}" for i in range(count)] if keyed else []
    gc.collect()
    before = rss()
    held: Any = {key: make(i) for i, key in enumerate(keys)} if keyed else [make(i) for i in range(count)]
    gc.collect()
    after = rss()
    assert len(held) == count
    return after - before


def measure_one(kind: str, count: int, keyed: bool) -> int:
    args = [sys.executable, os.path.abspath(__file__), "--one", kind, str(count)] + (["--keyed"] if keyed else [])
    return int(subprocess.run(args, check=True, capture_output=True, text=True).stdout.strip())


def figures() -> List[Dict[str, Any]]:
    """The figures, in the `figures` shape of target/bench/<suite>.json."""
    rows: List[Dict[str, Any]] = []
    for kind in KINDS:
        samples = sorted(measure_one(kind, COUNT, keyed=False) for _ in range(3))
        rows.append(
            {
                "name": f"bytes_per_breaker_{kind}",
                "what": f"RSS growth per breaker, {COUNT:,} {kind.replace('_', ' ')} breakers kept in a list "
                "(median of 3 fresh interpreters)",
                "value": round(samples[1] / COUNT),
                "unit": "bytes",
            }
        )
    samples = sorted(measure_one("consecutive", COUNT, keyed=True) for _ in range(3))
    rows.append(
        {
            "name": "dict_of_100000_consecutive_breakers",
            "what": f"RSS growth for {COUNT:,} consecutive breakers in a dict keyed by str (keys included; "
            "families arrive with issue 12)",
            "value": samples[1],
            "unit": "bytes",
        }
    )
    return rows


def main(argv: List[str]) -> int:
    if len(argv) >= 4 and argv[1] == "--one":
        print(grow(argv[2], int(argv[3]), keyed="--keyed" in argv))
        return 0
    for row in figures():
        value = f"{row['value'] / 2**20:,.1f} MiB" if row["value"] > 10 * 2**20 else f"{row['value']:,} B"
        print(f"{row['name']:<40} {value:>12}  {row['what']}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
