"""A real outage, with and without a circuit breaker, side by side.

Two identical HTTP "inventory" services run on loopback and follow the same script: healthy, then
an outage (first slow responses, then errors, then connection refusals), then recovery. Two
identical client services send the same steady stream of requests to them through a bounded
worker pool: one calls its dependency directly (with a timeout), the other through circuit
(consecutive-failure, failure-rate and slow-call rules, backoff, a fallback answer while open). Every number printed
comes from this run.

    python demo/outage.py [--duration 24] [--rate 80] [--workers 8] [--seed 1] [--chart PATH] [--json PATH]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import random
import sys
import time
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Tuple

import circuit

# --------------------------------------------------------------------------------------------
# The script the dependency follows, as fractions of the run.
# --------------------------------------------------------------------------------------------

PHASES: List[Tuple[str, float, float]] = [
    ("healthy", 0.00, 0.20),
    ("slow", 0.20, 0.40),
    ("errors", 0.40, 0.52),
    ("refusing", 0.52, 0.64),
    ("recovered", 0.64, 1.00),
]
OUTAGE = ("slow", "errors", "refusing")


def phase_at(fraction: float) -> str:
    for name, start, end in PHASES:
        if start <= fraction < end:
            return name
    return PHASES[-1][0]


class Dependency:
    """A tiny HTTP server whose behaviour follows PHASES."""

    def __init__(self, start: float, duration: float, rng: random.Random) -> None:
        self.start, self.duration, self.rng = start, duration, rng
        self.server: Optional[asyncio.AbstractServer] = None
        self.port = 0

    def phase(self) -> str:
        return phase_at((time.monotonic() - self.start) / self.duration)

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await reader.readuntil(b"\r\n\r\n")
            phase = self.phase()
            if phase == "slow":
                await asyncio.sleep(self.rng.uniform(1.5, 3.0))
                status = b"200 OK"
            elif phase == "errors":
                await asyncio.sleep(self.rng.uniform(0.001, 0.005))
                status = b"503 Service Unavailable"
            else:
                await asyncio.sleep(self.rng.uniform(0.005, 0.025))
                status = b"200 OK"
            writer.write(b"HTTP/1.1 " + status + b"\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
            await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    async def listen(self) -> None:
        self.server = await asyncio.start_server(self.handle, "127.0.0.1", self.port, reuse_address=True)
        self.port = self.server.sockets[0].getsockname()[1]

    async def follow_script(self) -> None:
        """Stops listening while `refusing` (connections are refused), listens again after."""
        await self.listen()
        while time.monotonic() - self.start < self.duration:
            phase = self.phase()
            if phase == "refusing" and self.server is not None:
                self.server.close()
                self.server = None
            elif phase != "refusing" and self.server is None:
                await self.listen()
            await asyncio.sleep(0.01)
        if self.server is not None:
            self.server.close()


# --------------------------------------------------------------------------------------------
# The client service.
# --------------------------------------------------------------------------------------------


class DependencyError(Exception):
    """The dependency answered with an error status."""


async def http_get(port: int) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(b"GET /stock HTTP/1.1\r\nHost: inventory\r\nConnection: close\r\n\r\n")
        await writer.drain()
        status = await reader.readline()
        if b" 200 " not in status:
            raise DependencyError(status.decode(errors="replace").strip() or "empty response")
        await reader.read()
    finally:
        writer.close()


@dataclass
class Request:
    enqueued: float  # seconds since start
    started: float = 0.0
    done: float = 0.0
    outcome: str = ""  # ok, error, timeout, fallback, shed
    reached_dependency: bool = False

    @property
    def latency(self) -> float:
        return self.done - self.enqueued


@dataclass
class Client:
    label: str
    dependency: Dependency
    breaker: Optional[circuit.CircuitBreaker]
    timeout: float
    requests: List[Request] = field(default_factory=list)
    busy_time: float = 0.0
    states: List[Tuple[float, str]] = field(default_factory=list)

    async def call(self, request: Request, start: float) -> None:
        request.started = time.monotonic() - start
        try:
            if self.breaker is None:
                request.reached_dependency = True
                await asyncio.wait_for(http_get(self.dependency.port), self.timeout)
                request.outcome = "ok"
            else:
                answer = await self.protected(request)
                request.outcome = "fallback" if answer == "cached" else "ok"
        except (asyncio.TimeoutError, TimeoutError):
            request.outcome = "timeout"
        except (OSError, DependencyError):
            request.outcome = "error"
        request.done = time.monotonic() - start
        self.busy_time += request.done - request.started

    async def protected(self, request: Request) -> str:
        assert self.breaker is not None

        async def guarded() -> str:
            request.reached_dependency = True
            await http_get(self.dependency.port)
            return "fresh"

        return await self.breaker.call_async(guarded)


async def run_client(client: Client, start: float, duration: float, rate: float, workers: int, queue_size: int) -> None:
    queue: asyncio.Queue[Request] = asyncio.Queue(maxsize=queue_size)

    async def worker() -> None:
        while True:
            request = await queue.get()
            await client.call(request, start)
            queue.task_done()

    pool = [asyncio.ensure_future(worker()) for _ in range(workers)]
    interval = 1.0 / rate
    next_at = start
    while True:
        now = time.monotonic()
        if now - start >= duration:
            break
        if now >= next_at:
            request = Request(enqueued=now - start)
            client.requests.append(request)
            try:
                queue.put_nowait(request)
            except asyncio.QueueFull:
                request.outcome, request.done = "shed", request.enqueued
            next_at += interval
        await asyncio.sleep(max(0.0, min(next_at - time.monotonic(), 0.01)))
    # Let in-flight work finish (bounded by the client timeout), then stop the pool.
    try:
        await asyncio.wait_for(queue.join(), client.timeout + 1.0)
    except asyncio.TimeoutError:
        pass
    for task in pool:
        task.cancel()
    for request in client.requests:
        if not request.outcome:
            request.outcome, request.done = "unfinished", duration


# --------------------------------------------------------------------------------------------
# Measurements.
# --------------------------------------------------------------------------------------------


def percentile(values: List[float], p: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(math.ceil(p / 100.0 * len(ordered))) - 1)]


def window(duration: float, names: Tuple[str, ...]) -> Tuple[float, float]:
    spans = [(s * duration, e * duration) for n, s, e in PHASES if n in names]
    return min(s for s, _ in spans), max(e for _, e in spans)


def summarize(client: Client, duration: float) -> Dict[str, Any]:
    outage_start, outage_end = window(duration, OUTAGE)
    finished = [r for r in client.requests if r.outcome not in ("shed", "unfinished")]
    failed = [r for r in finished if r.outcome in ("error", "timeout")]
    waited = [r for r in failed if r.reached_dependency]
    # Everything the client threw at the dependency while it was down: answered, timed out or refused.
    load = sum(1 for r in client.requests if r.reached_dependency and outage_start <= r.started < outage_end)
    # Full service: the first request after recovery that starts a run of 20 requests all answered
    # by the dependency itself within 200 ms.
    fresh = sorted((r for r in finished if r.enqueued >= outage_end), key=lambda r: r.enqueued)
    healthy = [r.outcome == "ok" and r.latency < 0.2 for r in fresh]
    full_service = next(
        (fresh[i].enqueued - outage_end for i in range(len(fresh) - 19) if all(healthy[i : i + 20])), None
    )
    latencies = [r.latency for r in finished]
    return {
        "label": client.label,
        "requests": len(client.requests),
        "ok": sum(1 for r in finished if r.outcome == "ok"),
        "fallbacks": sum(1 for r in finished if r.outcome == "fallback"),
        "errors": sum(1 for r in finished if r.outcome == "error"),
        "timeouts": sum(1 for r in finished if r.outcome == "timeout"),
        "shed": sum(1 for r in client.requests if r.outcome == "shed"),
        "waited_on_dead_dependency": len(waited),
        "time_waiting_on_dead_dependency_s": round(sum(r.done - r.started for r in waited), 3),
        "worker_time_wasted_s": round(sum(r.done - r.started for r in failed), 3),
        "load_during_outage": load,
        "recovery_to_full_service_s": None if full_service is None else round(full_service, 3),
        "p50_ms": round(percentile(latencies, 50) * 1000, 1),
        "p99_ms": round(percentile(latencies, 99) * 1000, 1),
    }


# --------------------------------------------------------------------------------------------
# Live view.
# --------------------------------------------------------------------------------------------


def live_line(client: Client, now: float) -> str:
    recent = [r for r in client.requests if r.outcome and r.outcome not in ("shed",) and now - 1.0 <= r.done <= now]
    latencies = [r.latency for r in recent]
    state = client.breaker.state.value if client.breaker is not None else "-"
    m = client.breaker.metrics() if client.breaker is not None else None
    rejected = m.rejected if m is not None else 0
    fallbacks = sum(1 for r in client.requests if r.outcome == "fallback")
    ok = sum(1 for r in recent if r.outcome == "ok")
    return (
        f"{client.label:<12} state={state:<10} {len(recent):>4} req/s ok={ok:>4} rejected={rejected:>5} "
        f"fallbacks={fallbacks:>5} p50={percentile(latencies, 50) * 1000:>7.1f}ms p99={percentile(latencies, 99) * 1000:>7.1f}ms"
    )


async def live_view(clients: List[Client], start: float, duration: float, tty: bool) -> None:
    last_plain = -1
    while True:
        now = time.monotonic() - start
        if now >= duration:
            break
        fraction = now / duration
        if tty:
            bar = "#" * int(fraction * 30)
            lines = [f"[{bar:<30}] {now:5.1f}s / {duration:.0f}s   dependency: {phase_at(fraction)}"]
            lines += [live_line(c, now) for c in clients]
            sys.stdout.write("\x1b[2K" + "\n\x1b[2K".join(lines) + f"\x1b[{len(lines) - 1}A\r")
            sys.stdout.flush()
        elif int(now) != last_plain:
            last_plain = int(now)
            print(f"t={now:5.1f}s dependency={phase_at(fraction)}")
            for c in clients:
                print("  " + live_line(c, now))
            sys.stdout.flush()
        await asyncio.sleep(0.2)
    if tty:
        sys.stdout.write("\n" * (len(clients) + 1))


# --------------------------------------------------------------------------------------------
# Chart (SVG, no dependencies).
# --------------------------------------------------------------------------------------------

COLORS = {"ok": "#2e7d32", "error": "#c62828", "timeout": "#ef6c00", "fallback": "#1565c0"}
STATE_COLORS = {"open": "#ffcdd2", "half_open": "#fff59d", "forced_open": "#ef9a9a", "disabled": "#e0e0e0"}
PHASE_COLORS = {"healthy": "#c8e6c9", "slow": "#ffe0b2", "errors": "#ffcdd2", "refusing": "#ef9a9a", "recovered": "#c8e6c9"}


def chart(clients: List[Client], duration: float, results: List[Dict[str, Any]], path: str) -> None:
    width, panel_h, left, top = 960, 220, 70, 40
    height = top + len(clients) * (panel_h + 50) + 40
    max_latency = max([r.latency for c in clients for r in c.requests if r.outcome not in ("shed", "unfinished")] + [1.0])
    y_max = math.log10(max_latency * 1000 * 1.2)
    y_min = 0.0  # 1 ms

    def x(t: float) -> float:
        return left + (width - left - 20) * t / duration

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
        'font-family="sans-serif" font-size="12">',
        f'<rect width="{width}" height="{height}" fill="white"/>',
        f'<text x="{left}" y="20" font-size="15" font-weight="bold">The same outage, without and with circuit '
        "(request latency by outcome; coloured bands: breaker state)</text>",
    ]
    for index, (client, result) in enumerate(zip(clients, results)):
        y0 = top + index * (panel_h + 50)

        def y(latency: float) -> float:
            value = math.log10(max(latency * 1000, 1.0))
            return y0 + panel_h - panel_h * (value - y_min) / (y_max - y_min)

        parts.append(f'<text x="{left}" y="{y0 - 6}" font-weight="bold">{client.label}: waited on the dead dependency '
                     f'{result["time_waiting_on_dead_dependency_s"]:.1f} s in {result["waited_on_dead_dependency"]} requests; '
                     f'{result["load_during_outage"]} requests sent during the outage</text>')
        for name, start, end in PHASES:
            parts.append(f'<rect x="{x(start * duration):.1f}" y="{y0 + panel_h + 4}" width="{x(end * duration) - x(start * duration):.1f}" '
                         f'height="10" fill="{PHASE_COLORS[name]}"><title>dependency {name}</title></rect>')
        if client.breaker is not None:
            states = client.states + [(duration, "closed")]
            for (t0, state), (t1, _) in zip(states, states[1:]):
                if state in STATE_COLORS:
                    parts.append(f'<rect x="{x(t0):.1f}" y="{y0}" width="{max(x(t1) - x(t0), 1):.1f}" height="{panel_h}" '
                                 f'fill="{STATE_COLORS[state]}" opacity="0.7"><title>breaker {state}</title></rect>')
        parts.append(f'<rect x="{left}" y="{y0}" width="{width - left - 20}" height="{panel_h}" fill="none" stroke="#999"/>')
        for ms in (1, 10, 100, 1000, 10000):
            if math.log10(ms) <= y_max:
                yy = y(ms / 1000)
                parts.append(f'<line x1="{left}" x2="{width - 20}" y1="{yy:.1f}" y2="{yy:.1f}" stroke="#eee"/>')
                parts.append(f'<text x="{left - 6}" y="{yy + 4:.1f}" text-anchor="end">{ms} ms</text>')
        for request in client.requests:
            if request.outcome in COLORS:
                parts.append(f'<circle cx="{x(request.enqueued):.1f}" cy="{y(request.latency):.1f}" r="1.6" '
                             f'fill="{COLORS[request.outcome]}"/>')
        for second in range(0, int(duration) + 1, max(1, int(duration) // 12)):
            parts.append(f'<text x="{x(second):.1f}" y="{y0 + panel_h + 28}" text-anchor="middle">{second}s</text>')
    legend_y = height - 12
    items = list(COLORS.items()) + [("breaker open", STATE_COLORS["open"]), ("breaker half-open", STATE_COLORS["half_open"])]
    for i, (name, color) in enumerate(items):
        parts.append(f'<rect x="{left + i * 140}" y="{legend_y - 10}" width="12" height="12" fill="{color}"/>')
        parts.append(f'<text x="{left + i * 140 + 16}" y="{legend_y}">{name}</text>')
    parts.append("</svg>")
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w") as f:
        f.write("\n".join(parts))


# --------------------------------------------------------------------------------------------


def table(results: List[Dict[str, Any]]) -> str:
    rows = [
        ("requests sent by the client", "requests"),
        ("answered by the dependency", "ok"),
        ("answered by the fallback", "fallbacks"),
        ("errors + timeouts", None),
        ("requests that waited on the dead dependency", "waited_on_dead_dependency"),
        ("... total time they waited (s)", "time_waiting_on_dead_dependency_s"),
        ("worker time wasted on failed calls (s)", "worker_time_wasted_s"),
        ("load sent to the dependency during the outage", "load_during_outage"),
        ("time from recovery to full service (s)", "recovery_to_full_service_s"),
        ("shed (queue full)", "shed"),
        ("latency p50 / p99 (ms)", "latency"),
    ]
    head = f"{'':<48}" + "".join(f"{r['label']:>18}" for r in results)
    lines = [head, "-" * len(head)]
    for title, key in rows:
        cells = []
        for r in results:
            if key is None:
                value: Any = r["errors"] + r["timeouts"]
            elif key == "latency":
                value = f"{r['p50_ms']:.0f} / {r['p99_ms']:.0f}"
            else:
                value = r[key]
            cells.append(f"{'-' if value is None else value:>18}")
        lines.append(f"{title:<48}" + "".join(cells))
    return "\n".join(lines)


async def main_async(args: argparse.Namespace) -> List[Dict[str, Any]]:
    rng = random.Random(args.seed)
    start = time.monotonic() + 0.3
    duration = args.duration
    plain_dep = Dependency(start, duration, random.Random(rng.random()))
    guarded_dep = Dependency(start, duration, random.Random(rng.random()))
    breaker = circuit.CircuitBreaker(
        "inventory",
        failure_threshold=5,
        failure_rate_threshold=0.5,
        slow_call_duration=0.5,
        slow_call_rate_threshold=0.5,
        window_duration=2.0,
        window_buckets=4,
        minimum_calls=5,
        reset_timeout=0.5,
        backoff_multiplier=1.5,
        max_reset_timeout=2.0,
        jitter=0.2,
        jitter_seed=args.seed,
        half_open_max_calls=3,
        timeout=args.timeout,
        fallback=lambda: "cached",
    )
    clients = [
        Client("no breaker", plain_dep, None, args.timeout),
        Client("circuit", guarded_dep, breaker, args.timeout),
    ]
    guarded = clients[1]
    breaker.on_state_change(lambda e: guarded.states.append((time.monotonic() - start, e.to_state.value)))
    guarded.states.append((0.0, "closed"))
    await asyncio.sleep(max(0.0, start - time.monotonic()))
    tasks = [asyncio.ensure_future(d.follow_script()) for d in (plain_dep, guarded_dep)]
    await asyncio.sleep(0.05)
    runners = [run_client(c, start, duration, args.rate, args.workers, args.queue) for c in clients]
    await asyncio.gather(*runners, live_view(clients, start, duration, args.live))
    for task in tasks:
        task.cancel()
    results = [summarize(c, duration) for c in clients]
    chart(clients, duration, results, args.chart)
    return results


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=float, default=24.0, help="seconds of the scenario (default 24)")
    parser.add_argument("--rate", type=float, default=80.0, help="requests per second per client (default 80)")
    parser.add_argument("--workers", type=int, default=8, help="worker pool size per client (default 8)")
    parser.add_argument("--queue", type=int, default=200, help="pending requests before shedding (default 200)")
    parser.add_argument("--timeout", type=float, default=1.0, help="client timeout per call in seconds (default 1.0)")
    parser.add_argument("--seed", type=int, default=1, help="seed for latencies and jitter (default 1)")
    parser.add_argument("--chart", default="target/demo/outage.svg", help="where to write the SVG chart")
    parser.add_argument("--json", help="also write the results as JSON here")
    parser.add_argument("--no-live", dest="live", action="store_false", help="plain lines even on a terminal")
    args = parser.parse_args(argv)
    args.live = args.live and sys.stdout.isatty()
    print(f"circuit demo: {args.duration:.0f} s, {args.rate:.0f} req/s per client, {args.workers} workers each, seed {args.seed}")
    print("dependency script: " + ", ".join(f"{n} {s * args.duration:.0f}-{e * args.duration:.0f}s" for n, s, e in PHASES))
    results = asyncio.run(main_async(args))
    print()
    print(table(results))
    print()
    print(f"chart: {os.path.abspath(args.chart)}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
