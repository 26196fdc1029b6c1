"""The Python snippets of docs/python.md, docs/integrations/python-*.md and the README, and
docs/examples/python, executed. A snippet may use `upstream`: the URL of a local server that
answers every request with 503 and `Retry-After: 120` (a host that is down)."""

from __future__ import annotations

import pathlib
import re
import runpy
from typing import Iterator, List

import pytest

from loopback import Loopback

ROOT = pathlib.Path(__file__).resolve().parents[2]


def python_blocks(path: pathlib.Path) -> List[str]:
    return re.findall(r"```python\n(.*?)```", path.read_text(), flags=re.S)


DOC_BLOCKS = python_blocks(ROOT / "docs" / "python.md")
README_BLOCKS = python_blocks(ROOT / "README.md")
INTEGRATION_PAGES = sorted((ROOT / "docs" / "integrations").glob("python-*.md"))
INTEGRATION_BLOCKS = [block for page in INTEGRATION_PAGES for block in python_blocks(page)]


def test_docs_have_snippets() -> None:
    assert len(DOC_BLOCKS) >= 3
    assert len(README_BLOCKS) >= 2, "the quick start and the HTTP snippet"
    assert [p.name for p in INTEGRATION_PAGES] == ["python-aiohttp.md", "python-httpx.md", "python-requests.md"]
    assert all(python_blocks(page) for page in INTEGRATION_PAGES)


@pytest.fixture
def upstream() -> Iterator[str]:
    with Loopback() as server:
        yield server.url("/status/503?retry_after=120")


@pytest.mark.parametrize("code", DOC_BLOCKS + README_BLOCKS + INTEGRATION_BLOCKS)
def test_snippet_runs(code: str, upstream: str, capsys: pytest.CaptureFixture[str]) -> None:
    exec(compile(code, "<doc snippet>", "exec"), {"__name__": "__doc_snippet__", "upstream": upstream})
    if "upstream" in code:  # an HTTP example: the origin opened after two 503s, for Retry-After's 120 s
        out = capsys.readouterr().out
        assert "503" in out and "120" in out, out


@pytest.mark.parametrize("path", sorted((ROOT / "docs" / "examples" / "python").glob("*.py")), ids=lambda p: p.name)
def test_example_runs(path: pathlib.Path, capsys: pytest.CaptureFixture[str]) -> None:
    runpy.run_path(str(path), run_name="__main__")
    out = capsys.readouterr().out
    assert "closed -> open (failure_threshold)" in out and "half_open -> closed (probe_success)" in out
