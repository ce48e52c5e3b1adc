"""The API's fixed vocabularies as ``Literal`` types, and ``JSONDict``, defined once for the package.

The helpers take these in their signatures (so an IDE and mypy can help) and check them at run time
from the same definition (``typing.get_args``), so the two never drift apart.

```python
from incident_analytics.types import IncidentStatus

def close_all(client, ids: list[str], status: IncidentStatus = "resolved") -> None:
    for incident_id in ids:
        client.incidents.update_status(incident_id, status)
```
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal, TypeAlias

JSONDict: TypeAlias = dict[str, Any]
"""A decoded JSON object as the API sends and receives it."""

IncidentID: TypeAlias = str | int
"""An incident ID: a numeric string such as ``"17"`` (an ``int`` is accepted and sent as a string)."""

ID: TypeAlias = str | int
"""Any other ID (task, user): sent as a string."""

Time: TypeAlias = dt.datetime | str
"""An aware ``datetime`` (or ``pandas.Timestamp``) or an RFC 3339 string such as ``2026-01-31T12:00:00Z``."""

IncidentStatus = Literal["active", "resolved"]
"""``Incident.status`` (contract enum ``IncidentStatus``)."""

TaskStatus = Literal["todo", "progress", "done"]
"""``Task.status`` (contract enum ``TaskStatus``)."""

Role = Literal["commander", "investigator", "observer"]
"""The ``role`` of ``AssignRole`` / ``UnassignRole`` (contract enum ``AssignRoleRequestRole``)."""

OrderDirection = Literal["ASC", "DESC"]
"""Sort direction of a listing."""

PreviewOrderField = Literal[
    "incidentID",
    "createdTime",
    "modifiedTime",
    "title",
    "status",
    "severity",
    "prefix",
    "isDrill",
    "incidentStart",
    "incidentEnd",
    "closedTime",
]
"""``QueryIncidentPreviews``' ``orderField`` (contract enum ``IncidentPreviewsQueryOrderField``)."""

EventName = Literal["incidentStart", "incidentEnd"]
"""Which end of the impact ``UpdateIncidentEventTime`` moves."""

FieldDomain = Literal["labels", "incident"]
"""A custom field's ``domainName`` (contract enum ``CustomMetadataFieldDomainName``)."""

__all__ = [
    "ID",
    "EventName",
    "FieldDomain",
    "IncidentID",
    "IncidentStatus",
    "JSONDict",
    "OrderDirection",
    "PreviewOrderField",
    "Role",
    "TaskStatus",
    "Time",
]
