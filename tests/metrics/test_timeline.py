"""lifecycle and workload from activity timelines: the issue's examples and hand-made timelines."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import incident_analytics as ia
from incident_analytics import metrics

from .conftest import frame, incident

M = pd.Timedelta(minutes=1)


def item(incident_id: str, kind: str, at: str, user: str | None, body: str = "", subject: str | None = None) -> dict:
    return {
        "incident_id": incident_id,
        "activity_item_id": f"{incident_id}-{kind}-{at}",
        "activity_kind": kind,
        "created_time": f"2026-05-04 {at}",
        "event_time": f"2026-05-04 {at}",
        "user_id": user,
        "user_name": None if user is None else user.upper(),
        "subject_user_id": subject,
        "body": body,
    }


def activity(*rows: dict) -> pd.DataFrame:
    return frame("activity", list(rows))


# --------------------------------------------------------------------------------------------------
# workload


def test_workload_example_working_hours() -> None:
    result = metrics.workload(
        activity(
            item("1", "userNote", "09:00", "ann"),
            item("1", "userNote", "09:05", "ann"),
            item("1", "userNote", "09:40", "ann"),
        )
    )
    row = result.per_person.iloc[0]
    assert (row["user_id"], row["total"], row["working"], row["late"], row["sleeping"]) == (
        "ann",
        25 * M,
        25 * M,
        0 * M,
        0 * M,
    )
    assert row["stretches"] == 2 and row["items"] == 3
    stretches = result.stretches
    assert stretches["start"].dt.strftime("%H:%M").tolist() == ["09:00", "09:40"]
    assert stretches["end"].dt.strftime("%H:%M").tolist() == ["09:15", "09:50"]


def test_workload_example_late_and_sleeping() -> None:
    result = metrics.workload(activity(item("1", "userNote", "22:55", "ann"), item("1", "userNote", "23:10", "ann")))
    row = result.per_person.iloc[0]
    assert (row["total"], row["working"], row["late"], row["sleeping"]) == (25 * M, 0 * M, 5 * M, 20 * M)
    assert result["total"].iloc[0] == 25 * M  # indexing the result indexes per_person


def test_workload_merges_parallel_incidents_and_splits_per_incident() -> None:
    result = metrics.workload(
        activity(
            item("1", "userNote", "10:00", "ann"),
            item("2", "userNote", "10:02", "ann"),  # a parallel incident: one stretch 10:00-10:12
            item("1", "userNote", "10:04", "bob"),
        )
    )
    people = result.per_person.set_index("user_id")
    assert people.loc["ann", "total"] == 12 * M and people.loc["ann", "incidents"] == 2
    assert people.loc["bob", "total"] == 10 * M
    split = result.per_incident[result.per_incident["user_id"] == "ann"].set_index("incident_id")["total"]
    assert split.to_dict() == {"2": 10 * M, "1": 2 * M}
    assert split.sum() == people.loc["ann", "total"]


def test_workload_time_zone_and_bands() -> None:
    items = activity(item("1", "userNote", "21:00", "ann"))  # 23:00 in Berlin (summer time)
    berlin = metrics.workload(items, tz="Europe/Berlin").per_person.iloc[0]
    assert (berlin["working"], berlin["late"], berlin["sleeping"]) == (0 * M, 0 * M, 10 * M)
    custom = metrics.workload(items, working=(9, 21.1), late=(21.1, 22)).per_person.iloc[0]
    assert (custom["working"], custom["late"], custom["sleeping"]) == (6 * M, 4 * M, 0 * M)
    with pytest.raises(ValueError, match="overlap"):
        metrics.workload(items, working=(8, 20), late=(19, 23))
    with pytest.raises(ValueError, match="tz 'Mars/Olympus'"):
        metrics.workload(items, tz="Mars/Olympus")
    with pytest.raises(ValueError, match="missing column\\(s\\) 'user_id'"):
        metrics.workload(items.drop(columns=["user_id"]))


def test_workload_skips_items_without_a_person_and_drills() -> None:
    items = activity(item("1", "incidentUpdated", "10:00", None), item("2", "userNote", "10:00", "ann"))
    assert metrics.workload(items).per_person.empty is False
    assert metrics.workload(items).per_person["items"].sum() == 1
    incidents = frame(
        "incidents", [incident("1", "2026-05-04 09:00", None), incident("2", "2026-05-04 09:00", None, is_drill=True)]
    )
    assert metrics.workload(items, incidents=incidents).per_person.empty
    assert metrics.workload(activity()).per_person.empty


def test_workload_on_emulator_data_never_exceeds_one_hour_per_hour(emulator_data: ia.IncidentData) -> None:
    result = metrics.workload(emulator_data.activity, tz="Europe/Berlin")
    people = result.per_person
    assert len(people) > 3
    assert (people["working"] + people["late"] + people["sleeping"] == people["total"]).all()
    stretches = result.stretches.sort_values(["user_id", "start"])
    for _, own in stretches.groupby("user_id"):
        assert (own["start"].iloc[1:].to_numpy() >= own["end"].iloc[:-1].to_numpy()).all()
    totals = result.per_incident.groupby("user_id")["total"].sum()
    assert (totals.reindex(people["user_id"]).to_numpy() == people["total"].to_numpy()).all()


# --------------------------------------------------------------------------------------------------
# lifecycle


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


def test_event_time_stands_in_for_a_missing_created_time() -> None:
    items = activity(item("1", "userNote", "22:55", "ann"), item("1", "userNote", "23:10", "ann"))
    only_event = items.drop(columns=["created_time"])
    row = metrics.workload(only_event).per_person.iloc[0]
    assert (row["total"], row["late"], row["sleeping"]) == (25 * M, 5 * M, 20 * M)
