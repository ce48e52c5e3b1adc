"""Shared pieces of the metrics: input checks, the drill filter, ``as_of``, period aliases, anchors."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

__all__ = [
    "END_RULE",
    "START_RULE",
    "Anchors",
    "as_list",
    "format_duration",
    "period_alias",
    "require_columns",
    "resolve_as_of",
    "without_drills",
]

START_RULE = "incident_start, else created_time"
END_RULE = "incident_end, else closed_time"
TimeLike = str | dt.datetime | pd.Timestamp | np.datetime64 | None


def require_columns(frame: pd.DataFrame, columns: Iterable[str], *, frame_name: str, function: str) -> None:
    """Raise ``ValueError`` naming every column of ``columns`` that ``frame`` lacks."""
    if not isinstance(frame, pd.DataFrame):
        raise TypeError(f"{function}: {frame_name} must be a pandas DataFrame, got {type(frame).__name__}")
    missing = [column for column in columns if column not in frame.columns]
    if missing:
        raise ValueError(
            f"{function}: the {frame_name} frame is missing column(s) {', '.join(map(repr, missing))}; "
            f"it has {', '.join(map(str, frame.columns)) or 'no columns'}"
        )


def resolve_as_of(as_of: TimeLike) -> pd.Timestamp:
    """``as_of`` as a UTC timestamp: ``None`` is now; a naive time is taken to be UTC."""
    if as_of is None:
        return pd.Timestamp.now(tz="UTC")
    try:
        stamp = pd.Timestamp(as_of)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"as_of must be a time, got {as_of!r}") from exc
    if pd.isna(stamp):
        raise ValueError(f"as_of must be a time, got {as_of!r}")
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")


def without_drills(incidents: pd.DataFrame, include_drills: bool) -> pd.DataFrame:
    """The incidents that count: drills (``is_drill`` true) are dropped unless ``include_drills``."""
    if include_drills or "is_drill" not in incidents.columns:
        return incidents
    drill = incidents["is_drill"].fillna(False).astype(bool).to_numpy()
    return incidents.loc[~drill]


def as_list(by: str | Sequence[str] | None) -> list[str]:
    """``by`` as a list of names (``None`` → ``[]``)."""
    if by is None:
        return []
    if isinstance(by, str):
        return [by]
    names = list(by)
    for name in names:
        if not isinstance(name, str):
            raise TypeError(f"by must be a column name, a label key or a list of them; got {name!r}")
    return names


_MONTHS = ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"]


def period_alias(freq: str) -> str:
    """A pandas *period* alias for ``freq``, accepting offset spellings too.

    "M", "Q", "W", "D", "Y" pass through; start/end offset aliases map to the period they bucket by:
    "MS"/"ME" → "M", "QS"/"QE" → "Q", "YS"/"YE"/"A"/"AS" → "Y", "QS-APR" → "Q-MAR" (quarters
    starting in April end in March), "W-MON" stays.

    >>> period_alias("MS"), period_alias("QS-JAN"), period_alias("W")
    ('M', 'Q-DEC', 'W')
    """
    if not isinstance(freq, str) or not freq:
        raise ValueError(f"freq must be a period alias such as 'M', 'Q', 'W' or 'MS', got {freq!r}")
    head, _, anchor = freq.upper().partition("-")
    base = {"MS": "M", "ME": "M", "QS": "Q", "QE": "Q", "YS": "Y", "YE": "Y", "A": "Y", "AS": "Y"}.get(head, head)
    if anchor and head in ("QS", "YS", "AS") and anchor in _MONTHS:
        anchor = _MONTHS[(_MONTHS.index(anchor) - 1) % 12]
    alias = f"{base}-{anchor}" if anchor else base
    if base == "H":
        alias = alias.lower()
    try:
        pd.Period("2026-01-01", freq=alias)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"freq {freq!r} is not a period alias; use e.g. 'M', 'Q', 'W' or 'MS'") from exc
    return alias


@dataclass(frozen=True)
class Anchors:
    """What a result was computed from, so a report can print it.

    Attributes:
        start: the rule for the start of impact (``"incident_start, else created_time"``).
        end: the rule for the end (``"incident_end, else closed_time"``).
        as_of: the time still-open incidents are measured (censored) at.
        include_drills: whether drills were counted.
        start_columns: how many incidents took their start from each column.
        end_columns: how many resolved incidents took their end from each column.
        excluded: data-quality exclusions (negative, zero, end without start) by count.
    """

    as_of: pd.Timestamp
    include_drills: bool = False
    start: str = START_RULE
    end: str = END_RULE
    start_columns: dict[str, int] = field(default_factory=dict)
    end_columns: dict[str, int] = field(default_factory=dict)
    excluded: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """Plain values (for ``DataFrame.attrs`` and templates)."""
        return {
            "start": self.start,
            "end": self.end,
            "as_of": self.as_of,
            "include_drills": self.include_drills,
            "start_columns": dict(self.start_columns),
            "end_columns": dict(self.end_columns),
            "excluded": dict(self.excluded),
        }

    def describe(self) -> str:
        """One sentence for a report footer."""
        drills = "drills included" if self.include_drills else "drills excluded"
        text = (
            f"Start = {self.start}; end = {self.end}; open incidents measured (censored) at "
            f"{self.as_of:%Y-%m-%d %H:%M} UTC; {drills}."
        )
        dropped = {k: v for k, v in self.excluded.items() if v}
        if dropped:
            text += " Left out as data-quality findings: " + ", ".join(f"{v} {k}" for k, v in dropped.items()) + "."
        return text


def format_duration(value: Any) -> str:
    """A duration for people: "45 s", "12 min", "2.1 h", "3.4 d"; missing → "n/a".

    >>> format_duration(pd.Timedelta(minutes=126))
    '2.1 h'
    """
    if value is None or value is pd.NaT or (isinstance(value, float) and np.isnan(value)):
        return "n/a"
    seconds = pd.Timedelta(value).total_seconds()
    sign, seconds = ("-" if seconds < 0 else ""), abs(seconds)
    if seconds < 60:
        return f"{sign}{seconds:.0f} s"
    if seconds < 3600:
        return f"{sign}{seconds / 60:.0f} min"
    if seconds < 2 * 86400:
        return f"{sign}{seconds / 3600:.1f} h"
    return f"{sign}{seconds / 86400:.1f} d"
