"""Postmortem drafts and period reviews, as Markdown or as one self-contained HTML file.

```python
import incident_analytics as ia
from incident_analytics import report

with ia.IncidentClient() as client:
    report.write_postmortem(client, "42", "incident-42.html")   # fetches just incident 42
data = ia.IncidentData.read_parquet("store")
report.write_review(data, "q3.html", since="2026-07-01", until="2026-10-01")
```

A postmortem fills everything the API knows (header, key times, people and roles, the timeline and
its chart, tasks) and leaves the human parts as clearly marked blanks, each with a one-line prompt. A
review covers a period: counts and trend, time to resolve by severity with confidence intervals and
the Kaplan-Meier chart, the comparison with the previous period of equal length, labels, lifecycle,
workload, open and longest incidents, and a methods section stating every definition and anchor.

Templates are Jinja2 files in ``incident_analytics/templates/``; text from the API is escaped in both
formats; charts are embedded PNGs, so an HTML report opens offline and prints cleanly.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pandas as pd

from . import frames
from ._render import (
    Chart,
    Section,
    Table,
    chart,
    check_format,
    count,
    duration,
    format_for,
    missing,
    render,
    text,
    when,
)
from ._version import __version__
from .client import IncidentClient
from .fetch import fetch, to_utc
from .store import FRAME_NAMES, IncidentData

logger = logging.getLogger("incident_analytics")

__all__ = [
    "POSTMORTEM_SECTIONS",
    "REVIEW_SECTIONS",
    "load_incident",
    "postmortem",
    "postmortem_file",
    "review",
    "review_file",
    "write_postmortem",
    "write_review",
]

TZ = "UTC"

#: The postmortem's sections in order (id, heading); the blank ones carry a one-line prompt.
POSTMORTEM_SECTIONS: tuple[Section, ...] = (
    Section("key-times", "Key times"),
    Section("people-and-roles", "People and roles"),
    Section("timeline", "Timeline"),
    Section("timeline-chart", "Timeline chart"),
    Section("tasks", "Tasks"),
    Section("impact", "Impact", "Who and what was affected, how badly and for how long (users, requests, SLOs)?"),
    Section(
        "contributing-factors",
        "Contributing factors",
        "Which conditions made this possible or worse? Name several; there is rarely a single root cause.",
    ),
    Section("what-went-well", "What went well", "What helped detection, response or recovery and should be kept?"),
    Section("what-went-badly", "What went badly", "Where did the response lose time or make things worse?"),
    Section("where-we-got-lucky", "Where we got lucky", "What limited the damage by chance rather than by design?"),
    Section(
        "action-items",
        "Action items",
        "Concrete follow-ups, each with an owner and a due date; start from the open tasks above.",
    ),
)

#: The review's sections in order (id, heading).
REVIEW_SECTIONS: tuple[Section, ...] = (
    Section("at-a-glance", "At a glance"),
    Section("incidents-over-time", "Incidents over time"),
    Section("time-to-resolve", "Time to resolve"),
    Section("previous-period", "Compared with the previous period"),
    Section("labels", "Labels"),
    Section("lifecycle", "Lifecycle"),
    Section("workload", "Workload"),
    Section("open-incidents", "Open incidents"),
    Section("longest-incidents", "Longest incidents"),
    Section("methods", "Methods"),
)

# Timeline items shown on their own line; other automatic items are folded into one line per run.
_MILESTONES = frozenset(
    {
        "incidentCreated",
        "incidentClosed",
        "incidentStatusChanged",
        "incidentSeverityChanged",
        "incidentStart",
        "incidentEnd",
    }
)
_NOTE = "userNote"


# --------------------------------------------------------------------------------------------------
# Data for one incident.


def select_incidents(data: IncidentData, ids: set[str]) -> IncidentData:
    """``data`` restricted to the incidents in ``ids`` (every frame, and the errors)."""
    kept = {name: getattr(data, name) for name in FRAME_NAMES}
    kept = {name: f[f["incident_id"].astype(str).isin(ids)].reset_index(drop=True) for name, f in kept.items()}
    errors = data.errors[data.errors["incident_id"].astype(str).isin(ids)].reset_index(drop=True)
    return IncidentData(**kept, errors=errors, fetched_at=data.fetched_at, selection=data.selection)


def load_incident(source: IncidentClient | IncidentData, incident_id: object) -> IncidentData:
    """One incident and everything attached to it, as ``IncidentData``.

    From an ``IncidentClient`` this fetches just that incident (``GetIncident``: its labels, tasks and
    role assignments) and its full timeline (``QueryActivity``, every page). From an ``IncidentData``
    it selects the incident's rows, and raises ``ValueError`` naming the ID when it is not there.

    >>> one = load_incident(client, "42")   # doctest: +SKIP
    >>> one.activity["activity_kind"].value_counts()   # doctest: +SKIP
    """
    if isinstance(incident_id, bool) or not isinstance(incident_id, str | int) or not str(incident_id).strip():
        raise ValueError(f"incident_id must be an incident's ID such as '42', got {incident_id!r}")
    iid = str(incident_id).strip()
    if isinstance(source, IncidentData):
        one = select_incidents(source, {iid})
        if one.incidents.empty:
            known = len(source.incidents)
            raise ValueError(f"incident {iid!r} is not in the data ({known} incidents; drills are left out by fetch)")
        return one
    if not isinstance(source, IncidentClient):
        raise TypeError(f"source must be an IncidentClient or an IncidentData, got {type(source).__name__}")
    fetched_at = pd.Timestamp.now(tz="UTC")
    record = source.incidents.get(iid)
    items = list(source.activity.query(iid))
    return IncidentData(
        incidents=frames.incidents_frame([record]),
        tasks=frames.tasks_frame([record]),
        labels=frames.labels_frame([record]),
        assignments=frames.assignments_frame([record]),
        activity=frames.activity_frame(items),
        fetched_at=fetched_at,
        selection={"incident_id": iid},
    )


def _stack_url(source: IncidentClient | IncidentData) -> str | None:
    """The stack's root URL (the client's, else ``GRAFANA_URL``), to turn an incident's path into a link."""
    base = source.base_url if isinstance(source, IncidentClient) else os.environ.get("GRAFANA_URL")
    if not base:
        return None
    parts = urlsplit(base)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return None
    path = parts.path.split("/api/plugins/")[0].rstrip("/")
    return f"{parts.scheme}://{parts.netloc}{path}"


def _link(stack: str | None, path: object) -> str | None:
    """An absolute http(s) link to the incident, or None; never anything that is not a web address."""
    if not isinstance(path, str) or not path:
        return None
    parts = urlsplit(path)
    if parts.scheme in ("http", "https") and parts.netloc:
        return path
    if parts.scheme or parts.netloc or not path.startswith("/") or stack is None:
        return None
    return stack + path


# --------------------------------------------------------------------------------------------------
# The postmortem.


def _as_of(value: object, fallback: pd.Timestamp | None) -> pd.Timestamp:
    stamp = to_utc("as_of", value)  # type: ignore[arg-type]
    if stamp is not None:
        return stamp
    return fallback if fallback is not None else pd.Timestamp.now(tz="UTC")


def _header(row: pd.Series, labels: pd.DataFrame, stack: str | None) -> dict[str, Any]:
    pairs = [str(v) if k == "tags" else f"{k}: {v}" for k, v in zip(labels["key"], labels["value"], strict=True)]
    return {
        "id": str(row["incident_id"]),
        "title": text(row["title"]) if not missing(row["title"]) and str(row["title"]).strip() else "(untitled)",
        "link": _link(stack, row["overview_url"]),
        "path": None if missing(row["overview_url"]) else str(row["overview_url"]),
        "severity": text(row["severity"]),
        "status": text(row["status"]),
        "drill": "yes, this incident is a drill" if _true(row["is_drill"]) else "no",
        "labels": pairs,
        "declared_by": text(row["created_by_name"]),
        "declared_at": f"{when(row['created_time'])} {TZ}",
        "summary": "" if missing(row["summary"]) else str(row["summary"]).strip(),
        "description": "" if missing(row["description"]) else str(row["description"]).strip(),
    }


def _names(one: IncidentData) -> dict[str, str]:
    """User ID → display name, from everything that names people (timeline, roles, tasks)."""
    pairs = [
        (one.activity, "user_id", "user_name"),
        (one.activity, "subject_user_id", "subject_user_name"),
        (one.assignments, "user_id", "user_name"),
        (one.tasks, "assigned_user_id", "assigned_name"),
        (one.incidents, "created_by_user_id", "created_by_name"),
    ]
    names: dict[str, str] = {}
    for frame, ids, labels in pairs:
        for uid, name in zip(frame[ids], frame[labels], strict=True):
            if isinstance(uid, str) and uid and isinstance(name, str) and name:
                names.setdefault(uid, name)
    return names


def _key_times(one: IncidentData, as_of: pd.Timestamp) -> tuple[Table, str]:
    from . import metrics

    incident = one.incidents.iloc[0]
    ttr = metrics.time_to_resolve(one.incidents, as_of=as_of, include_drills=True).iloc[0]
    life = metrics.lifecycle(
        one.activity, one.incidents, assignments=one.assignments, tasks=one.tasks, as_of=as_of, include_drills=True
    ).per_incident
    resolved = bool(ttr["resolved"])
    rows = [
        ["Declared", when(incident["created_time"]), "created_time"],
        ["Impact started", when(incident["incident_start"]), "incident_start (set by the responders)"],
        ["Impact ended", when(incident["incident_end"]), "incident_end (set by the responders)"],
        ["Resolved", when(incident["closed_time"]), "closed_time"],
        [
            "Time to resolve" if resolved else "Open for (so far)",
            duration(ttr["duration"]),
            f"{ttr['start_anchor']} → {ttr['end_anchor'] if resolved else 'as of ' + when(as_of)}",
        ],
        [
            "Declared → resolved",
            duration(incident["closed_time"] - incident["created_time"]),
            "created_time → closed_time",
        ],
        [
            "Impact → declared (detection)",
            duration(incident["created_time"] - incident["incident_start"]),
            "incident_start → created_time",
        ],
    ]
    if len(life):
        first = life.iloc[0]
        names = _names(one)
        responder = "" if missing(first["first_responder"]) else f" ({names.get(first['first_responder'], '?')})"
        commander = "" if missing(first["commander"]) else f" ({names.get(first['commander'], '?')})"
        rows.append(
            [
                "Time to first response",
                duration(first["time_to_first_response"]) + responder,
                "created_time → first work item by someone other than the declarer",
            ]
        )
        rows.append(
            [
                "Time to commander",
                duration(first["time_to_commander"]) + commander,
                "created_time → commander role assigned",
            ]
        )
    table = Table(["Event", f"Time ({TZ}) or duration", "Anchor"], rows)
    flags = [name for name in ("negative", "zero", "end_without_start") if name in ttr and bool(ttr[name])]
    note = (
        "Time to resolve runs from the start of impact (incident_start, else created_time) to its end "
        "(incident_end, else closed_time)."
    )
    if flags:
        note += f" Data-quality flags on this incident: {', '.join(flags)}."
    return table, note


def _people(one: IncidentData) -> tuple[Table, Table]:
    roles = one.assignments.sort_values(["important", "role"], ascending=[False, True], kind="stable")
    people = Table(
        ["Role", "Person"],
        [[text(r), text(u)] for r, u in zip(roles["role"], roles["user_name"], strict=True)],
        empty="No roles were assigned.",
    )
    activity = one.activity.dropna(subset=["user_name"])
    activity = activity[activity["user_name"].astype(str) != ""]
    by_person = activity.groupby("user_name", observed=True).agg(
        items=("activity_item_id", "size"),
        notes=("activity_kind", lambda kinds: int((kinds == _NOTE).sum())),
        first=("event_time", "min"),
        last=("event_time", "max"),
    )
    by_person = by_person.sort_values(["items", "first"], ascending=[False, True])
    participants = Table(
        ["Participant", "Timeline items", "Notes", f"First ({TZ})", f"Last ({TZ})"],
        [
            [str(name), count(r["items"]), count(r["notes"]), when(r["first"]), when(r["last"])]
            for name, r in by_person.iterrows()
        ],
        numeric=frozenset({1, 2}),
        caption="Everyone who appears in the timeline.",
        empty="Nobody appears in the timeline.",
    )
    return people, participants


def _true(value: object) -> bool:
    """A nullable boolean cell as a plain bool (missing is False)."""
    return not missing(value) and bool(value)


def _kind(kind: object) -> str:
    """``incidentStatusChanged`` → ``incident status changed``."""
    name = str(kind or "item")
    return "".join(f" {c.lower()}" if c.isupper() else c for c in name).strip()


def _timeline(activity: pd.DataFrame) -> list[dict[str, Any]]:
    """The feed in time order; runs of automatic items (role, label, task bookkeeping) folded."""
    ordered = activity.assign(at_time=activity["event_time"].fillna(activity["created_time"])).sort_values(
        ["at_time", "created_time"], kind="stable"
    )
    entries: list[dict[str, Any]] = []
    run: list[dict[str, Any]] = []

    def flush() -> None:
        if not run:
            return
        if len(run) == 1:
            entries.append(run[0])
        else:
            kinds = pd.Series([item["what"] for item in run]).value_counts()
            described = ", ".join(f"{k} x{n}" if n > 1 else str(k) for k, n in kinds.items())
            entries.append(
                {
                    "when": run[0]["when"],
                    "who": ", ".join(dict.fromkeys(item["who"] for item in run)),
                    "what": f"{len(run)} automatic updates",
                    "body": described,
                    "auto": True,
                    "note": False,
                    "folded": list(run),
                    "folded_text": "; ".join(f"{item['who']}: {item['body']}" for item in run),
                }
            )
        run.clear()

    for item in ordered.itertuples(index=False):
        kind = str(item.activity_kind)
        automatic = str(item.relevance) == "automatic"
        entry = {
            "when": when(item.at_time),
            "who": text(item.user_name) if not missing(item.user_name) and str(item.user_name) else "Grafana",
            "what": "note" if kind == _NOTE else _kind(kind),
            "body": "" if missing(item.body) else str(item.body),
            "auto": automatic,
            "note": kind == _NOTE,
            "folded": [],
        }
        if automatic and kind not in _MILESTONES:
            run.append(entry)
            continue
        flush()
        entries.append(entry)
    flush()
    return entries


def _tasks(tasks: pd.DataFrame) -> Table:
    ordered = tasks.assign(is_open=tasks["status"] != "done").sort_values(
        ["is_open", "created_time"], ascending=[False, True], kind="stable"
    )
    rows = [
        [
            "open" if t.is_open else "done",
            text(t.text),
            text(t.assigned_name) if not missing(t.assigned_name) else "unassigned",
            "built-in" if _true(t.immutable) else text(t.author_name),
            when(t.modified_time),
        ]
        for t in ordered.itertuples(index=False)
    ]
    return Table(
        ["Status", "Task", "Owner", "Added by", f"Last changed ({TZ})"], rows, empty="The incident has no tasks."
    )


def postmortem(
    source: IncidentClient | IncidentData,
    incident_id: object,
    *,
    format: str = "markdown",
    as_of: object = None,
) -> str:
    """A postmortem draft for one incident, as Markdown or as a self-contained HTML page.

    ``source`` is an ``IncidentClient`` (just this incident, its tasks, labels, roles and full timeline
    are fetched) or an ``IncidentData``. Sections: the header (title, ID, link, severity, status,
    drill flag, labels, declared by and when); key times (declared, impact start and end, resolved,
    durations with their anchors, time to first response and to commander, from
    ``metrics.lifecycle``); people and roles; the timeline (in time order, runs of automatic
    bookkeeping items folded, notes in full, all times UTC); the ``incident_timeline`` chart; tasks
    (open first, with owners) as the seed of the action items; then blanks to fill in: impact,
    contributing factors, what went well, what went badly, where we got lucky, action items, each
    with a one-line prompt. An incident still open at ``as_of`` (default: now for a client, the
    fetch time for data) is marked as a draft whose durations are provisional.

    >>> html = postmortem(data, "42", format="html")   # doctest: +SKIP
    """
    fmt = check_format(format)
    one = load_incident(source, incident_id)
    fallback = None if isinstance(source, IncidentClient) else source.fetched_at
    moment = _as_of(as_of, fallback)
    row = one.incidents.iloc[0]
    key_times, key_note = _key_times(one, moment)
    people, participants = _people(one)
    timeline = _timeline(one.activity)
    timeline_chart = _incident_chart(one) if len(one.activity) else None
    sections = {s.id: s for s in POSTMORTEM_SECTIONS}
    context = {
        "document_title": f"Postmortem draft: {row['title']} (incident {row['incident_id']})",
        "incident": _header(row, one.labels, _stack_url(source)),
        "draft": str(row["status"]) != "resolved",
        "as_of": f"{when(moment)} {TZ}",
        "generated_at": f"{when(pd.Timestamp.now(tz='UTC'))} {TZ}",
        "version": __version__,
        "tz": TZ,
        "s": {
            "key_times": sections["key-times"],
            "people": sections["people-and-roles"],
            "timeline": sections["timeline"],
            "chart": sections["timeline-chart"],
            "tasks": sections["tasks"],
        },
        "key_times": key_times,
        "key_times_note": key_note,
        "people": people,
        "participants": participants,
        "timeline": timeline,
        "timeline_note": (
            f"{len(one.activity)} timeline items in time order, all times {TZ}. Notes are shown in full; "
            "status, severity and impact-time changes each get a line; runs of automatic bookkeeping "
            "(roles, labels, tasks) are folded into one line."
        ),
        "timeline_chart": timeline_chart,
        "tasks": _tasks(one.tasks),
        "tasks_note": "Open tasks first: they are the seed of the action items below.",
        "blanks": [s for s in POSTMORTEM_SECTIONS if s.prompt],
    }
    return render("postmortem", fmt, context)


def _incident_chart(one: IncidentData) -> Chart:
    from . import plots

    return chart(
        lambda ax: plots.incident_timeline(
            one.activity, str(one.incidents["incident_id"].iloc[0]), incidents=one.incidents, ax=ax
        ),
        caption="Status, severity and role changes, notes and tasks on one time axis (UTC).",
        size=(9.0, 4.0),
    )


def _write(path: str | os.PathLike[str], content: str) -> Path:
    """Write ``content`` to ``path`` through a temporary file, so a failure leaves no half report."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.partial")
    partial.write_text(content, encoding="utf-8")
    partial.replace(target)
    return target


def write_postmortem(
    source: IncidentClient | IncidentData, incident_id: object, path: str | os.PathLike[str], **options: Any
) -> Path:
    """Write ``postmortem(source, incident_id)`` to ``path``; ``.html``/``.htm`` gives HTML,
    ``.md``/``.markdown`` gives Markdown. Returns the path.

    >>> write_postmortem(client, "42", "out/incident-42.html")   # doctest: +SKIP
    """
    fmt = format_for(path)
    return _write(path, postmortem(source, incident_id, format=fmt, **options))


# --------------------------------------------------------------------------------------------------
# The review.


def review(
    data: IncidentData,
    *,
    since: object = None,
    until: object = None,
    by: str = "severity",
    as_of: object = None,
    format: str = "html",
) -> str:
    """A review of the incidents declared in ``[since, until)``, as HTML (default) or Markdown.

    Sections: at a glance; incidents over time (counts per period, zero-filled, stacked by severity);
    time to resolve by ``by`` (a column or a label key) with bootstrap confidence intervals and the
    Kaplan-Meier chart (open incidents censored at ``as_of``); the ``compare`` verdict against the
    previous period of equal length; top labels and their co-occurrence; lifecycle and workload
    summaries; open incidents (oldest first); the longest incidents; and a methods section stating
    every definition and anchor. ``since`` defaults to the first declared incident, ``until`` to
    ``as_of``, and ``as_of`` to the data's fetch time (so a stored copy reads as it was fetched).
    Drills are excluded throughout.

    >>> html = review(data, since="2026-07-01", until="2026-10-01")   # doctest: +SKIP
    """
    from ._review import build_review

    fmt = check_format(format)
    if not isinstance(data, IncidentData):
        raise TypeError(f"data must be an IncidentData (from fetch, sync or read_parquet), got {type(data).__name__}")
    if not isinstance(by, str) or not by:
        raise ValueError(f"by must be a column of the incidents frame or a label key, got {by!r}")
    moment = _as_of(as_of, data.fetched_at)
    context = build_review(data, since=since, until=until, by=by, as_of=moment)
    context.update(generated_at=f"{when(pd.Timestamp.now(tz='UTC'))} {TZ}", version=__version__, tz=TZ)
    context["as_of"] = f"{when(moment)} {TZ}"
    return render("review", fmt, context)


def write_review(data: IncidentData, path: str | os.PathLike[str], **options: Any) -> Path:
    """Write ``review(data, **options)`` to ``path``, the format chosen from its suffix; returns the path.

    >>> write_review(data, "out/q3.html", since="2026-07-01", until="2026-10-01")   # doctest: +SKIP
    """
    fmt = format_for(path)
    return _write(path, review(data, format=fmt, **options))


# --------------------------------------------------------------------------------------------------
# The command line's work (``incident-analytics report ...``).


def postmortem_file(
    source: IncidentClient | IncidentData, incident_id: object, *, out: str | os.PathLike[str] | None = None
) -> Path:
    """Write a postmortem of ``incident_id`` from ``source`` (a client or a store's data) to ``out``
    (default ``postmortem-<id>.html``; its suffix picks the format). Returns the path written.
    """
    target = Path(out) if out is not None else Path(f"postmortem-{str(incident_id).strip()}.html")
    format_for(target)  # a bad suffix fails before any request is sent
    return write_postmortem(source, incident_id, target)


def review_file(
    source: IncidentClient | IncidentData,
    *,
    since: object = None,
    until: object = None,
    out: str | os.PathLike[str] | None = None,
    progress: bool = True,
) -> Path:
    """Write a review of ``[since, until)`` from a store's data, or fetched through a client: the period
    and the previous one of equal length (for the comparison), drills excluded. ``out`` defaults to
    ``review.html``; its suffix picks the format. Returns the path written.
    """
    target = Path(out) if out is not None else Path("review.html")
    format_for(target)
    start, end = to_utc("since", since), to_utc("until", until)  # type: ignore[arg-type]
    if start is not None and end is not None and start >= end:
        raise ValueError(f"since ({start}) must be before until ({end})")
    if isinstance(source, IncidentData):
        data = source
    else:
        fetch_since = None
        if start is not None:
            fetch_since = start - ((end or pd.Timestamp.now(tz="UTC")) - start)
        data = fetch(source, since=fetch_since, until=end, progress=progress)
    return write_review(data, target, since=start, until=end)
