"""``sync``: keep a Parquet store up to date by fetching again only what changed on the server.

How far back a sync looks
    To the *horizon*: the newest ``modified_time`` in the store, minus ``overlap`` (5 minutes by
    default, for writes that commit out of order around the previous run). If an incident's calls
    failed in the previous run, the horizon goes back to that incident's ``modified_time`` so it is
    fetched again. The server's ``modifiedTime`` is the clock, never the local one. Incidents are
    listed newest modification first, and the listing stops at the horizon.

Which rows it replaces
    Every incident modified after the horizon that still matches the selection is fetched again in
    full (``GetIncident``, labels, paged activity); all its rows in all five frames are replaced.
    An incident modified after the horizon that no longer matches (say it became a drill) leaves the
    store. An incident whose calls fail this time keeps its old rows (a failed call never erases what
    an earlier run fetched); it is listed in ``errors`` and fetched again next time.

Which rows it refreshes
    Incidents still open are listed again whether or not they changed, and their incident rows take
    the listed values; ``duration_seconds``, which the server computes from its clock for open
    incidents and only ``GetIncident`` returns, is refreshed with one ``GetIncident`` per open,
    unchanged incident (if that call fails, a warning is logged and the previous value kept). Their
    tasks, labels, assignments and activity rows are kept.

What it cannot see
    Deletions: the API has no tombstones, so an incident deleted on the server stays in the store.
    Changes that do not move ``modifiedTime`` on an incident that is not open are not seen either.
    A full ``fetch`` (``incident-analytics fetch --out``) drops and refreshes everything.

The selection (since, until, query, drills) is stored in ``meta.json``. A later sync reuses it;
arguments passed to ``sync`` override parts of it, and a different selection means a full refetch.
Each run's outcome is a ``SyncReport``, logged and attached to the result as ``data.sync_report``.
The store is written atomically (see ``store``) under an exclusive lock.
"""

from __future__ import annotations

import datetime as dt
import enum
import logging
import os
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Literal

import pandas as pd

from . import frames
from .allocation import fetch_allocation
from .client import IncidentClient
from .concurrency import FetchStats
from .fetch import (
    INCLUDE_ALL,
    SORT_KEYS,
    Progress,
    Selection,
    TimeLike,
    build_data,
    canonical,
    check_concurrency,
    check_max_concurrency,
    fetch,
    list_previews,
    prefer,
    run_jobs,
    wire_time,
)
from .store import FRAME_NAMES, IncidentData, read_store, store_lock, write_store

logger = logging.getLogger("incident_analytics")


class _Unset(enum.Enum):
    UNSET = "unset"


UNSET = _Unset.UNSET
"""Default of ``sync``'s selection arguments: take this part of the selection from the store."""

SyncKind = Literal["new store", "selection changed", "incremental"]


@dataclass(frozen=True)
class SyncReport:
    """What one ``sync`` did; ``str(report)`` is the one line the CLI prints and the log shows.

    Attributes:
        kind: ``"new store"`` (first run: a full fetch), ``"selection changed"`` (full refetch) or
            ``"incremental"``.
        changed: incidents fetched again in full (modified after the horizon, still selected).
        open_refreshed: open, unchanged incidents whose row was refreshed.
        left: incidents that changed and no longer match the selection, removed from the store.
        failed: incidents with a failed call in this run (old rows kept, retried next time).
        incidents: incidents in the store after the run.
        horizon: how far back the change listing looked (incremental runs), UTC.
    """

    kind: SyncKind
    incidents: int
    changed: int = 0
    open_refreshed: int = 0
    left: int = 0
    failed: int = 0
    horizon: pd.Timestamp | None = None

    def __str__(self) -> str:
        store = f"store of {self.incidents} incidents"
        if self.kind == "new store":
            return f"new store: full fetch, {store}"
        if self.kind == "selection changed":
            return f"selection changed: full refetch, {store}"
        parts = [f"{self.changed} changed", f"{self.open_refreshed} open refreshed"]
        if self.left:
            parts.append(f"{self.left} left the selection")
        if self.failed:
            parts.append(f"{self.failed} with errors (kept, retried next time)")
        return ", ".join([*parts, store])


def check_overlap(overlap: object) -> dt.timedelta:
    """``overlap`` as a timedelta of zero or more, or a clear error."""
    if not isinstance(overlap, dt.timedelta):
        raise TypeError(
            f"overlap must be a datetime.timedelta such as timedelta(minutes=5), got {type(overlap).__name__}"
        )
    if overlap < dt.timedelta(0):
        raise ValueError(f"overlap must be zero or more, got {overlap}")
    return overlap


@fetch_allocation()
def sync(
    client: IncidentClient,
    store_dir: str | os.PathLike[str],
    *,
    since: TimeLike | _Unset = UNSET,
    until: TimeLike | _Unset = UNSET,
    query: str | _Unset | None = UNSET,
    include_drills: bool | _Unset = UNSET,
    concurrency: int = 8,
    max_concurrency: int | None = None,
    progress: bool = True,
    overlap: dt.timedelta = dt.timedelta(minutes=5),
) -> IncidentData:
    """Bring the Parquet store in ``store_dir`` up to date, fetching only what changed.

    The first run is a full ``fetch``. Later runs fetch again the incidents modified since the
    previous run (minus ``overlap``) and refresh the open ones; see the module documentation for
    exactly what is replaced and what a sync cannot see (deletions). The selection arguments left
    out are taken from the store (so ``sync`` after ``fetch --since 2026-01-01 --out`` keeps that
    ``since``); passing a different selection fetches everything again. What the run did is in
    ``data.sync_report`` and logged; the calls adapt their concurrency as in ``fetch`` (from
    ``concurrency`` up to ``max_concurrency``), and ``data.fetch_stats`` tells what they did.

    >>> data = ia.sync(client, "incidents-store/", since="2026-01-01")  # doctest: +SKIP
    >>> data = ia.sync(client, "incidents-store/")  # doctest: +SKIP  (same selection, changes only)
    >>> print(data.sync_report)  # doctest: +SKIP
    12 changed, 9 open refreshed, store of 275 incidents
    """
    given = {
        name: value
        for name, value in (("since", since), ("until", until), ("query", query), ("include_drills", include_drills))
        if value is not UNSET
    }
    selection_from({}, given)  # bad arguments fail before the store or the server is touched
    workers = check_concurrency(concurrency)
    ceiling = check_max_concurrency(max_concurrency, workers)
    lap = check_overlap(overlap)
    with store_lock(store_dir):
        stored = read_store(store_dir)
        selection = selection_from(stored.selection if stored is not None else {}, given)
        data = _sync_locked(client, stored, selection, (workers, ceiling), progress, lap)
        write_store(data, store_dir)
    logger.info("sync of %s: %s", store_dir, data.sync_report)
    return data


def selection_from(stored: dict[str, Any], given: dict[str, Any]) -> Selection:
    """The stored selection with the caller's arguments laid over it."""
    base: dict[str, Any] = {"since": None, "until": None, "query": None, "include_drills": False}
    base.update({k: v for k, v in stored.items() if k in base})
    base.update(given)
    return Selection.of(base["since"], base["until"], base["query"], base["include_drills"])


def _sync_locked(
    client: IncidentClient,
    stored: IncidentData | None,
    selection: Selection,
    concurrency: tuple[int, int],
    progress: bool,
    overlap: dt.timedelta,
) -> IncidentData:
    workers, ceiling = concurrency
    if stored is None or stored.selection != selection.to_meta():
        kind: SyncKind = "new store" if stored is None else "selection changed"
        data = fetch(
            client,
            since=selection.since,
            until=selection.until,
            query=selection.query,
            include_drills=selection.include_drills,
            concurrency=workers,
            max_concurrency=ceiling,
            progress=progress,
        )
        data.sync_report = SyncReport(kind, incidents=len(data.incidents), failed=len(data.incomplete))
        return data

    bars = Progress(progress)
    fetched_at = pd.Timestamp.now(tz="UTC")
    horizon = _horizon(stored, overlap)
    stored_ids = set(stored.incidents["incident_id"].astype(str))
    stats = FetchStats(concurrency=workers, max_concurrency=ceiling)
    remove = stats.listen(client)
    try:

        def older(record: dict[str, Any]) -> bool:
            stamp = wire_time(record.get("modifiedTime"))
            return horizon is not None and stamp is not None and stamp < horizon

        # Everything modified since the horizon, whatever the selection: an incident that changed and
        # no longer matches (say it became a drill) must leave the store. The listings run side by side.
        with ThreadPoolExecutor(max_workers=3, thread_name_prefix="incident-sync") as pool:
            changed_job = pool.submit(
                list_previews,
                client,
                Selection(include_drills=True),
                bars,
                query="",
                order_field="modifiedTime",
                stop=older,
                phase="changed",
            )
            # Without a query string of the caller's, the selection (drills, dates) is checked here.
            matching_job = (
                pool.submit(
                    list_previews, client, selection, bars, order_field="modifiedTime", stop=older, phase="matching"
                )
                if selection.query
                else None
            )
            open_job = pool.submit(
                list_previews,
                client,
                selection,
                bars,
                query=f"{selection.query_string()} status:active".strip(),
                phase="open",
            )
            changed = changed_job.result()
            matching = matching_job.result() if matching_job else [r for r in changed if selection.admits(r)]
            open_now = open_job.result()
        logger.info(
            "sync: %d incidents modified since %s (%d selected), %d open",
            len(changed),
            horizon,
            len(matching),
            len(open_now),
        )
        stats.mark("listing")
        collected = run_jobs(
            client, matching, frozenset(INCLUDE_ALL), workers, bars, False, max_concurrency=ceiling, stats=stats
        )
        matched = {str(p["incidentID"]) for p in matching}
        # Open incidents that did not change: their listing refreshes the row, and GetIncident the
        # clock-dependent duration_seconds (previews do not carry it).
        unchanged_open = [
            p for p in open_now if str(p["incidentID"]) not in matched and str(p["incidentID"]) in stored_ids
        ]
        refreshed = run_jobs(
            client,
            unchanged_open,
            frozenset({"tasks"}),
            workers,
            bars,
            False,
            max_concurrency=ceiling,
            stats=stats,
            keep_records=True,
        )
        logger.info("sync: %d open, unchanged incidents read again for their duration", len(unchanged_open))
    finally:
        remove()
        bars.close()

    framing = time.monotonic()
    fresh = build_data(matching, collected, frozenset(INCLUDE_ALL), fetched_at, selection)
    failed = collected.failed_ids()
    changed_any = {str(r["incidentID"]) for r in changed}
    # Fresh rows replace stored ones, except where a call failed and older rows exist: a failed call
    # must not erase what an earlier run fetched. Those keep their rows, refreshed from the listing.
    replaced = (matched - failed) | ((matched & failed) - stored_ids)
    relisted = {str(p["incidentID"]): p for p in [*open_now, *matching]}
    listed = [p for iid, p in relisted.items() if iid not in replaced and iid in stored_ids]
    if refreshed.errors:
        # Not an incomplete incident (its rows are all there, its duration is one run old), so no row in
        # errors: that would send the next horizon back to its modification, months ago for a long one.
        logger.warning(
            "sync: the duration of %d open incidents could not be refreshed (%s); it is kept from the last run",
            len(refreshed.errors),
            ", ".join(sorted(str(e["incident_id"]) for e in refreshed.errors)),
        )
    data = _upsert(stored, fresh, replaced, changed_any - matched, _listed_rows(listed, refreshed.full))
    data.fetched_at = fetched_at
    stats.mark("frames", since=framing)
    stats.mark("total")
    data.fetch_stats = stats
    data.sync_report = SyncReport(
        "incremental",
        incidents=len(data.incidents),
        changed=len(matched),
        open_refreshed=len(refreshed.full),
        left=len((changed_any - matched) & stored_ids),
        failed=len(data.incomplete),
        horizon=horizon,
    )
    return data


def _listed_rows(listed: list[dict[str, Any]], full: Mapping[str, dict[str, Any]]) -> pd.DataFrame | None:
    """Incident rows of re-listed incidents, each listed record updated with its ``GetIncident``
    record where one was fetched (that is where ``duration_seconds`` comes from)."""
    if not listed:
        return None
    return frames.incidents_frame([{**p, **full.get(str(p["incidentID"]), {})} for p in listed])


def _horizon(stored: IncidentData, overlap: dt.timedelta) -> pd.Timestamp | None:
    """How far back the change listing must go: the newest stored modification, or the oldest
    modification of an incident whose calls failed last time (so it is fetched again), minus overlap.

    The server's own ``modifiedTime`` is the clock here, never the local one.
    """
    modified = stored.incidents.set_index("incident_id")["modified_time"]
    candidates = [modified.max()]
    failed = stored.errors["incident_id"].dropna().astype(str)
    if len(failed):
        candidates.append(modified.reindex(failed.unique()).min())
    valid = [c for c in candidates if not pd.isna(c)]
    return min(valid) - pd.Timedelta(overlap) if valid else None


def _upsert(
    stored: IncidentData,
    fresh: IncidentData,
    replaced: set[str],
    gone: set[str],
    listed: pd.DataFrame | None,
) -> IncidentData:
    """The stored frames with ``replaced`` incidents swapped for fresh rows, ``gone`` ones dropped, and
    the ``listed`` incident rows laid over the stored ones."""
    merged: dict[str, pd.DataFrame] = {}
    for name in FRAME_NAMES:
        old: pd.DataFrame = getattr(stored, name)
        new: pd.DataFrame = getattr(fresh, name)
        keep = old[~old["incident_id"].astype(str).isin(replaced | gone)]
        add = new[new["incident_id"].astype(str).isin(replaced)]
        parts = [frame for frame in (keep, add) if not frame.empty]
        combined = pd.concat(parts, ignore_index=True) if parts else frames.empty_frame(name)
        merged[name] = canonical(combined.astype(frames.SCHEMAS[name]), SORT_KEYS[name])
    if listed is not None:
        # Listed values win where the listing has them; columns only GetIncident fills keep stored values.
        merged["incidents"] = prefer(listed, merged["incidents"])
    return IncidentData(**merged, errors=fresh.errors, fetched_at=fresh.fetched_at, selection=stored.selection)
