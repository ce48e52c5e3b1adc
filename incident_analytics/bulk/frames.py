"""The plan and result frames: column lists, dtypes and a notebook HTML summary.

A plan has one row per label change (``incident_id, key, value, action, reason``) with ``action``
one of ``add``, ``remove`` or ``skip``; a result adds ``status`` (``applied``, ``skipped``,
``failed``; ``dry_run`` for a dry run), ``error`` and ``attempts``. Both are DataFrames, so every
pandas operation works on them; in a notebook they render as counts per action and status, then the
first rows.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from . import snapshot

STRING = pd.StringDtype("pyarrow")
TAGS_KEY = "tags"
ACTIONS = ("add", "remove", "skip")
STATUSES = ("applied", "skipped", "failed", "dry_run")
PLAN_COLUMNS = ("incident_id", "key", "value", "action", "reason")
RESULT_COLUMNS = (*PLAN_COLUMNS, "status", "error", "attempts")
HTML_ROWS = 10


def checked_labels(value: Any, name: str) -> pd.DataFrame:
    """The labels frame of ``value`` (a labels DataFrame, or an ``IncidentData``'s ``labels``), its
    columns checked; errors name the argument ``name``.

    >>> checked_labels(data, "current").columns.tolist()[:3]  # doctest: +SKIP
    ['incident_id', 'key', 'value']
    """
    frame = getattr(value, "labels", value)
    if not isinstance(frame, pd.DataFrame):
        raise TypeError(f"{name} must be a labels DataFrame or an IncidentData, got {type(value).__name__}")
    missing = [c for c in ("incident_id", "key", "value") if c not in frame.columns]
    if missing:
        raise ValueError(f"{name} is missing column(s) {', '.join(missing)}; pass fetch(...).labels")
    return frame


class _LabelFrame(pd.DataFrame):
    """A DataFrame whose notebook view starts with counts per action (and status)."""

    _summary_columns: tuple[str, ...] = ("action",)

    def __init__(self, data: Any = None, *args: Any, **kwargs: Any) -> None:
        super().__init__(data, *args, **kwargs)  # type: ignore[call-arg]  # the stubs declare __new__
        if isinstance(data, pd.DataFrame) and data.attrs and not self.attrs:
            # ``LabelPlan(frame)`` keeps the frame's record of the read it was planned from.
            self.attrs = copy.deepcopy(data.attrs)

    @property
    def _constructor(self) -> type[pd.DataFrame]:
        return type(self)

    def __finalize__(self, other: Any, method: str | None = None, **kwargs: Any) -> Any:
        # pandas keeps attrs through a concat only when every part has equal attrs; plans made from
        # separate reads of one server still make one plan made from reads (see ``snapshot``).
        out = super().__finalize__(other, method=method, **kwargs)  # type: ignore[misc]
        if method == "concat":
            parts = [getattr(part, "attrs", {}) for part in getattr(other, "objs", ())]
            read = snapshot.merged(parts) if parts else None
            if read is not None:
                out.attrs[snapshot.ATTR] = read
            else:
                out.attrs.pop(snapshot.ATTR, None)
        return out

    def summary(self) -> pd.DataFrame:
        """Counts per action (rows) and status (columns, for a result), with totals.

        >>> plan.summary()  # doctest: +SKIP
        """
        present = [c for c in self._summary_columns if c in self.columns]
        if not present or self.empty:
            return pd.DataFrame({"changes": [len(self)]}, index=pd.Index(["total"]))
        if len(present) == 1:
            counts = self[present[0]].astype(object).value_counts().rename("changes").to_frame()
            counts.loc["total"] = int(counts["changes"].sum())
            return counts
        return pd.crosstab(
            self[present[0]].astype(object), self[present[1]].astype(object), margins=True, margins_name="total"
        )

    def _repr_html_(self) -> str | None:
        if not set(self._summary_columns) <= set(self.columns):
            html: str | None = pd.DataFrame(self)._repr_html_()  # type: ignore[operator]
            return html  # a projection without the plan columns: a plain frame
        name = type(self).__name__
        incidents = self["incident_id"].nunique() if "incident_id" in self.columns else 0
        head = pd.DataFrame(self.head(HTML_ROWS))
        more = f" (first {HTML_ROWS} of {len(self)})" if len(self) > HTML_ROWS else ""
        return (
            f"<div><p><b>{name}</b>: {len(self)} rows on {incidents} incidents</p>"
            f"{self.summary().to_html()}"
            f"<p>Rows{more}:</p>{head.to_html()}</div>"
        )


class LabelPlan(_LabelFrame):
    """A plan of label changes: ``incident_id, key, value, action (add|remove|skip), reason``."""


class LabelResult(_LabelFrame):
    """A plan after ``apply_label_changes``: the plan's columns plus ``status, error, attempts``."""

    _summary_columns = ("action", "status")


def plan_frame(rows: Sequence[Mapping[str, Any]]) -> LabelPlan:
    """A ``LabelPlan`` from row dicts, with string dtypes and a fresh 0..n-1 index."""
    data = {c: pd.array([r[c] for r in rows], dtype=STRING) for c in PLAN_COLUMNS}
    return LabelPlan(data, columns=list(PLAN_COLUMNS))


def result_frame(plan: pd.DataFrame, outcomes: Sequence[Mapping[str, Any]]) -> LabelResult:
    """The plan's rows with their outcomes (``status``, ``error``, ``attempts``), in plan order."""
    out = LabelResult({c: plan[c].astype(STRING) for c in PLAN_COLUMNS}, index=plan.index)
    out["status"] = pd.array([o["status"] for o in outcomes], dtype=STRING)
    out["error"] = pd.array([o.get("error") for o in outcomes], dtype=STRING)
    out["attempts"] = pd.array([int(o.get("attempts", 0)) for o in outcomes], dtype="Int64")
    for extra in ("method", "request"):
        if any(extra in o for o in outcomes):
            out[extra] = [o.get(extra) for o in outcomes]
    return out
