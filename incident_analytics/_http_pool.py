"""Keep-alive HTTP/1.1 connections to one origin, on the standard library's sockets and ``http.client``.

The sync requester's fast path (``transport.SyncRequester``) sends each attempt on a socket from
this pool and parses the answer with ``http.client.HTTPResponse``: about a quarter of the client CPU
of ``httpx.Client`` + httpcore + h11 per call, which is what limits a concurrent fetch. Failures are
raised as the ``httpx`` exception a request through httpx would raise (``ConnectError``,
``ReadTimeout``, ``RemoteProtocolError`` …), so the retry rules and error messages stay the same.
"""

from __future__ import annotations

import contextlib
import http.client
import select
import socket
import ssl
import threading
from collections.abc import Callable

import httpx

MAX_CONNECTIONS = 64


def connect_error(exc: OSError) -> httpx.TransportError:
    """The httpx error for a failed connect (nothing was sent)."""
    if isinstance(exc, TimeoutError):
        return httpx.ConnectTimeout(str(exc) or "timed out")
    return httpx.ConnectError(str(exc) or type(exc).__name__)


def write_error(exc: OSError) -> httpx.TransportError:
    """The httpx error for a failed send."""
    if isinstance(exc, TimeoutError):
        return httpx.WriteTimeout(str(exc) or "timed out")
    return httpx.WriteError(str(exc) or type(exc).__name__)


def read_error(exc: BaseException) -> httpx.TransportError:
    """The httpx error for a failure while the status line, headers or body were read."""
    if isinstance(exc, TimeoutError):
        return httpx.ReadTimeout(str(exc) or "timed out")
    if isinstance(exc, http.client.RemoteDisconnected):
        # httpcore's words for the same event, so logs and messages do not depend on the path.
        return httpx.RemoteProtocolError("Server disconnected without sending a response.")
    if isinstance(exc, http.client.HTTPException):
        return httpx.RemoteProtocolError(f"{type(exc).__name__}: {exc}")
    return httpx.ReadError(str(exc) or type(exc).__name__)


def _closed_by_peer(sock: socket.socket) -> bool:
    """True when an idle keep-alive socket is readable: the server closed it (or sent junk)."""
    try:
        poller = select.poll()
        poller.register(sock, select.POLLIN)
        return bool(poller.poll(0))
    except (OSError, ValueError):  # already closed
        return True


def _close(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.close()


class ConnectionPool:
    """Up to ``max_connections`` sockets to ``host:port`` (TLS with ``ssl_context`` when given); thread-safe.

    ``acquire`` hands out an idle socket (most recently used first) or opens a new one; ``release``
    takes it back when it may carry another request, else closes it. A socket the server closed
    while it sat idle is noticed before anything is sent on it and replaced.
    """

    def __init__(
        self,
        host: str,
        port: int,
        *,
        ssl_context: Callable[[], ssl.SSLContext] | None = None,
        max_connections: int = MAX_CONNECTIONS,
    ) -> None:
        self.host, self.port = host, port
        self._ssl_context = ssl_context
        self._idle: list[socket.socket] = []
        self._lock = threading.Lock()
        self._slots = threading.BoundedSemaphore(max_connections)
        self._closed = False

    def acquire(self, timeout: float) -> tuple[socket.socket, bool]:
        """A socket and whether it was used before; waits at most ``timeout`` s for a free slot and to connect."""
        if not self._slots.acquire(timeout=max(0.0, timeout)):
            raise httpx.PoolTimeout(f"no free connection to {self.host}:{self.port} within {timeout:.3g}s")
        try:
            while True:
                with self._lock:
                    sock = self._idle.pop() if self._idle else None
                if sock is None:
                    return self.connect(timeout), False
                if not _closed_by_peer(sock):
                    return sock, True
                _close(sock)
        except BaseException:
            self._slots.release()
            raise

    def connect(self, timeout: float) -> socket.socket:
        """A new connection (TCP, then TLS for https), its socket timeout set to ``timeout``."""
        try:
            sock = socket.create_connection((self.host, self.port), timeout=max(0.001, timeout))
        except OSError as exc:
            raise connect_error(exc) from exc
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if self._ssl_context is not None:
                sock = self._ssl_context().wrap_socket(sock, server_hostname=self.host)
        except OSError as exc:  # ssl.SSLError (certificate, handshake) is an OSError
            _close(sock)
            raise connect_error(exc) from exc
        return sock

    def reconnect(self, sock: socket.socket, timeout: float) -> socket.socket:
        """Close ``sock`` and open a new connection in its place (its slot is kept)."""
        _close(sock)
        return self.connect(timeout)

    def release(self, sock: socket.socket, *, reusable: bool) -> None:
        """Give a socket back: kept for the next request when ``reusable``, else closed."""
        try:
            if reusable:
                with self._lock:
                    if not self._closed:
                        self._idle.append(sock)
                        return
            _close(sock)
        finally:
            self._slots.release()

    def close(self) -> None:
        """Close the idle sockets; sockets in use are closed when they come back."""
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for sock in idle:
            _close(sock)


class Headers(dict[str, str]):
    """Response headers by lower-case name (the first of repeated ones), parsed without ``email``.

    ``http.client`` hands the header block to the ``email`` package, about half of the client CPU of
    a small response; the few headers a client reads need only a split per line.
    """

    @classmethod
    def parse(cls, lines: list[bytes]) -> Headers:
        """Headers from the raw lines of a header block; folded continuation lines are joined."""
        headers = cls()
        last = ""
        if lines and not lines[-1]:
            raise http.client.IncompleteRead(b"", None)  # the connection closed inside the header block
        for raw in lines:
            line = raw.decode("iso-8859-1")
            if not line.strip():  # the blank line that ends the block
                break
            if line[:1] in (" ", "\t") and last:
                headers[last] = f"{headers[last]} {line.strip()}"
                continue
            name, colon, value = line.partition(":")
            name = name.strip().lower()
            if not colon or not name:
                raise http.client.HTTPException(f"malformed header line {line.strip()[:80]!r}")
            if name not in headers:
                headers[name] = value.strip()
            last = name
        return headers


class Response(http.client.HTTPResponse):
    """``http.client.HTTPResponse`` with its header block parsed by ``Headers`` (``self.headers``).

    Body reading (``read1``: Content-Length, chunked, read-to-close) is the standard library's.
    """

    def begin(self) -> None:
        """Read the status line and the headers, and work out how the body is framed."""
        while True:
            version, status, reason = self._read_status()  # type: ignore[attr-defined]
            if not 100 <= status < 200 or status == 101:
                break
            # An interim answer (100 Continue, 103 Early Hints): its headers are skipped, as h11 does.
            http.client._read_headers(self.fp)  # type: ignore[attr-defined]
        self.code = self.status = status
        self.reason = reason.strip()
        if version in ("HTTP/1.0", "HTTP/0.9"):
            self.version = 10
        elif version.startswith("HTTP/1."):
            self.version = 11
        else:
            raise http.client.UnknownProtocol(version)
        headers = Headers.parse(http.client._read_headers(self.fp))  # type: ignore[attr-defined]
        self.headers = self.msg = headers  # type: ignore[assignment]
        self.chunked = headers.get("transfer-encoding", "").lower() == "chunked"
        self.chunk_left = None
        self.will_close = self._check_close()  # type: ignore[attr-defined]
        self.length = None
        length = headers.get("content-length")
        if length and not self.chunked:
            try:
                self.length = int(length)
            except ValueError:
                raise http.client.HTTPException(f"invalid Content-Length {length[:40]!r}") from None
            if self.length < 0:
                raise http.client.HTTPException(f"invalid Content-Length {length[:40]!r}")
        if status in (204, 304) or 100 <= status < 200 or self._method == "HEAD":  # type: ignore[attr-defined]
            self.length = 0
        if not self.will_close and not self.chunked and self.length is None:
            self.will_close = True
