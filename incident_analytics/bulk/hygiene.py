"""Label hygiene: find values that are probably one label, and plan their merge.

Two values of the same key are grouped when they are equal after folding case, whitespace and the
``-``/``_``/space separators and a plural ``s``; or when, both being at least 5 characters long,
their folded forms are one edit (insert, delete, substitute) apart. Groups are the connected
components of that relation.
"""

from __future__ import annotations

import re
from typing import Any

import pandas as pd

from .frames import STRING, TAGS_KEY, LabelPlan, checked_labels, plan_frame

MIN_FUZZY_CHARS = 5
DUPLICATE_COLUMNS = ("group", "key", "value", "count", "suggested", "incident_ids")
_SEPARATORS = re.compile(r"[\s_\-]+")


def fold(value: str) -> str:
    """The form two spellings of one label share: ``"Customer_Facings "`` → ``"customer facing"``."""
    text = _SEPARATORS.sub(" ", value.casefold()).strip()
    if text.endswith("ies") and len(text) > 4:
        return text[:-3] + "y"
    if text.endswith("s") and not text.endswith("ss") and len(text) > 3:
        return text[:-1]
    return text


def within_one_edit(a: str, b: str) -> bool:
    """True when ``a`` and ``b`` differ by at most one insertion, deletion or substitution."""
    if a == b:
        return True
    if abs(len(a) - len(b)) > 1:
        return False
    if len(a) > len(b):
        a, b = b, a
    i = 0
    while i < len(a) and a[i] == b[i]:
        i += 1
    if len(a) == len(b):
        return a[i + 1 :] == b[i + 1 :]
    return a[i:] == b[i + 1 :]


def _groups(values: list[str]) -> list[list[str]]:
    parent = list(range(len(values)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    folded = [fold(v) for v in values]
    for i in range(len(values)):
        for j in range(i + 1, len(values)):
            same = folded[i] == folded[j]
            near = (
                not same
                and min(len(values[i]), len(values[j])) >= MIN_FUZZY_CHARS
                and within_one_edit(folded[i], folded[j])
            )
            if same or near:
                parent[root(i)] = root(j)
    members: dict[int, list[str]] = {}
    for i, value in enumerate(values):
        members.setdefault(root(i), []).append(value)
    return [sorted(m) for m in members.values() if len(m) > 1]


def find_label_duplicates(labels: Any) -> pd.DataFrame:
    """Groups of label values that are probably one label, with how many incidents use each.

    ``labels`` is a labels frame (``incident_id, key, value``) or an ``IncidentData``. Returns one
    row per value in a group: ``group`` (0, 1, … most used groups first), ``key``, ``value``,
    ``count`` (incidents carrying it), ``suggested`` (True for the most used spelling, a fair
    canonical choice) and ``incident_ids``. Values are compared within one key only.

    >>> groups = find_label_duplicates(data.labels)            # doctest: +SKIP
    >>> groups[groups.value == "customer-facing"]              # doctest: +SKIP
    """
    frame = checked_labels(labels, "labels")
    clean = pd.DataFrame(
        {
            "incident_id": frame["incident_id"].astype(str),
            "key": frame["key"].astype(object).where(frame["key"].notna(), TAGS_KEY).astype(str),
            "value": frame["value"].astype(object),
        }
    )
    clean = clean[clean["value"].map(lambda v: isinstance(v, str) and bool(v.strip()))].drop_duplicates()
    users = clean.groupby(["key", "value"])["incident_id"].agg(lambda s: sorted(set(s), key=_natural))
    found: list[tuple[int, str, list[tuple[str, list[str]]]]] = []
    for key, per_key in users.groupby(level="key"):
        values = [v for _, v in per_key.index]
        for group in _groups(values):
            members = [(v, per_key.loc[(key, v)]) for v in group]
            members.sort(key=lambda m: (-len(m[1]), m[0]))
            found.append((sum(len(ids) for _, ids in members), str(key), members))
    found.sort(key=lambda g: (-g[0], g[1], g[2][0][0]))
    rows = [
        (number, key, value, len(ids), position == 0, ids)
        for number, (_, key, members) in enumerate(found)
        for position, (value, ids) in enumerate(members)
    ]
    out = pd.DataFrame(rows, columns=list(DUPLICATE_COLUMNS))
    for column in ("key", "value"):
        out[column] = out[column].astype(STRING)
    return out.astype({"group": "int64", "count": "int64", "suggested": "bool"})


def _natural(text: str) -> tuple[int, str]:
    return (int(text), "") if text.isdigit() else (1 << 62, text)


def merge_plan(groups: pd.DataFrame, into: str) -> LabelPlan:
    """A plan that merges one group of duplicates into the value ``into``.

    ``groups`` comes from ``find_label_duplicates`` (all groups, or the rows of the chosen one).
    The group is the one holding ``into``; a new spelling is allowed when ``groups`` holds exactly
    one group. Every incident carrying a value of the group gets ``into`` (added when missing) and
    loses the other values. Run it with ``apply_label_changes`` like any plan.

    >>> groups = find_label_duplicates(data.labels)                   # doctest: +SKIP
    >>> plan = merge_plan(groups, into="customer-facing")             # doctest: +SKIP
    """
    if not isinstance(into, str) or not into.strip():
        raise ValueError(f"into must be the non-empty label value to keep, got {into!r}")
    missing = [c for c in ("group", "key", "value", "incident_ids") if c not in groups.columns]
    if missing:
        raise ValueError(f"groups is missing column(s) {', '.join(missing)}; pass find_label_duplicates(...)")
    holding = groups.loc[groups["value"] == into, "group"].unique()
    if len(holding) > 1:
        raise ValueError(f"{into!r} is in groups {sorted(holding)}; pass the rows of one group")
    if len(holding) == 1:
        chosen = groups[groups["group"] == holding[0]]
    elif groups["group"].nunique() == 1:
        chosen = groups
    else:
        listed = "; ".join(
            f"group {g}: {', '.join(map(repr, rows['value']))}" for g, rows in groups.groupby("group", sort=True)
        )
        raise ValueError(f"{into!r} is in no group; choose one of its values or pass one group's rows ({listed})")
    key = str(chosen["key"].iloc[0])
    carriers: dict[str, set[str]] = {}
    for value, ids in zip(chosen["value"].astype(str), chosen["incident_ids"], strict=True):
        for iid in ids:
            carriers.setdefault(str(iid), set()).add(value)
    rows: list[dict[str, str]] = []
    for iid in sorted(carriers, key=_natural):
        carried = carriers[iid]
        if into in carried:
            rows.append({"incident_id": iid, "key": key, "value": into, "action": "skip", "reason": "already present"})
        else:
            rows.append({"incident_id": iid, "key": key, "value": into, "action": "add", "reason": "merge target"})
        for value in sorted(carried - {into}):
            rows.append(
                {"incident_id": iid, "key": key, "value": value, "action": "remove", "reason": f"merged into {into!r}"}
            )
    return plan_frame(rows)
