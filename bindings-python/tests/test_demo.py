"""A shortened run of the outage demo (demo/outage.py): the breaker run must waste less worker
time and send less load to the dead dependency than the run without it, and the chart must be a
valid SVG with the expected content."""

from __future__ import annotations

import json
import pathlib
import subprocess
import sys
import xml.etree.ElementTree as ElementTree

ROOT = pathlib.Path(__file__).resolve().parents[2]


def test_short_demo(tmp_path: pathlib.Path) -> None:
    chart = tmp_path / "outage.svg"
    results_path = tmp_path / "results.json"
    completed = subprocess.run(
        [sys.executable, str(ROOT / "demo" / "outage.py"), "--duration", "8", "--seed", "3",
         "--chart", str(chart), "--json", str(results_path), "--no-live"],
        capture_output=True, text=True, timeout=60,
    )
    assert completed.returncode == 0, completed.stderr
    assert "chart: " in completed.stdout and "load sent to the dependency during the outage" in completed.stdout
    plain, guarded = json.loads(results_path.read_text())
    assert plain["label"] == "no breaker" and guarded["label"] == "circuit"
    assert guarded["worker_time_wasted_s"] < plain["worker_time_wasted_s"]
    assert guarded["load_during_outage"] < plain["load_during_outage"] / 2
    assert guarded["waited_on_dead_dependency"] < plain["waited_on_dead_dependency"]
    assert guarded["fallbacks"] > 0 and plain["fallbacks"] == 0
    assert guarded["recovery_to_full_service_s"] is not None

    root = ElementTree.parse(chart).getroot()
    assert root.tag.endswith("svg")
    ns = "{http://www.w3.org/2000/svg}"
    circles = root.findall(f".//{ns}circle")
    titles = [t.text for t in root.findall(f".//{ns}title")]
    assert len(circles) > 100
    assert "breaker open" in titles and "dependency slow" in titles
