"""Grafana Incident API records → tidy pandas DataFrames with declared schemas.

Five pure builders, one per frame; none of them does I/O:

| builder | one row per | accepts |
|---|---|---|
| `incidents_frame` | incident | `Incident` (QueryIncidents, GetIncident), `IncidentPreview`, mixed |
| `tasks_frame` | task | `Incident`, `AddTaskResponse`-like `{incidentID, taskList}` |
| `labels_frame` | (incident, key, value) | `Incident`, `IncidentPreview`, GetLabels + `incidentID` |
| `assignments_frame` | (incident, role, user) | `Incident` (all roles), `IncidentPreview` (important roles) |
| `activity_frame` | activity item | `ActivityItem` (QueryActivity) |

The columns are declared once, in `incident_analytics.schema.TABLES` (name, dtype, wire path,
nullable); `SCHEMAS`, the type checks and the parsing are derived from there. Times are
``datetime64[ns, UTC]``, IDs and text ``string`` (Arrow-backed), flags ``boolean``, counts and role
IDs ``Int64``. A field the record kind does not carry is a missing value. Unknown fields are
ignored. A field of the wrong type, a record that is not an object, or an incident without an ID
raises `ResponseFormatError` naming the record, its incident ID and the field, e.g.
``incidents_frame: record 3 (incidentID '17'): 'isDrill' must be a boolean, got str 'true'``.
Pass a list as ``problems`` to collect those as `RecordProblem` instead: the bad value is then
missing in the frame (a record without an incident ID gives no rows) and the rest is built.
Passing a whole response body (a mapping) instead of its list of records raises `TypeError`.

The builders are written for large inputs (each frame of 100,000 distinct incidents in a second or
two): one pass per level of nesting collects a Python list per field with ``dict.get``; text goes straight into
Arrow, whose conversion refuses non-strings, so it doubles as the type check; other fields are
checked on the set of their value types, not value by value; times are parsed by one vectorised
Arrow cast per column.
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
from incident_analytics.schema import BOOL, INT, STRING, TABLES, TIME, Table

__all__ = [
    "SCHEMAS",
    "TABLES",
    "RecordProblem",
    "activity_frame",
    "assignments_frame",
    "empty_frame",
    "incidents_frame",
    "labels_frame",
    "tasks_frame",
]

SCHEMAS: dict[str, dict[str, Any]] = {name: table.schema for name, table in TABLES.items()}
"""Frame name → {column: dtype}, in column order (from `schema.TABLES`). The builders return exactly
these columns."""

# Free-form (legacy Tags) labels: the key defaults to "tags" and the field slug comes in either
# casing on the wire (docs/api.md#label-key-casing).
_TAGS_KEY = "tags"


@dataclass(frozen=True)
class RecordProblem:
    """A malformed value found while building a frame with ``problems=[...]``.

    Attributes:
        frame: the builder, e.g. ``"tasks_frame"``.
        record: index of the record in the builder's input.
        incident_id: the record's ``incidentID`` when it has a usable one, else None.
        field: the path of the value inside the record, e.g. ``"taskList.tasks[1].createdTime"``
            (``""`` for the record itself).
        problem: what is wrong with it, e.g. ``"must be a string, got int 5"``.
    """

    frame: str
    record: int
    incident_id: str | None
    field: str
    problem: str

    @property
    def message(self) -> str:
        """The sentence `ResponseFormatError` says about it."""
        known = f" (incidentID {self.incident_id!r})" if self.incident_id else ""
        subject = f"'{self.field}'" if self.field else "the record"
        return f"{self.frame}: record {self.record}{known}: {subject} {self.problem}"


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
# compute with them (incident IDs spread over nested rows, label keys and text).
_TEXT = _Kind("a string", frozenset({str}), (str,), arrow=True)
_STR = _Kind("a string", frozenset({str}), (str,))
_BOOL = _Kind("a boolean", frozenset({bool}), (bool,))
_INT = _Kind("an integer", frozenset({int}), (int,), (bool,))
_OBJECT = _Kind("an object", frozenset({dict}), (Mapping,))
_LIST = _Kind("a list", frozenset({list}), (list, tuple))

# The kind a wire field must be of, from the dtype of its column.
_KIND_OF = {STRING: _TEXT, TIME: _TEXT, INT: _INT, BOOL: _BOOL}

_NONE = type(None)


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _described(value: Any) -> str:
    return f"{type(value).__name__} {_short(value)}"


class _Sink:
    """Where a lenient build puts its problems, and which records it has already given up on."""

    __slots__ = ("dropped", "problems")

    def __init__(self, problems: list[RecordProblem]) -> None:
        self.problems = problems
        self.dropped: set[int] = set()


class _Level:
    """The objects found at one place in the records, and the way back to the record of each.

    The root level holds the records themselves. ``nested(key, objects)`` holds the object under
    ``key`` of each object (one to one, ``None`` where absent) and ``explode(key, lists)`` the items
    of the lists under ``key`` (one to many). Each level can name the record, its incident ID and the
    full path of a field in an error, e.g. ``taskList.tasks[1].authorUser.name``. With a sink (a
    lenient build) a malformed value is reported there and treated as missing instead of raising.
    """

    __slots__ = ("_owners", "_parent", "_positions", "_rows", "_step", "frame", "items", "sink")

    def __init__(
        self,
        items: list[Any],
        frame: str,
        *,
        parent: _Level | None = None,
        step: str = "",
        owners: list[int] | None = None,
        sink: _Sink | None = None,
    ) -> None:
        self.items = items
        self.frame = frame
        self.sink: _Sink | None = sink if parent is None else parent.sink
        self._parent = parent
        self._step = step
        self._owners = owners  # index in the parent level of each item (explode only), ascending
        self._positions: list[int] | None = None  # position in its list of each item, once items are left out
        self._rows: list[int] | None = None

    @classmethod
    def root(
        cls, records: Iterable[Mapping[str, Any]], frame: str, problems: list[RecordProblem] | None = None
    ) -> _Level:
        if isinstance(records, Mapping):
            # A whole response body instead of its list of records: a caller mistake, not the API's.
            raise TypeError(f"{frame}: pass the list of records (e.g. body['incidents']), not a mapping")
        level = cls(list(records), frame, sink=None if problems is None else _Sink(problems))
        bad = level._check(level.items, _OBJECT, "", allow_none=False)
        if level.sink is not None:
            level.sink.dropped.update(bad)
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
            if self._check(values, _STR, key):  # raises naming the record, or (lenient) blanks the culprits
                return pa.array(values, type=pa.large_string())
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
        bad = level._check(flat, _OBJECT, "", allow_none=False)
        if bad:
            # Lenient: an item that is not an object is no row. Positions are fixed first, so later
            # problems still name the item's place in its list.
            positions = [index - bisect_left(owners, owner) for index, owner in enumerate(owners)]
            dropped = set(bad)
            keep = [index for index in range(len(flat)) if index not in dropped]
            level.items = [flat[index] for index in keep]
            level._owners = [owners[index] for index in keep]
            level._positions = [positions[index] for index in keep]
        return level

    @property
    def one_per_record(self) -> bool:
        """Whether this level holds one object (or None) per record, in record order."""
        return self._owners is None and (self._parent is None or self._parent.one_per_record)

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

    def require(self, values: list[Any], key: str) -> None:
        """Refuse a missing or empty ``values[i]`` (field ``key``): every row of every frame belongs
        to an incident, and the zero-value incident has no ID (docs/api.md#unknown-incident-ids). Lenient: the record
        gives no rows."""
        if None not in values and "" not in values:
            return
        # Lenient builds: a record already reported (not an object, or an ID of the wrong type) once.
        reported = set() if self.sink is None else {(p.record, p.field) for p in self.sink.problems}
        for index, value in enumerate(values):
            if not value:
                dropped = self.sink is not None and self.rows()[index] in self.sink.dropped
                record, path = self._where(index)
                if not dropped and (record, ".".join(part for part in (path, key) if part)) not in reported:
                    self.report(index, key, "is missing or empty; a record without it cannot be a row")
                values[index] = None
                if self.sink is not None:
                    self.sink.dropped.add(self.rows()[index])

    # -- errors -----------------------------------------------------------------------------------

    def _where(self, index: int) -> tuple[int, str]:
        """(record index, path of this object inside its record) of the object at ``index``."""
        if self._parent is None:
            return index, ""
        if self._owners is None:
            parent_index, suffix = index, ""
        else:
            parent_index = self._owners[index]
            position = (
                self._positions[index]
                if self._positions is not None
                else index - bisect_left(self._owners, parent_index)
            )
            suffix = f"[{position}]"
        record, path = self._parent._where(parent_index)
        step = f"{self._step}{suffix}"
        return record, f"{path}.{step}" if path else step

    def _locate(self, index: int, key: str, problem: str) -> RecordProblem:
        level: _Level = self
        while level._parent is not None:
            level = level._parent
        record, path = self._where(index)
        field = ".".join(part for part in (path, key) if part)
        owner = level.items[record]
        incident_id = owner.get("incidentID") if isinstance(owner, Mapping) else None
        usable = incident_id if isinstance(incident_id, str) and incident_id else None
        return RecordProblem(self.frame, record, usable, field, problem)

    def error(self, index: int, key: str, problem: str) -> ResponseFormatError:
        """A ResponseFormatError about field ``key`` of the object at ``index``."""
        return ResponseFormatError(self._locate(index, key, problem).message)

    def report(self, index: int, key: str, problem: str) -> None:
        """Raise about field ``key`` of the object at ``index``, or (lenient) note it in the sink."""
        if self.sink is None:
            raise self.error(index, key, problem)
        self.sink.problems.append(self._locate(index, key, problem))

    def _check(self, values: list[Any], kind: _Kind, key: str, *, allow_none: bool = True) -> list[int]:
        """Check ``values`` (field ``key``) are of ``kind``; lenient: the indices of those that were not,
        now None."""
        types = set(map(type, values))
        if allow_none:
            types.discard(_NONE)
        if types <= kind.exact or all(kind.admits(value_type) for value_type in types):
            return []
        bad = []
        for index, value in enumerate(values):
            if (value is None and not allow_none) or (value is not None and not kind.admits(type(value))):
                self.report(index, key, f"must be {kind.name}, got {_described(value)}")
                values[index] = None
                bad.append(index)
        return bad


# --------------------------------------------------------------------------------------------------
# Reading the declared columns


@dataclass(frozen=True)
class _Read:
    """One wire path's values, at the level they were found on."""

    level: _Level
    key: str
    values: Any


def _read(top: _Level, paths: Mapping[str, _Kind]) -> dict[str, _Read]:
    """The values of every wire path of ``paths`` (see `schema`), reading each level of nesting once."""
    tree: dict[str, Any] = {}
    for path, kind in paths.items():
        node = tree
        *steps, last = path.split(".")
        for step in steps:
            node = node.setdefault(step, {})
            if not isinstance(node, dict):
                raise ValueError(f"wire path {path!r} goes through a field read as a value")
        if isinstance(node.get(last), dict):
            raise ValueError(f"wire path {path!r} reads as a value a field that holds others")
        node[last] = kind
    found: dict[str, _Read] = {}
    _walk(top, tree, "", found)
    return found


def _walk(level: _Level, tree: Mapping[str, Any], prefix: str, found: dict[str, _Read]) -> None:
    kinds = {
        step.removesuffix("[]"): child if isinstance(child, _Kind) else _LIST if step.endswith("[]") else _OBJECT
        for step, child in tree.items()
    }
    values = level.fields(kinds)
    for step, child in tree.items():
        key = step.removesuffix("[]")
        if isinstance(child, _Kind):
            found[prefix + step] = _Read(level, key, values[key])
        elif step.endswith("[]"):
            _walk(level.explode(key, values[key]), child, f"{prefix}{step}.", found)
        else:
            _walk(level.nested(key, values[key]), child, f"{prefix}{step}.", found)


def _wire_kinds(table: Table) -> dict[str, _Kind]:
    """The wire paths of ``table`` and the kind each must hold."""
    kinds: dict[str, _Kind] = {}
    for column in table.columns:
        for path in column.wire:
            # Required text stays a Python list, checked for emptiness as well.
            kinds[path] = _STR if not column.nullable and column.dtype == STRING else _KIND_OF[column.dtype]
    return kinds


def _row_list(paths: Iterable[str]) -> str:
    """The list (``"...[]"``) whose items are the rows, or ``""`` for the records themselves."""
    lists = {path[: path.index("[]") + 2] for path in paths if "[]" in path}
    if len(lists) > 1:
        raise ValueError(f"wire paths explode more than one list: {sorted(lists)}")
    return lists.pop() if lists else ""


def _row_level(found: Mapping[str, _Read], row_list: str, top: _Level) -> _Level:
    """The level of the items of ``row_list`` (``top`` when the records are the rows)."""
    for path, read in found.items():
        if row_list and path.startswith(row_list) and "." not in path[len(row_list) + 1 :]:
            return read.level
    return top


def _columns(table: Table, found: Mapping[str, _Read], rows: _Level) -> dict[str, Any]:
    """The wired columns of ``table`` from ``found``, one value per object of ``rows``: times parsed,
    values outside the row list repeated on each row of their record, fallbacks applied."""
    out: dict[str, Any] = {}
    for column in table.columns:
        parts = []
        for path in column.wire:
            read = found[path]
            values = read.values
            if not column.nullable:
                read.level.require(values, read.key)
            if column.dtype == TIME:
                values = _parse_times(read.level, read.key, values)
            if not rows.one_per_record and "[]" not in path:
                values = _spread(values, rows.rows())
            parts.append(values)
        if parts:
            out[column.name] = _coalesce(parts)
    return out


def _spread(values: Any, rows: list[int]) -> Any:
    """``values`` (one per record) repeated for each row (``rows``: the record of each row)."""
    if isinstance(values, list):
        return [values[row] for row in rows]
    if isinstance(values, pa.Array):
        return values.take(pa.array(rows, type=pa.int64()))
    return values.take(np.asarray(rows, dtype=np.intp))


def _coalesce(parts: list[Any]) -> Any:
    """Per row, the first of ``parts`` that is not missing."""
    first = parts[0]
    for other in parts[1:]:
        if isinstance(first, list):
            first = [value if value is not None else fallback for value, fallback in zip(first, other, strict=True)]
        elif isinstance(first, pa.Array):
            first = pc.coalesce(first, other)
        else:
            first = pd.Series(first).combine_first(pd.Series(other)).array
    return first


def _table(name: str, top: _Level, extra: Mapping[str, _Kind] | None = None) -> tuple[_Level, dict[str, Any]]:
    """(row level, columns and ``extra`` raw values by path) of table ``name`` read from ``top``."""
    table = TABLES[name]
    paths = {**_wire_kinds(table), **(extra or {})}
    found = _read(top, paths)
    rows = _row_level(found, _row_list(paths), top)
    columns = _columns(table, found, rows)
    for path in extra or {}:
        columns[path] = found[path].values
    return rows, columns


def _finish(name: str, frame: pd.DataFrame, top: _Level, key: list[str], exempt: str | None = None) -> pd.DataFrame:
    """``frame`` without the rows of records given up on (lenient builds) and without repeats of ``key``."""
    if top.sink is not None and top.sink.dropped:
        frame = frame.dropna(subset=TABLES[name].required).reset_index(drop=True)
    return _rows(frame, _first_rows(frame, key, exempt=None if exempt is None else frame[exempt].isna()))


# --------------------------------------------------------------------------------------------------
# Conversions


def _parse_times(level: _Level, key: str, texts: Any) -> pd.arrays.DatetimeArray:
    """``texts`` (field ``key`` of ``level`` as Arrow text, `_TEXT`) as ``datetime64[ns, UTC]``.

    Unset times are ``""`` on the wire, and Go's zero time (year 1, any fraction) means unset too
    but would otherwise parse as a real date (docs/api.md#time-formats). Offsets are converted to
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
        return _to_times(values)
    except (ValueError, OverflowError) as exc:
        # The culprits: text that coercion turns into NaT.
        coerced = pd.to_datetime(values, format="ISO8601", utc=True, errors="coerce")
        culprits = np.flatnonzero(pd.notna(values) & pd.isna(coerced))
        for index in culprits:
            level.report(int(index), key, f"{_time_problem(values[index])}: {_short(values[index])}")
            values[index] = None
        if len(culprits):
            return _to_times(values)
        raise ResponseFormatError(f"{level.frame}: '{key}' could not be parsed as times: {exc}") from exc


def _to_times(values: np.ndarray) -> pd.arrays.DatetimeArray:
    # pandas 3 infers the resolution from the strings (seconds or µs for most), so the unit is
    # forced afterwards; nanoseconds survive.
    parsed: pd.arrays.DatetimeArray = pd.to_datetime(values, format="ISO8601", utc=True).as_unit("ns").array
    return parsed


def _time_problem(text: str) -> str:
    """Why ``text`` cannot be a time of a frame."""
    try:
        pd.to_datetime([text], format="ISO8601", utc=True).as_unit("ns")
    except pd.errors.OutOfBoundsDatetime:
        return "is outside 1677-09-21..2262-04-11, the range of datetime64[ns]"
    except (ValueError, OverflowError):
        pass
    return "is not an RFC 3339 time"


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


# --------------------------------------------------------------------------------------------------
# Builders


def incidents_frame(
    records: Iterable[Mapping[str, Any]], *, problems: list[RecordProblem] | None = None
) -> pd.DataFrame:
    """One row per incident, from `Incident` and/or `IncidentPreview` records (``SCHEMAS["incidents"]``).

    ``severity`` is the label text (``severity`` on Incident, ``severityLabel`` on previews);
    ``severity_id``, ``description`` and ``slug`` come only from previews; ``duration_seconds``,
    ``overview_url`` and the task counts only from full incidents; the other kind gives NA.
    An incident that appears more than once (pages overlap while incidents are created) keeps its
    first record.

    Raises:
        ResponseFormatError: a record is not an object, has no ``incidentID``, or a field has the
            wrong type or an unparseable time (unless ``problems`` collects them).

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
    top = _Level.root(records, "incidents_frame", problems)
    _, columns = _table("incidents", top)
    return _finish("incidents", _build("incidents", columns), top, ["incident_id"])


def tasks_frame(records: Iterable[Mapping[str, Any]], *, problems: list[RecordProblem] | None = None) -> pd.DataFrame:
    """One row per task, from the ``taskList`` of `Incident` records (``SCHEMAS["tasks"]``).

    Also accepts ``AddTaskResponse``-like records ``{"incidentID": ..., "taskList": {...}}``.
    Previews carry no task list and give no rows. ``authorUser``/``assignedUser`` may be null
    (system tasks such as ``must-choose-severity`` have no author, docs/api.md#tasks). A task ID repeated
    within an incident keeps its first row.

    Raises:
        ResponseFormatError: a record or task is not an object, a record has no ``incidentID``,
            or a field has the wrong type or an unparseable time (unless ``problems`` collects them).

    >>> df = tasks_frame([{"incidentID": "17", "taskList": {"tasks": [
    ...     {"taskID": "must-choose-severity", "text": "Choose a severity", "status": "done",
    ...      "immutable": True, "authorUser": None,
    ...      "assignedUser": {"userID": "grafana-incident:user-1", "name": "Ada"}}]}}])
    >>> df.loc[0, ["task_id", "status", "author_user_id", "assigned_name"]].tolist()
    ['must-choose-severity', 'done', <NA>, 'Ada']
    >>> df["immutable"].tolist()
    [True]
    """
    top = _Level.root(records, "tasks_frame", problems)
    _, columns = _table("tasks", top)
    return _finish("tasks", _build("tasks", columns), top, ["incident_id", "task_id"], exempt="task_id")


def labels_frame(records: Iterable[Mapping[str, Any]], *, problems: list[RecordProblem] | None = None) -> pd.DataFrame:
    """One row per (incident, key, value) label (``SCHEMAS["labels"]``).

    Accepts `Incident`/`IncidentPreview` records, whose ``labels`` are ``{key, label, description,
    colorHex}``, and GetLabels results with the incident ID attached, ``{"incidentID": "17",
    "labels": [{key, keyUUID, value, valueUUID, description, colorHex}]}``. The label text is
    ``label``, else ``value``. Free-form labels (no key, ``""`` or any casing of ``"tags"``) get the
    key ``"tags"``; keyed labels keep theirs (docs/api.md#labels). Duplicates keep their first row.

    Raises:
        ResponseFormatError: a record or label is not an object, a record has no ``incidentID``,
            or a field has the wrong type (unless ``problems`` collects them).

    >>> labels_frame([
    ...     {"incidentID": "17", "labels": [{"key": "team", "label": "payments"}, {"label": "security"}]},
    ...     {"incidentID": "17", "labels": [{"key": "Tags", "value": "security", "keyUUID": "k1"}]},
    ... ])
      incident_id   key     value description color_hex
    0          17  team  payments        <NA>      <NA>
    1          17  tags  security        <NA>      <NA>
    """
    top = _Level.root(records, "labels_frame", problems)
    _, columns = _table("labels", top, {"labels[].key": _STR, "labels[].label": _STR, "labels[].value": _STR})
    keys, texts, values = columns.pop("labels[].key"), columns.pop("labels[].label"), columns.pop("labels[].value")
    columns["key"] = [_TAGS_KEY if not name or name.lower() == _TAGS_KEY else name for name in keys]
    columns["value"] = [text if text or other is None else other for text, other in zip(texts, values, strict=True)]
    return _finish("labels", _build("labels", columns), top, ["incident_id", "key", "value"])


def assignments_frame(
    records: Iterable[Mapping[str, Any]], *, problems: list[RecordProblem] | None = None
) -> pd.DataFrame:
    """One row per (incident, role, user) assignment (``SCHEMAS["assignments"]``).

    From `Incident` records' ``incidentMembership.assignments`` (role name and flags from ``role``)
    and from previews' ``incidentMembershipPreview.importantAssignments``, which list only important
    roles and carry no role object: ``role`` and ``mandatory`` are NA there and ``important`` is True.
    Placeholder slots (empty user ID or role ID 0, docs/api.md#roles-and-placeholder-slots) are dropped. The same
    (incident, role ID, user ID) seen again keeps one row, a full incident's before a preview's.

    Raises:
        ResponseFormatError: a record or assignment is not an object, a record has no
            ``incidentID``, or a field has the wrong type (unless ``problems`` collects them).

    >>> assignments_frame([{"incidentID": "17", "incidentMembership": {"assignments": [
    ...     {"roleID": 9576, "user": {"userID": "grafana-incident:user-1", "name": "Ada"},
    ...      "role": {"roleID": 9576, "name": "commander", "important": True, "mandatory": True}},
    ...     {"roleID": 0, "user": {"userID": "", "name": ""}, "role": {"roleID": 0, "name": ""}},
    ... ]}}])[["incident_id", "role_id", "role", "user_name", "important", "mandatory"]]
      incident_id  role_id       role user_name  important  mandatory
    0          17     9576  commander       Ada       True       True
    """
    top = _Level.root(records, "assignments_frame", problems)
    preview_paths = {
        "incidentMembershipPreview.importantAssignments[].roleID": _INT,
        "incidentMembershipPreview.importantAssignments[].user.userID": _TEXT,
        "incidentMembershipPreview.importantAssignments[].user.name": _TEXT,
    }
    # Both kinds of assignment are read in one pass over the records; each has its own row list.
    table = TABLES["assignments"]
    found = _read(top, {**_wire_kinds(table), **preview_paths})
    full = _row_level(found, "incidentMembership.assignments[]", top)
    full_rows = _build("assignments", _columns(table, found, full))

    preview = _row_level(found, "incidentMembershipPreview.importantAssignments[]", top)
    p = {path.rsplit("[].", 1)[1]: read.values for path, read in found.items() if path in preview_paths}
    count = len(preview.items)
    preview_rows = _build(
        "assignments",
        {
            "incident_id": _spread(found["incidentID"].values, preview.rows()),
            "role_id": p["roleID"],
            "role": [None] * count,
            "user_id": p["user.userID"],
            "user_name": p["user.name"],
            "important": [True] * count,
            "mandatory": [None] * count,
        },
    )

    # A full incident's rows come first, so where a preview repeats an assignment the fuller row is
    # kept; the stable sort then puts the rows back in record order.
    frame = pd.concat([full_rows, preview_rows], ignore_index=True)
    placeholder = frame["user_id"].fillna("").eq("") | frame["role_id"].eq(0).fillna(False)
    keep = _first_rows(frame, ["incident_id", "role_id", "user_id"]) & ~placeholder.to_numpy(dtype=bool)
    keep &= frame["incident_id"].notna().to_numpy(dtype=bool)  # records given up on (lenient builds)
    record = np.asarray(full.rows() + preview.rows())
    order = np.flatnonzero(keep)
    order = order[np.argsort(record[order], kind="stable")]
    return frame.take(order).reset_index(drop=True)


def activity_frame(items: Iterable[Mapping[str, Any]], *, problems: list[RecordProblem] | None = None) -> pd.DataFrame:
    """One row per `ActivityItem` (QueryActivity's ``activityItems``; ``SCHEMAS["activity"]``).

    ``tags`` is the item's tags joined with ``","`` (``""`` when it has none). An activity item ID
    repeated within an incident keeps its first row.

    Raises:
        ResponseFormatError: an item is not an object, has no ``incidentID``, or a field has the
            wrong type or an unparseable time (unless ``problems`` collects them).

    >>> df = activity_frame([{"incidentID": "17", "activityItemID": "a-1", "activityKind": "userNote",
    ...     "eventTime": "2026-09-19T11:07:18.515762775Z", "body": "rolled back",
    ...     "tags": ["important", "starred"], "user": {"userID": "grafana-incident:user-1", "name": "Ada"}}])
    >>> df.loc[0, ["activity_kind", "user_name", "tags", "subject_user_id"]].tolist()
    ['userNote', 'Ada', 'important,starred', <NA>]
    >>> df.loc[0, "event_time"]
    Timestamp('2026-09-19 11:07:18.515762775+0000', tz='UTC')
    """
    top = _Level.root(items, "activity_frame", problems)
    _, columns = _table("activity", top, {"tags": _LIST})
    columns["tags"] = _joined_tags(top, columns.pop("tags"))
    frame = _build("activity", columns)
    return _finish("activity", frame, top, ["incident_id", "activity_item_id"], exempt="activity_item_id")


def _joined_tags(items: _Level, tags: list[Any]) -> list[str | None]:
    try:
        # str.join refuses non-strings itself, so the check costs nothing on the good path.
        return ["" if not item_tags else ",".join(item_tags) for item_tags in tags]
    except TypeError:
        joined: list[str | None] = []
        for index, item_tags in enumerate(tags):
            bad = next((p for p, tag in enumerate(item_tags or ()) if not isinstance(tag, str)), None)
            if bad is None:
                joined.append("" if not item_tags else ",".join(item_tags))
            else:
                items.report(index, f"tags[{bad}]", f"must be a string, got {_described(item_tags[bad])}")
                joined.append(None)
        return joined
