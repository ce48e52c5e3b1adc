"""Is a change in time to resolve real? Bootstrap, permutation test, detectable change, verdict."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import special, stats

from ._common import Anchors, TimeLike, format_duration
from ._groups import Grouped, grouped, label_column

__all__ = ["STATISTICS", "CompareResult", "compare"]

STATISTICS = ("median", "mean", "geometric_mean", "p90")
_NAMES = {
    "median": "Median time to resolve",
    "mean": "Mean time to resolve",
    "geometric_mean": "Geometric-mean time to resolve",
    "p90": "90th-percentile time to resolve",
}
_CHUNK_CELLS = 8_000_000  # resampled cells held at once (8 MB of mask, 64 MB of positions)
_POWER = 0.8
_ALPHA = 0.05


@dataclass(frozen=True)
class CompareResult:
    """What `compare` returns: sample A ("before" / the first value) against sample B.

    Attributes:
        statistic: "median", "mean", "geometric_mean" or "p90".
        groups: the two sample names, e.g. ``("before", "after")`` or ``("eu", "us")``.
        n: incidents in each sample (resolved, positive duration); ``n_open``: still-open ones left out.
        values: the statistic of each sample (``pd.Timedelta``).
        difference: B - A (``pd.Timedelta``); ``relative_difference``: B / A - 1 (-0.12 = fell 12%).
        ci_low, ci_high: bootstrap percentile interval (level ``ci``) of ``difference``;
            ``relative_ci``: the same interval of ``relative_difference``.
        p_value: two-sided permutation-test p-value of the log ratio B / A.
        significant: ``p_value < alpha``.
        min_detectable_change: the smallest relative change (in the observed direction: a fall for a
            fall) that the test would detect in 80% of cases at these sample sizes (NaN if none).
        verdict: one plain sentence.
        samples: the two samples' durations (``pd.Timedelta`` Series), for plots.
        bootstrap: the bootstrap differences B - A in seconds (for plots); ``null``: the permutation
            log ratios.
        by_group: with ``by``, a `CompareResult` per group; anchors: rules, ``as_of``, counts.
    """

    statistic: str
    groups: tuple[str, str]
    n: tuple[int, int]
    n_open: tuple[int, int]
    values: tuple[pd.Timedelta, pd.Timedelta]
    difference: pd.Timedelta
    relative_difference: float
    ci_low: pd.Timedelta
    ci_high: pd.Timedelta
    relative_ci: tuple[float, float]
    p_value: float
    significant: bool
    min_detectable_change: float
    verdict: str
    ci: float
    alpha: float
    n_resamples: int
    seed: int
    samples: tuple[pd.Series, pd.Series]
    bootstrap: np.ndarray
    null: np.ndarray
    anchors: Anchors
    split: Any = None
    by_group: dict[str, CompareResult] = field(default_factory=dict)

    def __repr__(self) -> str:
        return f"CompareResult({self.statistic}: {self.verdict})"


def _rank_weight(n: int, statistic: str) -> tuple[int, float]:
    """1-based rank k and weight w with quantile = x_(k) + w (x_(k+1) - x_(k)) (numpy's linear rule)."""
    position = (0.5 if statistic == "median" else 0.9) * (n - 1)
    k = int(np.floor(position))
    return k + 1, float(position - k)


def _statistic(sorted_values: np.ndarray, statistic: str) -> float:
    """The statistic of one sample, in seconds (``sorted_values`` ascending)."""
    if statistic == "mean":
        return float(np.mean(sorted_values))
    if statistic == "geometric_mean":
        return float(np.exp(np.mean(np.log(sorted_values))))
    return float(np.quantile(sorted_values, 0.5 if statistic == "median" else 0.9))


def _bootstrap_order_statistic(x: np.ndarray, statistic: str, size: int, rng: np.random.Generator) -> np.ndarray:
    """``size`` draws of a bootstrap quantile of sorted ``x``, sampled exactly without resampling arrays.

    In a resample of n indices, F(j) = #indices <= j is Binomial(n, j/n); the k-th smallest value is
    x_(J) with P(J <= j) = P(F(j) >= k) = I_{j/n}(k, n-k+1), drawn by inverting that CDF. The (k+1)-th
    is the same index unless F(J) = k exactly (probability from two binomial terms), when it is J plus
    the smallest of the n-k draws above J, each uniform on J+1..n.
    """
    n = len(x)
    k, w = _rank_weight(n, statistic)
    j_all = np.arange(1, n + 1)
    cdf = special.betainc(k, n - k + 1, j_all / n)
    cdf[-1] = 1.0
    j = np.minimum(np.searchsorted(cdf, rng.random(size), side="left") + 1, n)
    if w == 0 or k == n:
        return np.asarray(x[j - 1])
    previous = np.where(j > 1, cdf[np.maximum(j - 2, 0)], 0.0)
    p_j = cdf[j - 1] - previous
    stays = (n - j) / (n - j + 1)
    exactly_k = stats.binom.pmf(k, n, j / n) - stats.binom.pmf(k, n, (j - 1) / n) * stays ** (n - k)
    ratio = np.clip(np.divide(exactly_k, p_j, out=np.zeros_like(p_j), where=p_j > 0), 0, 1)
    above = np.maximum(n - j, 1)
    step = np.ceil(above * -np.expm1(np.log1p(-rng.random(size)) / (n - k)))
    nxt = np.where(rng.random(size) < ratio, np.minimum(j + np.clip(step, 1, above).astype(np.int64), n), j)
    return np.asarray(x[j - 1] + w * (x[nxt - 1] - x[j - 1]))


def _bootstrap(x: np.ndarray, statistic: str, n_resamples: int, rng: np.random.Generator) -> np.ndarray:
    """The statistic of ``n_resamples`` bootstrap resamples of sorted ``x`` (seconds)."""
    if statistic in ("median", "p90"):
        return _bootstrap_order_statistic(x, statistic, n_resamples, rng)
    values = np.log(x) if statistic == "geometric_mean" else x
    out = []
    for rows in _chunks(n_resamples, len(x)):
        kind = np.uint16 if len(x) <= np.iinfo(np.uint16).max else np.int64
        out.append(values[rng.integers(0, len(x), size=(rows, len(x)), dtype=kind)].mean(axis=1))
    means = np.concatenate(out)
    return np.exp(means) if statistic == "geometric_mean" else means


def _chunks(total: int, width: int) -> list[int]:
    size = max(1, _CHUNK_CELLS // max(width, 1))
    return [min(size, total - start) for start in range(0, total, size)]


def _random_subsets(rows: int, pooled: int, size: int, rng: np.random.Generator) -> np.ndarray:
    """A (rows, pooled) boolean mask, each row a uniformly random subset of ``size`` positions.

    Each cell is first drawn independently (a mask with c ones is, given c, a uniform c-subset);
    then each row gains or loses uniformly chosen members one at a time until it has ``size``,
    which keeps it uniform. That costs one random byte per cell instead of a shuffle.
    """
    threshold = round(256 * size / pooled)
    cells = rows * pooled
    raw = rng.bit_generator.random_raw((cells + 7) // 8).view(np.uint8)[:cells]
    mask = (raw < threshold).reshape(rows, pooled)
    excess = mask.sum(axis=1, dtype=np.int64) - size
    while True:
        todo = np.flatnonzero(excess)
        if not len(todo):
            return mask
        where = rng.integers(0, pooled, size=len(todo))
        current = mask[todo, where]
        drop = (excess[todo] > 0) & current
        add = (excess[todo] < 0) & ~current
        change = drop | add
        mask[todo[change], where[change]] = add[change]
        excess[todo[drop]] -= 1
        excess[todo[add]] += 1


def _permutations(z: np.ndarray, n_a: int, statistic: str, n_resamples: int, rng: np.random.Generator) -> np.ndarray:
    """log(stat B / stat A) for ``n_resamples`` random relabellings of the sorted pooled sample ``z``.

    The positions of a row's members, in order, come from one ``flatnonzero`` of the mask; as ``z`` is
    sorted, a sample's k-th smallest value is ``z`` at its k-th position, so no values are sorted.
    """
    total = len(z)
    n_b = total - n_a
    values = np.log(z) if statistic == "geometric_mean" else z
    out = []
    for rows in _chunks(n_resamples, total):
        mask = _random_subsets(rows, total, n_a, rng)
        starts = (np.arange(rows, dtype=np.int64) * total)[:, None]
        in_a = np.flatnonzero(mask).reshape(rows, n_a) - starts
        if statistic in ("mean", "geometric_mean"):
            sum_a = values[in_a].sum(axis=1)
            mean_a, mean_b = sum_a / n_a, (values.sum() - sum_a) / n_b
            out.append(mean_b - mean_a if statistic == "geometric_mean" else np.log(mean_b) - np.log(mean_a))
            continue
        in_b = np.flatnonzero(~mask).reshape(rows, n_b) - starts
        out.append(np.log(_sample_quantile(z, in_b, statistic)) - np.log(_sample_quantile(z, in_a, statistic)))
    return np.concatenate(out)


def _sample_quantile(z: np.ndarray, positions: np.ndarray, statistic: str) -> np.ndarray:
    """The quantile of each row's sample, given its members' ascending positions in sorted ``z``."""
    k, w = _rank_weight(positions.shape[1], statistic)
    first = z[positions[:, k - 1]]
    if w == 0 or k == positions.shape[1]:
        return np.asarray(first)
    return np.asarray(first + w * (z[positions[:, k]] - first))


def _detectable(null: np.ndarray, alpha: float, direction: int) -> float:
    """Smallest relative change detected in 80% of simulated splits of the pooled data.

    Every statistic here scales with the data, so multiplying sample B by ``f`` shifts each
    simulated log ratio by ``log f``; the test detects it when the shifted ratio passes the
    permutation critical value. Power rises with ``|log f|``, so a bisection finds the threshold.
    """
    if len(null) == 0:
        return float("nan")
    critical = float(np.quantile(np.abs(null), 1 - alpha))

    def power(shift: float) -> float:
        return float(np.mean(np.abs(null + shift) > critical))

    lo, hi = 0.0, 1.0
    while power(direction * hi) < _POWER:
        hi *= 2
        if hi > 50:
            return float("nan")
    for _ in range(60):
        mid = (lo + hi) / 2
        lo, hi = (lo, mid) if power(direction * mid) >= _POWER else (mid, hi)
    return float(np.expm1(hi)) if direction > 0 else float(-np.expm1(-hi))


def _percent(value: float) -> str:
    return f"{abs(value) * 100:.0f}%"


def _chance(p: float, n_resamples: int) -> str:
    floor = 1 / (n_resamples + 1)
    if p <= floor * 1.0001:
        return f"in fewer than {max(floor * 100, 0.01):.2g}% of random splits"
    return f"{p * 100:.0f}% of the time" if p >= 0.01 else f"{p * 100:.1g}% of the time"


def _verdict(
    statistic: str,
    groups: tuple[str, str],
    n: tuple[int, int],
    values: tuple[float, float],
    relative: float,
    p: float,
    significant: bool,
    mdc: float,
    n_resamples: int,
) -> str:
    name = _NAMES[statistic]
    if min(n) < 2:
        return (
            f"Too few incidents to compare: {n[0]} in {groups[0]} and {n[1]} in {groups[1]} "
            "(at least 2 resolved incidents are needed on each side)."
        )
    a, b = (format_duration(pd.Timedelta(seconds=v)) for v in values)
    if relative == 0:
        movement = f"{name} did not change ({a} → {b})"
    else:
        movement = f"{name} {'fell' if relative < 0 else 'rose'} {_percent(relative)} ({a} → {b})"
    sizes = f"with {n[0]} and {n[1]} incidents"
    if significant:
        return (
            f"{movement}; {sizes} a change this size appears by chance {_chance(p, n_resamples)}, "
            f"so it is unlikely to be noise."
        )
    better = "improvement" if relative < 0 else "a slowdown" if relative > 0 else "a change"
    limit = (
        f" Only changes above {_percent(mdc)} could be told apart."
        if np.isfinite(mdc)
        else " No change of any size could be told apart at these sample sizes."
    )
    return (
        f"{movement}, but {sizes} a change this size appears by chance {_chance(p, n_resamples)}; "
        f"this is not evidence of {better}.{limit}"
    )


def _samples(
    group: Grouped, split: Any, function: str, labels: pd.DataFrame | None
) -> tuple[tuple[str, str], np.ndarray]:
    """Which rows of ``group.table`` fall in sample A (0) and B (1), -1 for neither."""
    table = group.table
    if isinstance(split, str) and (split in table.columns or (labels is not None and split in set(labels["key"]))):
        if split not in table.columns:
            joined = table.merge(label_column(labels, split, function), on="incident_id", how="left")  # type: ignore[arg-type]
            raise_if_multi = joined.duplicated(subset=["incident_id"]).any()
            if raise_if_multi:
                raise ValueError(f"{function}: some incidents carry two values of label key {split!r}; split needs one")
            values = joined[split]
        else:
            values = table[split]
        distinct = sorted(str(v) for v in pd.unique(values.dropna()))
        if len(distinct) != 2:
            raise ValueError(
                f"{function}: split={split!r} must have exactly two values, found {len(distinct)}: "
                + ", ".join(map(repr, distinct[:10]))
            )
        text = values.astype(object).where(values.notna(), None).to_numpy()
        side = np.where(text == distinct[0], 0, np.where(text == distinct[1], 1, -1))
        return (distinct[0], distinct[1]), side
    try:
        when = pd.Timestamp(split)
    except (TypeError, ValueError) as exc:
        raise ValueError(
            f"{function}: split={split!r} is neither a time nor a column or label key of the data"
        ) from exc
    if pd.isna(when):
        raise ValueError(f"{function}: split must be a time, a column or a label key, got {split!r}")
    when = when.tz_localize("UTC") if when.tzinfo is None else when.tz_convert("UTC")
    start = table["start"]
    side = np.where(start.isna().to_numpy(), -1, np.where((start < when).to_numpy(), 0, 1))
    return ("before", "after"), side


def _one(
    table: pd.DataFrame,
    usable: np.ndarray,
    side: np.ndarray,
    groups: tuple[str, str],
    *,
    statistic: str,
    n_resamples: int,
    seed: int,
    ci: float,
    alpha: float,
    anchors: Anchors,
    split: Any,
) -> CompareResult:
    resolved = table["resolved"].to_numpy(dtype=bool)
    seconds = table["duration"].dt.total_seconds().to_numpy(dtype=float, na_value=np.nan)
    take = resolved & usable
    a_sec, b_sec = seconds[take & (side == 0)], seconds[take & (side == 1)]
    n = (len(a_sec), len(b_sec))
    n_open = (int((~resolved & usable & (side == 0)).sum()), int((~resolved & usable & (side == 1)).sum()))
    rng = np.random.default_rng(seed)
    a_sec, b_sec = np.sort(a_sec), np.sort(b_sec)
    nan = float("nan")
    va = _statistic(a_sec, statistic) if n[0] else nan
    vb = _statistic(b_sec, statistic) if n[1] else nan
    boot = null = np.array([])
    p = mdc = nan
    ci_pair, rel_ci = (nan, nan), (nan, nan)
    if min(n) >= 2:
        boot_a = _bootstrap(a_sec, statistic, n_resamples, rng)
        boot_b = _bootstrap(b_sec, statistic, n_resamples, rng)
        boot = boot_b - boot_a
        tail = (1 - ci) / 2
        ci_pair = (float(np.quantile(boot, tail)), float(np.quantile(boot, 1 - tail)))
        ratios = boot_b / boot_a - 1
        rel_ci = (float(np.quantile(ratios, tail)), float(np.quantile(ratios, 1 - tail)))
        null = _permutations(np.sort(np.concatenate([a_sec, b_sec])), n[0], statistic, n_resamples, rng)
        observed = np.log(vb) - np.log(va)
        p = float((1 + np.sum(np.abs(null) >= abs(observed) - 1e-12)) / (len(null) + 1))
        mdc = _detectable(null, alpha, -1 if vb < va else 1)
    relative = vb / va - 1 if va and np.isfinite(va) else nan
    significant = bool(p < alpha)
    verdict = _verdict(statistic, groups, n, (va, vb), relative, p, significant, mdc, n_resamples)

    def td(value: float) -> pd.Timedelta:
        return pd.Timedelta(round(value * 1e9), unit="ns") if np.isfinite(value) else pd.Timedelta("NaT")

    return CompareResult(
        statistic=statistic,
        groups=groups,
        n=n,
        n_open=n_open,
        values=(td(va), td(vb)),
        difference=td(vb - va),
        relative_difference=float(relative),
        ci_low=td(ci_pair[0]),
        ci_high=td(ci_pair[1]),
        relative_ci=rel_ci,
        p_value=p,
        significant=significant,
        min_detectable_change=mdc,
        verdict=verdict,
        ci=ci,
        alpha=alpha,
        n_resamples=n_resamples,
        seed=seed,
        samples=(pd.Series(pd.to_timedelta(a_sec, unit="s")), pd.Series(pd.to_timedelta(b_sec, unit="s"))),
        bootstrap=boot,
        null=null,
        anchors=anchors,
        split=split,
    )


def compare(
    incidents: pd.DataFrame,
    *,
    split: Any,
    by: str | Sequence[str] | None = None,
    labels: pd.DataFrame | None = None,
    statistic: str = "median",
    include_drills: bool = False,
    as_of: TimeLike = None,
    n_resamples: int = 10_000,
    seed: int = 0,
    ci: float = 0.95,
    alpha: float = _ALPHA,
) -> CompareResult:
    """Did time to resolve really change? Compares two samples of resolved incidents.

    ``split`` is a time (incidents starting before it against those starting at or after it: groups
    "before" and "after"), or a column of ``incidents`` / a label key (joined from ``labels``) with
    exactly two values (A = the first in sorted order). TTR as in `time_to_resolve`; the samples are
    resolved incidents with a positive duration (open ones are counted in ``n_open`` and left out;
    drills excluded unless ``include_drills=True``). ``statistic``: "median", "mean",
    "geometric_mean" or "p90".

    Rules (all resampling vectorised with numpy, from ``numpy.random.default_rng(seed)``, so results
    repeat):

    * ``difference`` = stat(B) - stat(A), ``relative_difference`` = stat(B) / stat(A) - 1;
    * bootstrap: each sample resampled with replacement ``n_resamples`` times; the ``ci`` percentile
      interval of the difference (``ci_low``, ``ci_high``) and of the relative difference;
    * permutation test: the pooled durations are randomly relabelled into samples of the same sizes
      ``n_resamples`` times; ``p_value`` = (1 + #|log ratio| ≥ observed) / (1 + n_resamples), two-sided;
      ``significant`` when ``p_value < alpha`` (0.05);
    * ``min_detectable_change``: simulated on the pooled data as Davidovič (*Incident Metrics in SRE*,
      2021) does: the relative change that, applied to sample B of a random split, the test detects in
      80% of the splits;
    * ``verdict``: one sentence, e.g. "Median time to resolve fell 12% (2.1 h → 1.8 h), but with 80
      and 75 incidents a change this size appears by chance 31% of the time; this is not evidence of
      improvement. Only changes above 45% could be told apart."

    With ``by`` (a column, label key or list, as in `mttr`), ``result.by_group`` holds the same
    comparison within each group; the top-level numbers are for all incidents together.

    >>> result = compare(data.incidents, split="2026-03-01")  # doctest: +SKIP
    >>> print(result.verdict)  # doctest: +SKIP
    """
    if statistic not in STATISTICS:
        raise ValueError(f"statistic must be one of {', '.join(STATISTICS)}; got {statistic!r}")
    if not isinstance(n_resamples, int) or n_resamples < 100:
        raise ValueError(f"n_resamples must be an integer of at least 100, got {n_resamples!r}")
    if not 0 < ci < 1:
        raise ValueError(f"ci must be between 0 and 1, got {ci!r}")
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be between 0 and 1, got {alpha!r}")
    group = grouped(
        incidents,
        function="compare",
        by=by,
        freq=None,
        labels=labels,
        include_drills=include_drills,
        as_of=as_of,
        carry=[split] if isinstance(split, str) else [],
    )
    groups, side = _samples(group, split, "compare", labels)
    usable = group.usable()
    options: dict[str, Any] = dict(
        statistic=statistic,
        n_resamples=n_resamples,
        seed=seed,
        ci=float(ci),
        alpha=float(alpha),
        anchors=group.anchors,
        split=split,
    )
    if not group.names:
        return _one(group.table, usable, side, groups, **options)
    # Overall: each incident once (label-key grouping may have repeated it).
    first = ~group.table["incident_id"].duplicated().to_numpy()
    overall = _one(group.table[first].reset_index(drop=True), usable[first], side[first], groups, **options)
    per_group = {}
    for code, name in enumerate(group.group_labels()):
        rows = group.codes == code
        per_group[name] = _one(group.table[rows].reset_index(drop=True), usable[rows], side[rows], groups, **options)
    return CompareResult(**{**overall.__dict__, "by_group": per_group})
