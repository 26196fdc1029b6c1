"""The fleet level's cost on the Python call path: the same `@breaker` call with and without a
fleet breaker (`circuit.RedisFleet` over a real `redis-server` started here on a free loopback
port, synced by its thread every 250 ms), in interleaved rounds, in one process run.

    python bench/fleet.py [--quick] [--write ../BENCHMARKS.md]

Writes the section between `<!-- python-fleet:begin -->` and `<!-- python-fleet:end -->`."""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import time
from typing import Callable, Dict, List

import redis

import circuit

BEGIN, END = "<!-- python-fleet:begin -->", "<!-- python-fleet:end -->"
TARGET = 0.95


def start_redis() -> "tuple[subprocess.Popen[bytes], int]":
    if shutil.which("redis-server") is None:
        sys.exit("redis-server is missing: the fleet benchmark needs it (scripts/need-redis)")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 10
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return server, port
        except OSError:
            if time.monotonic() > deadline:
                server.kill()
                sys.exit(f"redis-server did not start on port {port}")
            time.sleep(0.01)


def per_call_ns(fn: Callable[[int], int], calls: int) -> float:
    start = time.perf_counter_ns()
    for i in range(calls):
        fn(i)
    return (time.perf_counter_ns() - start) / calls


def machine() -> str:
    model = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            model = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return f"{model}, {os.cpu_count()} cores, Python {platform.python_version()}"


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--write", help="the BENCHMARKS.md to update")
    args = parser.parse_args()
    calls, rounds = (20_000, 11) if args.quick else (200_000, 31)
    server, port = start_redis()
    try:
        client = redis.Redis(host="127.0.0.1", port=port, socket_timeout=0.5, socket_connect_timeout=0.5)
        fleet = circuit.RedisFleet(client, sync_interval=0.25, thread=True)
        local = circuit.CircuitBreaker("bench-local")
        fleeted = circuit.CircuitBreaker("bench-fleet", fleet=fleet)

        def work(x: int) -> int:
            return x

        candidates: Dict[str, Callable[[int], int]] = {"local": local(work), "fleet": fleeted(work)}
        deadline = time.monotonic() + 10
        while fleeted.fleet_status() is None or fleeted.fleet_status().syncs == 0:  # type: ignore[union-attr]
            if time.monotonic() > deadline:
                sys.exit("the fleet never synced with redis-server")
            fleeted(work)(0)
            time.sleep(0.01)
        samples: Dict[str, List[float]] = {name: [] for name in candidates}
        for name, fn in candidates.items():
            per_call_ns(fn, calls // 10)
        for r in range(rounds):
            for name in (list(candidates) if r % 2 == 0 else list(reversed(candidates))):
                samples[name].append(per_call_ns(candidates[name], calls))
        status = fleeted.fleet_status()
        fleet.close()
    finally:
        server.kill()
        server.wait()
    local_ns, fleet_ns = (statistics.median(samples[n]) for n in ("local", "fleet"))
    value = statistics.median(a / b for a, b in zip(samples["local"], samples["fleet"]))
    print(f"@breaker call: local {local_ns:.1f} ns, with a fleet {fleet_ns:.1f} ns, ratio {value:.3f} (syncs: {status.syncs})")  # type: ignore[union-attr]
    if args.write:
        section = "\n".join(
            [
                BEGIN,
                "## Python: the fleet level on the call path (`bindings-python/bench/fleet.py`)",
                "",
                "Command: `make bench-python` (= `python bench/fleet.py --write ../BENCHMARKS.md`), against a "
                "`redis-server` on loopback started by the script.",
                f"Machine: {machine()}. One run; {rounds} interleaved rounds of {calls:,} calls of `@breaker`-wrapped "
                "`def work(x): return x`; ns/call are medians, the ratio the median of per-round ratios. The fleet "
                "breaker syncs every 250 ms from its thread during the run.",
                "",
                "| candidate | ns/call |",
                "| --- | --- |",
                f"| `@breaker`, local breaker alone | {local_ns:.1f} |",
                f"| `@breaker`, local + fleet breaker (`RedisFleet`, `on_store_failure` local) | {fleet_ns:.1f} |",
                "",
                "| ratio (bigger is better) | value | target | met |",
                "| --- | --- | --- | --- |",
                f"| closed-state call: local ns / local + fleet ns (target: within 5%) | {value:.3f} | {TARGET} | "
                f"{'yes' if value >= TARGET else 'NO'} |",
                END,
            ]
        )
        text = open(args.write).read() if os.path.exists(args.write) else ""
        a, b = text.find(BEGIN), text.find(END)
        text = text[:a] + section + text[b + len(END):] if a >= 0 and b >= 0 else text.rstrip() + "\n\n" + section + "\n"
        with open(args.write, "w") as f:
            f.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
