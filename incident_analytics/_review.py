"""The period review's content: which incidents, which metrics, which charts, in which words.

``build_review`` returns the template context for ``report.review``; every number comes from
``incident_analytics.metrics`` and every chart from ``incident_analytics.plots``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd

from . import metrics, plots
from ._render import Chart, Section, Table, chart, count, duration, hours, missing, share, text, when
from .fetch import to_utc
from .report import select_incidents
from .store import IncidentData

TZ = "UTC"
TOP_LABELS = 15
TOP_COOCCURRING = 10
TOP_PEOPLE = 12
TOP_LONGEST = 10


@dataclass(frozen=True)
class Period:
    """The reviewed period ``[start, end)``, the previous one of equal length, and the chart bucket."""

    start: pd.Timestamp
    end: pd.Timestamp
    as_of: pd.Timestamp

    @property
    def previous_start(self) -> pd.Timestamp:
        return self.start - (self.end - self.start)

    @property
    def freq(self) -> tuple[str, str]:
        """(period alias, its name) for counts: months over half a year, weeks over six weeks, else days."""
        days = (self.end - self.start) / pd.Timedelta(days=1)
        if days > 180:
            return "M", "month"
        if days > 42:
            return "W", "week"
        return "D", "day"

    def describe(self) -> str:
        days = (self.end - self.start) / pd.Timedelta(days=1)
        return f"{when(self.start)} to {when(self.end)} {TZ} ({days:,.0f} days)"


def period_of(data: IncidentData, since: object, until: object, as_of: pd.Timestamp) -> Period:
    """``[since, until)``; ``since`` defaults to the first declared incident's day, ``until`` to ``as_of``."""
    start = to_utc("since", since)  # type: ignore[arg-type]
    end = to_utc("until", until)  # type: ignore[arg-type]
    declared = data.incidents["created_time"].dropna()
    if end is None:
        end = as_of
        if not declared.empty and declared.max() >= end:
            end = declared.max() + pd.Timedelta(seconds=1)
    if start is None:
        start = declared.min().floor("D") if not declared.empty else end - pd.Timedelta(days=30)
    if start >= end:
        raise ValueError(f"since ({start}) must be before until ({end})")
    return Period(start, end, as_of)


def declared_in(incidents: pd.DataFrame, start: pd.Timestamp, end: pd.Timestamp) -> set[str]:
    """IDs of the incidents declared (``created_time``) in ``[start, end)``."""
    declared = incidents["created_time"]
    mask = ((declared >= start) & (declared < end)).fillna(False).astype(bool)
    return set(incidents.loc[mask, "incident_id"].astype(str))


def _not_drills(incidents: pd.DataFrame) -> pd.DataFrame:
    return incidents[~incidents["is_drill"].fillna(False).astype(bool)]


def _group(value: object) -> str:
    return "(none)" if missing(value) else str(value)


# --------------------------------------------------------------------------------------------------
# Sections.


def _at_a_glance(period: Period, data: IncidentData, counted: pd.DataFrame, previous: int) -> Section:
    ttr = metrics.time_to_resolve(counted, as_of=period.as_of)
    surv = metrics.survival(counted, as_of=period.as_of) if len(counted) else None
    drills = int(data.incidents["is_drill"].fillna(False).astype(bool).sum())
    resolved = int(ttr["resolved"].sum())
    facts = [
        ("Period", period.describe()),
        ("Incidents declared (drills excluded)", count(len(counted))),
        ("Drills declared (left out of every number)", count(drills)),
        ("Resolved", count(resolved)),
        (f"Still open at {when(period.as_of)} {TZ}", count(len(ttr) - resolved)),
        (
            "Median time to resolve (Kaplan-Meier, open incidents censored)",
            duration(surv.median) if surv is not None else "—",
        ),
        ("Incidents in the previous period of equal length", count(previous)),
        ("Incidents whose details could not be fetched", count(len(data.incomplete))),
    ]
    return Section("at-a-glance", "At a glance", facts=facts)


def _over_time(period: Period, counted: pd.DataFrame) -> Section:
    alias, name = period.freq
    counts = metrics.incident_counts(counted, freq=alias, by="severity") if len(counted) else None
    if counts is None or counts.empty:
        return Section("incidents-over-time", "Incidents over time", notes=["No incidents in this period."])
    wide = counts.pivot_table(
        index="period", columns="severity", values="incidents", aggfunc="sum", fill_value=0, observed=True
    )
    wide["all"] = wide.sum(axis=1)
    table = Table(
        [name.capitalize(), *map(str, wide.columns)],
        [[str(p), *(count(v) for v in row)] for p, row in zip(wide.index, wide.to_numpy(), strict=True)],
        numeric=frozenset(range(1, len(wide.columns) + 1)),
        caption=f"Incidents per {name} by severity, by the {name} their impact started (zero-filled).",
    )
    totals = wide["all"]
    half = len(totals) // 2
    notes = [
        f"{count(totals.sum())} incidents over {len(totals)} {name}s; busiest {name}: {totals.idxmax()} "
        f"({count(totals.max())})."
    ]
    if half >= 1:
        first, second = totals.iloc[:half].mean(), totals.iloc[-half:].mean()
        notes.append(
            f"Trend: {first:.1f} incidents per {name} in the first {half} {name}s, {second:.1f} in the last {half}."
        )
    charts = [
        chart(
            lambda ax: plots.incidents_over_time(counted, freq=alias, ax=ax),
            caption=f"Incidents per {name}, stacked by severity (drills excluded).",
        )
    ]
    return Section("incidents-over-time", "Incidents over time", notes=notes, charts=charts, tables=[table])


def _time_to_resolve(period: Period, counted: pd.DataFrame, labels: pd.DataFrame, by: str) -> Section:
    if counted.empty:
        return Section("time-to-resolve", "Time to resolve", notes=["No incidents in this period."])
    stats = metrics.mttr(counted, by=by, labels=labels, as_of=period.as_of, ci=0.9)
    surv = metrics.survival(counted, by=by, labels=labels, as_of=period.as_of)
    km = surv.summary.set_index("group")
    rows = []
    for record in stats.to_dict("records"):
        group = _group(record[by])
        km_median = km["median"].get(group, pd.NaT) if group in km.index else pd.NaT
        rows.append(
            [
                group,
                count(record["n"]),
                count(record["n_open"]),
                hours(record["median"]),
                f"{hours(record['median_ci_low'])} - {hours(record['median_ci_high'])}",
                hours(record["mean"]),
                hours(record["geometric_mean"]),
                hours(record["p90"]),
                hours(km_median),
            ]
        )
    table = Table(
        [by, "Resolved (n)", "Open (n)", "Median", "90% CI of median", "Mean", "Geometric mean", "p90", "KM median"],
        rows,
        numeric=frozenset(range(1, 9)),
        caption=(
            f"Time to resolve by {by}, over resolved incidents; the KM median also counts open incidents "
            "(censored). Intervals are bootstrap percentile intervals of the median."
        ),
    )
    charts = [
        chart(
            lambda ax: plots.time_to_resolve_distribution(surv, ax=ax),
            caption="Share of incidents still unresolved after a given time (Kaplan-Meier, 95% bands); "
            "ticks mark incidents still open (censored).",
            size=(8.0, 4.5),
        )
    ]
    alias, _ = period.freq
    trend = metrics.mttr(counted, freq=alias, as_of=period.as_of, ci=0.9)
    if len(trend) > 1:
        charts.append(
            chart(
                lambda ax: plots.mttr_trend(trend, freq=alias, ax=ax),
                caption="Median time to resolve per period with its 90% interval, the p90, and n under each point.",
            )
        )
    notes = [
        "Durations are heavy-tailed: the median and the geometric mean say more than the mean, and "
        "the Kaplan-Meier curve keeps still-open incidents instead of dropping them."
    ]
    return Section("time-to-resolve", "Time to resolve", notes=notes, tables=[table], charts=charts)


def _previous(period: Period, both: pd.DataFrame, labels: pd.DataFrame, by: str) -> Section:
    title = "Compared with the previous period"
    before = f"{when(period.previous_start)} to {when(period.start)}"
    try:
        result = metrics.compare(both, split=period.start, by=by, labels=labels, as_of=period.as_of)
    except ValueError as exc:
        return Section(
            "previous-period",
            title,
            notes=[f"No comparison with the previous period ({before} {TZ}): {exc}"],
        )
    notes = [
        f"Median time to resolve of the incidents whose impact started in the previous period ({before} "
        f"{TZ}) against those that started after {when(period.start)}, resolved incidents only, drills "
        "excluded; bootstrap interval of the difference and a permutation test."
    ]
    if min(result.n) < 2:
        return Section("previous-period", title, verdict=str(result.verdict), notes=notes)
    names = {"before": "Previous period", "after": "This period"}
    table = Table(
        ["Sample", "Resolved (n)", "Open (n, left out)", f"{result.statistic.replace('_', ' ')} TTR"],
        [
            [names.get(g, g), count(n), count(o), hours(v)]
            for g, n, o, v in zip(result.groups, result.n, result.n_open, result.values, strict=True)
        ],
        numeric=frozenset({1, 2, 3}),
        caption=(
            f"Difference {hours(result.difference)} ({result.relative_difference:+.0%}), "
            f"{result.ci:.0%} interval {hours(result.ci_low)} to {hours(result.ci_high)}; "
            f"p = {result.p_value:.3f}; smallest detectable change {result.min_detectable_change:.0%}."
        ),
    )
    charts = [
        chart(
            lambda ax: plots.compare(result, ax=ax),
            caption="Time to resolve in the two periods (log scale); inset: the bootstrap distribution of the "
            "difference of medians.",
            size=(9.0, 4.5),
        )
    ]
    tables = [table]
    per_group = _previous_by_group(result, by)
    if per_group is not None:
        tables.append(per_group)
    return Section("previous-period", title, verdict=str(result.verdict), notes=notes, charts=charts, tables=tables)


def _previous_by_group(result: metrics.CompareResult, by: str) -> Table | None:
    """The same comparison within each group of ``by``: a change in one severity (or team) can be real
    while the mix of all incidents hides it, or noise while the mix looks like a trend."""
    rows = []
    for group, part in result.by_group.items():
        if min(part.n) < 2:
            continue
        evidence = "yes" if part.significant else "no"
        rows.append(
            [
                text(group),
                count(part.n[0]),
                count(part.n[1]),
                hours(part.values[0]),
                hours(part.values[1]),
                f"{part.relative_difference:+.0%}",
                f"{part.p_value:.3f}",
                f"{part.min_detectable_change:.0%}",
                evidence,
            ]
        )
    if not rows:
        return None
    return Table(
        [
            by.replace("_", " ").capitalize(),
            "Previous (n)",
            "This (n)",
            "Previous median",
            "This median",
            "Change",
            "p",
            "Detectable change",
            "Real change?",
        ],
        rows,
        numeric=frozenset({1, 2, 3, 4, 5, 6, 7}),
        caption=(
            f"The same comparison within each {by.replace('_', ' ')} (resolved incidents, drills excluded): "
            "'yes' when a change this size would appear by chance less than 5% of the time (permutation test); "
            "'detectable change' is the smallest relative change these sample sizes would catch 80% of the time."
        ),
    )


def _labels(period: Period, counted: pd.DataFrame, labels: pd.DataFrame) -> Section:
    title = "Labels"
    if labels.empty or counted.empty:
        return Section("labels", title, notes=["No labels on the incidents of this period."])
    stats = metrics.label_stats(labels, counted, as_of=period.as_of)
    top = stats.sort_values("incidents", ascending=False, kind="stable").head(TOP_LABELS)
    table = Table(
        ["Key", "Value", "Incidents", "Share", "Open", "Median TTR", f"First seen ({TZ})", f"Last seen ({TZ})"],
        [
            [
                text(r["key"]),
                text(r["value"]),
                count(r["incidents"]),
                share(r["share"]),
                count(r["n_open"]),
                hours(r["median"]),
                when(r["first_seen"]),
                when(r["last_seen"]),
            ]
            for r in top.to_dict("records")
        ],
        numeric=frozenset({2, 3, 4, 5}),
        caption=f"The {len(top)} most used labels of {count(len(stats))}; share = incidents with the label / all.",
    )
    charts = [
        chart(
            lambda ax: plots.label_frequency(stats, top=TOP_LABELS, ax=ax),
            caption="Incidents carrying each label.",
            size=(8.0, 5.0),
        )
    ]
    wanted = set(zip(top["key"].head(TOP_COOCCURRING), top["value"].head(TOP_COOCCURRING), strict=True))
    pairs = pd.Series(list(zip(labels["key"], labels["value"], strict=True)), index=labels.index)
    frequent = labels[pairs.isin(wanted)]
    if frequent["incident_id"].nunique() > 1 and len(wanted) > 1:
        matrix = metrics.label_cooccurrence(frequent, metric="count")
        charts.append(
            chart(
                lambda ax: plots.label_cooccurrence(matrix, ax=ax),
                caption=f"Incidents carrying both labels, for the {len(wanted)} most used labels.",
                size=(8.0, 6.5),
            )
        )
    return Section("labels", title, tables=[table], charts=charts)


def _lifecycle(period: Period, data: IncidentData, counted: pd.DataFrame) -> Section:
    title = "Lifecycle"
    if counted.empty:
        return Section("lifecycle", title, notes=["No incidents in this period."])
    result = metrics.lifecycle(
        data.activity, counted, assignments=data.assignments, tasks=data.tasks, as_of=period.as_of
    )
    life = result.per_incident
    total = len(life)
    done, tasks = int(life["tasks_done_at_close"].sum()), int(life["tasks_total"].sum())
    facts = [
        ("Incidents", count(total)),
        ("Median time to first response", duration(life["time_to_first_response"].median())),
        ("Incidents without a response by anyone but the declarer", count(life["time_to_first_response"].isna().sum())),
        ("Median time to commander", duration(life["time_to_commander"].median())),
        ("Incidents never given a commander", count(life["time_to_commander"].isna().sum())),
        ("Escalated (severity rose at least once)", f"{count(life['escalated'].sum())} of {count(total)}"),
        ("Reopened at least once", f"{count((life['reopened'] > 0).sum())} of {count(total)}"),
        ("Notes per incident (median)", count(life["notes"].median()) if total else "-"),
        (
            "Tasks done by the time of closing",
            f"{count(done)} of {count(tasks)}" + (f" ({share(done / tasks)})" if tasks else ""),
        ),
    ]
    spans = result.time_in_severity
    table = Table(["Severity", "Incidents", "Median time in it", "Total time in it"], [], empty="")
    if not spans.empty:
        grouped = spans.groupby("severity", observed=True)["duration"]
        summary = pd.DataFrame(
            {
                "incidents": spans.groupby("severity", observed=True)["incident_id"].nunique(),
                "median": grouped.median(),
                "total": grouped.sum(),
            }
        ).sort_values("total", ascending=False)
        table = Table(
            ["Severity", "Incidents", "Median time in it", "Total time in it"],
            [
                [str(sev), count(r["incidents"]), duration(r["median"]), hours(r["total"])]
                for sev, r in summary.iterrows()
            ],
            numeric=frozenset({1, 2, 3}),
            caption="Time spent in each severity, from declaration to close (or the as-of time when open).",
            empty="No severity history.",
        )
    return Section("lifecycle", title, facts=facts, tables=[table] if table.rows else [])


def _workload(period: Period, data: IncidentData, counted: pd.DataFrame) -> Section:
    title = "Workload"
    ids = set(counted["incident_id"].astype(str))
    activity = data.activity[data.activity["incident_id"].astype(str).isin(ids)]
    if activity.empty:
        return Section("workload", title, notes=["No timeline items in this period."])
    work = metrics.workload(activity, tz=TZ)
    people = work.per_person
    top = people.sort_values("total", ascending=False, kind="stable").head(TOP_PEOPLE)
    table = Table(
        ["Person", "Total", "Working hours", "Late evening", "Sleeping hours"],
        [
            [text(r["user_name"]), hours(r["total"]), hours(r["working"]), hours(r["late"]), hours(r["sleeping"])]
            for r in top.to_dict("records")
        ],
        numeric=frozenset({1, 2, 3, 4}),
        caption=f"The {len(top)} people who spent the most time on incidents, of {count(len(people))}.",
    )
    charts = [
        chart(
            lambda ax: plots.workload(work, top=TOP_PEOPLE, ax=ax),
            caption=f"Hours on incidents per person, split into working, late and sleeping hours ({TZ}).",
            size=(8.0, 5.0),
        )
    ]
    notes = [f"{metrics.WORKLOAD_RULES} Working hours 08-19, late 19-23, sleeping 23-08, {TZ}."]
    return Section("workload", title, notes=notes, tables=[table], charts=charts)


def _open(period: Period, counted: pd.DataFrame) -> Section:
    ttr = metrics.time_to_resolve(counted, as_of=period.as_of)
    open_ = ttr[~ttr["resolved"].astype(bool)].merge(counted[["incident_id", "title", "severity"]], on="incident_id")
    open_ = open_.sort_values("start", kind="stable")
    table = Table(
        ["ID", "Title", "Severity", f"Started ({TZ})", "Open for"],
        [
            [text(r["incident_id"]), text(r["title"]), text(r["severity"]), when(r["start"]), duration(r["duration"])]
            for r in open_.to_dict("records")
        ],
        numeric=frozenset({4}),
        empty="No incident of this period is still open.",
        caption=f"Oldest first; open for = {when(period.as_of)} {TZ} minus the start of impact.",
    )
    return Section("open-incidents", "Open incidents", tables=[table])


def _longest(period: Period, counted: pd.DataFrame) -> Section:
    ttr = metrics.time_to_resolve(counted, as_of=period.as_of)
    done = ttr[ttr["resolved"].astype(bool)].dropna(subset=["duration"])
    done = done.merge(counted[["incident_id", "title", "severity"]], on="incident_id")
    top = done.sort_values("duration", ascending=False, kind="stable").head(TOP_LONGEST)
    table = Table(
        ["ID", "Title", "Severity", f"Started ({TZ})", f"Ended ({TZ})", "Time to resolve"],
        [
            [
                text(r["incident_id"]),
                text(r["title"]),
                text(r["severity"]),
                when(r["start"]),
                when(r["end"]),
                duration(r["duration"]),
            ]
            for r in top.to_dict("records")
        ],
        numeric=frozenset({5}),
        empty="No incident of this period has been resolved.",
        caption="Resolved incidents, longest first (still-open ones are listed above); each is a candidate "
        "for a postmortem.",
    )
    return Section("longest-incidents", "Longest incidents", tables=[table])


def _methods(period: Period, counted: pd.DataFrame, by: str) -> Section:
    ttr = metrics.time_to_resolve(counted, as_of=period.as_of)
    anchors = ttr.attrs.get("anchors", {})
    used_start = ", ".join(f"{k}: {count(v)}" for k, v in anchors.get("start_columns", {}).items()) or "—"
    used_end = ", ".join(f"{k}: {count(v)}" for k, v in anchors.get("end_columns", {}).items()) or "—"
    flagged = {k: int(ttr[k].sum()) for k in ("negative", "zero", "end_without_start") if k in ttr}
    facts = [
        (
            "Period",
            f"incidents declared (created_time) in {period.describe()}; the previous period is the "
            "same length immediately before.",
        ),
        ("Drills", "excluded everywhere (is_drill true)."),
        ("Start of impact", f"incident_start, else created_time (incidents per column: {used_start})."),
        ("End of impact", f"incident_end, else closed_time (resolved incidents per column: {used_end})."),
        ("Time to resolve (TTR)", "end - start, for incidents with an end."),
        (
            "Open incidents",
            f"right-censored at {when(period.as_of)} {TZ} (as of): counted as lasting at least "
            "until then in the Kaplan-Meier estimate, never silently dropped.",
        ),
        (
            "Data-quality findings",
            "negative or zero durations and ends without a start are reported and left "
            "out of statistics: " + ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in flagged.items()) + ".",
        ),
        (
            "Median, mean, p90, geometric mean",
            "over resolved incidents; p90 by linear interpolation; geometric mean = exp(mean log TTR).",
        ),
        ("Confidence interval of the median", "90% bootstrap percentile interval."),
        (
            "Kaplan-Meier",
            "product-limit estimate (scipy.stats.ecdf on censored data), Greenwood variance, "
            "log-log 95% band; the KM median is where the curve first reaches 50%.",
        ),
        (
            "Comparison",
            "bootstrap interval of the difference of medians, permutation-test p-value, and the "
            "smallest change detectable 80% of the time at these sample sizes (simulated on the pooled data).",
        ),
        ("Grouping", f"by {by}; an incident with two values of a label key counts in both groups."),
        ("Counts over time", "by the period in which the impact started (UTC), zero-filled."),
        (
            "Labels",
            "share = incidents carrying the label / incidents in the period; co-occurrence = incidents "
            "carrying both labels.",
        ),
        (
            "Time to first response",
            "declared → first item by a person other than the declarer that shows work "
            "(note, role, task, status, severity or label).",
        ),
        ("Time to commander", "declared → first assignment of the commander role."),
        (
            "Workload",
            "10 minutes credited after each timeline item, items under 20 minutes apart joined, "
            "parallel incidents merged (at most one hour per hour).",
        ),
    ]
    return Section("methods", "Methods", facts=facts)


def build_review(data: IncidentData, *, since: object, until: object, by: str, as_of: pd.Timestamp) -> dict[str, Any]:
    """The template context of a review of ``data`` for ``[since, until)``."""
    period = period_of(data, since, until, as_of)
    in_period = select_incidents(data, declared_in(data.incidents, period.start, period.end))
    counted = _not_drills(in_period.incidents)
    both = _not_drills(
        data.incidents[
            data.incidents["incident_id"]
            .astype(str)
            .isin(declared_in(data.incidents, period.previous_start, period.end))
        ]
    )
    previous_n = len(both) - len(counted)
    labels = in_period.labels
    both_labels = data.labels[data.labels["incident_id"].isin(both["incident_id"])]
    sections = [
        _at_a_glance(period, in_period, counted, previous_n),
        _over_time(period, counted),
        _time_to_resolve(period, counted, labels, by),
        _previous(period, both, both_labels, by),
        _labels(period, counted, labels),
        _lifecycle(period, in_period, counted),
        _workload(period, in_period, counted),
        _open(period, counted),
        _longest(period, counted),
        _methods(period, counted, by),
    ]
    return {
        "document_title": f"Incident review, {when(period.start)[:10]} to {when(period.end)[:10]}",
        "heading": f"Incidents from {when(period.start)[:10]} to {when(period.end)[:10]}",
        "period_note": f"{period.describe()}; drills excluded; open incidents measured as of {when(as_of)} {TZ}.",
        "sections": sections,
    }


__all__ = ["Chart", "Period", "build_review", "declared_in", "period_of"]
