"""Person-time on incidents, read from activity timelines: stretches, merged across parallel incidents."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ._common import require_columns, without_drills
from .lifecycle import item_times

__all__ = ["CREDIT", "GAP", "WORKLOAD_RULES", "WorkloadResult", "workload"]

CREDIT = pd.Timedelta(minutes=10)
GAP = pd.Timedelta(minutes=20)
_STRING = pd.StringDtype("pyarrow")


@dataclass(frozen=True)
class WorkloadResult:
    """What `workload` returns. Indexing the result (``result["total"]``) and frame attributes
    (``result.columns``, ``result.loc``) reach ``per_person``.

    Attributes:
        per_person: ``user_id, user_name, total, working, late, sleeping, stretches, items, incidents``,
            most loaded first.
        per_incident: ``user_id, user_name, incident_id, total, working, late, sleeping, items``; a
            person's rows add up to their ``per_person`` row.
        stretches: ``user_id, start, end, items`` (UTC), one row per continuous stretch.
        tz, working, late: the split asked for; ``rules``: the rule, for a report.
    """

    per_person: pd.DataFrame
    per_incident: pd.DataFrame
    stretches: pd.DataFrame
    tz: str
    working: tuple[float, float]
    late: tuple[float, float]
    rules: str

    def __getitem__(self, key: Any) -> Any:
        return self.per_person[key]

    def __len__(self) -> int:
        return len(self.per_person)

    def __getattr__(self, name: str) -> Any:
        # Frame attributes (columns, loc, set_index, ...) reach per_person; private names do not.
        if name.startswith("_") or name in {
            "per_person",
            "per_incident",
            "stretches",
            "tz",
            "working",
            "late",
            "rules",
        }:
            raise AttributeError(name)
        return getattr(self.per_person, name)


WORKLOAD_RULES = (
    "Each activity item a person makes credits the 10 minutes after it; two items of one person less than "
    "20 minutes apart are one continuous stretch (the gap counts as work); a person's stretches across parallel "
    "incidents are merged, so nobody works more than one hour per hour. Time between an item and the next one "
    "of that person goes to the first item's incident. Hours are split into working, late and sleeping by the "
    "local clock."
)


def _band(hours: tuple[float, float], name: str) -> tuple[float, float]:
    try:
        lo, hi = float(hours[0]), float(hours[1])
    except (TypeError, ValueError, IndexError) as exc:
        raise ValueError(f"{name} must be a (start_hour, end_hour) pair, got {hours!r}") from exc
    if not 0 <= lo < hi <= 24:
        raise ValueError(f"{name} must satisfy 0 <= start < end <= 24, got {hours!r}")
    return lo, hi


def _wall_nanos(times: pd.Series, tz: str) -> np.ndarray:
    """Nanoseconds since 1970-01-01 00:00 on the local wall clock of ``tz``."""
    local = times.dt.tz_convert(tz).dt.tz_localize(None)
    return np.asarray(local.to_numpy().astype("datetime64[ns]").view(np.int64))


_DAY = 86_400 * 10**9
_HOUR = 3_600 * 10**9


def _in_band(start: np.ndarray, end: np.ndarray, band: tuple[float, float]) -> np.ndarray:
    """Nanoseconds of each [start, end) (wall-clock ns) that fall within the daily hours ``band``."""
    lo, hi = round(band[0] * _HOUR), round(band[1] * _HOUR)

    def cumulative(t: np.ndarray) -> np.ndarray:
        day = np.floor_divide(t, _DAY)
        return np.asarray(day * (hi - lo) + np.clip(t - day * _DAY - lo, 0, hi - lo))

    return np.asarray(cumulative(end) - cumulative(start))


def workload(
    activity: pd.DataFrame,
    *,
    tz: str = "UTC",
    working: tuple[float, float] = (8, 19),
    late: tuple[float, float] = (19, 23),
    incidents: pd.DataFrame | None = None,
    include_drills: bool = False,
) -> WorkloadResult:
    """Person-time spent on incidents, read from the activity timelines.

    Rule: each item a person makes (``user_id``, at ``created_time``, else ``event_time``) credits the
    10 minutes after it;
    two items of one person less than 20 minutes apart are one continuous stretch (the time between
    them counts); a person's stretches across parallel incidents are merged, so nobody works more
    than one hour per hour. Per incident, the time from an item to the person's next item (or its 10
    minutes) goes to that item's incident, so a person's incident rows add up to their total. Totals
    are split by the clock in ``tz`` into ``working`` hours (default 08-19), ``late`` (19-23) and
    ``sleeping`` (the rest). Items without a user are ignored. With ``incidents``, only their
    activity counts (drills excluded unless ``include_drills=True``).

    Example: items at 09:00, 09:05 and 09:40 → stretches 09:00-09:15 and 09:40-09:50 → 25 min, all
    working; items at 22:55 and 23:10 → 22:55-23:20 → 5 min late and 20 min sleeping.

    >>> load = workload(data.activity, tz="Europe/Berlin")  # doctest: +SKIP
    >>> load.per_person[["user_name", "total", "sleeping"]].head()  # doctest: +SKIP
    """
    require_columns(activity, ("incident_id", "user_id"), frame_name="activity", function="workload")
    made = item_times(activity, "workload")
    working, late = _band(working, "working"), _band(late, "late")
    if working[0] < late[1] and late[0] < working[1]:
        raise ValueError(f"working {working} and late {late} hours overlap")
    try:
        pd.Timestamp("2026-01-01", tz=tz)
    except Exception as exc:
        raise ValueError(f"tz {tz!r} is not a time zone") from exc
    keep = activity["user_id"].notna().to_numpy()
    if incidents is not None:
        require_columns(
            incidents,
            ["incident_id"] + ([] if include_drills else ["is_drill"]),
            frame_name="incidents",
            function="workload",
        )
        wanted = set(without_drills(incidents, include_drills)["incident_id"].astype(object))
        keep &= activity["incident_id"].astype(object).isin(wanted).to_numpy()
    items = activity[keep]
    names = items["user_name"] if "user_name" in items else pd.Series(pd.NA, index=items.index)
    frame = pd.DataFrame(
        {
            "user_id": items["user_id"].astype(object).to_numpy(),
            "user_name": names.astype(object).to_numpy(),
            "incident_id": items["incident_id"].astype(object).to_numpy(),
            "time": made[keep].array,
        }
    )
    frame = frame[frame["time"].notna()].sort_values(["user_id", "time"], kind="stable").reset_index(drop=True)
    user = frame["user_id"].to_numpy()
    times = frame["time"]
    nanos = times.dt.tz_localize(None).to_numpy().astype("datetime64[ns]").view(np.int64)
    same_next = np.zeros(len(frame), dtype=bool)
    same_next[:-1] = user[1:] == user[:-1]
    gap = np.full(len(frame), np.iinfo(np.int64).max)
    gap[:-1] = np.where(same_next[:-1], nanos[1:] - nanos[:-1], gap[:-1])
    continuous = gap < GAP.value
    length = np.where(continuous, gap, CREDIT.value)
    frame["length"] = length
    start_wall = _wall_nanos(times, tz)
    end_wall = _wall_nanos(times + pd.to_timedelta(length, unit="ns"), tz)
    # Across a DST change the wall clock and the real length differ by up to an hour: clip to the real one.
    in_working = np.clip(_in_band(start_wall, end_wall, working), 0, length)
    in_late = np.clip(_in_band(start_wall, end_wall, late), 0, length - in_working)
    frame["working"], frame["late"], frame["sleeping"] = in_working, in_late, length - in_working - in_late
    new_stretch = np.ones(len(frame), dtype=bool)
    new_stretch[1:] = ~(continuous[:-1] & same_next[:-1])
    frame["stretch"] = np.cumsum(new_stretch) - 1

    def finish(table: pd.DataFrame) -> pd.DataFrame:
        table["total"] = pd.to_timedelta(table["length"], unit="ns")
        for column in ("working", "late", "sleeping"):
            table[column] = pd.to_timedelta(table[column].to_numpy(dtype=np.int64), unit="ns")
        for column in ("user_id", "user_name", "incident_id"):
            if column in table:
                table[column] = table[column].astype(_STRING)
        return table

    latest_name = frame.groupby("user_id", sort=False)["user_name"].last()
    person = frame.groupby("user_id", sort=False).agg(
        length=("length", "sum"),
        working=("working", "sum"),
        late=("late", "sum"),
        sleeping=("sleeping", "sum"),
        stretches=("stretch", "nunique"),
        items=("time", "size"),
        incidents=("incident_id", "nunique"),
    )
    person.insert(0, "user_name", latest_name.reindex(person.index))
    person = finish(person.reset_index())
    per_person = person.sort_values(["total", "user_id"], ascending=[False, True], kind="stable").reset_index(drop=True)
    per_person = per_person[
        ["user_id", "user_name", "total", "working", "late", "sleeping", "stretches", "items", "incidents"]
    ]
    for column in ("stretches", "items", "incidents"):
        per_person[column] = per_person[column].astype("int64")
    inc = (
        frame.groupby(["user_id", "incident_id"], sort=False)
        .agg(
            length=("length", "sum"),
            working=("working", "sum"),
            late=("late", "sum"),
            sleeping=("sleeping", "sum"),
            items=("time", "size"),
        )
        .reset_index()
    )
    inc.insert(1, "user_name", latest_name.reindex(inc["user_id"]).to_numpy())
    inc = finish(inc).sort_values(["user_id", "total"], ascending=[True, False], kind="stable").reset_index(drop=True)
    per_incident = inc[["user_id", "user_name", "incident_id", "total", "working", "late", "sleeping", "items"]].copy()
    per_incident["items"] = per_incident["items"].astype("int64")
    ends = times + pd.to_timedelta(length, unit="ns")
    stretches = (
        pd.DataFrame({"user_id": frame["user_id"], "stretch": frame["stretch"], "start": times, "end": ends})
        .groupby("stretch", sort=True)
        .agg(user_id=("user_id", "first"), start=("start", "min"), end=("end", "max"), items=("start", "size"))
        .reset_index(drop=True)
    )
    stretches["user_id"] = stretches["user_id"].astype(_STRING)
    stretches["items"] = stretches["items"].astype("int64")
    return WorkloadResult(per_person, per_incident, stretches, tz, working, late, WORKLOAD_RULES)
