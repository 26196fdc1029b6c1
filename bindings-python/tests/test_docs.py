"""The Python snippets of docs/python.md and the README, and docs/examples/python, executed."""

from __future__ import annotations

import pathlib
import re
import runpy
from typing import List

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]


def python_blocks(path: pathlib.Path) -> List[str]:
    return re.findall(r"```python\n(.*?)```", path.read_text(), flags=re.S)


DOC_BLOCKS = python_blocks(ROOT / "docs" / "python.md")
README_BLOCKS = python_blocks(ROOT / "README.md")


def test_docs_have_snippets() -> None:
    assert len(DOC_BLOCKS) >= 3
    assert len(README_BLOCKS) >= 1


@pytest.mark.parametrize("code", DOC_BLOCKS + README_BLOCKS)
def test_snippet_runs(code: str, capsys: pytest.CaptureFixture[str]) -> None:
    exec(compile(code, "<doc snippet>", "exec"), {"__name__": "__doc_snippet__"})


@pytest.mark.parametrize("path", sorted((ROOT / "docs" / "examples" / "python").glob("*.py")), ids=lambda p: p.name)
def test_example_runs(path: pathlib.Path, capsys: pytest.CaptureFixture[str]) -> None:
    runpy.run_path(str(path), run_name="__main__")
    out = capsys.readouterr().out
    assert "closed -> open (failure_threshold)" in out and "half_open -> closed (probe_success)" in out
