"""Tiny real HTTP servers on 127.0.0.1 for the hostile behaviours the emulator does not script:
a body trickled one byte at a time, and a redirect to another server that records what reaches it.

Each server runs in a daemon thread, serves until the ``with`` block ends, and bounds its own work
(a trickle stops after ``max_seconds`` or when the client hangs up).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, handler: type[BaseHTTPRequestHandler], **settings: Any) -> None:
        super().__init__(("127.0.0.1", 0), handler)
        self.settings = settings
        self.seen: list[dict[str, Any]] = []  # one entry per request: path and headers
        self.lock = threading.Lock()


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # keep the test output quiet
        pass

    def _take_request(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        if length:
            self.rfile.read(length)
        with self.server.lock:
            self.server.seen.append({"path": self.path, "headers": dict(self.headers.items())})

    def do_POST(self) -> None:
        self._take_request()
        mode = self.server.settings["mode"]
        if mode == "trickle":
            self._trickle()
        elif mode == "redirect":
            body = b'{"roles": []}'
            self.send_response(self.server.settings["status"])
            self.send_header("Location", self.server.settings["location"])
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        else:  # "record": answer like the API would
            body = b'{"roles": []}'
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    def _trickle(self) -> None:
        body: bytes = self.server.settings["body"]
        interval: float = self.server.settings["interval"]
        stop_at = time.monotonic() + self.server.settings["max_seconds"]
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.flush()
        try:
            for i in range(len(body)):
                if time.monotonic() > stop_at:
                    break
                self.wfile.write(body[i : i + 1])
                self.wfile.flush()
                time.sleep(interval)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up: what the test wants
        self.close_connection = True


@contextmanager
def serve(**settings: Any) -> Iterator[_Server]:
    """Run one server (``mode="trickle" | "redirect" | "record"``) for the duration of the block."""
    server = _Server(_Handler, **settings)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def url_of(server: _Server) -> str:
    """The server's base URL, e.g. ``http://127.0.0.1:53211``."""
    host, port = server.server_address[:2]
    return f"http://{host}:{port}"


@contextmanager
def trickling(body: bytes, *, interval: float = 0.5, max_seconds: float = 20.0) -> Iterator[_Server]:
    """A server that answers every request with ``body`` sent one byte every ``interval`` seconds."""
    with serve(mode="trickle", body=body, interval=interval, max_seconds=max_seconds) as server:
        yield server
