"""The builders on emulator data, checked against frames built by hand from the emulator's own model
(nanosecond integers and dataclasses, not the wire JSON), so the JSON round trip itself is tested."""

from __future__ import annotations

import pandas as pd
import pytest
from pandas.testing import assert_frame_equal

from incident_analytics import frames
from incident_analytics.emulator import render
from incident_analytics.emulator.state import State


@pytest.fixture(scope="module")
def state() -> State:
    return State(seed=11, incidents=150)


def stamp(ns: int | None) -> object:
    return pd.NaT if ns is None else pd.Timestamp(ns, unit="ns", tz="UTC")


def test_incident_times_and_fields_match_the_model_to_the_nanosecond(state: State) -> None:
    ids = sorted(state.incidents, key=int)
    got = frames.incidents_frame([state.render_incident(i) for i in ids])
    model = [state.incidents[i] for i in ids]
    expected = pd.DataFrame(
        {
            "incident_id": [i.incident_id for i in model],
            "status": [i.status for i in model],
            "severity": [state.severity_label(i) for i in model],
            "is_drill": [i.is_drill for i in model],
            "created_time": [stamp(i.created_ns) for i in model],
            "modified_time": [stamp(i.modified_ns) for i in model],
            "closed_time": [stamp(i.closed_ns) for i in model],
            "incident_start": [stamp(i.start_ns) for i in model],
            "incident_end": [stamp(i.end_ns) for i in model],
        }
    ).astype(
        {
            k: frames.SCHEMAS["incidents"][k]
            for k in [
                "incident_id",
                "status",
                "severity",
                "is_drill",
                "created_time",
                "modified_time",
                "closed_time",
                "incident_start",
                "incident_end",
            ]
        }
    )
    assert_frame_equal(got[list(expected.columns)], expected)
    # Open incidents have no end; the wire said "" and the frame says NaT.
    open_rows = got[got["status"] == "active"]
    assert len(open_rows) > 0 and open_rows["closed_time"].isna().all()


def test_tasks_and_activity_match_the_model(state: State) -> None:
    ids = sorted(state.incidents, key=int)
    records = [state.render_incident(i) for i in ids]
    tasks = frames.tasks_frame(records)
    expected_tasks = [
        (i.incident_id, t.task_id, t.status, t.immutable, stamp(t.created_ns))
        for i in (state.incidents[x] for x in ids)
        for t in i.tasks
    ]
    got_tasks = list(
        tasks[["incident_id", "task_id", "status", "immutable", "created_time"]].itertuples(index=False, name=None)
    )
    assert got_tasks == expected_tasks
    # System tasks have no author (authorUser: null on the wire).
    system = tasks[tasks["task_id"].str.startswith("assign-role-") | (tasks["task_id"] == "must-choose-severity")]
    assert len(system) > 0 and system["author_user_id"].isna().all()

    incident = state.incidents[ids[0]]
    items = [render.activity_item(state.catalog, item) for item in incident.activity]
    activity = frames.activity_frame(items)
    assert list(activity["activity_item_id"]) == [a.item_id for a in incident.activity]
    assert list(activity["event_time"]) == [stamp(a.event_ns) for a in incident.activity]
    assert list(activity["activity_kind"]) == [a.kind for a in incident.activity]


def test_total_participants_is_the_distinct_people_holding_a_role(state: State) -> None:
    ids = sorted(state.incidents, key=int)
    want = [len({a.user_id for a in state.incidents[i].assignments}) for i in ids]
    full = frames.incidents_frame([state.render_incident(i) for i in ids])
    assert full["total_participants"].tolist() == want
    previews = frames.incidents_frame([state.render_preview(i, membership=True) for i in ids])
    assert previews["total_participants"].tolist() == want
    assert any(count > 1 for count in want)
