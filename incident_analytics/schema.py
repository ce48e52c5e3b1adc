"""Every column of every frame, declared once: name, dtype, wire path, nullable; and each frame's order.

`frames` derives from these tables the dtypes (``frames.SCHEMAS``), the type check of each wire
field (from the column's dtype) and the parsing (which fields to read, where the rows are, which
field to fall back to). Only the columns declared without a wire path are computed by hand in
`frames` (the free-form label key, the label text, the joined activity tags); the preview half of
the assignments frame is hand-written too, since previews carry a different assignment shape.

A wire path is dotted from the record the builder receives, ``[]`` marks the list whose items
are the frame's rows (``"taskList.tasks[].authorUser.userID"``), and several paths are fallbacks
tried in order, per row (``severity`` on an ``Incident``, ``severityLabel`` on an
``IncidentPreview``). Paths outside the row list (``incidentID``) repeat on every row of the record.

Adding a column is one line in its table, e.g. (``membership`` gives the Incident and the
IncidentPreview path of a membership count)::

    Column("total_participants", INT, *membership("totalParticipants")),

>>> TABLES["tasks"].sort_keys
('created_time', 'task_id')
>>> [c.name for c in TABLES["labels"].columns if not c.wire]
['key', 'value']
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd

__all__ = ["BOOL", "ERRORS", "ERROR_SCHEMA", "INT", "STRING", "TABLES", "TIME", "Column", "Table"]

STRING = pd.StringDtype("pyarrow")
"""Text and IDs. Explicit Arrow storage: plain "string" is Python storage on pandas 2, Arrow on 3."""
TIME = "datetime64[ns, UTC]"
INT = "Int64"
BOOL = "boolean"


@dataclass(frozen=True)
class Column:
    """One column: its name, dtype, the wire paths it is read from (fallbacks in order; none if it is
    computed in `frames`) and whether it may be missing (a record without a non-nullable value is
    refused)."""

    name: str
    dtype: Any
    wire: tuple[str, ...]
    nullable: bool

    def __init__(self, name: str, dtype: Any, *wire: str, nullable: bool = True) -> None:
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "dtype", dtype)
        object.__setattr__(self, "wire", wire)
        object.__setattr__(self, "nullable", nullable)


@dataclass(frozen=True)
class Table:
    """A frame: its columns in order, and the columns that order its rows after the incident ID
    (which always sorts first, numerically where every ID is a number)."""

    name: str
    columns: tuple[Column, ...]
    sort_keys: tuple[str, ...] = ()

    @property
    def schema(self) -> dict[str, Any]:
        """Column name → dtype, in column order."""
        return {column.name: column.dtype for column in self.columns}

    @property
    def required(self) -> list[str]:
        """The columns that are never missing."""
        return [column.name for column in self.columns if not column.nullable]


_ID = Column("incident_id", STRING, "incidentID", nullable=False)


def membership(field: str) -> tuple[str, str]:
    """The wire paths of a field of an incident's membership summary: ``incidentMembership`` on an
    ``Incident``, ``incidentMembershipPreview`` on an ``IncidentPreview`` (both carry the counts)."""
    return f"incidentMembership.{field}", f"incidentMembershipPreview.{field}"


TABLES: dict[str, Table] = {
    "incidents": Table(
        "incidents",
        (
            _ID,
            Column("title", STRING, "title"),
            Column("status", STRING, "status"),
            Column("severity", STRING, "severity", "severityLabel"),
            Column("severity_id", STRING, "severityID"),
            Column("incident_type", STRING, "incidentType"),
            Column("is_drill", BOOL, "isDrill"),
            Column("created_time", TIME, "createdTime"),
            Column("modified_time", TIME, "modifiedTime"),
            Column("closed_time", TIME, "closedTime"),
            Column("incident_start", TIME, "incidentStart"),
            Column("incident_end", TIME, "incidentEnd"),
            Column("duration_seconds", INT, "durationSeconds"),
            Column("created_by_user_id", STRING, "createdByUser.userID"),
            Column("created_by_name", STRING, "createdByUser.name"),
            Column("summary", STRING, "summary"),
            Column("description", STRING, "description"),
            Column("slug", STRING, "slug"),
            Column("overview_url", STRING, "overviewURL"),
            Column("task_todo_count", INT, "taskList.todoCount"),
            Column("task_done_count", INT, "taskList.doneCount"),
            Column("total_participants", INT, *membership("totalParticipants")),
        ),
    ),
    "tasks": Table(
        "tasks",
        (
            _ID,
            Column("task_id", STRING, "taskList.tasks[].taskID"),
            Column("text", STRING, "taskList.tasks[].text"),
            Column("status", STRING, "taskList.tasks[].status"),
            Column("immutable", BOOL, "taskList.tasks[].immutable"),
            Column("created_time", TIME, "taskList.tasks[].createdTime"),
            Column("modified_time", TIME, "taskList.tasks[].modifiedTime"),
            Column("author_user_id", STRING, "taskList.tasks[].authorUser.userID"),
            Column("author_name", STRING, "taskList.tasks[].authorUser.name"),
            Column("assigned_user_id", STRING, "taskList.tasks[].assignedUser.userID"),
            Column("assigned_name", STRING, "taskList.tasks[].assignedUser.name"),
        ),
        sort_keys=("created_time", "task_id"),
    ),
    "labels": Table(
        "labels",
        (
            _ID,
            Column("key", STRING),  # frames: the label's key; free-form labels get "tags"
            Column("value", STRING),  # frames: ``label`` (Incident labels), else ``value`` (GetLabels)
            Column("description", STRING, "labels[].description"),
            Column("color_hex", STRING, "labels[].colorHex"),
        ),
        sort_keys=("key", "value"),
    ),
    "assignments": Table(
        "assignments",
        # The paths read an Incident's assignments; preview rows are added in frames.
        (
            _ID,
            Column(
                "role_id",
                INT,
                "incidentMembership.assignments[].roleID",
                "incidentMembership.assignments[].role.roleID",
            ),
            Column("role", STRING, "incidentMembership.assignments[].role.name"),
            Column("user_id", STRING, "incidentMembership.assignments[].user.userID"),
            Column("user_name", STRING, "incidentMembership.assignments[].user.name"),
            Column("important", BOOL, "incidentMembership.assignments[].role.important"),
            Column("mandatory", BOOL, "incidentMembership.assignments[].role.mandatory"),
        ),
        sort_keys=("role_id", "user_id"),
    ),
    "activity": Table(
        "activity",
        (
            _ID,
            Column("activity_item_id", STRING, "activityItemID"),
            Column("activity_kind", STRING, "activityKind"),
            Column("event_time", TIME, "eventTime"),
            Column("created_time", TIME, "createdTime"),
            Column("user_id", STRING, "user.userID"),
            Column("user_name", STRING, "user.name"),
            Column("subject_user_id", STRING, "subjectUser.userID"),
            Column("subject_user_name", STRING, "subjectUser.name"),
            Column("body", STRING, "body"),
            Column("url", STRING, "url"),
            Column("tags", STRING),  # frames: the item's tags joined with ","
            Column("relevance", STRING, "relevance"),
            Column("immutable", BOOL, "immutable"),
        ),
        sort_keys=("event_time", "created_time", "activity_item_id"),
    ),
}
"""Frame name → its `Table`, in the order `IncidentData` holds the frames."""

ERRORS = Table(
    "errors",
    (
        Column("incident_id", STRING),  # missing for a listed record without an ID
        Column("method", STRING),  # the RPC that failed or returned the malformed record
        Column("error_type", STRING),  # the exception class, e.g. "ServerError", "ResponseFormatError"
        Column("status_code", INT),  # the HTTP status; missing when no response came or it was a 200
        Column("message", STRING),
        Column("field", STRING),  # a malformed record's field, e.g. "activity[3].eventTime"
    ),
    sort_keys=("method", "field"),
)
"""`IncidentData.errors`: one row per failed call or malformed record; its incident is incomplete."""
ERROR_SCHEMA: dict[str, Any] = ERRORS.schema
"""The errors frame's column → dtype (`IncidentData.errors`)."""
