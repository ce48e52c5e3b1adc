"""Charts of incidents and of the `incident_analytics.metrics` results, with matplotlib.

Every function takes frames or results (and ``ax=``; without it a new figure is made with
``pyplot.subplots``), returns the ``Axes`` it drew on and never calls ``show``. Each chart has a
caption-ready title (``ax.get_title()``), axis labels with units, readable date axes and a legend
where there is more than one series. Severities have the same colour in every chart
(`SEVERITY_COLORS`, Grafana's); other groups get a colour fixed by their name (`color_for`).

This is the only module that imports matplotlib: ``import incident_analytics`` does not.

>>> from incident_analytics import metrics, plots
>>> ax = plots.time_to_resolve_distribution(metrics.survival(data.incidents, by="severity"))  # doctest: +SKIP
>>> ax.figure.savefig("ttr.png")  # doctest: +SKIP
"""

from __future__ import annotations

import textwrap
import zlib
from collections.abc import Sequence
from typing import Any

import matplotlib.dates as _mdates
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.axes import Axes

from incident_analytics import metrics
from incident_analytics.metrics import CompareResult, SurvivalResult, WorkloadResult
from incident_analytics.metrics._common import period_alias

# matplotlib.dates has no annotations; calls through Any keep mypy --strict quiet about it.
mdates: Any = _mdates

__all__ = [
    "BAND_COLORS",
    "SEVERITY_COLORS",
    "color_for",
    "compare",
    "incident_timeline",
    "incidents_over_time",
    "label_cooccurrence",
    "label_frequency",
    "mttr_trend",
    "time_to_resolve_distribution",
    "workload",
]

SEVERITY_COLORS: dict[str, str] = {
    "Critical": "#E02F44",
    "Major": "#FF9830",
    "Minor": "#F2CC0C",
    "Pending": "#8E8E8E",
}
"""Severity → colour, the same in every chart (Grafana's severity colours; Minor a shade darker to
read on white)."""
BAND_COLORS = {"working": "#56A64B", "late": "#FF9830", "sleeping": "#3274D9"}
_PALETTE = ["#1F60C4", "#8F3BB8", "#37872D", "#C4162A", "#FA6400", "#8AB8FF", "#73BF69", "#B877D9", "#705DA0"]
_SEVERITY_ORDER = ["Critical", "Major", "Minor", "Pending"]
_FREQ_WORDS = {"M": "month", "Q": "quarter", "W": "week", "D": "day", "Y": "year"}


def color_for(name: object) -> str:
    """The colour of a group: its severity colour, else one fixed by the name (same in every chart)."""
    text = "(none)" if _missing(name) else str(name)
    for severity, color in SEVERITY_COLORS.items():
        if text.lower() == severity.lower():
            return color
    return _PALETTE[zlib.crc32(text.encode()) % len(_PALETTE)]


def _missing(value: Any) -> bool:
    return value is None or (not isinstance(value, str) and bool(pd.isna(value)))


def _axes(ax: Axes | None, size: tuple[float, float] = (9, 4.5)) -> Axes:
    if ax is not None:
        return ax
    _fig, new = plt.subplots(figsize=size, layout="constrained")
    return new


def _severity_sort(names: Sequence[object]) -> list[object]:
    def key(name: object) -> tuple[int, str]:
        text = str(name)
        return (_SEVERITY_ORDER.index(text), text) if text in _SEVERITY_ORDER else (len(_SEVERITY_ORDER), text)

    return sorted(names, key=key)


def _date_axis(ax: Axes) -> None:
    locator = mdates.AutoDateLocator()
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))


def _hours(values: Any) -> np.ndarray:
    return np.asarray(pd.to_timedelta(pd.Series(values)).dt.total_seconds().to_numpy(dtype=float) / 3600)


def _freq_word(freq: str) -> str:
    return _FREQ_WORDS.get(period_alias(freq).split("-")[0], period_alias(freq))


# --------------------------------------------------------------------------------------------------


def incidents_over_time(
    incidents: pd.DataFrame, *, freq: str = "M", include_drills: bool = False, ax: Axes | None = None
) -> Axes:
    """Incidents per period of their start of impact, stacked by severity (one bar set per severity).

    >>> incidents_over_time(data.incidents, freq="W")  # doctest: +SKIP
    """
    counts = metrics.incident_counts(incidents, freq=freq, by="severity", include_drills=include_drills)
    ax = _axes(ax)
    word = _freq_word(freq)
    table = counts.pivot_table(index="period", columns="severity", values="incidents", aggfunc="sum", dropna=False)
    table = table.fillna(0)
    periods = pd.PeriodIndex(table.index)
    starts = periods.to_timestamp(how="start") if len(table) else pd.DatetimeIndex([])
    ends = periods.to_timestamp(how="end") if len(table) else pd.DatetimeIndex([])
    widths: Any = (ends - starts) * 0.8 if len(table) else []
    bottom = np.zeros(len(table))
    for severity in _severity_sort(list(table.columns)):
        values = table[severity].to_numpy(dtype=float)
        label = "(none)" if _missing(severity) else str(severity)
        ax.bar(starts, values, width=widths, bottom=bottom, align="edge", color=color_for(severity), label=label)
        bottom += values
    ax.set_title(f"Incidents per {word} by severity")
    ax.set_ylabel("Incidents")
    ax.set_xlabel(f"{word.capitalize()} of start of impact (UTC)")
    if len(table):
        _date_axis(ax)
        ax.legend(title="Severity", frameon=False)
    return ax


def time_to_resolve_distribution(
    data: SurvivalResult | pd.DataFrame,
    *,
    by: str | None = "severity",
    labels: pd.DataFrame | None = None,
    as_of: Any = None,
    ax: Axes | None = None,
) -> Axes:
    """Kaplan-Meier curves of time to resolve per group, with confidence bands and censoring marks.

    ``data`` is a `metrics.survival` result, or an incidents frame (then ``survival(data, by=by,
    labels=labels, as_of=as_of)`` is computed). Time runs on a log axis in hours; "|" marks show
    still-open (censored) incidents; the dashed line at 0.5 reads off the median.

    >>> time_to_resolve_distribution(data.incidents, by="severity")  # doctest: +SKIP
    """
    result = data if isinstance(data, SurvivalResult) else metrics.survival(data, by=by, labels=labels, as_of=as_of)
    ax = _axes(ax)
    curve = result.curve
    for group in _severity_sort(result.groups):
        part = curve[(curve["group"] == group).to_numpy()]
        part = part[part["time"] > pd.Timedelta(0)]
        if part.empty:
            continue
        hours = _hours(part["time"])
        color = color_for(group)
        n = int(result.summary.loc[result.summary["group"] == group, "n"].iloc[0])
        ax.step(hours, part["survival"], where="post", color=color, label=f"{group} (n={n})")
        ax.fill_between(hours, part["ci_low"], part["ci_high"], step="post", color=color, alpha=0.15, linewidth=0)
        censored = part["censored"].to_numpy() > 0
        if censored.any():
            ax.plot(
                hours[censored],
                part["survival"].to_numpy()[censored],
                linestyle="none",
                marker="|",
                markersize=8,
                color=color,
                gid="censored",
                label="_nolegend_",
            )
    ax.axhline(0.5, color="#888888", linestyle="--", linewidth=0.8)
    ax.set_xscale("log")
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("Time to resolve (hours, log scale)")
    ax.set_ylabel("Share still unresolved")
    level = f"{result.ci:.0%}"
    ax.set_title(f"Time to resolve: Kaplan-Meier estimate with {level} bands (| = still open, censored)")
    if len(result.groups) > 0 and not curve.empty:
        ax.legend(frameon=False, title=" / ".join(result.by) if result.by else None)
    return ax


def mttr_trend(
    data: pd.DataFrame,
    *,
    freq: str = "M",
    include_drills: bool = False,
    as_of: Any = None,
    ax: Axes | None = None,
) -> Axes:
    """Median time to resolve per period with its confidence band, the p90, and n at each point.

    ``data`` is a `metrics.mttr` frame with a ``period`` column, or an incidents frame (then
    ``mttr(data, freq=freq)`` is computed). A frame grouped further (``mttr(by="severity",
    freq="M")``) gives one median line with its band per group, in the group's colour.

    >>> mttr_trend(data.incidents, freq="MS")  # doctest: +SKIP
    """
    table = (
        data
        if "period" in data.columns and "median" in data.columns
        else metrics.mttr(data, freq=freq, include_drills=include_drills, as_of=as_of)
    )
    table = table[table["period"].notna()].sort_values("period")
    ax = _axes(ax)
    alias = pd.PeriodIndex(table["period"]).freqstr if len(table) else period_alias(freq)
    word = _freq_word(alias)
    ci = table.attrs.get("ci", 0.9)
    groups = [c for c in table.columns if c not in _MTTR_COLUMNS]
    if groups:
        # One median line with its band per group (e.g. mttr(by="severity", freq="M")).
        names = table[groups].astype(str).agg(" / ".join, axis=1) if len(table) else pd.Series([], dtype=str)
        for name in _severity_sort(list(dict.fromkeys(names))):
            part = table[(names == name).to_numpy()]
            x = part["period"].dt.to_timestamp(how="start").to_numpy()
            color = color_for(name)
            ax.fill_between(
                x, _hours(part["median_ci_low"]), _hours(part["median_ci_high"]), color=color, alpha=0.15, linewidth=0
            )
            ax.plot(x, _hours(part["median"]), marker="o", color=color, label=f"{name} median")
        ax.set_title(f"Median time to resolve per {word} by {' / '.join(groups)}, with {ci:.0%} CI")
    else:
        x = table["period"].dt.to_timestamp(how="start").to_numpy() if len(table) else np.array([])
        ax.fill_between(
            x,
            _hours(table["median_ci_low"]),
            _hours(table["median_ci_high"]),
            color="#1F60C4",
            alpha=0.18,
            linewidth=0,
            label=f"{ci:.0%} CI of the median",
        )
        ax.plot(x, _hours(table["median"]), marker="o", color="#1F60C4", label="median")
        ax.plot(x, _hours(table["p90"]), marker="s", linestyle="--", color="#8F3BB8", label="p90")
        for when, n in zip(x, table["n"], strict=True):
            ax.annotate(
                f"n={n}",
                (mdates.date2num(when), 0),
                xytext=(0, 3),
                textcoords="offset points",
                xycoords=("data", "axes fraction"),
                ha="center",
                fontsize=8,
                color="#555555",
                gid="n",
            )
        ax.set_title(f"Time to resolve per {word}: median with {ci:.0%} CI, and p90")
    ax.set_ylabel("Time to resolve (hours)")
    note = "" if groups else "; n = resolved incidents"
    ax.set_xlabel(f"{word.capitalize()} of start of impact (UTC){note}")
    ax.set_ylim(bottom=0)
    if len(table):
        _date_axis(ax)
    ax.legend(frameon=False)
    return ax


_MTTR_COLUMNS = {
    "period",
    "n",
    "n_open",
    "n_excluded",
    "mean",
    "median",
    "p90",
    "p95",
    "geometric_mean",
    "median_ci_low",
    "median_ci_high",
}


def compare(result: CompareResult, *, ax: Axes | None = None) -> Axes:
    """The two samples' distributions, and (inset) the bootstrap distribution of the difference.

    The title names the statistic and the two samples; the verdict of `metrics.compare` is its second
    part (the subtitle), so ``ax.get_title()`` is a complete caption.

    >>> compare(metrics.compare(data.incidents, split="2026-03-01"))  # doctest: +SKIP
    """
    ax = _axes(ax, (9, 5))
    a, b = (_hours(sample) for sample in result.samples)
    both = np.concatenate([a, b])
    positive = both[both > 0]
    if len(positive):
        bins: Any = np.geomspace(positive.min(), positive.max() * 1.0001, 30) if positive.min() < positive.max() else 10
        for name, sample, color in zip(result.groups, (a, b), ("#8E8E8E", "#1F60C4"), strict=True):
            label = f"{name} (n={len(sample)})"
            ax.hist(sample, bins=bins, histtype="stepfilled", alpha=0.35, color=color, label=label)
        ax.set_xscale("log")
        for value, color in zip(result.values, ("#555555", "#1F60C4"), strict=True):
            if not pd.isna(value):
                ax.axvline(value.total_seconds() / 3600, color=color, linestyle="--", linewidth=1)
    ax.set_xlabel("Time to resolve (hours, log scale); dashed: the statistic of each sample")
    ax.set_ylabel("Incidents")
    statistic = result.statistic.replace("_", " ")
    title = f"{statistic.capitalize()} time to resolve: {result.groups[0]} vs {result.groups[1]}"
    ax.set_title(title + "\n" + textwrap.fill(result.verdict, 110), fontsize=9)
    ax.legend(frameon=False, loc="upper left")
    if len(result.bootstrap):
        inset = ax.inset_axes((0.62, 0.55, 0.36, 0.38))
        inset.hist(result.bootstrap / 3600, bins=40, color="#1F60C4", alpha=0.7)
        inset.axvline(0, color="#C4162A", linewidth=1)
        for bound in (result.ci_low, result.ci_high):
            inset.axvline(bound.total_seconds() / 3600, color="#555555", linestyle=":", linewidth=1)
        inset.set_title(f"Bootstrap: {result.groups[1]} - {result.groups[0]}", fontsize=8)
        inset.set_xlabel("Difference (hours)", fontsize=7)
        inset.tick_params(labelsize=7)
        inset.set_yticks([])
    return ax


def label_frequency(
    data: pd.DataFrame, *, top: int = 20, incidents: pd.DataFrame | None = None, ax: Axes | None = None
) -> Axes:
    """The most frequent labels as horizontal bars (incidents carrying each), most frequent on top.

    ``data`` is a `metrics.label_stats` frame, or a labels frame (with ``incidents``, label_stats is
    computed; without, distinct incidents per label are counted).

    >>> label_frequency(metrics.label_stats(data.labels, data.incidents), top=15)  # doctest: +SKIP
    """
    if "incidents" in data.columns:
        stats = data
    elif incidents is not None:
        stats = metrics.label_stats(data, incidents)
    else:
        stats = (
            data.drop_duplicates(["incident_id", "key", "value"])
            .groupby(["key", "value"], as_index=False)
            .size()
            .rename(columns={"size": "incidents"})
            .sort_values("incidents", ascending=False, kind="stable")
        )
    shown = stats.head(top).iloc[::-1]
    ax = _axes(ax, (8, max(2.5, 0.32 * len(shown) + 1)))
    names = [metrics.label_name(k, v) for k, v in zip(shown["key"], shown["value"], strict=True)]
    colors = [color_for(k) for k in shown["key"]]
    ax.barh(names, shown["incidents"].to_numpy(), color=colors)
    ax.set_title(f"Most frequent labels (top {min(top, len(stats))} of {len(stats)})")
    ax.set_xlabel("Incidents")
    ax.set_ylabel("Label")
    return ax


def label_cooccurrence(matrix: pd.DataFrame, *, annotate: bool | None = None, ax: Axes | None = None) -> Axes:
    """A heatmap of a `metrics.label_cooccurrence` frame, with a colour bar and (if small) values.

    >>> label_cooccurrence(metrics.label_cooccurrence(data.labels, keys=["team", "tags"]))  # doctest: +SKIP
    """
    size = len(matrix)
    ax = _axes(ax, (max(5, 0.45 * size + 3), max(4, 0.45 * size + 2)))
    metric = matrix.attrs.get("metric", "count")
    values = matrix.to_numpy(dtype=float)
    image = ax.imshow(values, cmap="Blues", aspect="auto")
    ax.set_xticks(range(size), [str(c) for c in matrix.columns], rotation=60, ha="right", fontsize=8)
    ax.set_yticks(range(size), [str(i) for i in matrix.index], fontsize=8)
    ax.figure.colorbar(
        image,
        ax=ax,
        label={"count": "Incidents with both", "jaccard": "Jaccard index", "lift": "Lift (1 = independent)"}.get(
            metric, metric
        ),
    )
    if annotate if annotate is not None else size <= 12:
        for (i, j), value in np.ndenumerate(values):
            text = f"{value:.0f}" if metric == "count" else f"{value:.2f}"
            ax.text(j, i, text, ha="center", va="center", fontsize=7, gid="value")
    ax.set_title(f"Label co-occurrence ({metric})")
    ax.set_xlabel("Label")
    ax.set_ylabel("Label")
    return ax


def workload(data: WorkloadResult | pd.DataFrame, *, top: int = 15, ax: Axes | None = None) -> Axes:
    """Incident time per person, stacked into working, late and sleeping hours (most loaded on top).

    ``data`` is a `metrics.workload` result or its ``per_person`` frame.

    >>> workload(metrics.workload(data.activity, tz="Europe/Berlin"))  # doctest: +SKIP
    """
    table = data.per_person if isinstance(data, WorkloadResult) else data
    tz = data.tz if isinstance(data, WorkloadResult) else None
    shown = table.head(top).iloc[::-1]
    ax = _axes(ax, (8, max(2.5, 0.35 * len(shown) + 1.2)))
    names = [str(n) if not pd.isna(n) else str(u) for n, u in zip(shown["user_name"], shown["user_id"], strict=True)]
    left = np.zeros(len(shown))
    for band in ("working", "late", "sleeping"):
        hours = _hours(shown[band])
        ax.barh(names, hours, left=left, color=BAND_COLORS[band], label=f"{band} hours")
        left += hours
    where = f" ({tz})" if tz else ""
    ax.set_title(f"Time on incidents per person, by time of day{where}")
    ax.set_xlabel("Hours on incidents (10 min per activity item, merged into stretches)")
    ax.set_ylabel("Person")
    ax.legend(frameon=False, loc="lower right")
    return ax


_ROWS = ["Status", "Severity", "Roles", "Labels", "Tasks", "Notes"]
_ROW_KINDS = {
    "incidentStatusChanged": "Status",
    "incidentClosed": "Status",
    "incidentCreated": "Status",
    "incidentSeverityChanged": "Severity",
    "roleAssigned": "Roles",
    "roleUnassigned": "Roles",
    "labelAdded": "Labels",
    "labelRemoved": "Labels",
    "taskAdded": "Tasks",
    "taskUpdated": "Tasks",
    "taskCompleted": "Tasks",
    "userNote": "Notes",
}
_MARKERS = {"Status": "D", "Severity": "o", "Roles": "^", "Labels": "s", "Tasks": "P", "Notes": "."}


def incident_timeline(
    activity: pd.DataFrame,
    incident_id: str,
    *,
    incidents: pd.DataFrame | None = None,
    ax: Axes | None = None,
) -> Axes:
    """One incident on a time axis, for postmortems: status, severity, role, label, task and note items.

    One row per kind of item; severity changes are labelled with the new level and coloured by it,
    status and role changes with their body. With ``incidents``, the title carries the incident's
    title and the start and end of impact are drawn as vertical lines.

    >>> incident_timeline(data.activity, "17", incidents=data.incidents)  # doctest: +SKIP
    """
    metrics_cols = ("incident_id", "activity_kind", "created_time", "body")
    missing = [c for c in metrics_cols if c not in activity.columns]
    if missing:
        raise ValueError(f"incident_timeline: the activity frame is missing column(s) {', '.join(missing)}")
    items = activity[(activity["incident_id"].astype(object) == str(incident_id)).to_numpy()]
    items = items.sort_values("created_time", kind="stable")
    ax = _axes(ax, (10, 4))
    title = f"Incident {incident_id}"
    record = None
    if incidents is not None:
        match = incidents[(incidents["incident_id"].astype(object) == str(incident_id)).to_numpy()]
        if len(match):
            record = match.iloc[0]
            if "title" in match.columns and isinstance(record["title"], str):
                title += f": {record['title']}"
    if items.empty and record is None:
        raise ValueError(f"incident_timeline: no activity for incident {incident_id!r}")
    times = pd.to_datetime(items["created_time"], utc=True).dt.tz_localize(None)
    rows = [_ROW_KINDS.get(kind, "") for kind in items["activity_kind"].astype(object)]
    for row in _ROWS:
        chosen = np.array([r == row for r in rows], dtype=bool)
        if not chosen.any():
            continue
        y = np.full(int(chosen.sum()), _ROWS.index(row))
        colors: str | list[str] = "#1F60C4"
        if row == "Severity":
            colors = [color_for(_new_level(b)) for b in items["body"].to_numpy()[chosen]]
        ax.scatter(times.to_numpy()[chosen], y, marker=_MARKERS[row], c=colors, s=40, zorder=3, label=row)
        if row in ("Status", "Severity", "Roles"):
            for when, body in zip(times.to_numpy()[chosen], items["body"].to_numpy()[chosen], strict=True):
                text = _new_level(body) if row == "Severity" else str(body)
                ax.annotate(
                    textwrap.shorten(str(text), 40),
                    (mdates.date2num(when), _ROWS.index(row)),
                    xytext=(4, -10),
                    textcoords="offset points",
                    fontsize=7,
                    gid="change",
                )
    if record is not None:
        for column, style, name in (("incident_start", "-", "start of impact"), ("incident_end", "--", "end")):
            value = record.get(column)
            if value is not None and not pd.isna(value):
                when = mdates.date2num(pd.Timestamp(value).tz_convert(None))
                ax.axvline(when, color="#555555", linestyle=style, linewidth=1, label=name, gid=column)
    ax.set_yticks(range(len(_ROWS)), _ROWS)
    ax.set_ylim(-0.7, len(_ROWS) - 0.3)
    ax.invert_yaxis()
    _date_axis(ax)
    ax.set_xlabel("Time (UTC)")
    ax.set_title(title + f" - timeline of {len(items)} activity items")
    ax.legend(frameon=False, fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return ax


def _new_level(body: object) -> str:
    text = str(body)
    marker = " to "
    return text.rsplit(marker, 1)[1].strip() if marker in text else text
