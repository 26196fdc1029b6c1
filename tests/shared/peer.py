"""The Python peer of tests/shared/run: one breaker of a manual-clock host region, driven by the
command protocol described in tests/shared/driver.py (one command a line on stdin, one JSON line
on stdout per command). Run with target/pyenv/bin/python."""

import json
import sys

import circuit

CAPACITY = 16

region = None
breaker = None
events = []


def metrics_fields():
    m = breaker.metrics()
    return {
        "state": m.state,
        "generation": m.generation,
        "consecutive_failures": m.consecutive_failures,
        "admitted": m.admitted,
        "failures": m.failures,
        "successes": m.successes,
        "rejected": m.rejected,
    }


def error_reply(what, err):
    reply = {"ok": False, "what": what, "error": str(err), "type": type(err).__name__}
    for attr in ("kind", "options", "path"):
        value = getattr(err, attr, None)
        if value is not None:
            reply[attr] = list(value) if attr == "options" else value
    return reply


def on_change(event):
    events.append(
        {
            "from": event.from_state,
            "to": event.to_state,
            "reason": event.reason,
            "generation": event.generation,
            "at_ms": round(event.at * 1000.0, 3),
            "remote": event.remote,
        }
    )


def attach(path, failure_threshold):
    global region, breaker
    try:
        region = circuit.HostRegion(path, CAPACITY, manual_clock=True)
    except Exception as err:  # noqa: BLE001 - reported to the driver
        return error_reply("HostRegion", err)
    try:
        breaker = circuit.CircuitBreaker(
            name="shared",
            region=region,
            failure_threshold=failure_threshold,
            reset_timeout=10.0,
            half_open_max_calls=1,
            success_threshold=1,
        )
    except Exception as err:  # noqa: BLE001
        return error_reply("CircuitBreaker", err)
    breaker.on_state_change(on_change)
    return {"ok": True, "shared": breaker.region is not None}


def call(outcome):
    try:
        permit = breaker.allow()
    except circuit.CircuitOpenError as err:
        return {"ok": True, "admitted": False, "reason": err.reason, "metrics": metrics_fields()}
    probe = permit.is_probe
    if outcome == "failure":
        counted = breaker.record_failure(permit)
    elif outcome == "success":
        counted = breaker.record_success(permit)
    else:
        counted = breaker.record_ignored(permit)
    return {"ok": True, "admitted": True, "probe": probe, "counted": counted, "metrics": metrics_fields()}


def handle(words):
    command, args = words[0], words[1:]
    if command == "attach":
        if breaker is not None:
            return {"ok": False, "error": "already attached"}
        return attach(args[0], int(args[1]) if len(args) > 1 else 4)
    if command == "advance":
        try:
            region.advance(int(args[0]) / 1000.0)
        except Exception as err:  # noqa: BLE001
            return error_reply("advance", err)
        return {"ok": True}
    if breaker is None:
        return {"ok": False, "error": "not attached"}
    if command == "fail":
        return call("failure")
    if command == "success":
        return call("success")
    if command == "allow":
        return call("ignored")
    if command == "state":
        state = breaker.state.value
        return {"ok": True, "state": state, "generation": breaker.metrics().generation}
    if command == "metrics":
        return {"ok": True, "metrics": metrics_fields()}
    if command == "events":
        return {"ok": True, "events": list(events)}
    return {"ok": False, "error": "unknown command " + command}


def main():
    while True:
        line = sys.stdin.readline()
        if not line:
            break
        words = line.split()
        if not words:
            continue
        try:
            reply = handle(words)
        except Exception as err:  # noqa: BLE001
            reply = error_reply(words[0], err)
        sys.stdout.write(json.dumps(reply) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
