"""What every HTTP integration (httpx sync and async, requests, aiohttp) does, against real servers
on 127.0.0.1: one breaker per origin, the core's classification, Retry-After, timeouts,
rejections and fallbacks. Client-specific behaviour (streaming, cancellation) is in
test_http_<client>.py."""

from __future__ import annotations

import asyncio
import email.utils
import time
from typing import Any, Iterator

import httpx
import pytest
import requests

import circuit
from http_clients import DRIVERS, Client, Driver
from loopback import Loopback, RefusingPort


@pytest.fixture(params=DRIVERS, ids=[d.name for d in DRIVERS])
def driver(request: pytest.FixtureRequest) -> Driver:
    return request.param  # type: ignore[no-any-return]


@pytest.fixture
def server() -> Iterator[Loopback]:
    with Loopback() as s:
        yield s


@pytest.fixture
def other_server() -> Iterator[Loopback]:
    with Loopback() as s:
        yield s


class opened:
    """`with opened(driver, **options) as client:` the integration and a client, closed after."""

    def __init__(self, driver: Driver, **options: Any) -> None:
        self.client = driver.open(**options)

    def __enter__(self) -> Client:
        return self.client

    def __exit__(self, *exc: object) -> None:
        self.client.close()


def timeout_error(driver: Driver) -> Any:
    return {
        "httpx": httpx.TimeoutException,
        "httpx-async": httpx.TimeoutException,
        "requests": requests.Timeout,
        "aiohttp": asyncio.TimeoutError,
    }[driver.name]


def test_one_breaker_per_origin(driver: Driver, server: Loopback, other_server: Loopback) -> None:
    with opened(driver, name="api", failure_threshold=2) as client:
        assert client.get(server.url("/status/503")) == 503
        assert client.get(server.url("/status/503")) == 503
        with pytest.raises(circuit.CircuitOpenError) as rejected:
            client.get(server.url("/status/200"))
        for _ in range(3):
            assert client.get(other_server.url("/status/200")) == 200
        assert sorted(client.family.keys()) == sorted([server.origin, other_server.origin])
        assert client.family[server.origin].state == circuit.State.OPEN
        assert client.family[other_server.origin].state == circuit.State.CLOSED
    error = rejected.value
    assert isinstance(error, driver.client_error)
    assert isinstance(error, client.rejection)
    assert error.key == server.origin and error.name == f"api/{server.origin}"
    assert error.state == "open" and error.reason == "open"
    assert error.retry_after is not None and error.retry_after > 0
    assert server.paths == ["/status/503", "/status/503"], "a rejected request never reaches the host"


@pytest.mark.parametrize("status", [500, 502, 503, 504, 408, 429])
def test_failing_statuses_are_counted(driver: Driver, server: Loopback, status: int) -> None:
    with opened(driver, failure_threshold=1) as client:
        assert client.get(server.url(f"/status/{status}")) == status
        m = client.family[server.origin].metrics()
        assert (m.failures, m.successes, m.state) == (1, 0, "open")


@pytest.mark.parametrize("status", [200, 201, 400, 404, 451, 501])
def test_other_statuses_are_successes(driver: Driver, server: Loopback, status: int) -> None:
    with opened(driver, failure_threshold=1) as client:
        for _ in range(3):
            assert client.get(server.url(f"/status/{status}")) == status
        m = client.family[server.origin].metrics()
        assert (m.failures, m.successes, m.state) == (0, 3, "closed")


def test_connection_refused_is_a_failure(driver: Driver) -> None:
    with RefusingPort() as port, opened(driver, failure_threshold=2) as client:
        for _ in range(2):
            with pytest.raises(driver.client_error) as refused:
                client.get(port.url("/"))
            assert not isinstance(refused.value, circuit.CircuitOpenError)
        assert client.family[port.origin].metrics().failures == 2
        with pytest.raises(client.rejection):
            client.get(port.url("/"))


def test_a_hanging_host_fails_by_the_integration_timeout(driver: Driver, server: Loopback) -> None:
    with opened(driver, failure_threshold=1, timeout=0.3) as client:
        with pytest.raises(timeout_error(driver)):
            client.get(server.url("/hang"))
        m = client.family[server.origin].metrics()
        assert (m.failures, m.state) == (1, "open")


@pytest.mark.parametrize("form", ["delta-seconds", "http-date"])
def test_retry_after_keeps_the_breaker_open(driver: Driver, server: Loopback, form: str) -> None:
    clock = circuit.ManualClock()
    if form == "delta-seconds":
        value, asked = "30", 30.0
    else:  # measured against the wall clock when the headers arrive: at most `asked`, and well above 5 s
        value, asked = email.utils.formatdate(time.time() + 120, usegmt=True), 121.0
    with opened(driver, failure_threshold=1, reset_timeout=1.0, clock=clock) as client:
        assert client.get(server.url(f"/status/503?retry_after={value}")) == 503
        clock.advance(5.0)
        with pytest.raises(client.rejection) as rejected:
            client.get(server.url("/status/200"))
        assert rejected.value.retry_after is not None and asked - 60 < rejected.value.retry_after <= asked - 5
        clock.advance(asked - 5.0)
        assert client.get(server.url("/status/200")) == 200
        assert client.family[server.origin].state == circuit.State.CLOSED


def test_without_retry_after_reset_timeout_rules(driver: Driver, server: Loopback) -> None:
    clock = circuit.ManualClock()
    with opened(driver, failure_threshold=1, reset_timeout=1.0, clock=clock) as client:
        assert client.get(server.url("/status/503")) == 503
        clock.advance(5.0)
        assert client.get(server.url("/status/200")) == 200


def test_retry_after_on_a_success_changes_nothing(driver: Driver, server: Loopback) -> None:
    clock = circuit.ManualClock()
    with opened(driver, failure_threshold=1, reset_timeout=1.0, clock=clock) as client:
        assert client.get(server.url("/status/200?retry_after=300")) == 200
        assert client.get(server.url("/status/503")) == 503
        clock.advance(1.0)
        assert client.get(server.url("/status/200")) == 200


def test_fallback_answers_a_rejected_request(driver: Driver, server: Loopback, other_server: Loopback) -> None:
    fallback = driver.fallback_to(other_server.url("/status/203"))
    with opened(driver, failure_threshold=1, fallback=fallback) as client:
        assert client.get(server.url("/status/503")) == 503
        assert client.get(server.url("/status/200")) == 203
    assert server.paths == ["/status/503"] and other_server.paths == ["/status/203"]


def test_is_failure_overrides_the_classification(driver: Driver, server: Loopback) -> None:
    def is_failure(outcome: Any) -> Any:
        status = getattr(outcome, "status_code", getattr(outcome, "status", None))
        return {404: True, 503: False}.get(status) if isinstance(status, int) else None

    with opened(driver, failure_threshold=2, is_failure=is_failure) as client:
        assert client.get(server.url("/status/503")) == 503
        assert client.get(server.url("/status/404")) == 404
        assert client.get(server.url("/status/500")) == 500
        m = client.family[server.origin].metrics()
        assert (m.successes, m.failures, m.state) == (1, 2, "open")


def test_a_given_family_is_used(driver: Driver, server: Loopback) -> None:
    family = circuit.Family("shared", failure_threshold=1)
    with opened(driver, family=family) as client:
        assert client.family is family
        client.get(server.url("/status/503"))
    assert family[server.origin].state == circuit.State.OPEN


def test_options_are_checked(driver: Driver) -> None:
    with pytest.raises(TypeError, match="pass breaker options to the Family"):
        driver.open(family=circuit.Family(), failure_threshold=3)
    with pytest.raises(TypeError, match="`family` must be a circuit.Family"):
        driver.open(family=object())
    with pytest.raises(ValueError, match="`timeout`"):
        driver.open(timeout=0)
    with pytest.raises(TypeError, match="`fallback`"):
        driver.open(fallback=3)
    with pytest.raises(circuit.CircuitConfigError) as bad:
        driver.open(failure_threshold=0)
    assert bad.value.option == "failure_threshold"
