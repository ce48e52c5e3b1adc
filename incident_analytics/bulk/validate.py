"""Input checks for bulk label changes: every problem named by row, before any request is sent."""

from __future__ import annotations

import numbers
from collections import defaultdict
from collections.abc import Hashable, Iterable
from typing import Any

import pandas as pd

from .frames import ACTIONS, PLAN_COLUMNS, TAGS_KEY

MAX_ROWS_NAMED = 10


def rows_text(rows: Iterable[Hashable]) -> str:
    """``"rows 3, 7 and 12"`` (at most ten named, then a count)."""
    names = [repr(r) if isinstance(r, str) else str(r) for r in rows]
    shown = ", ".join(names[:MAX_ROWS_NAMED])
    if len(names) > MAX_ROWS_NAMED:
        shown += f" and {len(names) - MAX_ROWS_NAMED} more"
    return ("row " if len(names) == 1 else "rows ") + shown


class Problems:
    """Collects (message → rows) and raises one ``ValueError`` listing them all."""

    def __init__(self, what: str) -> None:
        self.what = what
        self._rows: dict[str, list[Hashable]] = defaultdict(list)

    def add(self, message: str, row: Hashable) -> None:
        """Record that ``row`` has ``message``."""
        self._rows[message].append(row)

    def raise_if_any(self) -> None:
        """Raise ``ValueError`` naming every problem and its rows."""
        if self._rows:
            lines = [f"- {message}: {rows_text(rows)}" for message, rows in self._rows.items()]
            raise ValueError(f"{self.what} is invalid; nothing was sent:\n" + "\n".join(lines))


def _missing(value: Any) -> bool:
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    return isinstance(value, float) and value != value


def incident_id(value: Any) -> str | None:
    """The ID as a string, or None when it is missing, empty or of the wrong type."""
    if isinstance(value, bool) or _missing(value):
        return None
    if isinstance(value, numbers.Integral):
        return str(int(value))
    if isinstance(value, str) and value.strip():
        return value.strip()
    return None


def _key(value: Any) -> str | None:
    if _missing(value):
        return TAGS_KEY
    if isinstance(value, str) and value.strip():
        return TAGS_KEY if value.strip().casefold() == TAGS_KEY else value.strip()
    return None


def _item(item: Any) -> tuple[Any, Any] | None:
    """One element of a ``labels`` list: ``"key:value"``, ``"text"``, ``(key, value)`` or a dict."""
    if isinstance(item, str):
        key, sep, value = item.partition(":")
        return (key.strip(), value.strip()) if sep else (TAGS_KEY, item)
    if isinstance(item, tuple) and len(item) == 2:
        return item[0], item[1]
    if isinstance(item, dict) and "value" in item:
        return item.get("key", TAGS_KEY), item["value"]
    return None


def desired_rows(desired: pd.DataFrame) -> list[tuple[Hashable, str, str, str]]:
    """Check a desired-labels frame; return ``(row, incident_id, key, value)`` per label.

    Accepts ``incident_id`` + ``value`` (+ optional ``key``, default ``"tags"``), or ``incident_id`` +
    ``labels`` (a list per row of ``"key:value"`` / ``"text"`` strings, ``(key, value)`` pairs or
    ``{"key", "value"}`` dicts). Raises one ``ValueError`` naming every bad row.
    """
    if not isinstance(desired, pd.DataFrame):
        raise TypeError(f"desired must be a pandas DataFrame, got {type(desired).__name__}")
    columns = set(desired.columns)
    missing = [c for c in ("incident_id",) if c not in columns]
    if "labels" not in columns and "value" not in columns:
        missing.append("value (or labels)")
    if missing:
        raise ValueError(
            f"desired is missing column(s) {', '.join(missing)}; it has {sorted(map(str, columns))}. "
            "Give incident_id, key (optional, 'tags' for free-form) and value, or incident_id and labels."
        )
    if "labels" in columns and ("value" in columns or "key" in columns):
        raise ValueError("desired has both a labels column and key/value columns; use one form")
    problems = Problems("desired")
    out: list[tuple[Hashable, str, str, str]] = []
    seen: dict[tuple[str, str, str], list[Hashable]] = defaultdict(list)
    for row, record in zip(desired.index, desired.to_dict("records"), strict=True):
        iid = incident_id(record["incident_id"])
        if iid is None:
            problems.add("incident_id is missing, empty or not a string/integer", row)
        if "labels" in columns:
            labels = record["labels"]
            if isinstance(labels, str) or not (isinstance(labels, list | tuple) or hasattr(labels, "tolist")):
                problems.add("labels must be a list of 'key:value' or free-form strings", row)
                continue
            items = [_item(x) for x in (labels.tolist() if hasattr(labels, "tolist") else labels)]
        else:
            items = [(record.get("key"), record["value"])]
        for item in items:
            if item is None:
                problems.add("a label is neither 'key:value', free-form text, a (key, value) pair nor a dict", row)
                continue
            key, value = _key(item[0]), item[1]
            if key is None:
                problems.add("key must be a non-empty string ('tags' or missing for free-form)", row)
                continue
            if not isinstance(value, str):
                problems.add(f"value must be a string, got {type(value).__name__}", row)
                continue
            if not value.strip():
                problems.add("value is empty", row)
                continue
            if iid is not None:
                seen[(iid, key, value)].append(row)
                out.append((row, iid, key, value))
    for (iid, key, value), rows in seen.items():
        if len(rows) > 1:
            for row in rows:
                problems.add(f"duplicate label {key}:{value!r} on incident {iid}", row)
    problems.raise_if_any()
    return out


def plan_rows(plan: pd.DataFrame) -> list[tuple[Hashable, dict[str, str]]]:
    """Check a plan frame (any frame with the plan columns); ``ValueError`` naming the bad rows."""
    if not isinstance(plan, pd.DataFrame):
        raise TypeError(f"plan must be a pandas DataFrame, got {type(plan).__name__}")
    missing = [c for c in PLAN_COLUMNS if c not in plan.columns and c != "reason"]
    if missing:
        raise ValueError(f"plan is missing column(s) {', '.join(missing)}; build it with plan_label_changes")
    problems = Problems("plan")
    out: list[tuple[Hashable, dict[str, str]]] = []
    seen: dict[tuple[str, str, str], list[Hashable]] = defaultdict(list)
    for row, record in zip(plan.index, plan.to_dict("records"), strict=True):
        iid = incident_id(record["incident_id"])
        key = _key(record["key"])
        value, action = record["value"], record["action"]
        reason = record.get("reason")
        ok = True
        if iid is None:
            problems.add("incident_id is missing, empty or not a string/integer", row)
            ok = False
        if key is None:
            problems.add("key must be a non-empty string", row)
            ok = False
        if not isinstance(value, str) or not value.strip():
            problems.add("value must be a non-empty string", row)
            ok = False
        if action not in ACTIONS:
            problems.add(f"action must be one of {', '.join(ACTIONS)}", row)
            ok = False
        if ok and iid is not None and key is not None:
            if action != "skip":
                seen[(iid, key, value)].append(row)
            text = reason if isinstance(reason, str) else ""
            out.append((row, {"incident_id": iid, "key": key, "value": value, "action": action, "reason": text}))
    for (iid, key, value), rows in seen.items():
        if len(rows) > 1:
            for row in rows:
                problems.add(f"more than one change of {key}:{value!r} on incident {iid}", row)
    problems.raise_if_any()
    return out
