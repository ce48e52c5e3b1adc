"""Grafana Incident API records → tidy pandas DataFrames with declared schemas.

Five pure builders, one per frame; none of them does I/O:

| builder | one row per | accepts |
|---|---|---|
| `incidents_frame` | incident | `Incident` (QueryIncidents, GetIncident), `IncidentPreview`, mixed |
| `tasks_frame` | task | `Incident`, `AddTaskResponse`-like `{incidentID, taskList}` |
| `labels_frame` | (incident, key, value) | `Incident`, `IncidentPreview`, GetLabels + `incidentID` |
| `assignments_frame` | (incident, role, user) | `Incident` (all roles), `IncidentPreview` (important roles) |
| `activity_frame` | activity item | `ActivityItem` (QueryActivity) |

Every column has the dtype `SCHEMAS` declares: times are ``datetime64[ns, UTC]``, IDs and text
``string``, flags ``boolean``, counts and role IDs ``Int64``. A field the record kind does not carry is a
missing value. Unknown fields are ignored. A field of the wrong type, a record that is not an object,
or an incident without an ID raises `ResponseFormatError` naming the record, its incident ID and the
field, e.g. ``incidents_frame: record 3 (incidentID '17'): 'isDrill' must be a boolean, got str 'true'``.
Passing a whole response body (a mapping) instead of its list of records raises `TypeError`.

The builders are written for large inputs (100,000 incidents in well under a second): one pass
per level of nesting collects a Python list per field with ``dict.get``; text goes straight into
Arrow, whose conversion refuses non-strings, so it doubles as the type check; other fields are
checked on the set of their value types, not value by value; times are parsed by one vectorised
Arrow cast per column. String columns are Arrow-backed (``pd.StringDtype("pyarrow")``).
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from itertools import repeat
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from incident_analytics.errors import ResponseFormatError

__all__ = [
    "SCHEMAS",
    "activity_frame",
    "assignments_frame",
    "empty_frame",
    "incidents_frame",
    "labels_frame",
    "tasks_frame",
]

_TIME = "datetime64[ns, UTC]"
# Explicit storage: "string" means python storage on pandas 2 and Arrow on pandas 3.
_STRING = pd.StringDtype("pyarrow")

SCHEMAS: dict[str, dict[str, Any]] = {
    "incidents": {
        "incident_id": _STRING,
        "title": _STRING,
        "status": _STRING,
        "severity": _STRING,
        "severity_id": _STRING,
        "incident_type": _STRING,
        "is_drill": "boolean",
        "created_time": _TIME,
        "modified_time": _TIME,
        "closed_time": _TIME,
        "incident_start": _TIME,
        "incident_end": _TIME,
        "duration_seconds": "Int64",
        "created_by_user_id": _STRING,
        "created_by_name": _STRING,
        "summary": _STRING,
        "description": _STRING,
        "slug": _STRING,
        "overview_url": _STRING,
        "task_todo_count": "Int64",
        "task_done_count": "Int64",
    },
    "tasks": {
        "incident_id": _STRING,
        "task_id": _STRING,
        "text": _STRING,
        "status": _STRING,
        "immutable": "boolean",
        "created_time": _TIME,
        "modified_time": _TIME,
        "author_user_id": _STRING,
        "author_name": _STRING,
        "assigned_user_id": _STRING,
        "assigned_name": _STRING,
    },
    "labels": {
        "incident_id": _STRING,
        "key": _STRING,
        "value": _STRING,
        "description": _STRING,
        "color_hex": _STRING,
    },
    "assignments": {
        "incident_id": _STRING,
        "role_id": "Int64",
        "role": _STRING,
        "user_id": _STRING,
        "user_name": _STRING,
        "important": "boolean",
        "mandatory": "boolean",
    },
    "activity": {
        "incident_id": _STRING,
        "activity_item_id": _STRING,
        "activity_kind": _STRING,
        "event_time": _TIME,
        "created_time": _TIME,
        "user_id": _STRING,
        "user_name": _STRING,
        "subject_user_id": _STRING,
        "subject_user_name": _STRING,
        "body": _STRING,
        "url": _STRING,
        "tags": _STRING,
        "relevance": _STRING,
        "immutable": "boolean",
    },
}
"""Frame name → {column: dtype}, in column order. The builders return exactly these columns."""

# Free-form (legacy Tags) labels: the key defaults to "tags" and the field slug comes in either
# casing on the wire (FACTS §5).
_TAGS_KEY = "tags"


def empty_frame(name: str) -> pd.DataFrame:
    """An empty DataFrame with the columns and dtypes of frame ``name`` (a key of `SCHEMAS`).

    >>> {column: (str(dtype), dtype.storage) for column, dtype in empty_frame("labels").dtypes.items()}
    {'incident_id': ('string', 'pyarrow'), 'key': ('string', 'pyarrow'), 'value': ('string', 'pyarrow'), \
'description': ('string', 'pyarrow'), 'color_hex': ('string', 'pyarrow')}
    """
    if name not in SCHEMAS:
        raise ValueError(f"unknown frame {name!r}; known frames: {', '.join(SCHEMAS)}")
    return _build(name, {column: [] for column in SCHEMAS[name]})


# --------------------------------------------------------------------------------------------------
# Type checks: one set of value types per column, a scan for the culprit only when it is wrong.


@dataclass(frozen=True)
class _Kind:
    """What a JSON field must hold."""

    name: str
    exact: frozenset[type]  # the types JSON decoding produces: the fast path
    accepted: tuple[type, ...]  # subclasses of these pass too (e.g. any Mapping)
    excluded: tuple[type, ...] = ()  # bool is an int in Python, never in JSON
    arrow: bool = False  # `_Level.fields` returns the column as an Arrow string array

    def admits(self, value_type: type) -> bool:
        return issubclass(value_type, self.accepted) and not issubclass(value_type, self.excluded)


# `_TEXT` fields go into the frame as they are, so `_Level.fields` hands them over as Arrow arrays
# (Arrow's conversion is their type check); `_STR` fields stay Python lists because the builders
# compute with them (incident IDs spread over nested rows, label keys and text, severity fallback).
_TEXT = _Kind("a string", frozenset({str}), (str,), arrow=True)
_STR = _Kind("a string", frozenset({str}), (str,))
_BOOL = _Kind("a boolean", frozenset({bool}), (bool,))
_INT = _Kind("an integer", frozenset({int}), (int,), (bool,))
_OBJECT = _Kind("an object", frozenset({dict}), (Mapping,))
_LIST = _Kind("a list", frozenset({list}), (list, tuple))

_NONE = type(None)


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _described(value: Any) -> str:
    return f"{type(value).__name__} {_short(value)}"


class _Level:
    """The objects found at one place in the records, and the way back to the record of each.

    The root level holds the records themselves. ``nested(key, objects)`` holds the object under
    ``key`` of each object (one to one, ``None`` where absent) and ``explode(key, lists)`` the items
    of the lists under ``key`` (one to many). Each level can name the record, its incident ID and the
    full path of a field in an error, e.g. ``taskList.tasks[1].authorUser.name``.
    """

    __slots__ = ("_owners", "_parent", "_rows", "_step", "frame", "items")

    def __init__(
        self,
        items: list[Any],
        frame: str,
        *,
        parent: _Level | None = None,
        step: str = "",
        owners: list[int] | None = None,
    ) -> None:
        self.items = items
        self.frame = frame
        self._parent = parent
        self._step = step
        self._owners = owners  # index in the parent level of each item (explode only), ascending
        self._rows: list[int] | None = None

    @classmethod
    def root(cls, records: Iterable[Mapping[str, Any]], frame: str) -> _Level:
        if isinstance(records, Mapping):
            # A whole response body instead of its list of records: a caller mistake, not the API's.
            raise TypeError(f"{frame}: pass the list of records (e.g. body['incidents']), not a mapping")
        level = cls(list(records), frame)
        level._check(level.items, _OBJECT, "", allow_none=False)
        return level

    # -- navigation -------------------------------------------------------------------------------

    def fields(self, kinds: Mapping[str, _Kind]) -> dict[str, Any]:
        """``obj[key]`` for every object and every key of ``kinds``, each checked to be of its kind.

        A list per key, except `_TEXT` keys: an Arrow string array. One pass over the objects for all
        keys reads each record while it is in the CPU cache, about twice as fast as one pass per key
        over 100,000 large records.
        """
        columns: dict[str, Any] = {key: [] for key in kinds}
        appends = [(columns[key].append, key) for key in kinds]
        for obj in self.items:
            if obj is None:
                for append, _ in appends:
                    append(None)
            else:
                get = obj.get
                for append, key in appends:
                    append(get(key))
        for key, kind in kinds.items():
            if kind.arrow:
                columns[key] = self._arrow_text(columns[key], key)
            else:
                self._check(columns[key], kind, key)
        return columns

    def _arrow_text(self, values: list[Any], key: str) -> Any:
        """``values`` as an Arrow large_string array; anything but str (or None) is refused.

        Reading every value costs a cache miss on large inputs, so the conversion is the only
        pass over them. (Arrow would take ``bytes`` too, which JSON decoding never produces.)
        """
        try:
            return pa.array(values, type=pa.large_string())
        except (pa.ArrowTypeError, pa.ArrowInvalid) as exc:
            self._check(values, _STR, key)  # raises, naming the record
            raise ResponseFormatError(f"{self.frame}: '{key}' holds unreadable text: {exc}") from exc

    def nested(self, key: str, objects: list[Any]) -> _Level:
        """The objects under ``key`` (``fields(...)[key]`` checked as `_OBJECT`), one per object here."""
        return _Level(objects, self.frame, parent=self, step=key)

    def explode(self, key: str, lists: list[Any]) -> _Level:
        """The items of the lists under ``key`` (``fields(...)[key]`` checked as `_LIST`), all objects."""
        flat: list[Any] = []
        owners: list[int] = []
        for index, items in enumerate(lists):
            if items:
                flat.extend(items)
                owners.extend(repeat(index, len(items)))
        level = _Level(flat, self.frame, parent=self, step=key, owners=owners)
        level._check(flat, _OBJECT, "", allow_none=False)
        return level

    def rows(self) -> list[int]:
        """The record index of every object of this level."""
        if self._rows is None:
            if self._parent is None:
                self._rows = list(range(len(self.items)))
            elif self._owners is None:
                self._rows = self._parent.rows()
            else:
                parent_rows = self._parent.rows()
                self._rows = [parent_rows[owner] for owner in self._owners]
        return self._rows

    def require_ids(self, ids: list[Any]) -> list[str]:
        """``ids`` (the records' ``incidentID``), refusing a missing or empty one: every row of every
        frame belongs to an incident, and the zero-value incident has no ID (FACTS §2)."""
        if None in ids or "" in ids:
            bad = next(index for index, value in enumerate(ids) if not value)
            raise self.error(bad, "incidentID", "is missing or empty; a record without it cannot be a row")
        return ids

    # -- errors -----------------------------------------------------------------------------------

    def _where(self, index: int) -> tuple[int, str]:
        """(record index, path of this object inside its record) of the object at ``index``."""
        if self._parent is None:
            return index, ""
        if self._owners is None:
            parent_index, suffix = index, ""
        else:
            parent_index = self._owners[index]
            suffix = f"[{index - bisect_left(self._owners, parent_index)}]"
        record, path = self._parent._where(parent_index)
        step = f"{self._step}{suffix}"
        return record, f"{path}.{step}" if path else step

    def error(self, index: int, key: str, problem: str) -> ResponseFormatError:
        """A ResponseFormatError about field ``key`` of the object at ``index``."""
        level: _Level = self
        while level._parent is not None:
            level = level._parent
        record, path = self._where(index)
        field = ".".join(part for part in (path, key) if part)
        owner = level.items[record]
        incident_id = owner.get("incidentID") if isinstance(owner, Mapping) else None
        known = f" (incidentID {incident_id!r})" if isinstance(incident_id, str) and incident_id else ""
        subject = f"'{field}'" if field else "the record"
        return ResponseFormatError(f"{self.frame}: record {record}{known}: {subject} {problem}")

    def _check(self, values: list[Any], kind: _Kind, key: str, *, allow_none: bool = True) -> None:
        types = set(map(type, values))
        if allow_none:
            types.discard(_NONE)
        if types <= kind.exact or all(kind.admits(value_type) for value_type in types):
            return
        for index, value in enumerate(values):
            if (value is None and not allow_none) or (value is not None and not kind.admits(type(value))):
                raise self.error(index, key, f"must be {kind.name}, got {_described(value)}")


# --------------------------------------------------------------------------------------------------
# Conversions


def _parse_times(level: _Level, key: str, texts: Any) -> pd.arrays.DatetimeArray:
    """``texts`` (field ``key`` of ``level`` as Arrow text, `_TEXT`) as ``datetime64[ns, UTC]``.

    Unset times are ``""`` on the wire, and Go's zero time (year 1, any fraction) means unset too
    but would otherwise parse as a real date (FACTS §7, testing notes). Offsets are converted to
    UTC; times without a zone (the stubs' ``"2022-02-11 00:50:20.574137"``) are taken as UTC.
    """
    unset = pc.or_(pc.equal(texts, ""), pc.starts_with(texts, "0001-"))
    texts = pc.if_else(unset, pa.scalar(None, pa.large_string()), texts)
    try:
        # Arrow's ISO 8601 cast is ~4x faster than pandas' parser and keeps nanoseconds, but it
        # refuses times without a zone; those columns (and bad values) take the pandas path.
        parsed: pd.arrays.DatetimeArray = texts.cast(pa.timestamp("ns", tz="UTC")).to_pandas().array
        return parsed
    except pa.ArrowInvalid:
        pass
    values = texts.to_numpy(zero_copy_only=False)
    try:
        # pandas 3 infers the resolution from the strings (seconds or µs for most), so the unit is
        # forced afterwards; nanoseconds survive.
        fallback: pd.arrays.DatetimeArray = pd.to_datetime(values, format="ISO8601", utc=True).as_unit("ns").array
        return fallback
    except (ValueError, OverflowError) as exc:
        for index, text in enumerate(values):
            problem = None if text is None else _time_problem(text)
            if problem:
                raise level.error(index, key, f"{problem}: {_short(text)}") from exc
        raise ResponseFormatError(f"{level.frame}: '{key}' could not be parsed as times: {exc}") from exc


def _time_problem(text: str) -> str | None:
    """Why ``text`` cannot be a time of a frame, or None if it can."""
    try:
        pd.to_datetime([text], format="ISO8601", utc=True).as_unit("ns")
    except pd.errors.OutOfBoundsDatetime:
        return "is outside 1677-09-21..2262-04-11, the range of datetime64[ns]"
    except (ValueError, OverflowError):
        return "is not an RFC 3339 time"
    return None


def _first_of(preferred: list[Any], fallback: list[Any]) -> list[Any]:
    """Per row, ``preferred`` unless it is None, else ``fallback`` (``severity``, else ``severityLabel``)."""
    return [value if value is not None else other for value, other in zip(preferred, fallback, strict=True)]


def _first_rows(frame: pd.DataFrame, key: list[str], *, exempt: pd.Series | None = None) -> np.ndarray:
    """Mask of the rows whose ``key`` columns no earlier row had; ``exempt`` rows always count (an item
    without an ID is not a repeat of another). Vectorised: a Python set of key tuples is several times
    slower on large inputs, mostly in the garbage collections that creating the tuples sets off."""
    first: np.ndarray = ~frame.duplicated(key).to_numpy()
    if exempt is not None:
        first |= exempt.to_numpy()
    return first


def _rows(frame: pd.DataFrame, mask: np.ndarray) -> pd.DataFrame:
    """The rows of ``frame`` where ``mask`` holds, renumbered."""
    return frame if mask.all() else frame[mask].reset_index(drop=True)


def _per_row(ids: list[str], level: _Level) -> list[str]:
    """The incident ID of each object of ``level``, from the records' ``ids``."""
    return [ids[row] for row in level.rows()]


def _build(name: str, columns: Mapping[str, Any]) -> pd.DataFrame:
    """The frame ``name`` from one list, Arrow text or parsed time array per column.

    Lists of text must hold only str and None by now (checked as `_STR` or built from such).
    """
    data: dict[str, Any] = {}
    for column, dtype in SCHEMAS[name].items():
        values = columns[column]
        if dtype == "string":
            if isinstance(values, list):
                values = pa.array(values, type=pa.large_string())
            # Built directly from Arrow: pd.array(list, "string") re-checks and copies every value.
            data[column] = pd.arrays.ArrowStringArray(values)
        elif isinstance(values, list):
            try:
                data[column] = pd.Series(values, dtype=dtype).array
            except (OverflowError, TypeError, ValueError) as exc:  # e.g. an integer beyond int64
                raise ResponseFormatError(f"{name}_frame: column {column!r} cannot be {dtype}: {exc}") from exc
        else:
            data[column] = values
    return pd.DataFrame(data)


def _users(level: _Level, key: str, objects: list[Any]) -> tuple[Any, Any]:
    """(userID, name) of the UserPreview under ``key`` of each object; null where the user is absent."""
    user = level.nested(key, objects).fields({"userID": _TEXT, "name": _TEXT})
    return user["userID"], user["name"]


# --------------------------------------------------------------------------------------------------
# Builders


def incidents_frame(records: Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    """One row per incident, from `Incident` and/or `IncidentPreview` records (``SCHEMAS["incidents"]``).

    ``severity`` is the label text (``severity`` on Incident, ``severityLabel`` on previews);
    ``severity_id``, ``description`` and ``slug`` come only from previews; ``duration_seconds``,
    ``overview_url`` and the task counts only from full incidents; the other kind gives NA.
    An incident that appears more than once (pages overlap while incidents are created) keeps its
    first record.

    Raises:
        ResponseFormatError: a record is not an object, has no ``incidentID``, or a field has the
            wrong type or an unparseable time.

    >>> df = incidents_frame([
    ...     {"incidentID": "17", "title": "Checkout down", "severity": "Major",
    ...      "createdTime": "2026-09-19T11:02:02.688373Z", "closedTime": "", "durationSeconds": 17},
    ...     {"incidentID": "18", "severityLabel": "Minor", "severityID": "2", "slug": "db-slow",
    ...      "createdTime": "2026-09-19 12:00:00.5", "closedTime": "0001-01-01T00:00:00Z"},
    ... ])
    >>> df[["incident_id", "severity", "severity_id", "duration_seconds", "slug"]]
      incident_id severity severity_id  duration_seconds     slug
    0          17    Major        <NA>                17     <NA>
    1          18    Minor           2              <NA>  db-slow
    >>> df["created_time"].tolist()  # doctest: +NORMALIZE_WHITESPACE
    [Timestamp('2026-09-19 11:02:02.688373+0000', tz='UTC'),
     Timestamp('2026-09-19 12:00:00.500000+0000', tz='UTC')]
    >>> df["closed_time"].isna().all()
    np.True_
    """
    top = _Level.root(records, "incidents_frame")
    f = top.fields(
        {
            "incidentID": _STR,
            "title": _TEXT,
            "status": _TEXT,
            "severity": _STR,
            "severityLabel": _STR,
            "severityID": _TEXT,
            "incidentType": _TEXT,
            "isDrill": _BOOL,
            "createdTime": _TEXT,
            "modifiedTime": _TEXT,
            "closedTime": _TEXT,
            "incidentStart": _TEXT,
            "incidentEnd": _TEXT,
            "durationSeconds": _INT,
            "createdByUser": _OBJECT,
            "summary": _TEXT,
            "description": _TEXT,
            "slug": _TEXT,
            "overviewURL": _TEXT,
            "taskList": _OBJECT,
        }
    )
    ids = top.require_ids(f["incidentID"])
    created_by_id, created_by_name = _users(top, "createdByUser", f["createdByUser"])
    counts = top.nested("taskList", f["taskList"]).fields({"todoCount": _INT, "doneCount": _INT})
    columns = {
        "incident_id": ids,
        "title": f["title"],
        "status": f["status"],
        "severity": _first_of(f["severity"], f["severityLabel"]),
        "severity_id": f["severityID"],
        "incident_type": f["incidentType"],
        "is_drill": f["isDrill"],
        "created_time": _parse_times(top, "createdTime", f["createdTime"]),
        "modified_time": _parse_times(top, "modifiedTime", f["modifiedTime"]),
        "closed_time": _parse_times(top, "closedTime", f["closedTime"]),
        "incident_start": _parse_times(top, "incidentStart", f["incidentStart"]),
        "incident_end": _parse_times(top, "incidentEnd", f["incidentEnd"]),
        "duration_seconds": f["durationSeconds"],
        "created_by_user_id": created_by_id,
        "created_by_name": created_by_name,
        "summary": f["summary"],
        "description": f["description"],
        "slug": f["slug"],
        "overview_url": f["overviewURL"],
        "task_todo_count": counts["todoCount"],
        "task_done_count": counts["doneCount"],
    }
    frame = _build("incidents", columns)
    return _rows(frame, _first_rows(frame, ["incident_id"]))


def tasks_frame(records: Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    """One row per task, from the ``taskList`` of `Incident` records (``SCHEMAS["tasks"]``).

    Also accepts ``AddTaskResponse``-like records ``{"incidentID": ..., "taskList": {...}}``.
    Previews carry no task list and give no rows. ``authorUser``/``assignedUser`` may be null
    (system tasks such as ``must-choose-severity`` have no author, FACTS §8). A task ID repeated
    within an incident keeps its first row.

    Raises:
        ResponseFormatError: a record or task is not an object, a record has no ``incidentID``,
            or a field has the wrong type or an unparseable time.

    >>> df = tasks_frame([{"incidentID": "17", "taskList": {"tasks": [
    ...     {"taskID": "must-choose-severity", "text": "Choose a severity", "status": "done",
    ...      "immutable": True, "authorUser": None,
    ...      "assignedUser": {"userID": "grafana-incident:user-1", "name": "Ada"}}]}}])
    >>> df.loc[0, ["task_id", "status", "author_user_id", "assigned_name"]].tolist()
    ['must-choose-severity', 'done', <NA>, 'Ada']
    >>> df["immutable"].tolist()
    [True]
    """
    top = _Level.root(records, "tasks_frame")
    f = top.fields({"incidentID": _STR, "taskList": _OBJECT})
    ids = top.require_ids(f["incidentID"])
    task_list = top.nested("taskList", f["taskList"])
    tasks = task_list.explode("tasks", task_list.fields({"tasks": _LIST})["tasks"])
    t = tasks.fields(
        {
            "taskID": _TEXT,
            "text": _TEXT,
            "status": _TEXT,
            "immutable": _BOOL,
            "createdTime": _TEXT,
            "modifiedTime": _TEXT,
            "authorUser": _OBJECT,
            "assignedUser": _OBJECT,
        }
    )
    incident_id = _per_row(ids, tasks)
    author_id, author_name = _users(tasks, "authorUser", t["authorUser"])
    assigned_id, assigned_name = _users(tasks, "assignedUser", t["assignedUser"])
    columns = {
        "incident_id": incident_id,
        "task_id": t["taskID"],
        "text": t["text"],
        "status": t["status"],
        "immutable": t["immutable"],
        "created_time": _parse_times(tasks, "createdTime", t["createdTime"]),
        "modified_time": _parse_times(tasks, "modifiedTime", t["modifiedTime"]),
        "author_user_id": author_id,
        "author_name": author_name,
        "assigned_user_id": assigned_id,
        "assigned_name": assigned_name,
    }
    frame = _build("tasks", columns)
    return _rows(frame, _first_rows(frame, ["incident_id", "task_id"], exempt=frame["task_id"].isna()))


def labels_frame(records: Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    """One row per (incident, key, value) label (``SCHEMAS["labels"]``).

    Accepts `Incident`/`IncidentPreview` records, whose ``labels`` are ``{key, label, description,
    colorHex}``, and GetLabels results with the incident ID attached, ``{"incidentID": "17",
    "labels": [{key, keyUUID, value, valueUUID, description, colorHex}]}``. The label text is
    ``label``, else ``value``. Free-form labels (no key, ``""`` or any casing of ``"tags"``) get the
    key ``"tags"``; keyed labels keep theirs (FACTS §5). Duplicates keep their first row.

    Raises:
        ResponseFormatError: a record or label is not an object, a record has no ``incidentID``,
            or a field has the wrong type.

    >>> labels_frame([
    ...     {"incidentID": "17", "labels": [{"key": "team", "label": "payments"}, {"label": "security"}]},
    ...     {"incidentID": "17", "labels": [{"key": "Tags", "value": "security", "keyUUID": "k1"}]},
    ... ])
      incident_id   key     value description color_hex
    0          17  team  payments        <NA>      <NA>
    1          17  tags  security        <NA>      <NA>
    """
    top = _Level.root(records, "labels_frame")
    f = top.fields({"incidentID": _STR, "labels": _LIST})
    ids = top.require_ids(f["incidentID"])
    labels = top.explode("labels", f["labels"])
    g = labels.fields({"key": _STR, "label": _STR, "value": _STR, "description": _TEXT, "colorHex": _TEXT})
    incident_id = _per_row(ids, labels)
    key = [_TAGS_KEY if not name or name.lower() == _TAGS_KEY else name for name in g["key"]]
    value = [text if text or other is None else other for text, other in zip(g["label"], g["value"], strict=True)]
    columns = {
        "incident_id": incident_id,
        "key": key,
        "value": value,
        "description": g["description"],
        "color_hex": g["colorHex"],
    }
    frame = _build("labels", columns)
    return _rows(frame, _first_rows(frame, ["incident_id", "key", "value"]))


def assignments_frame(records: Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    """One row per (incident, role, user) assignment (``SCHEMAS["assignments"]``).

    From `Incident` records' ``incidentMembership.assignments`` (role name and flags from ``role``)
    and from previews' ``incidentMembershipPreview.importantAssignments``, which list only important
    roles and carry no role object: ``role`` and ``mandatory`` are NA there and ``important`` is True.
    Placeholder slots (empty user ID or role ID 0, FACTS §8) are dropped. The same (incident, role ID,
    user ID) seen again keeps one row, a full incident's before a preview's.

    Raises:
        ResponseFormatError: a record or assignment is not an object, a record has no
            ``incidentID``, or a field has the wrong type.

    >>> assignments_frame([{"incidentID": "17", "incidentMembership": {"assignments": [
    ...     {"roleID": 9576, "user": {"userID": "grafana-incident:user-1", "name": "Ada"},
    ...      "role": {"roleID": 9576, "name": "commander", "important": True, "mandatory": True}},
    ...     {"roleID": 0, "user": {"userID": "", "name": ""}, "role": {"roleID": 0, "name": ""}},
    ... ]}}])[["incident_id", "role_id", "role", "user_name", "important", "mandatory"]]
      incident_id  role_id       role user_name  important  mandatory
    0          17     9576  commander       Ada       True       True
    """
    top = _Level.root(records, "assignments_frame")
    f = top.fields({"incidentID": _STR, "incidentMembership": _OBJECT, "incidentMembershipPreview": _OBJECT})
    ids = top.require_ids(f["incidentID"])

    membership = top.nested("incidentMembership", f["incidentMembership"])
    full = membership.explode("assignments", membership.fields({"assignments": _LIST})["assignments"])
    a = full.fields({"roleID": _INT, "role": _OBJECT, "user": _OBJECT})
    role = full.nested("role", a["role"]).fields(
        {"roleID": _INT, "name": _TEXT, "important": _BOOL, "mandatory": _BOOL}
    )
    user_id, user_name = _users(full, "user", a["user"])
    full_rows = _build(
        "assignments",
        {
            "incident_id": _per_row(ids, full),
            "role_id": _first_of(a["roleID"], role["roleID"]),
            "role": role["name"],
            "user_id": user_id,
            "user_name": user_name,
            "important": role["important"],
            "mandatory": role["mandatory"],
        },
    )

    summary = top.nested("incidentMembershipPreview", f["incidentMembershipPreview"])
    preview_lists = summary.fields({"importantAssignments": _LIST})["importantAssignments"]
    preview = summary.explode("importantAssignments", preview_lists)
    p = preview.fields({"roleID": _INT, "user": _OBJECT})
    user_id, user_name = _users(preview, "user", p["user"])
    count = len(preview.items)
    preview_rows = _build(
        "assignments",
        {
            "incident_id": _per_row(ids, preview),
            "role_id": p["roleID"],
            "role": [None] * count,
            "user_id": user_id,
            "user_name": user_name,
            "important": [True] * count,
            "mandatory": [None] * count,
        },
    )

    # A full incident's rows come first, so where a preview repeats an assignment the fuller row is
    # kept; the stable sort then puts the rows back in record order.
    frame = pd.concat([full_rows, preview_rows], ignore_index=True)
    placeholder = frame["user_id"].fillna("").eq("") | frame["role_id"].eq(0).fillna(False)
    keep = _first_rows(frame, ["incident_id", "role_id", "user_id"]) & ~placeholder.to_numpy(dtype=bool)
    record = np.asarray(full.rows() + preview.rows())
    order = np.flatnonzero(keep)
    order = order[np.argsort(record[order], kind="stable")]
    return frame.take(order).reset_index(drop=True)


def activity_frame(items: Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    """One row per `ActivityItem` (QueryActivity's ``activityItems``; ``SCHEMAS["activity"]``).

    ``tags`` is the item's tags joined with ``","`` (``""`` when it has none). An activity item ID
    repeated within an incident keeps its first row.

    Raises:
        ResponseFormatError: an item is not an object, has no ``incidentID``, or a field has the
            wrong type or an unparseable time.

    >>> df = activity_frame([{"incidentID": "17", "activityItemID": "a-1", "activityKind": "userNote",
    ...     "eventTime": "2026-09-19T11:07:18.515762775Z", "body": "rolled back",
    ...     "tags": ["important", "starred"], "user": {"userID": "grafana-incident:user-1", "name": "Ada"}}])
    >>> df.loc[0, ["activity_kind", "user_name", "tags", "subject_user_id"]].tolist()
    ['userNote', 'Ada', 'important,starred', <NA>]
    >>> df.loc[0, "event_time"]
    Timestamp('2026-09-19 11:07:18.515762775+0000', tz='UTC')
    """
    top = _Level.root(items, "activity_frame")
    f = top.fields(
        {
            "incidentID": _STR,
            "activityItemID": _TEXT,
            "activityKind": _TEXT,
            "eventTime": _TEXT,
            "createdTime": _TEXT,
            "user": _OBJECT,
            "subjectUser": _OBJECT,
            "body": _TEXT,
            "url": _TEXT,
            "tags": _LIST,
            "relevance": _TEXT,
            "immutable": _BOOL,
        }
    )
    ids = top.require_ids(f["incidentID"])
    user_id, user_name = _users(top, "user", f["user"])
    subject_id, subject_name = _users(top, "subjectUser", f["subjectUser"])
    columns = {
        "incident_id": ids,
        "activity_item_id": f["activityItemID"],
        "activity_kind": f["activityKind"],
        "event_time": _parse_times(top, "eventTime", f["eventTime"]),
        "created_time": _parse_times(top, "createdTime", f["createdTime"]),
        "user_id": user_id,
        "user_name": user_name,
        "subject_user_id": subject_id,
        "subject_user_name": subject_name,
        "body": f["body"],
        "url": f["url"],
        "tags": _joined_tags(top, f["tags"]),
        "relevance": f["relevance"],
        "immutable": f["immutable"],
    }
    frame = _build("activity", columns)
    exempt = frame["activity_item_id"].isna()
    return _rows(frame, _first_rows(frame, ["incident_id", "activity_item_id"], exempt=exempt))


def _joined_tags(items: _Level, tags: list[Any]) -> list[str]:
    try:
        # str.join refuses non-strings itself, so the check costs nothing on the good path.
        return ["" if not item_tags else ",".join(item_tags) for item_tags in tags]
    except TypeError:
        for index, item_tags in enumerate(tags):
            for position, tag in enumerate(item_tags or ()):
                if not isinstance(tag, str):
                    problem = f"must be a string, got {_described(tag)}"
                    raise items.error(index, f"tags[{position}]", problem) from None
        raise
