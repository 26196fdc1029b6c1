"""Drives the four peers of tests/shared/run (C, Go, Python, Node) through ONE breaker of ONE
manual-clock host region, and prints TAP ("ok - ..." / "not ok - ...") lines. Run by
tests/shared/run, which checks the tools, builds the C and Go peers and passes their commands:

    driver.py --c PEER_C --go PEER_GO --python PYTHON PEER_PY --node NODE PEER_JS

Every peer speaks the same protocol: one command a line on stdin, one JSON object a line on
stdout per command (`"ok": false` and an `"error"` message when it failed):

    attach PATH [FAILURE_THRESHOLD]  open the manual-clock region PATH (capacity 16) and create or
                                     join the breaker "shared" (failure_threshold 4 unless given,
                                     reset_timeout 10 s, half_open_max_calls 1, success_threshold
                                     1); registers a listener that keeps every transition
    fail | success                   allow, then record a failure / a success if admitted:
                                     {"admitted", "probe", "counted", "metrics"} or
                                     {"admitted": false, "reason", "metrics"}
    allow                            allow, and record ignored if admitted (same reply)
    advance MS                       move the region's clock by MS milliseconds
    state                            the state accessor (an operation: it delivers other
                                     processes' transitions) -> {"state", "generation"}
    metrics                          region-wide metrics -> {"metrics": {"state", "generation",
                                     "consecutive_failures", "admitted", "failures",
                                     "successes", "rejected"}}
    events                           what the listener received so far (not an operation on
                                     the breaker) -> {"events": [{"from", "to", "reason",
                                     "generation" (not from Node), "at_ms", "remote"}]}
"""

import argparse
import json
import os
import select
import shutil
import subprocess
import sys
import tempfile
import time

TIMEOUT = 30.0
LANGS = ("c", "python", "node", "go")
NAMES = {"c": "C", "python": "Python", "node": "Node", "go": "Go"}

failures = 0
count = 0


def tap(ok, description, diag=None):
    global failures, count
    count += 1
    if ok:
        print("ok - " + description)
    else:
        failures += 1
        print("not ok - " + description)
        if diag is not None:
            for line in str(diag).splitlines() or [""]:
                print("#   " + line)
    sys.stdout.flush()
    return ok


class PeerError(Exception):
    pass


class Peer:
    """One peer process, driven line by line."""

    def __init__(self, lang, argv, logdir, tag):
        self.lang = lang
        self.name = NAMES[lang]
        self.log_path = os.path.join(logdir, "%s-%s.stderr" % (lang, tag))
        self.log = open(self.log_path, "wb")
        self.transcript = []
        self.proc = subprocess.Popen(
            argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.log, bufsize=0
        )
        self.buffer = b""

    def stderr_tail(self):
        if not self.log.closed:
            self.log.flush()
        try:
            with open(self.log_path, "rb") as f:
                return f.read()[-2000:].decode("utf-8", "replace")
        except OSError:
            return ""

    def cmd(self, line):
        self.transcript.append("> " + line)
        try:
            self.proc.stdin.write((line + "\n").encode())
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError) as err:
            raise PeerError("%s peer: cannot send %r (%s); stderr: %s" % (self.name, line, err, self.stderr_tail()))
        deadline = time.monotonic() + TIMEOUT
        while b"\n" not in self.buffer:
            left = deadline - time.monotonic()
            if left <= 0:
                raise PeerError("%s peer: no answer to %r within %ds" % (self.name, line, TIMEOUT))
            ready, _, _ = select.select([self.proc.stdout], [], [], left)
            if not ready:
                continue
            chunk = os.read(self.proc.stdout.fileno(), 65536)
            if not chunk:
                raise PeerError(
                    "%s peer: exited (status %s) before answering %r; stderr: %s"
                    % (self.name, self.proc.poll(), line, self.stderr_tail())
                )
            self.buffer += chunk
        raw, self.buffer = self.buffer.split(b"\n", 1)
        text = raw.decode("utf-8", "replace")
        self.transcript.append("< " + text)
        try:
            return json.loads(text)
        except ValueError:
            raise PeerError("%s peer: not a JSON line in answer to %r: %r" % (self.name, line, text))

    def close(self):
        """Closes stdin and waits; returns the exit status (None if it had to be killed)."""
        try:
            self.proc.stdin.close()
        except OSError:
            pass
        try:
            status = self.proc.wait(TIMEOUT)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            status = None
        self.log.close()
        return status

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        if not self.log.closed:
            self.log.close()


def diag_of(peer, extra=None):
    lines = []
    if extra:
        lines.append(str(extra))
    if peer is not None:
        lines.extend(peer.transcript[-12:])
        tail = peer.stderr_tail().strip()
        if tail:
            lines.append("stderr: " + tail)
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--c", required=True, nargs=1)
    parser.add_argument("--go", required=True, nargs=1)
    parser.add_argument("--python", required=True, nargs=2)
    parser.add_argument("--node", required=True, nargs=2)
    args = parser.parse_args()
    argv = {"c": args.c, "go": args.go, "python": args.python, "node": args.node}

    work = tempfile.mkdtemp(prefix="circuit-shared-")
    logdir = os.path.join(work, "logs")
    os.mkdir(logdir)
    region = os.path.join(work, "shared.circuit")
    live = []
    spawned = [0]

    def spawn(lang):
        spawned[0] += 1
        peer = Peer(lang, argv[lang], logdir, str(spawned[0]))
        live.append(peer)
        return peer

    def finish(peer):
        """Closes a one-shot peer; a non-zero exit is a failure of its own."""
        status = peer.close()
        live.remove(peer)
        if status != 0:
            tap(False, "%s peer exits with status 0 (got %s)" % (peer.name, status), diag_of(peer))

    def attached(peer, threshold=None):
        reply = peer.cmd("attach %s%s" % (region, "" if threshold is None else " %d" % threshold))
        if not reply.get("ok"):
            raise PeerError("%s peer: attach refused: %s" % (peer.name, reply.get("error")))
        return reply

    def step(description, body, lang=None):
        """Runs body(); an exception is a not-ok line with the peer's transcript."""
        peer_box = {}
        try:
            ok, diag = body(peer_box)
        except PeerError as err:
            ok, diag = False, err
        except Exception as err:  # noqa: BLE001 - a bug in a check is a failure too
            ok, diag = False, "%s: %s" % (type(err).__name__, err)
        peer = peer_box.get("peer")
        tap(ok, description, None if ok else diag_of(peer, diag))

    try:
        # 1. One failure from each language in turn, one process each.
        expected_run = [("c", 1), ("python", 2), ("node", 3)]
        for lang, n in expected_run:

            def body(box, lang=lang, n=n):
                peer = box["peer"] = spawn(lang)
                attached(peer)
                reply = peer.cmd("fail")
                m = reply.get("metrics", {})
                ok = (
                    reply.get("admitted") is True
                    and reply.get("counted") is True
                    and m.get("consecutive_failures") == n
                    and m.get("state") == "closed"
                    and m.get("generation") == 0
                )
                finish(peer)
                return ok, reply

            step(
                "1. %s process %d attaches and records a failure: it sees %d consecutive failure%s, closed, generation 0"
                % (NAMES[lang], n, n, "" if n == 1 else "s"),
                body,
            )

        def go_fourth(box):
            peer = box["peer"] = spawn("go")
            attached(peer)
            reply = peer.cmd("fail")
            m = reply.get("metrics", {})
            ok = reply.get("admitted") is True and m.get("state") == "open" and m.get("generation") == 1
            state = peer.cmd("state")
            ok = ok and state.get("state") == "open" and state.get("generation") == 1
            events = peer.cmd("events").get("events")
            box["events"] = events
            finish(peer)
            go_events.append(events)
            return ok, {"fail": reply, "state": state}

        go_events = []
        step("1. Go process 4 records the 4th failure: the breaker is open, generation 1", go_fourth)

        def go_listener(box):
            events = go_events[0] if go_events else None
            want = [{"from": "closed", "to": "open", "reason": "failure_threshold", "remote": False}]
            got = [{k: e.get(k) for k in ("from", "to", "reason", "remote")} for e in (events or [])]
            return got == want and events[0].get("generation") == 1, events

        step("1. Go's own listener heard closed -> open (failure_threshold, generation 1) with remote false", go_listener)

        # 2. Every language, in a new process: open, generation 1, allow rejected, no replay.
        for lang in LANGS:
            replies = {}

            def attach_state(box, lang=lang, replies=replies):
                peer = box["peer"] = replies["peer"] = spawn(lang)
                attached(peer)
                state = peer.cmd("state")
                return state.get("state") == "open" and state.get("generation") == 1, state

            def rejected(box, replies=replies):
                peer = box["peer"] = replies.get("peer")
                if peer is None:
                    raise PeerError("no peer (the attach failed)")
                reply = peer.cmd("allow")
                return reply.get("admitted") is False and reply.get("reason") == "open", reply

            def no_replay(box, replies=replies):
                peer = box["peer"] = replies.get("peer")
                if peer is None:
                    raise PeerError("no peer (the attach failed)")
                events = peer.cmd("events").get("events")
                finish(peer)
                return events == [], events

            step("2. %s (new process) reports state open, generation 1" % NAMES[lang], attach_state)
            step("2. %s: allow is rejected (reason open)" % NAMES[lang], rejected)
            step(
                "2. %s: the listener registered at attach heard nothing after state and allow (history is not replayed)"
                % NAMES[lang],
                no_replay,
            )

        # 3. Long-lived Python, Node and Go peers listen; a C process advances the clock by
        #    10 s, takes the probe and records its success.
        long_lived = {}
        for lang in ("python", "node", "go"):

            def listen(box, lang=lang):
                peer = box["peer"] = spawn(lang)
                attached(peer)
                state = peer.cmd("state")
                events = peer.cmd("events").get("events")
                long_lived[lang] = peer
                return state.get("state") == "open" and state.get("generation") == 1 and events == [], {
                    "state": state,
                    "events": events,
                }

            step("3. %s long-lived peer attaches and listens (open, generation 1, nothing heard)" % NAMES[lang], listen)

        want_two = [
            {"from": "open", "to": "half_open", "reason": "open_elapsed", "at_ms": 10000},
            {"from": "half_open", "to": "closed", "reason": "probe_success", "at_ms": 10000},
        ]
        want_generations = [2, 3]

        def matches(events, remote):
            if not isinstance(events, list) or len(events) != 2:
                return False
            for event, want, generation in zip(events, want_two, want_generations):
                if event.get("remote") is not remote:
                    return False
                if any(event.get(k) != v for k, v in want.items()):
                    return False
                if "generation" in event and event["generation"] != generation:
                    return False
            return True

        prober_events = []

        def probe(box):
            peer = box["peer"] = spawn("c")
            attached(peer)
            advance = peer.cmd("advance 10000")
            reply = peer.cmd("success")
            m = reply.get("metrics", {})
            ok = (
                advance.get("ok") is True
                and reply.get("admitted") is True
                and reply.get("probe") is True
                and reply.get("counted") is True
                and m.get("state") == "closed"
                and m.get("generation") == 3
            )
            prober_events.append(peer.cmd("events").get("events"))
            finish(peer)
            return ok, {"advance": advance, "success": reply}

        step("3. C process advances the region clock by 10 s, takes the probe, records success: closed, generation 3", probe)
        step(
            "3. C's own listener heard open -> half_open (open_elapsed) and half_open -> closed (probe_success) at 10 s, remote false",
            lambda box: (bool(prober_events) and matches(prober_events[0], False), prober_events),
        )

        for lang in ("python", "node", "go"):

            def lazy(box, lang=lang):
                peer = box["peer"] = long_lived.get(lang)
                if peer is None:
                    raise PeerError("no long-lived %s peer" % NAMES[lang])
                events = peer.cmd("events").get("events")
                return events == [], events

            def next_op(box, lang=lang):
                peer = box["peer"] = long_lived.get(lang)
                if peer is None:
                    raise PeerError("no long-lived %s peer" % NAMES[lang])
                state = peer.cmd("state")
                events = peer.cmd("events").get("events")
                return state.get("state") == "closed" and state.get("generation") == 3 and matches(events, True), {
                    "state": state,
                    "events": events,
                }

            step("3. %s long-lived peer: before its next operation its listener has heard nothing yet" % NAMES[lang], lazy)
            step(
                "3. %s long-lived peer: at its next operation (state) it reports closed, generation 3, and its listener "
                "received exactly open -> half_open, half_open -> closed, remote true, in order" % NAMES[lang],
                next_op,
            )

        for lang in LANGS:

            def closed_now(box, lang=lang):
                peer = box["peer"] = spawn(lang)
                attached(peer)
                state = peer.cmd("state")
                finish(peer)
                return state.get("state") == "closed" and state.get("generation") == 3, state

            step("3. %s (new process) reports state closed, generation 3" % NAMES[lang], closed_now)

        # 4. Options mismatch: failure_threshold 5 against the breaker created with 4.
        for lang in LANGS:

            def mismatch(box, lang=lang):
                peer = box["peer"] = spawn(lang)
                reply = peer.cmd("attach %s 5" % region)
                finish(peer)
                message = reply.get("error") or ""
                ok = reply.get("ok") is False and "failure_threshold" in message
                ok = ok and 'existing "4"' in message and 'requested "5"' in message
                if lang in ("python", "node"):
                    ok = ok and reply.get("kind") == "options_mismatch"
                if lang == "go":
                    ok = ok and reply.get("is_err_region") is True
                if lang == "c":
                    ok = ok and reply.get("status") == "CIRCUIT_ERR_REGION"
                return ok, reply

            step(
                "4. %s: failure_threshold=5 against the breaker created with 4 is refused, the error naming failure_threshold "
                '(existing "4", requested "5")' % NAMES[lang],
                mismatch,
            )

        # 5. Region-wide metrics, read from every language (new processes).
        expected = {"admitted": 5, "failures": 4, "successes": 1, "rejected": 4, "state": "closed", "generation": 3}
        seen = {}
        for lang in LANGS:

            def read(box, lang=lang):
                peer = box["peer"] = spawn(lang)
                attached(peer)
                m = peer.cmd("metrics").get("metrics", {})
                finish(peer)
                seen[lang] = {k: m.get(k) for k in expected}
                return seen[lang] == expected, m

            step(
                "5. %s reads the region-wide metrics: admitted 5, failures 4, successes 1, rejected 4 (closed, generation 3)"
                % NAMES[lang],
                read,
            )
        values = [json.dumps(seen.get(lang), sort_keys=True) for lang in LANGS]
        tap(
            len(seen) == 4 and len(set(values)) == 1,
            "5. the region-wide metrics agree in all four languages",
            "\n".join("%s: %s" % (NAMES[lang], seen.get(lang)) for lang in LANGS),
        )

        # The long-lived peers read the same metrics, then exit cleanly.
        for lang in ("python", "node", "go"):

            def final(box, lang=lang):
                peer = box["peer"] = long_lived.get(lang)
                if peer is None:
                    raise PeerError("no long-lived %s peer" % NAMES[lang])
                m = peer.cmd("metrics").get("metrics", {})
                got = {k: m.get(k) for k in expected}
                status = peer.close()
                live.remove(peer)
                return got == expected and status == 0, {"metrics": m, "exit status": status}

            step("5. %s long-lived peer reads the same metrics and exits with status 0" % NAMES[lang], final)
    finally:
        for peer in list(live):
            peer.kill()
        shutil.rmtree(work, ignore_errors=True)

    print("# %d tests, %d failed" % (count, failures))
    return 1 if failures else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except Exception as crash:  # noqa: BLE001 - a crash of the driver is a failure, never silence
        print("not ok - the driver ran to the end (it crashed: %s: %s)" % (type(crash).__name__, crash))
        sys.exit(1)
