"""The fleet demo (demo/workers.py --quick --modes independent,fleet, what `make demo-fleet` runs
at full length): W "hosts" (worker processes) call a dead dependency on loopback, each through its
own breaker, then each through its own breaker and the fleet breaker of that name in one
redis-server the demo starts.

What must hold, on the dependency's side: once the fleet breaker has opened, at most
half_open_max_calls (1) probe per reset period reaches the dependency from the whole fleet; with
a breaker per host, about one per host. The tolerances allow for a loaded 2-core host."""

from __future__ import annotations

import json
import pathlib
import subprocess
import sys
from typing import Any, Dict

ROOT = pathlib.Path(__file__).resolve().parents[2]
W = 6


def test_quick_fleet_demo(tmp_path: pathlib.Path) -> None:
    results_path = tmp_path / "fleet.json"
    completed = subprocess.run(
        [sys.executable, str(ROOT / "demo" / "workers.py"), "--quick", "--workers", str(W), "--modes", "independent,fleet",
         "--json", str(results_path)],
        capture_output=True, text=True, timeout=180,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    document = json.loads(results_path.read_text())
    runs: Dict[str, Dict[str, Any]] = {r["mode"]: r for r in document["runs"]}
    assert set(runs) == {"independent", "fleet"}
    context = completed.stdout
    fleet, independent = runs["fleet"], runs["independent"]
    for run in runs.values():
        assert run["answered_ok"] > 0 and run["rejected"] > 0 and run["errors"] == 0, context
    assert fleet["probes_per_reset_period"] is not None and fleet["probes_per_reset_period"] <= 1.5, context
    assert fleet["max_probes_in_one_period"] <= 2, context
    assert independent["probes_per_reset_period"] is not None, context
    assert independent["probes_per_reset_period"] >= fleet["probes_per_reset_period"] + 1.5, context
    assert fleet["failed_calls"] < independent["failed_calls"], context
    assert fleet["closed_after_outage_s"] is not None, context  # the fleet closed again after the outage
    assert document["conclusion"].startswith(f"fleet: {W} hosts sent {fleet['failed_calls']} failed calls")
