"""The single place a request is made: ``POST {base}/{Service}.{Method}`` with a JSON body.

It sets the headers, decodes gzip and JSON, maps every failure to ``errors``, retries with backoff,
full jitter and ``Retry-After``, applies an optional client-side rate limit and keeps the token out of
logs and exceptions. ``SyncTransport`` and ``AsyncTransport`` differ only in how they send and sleep;
every decision (what to retry, how long to wait, which error to raise) is a pure function here.
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import logging
import random
import threading
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import httpx

from ._version import __version__
from .config import RetryPolicy, Secret, unversioned_base
from .errors import (
    IncidentAPIError,
    OutcomeUnknownError,
    RateLimitError,
    RequestTimeoutError,
    ResponseFormatError,
    TransportError,
    error_class_for_status,
)

logger = logging.getLogger("incident_analytics")

JSONDict = dict[str, Any]
MethodKind = Literal["read", "idempotent", "unsafe"]

# Methods that answer only on the unversioned ".../resources/api/" prefix (FACTS.md §1, GCX#833).
UNVERSIONED_METHODS = frozenset({"SeveritiesService.GetOrgSeverities", "IncidentContextService.QueryIncidentContext"})

# Writes that give the same end state however often they are applied (design.md "Retries"). Role
# assignment is a set operation too: the API answers a repeat with didChange=false.
IDEMPOTENT_WRITES = frozenset(
    {
        "IncidentsService.UpdateStatus",
        "IncidentsService.UpdateSeverity",
        "IncidentsService.UpdateTitle",
        "IncidentsService.UpdateIncidentIsDrill",
        "IncidentsService.UpdateIncidentEventTime",
        "IncidentsService.AssignLabel",
        "IncidentsService.UnassignLabel",
        "IncidentsService.AssignLabelByUUID",
        "IncidentsService.UnassignLabelByUUID",
        "IncidentsService.RemoveLabel",
        "IncidentsService.AssignRole",
        "IncidentsService.UnassignRole",
        "TasksService.UpdateTaskStatus",
        "TasksService.UpdateTaskText",
        "TasksService.UpdateTaskUser",
    }
)

EXCERPT_CHARS = 200


def method_kind(method: str) -> MethodKind:
    """Classify an RPC for retrying: ``read`` (Get*/Query*), ``idempotent`` write, or ``unsafe``.

    Anything not known to be safe (``CreateIncident``, ``AddTask``, ``AddActivity``, unknown methods)
    is ``unsafe``: it is retried only when the request certainly never reached the server.
    """
    name = method.rpartition(".")[2]
    if name.startswith(("Get", "Query")):
        return "read"
    if method in IDEMPOTENT_WRITES:
        return "idempotent"
    return "unsafe"


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
        # a 5xx from a proxy may have reached the backend.
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
        return {k: ("***" if str(k).lower() == "authorization" else scrub(v, secret)) for k, v in value.items()}
    if isinstance(value, list):
        return [scrub(v, secret) for v in value]
    return value


def _excerpt(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= EXCERPT_CHARS else text[:EXCERPT_CHARS] + "…"


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


def decode_response(
    method: str, status: int, content_type: str, content: bytes, secret: str, retry_after: str | None = None
) -> JSONDict:
    """Turn one HTTP response into the decoded JSON object, or raise the matching error.

    Order (FACTS.md §2): the HTTP status first; then a JSON ``error`` string (also on HTTP 200);
    Grafana's ``{"message": ...}`` 401/403 bodies and RFC 7807 bodies give the message; a body that is
    not a JSON object is a ``ResponseFormatError`` on success and carries a short excerpt otherwise.
    """
    text = content.decode("utf-8", errors="replace")
    body: Any
    try:
        body = json.loads(text) if text.strip() else None
        parsed = True
    except ValueError:
        body, parsed = None, False
    if status >= 400 or status < 200:
        clean = scrub(body, secret) if parsed else scrub(_excerpt(text), secret)
        message = _message_from_body(clean) if parsed else None
        if message is None:
            kind = "HTML" if "html" in content_type.lower() or text.lstrip().startswith("<") else "body"
            message = (
                f"HTTP {status} with {kind}: {_excerpt(scrub(text, secret))!r}"
                if text.strip()
                else (f"HTTP {status} with an empty body")
            )
        cls = error_class_for_status(status)
        if cls is RateLimitError:
            raise RateLimitError(
                message,
                method=method,
                status_code=status,
                body=clean,
                retry_after=parse_retry_after(retry_after),
            )
        raise cls(message, method=method, status_code=status, body=clean)
    if not parsed:
        raise ResponseFormatError(
            f"expected a JSON object, got {content_type or 'no content type'}: {_excerpt(scrub(text, secret))!r}",
            method=method,
            status_code=status,
            body=scrub(_excerpt(text), secret),
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


def network_error(method: str, exc: httpx.TransportError, secret: str) -> TransportError:
    """The package error for an httpx network failure (no usable response arrived)."""
    detail = scrub(f"{type(exc).__name__}: {exc}", secret)
    if method_kind(method) == "unsafe" and not request_never_sent(exc):
        return OutcomeUnknownError(
            f"the request may have reached the server before it failed ({detail}); not retried because "
            "repeating it could apply it twice. Check whether it took effect before trying again",
            method=method,
        )
    if isinstance(exc, httpx.TimeoutException):
        return RequestTimeoutError(f"timed out ({detail})", method=method)
    return TransportError(f"network error ({detail})", method=method)


# --------------------------------------------------------------------------------------------------
# Client-side rate limiting.


class RateLimiter:
    """A token bucket: at most ``rate`` requests per second on average, bursts up to ``burst``.

    Thread-safe. ``reserve()`` books the next slot and says how long to wait for it, so the sync and
    async transports can each sleep in their own way.
    """

    def __init__(self, rate: float, burst: int = 1, *, clock: Callable[[], float] = time.monotonic) -> None:
        if rate <= 0:
            raise ValueError(f"rate limit must be > 0 requests per second, got {rate}")
        if burst < 1:
            raise ValueError(f"burst must be >= 1, got {burst}")
        self.rate = rate
        self.burst = burst
        self._clock = clock
        self._tokens = float(burst)
        self._last = clock()
        self._lock = threading.Lock()

    def reserve(self) -> float:
        """Take one token; return the seconds to wait before using it (0 when one is free)."""
        with self._lock:
            now = self._clock()
            self._tokens = min(self.burst, self._tokens + (now - self._last) * self.rate)
            self._last = now
            self._tokens -= 1.0
            return 0.0 if self._tokens >= 0 else -self._tokens / self.rate


# --------------------------------------------------------------------------------------------------
# The transports.


@dataclass(frozen=True)
class TransportSettings:
    """Everything a transport needs to know about where and how to send."""

    base_url: str
    token: Secret
    timeout: float
    retry: RetryPolicy
    user_agent: str = f"incident-analytics/{__version__}"
    rate_limit: float | None = None
    rate_burst: int = 1


class _BaseTransport:
    def __init__(self, settings: TransportSettings, rng: random.Random | None) -> None:
        self.settings = settings
        self._rng = rng or random.Random()
        self._limiter = RateLimiter(settings.rate_limit, settings.rate_burst) if settings.rate_limit else None
        self._unversioned = unversioned_base(settings.base_url)
        self._urls: dict[str, httpx.URL] = {}

    def url_for(self, method: str) -> str:
        """The full URL of ``Service.Method``."""
        if method.count(".") != 1 or not all(method.split(".")):
            raise ValueError(f"RPC method must look like 'Service.Method', got {method!r}")
        base = self._unversioned if method in UNVERSIONED_METHODS else self.settings.base_url
        return base + method

    def _url(self, method: str) -> httpx.URL:
        # Parsed once per method: httpx would otherwise parse the URL string on every request.
        url = self._urls.get(method)
        if url is None:
            url = self._urls[method] = httpx.URL(self.url_for(method))
        return url

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

    def _finish(self, method: str, response: httpx.Response) -> JSONDict:
        return decode_response(
            method,
            response.status_code,
            response.headers.get("content-type", ""),
            response.content,
            self.settings.token.reveal(),
            response.headers.get("retry-after"),
        )

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
            "follow_redirects": False,
            "limits": httpx.Limits(max_connections=64, max_keepalive_connections=32),
        }


class SyncTransport(_BaseTransport):
    """Blocking transport on one ``httpx.Client`` (thread-safe: fetch uses it from a thread pool)."""

    def __init__(
        self,
        settings: TransportSettings,
        *,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
    ) -> None:
        super().__init__(settings, rng)
        self._sleep = sleep
        self._client = httpx.Client(transport=transport, headers=self._headers(), **self._new_client_kwargs())

    def call(self, method: str, body: Mapping[str, Any] | None = None) -> JSONDict:
        """Send one RPC, retrying as the policy allows; return the decoded JSON object."""
        url, content = self._url(method), self._encode(method, body)
        started = time.monotonic()
        attempt = 0
        while True:
            if self._limiter is not None and (wait := self._limiter.reserve()) > 0:
                self._sleep(wait)
            try:
                response = self._client.post(url, content=content)
            except httpx.TransportError as exc:
                decision = retry_decision(
                    method, attempt, time.monotonic() - started, self.settings.retry, self._rng, exc=exc
                )
                self._log(method, type(exc).__name__, attempt, started, decision.reason)
                if not decision.retry:
                    raise network_error(method, exc, self.settings.token.reveal()) from exc
                self._sleep(decision.delay)
                attempt += 1
                continue
            decision = retry_decision(
                method,
                attempt,
                time.monotonic() - started,
                self.settings.retry,
                self._rng,
                status=response.status_code,
                retry_after=response.headers.get("retry-after"),
            )
            self._log(method, response.status_code, attempt, started, decision.reason if decision.retry else "")
            if decision.retry:
                response.close()
                self._sleep(decision.delay)
                attempt += 1
                continue
            return self._finish(method, response)

    def close(self) -> None:
        """Close the pooled connections."""
        self._client.close()


class AsyncTransport(_BaseTransport):
    """The asyncio twin of ``SyncTransport`` on one ``httpx.AsyncClient``."""

    def __init__(
        self,
        settings: TransportSettings,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        rng: random.Random | None = None,
    ) -> None:
        super().__init__(settings, rng)
        self._sleep = sleep
        self._client = httpx.AsyncClient(transport=transport, headers=self._headers(), **self._new_client_kwargs())

    async def call(self, method: str, body: Mapping[str, Any] | None = None) -> JSONDict:
        """Send one RPC, retrying as the policy allows; return the decoded JSON object."""
        url, content = self._url(method), self._encode(method, body)
        started = time.monotonic()
        attempt = 0
        while True:
            if self._limiter is not None and (wait := self._limiter.reserve()) > 0:
                await self._sleep(wait)
            try:
                response = await self._client.post(url, content=content)
            except httpx.TransportError as exc:
                decision = retry_decision(
                    method, attempt, time.monotonic() - started, self.settings.retry, self._rng, exc=exc
                )
                self._log(method, type(exc).__name__, attempt, started, decision.reason)
                if not decision.retry:
                    raise network_error(method, exc, self.settings.token.reveal()) from exc
                await self._sleep(decision.delay)
                attempt += 1
                continue
            decision = retry_decision(
                method,
                attempt,
                time.monotonic() - started,
                self.settings.retry,
                self._rng,
                status=response.status_code,
                retry_after=response.headers.get("retry-after"),
            )
            self._log(method, response.status_code, attempt, started, decision.reason if decision.retry else "")
            if decision.retry:
                await response.aclose()
                await self._sleep(decision.delay)
                attempt += 1
                continue
            return self._finish(method, response)

    async def aclose(self) -> None:
        """Close the pooled connections."""
        await self._client.aclose()


__all__ = [
    "IDEMPOTENT_WRITES",
    "UNVERSIONED_METHODS",
    "AsyncTransport",
    "RateLimiter",
    "RetryDecision",
    "SyncTransport",
    "TransportSettings",
    "decode_response",
    "method_kind",
    "parse_retry_after",
    "retry_decision",
    "scrub",
]
