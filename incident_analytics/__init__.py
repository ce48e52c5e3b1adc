"""incident_analytics: Grafana IRM incidents as tidy pandas DataFrames.

```python
import incident_analytics as ia

with ia.IncidentClient("https://mystack.grafana.net", token="glsa_...") as client:
    preview = next(client.incidents.query("status:active"))
```
"""

import logging as _logging

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
    RedirectError,
    RequestTimeoutError,
    ResponseFormatError,
    ServerError,
    StoreError,
    TransportError,
)
from .fetch import fetch
from .store import IncidentData
from .sync import sync

# A library adds no handlers of its own beyond silencing "no handler" warnings (logging HOWTO).
_logging.getLogger("incident_analytics").addHandler(_logging.NullHandler())
del _logging

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
    "RedirectError",
    "RequestTimeoutError",
    "ResponseFormatError",
    "RetryPolicy",
    "ServerError",
    "StoreError",
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


def __dir__() -> list[str]:
    # The public surface only: what __all__ names, plus the module's dunders (PEP 562), not the
    # submodules and helpers that importing the package binds here as a side effect.
    return sorted(set(__all__) | {name for name in globals() if name.startswith("__") and name.endswith("__")})


def __getattr__(name: str) -> object:
    # `ia.metrics` without importing it (and scipy) with the package; plots stay an explicit import.
    if name == "metrics":
        import importlib

        return importlib.import_module(f"{__name__}.metrics")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
