"""workload: the issue's examples, parallel incidents, time zones, emulator data."""

from __future__ import annotations

import pandas as pd
import pytest

import incident_analytics as ia
from incident_analytics import metrics

from .conftest import activity, frame, incident, item

M = pd.Timedelta(minutes=1)


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


def test_event_time_stands_in_for_a_missing_created_time() -> None:
    items = activity(item("1", "userNote", "22:55", "ann"), item("1", "userNote", "23:10", "ann"))
    only_event = items.drop(columns=["created_time"])
    row = metrics.workload(only_event).per_person.iloc[0]
    assert (row["total"], row["late"], row["sleeping"]) == (25 * M, 5 * M, 20 * M)
