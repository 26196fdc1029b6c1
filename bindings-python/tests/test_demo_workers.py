"""The pre-fork workers demo (demo/workers.py --quick): W worker processes calling a dead
dependency on loopback through one breaker each, then through one breaker in a HostRegion.

What must hold, measured on the dependency's side: with the breaker shared, 4 workers send no
more failed calls than 1 worker does, apart from the calls already in flight when it trips (at
most W - 1), and at most half_open_max_calls (1) probe per reset period; with a breaker per
worker, clearly more of both. The tolerances allow for a loaded 2-core host (late schedules,
late timestamps) but not for a breaker per worker, which sends 5 failed calls per worker to
trip and a probe per worker per reset period."""

from __future__ import annotations

import json
import pathlib
import subprocess
import sys
from typing import Any, Dict

ROOT = pathlib.Path(__file__).resolve().parents[2]
W = 4
FAILURE_THRESHOLD = 5


def test_quick_workers_demo(tmp_path: pathlib.Path) -> None:
    results_path = tmp_path / "workers.json"
    completed = subprocess.run(
        [sys.executable, str(ROOT / "demo" / "workers.py"), "--quick", "--workers", f"1,{W}", "--json", str(results_path)],
        capture_output=True, text=True, timeout=180,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert "failed calls" in completed.stdout and "probes/period" in completed.stdout
    document = json.loads(results_path.read_text())
    assert document["config"]["failure_threshold"] == FAILURE_THRESHOLD
    assert document["config"]["half_open_max_calls"] == 1
    runs: Dict[tuple[int, str], Dict[str, Any]] = {(r["workers"], r["mode"]): r for r in document["runs"]}
    assert set(runs) == {(1, "independent"), (1, "shared"), (W, "independent"), (W, "shared")}
    context = completed.stdout

    for run in runs.values():
        # Every run saw the healthy dependency, the outage and the breaker answering fast.
        assert run["answered_ok"] > 0 and run["rejected"] > 0, context
        assert run["failed_calls"] >= FAILURE_THRESHOLD, context
        assert run["errors"] == 0, context

    alone = max(runs[(1, "independent")]["failed_calls"], runs[(1, "shared")]["failed_calls"])
    shared, independent = runs[(W, "shared")], runs[(W, "independent")]

    # Shared: one failure run (5 calls, plus at most W - 1 already in flight) and one probe budget.
    assert shared["trip_calls"] is not None and shared["trip_calls"] <= FAILURE_THRESHOLD + (W - 1) + 2, context
    assert shared["failed_calls"] <= alone + (W - 1) + 4, context
    assert shared["probes_per_reset_period"] is not None and shared["probes_per_reset_period"] <= 1.5, context
    assert shared["max_probes_in_one_period"] <= 2, context

    # Independent: each worker trips on its own failures and probes on its own.
    assert independent["failed_calls"] >= W * FAILURE_THRESHOLD, context
    assert independent["failed_calls"] >= shared["failed_calls"] + 10, context
    assert independent["probes_per_reset_period"] is not None, context
    assert independent["probes_per_reset_period"] >= shared["probes_per_reset_period"] + 1.0, context

    assert document["conclusion"].startswith(f"shared: {W} workers sent {shared['failed_calls']} failed calls")
