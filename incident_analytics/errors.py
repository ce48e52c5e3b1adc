"""One exception hierarchy for everything the Grafana Incident API or the network can do.

```
IncidentAnalyticsError
├── ConfigurationError (also ValueError)     missing URL or token, refused plain http
└── IncidentAPIError                         .method .status_code .message .body
    ├── AuthenticationError                  401
    ├── PermissionDeniedError                403
    ├── NotFoundError                        404, and GetIncident's empty-incident 200
    ├── BadRequestError                      400 / 422 (e.g. a malformed queryString)
    ├── RateLimitError                       429, with .retry_after (seconds or None)
    ├── ServerError                          5xx
    ├── RedirectError                        3xx: redirects are not followed; .location
    ├── ResponseFormatError                  not JSON, wrong shape, HTML from a proxy, too large
    │   └── PaginationLoopError              a repeated cursor, a page of only known records, max_pages
    └── TransportError                       no usable response: connection refused, reset, ...
        ├── RequestTimeoutError              a network timeout or a passed wall-clock deadline
        └── OutcomeUnknownError              a write may have reached the server; not retried
```

Every message names the RPC method. No message, repr or ``body`` ever holds the API token:
the transport scrubs it before an exception is built.
"""

from __future__ import annotations

import warnings
from typing import Any


class IncidentAnalyticsError(Exception):
    """Base class of every error raised by incident_analytics."""


class ConfigurationError(IncidentAnalyticsError, ValueError):
    """The client cannot be built: a URL or token is missing, or the URL is unsafe."""


class StoreError(IncidentAnalyticsError):
    """A Parquet store cannot be read or written: a damaged ``meta.json`` or Parquet file, a store
    from a newer version, or a store path that is a file. The message names the file and the remedy
    (usually ``incident-analytics fetch --out FOLDER`` again)."""


class IncidentAPIError(IncidentAnalyticsError):
    """An RPC call failed.

    Attributes:
        method: the RPC, e.g. ``"IncidentsService.GetIncident"`` (``None`` outside a call).
        status_code: the HTTP status, or ``None`` when no response arrived.
        message: the server's own words (``error``, ``message`` or RFC 7807 ``detail``), or ours.
        body: the decoded response body with secrets removed (a dict, a short text excerpt, or None).
    """

    def __init__(
        self,
        message: str,
        *,
        method: str | None = None,
        status_code: int | None = None,
        body: Any = None,
    ) -> None:
        self.method = method
        self.status_code = status_code
        self.message = message
        self.body = body
        super().__init__(self._render())

    def _render(self) -> str:
        where = f"{self.method}: " if self.method else ""
        status = f" (HTTP {self.status_code})" if self.status_code is not None else ""
        return f"{where}{self.message}{status}"

    def __reduce__(self) -> tuple[Any, ...]:
        # Keeps the keyword-only attributes when the error crosses a process or thread pool.
        return (_rebuild, (type(self), self.message, self.__dict__))


def _rebuild(cls: type[IncidentAPIError], message: str, state: dict[str, Any]) -> IncidentAPIError:
    error = cls.__new__(cls)
    error.__dict__.update(state)
    Exception.__init__(error, error._render())
    return error


class AuthenticationError(IncidentAPIError):
    """HTTP 401: the service-account token is missing, invalid, expired or revoked."""


class PermissionDeniedError(IncidentAPIError):
    """HTTP 403: the token is valid but its role may not do this (writes need Editor)."""


class NotFoundError(IncidentAPIError):
    """HTTP 404 (unknown method, wrong base URL, IRM not installed) or an unknown incident ID.

    ``GetIncident`` answers an unknown ID with HTTP 200 and an empty incident; that is raised
    as this error too.
    """


class BadRequestError(IncidentAPIError):
    """HTTP 400 or 422: the request was refused as invalid (for example a bad ``queryString``)."""


class RateLimitError(IncidentAPIError):
    """HTTP 429 after every allowed retry. ``retry_after`` is the server's hint in seconds."""

    def __init__(
        self,
        message: str,
        *,
        method: str | None = None,
        status_code: int | None = 429,
        body: Any = None,
        retry_after: float | None = None,
    ) -> None:
        self.retry_after = retry_after
        super().__init__(message, method=method, status_code=status_code, body=body)


class ServerError(IncidentAPIError):
    """HTTP 5xx from the service or a proxy in front of it."""


class RedirectError(IncidentAPIError):
    """HTTP 3xx. Redirects are not followed, so the ``Authorization`` header never travels elsewhere.

    ``location`` is where the server pointed (the ``Location`` header, or ``None``). A redirect
    usually means the URL is not the stack's own (``http://`` instead of ``https://``, an old host
    name) or a login page: point the client at the final URL.
    """

    def __init__(
        self,
        message: str,
        *,
        method: str | None = None,
        status_code: int | None = None,
        body: Any = None,
        location: str | None = None,
    ) -> None:
        self.location = location
        super().__init__(message, method=method, status_code=status_code, body=body)


class ResponseFormatError(IncidentAPIError):
    """The response is not what the API promises: not JSON, HTML from a proxy, wrong field types."""


class PaginationLoopError(ResponseFormatError):
    """Paging would not end: a repeated cursor, a page of only known records, or ``max_pages`` passed."""


class TransportError(IncidentAPIError):
    """No usable response arrived: the connection failed, was reset or closed early."""


class RequestTimeoutError(TransportError):
    """The request timed out: connect, read, write, waiting for a pooled connection, or the wall-clock
    deadline of one attempt (``attempt_timeout``) or of all attempts (``RetryPolicy.total_timeout``)."""


class OutcomeUnknownError(TransportError):
    """A non-idempotent write (create/add) failed after it may have reached the server.

    It is not retried, because a retry could apply it twice. Check the incident (for example with
    ``client.incidents.get`` or by querying recent incidents) before trying again.
    """


def __getattr__(name: str) -> Any:
    # ``errors.TimeoutError`` was the old name; it shadowed the builtin, so it is only a deprecated
    # alias here (and absent from the package root).
    if name == "TimeoutError":
        warnings.warn(
            "incident_analytics.errors.TimeoutError is deprecated; use RequestTimeoutError",
            DeprecationWarning,
            stacklevel=2,
        )
        return RequestTimeoutError
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


STATUS_ERRORS: dict[int, type[IncidentAPIError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    422: BadRequestError,
    429: RateLimitError,
}


def error_class_for_status(status_code: int) -> type[IncidentAPIError]:
    """The exception class for an HTTP error status (3xx give ``RedirectError``, 5xx ``ServerError``)."""
    if status_code in STATUS_ERRORS:
        return STATUS_ERRORS[status_code]
    if 300 <= status_code < 400:
        return RedirectError
    if status_code >= 500:
        return ServerError
    return IncidentAPIError
