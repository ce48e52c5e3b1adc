"""Metrics at scale: time and peak memory of mttr, survival and label_stats (10k/100k/1M incidents), and compare.

Run:  python benchmarks/bench_metrics.py [--sizes 10000,100000,1000000] [--repeats 1] [--skip-compare]

Each (function, size, variant) runs in a fresh process that first builds seeded synthetic frames (with
the schemas of ``incident_analytics.frames``: Arrow strings, UTC times; ~2.6 labels per incident, 3% of
incidents open, 2% drills) and then times the call; memory is the peak RSS during the call (the kernel's
peak counter is reset after the data is built), with the RSS before the call beside it. Variants run
interleaved, and each is set against a baseline measured in the same run, what a competent pandas
user would write for the same answer:

* ``mttr(by="severity", freq="M")``: ``groupby([severity, month]).agg(mean, median, p90, p95)`` of the
  resolved durations (no confidence interval, no censoring counts, no geometric mean);
* ``survival(by="severity")``: ``lifelines.KaplanMeierFitter`` fitted per severity;
* ``label_stats``: a merge of labels with durations and a ``groupby([key, value])`` aggregation;
* ``compare`` (2 x 5,000 incidents, 10,000 resamples): ``scipy.stats.bootstrap`` (percentile) of the
  difference of medians plus ``scipy.stats.permutation_test``, both vectorised.

Growth is the time ratio 1M / 100k (10 = linear). CPU time (``process_time``) is printed beside wall
time because on a shared machine the wall clock also measures the neighbours. Prints one table.
"""

from __future__ import annotations

import argparse
import gc
import json
import resource
import subprocess
import sys
import time
from typing import Any

import numpy as np
import pandas as pd

STRING = pd.StringDtype("pyarrow")
SEVERITIES = np.array(["Critical", "Major", "Minor", "Pending"])
MEDIAN_MINUTES = np.array([40.0, 90.0, 180.0, 30.0])
TEAMS = np.array(["payments", "platform", "identity", "search", "data"])
REGIONS = np.array(["eu-west", "us-east", "ap-south", "us-west"])
TAGS = np.array(["security", "database", "customer-facing", "network", "follow-up", "PIR not needed", "flaky", "cdn"])


def synthetic(n: int, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Incidents and labels frames with realistic shapes (lognormal durations by severity)."""
    from incident_analytics import frames

    rng = np.random.default_rng(seed)
    severity = rng.choice(4, size=n, p=[0.1, 0.3, 0.46, 0.14])
    origin = pd.Timestamp("2023-01-01", tz="UTC").value
    created = origin + (rng.uniform(0, 3 * 365 * 86400, n) * 1e9).astype(np.int64)
    early = rng.random(n) < 0.1
    start = np.where(early, created - (rng.uniform(60, 3600, n) * 1e9).astype(np.int64), created)
    duration = (rng.lognormal(np.log(MEDIAN_MINUTES[severity] * 60), 1.1) * 1e9).astype(np.int64)
    end = start + duration
    open_ = rng.random(n) < 0.03
    ids = pd.array(np.arange(1, n + 1).astype(str), dtype=STRING)

    def times(values: np.ndarray, missing: np.ndarray | None = None) -> pd.Series:
        series = pd.Series(pd.to_datetime(values, unit="ns", utc=True))
        return series.where(~missing) if missing is not None else series

    incidents = pd.DataFrame(
        {
            "incident_id": ids,
            "status": pd.array(np.where(open_, "active", "resolved"), dtype=STRING),
            "severity": pd.array(SEVERITIES[severity], dtype=STRING),
            "is_drill": pd.array(rng.random(n) < 0.02, dtype="boolean"),
            "created_time": times(created),
            "closed_time": times(end + 30_000_000_000, open_),
            "incident_start": times(start),
            "incident_end": times(end, open_),
        }
    )
    schema = frames.SCHEMAS["incidents"]
    incidents = incidents.reindex(columns=list(schema)).astype(schema)
    # Labels: a team on 90%, a region on 70%, 0-2 tags.
    parts = []
    has_team = rng.random(n) < 0.9
    parts.append((np.flatnonzero(has_team), "team", TEAMS[rng.integers(0, len(TEAMS), int(has_team.sum()))]))
    has_region = rng.random(n) < 0.7
    parts.append((np.flatnonzero(has_region), "region", REGIONS[rng.integers(0, len(REGIONS), int(has_region.sum()))]))
    for _ in range(2):
        tagged = rng.random(n) < 0.5
        parts.append((np.flatnonzero(tagged), "tags", TAGS[rng.integers(0, len(TAGS), int(tagged.sum()))]))
    rows = np.concatenate([p[0] for p in parts])
    labels = pd.DataFrame(
        {
            "incident_id": pd.array((rows + 1).astype(str), dtype=STRING),
            "key": pd.array(np.concatenate([np.full(len(p[0]), p[1]) for p in parts]), dtype=STRING),
            "value": pd.array(np.concatenate([p[2] for p in parts]), dtype=STRING),
        }
    ).drop_duplicates()
    label_schema = frames.SCHEMAS["labels"]
    labels = labels.reindex(columns=list(label_schema)).astype(label_schema).reset_index(drop=True)
    return incidents, labels


# --------------------------------------------------------------------------------------------------
# What is timed (ours) and the baselines


def _resolved_durations(incidents: pd.DataFrame) -> pd.DataFrame:
    real = incidents[~incidents["is_drill"].fillna(False)]
    start = real["incident_start"].fillna(real["created_time"])
    end = real["incident_end"].fillna(real["closed_time"])
    out = pd.DataFrame({"incident_id": real["incident_id"], "severity": real["severity"], "start": start})
    out["hours"] = (end - start).dt.total_seconds() / 3600
    return out


def run_variant(function: str, variant: str, incidents: pd.DataFrame, labels: pd.DataFrame) -> Any:
    from incident_analytics import metrics

    as_of = pd.Timestamp("2026-01-01", tz="UTC")
    if function == "mttr":
        if variant == "ours":
            return metrics.mttr(incidents, by="severity", freq="M", as_of=as_of)
        table = _resolved_durations(incidents).dropna(subset=["hours"])
        table = table[table["hours"] > 0]
        table["period"] = table["start"].dt.tz_localize(None).dt.to_period("M")
        grouped = table.groupby(["severity", "period"], observed=True)["hours"]
        return grouped.agg(["size", "mean", "median", lambda s: s.quantile(0.9), lambda s: s.quantile(0.95)])
    if function == "survival":
        if variant == "ours":
            return metrics.survival(incidents, by="severity", as_of=as_of)
        from lifelines import KaplanMeierFitter

        table = _resolved_durations(incidents)
        closed = table["hours"].notna()
        table["hours"] = table["hours"].fillna((as_of - table["start"]).dt.total_seconds() / 3600)
        table = table[table["hours"] > 0]
        return {
            severity: KaplanMeierFitter().fit(part["hours"], closed[part.index]).median_survival_time_
            for severity, part in table.groupby("severity", observed=True)
        }
    if function == "label_stats":
        if variant == "ours":
            return metrics.label_stats(labels, incidents, as_of=as_of)
        table = _resolved_durations(incidents)
        joined = labels.drop_duplicates(["incident_id", "key", "value"]).merge(table, on="incident_id")
        stats = joined.groupby(["key", "value"], observed=True).agg(
            incidents=("incident_id", "nunique"),
            n_open=("hours", lambda s: int(s.isna().sum())),
            median=("hours", "median"),
            first_seen=("start", "min"),
            last_seen=("start", "max"),
        )
        stats["share"] = stats["incidents"] / len(table)
        return stats
    if function == "compare":
        split = incidents["incident_start"].sort_values().iloc[len(incidents) // 2]
        if variant == "ours":
            return metrics.compare(incidents, split=split, as_of=as_of, n_resamples=10_000)
        from scipy import stats as sstats

        table = _resolved_durations(incidents).dropna(subset=["hours"])
        table = table[table["hours"] > 0]
        a = table.loc[table["start"] < split, "hours"].to_numpy()
        b = table.loc[table["start"] >= split, "hours"].to_numpy()

        def difference(x: np.ndarray, y: np.ndarray, axis: int = -1) -> np.ndarray:
            return np.asarray(np.median(y, axis=axis) - np.median(x, axis=axis))

        rng = np.random.default_rng(0)
        interval = sstats.bootstrap(
            (a, b), difference, n_resamples=10_000, method="percentile", vectorized=True, rng=rng, batch=500
        ).confidence_interval
        test = sstats.permutation_test((a, b), difference, n_resamples=10_000, vectorized=True, rng=rng, batch=500)
        return interval, test.pvalue
    raise ValueError(function)


def worker(function: str, size: int, variant: str) -> None:
    incidents, labels = synthetic(size)
    if function == "compare":
        incidents = incidents[~incidents["is_drill"].fillna(False) & incidents["incident_end"].notna()].head(size)
    run_variant(function, variant, incidents.head(200), labels.head(500))  # imports and caches, untimed
    gc.collect()
    before = _reset_peak_rss()
    started, cpu = time.perf_counter(), time.process_time()
    run_variant(function, variant, incidents, labels)
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    peak = _peak_rss()
    print(json.dumps({"seconds": elapsed, "cpu": cpu, "peak_mb": peak, "data_mb": before, "labels": len(labels)}))


def _status_mb(field: str) -> float | None:
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def _reset_peak_rss() -> float:
    """Current RSS (MB), after resetting the kernel's peak counter so the call's own peak is measured."""
    try:
        with open("/proc/self/clear_refs", "w") as clear:
            clear.write("5")  # Linux: reset VmHWM to the current RSS
    except OSError:
        pass
    current = _status_mb("VmRSS")
    return current if current is not None else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _peak_rss() -> float:
    peak = _status_mb("VmHWM")
    return peak if peak is not None else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure(function: str, size: int, variant: str) -> dict[str, float]:
    done = subprocess.run(
        [sys.executable, __file__, "--worker", function, str(size), variant], capture_output=True, text=True
    )
    if done.returncode:
        raise RuntimeError(f"{function} {variant} at {size}: {done.stderr[-2000:]}")
    result: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--repeats", type=int, default=1, help="runs per variant (fresh process each; best kept)")
    parser.add_argument("--skip-compare", action="store_true")
    parser.add_argument("--worker", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        function, size, variant = args.worker
        worker(function, int(size), variant)
        return
    sizes = [int(s) for s in args.sizes.split(",")]
    cases = [(f, s) for f in ("mttr", "survival", "label_stats") for s in sizes]
    if not args.skip_compare:
        cases.append(("compare", 10_000))
    rows = []
    for function, size in cases:
        best: dict[str, dict[str, float]] = {}
        for _ in range(args.repeats):
            for variant in ("ours", "baseline"):  # interleaved
                got = measure(function, size, variant)
                if variant not in best or got["seconds"] < best[variant]["seconds"]:
                    best[variant] = got
        rows.append((function, size, best["ours"], best["baseline"]))
        ours, base = best["ours"], best["baseline"]
        print(
            f"{function:<12} {size:>9,} incidents  ours {ours['seconds']:7.2f} s (cpu {ours['cpu']:.2f})"
            f"  peak {ours['peak_mb']:6.0f} MB  | baseline {base['seconds']:7.2f} s (cpu {base['cpu']:.2f})"
            f"  peak {base['peak_mb']:6.0f} MB"
            f"  | ours/baseline {ours['seconds'] / base['seconds']:5.2f}",
            flush=True,
        )
    print()
    print(
        "| function | incidents | labels | ours wall s | ours CPU s | ours peak RSS MB (RSS before the call) "
        "| baseline wall s | baseline CPU s | baseline peak RSS MB | ours/baseline (wall) |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for function, size, ours, base in rows:
        print(
            f"| {function} | {size:,} | {int(ours['labels']):,} | {ours['seconds']:.2f} | {ours['cpu']:.2f} "
            f"| {ours['peak_mb']:.0f} ({ours['data_mb']:.0f}) | {base['seconds']:.2f} | {base['cpu']:.2f} "
            f"| {base['peak_mb']:.0f} | {ours['seconds'] / base['seconds']:.2f} |"
        )
    by_case = {(f, s): o for f, s, o, _ in rows}
    if {100_000, 1_000_000} <= set(sizes):
        print()
        for function in ("mttr", "survival", "label_stats"):
            big, small = by_case[(function, 1_000_000)], by_case[(function, 100_000)]
            print(
                f"growth {function}: time 1M / 100k = {big['seconds'] / small['seconds']:.1f} wall, "
                f"{big['cpu'] / small['cpu']:.1f} CPU (10 = linear)"
            )


if __name__ == "__main__":
    main()
