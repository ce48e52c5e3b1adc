"""The single place a request is made: ``POST {base}/{Service}.{Method}`` with a JSON body.

It sets the headers, decodes gzip and JSON, maps every failure to ``errors``, retries with backoff,
full jitter and ``Retry-After``, applies an optional client-side rate limit and keeps the token out of
logs and exceptions. Every attempt has a wall-clock deadline (``attempt_timeout``, and the call as a
whole ``RetryPolicy.total_timeout``), the decoded body has a size cap (``max_response_bytes``), and
redirects are never followed. ``AsyncRequester`` wraps an ``httpx.AsyncClient``; ``SyncRequester``
sends on its own keep-alive ``http.client`` connections (``_http_pool``, a quarter of httpx's client
CPU per call) and falls back to an ``httpx.Client`` when a transport is injected, a proxy is
configured or vcrpy (or respx) patches httpx. They differ only in how they send, read and sleep; every
decision (what to retry, how long to wait, which error to raise) is a pure function here. A
``Retry-After`` holds back every sender sharing the requester, and observers (``add_listener``) see
an ``AttemptEvent`` after every attempt.
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import contextvars
import email.utils
import heapq
import http.client
import itertools
import json
import logging
import random
import socket
import ssl
import threading
import time
import urllib.request
import zlib
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import httpcore
import httpx

from ._http_pool import ConnectionPool, Response, read_error, write_error
from ._version import __version__
from .config import DEFAULT_MAX_RESPONSE_BYTES, TOKEN_ENV, RetryPolicy, Secret, plugin_id_of, unversioned_base
from .errors import (
    IncidentAPIError,
    NotFoundError,
    OutcomeUnknownError,
    RateLimitError,
    RedirectError,
    RequestTimeoutError,
    ResponseFormatError,
    TransportError,
    error_class_for_status,
)
from .methods import RetryKind, method_info
from .pacing import LearnedRate, RateLimiter
from .types import JSONDict

logger = logging.getLogger("incident_analytics")

EXCERPT_CHARS = 200

# A proxy answering 502/504 may have passed the request on before giving up on the backend.
PROXY_STATUSES = frozenset({502, 504})


def method_kind(method: str) -> RetryKind:
    """Classify an RPC for retrying: ``read``, ``idempotent`` write, or ``unsafe`` (see ``methods``).

    Anything not known to be safe (``CreateIncident``, ``AddTask``, ``AddActivity``, unknown writes)
    is ``unsafe``: it is retried only when the request certainly never reached the server.
    """
    return method_info(method).kind


# --------------------------------------------------------------------------------------------------
# Pure decision logic, shared by the sync and async transports.


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or an HTTP date), or None.

    >>> parse_retry_after("3")
    3.0
    >>> parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412470.0)
    10.0
    """
    if value is None:
        return None
    value = value.strip()
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when is None:
            return None
        seconds = when.timestamp() - (time.time() if now is None else now)
    if seconds != seconds:  # NaN
        return None
    return max(0.0, seconds)


@dataclass(frozen=True)
class RetryDecision:
    """Whether to try again, after how many seconds, and why (for the log)."""

    retry: bool
    delay: float = 0.0
    reason: str = ""


# Exceptions raised before a single byte of the request could have reached the server.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout, httpx.UnsupportedProtocol)


class DeadlineExceeded(httpx.ReadTimeout):
    """The wall-clock deadline of an attempt passed while its response was still arriving.

    A kind of read timeout, so the retry rules treat it as one (reads retry, creates do not).
    """


def request_never_sent(exc: BaseException) -> bool:
    """True when the request certainly never reached the server (connect failed, pool timeout)."""
    return isinstance(exc, _NOT_SENT)


def retry_decision(
    method: str,
    attempt: int,
    elapsed: float,
    policy: RetryPolicy,
    rng: random.Random,
    *,
    status: int | None = None,
    retry_after: str | None = None,
    exc: BaseException | None = None,
) -> RetryDecision:
    """Decide whether attempt number ``attempt`` (0-based) of ``method`` should be tried again.

    Give either the response ``status`` (and its ``Retry-After`` header) or the network ``exc``.
    """
    if attempt >= policy.max_retries:
        return RetryDecision(False, reason="retries exhausted")
    kind = method_kind(method)
    if exc is not None:
        if not isinstance(exc, httpx.TransportError):
            return RetryDecision(False, reason="not a network error")
        if kind == "unsafe" and not request_never_sent(exc):
            return RetryDecision(False, reason="outcome unknown for a non-idempotent write")
    elif status is not None:
        if status not in policy.retry_statuses:
            return RetryDecision(False, reason=f"HTTP {status} is not retried")
        # A 429 means the request was turned away unprocessed, so even a create may go again;
        # a 5xx from a proxy may have reached the backend (decode_response makes 502/504 an
        # OutcomeUnknownError for these).
        if kind == "unsafe" and status != 429:
            return RetryDecision(False, reason=f"HTTP {status} on a non-idempotent write")
    else:
        return RetryDecision(False, reason="nothing to retry")

    hinted = parse_retry_after(retry_after)
    if hinted is not None:
        delay = min(hinted, policy.max_retry_after)
    else:
        ceiling = min(policy.backoff_max, policy.backoff_base * (2**attempt))
        delay = rng.uniform(0.0, ceiling)
    if elapsed + delay > policy.total_timeout:
        return RetryDecision(False, delay, reason="total retry time would be exceeded")
    return RetryDecision(True, delay, reason="retryable")


def scrub(value: Any, secret: str) -> Any:
    """Remove every occurrence of ``secret`` (and bearer headers) from a decoded body or text."""
    if isinstance(value, str):
        if secret and secret in value:
            value = value.replace(secret, "***")
        return value
    if isinstance(value, Mapping):
        return {
            scrub(k, secret): ("***" if str(k).lower() == "authorization" else scrub(v, secret))
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [scrub(v, secret) for v in value]
    return value


def excerpt(text: str, secret: str, limit: int = EXCERPT_CHARS) -> str:
    """A one-line excerpt of at most ``limit`` characters with no trace of ``secret``.

    The whole text is scrubbed before it is cut, and a cut that lands inside an occurrence of the
    secret drops the partial token too (a prefix of it left at the end of the excerpt).

    >>> excerpt("key=" + "s3cr3t-token", "s3cr3t-token", limit=8)
    'key=…'
    """
    text = " ".join(scrub(text, secret).split())
    if len(text) <= limit:
        return text
    cut = text[:limit]
    for n in range(min(len(secret) - 1, len(cut)), 0, -1):
        if cut.endswith(secret[:n]):
            cut = cut[:-n]
            break
    return cut + "…"


def _message_from_body(body: Any) -> str | None:
    """The server's own words: oto ``error``, Grafana ``message``, or RFC 7807 ``title``/``detail``."""
    if not isinstance(body, Mapping):
        return None
    error = body.get("error")
    if isinstance(error, str) and error:
        return error
    message = body.get("message")
    if isinstance(message, str) and message:
        message_id = body.get("messageId")
        return f"{message} ({message_id})" if isinstance(message_id, str) and message_id else message
    title, detail = body.get("title"), body.get("detail")
    if isinstance(title, str) or isinstance(detail, str):
        words = ": ".join(str(p) for p in (title, detail) if isinstance(p, str) and p)
        code = body.get("code")
        return f"{words} [{code}]" if isinstance(code, str) and code else words
    return None


@dataclass(frozen=True)
class Endpoint:
    """Where a call went, for messages that say what to fix: the method's URL and the plugin id."""

    url: str
    plugin_id: str

    @property
    def host(self) -> str:
        """The host (and port) of the URL."""
        return httpx.URL(self.url).netloc.decode("ascii", "replace")


def _hint(cls: type[IncidentAPIError], body: Any, endpoint: Endpoint | None, location: str | None) -> str:
    """What the user should check, for the errors a wrong setting causes."""
    if cls is RedirectError:
        where = f"to {location!r}" if location else "without a Location header"
        return (
            f"the server redirected {where}; redirects are not followed so the token never travels "
            "elsewhere: give the client the final https:// URL of the stack"
        )
    if endpoint is None:
        return ""
    if issubclass(cls, NotFoundError) and not (isinstance(body, Mapping) and isinstance(body.get("error"), str)):
        # A 404 from routing (no oto "error" field), not an API "incident not found".
        other = "grafana-incident-app" if endpoint.plugin_id == "grafana-irm-app" else "grafana-irm-app"
        return (
            f"nothing answers at {endpoint.url}: check the Grafana URL and that the plugin "
            f"{endpoint.plugin_id!r} is installed on {endpoint.host} (older stacks use plugin_id={other!r})"
        )
    if cls.__name__ == "AuthenticationError":
        return (
            f"check {TOKEN_ENV} (or token=): the service-account token for {endpoint.host} is missing, "
            "invalid, expired or revoked"
        )
    if cls.__name__ == "PermissionDeniedError":
        return "the service account's role may not do this (reads need Viewer, writes Editor)"
    return ""


def decode_response(
    method: str,
    status: int,
    content_type: str,
    content: bytes,
    secret: str,
    retry_after: str | None = None,
    *,
    location: str | None = None,
    endpoint: Endpoint | None = None,
) -> JSONDict:
    """Turn one HTTP response into the decoded JSON object, or raise the matching error.

    Order (docs/api.md#errors): the HTTP status first; then a JSON ``error`` string (also on HTTP 200);
    Grafana's ``{"message": ...}`` 401/403 bodies and RFC 7807 bodies give the message; a body that is
    not a JSON object is a ``ResponseFormatError`` on success and carries a short excerpt otherwise.
    A 3xx is a ``RedirectError`` naming ``location``; a proxy 502/504 on an unsafe write is an
    ``OutcomeUnknownError``. With ``endpoint``, a routing 404, a 401 or a 403 says what to check.
    """
    text = content.decode("utf-8", errors="replace")
    body: Any
    try:
        body = json.loads(text) if text.strip() else None
        parsed = True
    except ValueError:
        body, parsed = None, False
    if status >= 300 or status < 200:
        clean = scrub(body, secret) if parsed else excerpt(text, secret)
        message = _message_from_body(clean) if parsed else None
        if message is None:
            kind = "HTML" if "html" in content_type.lower() or text.lstrip().startswith("<") else "body"
            message = (
                f"HTTP {status} with {kind}: {excerpt(text, secret)!r}"
                if text.strip()
                else (f"HTTP {status} with an empty body")
            )
        cls = error_class_for_status(status)
        hint = _hint(cls, clean, endpoint, location)
        if hint:
            message = f"{message}; {hint}"
        if status in PROXY_STATUSES and method_kind(method) == "unsafe":
            raise OutcomeUnknownError(
                f"{message}; a proxy answered HTTP {status}, so the write may have reached the server. "
                "Not retried because repeating it could apply it twice: check whether it took effect",
                method=method,
                status_code=status,
                body=clean,
            )
        if cls is RateLimitError:
            raise RateLimitError(
                message,
                method=method,
                status_code=status,
                body=clean,
                retry_after=parse_retry_after(retry_after),
            )
        if cls is RedirectError:
            raise RedirectError(message, method=method, status_code=status, body=clean, location=location)
        raise cls(message, method=method, status_code=status, body=clean)
    if not parsed:
        raise ResponseFormatError(
            f"expected a JSON object, got {content_type or 'no content type'}: {excerpt(text, secret)!r}",
            method=method,
            status_code=status,
            body=excerpt(text, secret),
        )
    if not isinstance(body, dict):
        raise ResponseFormatError(
            f"expected a JSON object, got {type(body).__name__}",
            method=method,
            status_code=status,
            body=scrub(body, secret),
        )
    error = body.get("error")
    if isinstance(error, str) and error:
        # oto reports failures in band on HTTP 200 (gcx checks result.Error after a 200).
        raise IncidentAPIError(scrub(error, secret), method=method, status_code=status, body=scrub(body, secret))
    return body


def network_error(
    method: str, exc: httpx.TransportError, secret: str, endpoint: Endpoint | None = None
) -> TransportError:
    """The package error for an httpx network failure (no usable response arrived).

    With ``endpoint`` the message names the URL, the host and the plugin id, so a typo shows.
    """
    detail = scrub(f"{type(exc).__name__}: {exc}", secret)
    where = f" ({endpoint.url}, host {endpoint.host}, plugin {endpoint.plugin_id!r})" if endpoint else ""
    if method_kind(method) == "unsafe" and not request_never_sent(exc):
        return OutcomeUnknownError(
            f"the request may have reached the server before it failed ({detail}){where}; not retried "
            "because repeating it could apply it twice. Check whether it took effect before trying again",
            method=method,
        )
    if isinstance(exc, httpx.TimeoutException):
        return RequestTimeoutError(f"timed out ({detail}){where}", method=method)
    check = f"; check the Grafana URL and that {endpoint.host} is reachable" if endpoint else ""
    return TransportError(f"network error ({detail}){where}{check}", method=method)


# --------------------------------------------------------------------------------------------------
# Reading a body under a size cap and a deadline.


_HEAD = frozenset({"content-type", "content-encoding", "content-length", "retry-after", "location"})


def response_head(response: httpx.Response) -> dict[str, str]:
    """The few response headers the client reads, decoded in one pass (lower-case names).

    Each ``httpx.Headers.get`` scans and decodes every header again; one pass is cheaper.
    """
    return {name: value for name, value in response.headers.items() if name in _HEAD}


class BodyReader:
    """Collects a response body chunk by chunk: decoded (gzip/deflate), capped in size, on a deadline.

    Decoding asks zlib for at most the bytes still allowed, so a small body that would inflate to
    gigabytes stops at the cap (``ResponseFormatError``) after holding about ``limit`` bytes. The
    clock is checked after every chunk, so a server trickling its body cannot outlast ``deadline``
    (``DeadlineExceeded``).
    """

    def __init__(
        self,
        method: str,
        status: int,
        head: Mapping[str, str],
        *,
        limit: int,
        deadline: float,
        deadline_reason: str,
        decoded: bool = False,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.method = method
        self.status = status
        self.limit = limit
        self.deadline = deadline
        self.deadline_reason = deadline_reason
        self._clock = clock
        self._parts: list[bytes] = []
        self._size = 0
        # ``decoded``: httpx already holds the decoded body (a mock or replaying transport read it).
        encoding = "" if decoded else head.get("content-encoding", "").strip().lower()
        self._decoder: Any = None
        self._deflate = False
        if encoding in ("gzip", "x-gzip"):
            self._decoder = zlib.decompressobj(16 + zlib.MAX_WBITS)
        elif encoding == "deflate":
            self._decoder = zlib.decompressobj()
            self._deflate = True
        elif encoding not in ("", "identity"):
            raise ResponseFormatError(
                f"unsupported Content-Encoding {encoding!r} (only gzip was asked for)",
                method=method,
                status_code=self.status,
            )
        length = head.get("content-length", "")
        if self._decoder is None and length.isdigit() and int(length) > limit:
            self._too_large(int(length))
        self.check_deadline()

    def _too_large(self, size: int | None = None) -> None:
        got = f"{size:,} bytes" if size is not None else f"more than {self.limit:,} bytes"
        raise ResponseFormatError(
            f"response body of {got} exceeds max_response_bytes={self.limit:,}; refusing to read it all "
            "(raise max_response_bytes if such answers are expected)",
            method=self.method,
            status_code=self.status,
        )

    def check_deadline(self) -> None:
        """Raise ``DeadlineExceeded`` once the wall-clock deadline has passed."""
        if self._clock() > self.deadline:
            raise DeadlineExceeded(self.deadline_reason)

    def _add(self, data: bytes) -> None:
        if data:
            self._size += len(data)
            if self._size > self.limit:
                self._too_large()
            self._parts.append(data)

    def _inflate(self, data: bytes) -> None:
        while data:
            try:
                out = self._decoder.decompress(data, self.limit - self._size + 1)
            except zlib.error as exc:
                if self._deflate and self._size == 0 and not self._parts:
                    # "deflate" is sometimes sent raw, without the zlib header (httpx does the same).
                    self._decoder, self._deflate = zlib.decompressobj(-zlib.MAX_WBITS), False
                    continue
                raise ResponseFormatError(
                    f"the compressed response body could not be decoded ({exc})",
                    method=self.method,
                    status_code=self.status,
                ) from None
            self._add(out)
            data = self._decoder.unconsumed_tail

    def feed(self, chunk: bytes) -> None:
        """Take one raw chunk off the wire."""
        if self._decoder is None:
            self._add(chunk)
        else:
            self._inflate(chunk)
        self.check_deadline()

    def finish(self) -> bytes:
        """The whole decoded body."""
        if self._decoder is not None:
            self._add(self._decoder.flush())
        return b"".join(self._parts)


# --------------------------------------------------------------------------------------------------
# The requesters: each wraps one pooled httpx client.


@dataclass(frozen=True)
class RequestSettings:
    """Everything a requester needs to know about where and how to send.

    ``timeout`` bounds each network operation (connect, each read, each write); ``attempt_timeout``
    is the wall-clock deadline of one attempt, headers and body included (default: twice
    ``timeout``); ``retry.total_timeout`` bounds the whole call; ``max_response_bytes`` caps a decoded
    body.
    """

    base_url: str
    token: Secret
    timeout: float
    retry: RetryPolicy
    attempt_timeout: float | None = None
    max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES
    user_agent: str = f"incident-analytics/{__version__}"
    rate_limit: float | None = None
    rate_burst: int = 1

    @property
    def attempt_seconds(self) -> float:
        """The per-attempt deadline in seconds."""
        return self.attempt_timeout if self.attempt_timeout is not None else 2 * self.timeout


def _deadline_error(exc: httpx.TransportError, deadline: float, reason: str) -> httpx.TransportError:
    """``exc`` itself, unless it happened because the deadline passed: then say so.

    A timeout cut to the time left, or a read ended by the watchdog at the deadline, becomes
    ``DeadlineExceeded``; a connect or pool timeout keeps its type (the request was never sent,
    which the retry rules need to know).
    """
    late = time.monotonic() >= deadline - 0.05
    if not late or isinstance(exc, DeadlineExceeded):
        return exc
    try:
        request: httpx.Request | None = exc.request
    except RuntimeError:  # raised without a request (a mock transport)
        request = None
    if isinstance(exc, httpx.ConnectTimeout | httpx.PoolTimeout):
        return type(exc)(reason, request=request)
    if request_never_sent(exc):
        return exc
    return DeadlineExceeded(reason, request=request)


class Watchdog:
    """One daemon thread that ends the sync reads still running at their deadline.

    A blocking read cannot be interrupted from outside except by shutting its socket down, which
    makes the read return at once; the requester then reports the passed deadline. Used for the
    body of each sync attempt (the headers are bounded by a read timeout cut to the time left).
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._heap: list[tuple[float, int, socket.socket]] = []
        self._done: set[int] = set()
        self._ids = itertools.count()
        self._thread: threading.Thread | None = None

    def arm(self, deadline: float, sock: socket.socket) -> int:
        """Shut ``sock`` down at ``deadline`` unless ``disarm`` comes first; returns a ticket."""
        with self._cond:
            ticket = next(self._ids)
            heapq.heappush(self._heap, (deadline, ticket, sock))
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="incident-analytics-deadlines", daemon=True)
                self._thread.start()
            if self._heap[0][1] == ticket:
                # Wake the thread only when this deadline comes first (deadlines mostly grow).
                self._cond.notify()
            return ticket

    def disarm(self, ticket: int) -> None:
        """The read ended in time: leave its socket alone."""
        with self._cond:
            self._done.add(ticket)

    def _run(self) -> None:
        with self._cond:
            while True:
                now = time.monotonic()
                while self._heap and self._heap[0][0] <= now:
                    _, ticket, sock = heapq.heappop(self._heap)
                    if ticket in self._done:
                        self._done.discard(ticket)
                        continue
                    with contextlib.suppress(OSError):  # already closed
                        sock.shutdown(socket.SHUT_RDWR)
                self._cond.wait(self._heap[0][0] - now if self._heap else None)


_WATCHDOG = Watchdog()


def _socket_of(response: httpx.Response) -> socket.socket | None:
    """The socket under a streamed HTTP/1.1 response, where the transport exposes it."""
    stream = response.extensions.get("network_stream")
    get = getattr(stream, "get_extra_info", None)
    sock = get("socket") if callable(get) else None
    return sock if isinstance(sock, socket.socket) else None


@dataclass(frozen=True)
class _Answer:
    """One attempt's response: status, the headers the client reads, and the decoded body."""

    status: int
    head: Mapping[str, str]
    body: bytes


@dataclass(frozen=True)
class AttemptEvent:
    """What one attempt did, as seen by a listener (``SyncRequester.add_listener``).

    ``status`` is None for a network error (no response); ``seconds`` runs from the send to the
    complete body (or the failure); ``retry_after`` is the server's ``Retry-After`` in seconds, when
    it sent one; ``retried`` says whether this attempt will be followed by another.
    """

    method: str
    status: int | None
    seconds: float
    retry_after: float | None
    retried: bool


AttemptListener = Callable[[AttemptEvent], None]

# A 429 or 503 with Retry-After holds back every sender of the requester until that moment.
_HOLD_BACK_STATUSES = frozenset({429, 503})


class _BaseRequester:
    def __init__(self, settings: RequestSettings, rng: random.Random | None) -> None:
        self.settings = settings
        self._rng = rng or random.Random()
        self._limiter = RateLimiter(settings.rate_limit, settings.rate_burst) if settings.rate_limit else None
        # Without a rate limit from the caller, the server's is learned from its 429s (pacing.py).
        self._learned = LearnedRate() if self._limiter is None else None
        self._unversioned = unversioned_base(settings.base_url)
        self._plugin_id = plugin_id_of(settings.base_url)
        self._urls: dict[str, httpx.URL] = {}
        self._endpoints: dict[str, Endpoint] = {}
        self._listeners: tuple[AttemptListener, ...] = ()
        self._listeners_lock = threading.Lock()
        # The monotonic moment before which no request may be sent (0: none pending), shared by
        # every thread or task using this requester; only ever moved later.
        self._resume_at = 0.0
        self._resume_lock = threading.Lock()

    def add_listener(self, listener: AttemptListener) -> Callable[[], None]:
        """Call ``listener(event)`` after every attempt, in the thread that made it; returns a remover.

        An exception in a listener is logged and otherwise ignored: it never fails the request.

        ```python
        remove = requester.add_listener(lambda event: print(event.status, event.seconds))
        ...
        remove()
        ```
        """
        if not callable(listener):
            raise TypeError(f"listener must be callable, got {type(listener).__name__}")
        with self._listeners_lock:
            self._listeners = (*self._listeners, listener)

        def remove() -> None:
            with self._listeners_lock:
                listeners = list(self._listeners)
                for i, known in enumerate(listeners):
                    if known is listener:
                        del listeners[i]
                        break
                self._listeners = tuple(listeners)

        return remove

    def _notify(
        self, method: str, status: int | None, sent: float, retry_after: str | None, retried: bool
    ) -> None:
        event = AttemptEvent(
            method,
            status,
            time.monotonic() - sent,
            parse_retry_after(retry_after) if retry_after is not None else None,
            retried,
        )
        for listener in self._listeners:
            try:
                listener(event)
            except Exception:
                logger.exception("attempt listener %r failed; ignored", listener)

    def _hold_back(self, status: int, retry_after: str | None) -> float | None:
        """Push the shared resume moment to a 429/503's ``Retry-After`` (capped); the moment, or None."""
        if retry_after is None or status not in _HOLD_BACK_STATUSES:
            return None
        seconds = parse_retry_after(retry_after)
        if seconds is None:
            return None
        until = time.monotonic() + min(seconds, self.settings.retry.max_retry_after)
        with self._resume_lock:
            if until > self._resume_at:
                self._resume_at = until
        if status == 429 and self._learned is not None:
            rate = self._learned.refused(resume_at=until)
            if rate is not None:
                logger.info("HTTP 429 without a rate limit set: pacing at %.1f requests/s from now on", rate)
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug("HTTP %d with Retry-After %s: every sender waits %.3fs", status, retry_after, seconds)
        return until

    @property
    def learned_rate(self) -> float | None:
        """The requests per second learned from 429s (when no ``rate_limit`` was given), or None."""
        return self._learned.rate if self._learned is not None else None

    def _pace(self) -> RateLimiter | None:
        if self._limiter is not None:
            return self._limiter
        return self._learned.limiter if self._learned is not None else None

    def url_for(self, method: str) -> str:
        """The full URL of ``Service.Method`` (the unversioned prefix for methods catalogued so)."""
        if method.count(".") != 1 or not all(method.split(".")):
            raise ValueError(f"RPC method must look like 'Service.Method', got {method!r}")
        base = self._unversioned if method_info(method).unversioned else self.settings.base_url
        return base + method

    def _url(self, method: str) -> httpx.URL:
        # Parsed once per method: httpx would otherwise parse the URL string on every request.
        url = self._urls.get(method)
        if url is None:
            url = self._urls[method] = httpx.URL(self.url_for(method))
        return url

    def _endpoint(self, method: str) -> Endpoint:
        endpoint = self._endpoints.get(method)
        if endpoint is None:
            endpoint = self._endpoints[method] = Endpoint(str(self._url(method)), self._plugin_id)
        return endpoint

    def _headers(self) -> dict[str, str]:
        return {
            "Content-Type": "application/json; charset=utf-8",
            "Accept": "application/json; charset=utf-8",
            "Accept-Encoding": "gzip",
            "User-Agent": self.settings.user_agent,
            "Authorization": f"Bearer {self.settings.token.reveal()}",
        }

    @staticmethod
    def _encode(method: str, body: Mapping[str, Any] | None) -> bytes:
        if body is None:
            body = {}
        if not isinstance(body, Mapping):
            raise TypeError(f"{method}: request body must be a mapping, got {type(body).__name__}")
        try:
            return json.dumps(body, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()
        except (TypeError, ValueError) as exc:
            raise TypeError(f"{method}: request body is not JSON-serialisable: {exc}") from None

    def _deadline(self, started: float) -> tuple[float, str]:
        """The wall-clock deadline of an attempt starting now, and what to say when it passes."""
        now = time.monotonic()
        attempt = now + self.settings.attempt_seconds
        total = started + self.settings.retry.total_timeout
        if total <= attempt:
            return (
                total,
                f"no complete response within RetryPolicy.total_timeout={self.settings.retry.total_timeout:g}s",
            )
        return attempt, f"no complete response within attempt_timeout={self.settings.attempt_seconds:g}s"

    def _request(
        self, client: httpx.Client | httpx.AsyncClient, url: httpx.URL, content: bytes, deadline: float
    ) -> httpx.Request:
        # Each network operation gets at most the time left, so a connect or a silent read cannot
        # outlast the deadline either.
        left = max(0.001, min(self.settings.timeout, deadline - time.monotonic()))
        return client.build_request("POST", url, content=content, timeout=httpx.Timeout(left))

    def _reader(
        self, method: str, response: httpx.Response, head: Mapping[str, str], deadline: float, reason: str
    ) -> BodyReader:
        return BodyReader(
            method,
            response.status_code,
            head,
            limit=self.settings.max_response_bytes,
            deadline=deadline,
            deadline_reason=reason,
            decoded=response.is_stream_consumed,
        )

    def _decision(
        self, method: str, attempt: int, started: float, status: int, retry_after: str | None
    ) -> RetryDecision:
        return retry_decision(
            method,
            attempt,
            time.monotonic() - started,
            self.settings.retry,
            self._rng,
            status=status,
            retry_after=retry_after,
        )

    def _finish(self, method: str, status: int, head: Mapping[str, str], content: bytes) -> JSONDict:
        return decode_response(
            method,
            status,
            head.get("content-type", ""),
            content,
            self.settings.token.reveal(),
            head.get("retry-after"),
            location=head.get("location"),
            endpoint=self._endpoint(method),
        )

    def _network_error(self, method: str, exc: httpx.TransportError) -> TransportError:
        return network_error(method, exc, self.settings.token.reveal(), self._endpoint(method))

    def _log(self, method: str, status: int | str, attempt: int, started: float, note: str = "") -> None:
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug(
                "POST %s status=%s attempt=%d elapsed=%.3fs%s",
                method,
                status,
                attempt + 1,
                time.monotonic() - started,
                f" {note}" if note else "",
            )

    def _new_client_kwargs(self) -> dict[str, Any]:
        return {
            "timeout": httpx.Timeout(self.settings.timeout),
            # Never: the Authorization header must not travel to wherever a 3xx points.
            "follow_redirects": False,
            "limits": httpx.Limits(max_connections=64, max_keepalive_connections=32),
        }


# vcrpy records and replays httpx traffic by replacing ``httpx.HTTPTransport.handle_request`` (vcrpy
# 9.4, vcr/patch.py) while a cassette is in use, and respx mocks it by replacing httpcore's
# ``ConnectionPool.handle_request``; requests sent past httpx would go unrecorded and unanswered.
# The originals are captured at import so an attempt can see such a patch and take httpx.
_HTTPX_HANDLE_REQUEST = httpx.HTTPTransport.handle_request
_HTTPCORE_HANDLE_REQUEST = httpcore.ConnectionPool.handle_request


def _httpx_patched() -> bool:
    """True while a recorder or mock (vcrpy, respx) has replaced httpx's or httpcore's sending."""
    return (
        httpx.HTTPTransport.handle_request is not _HTTPX_HANDLE_REQUEST
        or httpcore.ConnectionPool.handle_request is not _HTTPCORE_HANDLE_REQUEST
    )

_READ_CHUNK = 64 * 1024


def _proxies_configured() -> bool:
    """True when httpx (``trust_env``) would send through a proxy: those requests stay on httpx.

    The same source as httpx (``urllib.request.getproxies``: the environment, or the system settings on
    macOS and Windows); ``NO_PROXY`` exceptions are left to httpx, except ``NO_PROXY=*``.
    """
    proxies = urllib.request.getproxies()
    if proxies.get("no", "").strip() == "*":
        return False
    return any(proxies.get(scheme) for scheme in ("http", "https", "all"))


class SyncRequester(_BaseRequester):
    """Sends RPCs on keep-alive ``http.client`` connections (thread-safe: fetch uses it from a thread pool).

    With ``transport=`` (tests inject ``httpx.MockTransport``), with a proxy configured in the
    environment, or while vcrpy or respx patches httpx, the attempt goes through one ``httpx.Client`` instead;
    the retries, deadlines, size cap and errors are the same either way.
    """

    def __init__(
        self,
        settings: RequestSettings,
        *,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
    ) -> None:
        super().__init__(settings, rng)
        self._sleep = sleep
        self._transport = transport
        self._client: httpx.Client | None = None
        self._client_lock = threading.Lock()
        self._closed = False
        self._local = threading.local()  # ``waited``: the resume moment this thread already waited for
        self._pools: dict[tuple[str, int, bool], ConnectionPool] = {}
        self._wire: dict[str, tuple[ConnectionPool, bytes]] = {}
        self._ssl: ssl.SSLContext | None = None
        self._fast = transport is None and not _proxies_configured()
        try:
            "".join(self._headers().values()).encode("ascii")
        except UnicodeEncodeError:  # httpx decides how such a header is refused
            self._fast = False
        if not self._fast:
            self._httpx()

    # -- the httpx path ----------------------------------------------------------------------------

    def _httpx(self) -> httpx.Client:
        client = self._client
        if client is None:
            with self._client_lock:
                if self._client is None:
                    self._client = httpx.Client(
                        transport=self._transport, headers=self._headers(), **self._new_client_kwargs()
                    )
                client = self._client
        return client

    def _attempt_httpx(self, method: str, url: httpx.URL, content: bytes, started: float) -> _Answer:
        deadline, reason = self._deadline(started)
        client = self._httpx()
        try:
            response = client.send(self._request(client, url, content, deadline), stream=True)
            try:
                head = response_head(response)
                reader = self._reader(method, response, head, deadline, reason)
                if response.is_stream_consumed:
                    reader.feed(response.content)
                else:
                    sock = _socket_of(response)
                    ticket = _WATCHDOG.arm(deadline, sock) if sock is not None else None
                    try:
                        for chunk in response.iter_raw():
                            reader.feed(chunk)
                    finally:
                        if ticket is not None:
                            _WATCHDOG.disarm(ticket)
                return _Answer(response.status_code, head, reader.finish())
            finally:
                response.close()
        except httpx.TransportError as exc:
            raise _deadline_error(exc, deadline, reason) from exc

    # -- the http.client path ----------------------------------------------------------------------

    def _ssl_context(self) -> ssl.SSLContext:
        # httpx's own default (certifi, or SSL_CERT_FILE / SSL_CERT_DIR), made once, on first need.
        if self._ssl is None:
            with self._client_lock:
                if self._ssl is None:
                    self._ssl = httpx.create_ssl_context()
        return self._ssl

    def _wire_for(self, method: str, url: httpx.URL) -> tuple[ConnectionPool, bytes]:
        """The method's pool and its request head up to ``Content-Length:``, built once per method."""
        wire = self._wire.get(method)
        if wire is None:
            tls = url.scheme == "https"
            port = url.port or (443 if tls else 80)
            key = (url.host, port, tls)
            with self._client_lock:
                pool = self._pools.get(key)
                if pool is None:
                    pool = self._pools[key] = ConnectionPool(
                        url.host, port, ssl_context=self._ssl_context if tls else None
                    )
            headers = {"Host": url.netloc.decode("ascii"), **self._headers(), "Connection": "keep-alive"}
            lines = [f"POST {url.raw_path.decode('ascii')} HTTP/1.1"]
            lines += [f"{name}: {value}" for name, value in headers.items()]
            wire = self._wire[method] = (pool, ("\r\n".join(lines) + "\r\nContent-Length: ").encode("ascii"))
        return wire

    def _left(self, deadline: float) -> float:
        # Each network operation gets at most the time left, so a connect or a silent read cannot
        # outlast the deadline either.
        return max(0.001, min(self.settings.timeout, deadline - time.monotonic()))

    def _attempt_fast(self, method: str, url: httpx.URL, content: bytes, started: float) -> _Answer:
        deadline, reason = self._deadline(started)
        pool, head_bytes = self._wire_for(method, url)
        payload = b"%s%d\r\n\r\n%s" % (head_bytes, len(content), content)
        try:
            sock, reused = pool.acquire(self._left(deadline))
            keep = False
            try:
                sock.settimeout(self._left(deadline))
                try:
                    sock.sendall(payload)
                except OSError as exc:
                    if not reused or isinstance(exc, TimeoutError):
                        raise write_error(exc) from exc
                    # A kept-alive connection the server closed between the idle check and the send:
                    # a closed connection delivers nothing to the server, so the request cannot
                    # have been read; it goes once more, on a new connection.
                    sock = pool.reconnect(sock, self._left(deadline))
                    sock.settimeout(self._left(deadline))
                    try:
                        sock.sendall(payload)
                    except OSError as again:
                        raise write_error(again) from again
                answer, keep = self._receive(method, sock, deadline, reason)
                return answer
            finally:
                pool.release(sock, reusable=keep)
        except httpx.TransportError as exc:
            raise _deadline_error(exc, deadline, reason) from exc

    def _receive(self, method: str, sock: socket.socket, deadline: float, reason: str) -> tuple[_Answer, bool]:
        """Read one response off ``sock``: the answer, and whether the connection may be reused."""
        response = Response(sock, method="POST")
        try:
            try:
                response.begin()
            except (OSError, http.client.HTTPException) as exc:
                raise read_error(exc) from exc
            head = {name: value for name, value in response.headers.items() if name in _HEAD}
            reader = BodyReader(
                method,
                response.status,
                head,
                limit=self.settings.max_response_bytes,
                deadline=deadline,
                deadline_reason=reason,
            )
            received = 0
            ticket = _WATCHDOG.arm(deadline, sock)
            try:
                while chunk := response.read1(_READ_CHUNK):
                    received += len(chunk)
                    reader.feed(chunk)
            except (OSError, http.client.HTTPException) as exc:
                raise read_error(exc) from exc
            finally:
                _WATCHDOG.disarm(ticket)
            if not response.chunked and response.length:
                raise httpx.RemoteProtocolError(
                    "peer closed connection without sending complete message body: "
                    f"received {received} bytes, expected {received + response.length}"
                )
            # A body read to the connection's end also ends when the watchdog shuts it at the deadline.
            reader.check_deadline()
            return _Answer(response.status, head, reader.finish()), not response.will_close
        finally:
            response.close()

    # -- both --------------------------------------------------------------------------------------

    def _attempt(self, method: str, url: httpx.URL, content: bytes, started: float) -> _Answer:
        if self._closed:
            raise RuntimeError("Cannot send a request, as the client has been closed.")
        if self._fast and not _httpx_patched():
            return self._attempt_fast(method, url, content, started)
        return self._attempt_httpx(method, url, content, started)

    def _wait_to_send(self) -> None:
        """Wait out a ``Retry-After`` some sender got (unless this thread already did), then the rate limit."""
        resume_at = self._resume_at
        if resume_at and resume_at > getattr(self._local, "waited", 0.0):
            self._local.waited = resume_at
            wait = resume_at - time.monotonic()
            if wait > 0:
                self._sleep(wait)
        limiter = self._pace()
        if limiter is not None:
            for wait in limiter.waits():
                if wait > 0:
                    self._sleep(wait)

    def call(self, method: str, body: Mapping[str, Any] | None = None) -> JSONDict:
        """Send one RPC, retrying as the policy allows; return the decoded JSON object."""
        url, content = self._url(method), self._encode(method, body)
        self._wait_to_send()
        started = time.monotonic()
        attempt = 0
        while True:
            if attempt:
                self._wait_to_send()
            sent = time.monotonic()
            try:
                answer = self._attempt(method, url, content, started)
            except httpx.TransportError as exc:
                decision = retry_decision(
                    method, attempt, time.monotonic() - started, self.settings.retry, self._rng, exc=exc
                )
                self._log(method, type(exc).__name__, attempt, started, decision.reason)
                if self._listeners:
                    self._notify(method, None, sent, None, decision.retry)
                if not decision.retry:
                    raise self._network_error(method, exc) from exc
                self._sleep(decision.delay)
                attempt += 1
                continue
            except IncidentAPIError as exc:  # refused while reading: size cap, unknown encoding
                if self._listeners:
                    self._notify(method, exc.status_code, sent, None, False)
                raise
            if self._learned is not None and answer.status != 429:
                self._learned.answered()
            retry_after = answer.head.get("retry-after")
            decision = self._decision(method, attempt, started, answer.status, retry_after)
            self._log(method, answer.status, attempt, started, decision.reason if decision.retry else "")
            until = self._hold_back(answer.status, retry_after) if retry_after is not None else None
            if self._listeners:
                self._notify(method, answer.status, sent, retry_after, decision.retry)
            if decision.retry:
                self._sleep(decision.delay)
                if until is not None:  # this thread has waited for its own Retry-After
                    self._local.waited = max(getattr(self._local, "waited", 0.0), until)
                attempt += 1
                continue
            return self._finish(method, answer.status, answer.head, answer.body)

    def close(self) -> None:
        """Close the pooled connections."""
        self._closed = True
        with self._client_lock:
            pools = list(self._pools.values())
        for pool in pools:
            pool.close()
        if self._client is not None:
            self._client.close()


class AsyncRequester(_BaseRequester):
    """The asyncio twin of ``SyncRequester`` on one ``httpx.AsyncClient``."""

    def __init__(
        self,
        settings: RequestSettings,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        rng: random.Random | None = None,
    ) -> None:
        super().__init__(settings, rng)
        self._sleep = sleep
        # The resume moment this task already waited for (a task's own context, like a thread-local).
        self._waited: contextvars.ContextVar[float] = contextvars.ContextVar("resume_waited", default=0.0)
        self._client = httpx.AsyncClient(transport=transport, headers=self._headers(), **self._new_client_kwargs())

    async def _attempt(self, method: str, url: httpx.URL, content: bytes, started: float) -> _Answer:
        deadline, reason = self._deadline(started)
        # The whole attempt (connect, headers, body) under one deadline; the reader checks it too.
        timeout = asyncio.timeout(max(0.0, deadline - time.monotonic()))
        try:
            async with timeout:
                response = await self._client.send(self._request(self._client, url, content, deadline), stream=True)
                try:
                    head = response_head(response)
                    reader = self._reader(method, response, head, deadline, reason)
                    if response.is_stream_consumed:
                        reader.feed(response.content)
                    else:
                        async for chunk in response.aiter_raw():
                            reader.feed(chunk)
                    return _Answer(response.status_code, head, reader.finish())
                finally:
                    await response.aclose()
        except builtins.TimeoutError:
            if timeout.expired():
                raise DeadlineExceeded(reason) from None
            raise
        except httpx.TransportError as exc:
            raise _deadline_error(exc, deadline, reason) from exc

    async def _wait_to_send(self) -> None:
        """Wait out a ``Retry-After`` some sender got (unless this task already did), then the rate limit."""
        resume_at = self._resume_at
        if resume_at and resume_at > self._waited.get():
            self._waited.set(resume_at)
            wait = resume_at - time.monotonic()
            if wait > 0:
                await self._sleep(wait)
        limiter = self._pace()
        if limiter is not None:
            for wait in limiter.waits():
                if wait > 0:
                    await self._sleep(wait)

    async def call(self, method: str, body: Mapping[str, Any] | None = None) -> JSONDict:
        """Send one RPC, retrying as the policy allows; return the decoded JSON object."""
        url, content = self._url(method), self._encode(method, body)
        await self._wait_to_send()
        started = time.monotonic()
        attempt = 0
        while True:
            if attempt:
                await self._wait_to_send()
            sent = time.monotonic()
            try:
                answer = await self._attempt(method, url, content, started)
            except httpx.TransportError as exc:
                decision = retry_decision(
                    method, attempt, time.monotonic() - started, self.settings.retry, self._rng, exc=exc
                )
                self._log(method, type(exc).__name__, attempt, started, decision.reason)
                if self._listeners:
                    self._notify(method, None, sent, None, decision.retry)
                if not decision.retry:
                    raise self._network_error(method, exc) from exc
                await self._sleep(decision.delay)
                attempt += 1
                continue
            except IncidentAPIError as exc:
                if self._listeners:
                    self._notify(method, exc.status_code, sent, None, False)
                raise
            if self._learned is not None and answer.status != 429:
                self._learned.answered()
            retry_after = answer.head.get("retry-after")
            decision = self._decision(method, attempt, started, answer.status, retry_after)
            self._log(method, answer.status, attempt, started, decision.reason if decision.retry else "")
            until = self._hold_back(answer.status, retry_after) if retry_after is not None else None
            if self._listeners:
                self._notify(method, answer.status, sent, retry_after, decision.retry)
            if decision.retry:
                await self._sleep(decision.delay)
                if until is not None:  # this task has waited for its own Retry-After
                    self._waited.set(max(self._waited.get(), until))
                attempt += 1
                continue
            return self._finish(method, answer.status, answer.head, answer.body)

    async def aclose(self) -> None:
        """Close the pooled connections."""
        await self._client.aclose()


__all__ = [
    "AsyncRequester",
    "AttemptEvent",
    "BodyReader",
    "DeadlineExceeded",
    "Endpoint",
    "RateLimiter",
    "RequestSettings",
    "RetryDecision",
    "SyncRequester",
    "decode_response",
    "excerpt",
    "method_kind",
    "network_error",
    "parse_retry_after",
    "retry_decision",
    "scrub",
]
