"""Time to resolve per incident, its statistics per group (`mttr`), and incident counts per period."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import stats

from ._common import TimeLike, as_list, period_alias, require_columns, resolve_as_of, without_drills
from ._groups import TTR_COLUMNS, Grouped, anchors_of, check_incidents, grouped, relevant, ttr_table

__all__ = ["incident_counts", "mttr", "time_to_resolve"]


def time_to_resolve(incidents: pd.DataFrame, *, as_of: TimeLike = None, include_drills: bool = False) -> pd.DataFrame:
    """Time to resolve (TTR), one row per incident.

    Definitions (docs/design.md, "Metric definitions"):

    * start of impact = ``incident_start``, else ``created_time`` (``start_anchor`` names the column used);
    * end = ``incident_end``, else ``closed_time`` (``end_anchor``); an incident is ``resolved`` when it
      has an end;
    * ``duration`` = end - start for resolved incidents; a still-open incident gets
      ``as_of - start`` and ``resolved=False`` (it is right-censored at ``as_of``, never dropped);
    * data-quality flags: ``negative`` (duration < 0, e.g. an end edited before the start), ``zero``
      (duration exactly 0) and ``end_without_start`` (an end but neither start column). Statistics
      leave these rows out and report them; they are never averaged in.
    * drills (``is_drill``) are excluded unless ``include_drills=True``; ``as_of`` defaults to now (UTC).

    Columns: ``incident_id, start, end, duration, resolved, start_anchor, end_anchor, negative, zero,
    end_without_start``. ``result.attrs["anchors"]`` holds the rules, ``as_of`` and counts per anchor.

    >>> ttr = time_to_resolve(data.incidents, as_of="2026-03-01")  # doctest: +SKIP
    >>> ttr.loc[ttr["resolved"], "duration"].median()  # doctest: +SKIP
    """
    check_incidents(incidents, "time_to_resolve", include_drills)
    stamp = resolve_as_of(as_of)
    table = ttr_table(without_drills(relevant(incidents), include_drills), stamp).reset_index(drop=True)
    table = table[TTR_COLUMNS]
    table.attrs["anchors"] = anchors_of(table, stamp, include_drills).as_dict()
    return table


def _quantiles(x: np.ndarray, offsets: np.ndarray, n: np.ndarray, q: float) -> np.ndarray:
    """Linear-interpolation quantile (numpy's default) of each sorted group slice."""
    out = np.full(len(n), np.nan)
    ok = n > 0
    pos = offsets[ok] + q * (n[ok] - 1)
    lo = np.floor(pos).astype(np.int64)
    hi = np.ceil(pos).astype(np.int64)
    out[ok] = x[lo] + (x[hi] - x[lo]) * (pos - lo)
    return out


def _order_statistic_quantile(
    x: np.ndarray, offsets: np.ndarray, n: np.ndarray, k: np.ndarray, level: float
) -> np.ndarray:
    # P(k-th smallest of a resample <= x_(j)) = P(Binomial(n, j/n) >= k) = BetaCDF(j/n; k, n-k+1).
    p = stats.beta.ppf(level, k, n - k + 1)
    j = np.clip(np.ceil(n * p - 1e-9), 1, n).astype(np.int64)
    return np.asarray(x[offsets + j - 1], dtype=float)


def median_ci(x: np.ndarray, offsets: np.ndarray, n: np.ndarray, ci: float) -> tuple[np.ndarray, np.ndarray]:
    """Exact bootstrap percentile interval of the median of each sorted group slice.

    The bootstrap distribution of a sample median is known in closed form (the k-th smallest of a
    resample is at most x_(j) exactly when Binomial(n, j/n) >= k), so the interval is the one
    infinitely many resamples would give: no Monte-Carlo noise, the same numbers on every run. For
    even n the median averages ranks n/2 and n/2 + 1; the bounds average theirs.
    """
    low, high = np.full(len(n), np.nan), np.full(len(n), np.nan)
    ok = n > 0
    if not ok.any():
        return low, high
    xs, off, m = x, offsets[ok], n[ok]
    ka = np.where(m % 2 == 1, (m + 1) // 2, m // 2)
    kb = np.where(m % 2 == 1, (m + 1) // 2, m // 2 + 1)
    tail = (1 - ci) / 2
    low[ok] = (_order_statistic_quantile(xs, off, m, ka, tail) + _order_statistic_quantile(xs, off, m, kb, tail)) / 2
    high[ok] = (
        _order_statistic_quantile(xs, off, m, ka, 1 - tail) + _order_statistic_quantile(xs, off, m, kb, 1 - tail)
    ) / 2
    return low, high


def _check_ci(ci: float, name: str = "ci") -> float:
    if not isinstance(ci, int | float) or not 0 < ci < 1:
        raise ValueError(f"{name} must be a confidence level between 0 and 1 (e.g. 0.9), got {ci!r}")
    return float(ci)


def _td(seconds: np.ndarray) -> pd.Series:
    return pd.Series(pd.to_timedelta(np.round(seconds * 1e9).astype("float64"), unit="ns"))


def summarise(group: Grouped, ci: float) -> pd.DataFrame:
    """`mttr` columns for every group of ``group``."""
    n_groups = len(group.keys)
    resolved = group.table["resolved"].to_numpy(dtype=bool)
    usable = group.usable()
    codes = group.codes
    take = resolved & usable
    seconds = group.seconds[take]
    cs = codes[take]
    # Durations ascending within each group: a value sort, then a stable (radix) sort on the codes.
    order = np.argsort(seconds, kind="stable")
    order = order[np.argsort(cs[order], kind="stable")]
    x, cs = seconds[order], cs[order]
    n = np.bincount(cs, minlength=n_groups).astype(np.int64)
    offsets = np.concatenate(([0], np.cumsum(n)[:-1])).astype(np.int64)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.bincount(cs, weights=x, minlength=n_groups) / n
        geometric = np.exp(np.bincount(cs, weights=np.log(x), minlength=n_groups) / n)
    low, high = median_ci(x, offsets, n, ci)
    columns: dict[str, object] = {
        "n": n,
        "n_open": np.bincount(codes[~resolved & usable], minlength=n_groups).astype(np.int64),
        "n_excluded": np.bincount(codes[~usable], minlength=n_groups).astype(np.int64),
        "mean": _td(mean),
        "median": _td(_quantiles(x, offsets, n, 0.5)),
        "p90": _td(_quantiles(x, offsets, n, 0.9)),
        "p95": _td(_quantiles(x, offsets, n, 0.95)),
        "geometric_mean": _td(geometric),
        "median_ci_low": _td(low),
        "median_ci_high": _td(high),
    }
    out = pd.concat([group.keys.reset_index(drop=True), pd.DataFrame(columns)], axis=1)
    out.attrs["anchors"] = group.anchors.as_dict()
    out.attrs["ci"] = ci
    return out


def mttr(
    incidents: pd.DataFrame,
    *,
    by: str | Sequence[str] | None = None,
    freq: str | None = None,
    labels: pd.DataFrame | None = None,
    include_drills: bool = False,
    as_of: TimeLike = None,
    ci: float = 0.9,
) -> pd.DataFrame:
    """Time-to-resolve statistics per group: one row per group (one row in all without ``by``/``freq``).

    Columns: the group columns (``by`` names, then ``period``), then

    * ``n``: resolved incidents with a positive duration, the sample behind every statistic;
    * ``n_open``: still-open incidents (right-censored at ``as_of``; see `survival` for a curve that
      uses them); ``n_excluded``: rows left out as data-quality findings (negative or zero duration,
      end without start);
    * ``mean``, ``median``, ``p90``, ``p95`` (linear interpolation, numpy's default) and
      ``geometric_mean`` (exp of the mean log duration: durations are roughly lognormal, and it is
      the tightest estimator at large n, per Davidovič 2021), all ``pd.Timedelta``;
    * ``median_ci_low``, ``median_ci_high``: a ``ci`` (default 90%) bootstrap percentile interval of the
      median, computed exactly (the bootstrap distribution of a median follows from the binomial),
      so results repeat exactly without a seed; NaT for an empty group, the value itself for n = 1.

    TTR = end - start with start = ``incident_start`` else ``created_time`` and end = ``incident_end``
    else ``closed_time``; drills are excluded unless ``include_drills=True``.

    ``by`` is a column of ``incidents``, a label key (its values joined from ``labels``; incidents
    without the key form a missing-value group, and **an incident with two values of that key counts
    in both groups**), or a list of them. ``freq`` ("M", "Q", "W", "MS", "QS", …) buckets by the
    period of the incident's start (UTC) into a ``period`` column. ``result.attrs["anchors"]`` holds
    the rules and ``as_of``.

    >>> mttr(data.incidents, by="severity", freq="MS")  # doctest: +SKIP
    >>> mttr(data.incidents, by="team", labels=data.labels)  # doctest: +SKIP
    """
    ci = _check_ci(ci)
    group = grouped(
        incidents, function="mttr", by=by, freq=freq, labels=labels, include_drills=include_drills, as_of=as_of
    )
    return summarise(group, ci)


def incident_counts(
    incidents: pd.DataFrame,
    *,
    freq: str = "M",
    by: str | Sequence[str] | None = None,
    include_drills: bool = False,
) -> pd.DataFrame:
    """Incidents per period of their start of impact (``incident_start``, else ``created_time``), UTC.

    Every period from the first to the last is listed, and for ``by`` every group in every period,
    with 0 where nothing happened (zero-filled). Columns: ``period`` (pandas Period), the ``by``
    columns (missing values kept as their own group), ``incidents``. Incidents without any start
    time are not counted. Drills are excluded unless ``include_drills=True``.

    >>> incident_counts(data.incidents, freq="W", by="severity")  # doctest: +SKIP
    """
    names = as_list(by)
    require_columns(
        incidents,
        ["incident_id", "created_time", "incident_start", *names] + ([] if include_drills else ["is_drill"]),
        frame_name="incidents",
        function="incident_counts",
    )
    alias = period_alias(freq)
    kept = without_drills(incidents, include_drills)
    start = kept["incident_start"].where(kept["incident_start"].notna(), kept["created_time"])
    start = pd.to_datetime(start, utc=True)
    frame = pd.DataFrame({name: kept[name].to_numpy() for name in names}, index=kept.index)
    frame["period"] = start.dt.tz_localize(None).dt.to_period(alias)
    frame = frame[frame["period"].notna()]
    if frame.empty:
        return pd.DataFrame(
            {"period": pd.PeriodIndex([], freq=alias), **{n: kept[n].iloc[:0] for n in names}, "incidents": []}
        ).astype({"incidents": "int64"})
    periods = pd.period_range(frame["period"].min(), frame["period"].max(), freq=alias)
    counts = frame.groupby(["period", *names], dropna=False, observed=True).size()
    full: pd.Index
    if names:
        groups = frame[names].drop_duplicates().sort_values(names, na_position="last")
        full = pd.MultiIndex.from_frame(
            pd.DataFrame({"period": np.repeat(periods, len(groups))}).join(
                pd.DataFrame(np.tile(groups.to_numpy(), (len(periods), 1)), columns=names)
            )
        )
    else:
        full = pd.Index(periods, name="period")
    result = counts.reindex(full, fill_value=0).rename("incidents").reset_index()
    for name in names:
        result[name] = result[name].astype(kept[name].dtype)
    result["incidents"] = result["incidents"].astype("int64")
    return result
