"""Kaplan-Meier estimate of time to resolve, with still-open incidents right-censored."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from ._common import Anchors, TimeLike
from ._groups import grouped

__all__ = ["SurvivalResult", "survival"]

CURVE_COLUMNS = ["group", "time", "survival", "ci_low", "ci_high", "at_risk", "events", "censored"]


@dataclass(frozen=True)
class SurvivalResult:
    """What `survival` returns.

    Attributes:
        curve: tidy frame ``group, time, survival, ci_low, ci_high, at_risk, events, censored``: one
            row at time 0 and one per distinct observed duration of each group; ``time`` is a
            ``pd.Timedelta``; ``survival`` is the share of incidents still unresolved after ``time``.
        median: the Kaplan-Meier median TTR (first time the curve is at or below 0.5): a
            ``pd.Timedelta`` without ``by``, else a Series by group; NaT where the curve never
            reaches 0.5 (too many incidents still open).
        median_ci: the times where the lower and upper confidence bands reach 0.5: a ``(low, high)``
            tuple without ``by``, else a frame with ``low`` and ``high`` by group.
        summary: one row per group: ``group, n, events, censored, median, median_ci_low, median_ci_high``.
        groups: the group names, in order (``["all"]`` without ``by``).
        by: the grouping asked for; ``ci``: the confidence level; ``anchors``: rules, ``as_of``, counts.
    """

    curve: pd.DataFrame
    median: pd.Timedelta | pd.Series
    median_ci: tuple[pd.Timedelta, pd.Timedelta] | pd.DataFrame
    summary: pd.DataFrame
    groups: list[str]
    by: list[str]
    ci: float
    anchors: Anchors


def _first_time_at_or_below(times: np.ndarray, values: np.ndarray, level: float = 0.5) -> float:
    hits = np.flatnonzero(values <= level)
    return float(times[hits[0]]) if len(hits) else float("nan")


def _curve(seconds: np.ndarray, events: np.ndarray, ci: float) -> pd.DataFrame:
    """Kaplan-Meier curve of one group by ``scipy.stats.ecdf`` (Greenwood variance, log-log interval)."""
    times, inverse = np.unique(seconds, return_inverse=True)
    n_events = np.bincount(inverse, weights=events, minlength=len(times)).astype(np.int64)
    n_all = np.bincount(inverse, minlength=len(times)).astype(np.int64)
    at_risk = len(seconds) - (np.cumsum(n_all) - n_all)
    survival = np.ones(len(times))
    low, high = np.ones(len(times)), np.ones(len(times))
    if events.any():
        data = stats.CensoredData(uncensored=seconds[events], right=seconds[~events])
        sf = stats.ecdf(data).sf
        with warnings.catch_warnings(), np.errstate(invalid="ignore", divide="ignore"):
            # scipy warns where the interval is undefined (survival 0); lifelines reports 0 there.
            warnings.simplefilter("ignore", RuntimeWarning)
            band = sf.confidence_interval(ci, method="log-log")
            survival = sf.evaluate(times)
            low, high = band.low.evaluate(times), band.high.evaluate(times)
        low = np.where(survival == 0, 0.0, np.nan_to_num(low, nan=0.0))
        high = np.where(survival == 0, 0.0, np.nan_to_num(high, nan=1.0))
    return pd.DataFrame(
        {
            "time": np.concatenate(([0.0], times)),
            "survival": np.concatenate(([1.0], survival)),
            "ci_low": np.concatenate(([1.0], low)),
            "ci_high": np.concatenate(([1.0], high)),
            "at_risk": np.concatenate(([len(seconds)], at_risk)).astype(np.int64),
            "events": np.concatenate(([0], n_events)).astype(np.int64),
            "censored": np.concatenate(([0], n_all - n_events)).astype(np.int64),
        }
    )


def survival(
    incidents: pd.DataFrame,
    *,
    by: str | Sequence[str] | None = None,
    labels: pd.DataFrame | None = None,
    include_drills: bool = False,
    as_of: TimeLike = None,
    ci: float = 0.95,
) -> SurvivalResult:
    """Kaplan-Meier estimate of time to resolve, with still-open incidents right-censored at ``as_of``.

    Definitions: TTR = end - start (start = ``incident_start`` else ``created_time``; end =
    ``incident_end`` else ``closed_time``). A resolved incident is an event at its TTR; a still-open
    one is censored at ``as_of - start`` (it is known to have lasted at least that long), so open
    incidents pull the curve up instead of being dropped. Negative and zero durations and ends
    without a start are left out (data-quality findings, counted in ``anchors.excluded``). Drills are
    excluded unless ``include_drills=True``.

    Computed by ``scipy.stats.ecdf`` on ``scipy.stats.CensoredData``: the product-limit estimator,
    Greenwood's variance and the log-log ("exponential Greenwood") ``ci`` interval, the same as
    ``lifelines.KaplanMeierFitter``. ``by`` works as in `mttr` (a column, a label key joined from
    ``labels``, or a list; an incident with two values of a key is in both groups).

    >>> result = survival(data.incidents, by="severity")  # doctest: +SKIP
    >>> result.median["Critical"], result.curve.head()  # doctest: +SKIP
    """
    if not isinstance(ci, int | float) or not 0 < ci < 1:
        raise ValueError(f"ci must be a confidence level between 0 and 1 (e.g. 0.95), got {ci!r}")
    group = grouped(
        incidents, function="survival", by=by, freq=None, labels=labels, include_drills=include_drills, as_of=as_of
    )
    names = group.group_labels()
    usable = group.usable()
    seconds_all = group.seconds
    resolved_all = group.table["resolved"].to_numpy(dtype=bool)
    codes = group.codes[usable]
    seconds, resolved = seconds_all[usable], resolved_all[usable]
    order = np.argsort(codes, kind="stable")
    codes, seconds, resolved = codes[order], seconds[order], resolved[order]
    bounds = np.searchsorted(codes, np.arange(len(names) + 1))
    curves, rows = [], []
    for index, name in enumerate(names):
        part = slice(bounds[index], bounds[index + 1])
        curve = _curve(seconds[part], resolved[part], ci)
        curve.insert(0, "group", name)
        curves.append(curve)
        times = curve["time"].to_numpy()
        rows.append(
            {
                "group": name,
                "n": int(part.stop - part.start),
                "events": int(resolved[part].sum()),
                "censored": int((~resolved[part]).sum()),
                "median": _first_time_at_or_below(times, curve["survival"].to_numpy()),
                "median_ci_low": _first_time_at_or_below(times, curve["ci_low"].to_numpy()),
                "median_ci_high": _first_time_at_or_below(times, curve["ci_high"].to_numpy()),
            }
        )
    curve_frame = pd.concat(curves, ignore_index=True) if curves else pd.DataFrame(columns=CURVE_COLUMNS)
    curve_frame["time"] = pd.to_timedelta(curve_frame["time"].to_numpy(dtype=float), unit="s")
    curve_frame["group"] = curve_frame["group"].astype(pd.StringDtype("pyarrow"))
    summary = pd.DataFrame(rows)
    for column in ("median", "median_ci_low", "median_ci_high"):
        summary[column] = pd.to_timedelta(summary[column].to_numpy(dtype=float), unit="s")
    summary["group"] = summary["group"].astype(pd.StringDtype("pyarrow"))
    median: pd.Timedelta | pd.Series
    median_ci: tuple[pd.Timedelta, pd.Timedelta] | pd.DataFrame
    if group.names:
        indexed = summary.set_index("group")
        median = indexed["median"]
        median_ci = indexed[["median_ci_low", "median_ci_high"]].rename(
            columns={"median_ci_low": "low", "median_ci_high": "high"}
        )
    else:
        median = summary["median"].iloc[0]
        median_ci = (summary["median_ci_low"].iloc[0], summary["median_ci_high"].iloc[0])
    return SurvivalResult(
        curve=curve_frame[CURVE_COLUMNS],
        median=median,
        median_ci=median_ci,
        summary=summary,
        groups=names,
        by=group.names,
        ci=float(ci),
        anchors=group.anchors,
    )
