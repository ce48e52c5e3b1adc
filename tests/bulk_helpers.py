"""Helpers shared by the bulk tests and benchmark: server-side label truth and write counts."""

from __future__ import annotations

from collections import Counter

import pandas as pd

from incident_analytics.emulator import Emulator

WRITE_METHODS = frozenset(
    {
        "IncidentsService.AddLabel",
        "IncidentsService.RemoveLabel",
        "IncidentsService.AssignLabel",
        "IncidentsService.UnassignLabel",
    }
)


def server_labels(emu: Emulator, incident_id: str) -> list[tuple[str, str]]:
    """The incident's labels as the emulator holds them, duplicates kept (a list, not a set)."""
    with emu.state.lock:
        incident = emu.state.get(incident_id)
        assert incident is not None, incident_id
        return [(label.key, label.text) for label in incident.labels]


def successful_writes(emu: Emulator) -> Counter[tuple[str, str, str, str]]:
    """(incident_id, key, value, action) → how many label writes the server answered with 200."""
    counts: Counter[tuple[str, str, str, str]] = Counter()
    for record in emu.requests:
        if record.method not in WRITE_METHODS or record.status != 200 or not isinstance(record.body, dict):
            continue
        body = record.body
        action = "add" if record.method.endswith(("AddLabel", ".AssignLabel")) else "remove"
        if record.method.endswith(("AddLabel", "RemoveLabel")):
            label = body["label"]
            value = label["label"] if isinstance(label, dict) else label
            counts[(body["incidentID"], "tags", value, action)] += 1
        else:
            counts[(body["incidentID"], body["key"], body["value"], action)] += 1
    return counts


def expected_after(emu_labels: dict[str, list[tuple[str, str]]], plan: pd.DataFrame) -> dict[str, set[tuple[str, str]]]:
    """The label sets the plan should leave, from the labels before it ran."""
    out = {iid: set(labels) for iid, labels in emu_labels.items()}
    for row in plan.itertuples():
        labels = out.setdefault(str(row.incident_id), set())
        if row.action == "add":
            labels.add((str(row.key), str(row.value)))
        elif row.action == "remove":
            labels.discard((str(row.key), str(row.value)))
    return out
