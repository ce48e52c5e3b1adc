"""Time to resolve per incident, and the grouping shared by `mttr`, `survival` and `compare`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa

from ._common import Anchors, TimeLike, as_list, period_alias, require_columns, resolve_as_of, without_drills

INCIDENT_COLUMNS = ("incident_id", "created_time", "closed_time", "incident_start", "incident_end")
TTR_COLUMNS = [
    "incident_id",
    "start",
    "end",
    "duration",
    "resolved",
    "start_anchor",
    "end_anchor",
    "negative",
    "zero",
    "end_without_start",
]
_ANCHOR = pd.StringDtype("pyarrow")
NONE_LABEL = "(none)"


def check_incidents(incidents: pd.DataFrame, function: str, include_drills: bool) -> None:
    columns = list(INCIDENT_COLUMNS) + ([] if include_drills else ["is_drill"])
    require_columns(incidents, columns, frame_name="incidents", function=function)


def _utc(series: pd.Series) -> pd.Series:
    if not isinstance(series.dtype, pd.DatetimeTZDtype):
        series = pd.to_datetime(series, utc=True)
    converted: pd.Series = series.dt.tz_convert("UTC").astype("datetime64[ns, UTC]")
    return converted


def ttr_table(incidents: pd.DataFrame, as_of: pd.Timestamp) -> pd.DataFrame:
    """The `time_to_resolve` columns for ``incidents`` (already filtered), on the same index."""
    incident_start, created = _utc(incidents["incident_start"]), _utc(incidents["created_time"])
    incident_end, closed = _utc(incidents["incident_end"]), _utc(incidents["closed_time"])
    has_start, has_created = incident_start.notna().to_numpy(), created.notna().to_numpy()
    has_end, has_closed = incident_end.notna().to_numpy(), closed.notna().to_numpy()
    start = incident_start.where(has_start, created)
    end = incident_end.where(has_end, closed)
    resolved = has_end | has_closed
    start_known = has_start | has_created
    start_codes = np.select([has_start, has_created], [0, 1], default=-1)
    end_codes = np.select([has_end, has_closed], [0, 1], default=-1)
    start_anchor = _anchor_names(start_codes, "incident_start", "created_time")
    end_anchor = _anchor_names(end_codes, "incident_end", "closed_time")
    until = end.where(resolved, as_of)
    duration = until - start
    seconds = duration.dt.total_seconds().to_numpy()
    return pd.DataFrame(
        {
            "incident_id": incidents["incident_id"].astype(_ANCHOR),
            "start": start,
            "end": end,
            "duration": duration,
            "resolved": resolved,
            "start_anchor": start_anchor.array,
            "end_anchor": end_anchor.array,
            "negative": np.nan_to_num(seconds, nan=0.0) < 0,
            "zero": seconds == 0,
            "end_without_start": resolved & ~start_known,
        },
        index=incidents.index,
    )


def _anchor_names(codes: np.ndarray, first: str, second: str) -> pd.Series:
    """Column names by code (0, 1; -1 missing) as Arrow strings, without a Python object per row."""
    indices = pa.array(codes.astype(np.int8), mask=codes < 0)
    names = pa.DictionaryArray.from_arrays(indices, pa.array([first, second])).cast(pa.string())
    return pd.Series(pd.arrays.ArrowStringArray(names)).astype(_ANCHOR)


def relevant(incidents: pd.DataFrame, *names: str) -> pd.DataFrame:
    """Only the columns a metric reads, so filtering rows does not copy every text column."""
    wanted = [*INCIDENT_COLUMNS, "is_drill", *names]
    return incidents[[c for c in dict.fromkeys(wanted) if c in incidents.columns]]


def anchors_of(table: pd.DataFrame, as_of: pd.Timestamp, include_drills: bool) -> Anchors:
    resolved = table["resolved"].to_numpy()
    return Anchors(
        as_of=as_of,
        include_drills=include_drills,
        start_columns={str(k): int(v) for k, v in table["start_anchor"].value_counts().items()},
        end_columns={str(k): int(v) for k, v in table.loc[resolved, "end_anchor"].value_counts().items()},
        excluded={
            "negative": int(table["negative"].sum()),
            "zero": int((table["zero"] & table["resolved"]).sum()),
            "end without start": int(table["end_without_start"].sum()),
        },
    )


@dataclass
class Grouped:
    """Per-row durations with group codes; ``keys`` has one row per group (code = position)."""

    table: pd.DataFrame  # ttr columns (+ group key columns), one row per (incident, group)
    codes: np.ndarray  # group code per row of table
    keys: pd.DataFrame  # group key columns, row i = group i
    names: list[str]  # key column names
    anchors: Anchors

    @property
    def seconds(self) -> np.ndarray:
        return np.asarray(self.table["duration"].dt.total_seconds().to_numpy(dtype=float, na_value=np.nan))

    def usable(self) -> np.ndarray:
        """Rows that enter statistics: a known start and a positive duration (resolved or open)."""
        seconds = self.seconds
        return np.asarray(np.nan_to_num(seconds, nan=0.0) > 0)

    def group_labels(self) -> list[str]:
        if not self.names:
            return ["all"]
        labels = []
        for row in self.keys.itertuples(index=False, name=None):
            labels.append(" / ".join(NONE_LABEL if pd.isna(v) else str(v) for v in row))
        return labels


def _has_key(labels: pd.DataFrame, key: str, function: str) -> bool:
    require_columns(labels, ("incident_id", "key", "value"), frame_name="labels", function=function)
    return bool((labels["key"].to_numpy(dtype=object) == key).any())


def label_column(labels: pd.DataFrame, key: str, function: str) -> pd.DataFrame:
    require_columns(labels, ("incident_id", "key", "value"), frame_name="labels", function=function)
    chosen = labels.loc[labels["key"].to_numpy(dtype=object) == key, ["incident_id", "value"]]
    chosen = chosen.drop_duplicates()
    return pd.DataFrame({"incident_id": chosen["incident_id"].astype(_ANCHOR), key: chosen["value"].astype(_ANCHOR)})


def grouped(
    incidents: pd.DataFrame,
    *,
    function: str,
    by: str | Sequence[str] | None,
    freq: str | None,
    labels: pd.DataFrame | None,
    include_drills: bool,
    as_of: TimeLike,
    carry: Sequence[str] = (),
) -> Grouped:
    """Filter drills, compute TTR, attach the group columns (label keys joined, periods of start).

    ``carry`` names further incident columns to keep alongside (e.g. the column `compare` splits on).
    """
    check_incidents(incidents, function, include_drills)
    names = as_list(by)
    stamp = resolve_as_of(as_of)
    kept = without_drills(relevant(incidents, *names, *carry), include_drills)
    table = ttr_table(kept, stamp)
    anchors = anchors_of(table, stamp, include_drills)
    for name in carry:
        if name in kept.columns and name not in table.columns:
            table[name] = kept[name]
    for name in names:
        if name in kept.columns:
            table[name] = kept[name]
        elif labels is not None and _has_key(labels, name, function):
            # An incident with two values of the key appears in both groups.
            table = table.merge(label_column(labels, name, function), on="incident_id", how="left")
        else:
            known = "" if labels is None else " or a label key of the labels frame"
            raise ValueError(
                f"{function}: by={name!r} is neither a column of the incidents frame{known}"
                + ("" if labels is not None else " (pass labels= to group by a label key)")
            )
    key_names = list(names)
    if freq is not None:
        alias = period_alias(freq)
        table["period"] = table["start"].dt.tz_localize(None).dt.to_period(alias)
        key_names.append("period")
    table = table.reset_index(drop=True)
    keys: pd.DataFrame
    if key_names:
        codes = table.groupby(key_names, sort=True, dropna=False, observed=True).ngroup().to_numpy()
        first = np.zeros(int(codes.max()) + 1 if len(codes) else 0, dtype=np.int64)
        first[codes[::-1]] = np.arange(len(codes))[::-1]  # each group's first row, without a sort
        keys = table.iloc[first][key_names].reset_index(drop=True)
    else:
        codes = np.zeros(len(table), dtype=np.int64)
        keys = pd.DataFrame(index=pd.RangeIndex(1))
    return Grouped(table, codes.astype(np.int64), keys, key_names, anchors)
