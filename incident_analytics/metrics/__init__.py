"""Answers about incidents: time to resolve with censoring and confidence, "is this change real?",
label statistics, lifecycle and workload from timelines.

Pure functions: frames in, new frames or small result objects out; inputs are never modified.
Every function checks its input columns and names the missing ones, excludes drills unless
``include_drills=True``, measures still-open incidents at ``as_of`` (default: now, UTC) and returns
durations as ``pd.Timedelta``. Statistics come from scipy and vectorised numpy resampling.

Definitions (docs/design.md, "Metric definitions"):

* start of impact = ``incident_start``, else ``created_time``; end = ``incident_end``, else
  ``closed_time``; time to resolve (TTR) = end - start; still-open incidents are right-censored at
  ``as_of``, never silently dropped;
* negative and zero durations (and ends without a start) are data-quality findings, reported and
  left out of statistics, never averaged in;
* every result carries these anchors (``attrs["anchors"]`` on frames, ``.anchors`` on result objects)
  so a report can print them.

>>> import incident_analytics as ia
>>> ia.metrics.mttr(data.incidents, by="severity", freq="MS")  # doctest: +SKIP
>>> print(ia.metrics.compare(data.incidents, split="2026-03-01").verdict)  # doctest: +SKIP
"""

from __future__ import annotations

from ._common import END_RULE, START_RULE, Anchors, format_duration, period_alias
from .comparison import STATISTICS, CompareResult, compare
from .kaplan_meier import SurvivalResult, survival
from .labels import COOCCURRENCE_METRICS, label_cooccurrence, label_name, label_stats
from .lifecycle import LIFECYCLE_RULES, WORK_KINDS, LifecycleResult, lifecycle, severity_rank
from .resolve import incident_counts, mttr, time_to_resolve
from .workload import WORKLOAD_RULES, WorkloadResult, workload

__all__ = [
    "COOCCURRENCE_METRICS",
    "END_RULE",
    "LIFECYCLE_RULES",
    "START_RULE",
    "STATISTICS",
    "WORKLOAD_RULES",
    "WORK_KINDS",
    "Anchors",
    "CompareResult",
    "LifecycleResult",
    "SurvivalResult",
    "WorkloadResult",
    "compare",
    "format_duration",
    "incident_counts",
    "label_cooccurrence",
    "label_name",
    "label_stats",
    "lifecycle",
    "mttr",
    "period_alias",
    "severity_rank",
    "survival",
    "time_to_resolve",
    "workload",
]
