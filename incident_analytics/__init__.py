"""incident_analytics: Grafana IRM incidents as tidy pandas DataFrames.

```python
import incident_analytics as ia

with ia.IncidentClient("https://mystack.grafana.net", token="glsa_...") as client:
    preview = next(client.incidents.query("status:active"))
```
"""

from __future__ import annotations

import logging

from . import frames
from ._version import __version__
from .client import AsyncIncidentClient, IncidentClient
from .config import RetryPolicy, resolve_base_url
from .errors import (
    AuthenticationError,
    BadRequestError,
    ConfigurationError,
    IncidentAnalyticsError,
    IncidentAPIError,
    NotFoundError,
    OutcomeUnknownError,
    PaginationLoopError,
    PermissionDeniedError,
    RateLimitError,
    RequestTimeoutError,
    ResponseFormatError,
    ServerError,
    TimeoutError,
    TransportError,
)
from .fetch import fetch, sync
from .store import IncidentData

# A library adds no handlers of its own beyond silencing "no handler" warnings (logging HOWTO).
logging.getLogger("incident_analytics").addHandler(logging.NullHandler())

__all__ = [
    "AsyncIncidentClient",
    "AuthenticationError",
    "BadRequestError",
    "ConfigurationError",
    "IncidentAPIError",
    "IncidentAnalyticsError",
    "IncidentClient",
    "IncidentData",
    "NotFoundError",
    "OutcomeUnknownError",
    "PaginationLoopError",
    "PermissionDeniedError",
    "RateLimitError",
    "RequestTimeoutError",
    "ResponseFormatError",
    "RetryPolicy",
    "ServerError",
    "TimeoutError",
    "TransportError",
    "__version__",
    "fetch",
    "frames",
    "resolve_base_url",
    "sync",
]


def __getattr__(name: str) -> object:
    # `ia.metrics` without importing it (and scipy) with the package; plots stay an explicit import.
    if name == "metrics":
        import importlib

        return importlib.import_module(f"{__name__}.metrics")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
