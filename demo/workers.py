"""Pre-fork workers and a dead dependency: one breaker per process, or one breaker per host.

A loopback HTTP dependency (a threaded http.server in this process) answers 200, then 503 for
the outage window, then 200 again, and logs every request it receives. W worker processes
(separate Python interpreters, as gunicorn or uvicorn workers would be) send a steady stream of
requests to it, `--rate` in all split evenly between them, each through a circuit breaker
(failure_threshold=5, reset_timeout=1 s, half_open_max_calls=1), with plain http.client.

Two modes, run one after another for every W:

* `independent`: each worker has its own in-process breaker, so each learns about the outage
  alone (5 failed calls per worker to trip) and each probes on its own (W probes per reset period).
* `shared`: every worker's breaker is the breaker "inventory" of one `circuit.HostRegion` (a file
  in a temporary directory): one state, one failure run, one probe budget for all of them.
* `fleet` (`--modes independent,fleet`, what `make demo-fleet` runs): every worker stands for a
  host of a fleet: its own local breaker, as in `independent`, plus the fleet breaker of the same
  name through one `redis-server` the demo starts on a free loopback port (`circuit.RedisFleet`,
  window 1 s, minimum_calls 10, failure_rate_threshold 0.5, the same reset_timeout, one probe
  fleet-wide). A call runs only if both admit it.

Every number printed is measured by the run, on the dependency's side: "failed calls" are the
requests it received during the outage (each got a 503); "probes" are those it received from one
reset period after the breaker tripped (after every worker's breaker had tripped, in independent
mode) to the end of the outage, and "per reset period" divides them by the number of reset periods
in that span (each holds at most half_open_max_calls probes of one breaker).

    python demo/workers.py [--workers 1,4,8] [--modes independent,shared] [--outage 8] [--rate 75] [--seed 1]
                           [--json PATH] [--quick]
"""

from __future__ import annotations

import argparse
import http.client
import http.server
import json
import math
import os
import random
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from typing import Any, Dict, List, Optional, Tuple

BREAKER_NAME = "inventory"
FAILURE_THRESHOLD = 5
HALF_OPEN_MAX_CALLS = 1

# --------------------------------------------------------------------------------------------
# The dependency (in the parent process).
# --------------------------------------------------------------------------------------------


class Dependency:
    """A threaded HTTP server: 200 before `outage_start`, 503 until `outage_end`, 200 after.

    Times are absolute `time.monotonic()` instants (CLOCK_MONOTONIC, the same in every process
    of the host), set by `arm()` once every worker is ready."""

    def __init__(self) -> None:
        self.outage_start = float("inf")
        self.outage_end = float("inf")
        self.log: List[Tuple[float, int, int]] = []  # (received, status, worker index)
        self._lock = threading.Lock()
        dependency = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"

            def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
                received = time.monotonic()
                down = dependency.outage_start <= received < dependency.outage_end
                status = 503 if down else 200
                try:
                    worker = int(self.headers.get("X-Worker", "-1"))
                except ValueError:
                    worker = -1
                with dependency._lock:
                    dependency.log.append((received, status, worker))
                body = b"down" if down else b"ok"
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Connection", "close")
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:  # quiet
                pass

        class Server(http.server.ThreadingHTTPServer):
            daemon_threads = True
            request_queue_size = 256  # eight workers connecting at once must not hit a full backlog

        self.server = Server(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def arm(self, outage_start: float, outage_end: float) -> None:
        self.outage_start, self.outage_end = outage_start, outage_end

    def received(self) -> List[Tuple[float, int, int]]:
        with self._lock:
            return list(self.log)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


# --------------------------------------------------------------------------------------------
# A worker process.
# --------------------------------------------------------------------------------------------


def worker_main(config: Dict[str, Any]) -> int:
    """One worker: makes its breaker, says "ready", waits for the start instant on stdin, sends
    its share of the requests until the end instant, then prints its counts as JSON."""
    import circuit  # imported here: the parent never needs the native module

    options = dict(
        failure_threshold=FAILURE_THRESHOLD,
        reset_timeout=config["reset_timeout"],
        half_open_max_calls=HALF_OPEN_MAX_CALLS,
    )
    fleet_transitions: List[Tuple[float, str]] = []  # the fleet breaker's, as this host learned them
    fleet: Any = None
    if config["mode"] == "shared":
        region = circuit.HostRegion(config["region"], capacity=8)
        breaker = circuit.CircuitBreaker(BREAKER_NAME, region=region, **options)
    elif config["mode"] == "fleet":
        import redis
        from redis.backoff import NoBackoff
        from redis.retry import Retry

        client = redis.Redis(
            host="127.0.0.1", port=config["redis_port"], socket_timeout=0.25, socket_connect_timeout=0.25,
            retry=Retry(NoBackoff(), 0),
        )
        reset = config["reset_timeout"]
        fleet = circuit.RedisFleet(
            client, window=1.0, minimum_calls=10, failure_rate_threshold=0.5, reset_timeout=reset,
            backoff_multiplier=1.0, max_reset_timeout=reset, half_open_max_calls=HALF_OPEN_MAX_CALLS,
        )
        fleet.on_event(lambda e: fleet_transitions.append((time.monotonic(), e.to_state)) if e.kind == "transition" else None)
        breaker = circuit.CircuitBreaker(config["fleet_name"], fleet=fleet, **options)
        synced = breaker.fleet_status()
        while synced is None or synced.syncs == 0:  # ready once the fleet has synced
            time.sleep(0.01)
            synced = breaker.fleet_status()
    else:
        breaker = circuit.CircuitBreaker(BREAKER_NAME, **options)

    transitions: List[Tuple[float, str]] = []  # this process's own transitions (not remote ones)

    def on_change(event: Any) -> None:
        if not event.remote:
            transitions.append((time.monotonic(), event.to_state.value))

    breaker.on_state_change(on_change)

    print("ready", flush=True)
    start = float(sys.stdin.readline())
    end = start + config["duration"]
    interval = 1.0 / config["rate"]
    next_at = start + config["offset"]
    counts = {"attempted": 0, "ok": 0, "failed": 0, "rejected": 0, "errors": 0}
    headers = {"X-Worker": str(config["index"]), "Connection": "close"}
    while True:
        now = time.monotonic()
        if next_at >= end:
            break
        if next_at > now:
            time.sleep(next_at - now)
        elif now - next_at > 5 * interval:
            next_at = now  # far behind (a loaded host): carry on at the rate, no burst to catch up
        next_at += interval
        counts["attempted"] += 1
        try:
            permit = breaker.allow()
        except circuit.CircuitOpenError:
            counts["rejected"] += 1
            continue
        try:
            connection = http.client.HTTPConnection("127.0.0.1", config["port"], timeout=2.0)
            try:
                connection.request("GET", "/stock", headers=headers)
                response = connection.getresponse()
                response.read()
                status = response.status
            finally:
                connection.close()
        except OSError:
            breaker.record_failure(permit)
            counts["errors"] += 1
            continue
        if status == 200:
            breaker.record_success(permit)
            counts["ok"] += 1
        else:
            breaker.record_failure(permit)
            counts["failed"] += 1
    own = breaker.process_counts()
    if fleet is not None:
        fleet.close()
    result = {
        "index": config["index"],
        **counts,
        "transitions": transitions,
        "fleet_transitions": fleet_transitions,
        "own_admitted": None if own is None else own.admitted,
    }
    print(json.dumps(result), flush=True)
    return 0


# --------------------------------------------------------------------------------------------
# One run: W workers, one mode.
# --------------------------------------------------------------------------------------------


def run_once(
    workers: int, mode: str, args: argparse.Namespace, rng: random.Random, redis_port: Optional[int] = None
) -> Dict[str, Any]:
    dependency = Dependency()
    region_dir = tempfile.mkdtemp(prefix="circuit-workers-")
    region = os.path.join(region_dir, "workers.circuit")
    duration = args.warmup + args.outage + args.after
    per_worker = args.rate / workers
    procs: List[subprocess.Popen[str]] = []
    try:
        for index in range(workers):
            config = {
                "index": index,
                "mode": mode,
                "region": region,
                "port": dependency.port,
                "rate": per_worker,
                # Workers interleave evenly, each shifted by a seeded fraction of the gap.
                "offset": (index + rng.random() * 0.5) / args.rate,
                "duration": duration,
                "reset_timeout": args.reset_timeout,
                "redis_port": redis_port,
                # A fresh fleet breaker per run: the store outlives the runs.
                "fleet_name": f"{BREAKER_NAME}-{workers}-{os.getpid()}-{len(RUN_NAMES)}",
            }
            procs.append(
                subprocess.Popen(
                    [sys.executable, os.path.abspath(__file__), "--worker", json.dumps(config)],
                    stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                )
            )
        for proc in procs:
            assert proc.stdout is not None
            line = proc.stdout.readline()
            if line.strip() != "ready":
                raise RuntimeError(f"a worker failed to start ({line.strip()!r}); see its stderr above")
        start = time.monotonic() + 0.2
        outage_start = start + args.warmup
        outage_end = outage_start + args.outage
        dependency.arm(outage_start, outage_end)
        for proc in procs:
            assert proc.stdin is not None
            proc.stdin.write(f"{start!r}\n")
            proc.stdin.flush()
        reports = []
        for proc in procs:
            out, _ = proc.communicate(timeout=duration + 60)
            if proc.returncode != 0:
                raise RuntimeError(f"a worker exited with status {proc.returncode}")
            reports.append(json.loads(out.strip().splitlines()[-1]))
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        dependency.close()
        shutil.rmtree(region_dir, ignore_errors=True)
    RUN_NAMES.append(mode)
    return measure(workers, mode, args, dependency.received(), reports, start, outage_start, outage_end)


RUN_NAMES: List[str] = []


class RedisServer:
    """A `redis-server` on a free loopback port for the fleet runs, stopped by PID."""

    def __init__(self) -> None:
        import socket

        if shutil.which("redis-server") is None:
            raise SystemExit("the fleet mode needs redis-server (apt-get install redis-server, or scripts/need-redis)")
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                if time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(f"redis-server did not start on port {self.port}")
                time.sleep(0.01)

    def stop(self) -> None:
        self.process.kill()
        self.process.wait()


def measure(
    workers: int,
    mode: str,
    args: argparse.Namespace,
    log: List[Tuple[float, int, int]],
    reports: List[Dict[str, Any]],
    start: float,
    outage_start: float,
    outage_end: float,
) -> Dict[str, Any]:
    reset = args.reset_timeout
    during = sorted(t for t, _, _ in log if outage_start <= t < outage_end)
    # The trip instant: one breaker in shared mode (the first worker that saw it open, its own
    # transition); W breakers in independent mode (the last of them to open); in fleet mode the
    # fleet breaker's (the first host that learned it), after which only fleet probes get through.
    key = "fleet_transitions" if mode == "fleet" else "transitions"
    first_opens = [next((t for t, s in r[key] if s == "open"), None) for r in reports]
    opened = [t for t in first_opens if t is not None and outage_start <= t < outage_end]
    trip: Optional[float] = None
    if opened and (mode != "independent" or len(opened) == len(reports)):
        trip = max(opened) if mode == "independent" else min(opened)
    probes: Optional[int] = None
    per_period: Optional[float] = None
    max_in_period: Optional[int] = None
    if trip is not None and trip + reset < outage_end:
        # A probe comes at the earliest one reset period after the trip: anything the dependency
        # received before that was part of the failure run (or in flight when it tripped).
        window = [t for t in during if t >= trip + reset]
        probes = len(window)
        # Reset periods from there to the end of the outage (the last one may be cut short):
        # with one breaker, each holds at most half_open_max_calls probes.
        periods = max(1, math.ceil((outage_end - trip - reset) / reset - 1e-9))
        buckets = [0] * periods
        for t in window:
            buckets[min(periods - 1, int((t - trip - reset) / reset))] += 1
        per_period = probes / periods
        max_in_period = max(buckets)
    # Back to closed: the first close of every breaker after the outage ended.
    closes = [next((t for t, s in r["transitions"] if s == "closed" and t >= outage_end), None) for r in reports]
    closed_after: Optional[float] = None
    relevant = [t for t in closes if t is not None]
    if mode == "fleet":
        # Back to closed: the fleet breaker's close, as the last host learned it.
        closes = [next((t for t, s in r["fleet_transitions"] if s == "closed" and t >= outage_end), None) for r in reports]
        relevant = [t for t in closes if t is not None]
    if relevant and (mode == "shared" or len(relevant) == len(reports)):
        closed_after = (min(relevant) if mode == "shared" else max(relevant)) - outage_end
    return {
        "workers": workers,
        "mode": mode,
        "requests": len(log),
        "failed_calls": len(during),
        "trip_calls": None if probes is None else len(during) - probes,
        "probes": probes,
        "probes_per_reset_period": None if per_period is None else round(per_period, 2),
        "max_probes_in_one_period": max_in_period,
        "rejected": sum(r["rejected"] for r in reports),
        "answered_ok": sum(r["ok"] for r in reports),
        "errors": sum(r["errors"] for r in reports),
        "attempted": sum(r["attempted"] for r in reports),
        "trip_after_s": None if trip is None else round(trip - outage_start, 3),
        "closed_after_outage_s": None if closed_after is None else round(closed_after, 3),
    }


# --------------------------------------------------------------------------------------------
# Report.
# --------------------------------------------------------------------------------------------

COLUMNS = [
    ("workers", "workers", "{}"),
    ("mode", "mode", "{}"),
    ("failed calls", "failed_calls", "{}"),
    ("to trip", "trip_calls", "{}"),
    ("probes", "probes", "{}"),
    ("probes/period", "probes_per_reset_period", "{:.2f}"),
    ("max/period", "max_probes_in_one_period", "{}"),
    ("rejected fast", "rejected", "{}"),
    ("closed again", "closed_after_outage_s", "+{:.2f}s"),
]


def table(runs: List[Dict[str, Any]]) -> str:
    cells = [[("-" if r[key] is None else fmt.format(r[key])) for _, key, fmt in COLUMNS] for r in runs]
    widths = [max(len(title), *(len(row[i]) for row in cells)) for i, (title, _, _) in enumerate(COLUMNS)]
    head = "  ".join(title.rjust(w) for (title, _, _), w in zip(COLUMNS, widths))
    lines = [head, "-" * len(head)]
    lines += ["  ".join(cell.rjust(w) for cell, w in zip(row, widths)) for row in cells]
    return "\n".join(lines)


def conclusion(runs: List[Dict[str, Any]]) -> str:
    def find(workers: int, mode: str) -> Optional[Dict[str, Any]]:
        return next((r for r in runs if r["workers"] == workers and r["mode"] == mode), None)

    def probes(r: Dict[str, Any]) -> str:
        value = r["probes_per_reset_period"]
        return "-" if value is None else f"{value:.2f}"

    counts = sorted({r["workers"] for r in runs})
    most, fewest = counts[-1], counts[0]
    fleet, alone_runs = find(most, "fleet"), find(most, "independent")
    if fleet is not None and alone_runs is not None:
        return (
            f"fleet: {most} hosts sent {fleet['failed_calls']} failed calls and {probes(fleet)} probes per reset period; "
            f"independent: {alone_runs['failed_calls']} and {probes(alone_runs)}"
        )
    base = find(fewest, "independent") or find(fewest, "shared")
    shared, independent = find(most, "shared"), find(most, "independent")
    if base is None or shared is None or independent is None or most == fewest:
        return "conclusion: run at least two worker counts in both modes to compare"
    alone = "1 worker alone" if fewest == 1 else f"{fewest} workers"
    return (
        f"shared: {most} workers sent {shared['failed_calls']} failed calls and {probes(shared)} probes per reset period "
        f"({alone}: {base['failed_calls']} and {probes(base)}); "
        f"independent: {independent['failed_calls']} and {probes(independent)}"
    )


def parse_workers(text: str) -> List[int]:
    values = [int(part) for part in text.split(",") if part.strip()]
    if not values or any(v < 1 for v in values):
        raise argparse.ArgumentTypeError("a comma-separated list of worker counts >= 1, e.g. 1,4,8")
    return values


QUICK = {"workers": [1, 4], "outage": 2.5, "warmup": 0.5, "after": 0.8, "rate": 60.0, "reset_timeout": 0.5}
FULL = {"workers": [1, 4, 8], "outage": 8.0, "warmup": 1.0, "after": 1.3, "rate": 75.0, "reset_timeout": 1.0}


def main(argv: Optional[List[str]] = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--worker"]:
        return worker_main(json.loads(argv[1]))
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workers", type=parse_workers, help="worker counts to run (default 1,4,8; --quick: 1,4)")
    parser.add_argument("--outage", type=float, help="seconds the dependency answers 503 (default 8; 10 is issue 13's setting; --quick: 2.5)")
    parser.add_argument("--warmup", type=float, help="healthy seconds before the outage (default 1; --quick: 0.5)")
    parser.add_argument("--after", type=float, help="healthy seconds after the outage (default 1.3; --quick: 0.8)")
    parser.add_argument("--rate", type=float, help="requests per second, all workers together (default 75; --quick: 60)")
    parser.add_argument("--reset-timeout", type=float, help="the breakers' reset_timeout, s (default 1; --quick: 0.5)")
    parser.add_argument("--modes", default="independent,shared", help="modes to run, of independent, shared, fleet (default independent,shared)")
    parser.add_argument("--seed", type=int, default=1, help="seed of the workers' schedule offsets (default 1)")
    parser.add_argument("--quick", action="store_true", help="a short run (about 15 s) for the tests")
    parser.add_argument("--json", help="also write the results as JSON here")
    args = parser.parse_args(argv)
    defaults = QUICK if args.quick else FULL
    for key, value in defaults.items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    if args.reset_timeout <= 0 or args.outage <= 0 or args.rate <= 0:
        parser.error("--outage, --rate and --reset-timeout must be positive")
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    if not modes or any(m not in ("independent", "shared", "fleet") for m in modes):
        parser.error("--modes: a comma-separated list of independent, shared, fleet")

    per_run = args.warmup + args.outage + args.after
    print(
        f"circuit workers demo: dependency 200 for {args.warmup:g} s, 503 for {args.outage:g} s, 200 for {args.after:g} s; "
        f"{args.rate:g} req/s in all; breaker failure_threshold={FAILURE_THRESHOLD}, reset_timeout={args.reset_timeout:g} s, "
        f"half_open_max_calls={HALF_OPEN_MAX_CALLS}; {len(modes) * len(args.workers)} runs of about {per_run:.0f} s, seed {args.seed}",
        flush=True,
    )
    rng = random.Random(args.seed)
    runs: List[Dict[str, Any]] = []
    began = time.monotonic()
    store = RedisServer() if "fleet" in modes else None
    try:
        for workers in args.workers:
            for mode in modes:
                run = run_once(workers, mode, args, rng, None if store is None else store.port)
                runs.append(run)
                print(
                    f"  {workers} worker{'s' if workers > 1 else ''}, {mode:<11}: {run['failed_calls']} failed calls, "
                    f"{run['probes_per_reset_period'] if run['probes_per_reset_period'] is not None else '-'} probes per reset period, "
                    f"{run['rejected']} rejected fast",
                    flush=True,
                )
    finally:
        if store is not None:
            store.stop()
    print()
    print(table(runs))
    print()
    line = conclusion(runs)
    print(line)
    print(f"({time.monotonic() - began:.0f} s in all)")
    if args.json:
        document = {
            "config": {
                "workers": args.workers,
                "outage_s": args.outage,
                "warmup_s": args.warmup,
                "after_s": args.after,
                "rate": args.rate,
                "reset_timeout_s": args.reset_timeout,
                "failure_threshold": FAILURE_THRESHOLD,
                "half_open_max_calls": HALF_OPEN_MAX_CALLS,
                "seed": args.seed,
            },
            "runs": runs,
            "conclusion": line,
        }
        with open(args.json, "w") as f:
            json.dump(document, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
