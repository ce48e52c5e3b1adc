"""Pull incidents and everything attached to them into ``IncidentData``, fast, with progress.

``fetch`` lists incidents with ``QueryIncidentPreviews`` and then fetches what previews lack
(``GetIncident`` for tasks and full role assignments, ``GetLabels`` where a record carries no labels,
``QueryActivity`` paged per incident) on a bounded thread pool. ``sync`` keeps a Parquet store up to
date by fetching only what changed since the last run.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Collection, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from . import frames
from .client import IncidentClient
from .errors import IncidentAPIError, ResponseFormatError
from .rpc import QUERY_PREVIEWS as QUERY
from .store import ERROR_SCHEMA, IncidentData
from .types import PreviewOrderField

logger = logging.getLogger("incident_analytics")

INCLUDE_ALL = ("tasks", "labels", "assignments", "activity")
TimeLike = str | dt.datetime | pd.Timestamp | None


# --------------------------------------------------------------------------------------------------
# The query: what the server is asked, and what is checked again here.


def to_utc(name: str, value: TimeLike) -> pd.Timestamp | None:
    """A bound as an aware UTC ``Timestamp``; naive values and plain dates are taken as UTC."""
    if value is None:
        return None
    try:
        stamp = pd.Timestamp(value)
    except (ValueError, TypeError):
        raise ValueError(f"{name} {value!r} is not a date or time (e.g. '2026-01-01' or a datetime)") from None
    if pd.isna(stamp):
        raise ValueError(f"{name} must be a date or time, got {value!r}")
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")


def wire_time(value: object) -> pd.Timestamp | None:
    """One wire time (``""`` and Go's zero time are unset) as a UTC ``Timestamp``, or None."""
    if not isinstance(value, str) or not value or value.startswith("0001-01-01"):
        return None
    stamp = pd.to_datetime(value, utc=True, format="ISO8601")
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
        """Check a listed record again here, so a server that ignores a bound cannot widen the result."""
        if not self.include_drills and record.get("isDrill") is True:
            return False
        if self.since is None and self.until is None:
            return True
        created = wire_time(record.get("createdTime"))
        if created is None:
            return False
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


class _Progress:
    """One tqdm.auto bar per phase (a widget in Jupyter, text in a terminal), or nothing at all."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self._bars: dict[str, Any] = {}

    def start(self, phase: str, total: int | None, unit: str) -> None:
        if not self.enabled:
            return
        from tqdm.auto import tqdm

        self._bars[phase] = tqdm(total=total, desc=phase, unit=unit, leave=True, dynamic_ncols=True)

    def advance(self, phase: str, n: int = 1) -> None:
        bar = self._bars.get(phase)
        if bar is not None:
            bar.update(n)

    def finish(self, phase: str) -> None:
        bar = self._bars.pop(phase, None)
        if bar is not None:
            bar.close()

    def close(self) -> None:
        for bar in self._bars.values():
            bar.close()
        self._bars.clear()


# --------------------------------------------------------------------------------------------------
# Per-incident calls on a thread pool.


@dataclass
class _Collected:
    """What the per-incident calls brought back, and what failed."""

    full: dict[str, dict[str, Any]] = field(default_factory=dict)
    key_value_labels: list[dict[str, Any]] = field(default_factory=list)
    activity: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    errors: list[dict[str, Any]] = field(default_factory=list)

    def failed_ids(self) -> set[str]:
        return {str(e["incident_id"]) for e in self.errors}


def _error_row(incident_id: str, method: str, exc: IncidentAPIError) -> dict[str, Any]:
    return {
        "incident_id": incident_id,
        "method": exc.method or method,
        "error_type": type(exc).__name__,
        "status_code": exc.status_code,
        "message": exc.message,
    }


def _jobs(
    client: IncidentClient, previews: list[dict[str, Any]], include: frozenset[str], out: _Collected
) -> Iterator[tuple[str, str, Callable[[], None]]]:
    """(phase, incident ID, job) for every call the previews leave to make."""
    for preview in previews:
        iid = str(preview["incidentID"])
        if include & {"tasks", "assignments"}:

            def get(iid: str = iid) -> None:
                out.full[iid] = client.incidents.get(iid)

            yield "details", iid, get
        # Previews carry both kinds of labels as {key, label} (FACTS.md §5); ask GetLabels only for a
        # record that has no labels field at all.
        if "labels" in include and "labels" not in preview:

            def labels(iid: str = iid) -> None:
                out.key_value_labels.append({"incidentID": iid, "labels": client.incidents.get_labels(iid)})

            yield "details", iid, labels
        if "activity" in include:

            def activity(iid: str = iid) -> None:
                out.activity[iid] = list(client.activity.query(iid))

            yield "activity", iid, activity


def _run_jobs(
    client: IncidentClient,
    previews: list[dict[str, Any]],
    include: frozenset[str],
    concurrency: int,
    progress: _Progress,
    strict: bool,
) -> _Collected:
    out = _Collected()
    jobs = list(_jobs(client, previews, include, out))
    if not jobs:
        return out
    for phase in ("details", "activity"):
        count = sum(1 for p, _, _ in jobs if p == phase)
        if count:
            progress.start(phase, count, " calls")
    with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="incident-fetch") as pool:
        futures: dict[Future[None], tuple[str, str]] = {pool.submit(job): (phase, iid) for phase, iid, job in jobs}
        try:
            for future in as_completed(futures):
                phase, iid = futures[future]
                progress.advance(phase)
                exc = future.exception()
                if exc is None:
                    continue
                if not isinstance(exc, IncidentAPIError) or strict:
                    raise exc
                logger.warning("incident %s: %s failed after retries: %s", iid, phase, exc)
                out.errors.append(_error_row(iid, phase, exc))
        except BaseException:
            for future in futures:
                future.cancel()
            raise
    return out


# --------------------------------------------------------------------------------------------------
# Assembling the frames.


def _natural(ids: pd.Series) -> pd.Series:
    """Sort key for incident IDs: numeric IDs in numeric order ("2" before "10")."""
    numbers = pd.to_numeric(ids, errors="coerce")
    return numbers if numbers.notna().all() else ids.astype(pd.StringDtype("pyarrow"))


def _canonical(frame: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """Rows in one deterministic order: incident ID (numerically), then the frame's own keys."""
    if frame.empty:
        return frame.reset_index(drop=True)
    order = frame.sort_values(
        ["incident_id", *keys],
        key=lambda col: _natural(col) if col.name == "incident_id" else col,
        kind="stable",
        na_position="last",
    )
    return order.reset_index(drop=True)


SORT_KEYS = {
    "incidents": [],
    "tasks": ["created_time", "task_id"],
    "labels": ["key", "value"],
    "assignments": ["role_id", "user_id"],
    "activity": ["event_time", "created_time", "activity_item_id"],
}


def _prefer(top: pd.DataFrame, base: pd.DataFrame) -> pd.DataFrame:
    """The incidents of ``base`` (in its order), each value taken from ``top`` where ``top`` has one."""
    wanted = base.set_index("incident_id", drop=False)
    merged = top.set_index("incident_id", drop=False).reindex(wanted.index).combine_first(wanted)
    return merged[list(base.columns)].reset_index(drop=True).astype(frames.SCHEMAS["incidents"])


def _incidents(previews: list[dict[str, Any]], full: Mapping[str, dict[str, Any]]) -> pd.DataFrame:
    """Preview columns overlaid with the fuller ``Incident`` values where GetIncident answered."""
    listed = frames.incidents_frame(previews)
    return _prefer(frames.incidents_frame(list(full.values())), listed) if full else listed


def build_data(
    previews: list[dict[str, Any]],
    collected: _Collected,
    include: frozenset[str],
    fetched_at: pd.Timestamp,
    selection: Selection,
) -> IncidentData:
    """The frames from listed previews and the per-incident answers, in canonical order."""
    full = collected.full
    label_records: list[Mapping[str, Any]] = []
    if "labels" in include:
        label_records = [full.get(str(p["incidentID"]), p) for p in previews if "labels" in p]
        label_records += collected.key_value_labels
    built = {
        "incidents": _incidents(previews, full),
        "tasks": frames.tasks_frame(full.values()) if "tasks" in include else frames.empty_frame("tasks"),
        "labels": frames.labels_frame(label_records),
        "assignments": (
            frames.assignments_frame(full.values()) if "assignments" in include else frames.empty_frame("assignments")
        ),
        "activity": frames.activity_frame(item for items in collected.activity.values() for item in items),
    }
    ordered = {name: _canonical(frame, SORT_KEYS[name]) for name, frame in built.items()}
    errors = pd.DataFrame(collected.errors, columns=list(ERROR_SCHEMA)).astype(ERROR_SCHEMA)
    return IncidentData(
        **ordered,
        errors=_canonical(errors, ["method"]),
        fetched_at=fetched_at,
        selection=selection.to_meta(),
    )


# --------------------------------------------------------------------------------------------------
# Public entry points.


def _check_include(include: Collection[str]) -> frozenset[str]:
    if isinstance(include, str):
        raise TypeError(f"include must be a collection of parts such as {INCLUDE_ALL}, not one string")
    unknown = sorted(set(include) - set(INCLUDE_ALL))
    if unknown:
        raise ValueError(f"include has unknown parts {unknown}; choose from {', '.join(INCLUDE_ALL)}")
    return frozenset(include)


def _check_concurrency(concurrency: int) -> int:
    if isinstance(concurrency, bool) or not isinstance(concurrency, int) or not 1 <= concurrency <= 64:
        raise ValueError(f"concurrency must be a whole number from 1 to 64, got {concurrency!r}")
    return concurrency


def _list(
    client: IncidentClient,
    selection: Selection,
    progress: _Progress,
    *,
    query: str | None = None,
    order_field: PreviewOrderField = "createdTime",
    stop: Callable[[dict[str, Any]], bool] | None = None,
    phase: str = "incidents",
) -> list[dict[str, Any]]:
    """Listed previews admitted by the selection, each incident once (in listing order)."""
    progress.start(phase, None, " incidents")
    seen: dict[str, dict[str, Any]] = {}
    for record in client.incidents.query(
        selection.query_string() if query is None else query, order_field=order_field, order_direction="DESC"
    ):
        progress.advance(phase)
        if stop is not None and stop(record):
            break
        iid = record.get("incidentID")
        if not isinstance(iid, str) or not iid:
            raise ResponseFormatError(f"listed record without an incidentID: {str(record)[:120]}", method=QUERY)
        if selection.admits(record):
            # A record seen twice (paging while incidents change) keeps its newest copy.
            seen[iid] = record
    progress.finish(phase)
    return list(seen.values())


def fetch(
    client: IncidentClient,
    *,
    since: TimeLike = None,
    until: TimeLike = None,
    query: str | None = None,
    include: Collection[str] = INCLUDE_ALL,
    include_drills: bool = False,
    concurrency: int = 8,
    progress: bool = True,
    strict: bool = False,
) -> IncidentData:
    """Fetch incidents declared in ``[since, until)`` and everything attached to them.

    ``query`` is a Grafana ``queryString`` (e.g. ``"severity:critical label:security"``), ANDed with
    the drill filter and the date range. ``include`` chooses the per-incident parts to fetch.
    Failed per-incident calls (after the client's retries) are listed in ``data.errors`` and the rest
    is kept; ``strict=True`` raises the first failure instead.

    >>> data = ia.fetch(client, since="2026-01-01", include=("labels", "activity"))  # doctest: +SKIP
    >>> data.incidents.groupby("severity").size()  # doctest: +SKIP
    """
    selection = Selection.of(since, until, query, include_drills)
    parts = _check_include(include)
    workers = _check_concurrency(concurrency)
    bars = _Progress(progress)
    fetched_at = pd.Timestamp.now(tz="UTC")
    try:
        previews = _list(client, selection, bars)
        collected = _run_jobs(client, previews, parts, workers, bars, strict)
    finally:
        bars.close()
    data = build_data(previews, collected, parts, fetched_at, selection)
    logger.info(
        "fetched %d incidents (%d tasks, %d labels, %d activity items, %d errors)",
        len(data.incidents),
        len(data.tasks),
        len(data.labels),
        len(data.activity),
        len(data.errors),
    )
    return data
