"""`import circuit` needs neither prometheus_client nor opentelemetry: each exporter imports its
library only when the exporter itself is imported (the `prometheus` / `opentelemetry` extras)."""

from __future__ import annotations

import subprocess
import sys
import textwrap

BLOCKER = textwrap.dedent(
    """
    import sys
    from importlib.abc import MetaPathFinder

    class Block(MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in ("prometheus_client", "opentelemetry"):
                raise ModuleNotFoundError(f"No module named {name!r} (blocked)", name=name)
            return None

    sys.meta_path.insert(0, Block())
    """
)


def run(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", BLOCKER + textwrap.dedent(code)], capture_output=True, text=True, timeout=60
    )


def test_import_circuit_needs_no_exporter_library() -> None:
    done = run(
        """
        import circuit
        breaker = circuit.CircuitBreaker("x")
        assert breaker.metrics().transitions == []
        assert circuit.StateError.__mro__[1] is circuit.CircuitError
        print(len(circuit._circuit._metric_points(breaker)))
        assert "prometheus_client" not in sys.modules and "opentelemetry" not in sys.modules
        """
    )
    assert done.returncode == 0, done.stderr
    assert int(done.stdout) > 0


def test_an_exporter_without_its_library_fails_loudly() -> None:
    for module, library in (("circuit.prometheus", "prometheus_client"), ("circuit.opentelemetry", "opentelemetry")):
        done = run(f"import {module}")
        assert done.returncode != 0
        assert "ModuleNotFoundError" in done.stderr and library in done.stderr, done.stderr
