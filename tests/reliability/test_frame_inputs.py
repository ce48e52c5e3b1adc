"""A property over the records the frame builders receive: whatever wrong-typed value or bad time a
server puts in a field the frames read, the lenient build keeps the schema, reports a problem
naming that record and field, and leaves the rows of every other record exactly as they are built
without it; the strict build raises `ResponseFormatError` naming the record. Records come from the
emulator's real answers. Hand-picked cases are in tests/test_frames.py."""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from typing import Any

import pandas as pd
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

import incident_analytics as ia
from incident_analytics import frames
from incident_analytics.emulator import Emulator
from incident_analytics.errors import ResponseFormatError

Builder = Callable[..., pd.DataFrame]

# Fields each builder reads, as (path inside one record, what it must be). ``[*]`` is any item.
READ: dict[str, tuple[Builder, list[tuple[str, str]]]] = {
    "incidents": (frames.incidents_frame, [
        ("title", "text"), ("status", "text"), ("severity", "text"), ("createdTime", "time"),
        ("modifiedTime", "time"), ("closedTime", "time"), ("isDrill", "bool"),
    ]),
    "tasks": (frames.tasks_frame, [
        ("taskList.tasks[*].text", "text"), ("taskList.tasks[*].status", "text"),
        ("taskList.tasks[*].createdTime", "time"), ("taskList.tasks[*].immutable", "bool"),
    ]),
    "labels": (frames.labels_frame, [("labels[*].label", "text"), ("labels[*].colorHex", "text")]),
    "activity": (frames.activity_frame, [
        ("activityKind", "text"), ("body", "text"), ("eventTime", "time"), ("createdTime", "time"),
        ("user.name", "text"),
    ]),
}
WRONG = {
    "text": [5, 2.5, True, ["x"], {"a": 1}],
    "time": ["yesterday", "2026-13-45T00:00:00Z", 17, ["2026-01-01T00:00:00Z"], {"t": 1}],
    "bool": ["yes", 1.5, ["true"], {"b": True}],
}


@pytest.fixture(scope="module")
def answers() -> Iterator[dict[str, list[dict[str, Any]]]]:
    with Emulator(seed=3, incidents=5) as emu, ia.IncidentClient(emu.url, emu.token) as client:
        incidents = [client.incidents.get(str(i)) for i in range(1, 6)]
        activity = [item for i in range(1, 6) for item in client.activity.query(str(i))][:20]
    yield {"incidents": incidents, "tasks": incidents, "labels": incidents, "activity": activity}


def _targets(record: dict[str, Any], path: str) -> list[tuple[Any, str | int]]:
    """(container, key) of every place ``path`` names in ``record`` that exists."""
    places: list[tuple[Any, str | int]] = [(None, "")]
    node: list[Any] = [record]
    for part in path.split("."):
        name, star = (part[:-3], True) if part.endswith("[*]") else (part, False)
        next_places: list[tuple[Any, str | int]] = []
        next_nodes: list[Any] = []
        for value in node:
            if not isinstance(value, dict) or name not in value:
                continue
            if star:
                items = value[name] if isinstance(value[name], list) else []
                next_places += [(value[name], i) for i in range(len(items))]
                next_nodes += items
            else:
                next_places.append((value, name))
                next_nodes.append(value[name])
        places, node = next_places, next_nodes
    return places


def _rows_of(frame: pd.DataFrame, keys: set[str]) -> pd.DataFrame:
    return frame[frame["incident_id"].isin(keys)].reset_index(drop=True)


@settings(max_examples=60, deadline=None, database=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_a_bad_value_anywhere_is_one_named_problem_and_every_other_record_is_untouched(
    answers: dict[str, list[dict[str, Any]]], data: st.DataObject
) -> None:
    name = data.draw(st.sampled_from(sorted(READ)), label="frame")
    builder, fields = READ[name]
    records = copy.deepcopy(answers[name])
    spoiled: set[int] = set()
    # Every choice is drawn up front, the same shape whatever the records hold, so that hypothesis
    # can replay and shrink an example choice by choice.
    picks = data.draw(
        st.lists(st.tuples(st.integers(0, len(records) - 1), st.integers(0, len(fields) - 1),
                           st.integers(0, 99), st.integers(0, 4)), min_size=1, max_size=3),
        label="bad values (record, field, place, value)",
    )
    for index, field, place, value in picks:
        path, kind = fields[field]
        places = _targets(records[index], path)
        if places:
            container, key = places[place % len(places)]
            wrong = WRONG[kind]
            container[key] = copy.deepcopy(wrong[value % len(wrong)])
            spoiled.add(index)
    event(f"{name}: {len(spoiled)} records spoiled")
    problems: list[frames.RecordProblem] = []
    frame = builder(records, problems=problems)
    assert frame.dtypes.equals(frames.empty_frame(name).dtypes)
    assert {p.record for p in problems} == spoiled, [p.message for p in problems]
    assert all(p.field and p.problem for p in problems)

    # By incident, not by record: an incident has several activity items, and one spoiled spoils it.
    clean_ids = {str(r["incidentID"]) for r in records} - {str(records[i]["incidentID"]) for i in spoiled}
    alone = builder([r for i, r in enumerate(records) if str(r["incidentID"]) in clean_ids])
    pd.testing.assert_frame_equal(_rows_of(frame, clean_ids), _rows_of(alone, clean_ids))

    if spoiled:
        with pytest.raises(ResponseFormatError, match=rf"record ({'|'.join(map(str, sorted(spoiled)))})\b"):
            builder(records)
