"""``plan_label_changes``: desired labels vs current labels → one row per change."""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Hashable
from typing import Any, Literal

import pandas as pd

from . import snapshot
from .current import Label, from_client, from_frames
from .frames import LabelPlan, plan_frame
from .validate import Problems, desired_rows

Mode = Literal["add", "remove", "replace"]
MODES = ("add", "remove", "replace")


def plan_label_changes(
    desired: pd.DataFrame,
    *,
    current: Any = None,
    mode: Mode = "add",
    client: Any = None,
) -> LabelPlan:
    """Compare wanted labels with the incidents' labels and list the changes, one row each.

    ``desired`` has ``incident_id``, ``key`` (optional; ``"tags"`` or missing for free-form labels)
    and ``value``, or ``incident_id`` and a ``labels`` column of lists (``"team:payments"``,
    ``"security"``). ``current`` is a labels frame or the ``IncidentData`` of a fetch (then incidents
    without labels are known too); without it the labels are read through ``client``.

    * ``mode="add"``: add each desired label an incident lacks.
    * ``mode="remove"``: remove each desired label an incident carries.
    * ``mode="replace"``: add the missing ones and remove the labels not in the desired set, only
      for the keys the desired set names on that incident (other keys are left alone).

    Returns a ``LabelPlan`` with ``incident_id, key, value, action (add|remove|skip), reason``;
    no-ops are ``skip`` rows. Nothing is written. A plan made through ``client`` records that read
    in ``plan.attrs["labels_read"]``, so applying it at once need not read every incident again.
    Raises ``ValueError`` naming the rows for missing columns, empty or NaN IDs, duplicate rows,
    unknown incidents and values of the wrong type.

    >>> desired = pd.DataFrame({"incident_id": ["17", "17"], "key": ["team", "tags"],
    ...                         "value": ["payments", "security"]})
    >>> plan = plan_label_changes(desired, current=data)       # doctest: +SKIP
    >>> plan_label_changes(desired, client=client, mode="replace")  # doctest: +SKIP
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
    rows = desired_rows(desired)
    read_at = time.time()  # before the reads: the plan is as old as its first read
    if current is not None:
        labels, known = from_frames(current)
    elif client is not None:
        labels, known = from_client(client, {iid for _, iid, _, _ in rows})
    else:
        raise ValueError("give current= (a labels frame or IncidentData) or client= to read the current labels")
    problems = Problems("desired")
    for row, iid, _, _ in rows:
        if iid not in known:
            where = "on the server" if current is None else "in current"
            problems.add(f"unknown incident {iid} (not found {where})", row)
    problems.raise_if_any()
    changes = _changes(rows, labels, mode)
    plan = plan_frame(changes)
    server = getattr(client, "base_url", None)
    if current is None and isinstance(server, str):
        snapshot.record(plan.attrs, server=server, read_at=read_at, changes=changes)
    return plan


def _changes(
    rows: list[tuple[Hashable, str, str, str]], labels: dict[str, set[Label]], mode: str
) -> list[dict[str, str]]:
    wanted: dict[str, list[Label]] = defaultdict(list)
    for _, iid, key, value in rows:
        wanted[iid].append((key, value))
    out: list[dict[str, str]] = []
    for iid, want in wanted.items():
        have = labels.get(iid, set())
        changes: list[tuple[str, str, str, str]] = []  # action, key, value, reason
        for key, value in want:
            present = (key, value) in have
            if mode == "remove":
                changes.append(("remove", key, value, "present") if present else ("skip", key, value, "already absent"))
            else:
                changes.append(("skip", key, value, "already present") if present else ("add", key, value, "missing"))
        if mode == "replace":
            keep = set(want)
            keys = {key for key, _ in want}
            for key, value in sorted(have - keep):
                if key in keys:
                    changes.append(("remove", key, value, f"not in the desired set for key {key!r}"))
        # Adds before removes, so an incident keeps a label of the key while it is being replaced.
        order = {"add": 0, "remove": 1, "skip": 2}
        for action, key, value, reason in sorted(changes, key=lambda c: (order[c[0]], c[1], c[2])):
            out.append({"incident_id": iid, "key": key, "value": value, "action": action, "reason": reason})
    return out
