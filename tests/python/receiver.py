"""A real HTTP notification receiver for the subscription tests.

`Receiver` runs a `http.server.ThreadingHTTPServer` on 127.0.0.1 (a free port chosen by
the kernel) in a background thread and records every request it accepts — method,
path, headers, raw body and parsed JSON body — in arrival order. It can answer a chosen
status (e.g. 500) instead of 200, and can be stopped and started again *on the same
port* to simulate an endpoint that is down (connections are then refused).
"""

from __future__ import annotations

import json
import socket
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable


@dataclass
class Received:
    """One request the receiver accepted."""

    method: str
    path: str
    headers: dict[str, str]  # header names lower-cased
    raw: bytes
    body: Any = None  # the parsed JSON body, or None if it was not JSON
    answered: int = 200  # the status the receiver answered
    at: float = field(default_factory=time.monotonic)

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())


class _Server(ThreadingHTTPServer):
    allow_reuse_address = True
    daemon_threads = True


class Receiver:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._requests: list[Received] = []
        self.status = 200  # what POSTs are answered with
        self.port = 0
        self._httpd: _Server | None = None
        self._thread: threading.Thread | None = None
        self._conns: set[socket.socket] = set()  # open (keep-alive) connections

    # -- lifecycle ---------------------------------------------------------------

    def start(self) -> "Receiver":
        """Starts listening; on the same port as before if it was started already."""
        if self._httpd is not None:
            return self
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:  # keep pytest output clean
                pass

            def setup(self) -> None:
                super().setup()
                with receiver._lock:
                    receiver._conns.add(self.connection)

            def finish(self) -> None:
                with receiver._lock:
                    receiver._conns.discard(self.connection)
                try:
                    super().finish()
                except OSError:
                    pass

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                try:
                    body = json.loads(raw) if raw else None
                except ValueError:
                    body = None
                status = receiver.status
                receiver._record(Received(self.command, self.path,
                                          {k.lower(): v for k, v in self.headers.items()}, raw, body,
                                          answered=status))
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            do_POST = _handle
            do_PUT = _handle
            do_PATCH = _handle

        deadline = time.monotonic() + 10
        while True:
            try:
                self._httpd = _Server(("127.0.0.1", self.port), Handler)
                break
            except OSError:
                if self.port == 0 or time.monotonic() > deadline:
                    raise
                time.sleep(0.1)  # the old socket may linger briefly
        self.port = self._httpd.server_address[1]
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stops listening (connections to the port are refused until `start`)."""
        if self._httpd is None:
            return
        self._httpd.shutdown()
        self._httpd.server_close()
        # Keep-alive connections would outlive the listening socket: cut them too, so
        # that the endpoint is really down.
        with self._lock:
            conns = list(self._conns)
        for c in conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._httpd = None
        self._thread = None

    @property
    def running(self) -> bool:
        return self._httpd is not None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/notify"

    def __enter__(self) -> "Receiver":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- recordings --------------------------------------------------------------

    def _record(self, r: Received) -> None:
        with self._cond:
            self._requests.append(r)
            self._cond.notify_all()

    @property
    def requests(self) -> list[Received]:
        with self._lock:
            return list(self._requests)

    def clear(self) -> None:
        with self._lock:
            self._requests.clear()

    def wait_for(self, n: int, timeout: float = 10.0,
                 where: Callable[[Received], bool] = lambda r: True) -> list[Received]:
        """Waits until at least `n` recorded requests satisfy `where`; returns them all
        (in arrival order). Raises AssertionError on timeout."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                got = [r for r in self._requests if where(r)]
                if len(got) >= n:
                    return got
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(
                        f"expected {n} notifications within {timeout:.1f} s, got {len(got)}: "
                        f"{[r.body for r in got]}")
                self._cond.wait(left)

    def quiet(self, seconds: float, where: Callable[[Received], bool] = lambda r: True) -> list[Received]:
        """Waits `seconds` and returns what arrived meanwhile (to show nothing did)."""
        before = len(self.requests)
        time.sleep(seconds)
        return [r for r in self.requests[before:] if where(r)]
