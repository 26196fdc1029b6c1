"""circuit.requests specifics: `stream=True` bodies are left to the caller (the outcome recorded
when `send` returns with the headers), the integration's timeout replaces the request's, errors map
to the core's kinds."""

from __future__ import annotations

from typing import Iterator

import pytest
import requests

import circuit
import circuit.requests
from loopback import HANG_GUARD, Loopback


@pytest.fixture
def server() -> Iterator[Loopback]:
    with Loopback() as s:
        yield s


def session_with(adapter: circuit.requests.CircuitAdapter) -> requests.Session:
    session = requests.Session()
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


def test_a_streamed_body_is_not_buffered(server: Loopback) -> None:
    adapter = circuit.requests.CircuitAdapter()
    with session_with(adapter) as session:
        with session.get(server.url("/stream"), stream=True) as response:
            chunks = response.raw.stream(decode_content=False)
            assert next(chunks) == b"first" and not server.release.is_set()
            assert adapter.family[server.origin].metrics().successes == 1, "recorded at the headers"
            server.release.set()
            assert b"".join(chunks) == b"second"


def test_the_integration_timeout_replaces_the_requests(server: Loopback) -> None:
    adapter = circuit.requests.CircuitAdapter(timeout=0.3, failure_threshold=1)
    with session_with(adapter) as session:
        with pytest.raises(requests.ReadTimeout):
            session.get(server.url("/hang"), timeout=HANG_GUARD * 2)
    assert adapter.family[server.origin].state == circuit.State.OPEN


def test_the_requests_own_timeout_is_a_failure(server: Loopback) -> None:
    adapter = circuit.requests.CircuitAdapter(failure_threshold=1)
    with session_with(adapter) as session:
        with pytest.raises(requests.ReadTimeout):
            session.get(server.url("/hang"), timeout=0.3)
    assert adapter.family[server.origin].metrics().failures == 1


@pytest.mark.parametrize(
    "error, kind",
    [
        (requests.ConnectTimeout(), "timeout"),  # both a ConnectionError and a Timeout
        (requests.ReadTimeout(), "timeout"),
        (requests.ConnectionError(), "connect"),
        (requests.exceptions.SSLError(), "connect"),
        (requests.exceptions.InvalidURL(), None),
    ],
)
def test_errors_map_to_the_cores_kinds(error: BaseException, kind: object) -> None:
    assert circuit.requests._error_kind(error) == kind


def test_the_adapters_own_options_pass_through() -> None:
    adapter = circuit.requests.CircuitAdapter(max_retries=2, pool_maxsize=3)
    assert adapter.max_retries.total == 2 and adapter.poolmanager.connection_pool_kw["maxsize"] == 3


def test_the_rejection_is_both_error_classes() -> None:
    assert issubclass(circuit.requests.CircuitOpenError, circuit.CircuitOpenError)
    assert issubclass(circuit.requests.CircuitOpenError, requests.ConnectionError)
