"""The demo behind ``incident-analytics demo``: emulator → fetch → summary → review and postmortem HTML.

```python
from incident_analytics.demo import run_demo

result = run_demo("out")          # no credentials needed
result.review, result.postmortem  # paths of the two HTML reports
```
"""

from __future__ import annotations

import logging
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

import pandas as pd

from .client import IncidentClient
from .emulator import Emulator
from .fetch import fetch
from .store import IncidentData

logger = logging.getLogger("incident_analytics")


@dataclass(frozen=True)
class DemoResult:
    """What the demo produced: the fetched data, the two reports, the store, and the timings."""

    data: IncidentData
    seeded: int
    drills: int
    review: Path
    postmortem: Path | None
    postmortem_id: str | None
    store: Path
    fetch_seconds: float
    total_seconds: float


def _say(out: TextIO, line: str = "") -> None:
    out.write(line + "\n")
    out.flush()


def _table(frame: pd.DataFrame) -> str:
    return frame.to_string(index=False)


def summary_lines(data: IncidentData, *, seeded: int, drills: int, as_of: pd.Timestamp) -> list[str]:
    """The terminal summary: every number with its label, integer counts, named columns."""
    from . import metrics

    incidents = data.incidents
    lines = [
        f"Seeded incidents in the emulator: {seeded:,}",
        f"Drills among them (excluded from every number below): {drills:,}",
        f"Incidents fetched (seeded minus drills): {len(incidents):,}",
        f"Still open as of {as_of:%Y-%m-%d %H:%M} UTC: {int((incidents['status'] == 'active').sum()):,}",
        f"Tasks: {len(data.tasks):,}   Labels: {len(data.labels):,}   Role assignments: {len(data.assignments):,}"
        f"   Timeline items: {len(data.activity):,}",
    ]
    if incidents.empty:
        return lines
    by_status = (
        incidents.groupby(["severity", "status"], observed=True)
        .size()
        .unstack("status", fill_value=0)
        .reindex(columns=["active", "resolved"], fill_value=0)
        .astype(int)
    )
    by_status.columns = ["open incidents", "resolved incidents"]
    by_status["all incidents"] = by_status.sum(axis=1)
    lines += ["", "Incidents by severity (counts):", _table(by_status.reset_index())]
    ttr = metrics.mttr(incidents, by="severity", as_of=as_of)
    hours = pd.DataFrame(
        {
            "severity": ttr["severity"].astype(str),
            "resolved (n)": ttr["n"].astype(int),
            "open (n)": ttr["n_open"].astype(int),
            "left out (n)": ttr["n_excluded"].astype(int),
            "median hours": (ttr["median"].dt.total_seconds() / 3600).round(1),
            "p90 hours": (ttr["p90"].dt.total_seconds() / 3600).round(1),
        }
    )
    lines += ["", "Time to resolve by severity (start of impact to its end; open incidents not in the hours):"]
    lines.append(_table(hours))
    lines.append("(left out: zero or negative durations and ends without a start, data-quality findings)")
    if not data.labels.empty:
        top = (
            data.labels.groupby(["key", "value"], observed=True)
            .size()
            .nlargest(6)
            .rename("incidents")
            .reset_index()
            .rename(columns={"key": "label key", "value": "label value"})
        )
        lines += ["", "Most used labels (incidents carrying each):", _table(top)]
    if len(data.errors):
        lines += ["", f"Incidents with failed calls (incomplete): {len(data.incomplete):,}; see data.errors"]
    return lines


def _longest_resolved(data: IncidentData, as_of: pd.Timestamp) -> str | None:
    from . import metrics

    ttr = metrics.time_to_resolve(data.incidents, as_of=as_of)
    resolved = ttr[ttr["resolved"].astype(bool)].dropna(subset=["duration"])
    if resolved.empty:
        return None
    return str(resolved.sort_values("duration", ascending=False, kind="stable").iloc[0]["incident_id"])


def _review_start(data: IncidentData, as_of: pd.Timestamp) -> pd.Timestamp:
    """The first day of the month halfway through the history: the review covers the later half and
    compares it with the earlier half (equal lengths, the most incidents on both sides)."""
    first = data.incidents["created_time"].min()
    if pd.isna(first) or first >= as_of:
        return (as_of - pd.Timedelta(days=30)).normalize()
    middle = first + (as_of - first) / 2
    return pd.Timestamp(year=middle.year, month=middle.month, day=1, tz="UTC")


def _open_hint(path: Path) -> str:
    command = {"darwin": "open", "win32": "start"}.get(sys.platform, "xdg-open")
    return f"{command} {path}"


def run_demo(
    out_dir: str | os.PathLike[str] = "out",
    *,
    scenario: str = "demo",
    incidents: int | None = None,
    seed: int | None = None,
    latency: float = 0.0,
    since: str | None = None,
    concurrency: int = 8,
    progress: bool = True,
    out: TextIO | None = None,
) -> DemoResult:
    """Run the whole demo and write its files into ``out_dir``; the account goes to ``out`` (stdout).

    Starts the bundled emulator with the ``scenario`` preset (``incidents`` and ``seed`` override
    it), fetches everything (drills excluded) with progress bars, prints a labelled summary, and
    writes ``review.html`` (the later half of the history, compared with the earlier half),
    ``postmortem-<id>.html`` (the longest resolved incident) and a Parquet store (``store/``).
    """
    stream = out or sys.stdout
    started = time.perf_counter()
    folder = Path(out_dir)
    emulator = Emulator(seed=seed, incidents=incidents, scenario=scenario, latency=latency)
    seeded = incidents if incidents is not None else (emulator.scenario.incidents if emulator.scenario else 0)
    _say(
        stream,
        f"Starting the bundled emulator: scenario {scenario!r}, {seeded:,} seeded incidents, seed {emulator.seed}",
    )
    with emulator as emu, IncidentClient(emu.url, emu.token) as client:
        fetch_started = time.perf_counter()
        data = fetch(client, since=since, concurrency=concurrency, progress=progress)
        fetch_seconds = time.perf_counter() - fetch_started
        drills = sum(1 for _ in client.incidents.query(_drill_query(since)))
    as_of = data.fetched_at or pd.Timestamp.now(tz="UTC")
    _say(stream, f"Fetched {len(data.incidents):,} incidents in {fetch_seconds:.1f} s.\n")
    for line in summary_lines(data, seeded=seeded, drills=drills, as_of=as_of):
        _say(stream, line)

    from .report import write_postmortem, write_review

    store = data.to_parquet(folder / "store")
    start = _review_start(data, as_of)
    review_path = write_review(data, folder / "review.html", since=start, until=as_of, as_of=as_of)
    longest = _longest_resolved(data, as_of)
    postmortem_path = (
        write_postmortem(data, longest, folder / f"postmortem-{longest}.html", as_of=as_of) if longest else None
    )
    _say(stream)
    days = (as_of - start).days
    _say(stream, f"Review of {start:%Y-%m-%d} to {as_of:%Y-%m-%d}, against the {days} days before it:")
    _say(stream, f"  {review_path.resolve()}")
    if postmortem_path is not None:
        _say(stream, f"Postmortem draft of the longest resolved incident ({longest}):")
        _say(stream, f"  {postmortem_path.resolve()}")
    _say(stream, f"Parquet store (IncidentData.read_parquet): {store.resolve()}")
    _say(stream, "Open the reports in any browser (single files, no network needed), e.g.:")
    _say(stream, f"  {_open_hint(review_path.resolve())}")
    total = time.perf_counter() - started
    _say(stream, f"Demo finished in {total:.1f} s.")
    return DemoResult(
        data=data,
        seeded=seeded,
        drills=drills,
        review=review_path,
        postmortem=postmortem_path,
        postmortem_id=longest,
        store=store,
        fetch_seconds=fetch_seconds,
        total_seconds=total,
    )


def _drill_query(since: str | None) -> str:
    """The query string that lists the drills the fetch left out (same declared range)."""
    from .fetch import Selection

    return Selection.of(since, None, "isdrill:true", include_drills=True).query_string()
