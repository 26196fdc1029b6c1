"""Real HTTP servers on 127.0.0.1 for the integration tests, one thread per connection.

Paths: `/status/<code>` answers `<code>` (with `Retry-After: <v>` for `?retry_after=<v>`);
`/hang` sends nothing until the test sets `server.release` (or the server stops); `/stream` sends
the headers and a first chunk `first`, then waits for `server.release` before the chunk `second`
(if it is not set within STREAM_GUARD seconds, the connection is cut mid-body instead: a client
that waits for the whole body before answering fails).
"""

from __future__ import annotations

import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import List, Optional, Type
from urllib.parse import parse_qs, urlsplit

HANG_GUARD = 30.0  # seconds a handler waits at most, so a broken test cannot hang the suite
STREAM_GUARD = 10.0


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: "_Server"

    def log_message(self, format: str, *args: object) -> None:  # quiet
        pass

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        self.server.paths.append(url.path)
        if url.path == "/hang":
            self.server.release.wait(HANG_GUARD)
            self._answer(200, b"late")
        elif url.path == "/stream":
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            self._chunk(b"first")
            if not self.server.release.wait(STREAM_GUARD):
                self.close_connection = True  # cut: the body never ends
                return
            self._chunk(b"second")
            self._chunk(b"")
        elif url.path.startswith("/status/"):
            retry_after = parse_qs(url.query).get("retry_after")
            self._answer(int(url.path.rsplit("/", 1)[1]), b"body", retry_after[0] if retry_after else None)
        else:
            self._answer(404, b"unknown path")

    def _answer(self, status: int, body: bytes, retry_after: Optional[str] = None) -> None:
        try:
            self.send_response(status)
            if retry_after is not None:
                self.send_header("Retry-After", retry_after)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except OSError:  # the client gave up (a timeout, a cancellation)
            pass

    def _chunk(self, data: bytes) -> None:
        try:
            self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
            self.wfile.flush()
        except OSError:
            pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    paths: List[str]
    release: threading.Event


class Loopback:
    """`with Loopback() as server:` a server on 127.0.0.1, stopped (hanging handlers released) on
    exit; `server.url(path)`, `server.origin`, `server.paths` (the paths requested so far)."""

    def __init__(self) -> None:
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.paths = []
        self._server.release = threading.Event()
        self.port: int = self._server.server_address[1]
        self.origin = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.02,), name=f"loopback:{self.port}", daemon=True
        )

    @property
    def paths(self) -> List[str]:
        return self._server.paths

    @property
    def release(self) -> threading.Event:
        return self._server.release

    def url(self, path: str) -> str:
        return self.origin + path

    def __enter__(self) -> "Loopback":
        self._thread.start()
        return self

    def __exit__(
        self, exc_type: Optional[Type[BaseException]], exc: Optional[BaseException], tb: Optional[TracebackType]
    ) -> None:
        self._server.release.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(HANG_GUARD)


class RefusingPort:
    """A port on 127.0.0.1 where nothing listens (bound but not listening, so no other test takes
    it meanwhile): a connection is refused."""

    def __init__(self) -> None:
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.bind(("127.0.0.1", 0))
        self.port: int = self._socket.getsockname()[1]
        self.origin = f"http://127.0.0.1:{self.port}"

    def url(self, path: str) -> str:
        return self.origin + path

    def __enter__(self) -> "RefusingPort":
        return self

    def __exit__(self, *exc: object) -> None:
        self._socket.close()
