from __future__ import annotations

import pytest

import circuit


@pytest.fixture
def clock() -> circuit.ManualClock:
    return circuit.ManualClock()
