"""Lifecycle of each incident, read from its activity timeline (and the item-time rule workload shares)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ._common import TimeLike, require_columns, resolve_as_of, without_drills

__all__ = ["LIFECYCLE_RULES", "WORK_KINDS", "LifecycleResult", "item_times", "lifecycle", "severity_rank"]

WORK_KINDS = frozenset(
    {
        "userNote",
        "roleAssigned",
        "roleUnassigned",
        "taskAdded",
        "taskUpdated",
        "taskCompleted",
        "incidentStatusChanged",
        "incidentSeverityChanged",
        "labelAdded",
        "labelRemoved",
    }
)
"""Activity kinds that show a person working: notes, roles, tasks, status, severity, labels."""

_CHANGE = re.compile(r"from\s+(?P<old>.+?)\s+to\s+(?P<new>.+?)\s*\.?\s*$", re.IGNORECASE)
_ASSIGNED = re.compile(r"assigned\s+(?:as|to)\s+(?:the\s+)?(?:role\s+)?(?P<role>.+?)\s*\.?\s*$", re.IGNORECASE)
_DEFAULT_ORDER = ("pending", "minor", "major", "critical")
_UNASSESSED = frozenset({"pending", "unknown", ""})
_SEV_NUMBER = re.compile(r"^(?:sev|s|p)[\s-]?(\d)$", re.IGNORECASE)
_STRING = pd.StringDtype("pyarrow")
ACTIVITY_COLUMNS = ("incident_id", "activity_kind", "user_id", "subject_user_id", "body")


def severity_rank(name: object, order: Sequence[str] | None = None) -> float:
    """Rank of a severity name, higher = more severe; NaN when unknown.

    With ``order`` (least to most severe), the position in it. Otherwise Pending < Minor < Major <
    Critical (Grafana's defaults), and "SEV1"/"S1"/"P1"-style names where 1 is the most severe.

    >>> severity_rank("Critical") > severity_rank("Minor"), severity_rank("SEV1") > severity_rank("SEV3")
    (True, True)
    """
    if name is None or (isinstance(name, float) and np.isnan(name)) or name is pd.NA:
        return float("nan")
    text = str(name).strip().lower()
    if order is not None:
        lowered = [str(o).strip().lower() for o in order]
        return float(lowered.index(text)) if text in lowered else float("nan")
    if text in _DEFAULT_ORDER:
        return float(_DEFAULT_ORDER.index(text))
    number = _SEV_NUMBER.match(text)
    return 10.0 - float(number.group(1)) if number else float("nan")


def item_times(activity: pd.DataFrame, function: str) -> pd.Series:
    """When each item was made: ``created_time``, else ``event_time`` (a frame may carry only one)."""
    if "created_time" not in activity.columns and "event_time" not in activity.columns:
        require_columns(activity, ("created_time",), frame_name="activity", function=function)
    created = activity["created_time"] if "created_time" in activity.columns else None
    event = activity["event_time"] if "event_time" in activity.columns else None
    chosen = created if event is None else event if created is None else created.where(created.notna(), event)
    assert chosen is not None
    return pd.to_datetime(chosen, utc=True).astype("datetime64[ns, UTC]")


def _change(body: object) -> tuple[str | None, str | None]:
    match = _CHANGE.search(str(body)) if isinstance(body, str) else None
    return (match["old"].strip(), match["new"].strip()) if match else (None, None)


@dataclass(frozen=True)
class LifecycleResult:
    """What `lifecycle` returns. Indexing the result (``result["notes"]``) and frame attributes
    (``result.columns``, ``result.loc``) reach ``per_incident``.

    Attributes:
        per_incident: one row per incident: ``incident_id, declarer, time_to_first_response,
            first_responder, time_to_commander, commander, severity_changes, escalated, reopened,
            notes, tasks_done_at_close, tasks_total``.
        time_in_severity: long frame ``incident_id, severity, duration``.
        as_of: when still-open incidents were measured; ``rules``: the rules, for a report.
    """

    per_incident: pd.DataFrame
    time_in_severity: pd.DataFrame
    as_of: pd.Timestamp
    rules: str

    def __getitem__(self, key: Any) -> Any:
        return self.per_incident[key]

    def __len__(self) -> int:
        return len(self.per_incident)

    def __getattr__(self, name: str) -> Any:
        # Frame attributes (columns, loc, set_index, ...) reach per_incident; private names do not.
        if name.startswith("_") or name in {"per_incident", "time_in_severity", "as_of", "rules"}:
            raise AttributeError(name)
        return getattr(self.per_incident, name)


LIFECYCLE_RULES = """\
- Items are ordered by created_time (when they were made; event_time, which users can edit, only \
stands in where created_time is missing).
- Declarer: the incident's created_by_user_id, else the user of its incidentCreated item.
- time_to_first_response: from created_time to the first item made by a person other than the \
declarer, of a kind that shows work (userNote, roleAssigned/Unassigned, taskAdded/Updated/Completed, \
incidentStatusChanged, incidentSeverityChanged, labelAdded/Removed); NaT if there is none.
- time_to_commander: from created_time to the first roleAssigned item whose body names the commander \
role ("<name> assigned as commander"); with assignments, also one whose body names no role but whose \
subject holds the commander role. commander: that item's subject, else the current commander.
- severity_changes: incidentSeverityChanged items ("Severity changed from X to Y"). escalated: at \
least one change to a more severe level (Pending < Minor < Major < Critical; SEV1 above SEV2); rating \
an unassessed (Pending) incident is not an escalation.
- reopened: incidentStatusChanged items from resolved to another status.
- notes: userNote items.
- tasks_total / tasks_done_at_close: with tasks, tasks created by the close and those done by it \
(status done, last modified by the close); without, the incident's task counts as fetched.
- time_in_severity: from created_time to close (closed_time, else as_of) in each severity: the first \
change's "from" level (or the current severity when none) until the first change, and so on."""


def lifecycle(
    activity: pd.DataFrame,
    incidents: pd.DataFrame,
    *,
    assignments: pd.DataFrame | None = None,
    tasks: pd.DataFrame | None = None,
    as_of: TimeLike = None,
    include_drills: bool = False,
    severity_order: Sequence[str] | None = None,
) -> LifecycleResult:
    """Per incident, from its activity timeline: response, command, severity history, reopens, notes, tasks.

    Rules:

    - Items are ordered by ``created_time`` (when they were made; ``event_time``, which users can edit,
      only stands in where ``created_time`` is missing).
    - Declarer: the incident's ``created_by_user_id``, else the user of its ``incidentCreated`` item.
    - ``time_to_first_response``: from ``created_time`` to the first item made by a person other than
      the declarer, of a kind in `WORK_KINDS` (note, role, task, status, severity, label); NaT if none.
      ``first_responder`` is that person.
    - ``time_to_commander``: from ``created_time`` to the first ``roleAssigned`` item whose body names
      the commander role ("Ann assigned as commander"); with ``assignments``, also one whose body names
      no role but whose subject holds a role called commander. ``commander``: that item's subject,
      else the current commander from ``assignments``.
    - ``severity_changes``: ``incidentSeverityChanged`` items; their body says "Severity changed from X
      to Y". ``escalated``: at least one change to a more severe level (`severity_rank`, or
      ``severity_order`` least to most severe); rating an unassessed (Pending) incident is not one.
    - ``reopened``: ``incidentStatusChanged`` items whose body goes from "resolved" to another status.
    - ``notes``: ``userNote`` items.
    - ``tasks_total`` / ``tasks_done_at_close``: with ``tasks``, the tasks created by the close and those
      whose status is done and last modified by the close (open incidents: now); without, the incident's
      ``task_todo_count + task_done_count`` and ``task_done_count`` as fetched.
    - ``time_in_severity`` (long frame ``incident_id, severity, duration``): from ``created_time`` to
      the close (``closed_time``, else ``as_of``), time spent at each level: the first change's "from"
      level (or the current severity without changes) until that change, and so on.

    Drills are excluded unless ``include_drills=True``; activity of other incidents is ignored.

    >>> life = lifecycle(data.activity, data.incidents, assignments=data.assignments)  # doctest: +SKIP
    >>> life["time_to_first_response"].median(), life.time_in_severity.head()  # doctest: +SKIP
    """
    require_columns(activity, ACTIVITY_COLUMNS, frame_name="activity", function="lifecycle")
    require_columns(
        incidents,
        ["incident_id", "created_time", "closed_time", "severity"] + ([] if include_drills else ["is_drill"]),
        frame_name="incidents",
        function="lifecycle",
    )
    stamp = resolve_as_of(as_of)
    kept = without_drills(incidents, include_drills).drop_duplicates("incident_id").reset_index(drop=True)
    ids = kept["incident_id"].astype(object)
    index = pd.Index(ids)
    created = pd.to_datetime(kept["created_time"], utc=True)
    closed = pd.to_datetime(kept["closed_time"], utc=True)
    items = activity.loc[:, list(ACTIVITY_COLUMNS)].copy()
    items["created_time"] = item_times(activity, "lifecycle")
    items["row"] = index.get_indexer(items["incident_id"].astype(object))
    items = items[items["row"] >= 0]
    items = items.sort_values(["row", "created_time"], kind="stable")
    kind = items["activity_kind"].astype(object).to_numpy()
    user = items["user_id"].astype(object).where(items["user_id"].notna(), None).to_numpy()
    rows = items["row"].to_numpy()
    n = len(kept)

    declared_by = kept["created_by_user_id"].astype(object) if "created_by_user_id" in kept else pd.Series([None] * n)
    declarer = declared_by.where(declared_by.notna(), None).to_numpy(dtype=object)
    creations = items[kind == "incidentCreated"].drop_duplicates("row")
    for row, who in zip(creations["row"], creations["user_id"].astype(object), strict=True):
        if declarer[row] is None and isinstance(who, str):
            declarer[row] = who

    def first_per_row(mask: np.ndarray) -> pd.DataFrame:
        return items[mask].drop_duplicates("row").set_index("row")

    is_work = np.isin(kind, list(WORK_KINDS)) & np.array([u is not None for u in user], dtype=bool)
    is_work &= user != declarer[rows] if len(rows) else is_work
    responses = first_per_row(is_work)
    first_response = pd.Series(pd.NaT, index=range(n), dtype="datetime64[ns, UTC]")
    first_response.loc[responses.index] = responses["created_time"].to_numpy()
    responder = pd.Series(pd.NA, index=range(n), dtype=_STRING)
    responder.loc[responses.index] = responses["user_id"].astype(object).to_numpy()

    # Commander: the role named in the body, else (with assignments) the subject's current role.
    bodies = items["body"].astype(object).to_numpy()
    roles = (
        np.array(
            [(m["role"].lower() if (m := _ASSIGNED.search(b)) else "") if isinstance(b, str) else "" for b in bodies],
            dtype=object,
        )
        if len(bodies)
        else np.array([], dtype=object)
    )
    role_assigned = kind == "roleAssigned"
    names_commander = np.array(["commander" in r for r in roles], dtype=bool) if len(roles) else role_assigned
    current = pd.Series([None] * n, dtype=object)
    if assignments is not None:
        require_columns(assignments, ("incident_id", "role", "user_id"), frame_name="assignments", function="lifecycle")
        holders = assignments[assignments["role"].astype(object).str.lower().str.contains("commander", na=False)]
        holder_rows = index.get_indexer(holders["incident_id"].astype(object))
        pairs = {(r, u) for r, u in zip(holder_rows, holders["user_id"].astype(object), strict=True) if r >= 0}
        for r, u in sorted(pairs, key=lambda p: (p[0], str(p[1]))):
            if current[r] is None:
                current[r] = u
        subjects = items["subject_user_id"].astype(object).to_numpy()
        unnamed = np.array([r == "" for r in roles], dtype=bool) if len(roles) else role_assigned
        by_subject = np.array([(r, s) in pairs for r, s in zip(rows, subjects, strict=True)], dtype=bool)
        names_commander = names_commander | (unnamed & by_subject)
    commands = first_per_row(role_assigned & names_commander)
    commander_at = pd.Series(pd.NaT, index=range(n), dtype="datetime64[ns, UTC]")
    commander_at.loc[commands.index] = commands["created_time"].to_numpy()
    commander = current.copy()
    commander.loc[commands.index] = commands["subject_user_id"].astype(object).to_numpy()

    # Severity and status changes from their bodies.
    sev_items = items[kind == "incidentSeverityChanged"]
    sev_changes = [_change(b) for b in sev_items["body"].astype(object)]
    severity_changes = np.bincount(sev_items["row"].to_numpy(), minlength=n) if n else np.zeros(0, dtype=int)
    escalated = np.zeros(n, dtype=bool)
    for row, (old, new) in zip(sev_items["row"], sev_changes, strict=True):
        if old is None or old.strip().lower() in _UNASSESSED:
            continue
        if severity_rank(new, severity_order) > severity_rank(old, severity_order):
            escalated[row] = True
    status_items = items[kind == "incidentStatusChanged"]
    reopen = [
        (old or "").lower() == "resolved" and (new or "").lower() != "resolved"
        for old, new in (_change(b) for b in status_items["body"].astype(object))
    ]
    reopened = np.bincount(status_items["row"].to_numpy()[np.array(reopen, dtype=bool)], minlength=n)
    notes = np.bincount(rows[kind == "userNote"].astype(np.int64), minlength=n)

    close = closed.where(closed.notna(), stamp)
    done, total = _task_counts(kept, tasks, index, close)
    per_incident = pd.DataFrame(
        {
            "incident_id": kept["incident_id"].astype(_STRING),
            "declarer": pd.Series(declarer, dtype=object).astype(_STRING),
            "time_to_first_response": first_response - created,
            "first_responder": responder,
            "time_to_commander": commander_at - created,
            "commander": pd.array(commander.to_numpy(dtype=object), dtype=_STRING),
            "severity_changes": np.asarray(severity_changes, dtype=np.int64),
            "escalated": escalated,
            "reopened": np.asarray(reopened, dtype=np.int64),
            "notes": np.asarray(notes, dtype=np.int64),
            "tasks_done_at_close": done,
            "tasks_total": total,
        }
    )
    spans = _time_in_severity(kept, created, close, sev_items, sev_changes)
    return LifecycleResult(per_incident, spans, stamp, LIFECYCLE_RULES)


def _task_counts(
    kept: pd.DataFrame, tasks: pd.DataFrame | None, index: pd.Index, close: pd.Series
) -> tuple[pd.Series, pd.Series]:
    n = len(kept)
    if tasks is None:
        if {"task_done_count", "task_todo_count"} <= set(kept.columns):
            done_count = kept["task_done_count"].astype("Int64").reset_index(drop=True)
            return done_count, done_count + kept["task_todo_count"].astype("Int64").reset_index(drop=True)
        missing = pd.Series(pd.NA, index=range(n), dtype="Int64")
        return missing, missing.copy()
    require_columns(
        tasks, ("incident_id", "status", "created_time", "modified_time"), frame_name="tasks", function="lifecycle"
    )
    rows = index.get_indexer(pd.Index(tasks["incident_id"].astype(object)))
    ok = rows >= 0
    limit = close.to_numpy()[rows[ok]]
    created = pd.to_datetime(tasks["created_time"], utc=True).to_numpy()[ok]
    modified = pd.to_datetime(tasks["modified_time"], utc=True).to_numpy()[ok]
    is_done = tasks["status"].astype(object).to_numpy()[ok] == "done"
    existed = ~(created > limit)  # unknown creation time counts as existing
    done_by_close = is_done & ~(modified > limit) & existed
    total = np.bincount(rows[ok][existed], minlength=n)
    done = np.bincount(rows[ok][done_by_close], minlength=n)
    return pd.Series(done, dtype="Int64"), pd.Series(total, dtype="Int64")


def _time_in_severity(
    kept: pd.DataFrame,
    created: pd.Series,
    close: pd.Series,
    sev_items: pd.DataFrame,
    changes: list[tuple[str | None, str | None]],
) -> pd.DataFrame:
    by_row: dict[int, list[tuple[pd.Timestamp, str | None, str | None]]] = {}
    for row, when, (old, new) in zip(sev_items["row"], sev_items["created_time"], changes, strict=True):
        by_row.setdefault(int(row), []).append((when, old, new))
    ids, levels, spans = [], [], []
    severity = kept["severity"].astype(object).to_numpy()
    start_times, end_times = list(created), list(close)
    incident_ids = kept["incident_id"].astype(object).to_numpy()
    for row in range(len(kept)):
        begin, finish = start_times[row], end_times[row]
        if pd.isna(begin) or pd.isna(finish):
            continue
        steps = by_row.get(row, [])
        level = steps[0][1] if steps and steps[0][1] is not None else severity[row]
        cursor = begin
        for when, _old, new in steps:
            moment = min(max(when, cursor), finish)
            ids.append(incident_ids[row])
            levels.append(level)
            spans.append(moment - cursor)
            cursor, level = moment, (new if new is not None else level)
        ids.append(incident_ids[row])
        levels.append(level)
        spans.append(max(finish - cursor, pd.Timedelta(0)))
    frame = pd.DataFrame(
        {
            "incident_id": pd.array(ids, dtype=_STRING),
            "severity": pd.array([None if pd.isna(v) else str(v) for v in levels], dtype=_STRING),
            "duration": pd.to_timedelta(pd.Series(spans, dtype="timedelta64[ns]")).to_numpy(),
        }
    )
    return frame.groupby(["incident_id", "severity"], sort=False, dropna=False, as_index=False).agg(
        duration=("duration", "sum")
    )
