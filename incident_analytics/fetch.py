"""Pull incidents and everything attached to them into ``IncidentData``, fast, with progress.

``fetch`` lists incidents with ``QueryIncidentPreviews`` and then fetches what previews lack
(``GetIncident`` for tasks and full role assignments, ``GetLabels`` where a record carries no labels,
``QueryActivity`` paged per incident) on a bounded thread pool.

The pieces ``sync`` (in :mod:`.sync`) builds on are public here: the `Selection`, `list_previews`,
`run_jobs` with its `Progress` bars, `build_data`, and the frame helpers `canonical` and `prefer`.
"""

from __future__ import annotations

import datetime as dt
import logging
import numbers
import queue
import re
import threading
import time
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from . import frames
from .allocation import fetch_allocation
from .client import IncidentClient
from .concurrency import AdaptiveLimit, FetchStats
from .errors import IncidentAPIError, ResponseFormatError
from .rpc import QUERY_ACTIVITY
from .rpc import QUERY_PREVIEWS as QUERY
from .schema import ERROR_SCHEMA, ERRORS, TABLES
from .store import IncidentData
from .types import PreviewOrderField

logger = logging.getLogger("incident_analytics")

INCLUDE_ALL = ("tasks", "labels", "assignments", "activity")
TimeLike = str | dt.date | dt.datetime | pd.Timestamp | None
GET_INCIDENT = "IncidentsService.GetIncident"
GET_LABELS = "IncidentsService.GetLabels"


# --------------------------------------------------------------------------------------------------
# The query: what the server is asked, and what is checked again here.


_ACCEPTED_TIMES = (
    "an ISO 8601 date or time string ('2026-01-01', '2026-01-01T09:30:00Z', '2026-01-01T09:30:00+02:00'), "
    "a datetime.date, a datetime.datetime or a pandas.Timestamp (times without a zone are UTC)"
)
_ISO_8601 = re.compile(
    r"\d{4}-\d{2}-\d{2}"  # the date, year first: 01/02/2026 could be either month
    r"(?:[T ]\d{2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?(?:Z|z|[+-]\d{2}(?::?\d{2})?)?)?"
)


def to_utc(name: str, value: TimeLike) -> pd.Timestamp | None:
    """A bound as an aware UTC ``Timestamp``; None stays None.

    Accepted: ISO 8601 strings (``"2026-01-01"``, ``"2026-01-01T09:30:00Z"``, with an offset),
    ``datetime.date``, ``datetime.datetime`` and ``pandas.Timestamp``. Naive values (no zone) and
    plain dates are taken as UTC. Numbers are refused (seconds or nanoseconds since the epoch?), and
    so are other strings (``"01/02/2026"`` is 1 February or 2 January depending on who reads it).

    >>> to_utc("since", "2026-01-01")
    Timestamp('2026-01-01 00:00:00+0000', tz='UTC')
    >>> to_utc("since", dt.datetime(2026, 1, 1, 9, 30, tzinfo=dt.timezone(dt.timedelta(hours=2))))
    Timestamp('2026-01-01 07:30:00+0000', tz='UTC')
    """
    if value is None:
        return None
    if isinstance(value, str):
        if not _ISO_8601.fullmatch(value.strip()):
            raise ValueError(f"{name}={value!r} is not an ISO 8601 date or time; use {_ACCEPTED_TIMES}")
        try:
            stamp = pd.Timestamp(value.strip())
        except (ValueError, OverflowError):
            raise ValueError(f"{name}={value!r} is not a valid date or time; use {_ACCEPTED_TIMES}") from None
    elif isinstance(value, dt.date):  # datetime.datetime and pandas.Timestamp are dates too
        stamp = pd.Timestamp(value)
    else:
        if isinstance(value, numbers.Number):  # bool included
            problem = "is a number: seconds or nanoseconds since the epoch? Refused as ambiguous"
        else:
            problem = f"is a {type(value).__name__}, not a date or time"
        raise TypeError(f"{name}={value!r} {problem}; use {_ACCEPTED_TIMES}")
    if pd.isna(stamp):
        raise ValueError(f"{name} must be a date or time, got {value!r}; use {_ACCEPTED_TIMES}")
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")


def wire_time(value: object) -> pd.Timestamp | None:
    """One wire time (``""`` and Go's zero time are unset) as a UTC ``Timestamp``, or None (also when it
    is not a readable time: the frame builders report those)."""
    if not isinstance(value, str) or not value or value.startswith("0001-01-01"):
        return None
    try:
        stamp = pd.to_datetime(value, utc=True, format="ISO8601")
    except (ValueError, OverflowError):
        return None
    return None if pd.isna(stamp) else pd.Timestamp(stamp)


def _rfc3339(stamp: pd.Timestamp) -> str:
    return (
        stamp.strftime("%Y-%m-%dT%H:%M:%SZ")
        if stamp.microsecond == 0 and stamp.nanosecond == 0
        else (stamp.isoformat().replace("+00:00", "Z"))
    )


@dataclass(frozen=True)
class Selection:
    """Which incidents a fetch covers: declared in ``[since, until)``, drills or not, a query string."""

    since: pd.Timestamp | None = None
    until: pd.Timestamp | None = None
    query: str = ""
    include_drills: bool = False

    @classmethod
    def of(cls, since: TimeLike, until: TimeLike, query: str | None, include_drills: bool) -> Selection:
        """Check and normalise the caller's arguments."""
        if query is not None and not isinstance(query, str):
            raise TypeError(f"query must be a query string such as 'status:resolved', got {type(query).__name__}")
        if not isinstance(include_drills, bool):
            raise TypeError(f"include_drills must be True or False, got {include_drills!r}")
        start, end = to_utc("since", since), to_utc("until", until)
        if start is not None and end is not None and start >= end:
            raise ValueError(f"since ({start}) must be before until ({end})")
        return cls(start, end, (query or "").strip(), include_drills)

    def query_string(self) -> str:
        """The ``queryString`` sent: the caller's query AND the drill filter AND the declared range."""
        parts = [self.query] if self.query else []
        if not self.include_drills and "isdrill:" not in self.query.lower():
            parts.append("isdrill:false")
        if self.since is not None or self.until is not None:
            lower = _rfc3339(self.since) if self.since is not None else ""
            upper = _rfc3339(self.until) if self.until is not None else ""
            parts.append(f"declared:{lower},{upper}")
        return " ".join(parts)

    def admits(self, record: Mapping[str, Any]) -> bool:
        """Check a listed record again here, so a server that ignores a bound cannot widen the result.

        A record whose ``createdTime`` is malformed (not a string, not a time) is kept: the server
        selected it, and the frame builders report the bad field, so the incident is listed as
        incomplete instead of silently lost. One without a creation time is in no range.
        """
        if not self.include_drills and record.get("isDrill") is True:
            return False
        if self.since is None and self.until is None:
            return True
        raw = record.get("createdTime")
        created = wire_time(raw)
        if created is None:
            unset = raw is None or (isinstance(raw, str) and (not raw or raw.startswith("0001-01-01")))
            return not unset
        if self.since is not None and created < self.since:
            return False
        return not (self.until is not None and created >= self.until)

    def to_meta(self) -> dict[str, Any]:
        """A JSON-able description, stored beside a synced store."""
        return {
            "since": None if self.since is None else self.since.isoformat(),
            "until": None if self.until is None else self.until.isoformat(),
            "query": self.query,
            "include_drills": self.include_drills,
        }


# --------------------------------------------------------------------------------------------------
# Progress.


class Progress:
    """One tqdm.auto bar per phase (a widget in Jupyter, text in a terminal), or nothing at all."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self._bars: dict[str, Any] = {}

    def start(self, phase: str, total: int | None, unit: str) -> None:
        """Open the bar of ``phase`` (``total`` None: a counter without an end)."""
        if not self.enabled:
            return
        from tqdm.auto import tqdm

        self._bars[phase] = tqdm(total=total, desc=phase, unit=unit, leave=True, dynamic_ncols=True)

    def advance(self, phase: str, n: int = 1) -> None:
        """Move the bar of ``phase`` on by ``n``."""
        bar = self._bars.get(phase)
        if bar is not None:
            bar.update(n)

    def finish(self, phase: str) -> None:
        """Close the bar of ``phase``."""
        bar = self._bars.pop(phase, None)
        if bar is not None:
            bar.close()

    def close(self) -> None:
        """Close every bar still open."""
        for bar in self._bars.values():
            bar.close()
        self._bars.clear()


# --------------------------------------------------------------------------------------------------
# Per-incident calls on a thread pool.


BATCH_RECORDS = 500
"""Answers held as JSON before they are turned into frame rows and dropped (bounds a fetch's memory)."""
UNREAD_ANSWERS = 128
"""Calls started whose answers the main thread has not read yet, at most: calls in flight plus
answers waiting in the queue (a worker waits for room before it starts the next call)."""


@dataclass
class Collected:
    """What the per-incident calls brought back, and what failed.

    Answers are turned into frame rows in batches as they arrive and the JSON is dropped, so a fetch
    holds the frames plus one batch of JSON, not every answer at once. ``full`` keeps the
    ``GetIncident`` records themselves only with ``keep_records`` (sync reads them).
    """

    include: frozenset[str] = frozenset(INCLUDE_ALL)
    labelled: frozenset[str] = frozenset()
    """IDs of the incidents whose listed record has a ``labels`` field (the rest ask GetLabels)."""
    strict: bool = False
    keep_records: bool = False
    full: dict[str, dict[str, Any]] = field(default_factory=dict)
    answered: set[str] = field(default_factory=set)
    """IDs of the incidents ``GetIncident`` answered (their records may have been dropped)."""
    key_value_labels: list[dict[str, Any]] = field(default_factory=list)
    activity: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    errors: list[dict[str, Any]] = field(default_factory=list)
    parts: dict[str, list[pd.DataFrame]] = field(default_factory=dict)
    """Frame rows built from answers already dropped, by frame name (``fuller`` for incidents)."""
    built: _Frames = field(init=False)
    _held: int = field(default=0, init=False)

    def __post_init__(self) -> None:
        self.built = _Frames(self.strict)

    def failed_ids(self) -> set[str]:
        """IDs of the incidents with a failed call."""
        return {str(e["incident_id"]) for e in self.errors}

    def add(self, kind: str, iid: str, answer: Any) -> None:
        """Take one job's answer (``full``, ``labels`` or ``activity``); build rows when a batch is full."""
        if kind == "full":
            self.full[iid] = answer
            self.answered.add(iid)
            self._held += 1
        elif kind == "labels":
            self.key_value_labels.append({"incidentID": iid, "labels": answer})
        else:
            self.activity[iid] = answer
            self._held += max(1, len(answer) // 10)  # an activity item is about a tenth of an incident
        if self._held >= BATCH_RECORDS and not self.keep_records:
            self.flush()

    def flush(self) -> None:
        """Turn the answers held into frame rows (kept in ``parts``) and drop their JSON."""
        if self.full:
            records = list(self.full.values())
            sources: list[tuple[str | None, str, str]] = [(iid, GET_INCIDENT, "") for iid in self.full]
            self._part("fuller", frames.incidents_frame, records, sources)
            if "tasks" in self.include:
                self._part("tasks", frames.tasks_frame, records, sources)
            if "assignments" in self.include:
                self._part("assignments", frames.assignments_frame, records, sources)
            if "labels" in self.include:
                labelled = [(r, s) for r, s in zip(records, sources, strict=True) if s[0] in self.labelled]
                self._part("labels", frames.labels_frame, [r for r, _ in labelled], [s for _, s in labelled])
            self.full = {}
        if self.key_value_labels:
            sources = [(str(a["incidentID"]), GET_LABELS, "") for a in self.key_value_labels]
            self._part("labels", frames.labels_frame, self.key_value_labels, sources)
            self.key_value_labels = []
        if self.activity:
            items: list[Mapping[str, Any]] = []
            item_sources: list[tuple[str | None, str, str]] = []
            for iid, answer in self.activity.items():
                items.extend(answer)
                item_sources.extend((iid, QUERY_ACTIVITY, f"activity[{position}]") for position in range(len(answer)))
            self._part("activity", frames.activity_frame, items, item_sources)
            self.activity = {}
        self._held = 0

    def _part(
        self,
        name: str,
        builder: Builder,
        records: Sequence[Mapping[str, Any]],
        sources: list[tuple[str | None, str, str]],
    ) -> None:
        if records:
            self.parts.setdefault(name, []).append(self.built.build(builder, records, sources))

    def take(self, name: str, keys: list[str] | None = None) -> pd.DataFrame:
        """The rows of ``name`` built so far (after a final ``flush``) as one frame, in canonical order
        by ``keys`` if given (`canonical`); the parts are let go."""
        parts = self.parts.pop(name, [])
        if not parts:
            return frames.empty_frame("incidents" if name == "fuller" else name)
        if keys is None:
            return parts[0] if len(parts) == 1 else pd.concat(parts, ignore_index=True)
        return _sorted_union(parts, keys)


@dataclass
class _Tally:
    """Calls, failures and elapsed time of each phase of the per-incident calls (the ``-v`` log)."""

    started: float = field(default_factory=time.monotonic)
    calls: dict[str, int] = field(default_factory=dict)
    failed: dict[str, int] = field(default_factory=dict)
    finished: dict[str, float] = field(default_factory=dict)

    def count(self, phase: str, failed: bool) -> None:
        self.calls[phase] = self.calls.get(phase, 0) + 1
        self.failed[phase] = self.failed.get(phase, 0) + failed
        self.finished[phase] = time.monotonic()

    def log(self) -> None:
        for phase, calls in self.calls.items():
            logger.info(
                "%s: %d per-incident calls, %d errors, %.1f s",
                phase,
                calls,
                self.failed[phase],
                self.finished[phase] - self.started,
            )

    def seconds(self) -> dict[str, float]:
        """Wall time from the start of the calls to the last answer of each phase."""
        return {phase: round(end - self.started, 3) for phase, end in self.finished.items()}


def _error_row(incident_id: str, method: str, exc: IncidentAPIError) -> dict[str, Any]:
    return {
        "incident_id": incident_id,
        "method": exc.method or method,
        "error_type": type(exc).__name__,
        "status_code": exc.status_code,
        "message": exc.message,
    }


def _malformed_row(incident_id: str | None, method: str, field: str, problem: str) -> dict[str, Any]:
    """An errors row for a malformed value in a record ``method`` returned (its incident is incomplete)."""
    subject = f"'{field}'" if field else "the record"
    return {
        "incident_id": incident_id,
        "method": method,
        "error_type": ResponseFormatError.__name__,
        "status_code": None,
        "message": f"{subject} {problem}",
        "field": field,
    }


Job = Callable[[], Any]


def _activity_of(client: IncidentClient, iid: str) -> list[dict[str, Any]]:
    return list(client.activity.query(iid))


def _jobs(
    client: IncidentClient, previews: list[dict[str, Any]], include: frozenset[str]
) -> Iterator[tuple[str, str, str, Job]]:
    """(phase, kind of answer, incident ID, job) for every call the previews leave to make."""
    for preview in previews:
        iid = str(preview["incidentID"])
        if include & {"tasks", "assignments"}:
            yield "details", "full", iid, partial(client.incidents.get, iid)
        # Previews carry both kinds of labels as {key, label} (docs/api.md#labels); ask GetLabels only for a
        # record that has no labels field at all.
        if "labels" in include and "labels" not in preview:
            yield "details", "labels", iid, partial(client.incidents.get_labels, iid)
        if "activity" in include:
            yield "activity", "activity", iid, partial(_activity_of, client, iid)


def run_jobs(
    client: IncidentClient,
    previews: list[dict[str, Any]],
    include: frozenset[str],
    concurrency: int,
    progress: Progress,
    strict: bool,
    *,
    max_concurrency: int | None = None,
    stats: FetchStats | None = None,
    keep_records: bool = False,
) -> Collected:
    """Make the per-incident calls ``include`` needs for ``previews``, ``concurrency`` at a time at
    first, adapted up to ``max_concurrency`` (`AdaptiveLimit`; None: fixed at ``concurrency``).

    A call that fails after the client's retries becomes an errors row (``strict``: it is raised).
    Answers become frame rows in batches as they arrive (``keep_records``: ``full`` keeps the
    ``GetIncident`` records instead). What the gate did is added to ``stats``.
    """
    labelled = frozenset(str(p["incidentID"]) for p in previews if "labels" in p)
    out = Collected(include, labelled, strict, keep_records)
    jobs = list(_jobs(client, previews, include))
    if not jobs:
        return out
    for phase in ("details", "activity"):
        count = sum(1 for p, _, _, _ in jobs if p == phase)
        if count:
            progress.start(phase, count, " calls")
    tally = _Tally()
    gate = AdaptiveLimit(concurrency, max(concurrency, max_concurrency or concurrency))
    remove = client.add_listener(gate.observe) if gate.maximum > concurrency else None

    # Answers come back through a queue, not the futures: a future keeps its result alive until the
    # pool is done, and the batches must be able to drop theirs.
    answers: queue.SimpleQueue[tuple[str, str, str, Any, BaseException | None]] = queue.SimpleQueue()
    # The main thread reads the queue and builds the frames; with 32 workers taking turns at the GIL
    # it can fall behind, and every answer it has not read yet is decoded JSON held in memory (most
    # of 2,000 incidents' at once, measured). A worker starts a call only while fewer than
    # `UNREAD_ANSWERS` calls are in flight or answered but unread, which also hands the main thread
    # the GIL when it matters.
    unread = threading.Semaphore(UNREAD_ANSWERS)
    stopping = threading.Event()  # the main thread gave up: waiting workers must not start calls

    def gated(phase: str, kind: str, iid: str, job: Job) -> None:
        unread.acquire()
        if stopping.is_set():
            return
        try:
            with gate.slot():
                answer = job()
        except BaseException as exc:  # handed to the main thread, which decides
            answers.put((phase, kind, iid, None, exc))
        else:
            answers.put((phase, kind, iid, answer, None))

    try:
        with ThreadPoolExecutor(max_workers=gate.maximum, thread_name_prefix="incident-fetch") as pool:
            futures = [pool.submit(gated, *job) for job in jobs]
            count = len(jobs)
            del jobs
            try:
                for _ in range(count):
                    phase, kind, iid, answer, exc = answers.get()
                    unread.release()
                    progress.advance(phase)
                    tally.count(phase, exc is not None)
                    if exc is None:
                        out.add(kind, iid, answer)
                        continue
                    if not isinstance(exc, IncidentAPIError) or strict:
                        raise exc
                    logger.warning("incident %s: %s failed after retries: %s", iid, phase, exc)
                    out.errors.append(_error_row(iid, phase, exc))
            except BaseException:
                stopping.set()
                for future in futures:
                    future.cancel()
                # Wake every worker waiting for room (nobody reads the answers any more), or
                # leaving the pool would wait for them forever.
                for _ in range(gate.maximum):
                    unread.release()
                raise
    finally:
        if remove is not None:
            remove()
    tally.log()
    if gate.maximum > concurrency:
        logger.info(
            "concurrency: started at %d, peaked at %d in flight, ended at %d (%d increases, %d halvings)",
            concurrency,
            gate.peak,
            gate.limit,
            gate.increases,
            gate.decreases,
        )
    if stats is not None:
        stats.add_gate(gate)
        stats.seconds.update(tally.seconds())
    if not keep_records:
        out.flush()
    return out


# --------------------------------------------------------------------------------------------------
# Assembling the frames.


def _natural(ids: pa.ChunkedArray) -> pa.ChunkedArray:
    """Sort key for incident IDs: numeric IDs in numeric order ("2" before "10"), else as text."""
    for numeric in (pa.int64(), pa.float64()):
        try:
            return pc.cast(ids, numeric)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            continue
    return ids


def _order(frame: pd.DataFrame, keys: list[str]) -> np.ndarray:
    """Row positions of ``frame`` sorted by incident ID (naturally), then ``keys``; stable, missing last.

    Arrow sorts the key columns natively: no Python object per value, and no copy of the frame.
    """
    table = pa.Table.from_pandas(frame[["incident_id", *keys]], preserve_index=False)
    table = table.set_column(0, "incident_id", _natural(table.column("incident_id")))
    # Missing values sort last: Arrow's default placement.
    options = pc.SortOptions(sort_keys=[(name, "ascending") for name in table.column_names])
    order: np.ndarray = pc.sort_indices(table, options=options).to_numpy()
    return order


def _sorted_union(parts: list[pd.DataFrame], keys: list[str]) -> pd.DataFrame:
    """``canonical(pd.concat(parts), keys)`` put together column by column, each column's parts let go
    as soon as it is placed: the peak is the parts plus one column, not two copies of the frame."""
    order = _order(pd.concat([part[["incident_id", *keys]] for part in parts], ignore_index=True), keys)
    columns: dict[str, pd.Series] = {}
    for name in list(parts[0].columns):
        column = pd.concat([part.pop(name) for part in parts], ignore_index=True)
        columns[name] = column.take(order).reset_index(drop=True)
        del column
    return pd.DataFrame(columns, copy=False)


def canonical(frame: pd.DataFrame, keys: list[str], *, consume: bool = False) -> pd.DataFrame:
    """Rows in one deterministic order: incident ID (numerically), then the frame's own keys.

    ``consume=True`` moves the columns out of ``frame`` one by one (it is left empty), so sorting
    needs room for one more column, not one more frame.
    """
    if frame.empty:
        return frame.reset_index(drop=True)
    order = _order(frame, keys)
    if not consume:
        return frame.take(order).reset_index(drop=True)
    columns = {name: frame.pop(name).take(order).reset_index(drop=True) for name in list(frame.columns)}
    return pd.DataFrame(columns, copy=False)


SORT_KEYS = {name: list(table.sort_keys) for name, table in TABLES.items()}
"""Frame name → the columns ordering its rows after the incident ID (declared in `schema.TABLES`)."""


def prefer(top: pd.DataFrame, base: pd.DataFrame) -> pd.DataFrame:
    """The incidents of ``base`` (in its order), each value taken from ``top`` where ``top`` has one."""
    wanted = base.set_index("incident_id", drop=False)
    merged = top.set_index("incident_id", drop=False).reindex(wanted.index).combine_first(wanted)
    return merged[list(base.columns)].reset_index(drop=True).astype(frames.SCHEMAS["incidents"])


Builder = Callable[..., pd.DataFrame]


class _Frames:
    """Runs the frame builders, leniently unless ``strict``: each malformed value becomes an errors
    row naming its incident, the RPC that returned it and the field, and the frames hold the rest."""

    def __init__(self, strict: bool) -> None:
        self.strict = strict
        self.errors: list[dict[str, Any]] = []

    def build(
        self, builder: Builder, records: Sequence[Mapping[str, Any]], sources: list[tuple[str | None, str, str]]
    ) -> pd.DataFrame:
        """``builder(records)``; ``sources[i]`` is (incident ID, method, path prefix) of record i."""
        if self.strict:
            return builder(records)
        problems: list[frames.RecordProblem] = []
        frame = builder(records, problems=problems)
        for problem in problems:
            incident_id, method, prefix = sources[problem.record]
            field = ".".join(part for part in (prefix, problem.field) if part)
            logger.warning("incident %s: %s returned a malformed record: %s", incident_id, method, problem.message)
            self.errors.append(_malformed_row(incident_id, method, field, problem.problem))
        return frame


@dataclass
class Listed:
    """The incident rows of the listed previews (and the malformed values found in them), built as
    soon as the listing is done so that the previews can be cut down to what the calls need."""

    frame: pd.DataFrame | None
    errors: list[dict[str, Any]]

    @classmethod
    def of(cls, previews: list[dict[str, Any]], strict: bool) -> Listed:
        """Build the rows of ``previews`` (leniently unless ``strict``, like `_Frames`)."""
        built = _Frames(strict)
        frame = built.build(frames.incidents_frame, previews, [(str(p["incidentID"]), QUERY, "") for p in previews])
        return cls(frame, built.errors)

    def take(self) -> pd.DataFrame:
        """The frame, let go of here."""
        frame, self.frame = self.frame, None
        if frame is None:
            raise RuntimeError("the listed rows were already taken")
        return frame


def _slim(previews: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each preview cut down to its ID and labels, all `run_jobs` and `build_data` read once the
    `Listed` rows are built (the rest of 2,000 previews is about 7 MB of decoded JSON)."""
    return [{key: preview[key] for key in ("incidentID", "labels") if key in preview} for preview in previews]


def build_data(
    previews: list[dict[str, Any]],
    collected: Collected,
    include: frozenset[str],
    fetched_at: pd.Timestamp,
    selection: Selection,
    *,
    strict: bool = False,
    listed: Listed | None = None,
) -> IncidentData:
    """The frames from listed previews and the per-incident answers, in canonical order.

    The incident rows are the listed ones overlaid with the fuller ``GetIncident`` values where it
    answered; labels come from that record, else from the listed one. A malformed value in a
    record becomes an errors row (``field`` names it, e.g. ``activity[3].eventTime``) and is missing
    in the frames; ``strict=True`` raises `ResponseFormatError` instead. ``listed``: the previews'
    incident rows, already built (`Listed`); ``previews`` then need only their IDs and labels.
    """
    started = time.monotonic()
    collected.flush()
    built = collected.built
    built.strict = built.strict or strict
    # One frame at a time, its parts let go before the next: the peak is the frames plus one copy.
    ordered: dict[str, pd.DataFrame] = {}
    if listed is None:
        listed = Listed.of(previews, built.strict)
    built.errors.extend(listed.errors)
    incidents = listed.take()
    incidents = prefer(collected.take("fuller"), incidents) if collected.answered else incidents
    ordered["incidents"] = canonical(incidents, SORT_KEYS["incidents"], consume=True)
    del incidents
    if "labels" in include:
        # Incidents GetIncident did not answer keep the labels of their listed record.
        unanswered = [p for p in previews if "labels" in p and str(p["incidentID"]) not in collected.answered]
        if unanswered:
            sources: list[tuple[str | None, str, str]] = [(str(p["incidentID"]), QUERY, "") for p in unanswered]
            collected.parts.setdefault("labels", []).append(built.build(frames.labels_frame, unanswered, sources))
    for name in ("tasks", "labels", "assignments", "activity"):
        ordered[name] = collected.take(name, SORT_KEYS[name]) if name in include else frames.empty_frame(name)
    rows = collected.errors + built.errors
    errors = pd.DataFrame(rows, columns=list(ERROR_SCHEMA)).astype(ERROR_SCHEMA).drop_duplicates()
    logger.info(
        "frames built in %.1f s: %s, errors %d rows (%d malformed values)",
        time.monotonic() - started,
        ", ".join(f"{name} {len(frame)} rows" for name, frame in ordered.items()),
        len(errors),
        len(built.errors),
    )
    return IncidentData(
        **ordered,
        errors=canonical(errors, list(ERRORS.sort_keys)),
        fetched_at=fetched_at,
        selection=selection.to_meta(),
    )


# --------------------------------------------------------------------------------------------------
# Public entry points.


def _check_include(include: Collection[str]) -> frozenset[str]:
    if isinstance(include, str):
        raise TypeError(f"include must be a collection of parts such as {INCLUDE_ALL}, not one string")
    if not isinstance(include, Iterable) or isinstance(include, Mapping):
        raise TypeError(
            f"include must be a collection of parts such as {INCLUDE_ALL} (or () for incidents only), got {include!r}"
        )
    parts = list(include)
    strange = [part for part in parts if not isinstance(part, str)]
    if strange:
        raise TypeError(f"include must hold part names such as 'tasks', got {strange[0]!r}")
    unknown = sorted(set(parts) - set(INCLUDE_ALL))
    if unknown:
        raise ValueError(f"include has unknown parts {unknown}; choose from {', '.join(INCLUDE_ALL)}")
    return frozenset(parts)


def check_concurrency(concurrency: int) -> int:
    """``concurrency`` if it is a whole number from 1 to 64, else a ValueError saying so."""
    if isinstance(concurrency, bool) or not isinstance(concurrency, int) or not 1 <= concurrency <= 64:
        raise ValueError(f"concurrency must be a whole number from 1 to 64, got {concurrency!r}")
    return concurrency


DEFAULT_MAX_CONCURRENCY = 32


def check_max_concurrency(max_concurrency: int | None, concurrency: int) -> int:
    """``max_concurrency`` if it is a whole number from ``concurrency`` to 64, else a ValueError;
    None is 32 (or ``concurrency`` when that is higher)."""
    if max_concurrency is None:
        return max(DEFAULT_MAX_CONCURRENCY, concurrency)
    if (
        isinstance(max_concurrency, bool)
        or not isinstance(max_concurrency, int)
        or not concurrency <= max_concurrency <= 64
    ):
        raise ValueError(
            f"max_concurrency must be a whole number from concurrency ({concurrency}) to 64, got {max_concurrency!r}"
        )
    return max_concurrency


def _check_max_items(max_items: int | None) -> int | None:
    if max_items is not None and (isinstance(max_items, bool) or not isinstance(max_items, int) or max_items < 1):
        raise ValueError(f"max_items must be a whole number of at least 1, or None for all, got {max_items!r}")
    return max_items


def _check_flag(name: str, value: bool) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be True or False, got {value!r}")
    return value


def list_previews(
    client: IncidentClient,
    selection: Selection,
    progress: Progress,
    *,
    query: str | None = None,
    order_field: PreviewOrderField = "createdTime",
    stop: Callable[[dict[str, Any]], bool] | None = None,
    phase: str = "incidents",
    limit: int | None = None,
    errors: list[dict[str, Any]] | None = None,
) -> list[dict[str, Any]]:
    """Listed previews admitted by the selection, each incident once (in listing order), at most
    ``limit``. A listed record without an ID raises, or with ``errors`` becomes a row there."""
    progress.start(phase, None, " incidents")
    started = time.monotonic()
    seen: dict[str, dict[str, Any]] = {}
    for record in client.incidents.query(
        selection.query_string() if query is None else query, order_field=order_field, order_direction="DESC"
    ):
        progress.advance(phase)
        if stop is not None and stop(record):
            break
        iid = record.get("incidentID")
        if not isinstance(iid, str) or not iid:
            if errors is None:
                raise ResponseFormatError(f"listed record without an incidentID: {str(record)[:120]}", method=QUERY)
            problem = f"is missing or not a string ({iid!r}): the listed record was left out"
            errors.append(_malformed_row(None, QUERY, "incidentID", problem))
            continue
        if selection.admits(record):
            # A record seen twice (paging while incidents change) keeps its newest copy.
            seen[iid] = record
            if limit is not None and len(seen) >= limit:
                break
    progress.finish(phase)
    logger.info("%s: %d incidents listed in %.1f s", phase, len(seen), time.monotonic() - started)
    return list(seen.values())


@fetch_allocation()
def fetch(
    client: IncidentClient,
    *,
    since: TimeLike = None,
    until: TimeLike = None,
    query: str | None = None,
    include: Collection[str] = INCLUDE_ALL,
    include_drills: bool = False,
    concurrency: int = 8,
    max_concurrency: int | None = None,
    max_items: int | None = None,
    progress: bool = True,
    strict: bool = False,
) -> IncidentData:
    """Fetch incidents declared in ``[since, until)`` and everything attached to them.

    ``since`` and ``until`` are ISO 8601 strings (``"2026-01-01"``, ``"2026-01-01T09:30:00Z"``),
    ``datetime.date``, ``datetime.datetime`` or ``pandas.Timestamp``; values without a zone are UTC.
    Numbers and other date spellings (``"01/02/2026"``) are refused. ``query`` is a Grafana
    ``queryString`` (e.g. ``"severity:critical label:security"``), ANDed with the drill filter and the
    date range. ``include`` chooses the per-incident parts to fetch (``()`` for incidents only).
    ``max_items`` keeps the newest incidents declared (at most that many). Every argument is checked
    before the first request.

    Failed per-incident calls (after the client's retries) and malformed records are listed in
    ``data.errors`` (``field`` names a malformed value, e.g. ``activity[3].eventTime``), their
    incidents in ``data.incomplete``, and the rest is kept; ``strict=True`` raises the first failure
    or `ResponseFormatError` instead.

    The per-incident calls start ``concurrency`` at a time; while answers stay fast and no 429 or
    503 comes, one more is allowed after each round, up to ``max_concurrency`` (default 32), and it is
    halved on a 429, a 503 or a slowdown (`AdaptiveLimit`; ``max_concurrency=concurrency`` keeps it
    fixed). A ``Retry-After`` pauses every call, not only the one that got it. ``data.fetch_stats``
    tells what happened: requests, retries, 429s, peak concurrency, seconds per phase.

    While the fetch runs, Python's cyclic garbage collector is paused (its collections over thousands
    of decoded answers cost a sixth of the time) and Arrow allocates from the system allocator (a
    third less peak memory); both are restored after (`fetch_allocation`).

    >>> data = ia.fetch(client, since="2026-01-01", include=("labels", "activity"))  # doctest: +SKIP
    >>> data.incidents.groupby("severity").size()  # doctest: +SKIP
    """
    selection = Selection.of(since, until, query, include_drills)
    parts = _check_include(include)
    workers = check_concurrency(concurrency)
    ceiling = check_max_concurrency(max_concurrency, workers)
    limit = _check_max_items(max_items)
    bars = Progress(_check_flag("progress", progress))
    strict = _check_flag("strict", strict)
    fetched_at = pd.Timestamp.now(tz="UTC")
    listing_errors: list[dict[str, Any]] = []
    stats = FetchStats(concurrency=workers, max_concurrency=ceiling)
    remove = stats.listen(client)
    try:
        previews = list_previews(client, selection, bars, limit=limit, errors=None if strict else listing_errors)
        stats.mark("listing")
        listed = Listed.of(previews, strict)
        previews = _slim(previews)
        collected = run_jobs(client, previews, parts, workers, bars, strict, max_concurrency=ceiling, stats=stats)
    finally:
        remove()
        bars.close()
    collected.errors[:0] = listing_errors
    framing = time.monotonic()
    data = build_data(previews, collected, parts, fetched_at, selection, strict=strict, listed=listed)
    stats.mark("frames", since=framing)
    stats.mark("total")
    data.fetch_stats = stats
    logger.info(
        "fetched %d incidents (%d tasks, %d labels, %d activity items, %d errors)",
        len(data.incidents),
        len(data.tasks),
        len(data.labels),
        len(data.activity),
        len(data.errors),
    )
    return data
