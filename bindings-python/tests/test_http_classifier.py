"""circuit.http: the core's HTTP classifier through the Python API (the conformance vectors in
08_http.json check its answers; these check the Python surface: types, defaults, errors)."""

from __future__ import annotations

import doctest
import email.utils
import sys
from typing import Any

import pytest

import circuit
from circuit import http


def test_the_module_examples_run() -> None:
    assert doctest.testmod(http, raise_on_error=True).attempted >= 2


def test_outcomes_are_the_engines_spellings() -> None:
    answers = {http.classify_status(s) for s in (200, 404, 501, 503, 429)} | {http.classify_error("cancelled")}
    assert answers == set(circuit._circuit.OUTCOMES)
    assert [http.classify_error(k) for k in ("connect", "timeout", "cancelled", "other")] == [
        "failure",
        "failure",
        "ignored",
        "failure",
    ]


def test_a_verdict_is_a_named_tuple() -> None:
    verdict = http.classify_response(503, " 120 ")
    assert verdict.outcome == "failure" and verdict.retry_after == 120.0
    assert verdict == ("failure", 120.0)
    assert http.classify_response(200, "120") == http.Verdict("success", None)
    assert http.classify_response(503) == http.Verdict("failure", None)
    assert http.classify_response(503, "soon") == http.Verdict("failure", None)


def test_dates_are_measured_from_now() -> None:
    assert http.parse_retry_after(email.utils.formatdate(1_000_060, usegmt=True), now=1_000_000.0) == 60.0
    assert http.parse_retry_after(email.utils.formatdate(1_000_060, usegmt=True), now=2_000_000) == 0.0, "past: 0"
    assert http.parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", now=784_111_777 - 30) == 30.0


def test_now_defaults_to_the_wall_clock() -> None:
    assert (http.parse_retry_after("Fri, 01 Jan 2100 00:00:00 GMT") or 0.0) > 365 * 86400.0
    assert http.parse_retry_after("Thu, 01 Jan 1970 00:00:00 GMT") == 0.0
    verdict = http.classify_response(503, "Fri, 01 Jan 2100 00:00:00 GMT")
    assert verdict.retry_after is not None and verdict.retry_after > 365 * 86400.0


unchecked: Any = http  # the calls below break the annotations on purpose


@pytest.mark.parametrize(
    "call, error, names",
    [
        (lambda: unchecked.classify_status("503"), TypeError, "`status`"),
        (lambda: unchecked.classify_status(True), TypeError, "`status`"),
        (lambda: http.classify_status(42), ValueError, "`status`"),
        (lambda: http.classify_status(sys.maxsize * 4), ValueError, "`status`"),
        (lambda: unchecked.classify_error("refused"), ValueError, "`kind`"),
        (lambda: unchecked.classify_error(None), TypeError, "`kind`"),
        (lambda: unchecked.classify_response(503, 30), TypeError, "`retry_after`"),
        (lambda: unchecked.classify_response(503, "30", now="today"), TypeError, "`now`"),
        (lambda: http.classify_response(503, "30", now=float("nan")), ValueError, "`now`"),
        (lambda: unchecked.parse_retry_after(b"30"), TypeError, "`value`"),
        (lambda: http.parse_retry_after("30", now=-1), ValueError, "`now`"),
    ],
)
def test_bad_arguments_are_named(call: Any, error: type, names: str) -> None:
    with pytest.raises(error, match=names):
        call()


def test_import_circuit_needs_no_http_client() -> None:
    import subprocess

    code = "import sys, circuit, circuit.http; assert not {'httpx', 'requests', 'aiohttp'} & set(sys.modules)"
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
