"""Where the API is and how to talk to it: base URL, token, timeouts and retry settings.

The base URL is the one place a stack URL (``https://mystack.grafana.net``) turns into the RPC base
``https://mystack.grafana.net/api/plugins/grafana-irm-app/resources/api/v1/``. Missing settings come
from ``GRAFANA_URL`` and ``GRAFANA_SERVICE_ACCOUNT_TOKEN``.
"""

from __future__ import annotations

import ipaddress
import math
import os
import re
from dataclasses import dataclass, field
from urllib.parse import urlsplit, urlunsplit

from .errors import ConfigurationError

DEFAULT_PLUGIN_ID = "grafana-irm-app"
LEGACY_PLUGIN_ID = "grafana-incident-app"
URL_ENV = "GRAFANA_URL"
TOKEN_ENV = "GRAFANA_SERVICE_ACCOUNT_TOKEN"
DEFAULT_TIMEOUT = 30.0
"""Seconds for each network operation of a request: connect, each read, each write, a pooled connection."""
MAX_PAGE_SIZE = 100
DEFAULT_MAX_RESPONSE_BYTES = 64 * 1024 * 1024
"""Largest decoded (un-gzipped) response body accepted: ample for a 100-record page of full incidents."""
DEFAULT_MAX_PAGES = 10_000
"""Page ceiling of one listing when the caller sets none. The API reports no listing size (its cursor
holds only ``nextValue`` and ``hasMore``), so this is a fixed, generous bound: a million records at
100 per page. With ``max_items`` the ceiling is also never above the pages those items need."""


def default_attempt_timeout(timeout: float) -> float:
    """The wall-clock deadline of one attempt when none is given: twice the per-operation ``timeout``."""
    return 2 * timeout


def check_number(
    name: str, value: object, *, minimum: float = 0.0, allow_zero: bool = False, allow_none: bool = False
) -> float | None:
    """A finite real number above ``minimum`` (or equal to it with ``allow_zero``); ``None`` if allowed.

    ``True``/``False`` are refused: a bool is an ``int`` to Python but never a count or a duration here.
    """
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{name} must be a number, got {type(value).__name__} {value!r}")
    if not math.isfinite(value) or value < minimum or (value == minimum and not allow_zero):
        bound = f">= {minimum:g}" if allow_zero else f"> {minimum:g}"
        raise ValueError(f"{name} must be a finite number {bound}, got {value!r}")
    return float(value)


def check_count(name: str, value: object, *, minimum: int = 0, allow_none: bool = False) -> int | None:
    """A whole number >= ``minimum`` (``None`` if allowed); bools are refused."""
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be a whole number, got {type(value).__name__} {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value!r}")
    return value


# Matches ".../api/plugins/<id>/resources/api" with an optional "/v1" and trailing slash.
_API_PATH = re.compile(r"^(?P<root>.*?)/api/plugins/(?P<plugin>[^/]+)/resources/api(?:/v1)?/?$")
_PLUGIN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


class Secret:
    """A string that never shows itself in a repr, a log line or a traceback."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        """The secret itself, for the one place that must send it."""
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__

    def __bool__(self) -> bool:
        return bool(self._value)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


@dataclass(frozen=True)
class RetryPolicy:
    """When and how long to wait before trying a request again.

    Reads and idempotent writes are retried on ``retry_statuses`` and connection errors; creates only
    when the request certainly never reached the server (see ``transport.retry_decision``).

    Attributes:
        max_retries: retries after the first attempt (0 disables retrying).
        backoff_base: first backoff ceiling in seconds; the ceiling doubles each retry.
        backoff_max: largest backoff ceiling in seconds. The wait is uniform in [0, ceiling]
            ("full jitter"), unless the server sent ``Retry-After``.
        max_retry_after: the longest ``Retry-After`` honoured, in seconds; longer hints are capped.
        total_timeout: wall-clock seconds for the whole call, every attempt and wait included: an
            attempt still running at that line is cut off (``RequestTimeoutError``), and no retry is
            started whose wait would cross it.
        retry_statuses: HTTP statuses worth another attempt.
    """

    max_retries: int = 4
    backoff_base: float = 0.5
    backoff_max: float = 8.0
    max_retry_after: float = 60.0
    total_timeout: float = 120.0
    retry_statuses: frozenset[int] = field(default_factory=lambda: frozenset({429, 502, 503, 504}))

    def __post_init__(self) -> None:
        check_count("max_retries", self.max_retries)
        for name in ("backoff_base", "backoff_max", "max_retry_after"):
            check_number(name, getattr(self, name), allow_zero=True)
        check_number("total_timeout", self.total_timeout)
        statuses = self.retry_statuses
        if isinstance(statuses, str | bytes) or not all(
            isinstance(s, int) and not isinstance(s, bool) and 100 <= s <= 599 for s in statuses
        ):
            raise ValueError(f"retry_statuses must be HTTP status codes, got {statuses!r}")
        object.__setattr__(self, "retry_statuses", frozenset(statuses))


def is_loopback_host(host: str) -> bool:
    """True for ``localhost`` and loopback addresses (127.0.0.0/8, ::1)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def resolve_base_url(url: str, *, plugin_id: str = DEFAULT_PLUGIN_ID, allow_insecure_http: bool = False) -> str:
    """Normalise a stack URL or an API base URL to the RPC base, ending in ``/v1/``.

    A stack URL gets ``/api/plugins/<plugin_id>/resources/api/v1/`` appended; a URL that already
    holds an ``/api/plugins/<id>/resources/api`` path keeps its own plugin id.

    >>> resolve_base_url("https://mystack.grafana.net")
    'https://mystack.grafana.net/api/plugins/grafana-irm-app/resources/api/v1/'
    >>> resolve_base_url("https://g.example.com/grafana/api/plugins/grafana-incident-app/resources/api/v1")
    'https://g.example.com/grafana/api/plugins/grafana-incident-app/resources/api/v1/'
    """
    if not isinstance(url, str) or not url.strip():
        raise ConfigurationError(f"Grafana URL must be a non-empty string, got {url!r}")
    if not _PLUGIN_ID.match(plugin_id):
        raise ConfigurationError(f"plugin_id {plugin_id!r} is not a valid Grafana plugin id")
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigurationError(
            f"Grafana URL {url!r} must start with https:// and name a host, e.g. https://mystack.grafana.net"
        )
    if parts.username or parts.password:
        raise ConfigurationError(
            f"Grafana URL must not carry credentials; pass the service-account token as token= or in {TOKEN_ENV}"
        )
    if parts.query or parts.fragment:
        raise ConfigurationError(f"Grafana URL must not have a query string or fragment: {parts.geturl()!r}")
    if parts.scheme == "http" and not allow_insecure_http and not is_loopback_host(parts.hostname):
        raise ConfigurationError(
            f"refusing plain http:// for {parts.hostname!r}: the token would travel unencrypted. "
            "Use https://, or pass allow_insecure_http=True if you really mean it"
        )
    path = parts.path.rstrip("/")
    match = _API_PATH.match(path + "/")
    if match:
        path = f"{match['root']}/api/plugins/{match['plugin']}/resources/api/v1/"
    else:
        path = f"{path}/api/plugins/{plugin_id}/resources/api/v1/"
    return urlunsplit((parts.scheme, parts.netloc, path, "", ""))


def plugin_id_of(base_url: str) -> str:
    """The plugin id inside an RPC base URL (``grafana-irm-app`` in ``.../plugins/grafana-irm-app/...``)."""
    match = _API_PATH.match(urlsplit(base_url).path)
    if not match:
        raise ValueError(f"not an RPC base URL: {base_url!r}")
    return match["plugin"]


def unversioned_base(base_url: str) -> str:
    """The unversioned prefix ``.../resources/api/`` of a ``.../resources/api/v1/`` base.

    Some methods (``SeveritiesService.GetOrgSeverities``) answer only there (docs/api.md#unversioned-methods).
    """
    if not base_url.endswith("/v1/"):
        raise ValueError(f"not an RPC base URL ending in /v1/: {base_url!r}")
    return base_url[: -len("v1/")]


def resolve_token(token: str | Secret | None) -> Secret:
    """The token from the argument, else ``GRAFANA_SERVICE_ACCOUNT_TOKEN``; a clear error if neither."""
    if isinstance(token, Secret):
        value = token.reveal()
    else:
        value = token if token is not None else os.environ.get(TOKEN_ENV, "")
    if not isinstance(value, str):
        raise ConfigurationError(f"token must be a string, got {type(value).__name__}")
    value = value.strip()
    if not value:
        raise ConfigurationError(
            f"no API token: pass token=... or set {TOKEN_ENV} to a Grafana service-account token "
            "(Viewer role for reads, Editor for writes)"
        )
    if any(ch in value for ch in "\r\n\t ") or not value.isprintable():
        raise ConfigurationError("the API token holds whitespace or control characters; check how it was pasted")
    return Secret(value)


def resolve_url(url: str | None) -> str:
    """The URL from the argument, else ``GRAFANA_URL``; a clear error if neither."""
    value = url if url is not None else os.environ.get(URL_ENV, "")
    if not value:
        raise ConfigurationError(f"no Grafana URL: pass url=... (e.g. https://mystack.grafana.net) or set {URL_ENV}")
    return value
