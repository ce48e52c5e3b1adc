"""The HTTP layer: routing, auth, faults, latency, rate limiting, gzip, request records.

One request goes through these steps, in this order:

1. read the body (``Content-Length`` or chunked; ``Content-Encoding: gzip`` is undone);
2. sleep ``latency`` seconds (in this request's own thread, so concurrent requests overlap);
3. a scripted fault matching the request, else the rate limit (429), else a random fault;
4. auth: Grafana core answers 401 before any plugin route is looked at (docs/api.md#grafana-core-messages);
5. routing: only ``POST {base}/{Service}.{Method}`` on a known plugin id and prefix; anything
   else is oto's ``404 page not found`` in ``text/plain`` (docs/api.md#routing-404s);
6. the JSON body is decoded (malformed → 400) and the RPC runs.

Responses are gzipped when the request's ``Accept-Encoding`` allows gzip, as oto does (docs/api.md#request-shape).
"""

from __future__ import annotations

import contextlib
import email.utils
import functools
import gzip
import http.client
import io
import json
import logging
import re
import socket
import threading
import time
import zlib
from collections import OrderedDict
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from incident_analytics.emulator.faults import Fault, FaultPlan, TokenBucket
from incident_analytics.emulator.handlers import Api
from incident_analytics.emulator.request import RpcError
from incident_analytics.emulator.wire import dumps

logger = logging.getLogger("incident_analytics.emulator")

JSON_TYPE = "application/json; charset=utf-8"
MAX_BODY_BYTES = 16 * 1024 * 1024
PLUGIN_IDS = ("grafana-irm-app", "grafana-incident-app")

MISSING_TOKEN_BODY = {
    "message": "Unauthorized",
    "messageId": "auth.unauthorized",
    "statusCode": 401,
    "traceID": "",
}
INVALID_TOKEN_BODY = {
    "message": "Invalid API key",
    "messageId": "api-key.invalid",
    "statusCode": 401,
    "traceID": "",
}
GZIP_LEVEL = 1
"""gzip level of response bodies: level 5 took 2.6x level 1's CPU on a page of 100 previews, for 2.7% fewer bytes."""
GZIP_CACHE_BYTES = 32 * 1024 * 1024
HTML_502 = (
    "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
    "<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
)


@dataclass(frozen=True, slots=True)
class RequestRecord:
    """One handled request, as seen by the server.

    Attributes:
        method: ``"Service.Method"`` when the path has an RPC shape, else the raw path.
        path: the request path without its query string.
        http_method: ``"POST"``, ``"GET"`` …
        body: the decoded JSON body, or None (empty, malformed or not JSON).
        status: the HTTP status sent, or None when the connection was dropped.
        authorized: whether the request carried the right bearer token.
        fault: the injected fault kind, if any (``"429"`` also for rate-limit refusals).
    """

    method: str
    path: str
    http_method: str
    body: Any
    status: int | None
    authorized: bool
    fault: str | None = None


@dataclass(slots=True)
class Backend:
    """Everything the request handler needs; the :class:`~incident_analytics.emulator.Emulator` owns it."""

    api: Api
    token: str
    faults: FaultPlan
    bucket: TokenBucket | None = None
    latency: float = 0.0
    slow_seconds: float = 5.0
    plugin_ids: tuple[str, ...] = PLUGIN_IDS
    records: list[RequestRecord] = field(default_factory=list)
    records_lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, entry: RequestRecord) -> None:
        """Append a request record (thread-safe)."""
        with self.records_lock:
            self.records.append(entry)


@dataclass(frozen=True, slots=True)
class Route:
    """Where a path points: the RPC name and whether it used the ``/v1`` prefix."""

    method: str
    versioned: bool


@functools.lru_cache(maxsize=1024)
def route(path: str, plugin_ids: tuple[str, ...]) -> Route | None:
    """Parse ``/api/plugins/<id>/resources/api[/v1]/<Service>.<Method>``; None if it is not one."""
    parts = path.split("/")
    # ["", "api", "plugins", id, "resources", "api", ("v1",) "Service.Method"]
    if len(parts) not in (7, 8) or parts[:3] != ["", "api", "plugins"] or parts[4:6] != ["resources", "api"]:
        return None
    if parts[3] not in plugin_ids:
        return None
    versioned = len(parts) == 8
    if versioned and parts[6] != "v1":
        return None
    name = parts[-1]
    service, dot, method = name.partition(".")
    if not dot or not service or not method or "." in method:
        return None
    return Route(name, versioned)


class GzipCache:
    """Compressed response bodies by their content: a body sent again is not compressed again.

    Keyed by the uncompressed bytes themselves, so a hit is always the right answer; bounded to
    ``max_bytes`` (bodies plus their compressed forms), least recently used first out.
    """

    ENTRY_OVERHEAD = 200  # bytes of dict slot and object headers per entry, counted against max_bytes

    def __init__(self, max_bytes: int = GZIP_CACHE_BYTES) -> None:
        self.max_bytes = max_bytes
        self._entries: OrderedDict[bytes, bytes] = OrderedDict()
        self._size = 0
        self._lock = threading.Lock()

    @property
    def size(self) -> int:
        """The bytes held (bodies, their compressed forms and a per-entry overhead)."""
        return self._size

    def compress(self, payload: bytes) -> bytes:
        """``payload`` gzipped (``mtime=0``, so the same body always gives the same bytes)."""
        hash(payload)  # computed once and kept by the bytes object, outside the lock
        with self._lock:
            hit = self._entries.get(payload)
            if hit is not None:
                self._entries.move_to_end(payload)
                return hit
        compressed = gzip.compress(payload, compresslevel=GZIP_LEVEL, mtime=0)
        cost = len(payload) + len(compressed) + self.ENTRY_OVERHEAD
        if cost > self.max_bytes:
            return compressed
        with self._lock:
            if payload not in self._entries:
                self._entries[payload] = compressed
                self._size += cost
                while self._size > self.max_bytes:
                    old, old_compressed = self._entries.popitem(last=False)
                    self._size -= len(old) + len(old_compressed) + self.ENTRY_OVERHEAD
        return compressed


class EmulatorHTTPServer(ThreadingHTTPServer):
    """A threading HTTP/1.1 server that can close its open keep-alive connections on shutdown."""

    daemon_threads = True
    # Handler threads may sit in a keep-alive read; stop() unblocks them itself (close_connections).
    block_on_close = False
    # socketserver's default listen backlog is 5: a client opening 64 keep-alive connections at once
    # overflowed it and got "connection reset by peer". The kernel caps this at net.core.somaxconn.
    request_queue_size = 1024

    def __init__(self, address: tuple[str, int], backend: Backend) -> None:
        self.backend = backend
        self.gzip = GzipCache()
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(address, _Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        """Track the connection, then hand it to a handler thread."""
        with self._connections_lock:
            self._connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        """Forget and close a finished connection."""
        with self._connections_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Log a handler crash (a client vanishing mid-request) instead of printing to stderr."""
        logger.debug("emulator connection from %s failed", client_address, exc_info=True)

    def close_connections(self) -> None:
        """Shut down every open connection so idle keep-alive handler threads exit."""
        with self._connections_lock:
            connections = list(self._connections)
        for conn in connections:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)


# -- request head parsing ---------------------------------------------------------------------------
# http.server parses every request head with the email package (a FeedParser, a Message and a
# policy per request), which was the largest single cost of a small RPC. The head is parsed here
# with plain string operations into the same values Message.get gave: the first header of a name
# wins, names match case-insensitively, a value loses its leading blanks and its line end, folded
# continuation lines are appended as they came, a line with an empty name is skipped and a line that
# is not a header ends the headers. The limits (65,536 bytes a line, 100 lines) and their 431
# answers are http.client's.

_MAX_LINE = 65536
_MAX_HEADERS = 100
_HEAD_END = (b"\r\n", b"\n", b"")
_HEADER_NAME = re.compile(r"[\041-\071\073-\176]*:")
_PLAIN_HEAD = re.compile(r"(?:[\041-\071\073-\176]+:[^\r\n]*\r?\n)*\r?\n")
_PLAIN_LINE = re.compile(r"([\041-\071\073-\176]+):[ \t]*([^\r\n]*)\r?\n")


class Headers(dict[str, str]):
    """A request's headers by lower-case name (the first of repeated headers), read like ``Message.get``."""

    def get(self, name: str, default: Any = None) -> Any:
        """The header's value, matched case-insensitively; ``default`` when absent."""
        return dict.get(self, name.lower(), default)


def read_headers(rfile: io.BufferedIOBase) -> Headers:
    """Read a request's header lines up to the blank line; raises http.client's errors at its limits."""
    lines: list[bytes] = []
    while True:
        line = rfile.readline(_MAX_LINE + 1)
        if len(line) > _MAX_LINE:
            raise http.client.LineTooLong("header line")
        lines.append(line)
        if len(lines) > _MAX_HEADERS:
            raise http.client.HTTPException(f"got more than {_MAX_HEADERS} headers")
        if line in _HEAD_END:
            break
    text = b"".join(lines).decode("iso-8859-1")
    headers = Headers()
    if _PLAIN_HEAD.fullmatch(text):  # the usual head: one "Name: value" per line, nothing folded
        for name, value in reversed(_PLAIN_LINE.findall(text)):  # reversed: the first of a name wins
            headers[name.lower()] = value
        return headers
    return _parse_lines(lines[:-1], headers)


def _parse_lines(lines: list[bytes], headers: Headers) -> Headers:
    """The email parser's reading of header lines, continuation lines and malformed lines included."""
    name: str | None = None
    value: list[str] = []
    for raw in lines:
        text = raw.decode("iso-8859-1")
        if text[0] in " \t":
            if name is not None:
                value.append(text)
            continue
        if name is not None:
            headers.setdefault(name, "".join(value).rstrip("\r\n"))
            name = None
        if not _HEADER_NAME.match(text):
            break  # not a header line: the email parser takes the rest as a body
        colon = text.find(":")
        if colon == 0:
            continue
        name, value = text[:colon].lower(), [text[colon + 1 :].lstrip(" \t")]
    if name is not None:
        headers.setdefault(name, "".join(value).rstrip("\r\n"))
    return headers


_date_cache: tuple[int, str] = (0, "")


def http_date() -> str:
    """The ``Date`` header value for now (formatted once per second: it has whole-second precision)."""
    global _date_cache
    now = int(time.time())
    cached = _date_cache
    if cached[0] != now:
        cached = _date_cache = (now, email.utils.formatdate(now, usegmt=True))
    return cached[1]


class _BadBody(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "incident-emulator"
    sys_version = ""
    timeout = 120  # an idle keep-alive connection is closed after this many seconds
    # Headers and body leave in one buffered write with Nagle off; otherwise two small writes meet
    # the client's delayed ACK and every response costs ~40 ms.
    wbufsize = 64 * 1024
    disable_nagle_algorithm = True
    server: EmulatorHTTPServer

    fields: Headers
    raw_requestline: bytes

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("%s " + format, self.address_string(), *args)

    def parse_request(self) -> bool:
        """BaseHTTPRequestHandler.parse_request with the header block read by :func:`read_headers`.

        The request line, version, Connection and Expect handling (and every error answer) are
        the standard library's, line for line.
        """
        self.command = None  # type: ignore[assignment]  # set in case of error on the first line
        self.request_version = version = self.default_request_version
        self.close_connection = True
        requestline = str(self.raw_requestline, "iso-8859-1").rstrip("\r\n")
        self.requestline = requestline
        words = requestline.split()
        if len(words) == 0:
            return False
        if len(words) >= 3:  # enough to determine the protocol version
            version = words[-1]
            try:
                if not version.startswith("HTTP/"):
                    raise ValueError
                base_version_number = version.split("/", 1)[1]
                version_number = base_version_number.split(".")
                if len(version_number) != 2:
                    raise ValueError
                if any(not component.isdigit() for component in version_number):
                    raise ValueError("non digit in http version")
                if any(len(component) > 10 for component in version_number):
                    raise ValueError("unreasonable length http version")
                major, minor = int(version_number[0]), int(version_number[1])
            except (ValueError, IndexError):
                self.send_error(HTTPStatus.BAD_REQUEST, f"Bad request version ({version!r})")
                return False
            if (major, minor) >= (1, 1) and self.protocol_version >= "HTTP/1.1":
                self.close_connection = False
            if (major, minor) >= (2, 0):
                self.send_error(HTTPStatus.HTTP_VERSION_NOT_SUPPORTED, f"Invalid HTTP version ({base_version_number})")
                return False
            self.request_version = version
        if not 2 <= len(words) <= 3:
            self.send_error(HTTPStatus.BAD_REQUEST, f"Bad request syntax ({requestline!r})")
            return False
        command, path = words[:2]
        if len(words) == 2:
            self.close_connection = True
            if command != "GET":
                self.send_error(HTTPStatus.BAD_REQUEST, f"Bad HTTP/0.9 request type ({command!r})")
                return False
        self.command, self.path = command, path
        if self.path.startswith("//"):  # gh-87389, as http.server
            self.path = "/" + self.path.lstrip("/")
        try:
            self.fields = read_headers(self.rfile)
        except http.client.LineTooLong as err:
            self.send_error(HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE, "Line too long", str(err))
            return False
        except http.client.HTTPException as err:
            self.send_error(HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE, "Too many headers", str(err))
            return False
        conntype = self.fields.get("Connection", "").lower()
        if conntype == "close":
            self.close_connection = True
        elif conntype == "keep-alive" and self.protocol_version >= "HTTP/1.1":
            self.close_connection = False
        expects_continue = (
            self.fields.get("Expect", "").lower() == "100-continue"
            and self.protocol_version >= "HTTP/1.1"
            and self.request_version >= "HTTP/1.1"
        )
        return self.handle_expect_100() if expects_continue else True

    def do_POST(self) -> None:
        self._handle()

    do_GET = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = do_HEAD = do_POST

    # -- request plumbing --------------------------------------------------------------------------

    def _read_body(self) -> bytes:
        if self.fields.get("Transfer-Encoding", "").lower() == "chunked":
            raw = self._read_chunked()
        else:
            try:
                length = int(self.fields.get("Content-Length") or 0)
            except ValueError:
                raise _BadBody(400, "invalid Content-Length") from None
            if length < 0 or length > MAX_BODY_BYTES:
                raise _BadBody(413, "request body too large")
            raw = self.rfile.read(length) if length else b""
        if "gzip" in self.fields.get("Content-Encoding", "").lower() and raw:
            try:
                raw = gzip.decompress(raw)
            except (OSError, EOFError, zlib.error):
                raise _BadBody(400, "malformed gzip request body") from None
        return raw

    def _read_chunked(self) -> bytes:
        chunks: list[bytes] = []
        total = 0
        while True:
            line = self.rfile.readline(1024).strip()
            try:
                size = int(line.split(b";")[0], 16)
            except ValueError:
                raise _BadBody(400, "malformed chunked body") from None
            if size == 0:
                while self.rfile.readline(1024).strip():
                    pass
                return b"".join(chunks)
            total += size
            if total > MAX_BODY_BYTES:
                raise _BadBody(413, "request body too large")
            chunks.append(self.rfile.read(size))
            self.rfile.readline(16)

    def _accepts_gzip(self) -> bool:
        for part in self.fields.get("Accept-Encoding", "").lower().split(","):
            name, _, params = part.strip().partition(";")
            if name.strip() in ("gzip", "*"):
                q = params.strip()
                return not (q.startswith("q=") and _float(q[2:]) == 0.0)
        return False

    def _send(self, status: int, payload: bytes, content_type: str, headers: dict[str, str] | None = None) -> None:
        """Write the status line, headers and body in one buffered write (same bytes as send_response/send_header)."""
        encoding = False
        if payload and self._accepts_gzip():
            payload = self.server.gzip.compress(payload)
            encoding = True
        if logger.isEnabledFor(logging.DEBUG):
            self.log_request(status)
        if self.request_version == "HTTP/0.9":  # no status line, no headers
            if self.command != "HEAD":
                self.wfile.write(payload)
            return
        phrase = self.responses[status][0] if status in self.responses else ""
        head = [
            f"{self.protocol_version} {status} {phrase}\r\nServer: {self.version_string()}\r\n"
            f"Date: {http_date()}\r\nContent-Type: {content_type}\r\n"
        ]
        if encoding:
            head.append("Content-Encoding: gzip\r\n")
        head.append("Vary: Accept-Encoding\r\n")
        for name, value in (headers or {}).items():
            head.append(f"{name}: {value}\r\n")
        head.append(f"Content-Length: {len(payload)}\r\n\r\n")
        data = "".join(head).encode("latin-1", "strict")
        self.wfile.write(data if self.command == "HEAD" else data + payload)

    def _send_json(self, status: int, obj: Any, headers: dict[str, str] | None = None) -> None:
        self._send(status, dumps(obj), JSON_TYPE, headers)

    # -- the pipeline ------------------------------------------------------------------------------

    def _handle(self) -> None:
        backend = self.server.backend
        started = time.monotonic()
        path = self.path
        if "?" in path or "#" in path or not path.startswith("/"):
            path = urlsplit(path).path
        target = route(path, backend.plugin_ids)
        name = target.method if target is not None else path
        auth = self.fields.get("Authorization")
        authorized = auth is not None and _bearer(auth) == backend.token
        body, body_error = self._decode_body()
        status: int | None
        fault: Fault | None = None
        try:
            if backend.latency > 0:
                time.sleep(backend.latency)
            fault = self._choose_fault(name, body)
            if fault is not None and fault.kind == "slow":
                time.sleep(backend.slow_seconds)
            if fault is not None and fault.kind != "slow":
                status = self._send_fault(fault)
            else:
                status = self._answer(target, authorized, auth is not None, body, body_error)
        except (BrokenPipeError, ConnectionResetError):
            status = None
            self.close_connection = True
        kind = fault.kind if fault is not None else None
        backend.record(RequestRecord(name, path, self.command, body, status, authorized, kind))
        elapsed_ms = (time.monotonic() - started) * 1000
        logger.debug("%s %s -> %s in %.1f ms", self.command, name, status, elapsed_ms)

    def _decode_body(self) -> tuple[Any, _BadBody | None]:
        """The JSON body (None when empty) or the reason it cannot be used."""
        try:
            raw = self._read_body()
            return (json.loads(raw) if raw.strip() else None), None
        except _BadBody as exc:
            if exc.status == 413:  # the body was not read: the connection cannot be reused
                self.close_connection = True
            return None, exc
        except (ValueError, UnicodeDecodeError) as exc:
            return None, _BadBody(400, f"malformed JSON request body: {exc}")

    def _choose_fault(self, name: str, body: Any) -> Fault | None:
        """A scripted fault, else a rate-limit refusal, else a random fault (one draw), else None."""
        backend = self.server.backend
        fault = backend.faults.scripted(name, body)
        if fault is None and backend.bucket is not None:
            wait = backend.bucket.acquire()
            if wait is not None:
                fault = Fault("429", wait)
        return fault if fault is not None else backend.faults.draw()

    def _answer(
        self,
        target: Route | None,
        authorized: bool,
        has_auth: bool,
        body: Any,
        body_error: _BadBody | None,
    ) -> int:
        backend = self.server.backend
        if not authorized:
            self._send_json(401, INVALID_TOKEN_BODY if has_auth else MISSING_TOKEN_BODY)
            return 401
        if self.command != "POST" or target is None or not backend.api.knows(target.method, versioned=target.versioned):
            self._send(404, b"404 page not found\n", "text/plain; charset=utf-8")
            return 404
        if body_error is not None:
            self._send_json(body_error.status, {"error": body_error.message})
            return body_error.status
        try:
            payload = backend.api.call_encoded(target.method, body)
        except RpcError as exc:
            self._send_json(exc.status, {"error": exc.message})
            return exc.status
        except Exception:
            logger.exception("emulator handler for %s failed", target.method)
            self._send_json(500, {"error": "internal server error"})
            return 500
        self._send(200, payload, JSON_TYPE)
        return 200

    def _send_fault(self, fault: Fault) -> int | None:
        kind = fault.kind
        if kind == "drop":
            self.close_connection = True
            return None
        if kind == "html":
            self._send(502, HTML_502.encode(), "text/html")
            return 502
        if kind == "error200":
            self._send_json(200, {"error": "something went wrong"})
            return 200
        status = int(kind)
        headers: dict[str, str] = {}
        if status in (429, 503) or fault.retry_after is not None:
            headers["Retry-After"] = str(fault.retry_after if fault.retry_after is not None else 1)
        if status == 401:
            self._send_json(401, INVALID_TOKEN_BODY, headers)
        elif status == 429:
            self._send_json(429, {"error": "rate limit exceeded"}, headers)
        else:
            self._send_json(status, {"error": _reason(status)}, headers)
        return status


def _bearer(header: str) -> str | None:
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "bearer":
        return None
    return token.strip()


def _float(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        return 1.0


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase.lower()
    except ValueError:
        return f"error {status}"
