"""A real loopback proxy in front of the emulator that spoils the answers to one RPC method.

``with tampering(emu, "ActivityService.QueryActivity", "truncated", times=2) as url:`` forwards every
request to the emulator and answers the first ``times`` requests for that method (``None``: all of
them) the hostile way instead. Kinds: ``html`` (a 502 proxy page), ``truncated`` (half a JSON body),
``wrong_types`` (the items list as a string), ``error200`` (HTTP 200 with ``{"error": ...}``),
``redirect`` (a 302 to another host), ``endless`` (the real page with a fresh cursor and
``hasMore`` forever), ``echo`` (a 400 quoting the Authorization header), ``trickle`` (the real body
one byte every 0.2 s), ``lying_gzip`` (the real JSON, uncompressed, labelled ``Content-Encoding: gzip``).
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx

from incident_analytics.emulator import Emulator

KINDS = ("html", "truncated", "wrong_types", "error200", "redirect", "endless", "echo", "trickle", "lying_gzip")


class _Proxy(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, upstream: str, method: str, kind: str, times: int | None) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.upstream, self.method, self.kind, self.left = upstream, method, kind, times
        self.http = httpx.Client(timeout=30)
        self.lock = threading.Lock()
        self.spoiled = 0
        self.cursors = itertools.count(1)

    def take(self, path: str) -> bool:
        if not path.endswith("/" + self.method):
            return False
        with self.lock:
            if self.left is not None:
                if self.left <= 0:
                    return False
                self.left -= 1
            self.spoiled += 1
            return True


class _Handler(BaseHTTPRequestHandler):
    server: _Proxy
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _send(self, status: int, body: bytes, content_type: str = "application/json", **headers: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("content-length") or 0))
        headers = {k: v for k, v in self.headers.items() if k.lower() in ("authorization", "content-type")}
        real = self.server.http.post(self.server.upstream + self.path, content=body, headers=headers)
        if not self.server.take(self.path):
            self._send(real.status_code, real.content, real.headers.get("content-type", "application/json"))
            return
        kind = self.server.kind
        if kind == "html":
            self._send(502, b"<html><body><h1>502 Bad Gateway</h1></body></html>", "text/html")
        elif kind == "truncated":
            self._send(200, real.content[: len(real.content) // 2])
        elif kind == "echo":  # a 400 whose error text quotes the request's Authorization header
            said = json.dumps({"error": f"bad request; you sent {self.headers.get('authorization')}"})
            self._send(400, said.encode())
        elif kind == "error200":
            self._send(200, b'{"error": "something went wrong"}')
        elif kind == "lying_gzip":
            self._send(200, real.content, **{"Content-Encoding": "gzip"})
        elif kind == "redirect":
            self._send(302, b"{}", Location="http://127.0.0.1:9/elsewhere")
        elif kind == "wrong_types":
            page = real.json()
            for key, value in page.items():
                if isinstance(value, (list, dict)) and key != "cursor":
                    page[key] = "not a list"
            self._send(200, json.dumps(page).encode())
        elif kind == "endless":
            page = real.json()
            page["cursor"] = {"hasMore": True, "nextValue": f"again-{next(self.server.cursors)}"}
            self._send(200, json.dumps(page).encode())
        elif kind == "trickle":
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(real.content)))
            self.end_headers()
            started = time.monotonic()
            try:
                for byte in real.content:
                    if time.monotonic() - started > 20:
                        return
                    self.wfile.write(bytes([byte]))
                    self.wfile.flush()
                    time.sleep(0.2)
            except OSError:
                return


@contextmanager
def tampering(emu: Emulator, method: str, kind: str, times: int | None = None) -> Iterator[_Proxy]:
    """Serve the proxy for the block; ``proxy.url`` is its base URL, ``proxy.spoiled`` the spoiled answers."""
    proxy = _Proxy(emu.url.rstrip("/"), method, kind, times)
    host, port = proxy.server_address[:2]
    proxy.url = f"http://{host}:{port}"  # type: ignore[attr-defined]
    thread = threading.Thread(target=proxy.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield proxy
    finally:
        proxy.shutdown()
        proxy.server_close()
        proxy.http.close()
