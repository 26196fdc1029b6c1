"""Quick start: protect a flaky call, serve a fallback while open, watch transitions.
Run: python docs/examples/python/quickstart.py (checked by mypy --strict and run by make test)."""

from __future__ import annotations

import asyncio
from typing import Dict

import circuit

clock = circuit.ManualClock()  # omit `clock` to use the monotonic clock
breaker = circuit.CircuitBreaker(
    "inventory",
    failure_threshold=3,
    reset_timeout=10.0,
    fallback=lambda item: {"item": item, "stock": None, "stale": True},
    clock=clock,
)
breaker.on_state_change(lambda e: print(f"{e.from_state} -> {e.to_state} ({e.reason}) at {e.at}s"))

healthy = False


@breaker
def stock(item: str) -> Dict[str, object]:
    if not healthy:
        raise ConnectionError("inventory service is down")
    return {"item": item, "stock": 7, "stale": False}


for _ in range(3):
    try:
        stock("apple")
    except ConnectionError:
        pass
assert breaker.state == circuit.State.OPEN
print(stock("apple"))  # the fallback answers at once while the breaker is open

clock.advance(10.0)  # after reset_timeout a probe is let through
healthy = True
print(stock("apple"))
assert breaker.metrics().state == "closed"


@breaker
async def stock_async(item: str) -> Dict[str, object]:
    await asyncio.sleep(0)
    return {"item": item, "stock": 7, "stale": False}


print(asyncio.run(stock_async("pear")))
print(breaker.metrics())
