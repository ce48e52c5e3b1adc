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
from .bulk import apply_label_changes, find_label_duplicates, merge_plan, plan_label_changes
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
    StoreError,
    TimeoutError,
    TransportError,
)
from .fetch import fetch
from .store import IncidentData
from .sync import sync

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
    "StoreError",
    "TimeoutError",
    "TransportError",
    "__version__",
    "apply_label_changes",
    "bulk",
    "fetch",
    "find_label_duplicates",
    "frames",
    "merge_plan",
    "plan_label_changes",
    "resolve_base_url",
    "sync",
]
