"""lifecycle from activity timelines: hand-made timelines and emulator data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import incident_analytics as ia
from incident_analytics import metrics

from .conftest import activity, frame, incident, item

M = pd.Timedelta(minutes=1)


@pytest.fixture
def timeline() -> tuple[pd.DataFrame, pd.DataFrame]:
    incidents = frame(
        "incidents",
        [
            {
                **incident("1", "2026-05-04 10:00", "2026-05-04 12:00", severity="Major"),
                "created_by_user_id": "ann",
                "task_todo_count": 1,
                "task_done_count": 2,
            },
            {**incident("2", "2026-05-04 10:00", None, severity="Minor"), "created_by_user_id": "bob"},
        ],
    )
    items = activity(
        item("1", "incidentCreated", "10:00", "ann", "Incident declared: db down"),
        item("1", "roleAssigned", "10:01", "ann", "Ann assigned as commander", subject="ann"),
        item("1", "userNote", "10:02", "ann", "looking"),  # the declarer: not a response
        item("1", "incidentSeverityChanged", "10:05", "cat", "Severity changed from Pending to Minor"),
        item("1", "userNote", "10:07", "cat", "found it"),
        item("1", "incidentSeverityChanged", "10:30", "cat", "Severity changed from Minor to Major"),
        item("1", "incidentStatusChanged", "11:00", "cat", "Status changed from active to resolved"),
        item("1", "incidentStatusChanged", "11:10", "cat", "Status changed from resolved to active"),
        item("1", "incidentStatusChanged", "11:50", "cat", "Status changed from active to resolved"),
        item("2", "incidentCreated", "10:00", "bob", "Incident declared: slow"),
        item("2", "roleAssigned", "10:20", "bob", "Dan assigned as investigator", subject="dan"),
    )
    return incidents, items


def test_lifecycle_hand_made_timeline(timeline: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    incidents, items = timeline
    before = items.copy()
    result = metrics.lifecycle(items, incidents, as_of="2026-05-04 13:00")
    pd.testing.assert_frame_equal(items, before)
    one = result.per_incident.set_index("incident_id").loc["1"]
    assert one["declarer"] == "ann"
    assert one["time_to_first_response"] == 5 * M and one["first_responder"] == "cat"
    assert one["time_to_commander"] == 1 * M and one["commander"] == "ann"
    assert (one["severity_changes"], one["escalated"], one["reopened"], one["notes"]) == (2, True, 1, 2)
    assert (one["tasks_done_at_close"], one["tasks_total"]) == (2, 3)  # the counts as fetched
    two = result["incident_id"].tolist().index("2")
    assert pd.isna(result["time_to_first_response"].iloc[two])  # only the declarer acted
    assert pd.isna(result["time_to_commander"].iloc[two]) and pd.isna(result["commander"].iloc[two])
    assert not result["escalated"].iloc[two]
    spans = result.time_in_severity
    one_spans = spans[spans["incident_id"] == "1"].set_index("severity")["duration"].to_dict()
    assert one_spans == {"Pending": 5 * M, "Minor": 25 * M, "Major": 90 * M}  # declared 10:00, closed 12:00
    two_spans = spans[spans["incident_id"] == "2"].set_index("severity")["duration"].to_dict()
    assert two_spans == {"Minor": 3 * 60 * M}  # still open: to as_of


def test_lifecycle_commander_from_assignments_and_tasks_at_close(timeline: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    incidents, items = timeline
    items = pd.concat(
        [items, activity(item("2", "roleAssigned", "10:30", "bob", "Role assigned", subject="eve"))], ignore_index=True
    )
    assignments = frame("assignments", [{"incident_id": "2", "role": "commander", "user_id": "eve"}])
    tasks = frame(
        "tasks",
        [
            {
                "incident_id": "1",
                "task_id": "a",
                "status": "done",
                "created_time": "2026-05-04 10:00",
                "modified_time": "2026-05-04 11:00",
            },
            {
                "incident_id": "1",
                "task_id": "b",
                "status": "done",
                "created_time": "2026-05-04 10:00",
                "modified_time": "2026-05-04 12:30",
            },  # done after the close
            {
                "incident_id": "1",
                "task_id": "c",
                "status": "todo",
                "created_time": "2026-05-04 10:10",
                "modified_time": "2026-05-04 10:10",
            },
            {
                "incident_id": "1",
                "task_id": "d",
                "status": "todo",
                "created_time": "2026-05-04 12:40",
                "modified_time": "2026-05-04 12:40",
            },  # added after the close
        ],
    )
    result = metrics.lifecycle(items, incidents, assignments=assignments, tasks=tasks, as_of="2026-05-04 13:00")
    rows = result.per_incident.set_index("incident_id")
    assert rows.loc["2", "time_to_commander"] == 30 * M and rows.loc["2", "commander"] == "eve"
    assert (rows.loc["1", "tasks_done_at_close"], rows.loc["1", "tasks_total"]) == (1, 3)
    with pytest.raises(ValueError, match="activity frame is missing column\\(s\\) 'body'"):
        metrics.lifecycle(items.drop(columns=["body"]), incidents)


def test_lifecycle_on_emulator_data(emulator_data: ia.IncidentData) -> None:
    data = emulator_data
    result = metrics.lifecycle(
        data.activity, data.incidents, assignments=data.assignments, tasks=data.tasks, as_of=data.fetched_at
    )
    rows = result.per_incident
    real = data.incidents[~data.incidents["is_drill"].fillna(False).astype(bool)]
    assert len(rows) == len(real)
    assert (rows["time_to_commander"].dropna() >= pd.Timedelta(0)).all()
    assert (rows["time_to_first_response"].dropna() >= pd.Timedelta(0)).all()
    # Commanders named on the timeline hold the commander role now.
    held = data.assignments[data.assignments["role"] == "commander"][["incident_id", "user_id"]]
    pairs = set(held.itertuples(index=False, name=None))
    named = rows.dropna(subset=["time_to_commander"])
    assert len(named) > 0 and all(
        (i, u) in pairs for i, u in zip(named["incident_id"], named["commander"], strict=False)
    )
    notes = data.activity[data.activity["activity_kind"] == "userNote"].groupby("incident_id").size()
    assert (
        rows.set_index("incident_id")["notes"].to_dict() == notes.reindex(rows["incident_id"], fill_value=0).to_dict()
    )
    assert (rows["tasks_done_at_close"] <= rows["tasks_total"]).all()
    # Time in severity covers declaration to close (or as_of) for each incident.
    spans = result.time_in_severity.groupby("incident_id")["duration"].sum()
    closed = real.set_index("incident_id")["closed_time"].fillna(data.fetched_at)
    life = closed - real.set_index("incident_id")["created_time"]
    assert np.allclose(spans.dt.total_seconds(), life.reindex(spans.index).dt.total_seconds(), atol=1e-6)


def test_results_read_like_their_main_frame(timeline: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    incidents, items = timeline
    life = metrics.lifecycle(items, incidents, as_of="2026-05-04 13:00")
    assert list(life.columns) == [
        "incident_id",
        "declarer",
        "time_to_first_response",
        "first_responder",
        "time_to_commander",
        "commander",
        "severity_changes",
        "escalated",
        "reopened",
        "notes",
        "tasks_done_at_close",
        "tasks_total",
    ]
    assert len(life) == 2 and life.set_index("incident_id").loc["1", "notes"] == 2
    load = metrics.workload(items)
    assert "total" in load.columns and len(load) == load.per_person.shape[0]
    with pytest.raises(AttributeError):
        load._private  # noqa: B018
