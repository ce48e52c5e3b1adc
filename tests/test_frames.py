"""The frame builders: columns, dtypes and values from the API's own example responses, time parsing,
placeholders and duplicates, and the errors a malformed response gives."""

from __future__ import annotations

import copy
import doctest
import json
from collections.abc import Callable, Iterable, Mapping
from functools import cache
from pathlib import Path
from types import MappingProxyType
from typing import Any

import pandas as pd
import pytest
from pandas.testing import assert_frame_equal

from incident_analytics import frames
from incident_analytics.errors import ResponseFormatError
from incident_analytics.frames import (
    SCHEMAS,
    TABLES,
    RecordProblem,
    activity_frame,
    assignments_frame,
    empty_frame,
    incidents_frame,
    labels_frame,
    tasks_frame,
)
from incident_analytics.schema import ERROR_SCHEMA, ERRORS

# A copy of the official Go client's stub responses (docs/api.md#sources), so the tests need nothing outside
# the repository.
EXAMPLES_PATH = Path(__file__).parent / "fixtures" / "response-examples.json"

Builder = Callable[[Iterable[Mapping[str, Any]]], pd.DataFrame]
BUILDERS: dict[str, Builder] = {
    "incidents": incidents_frame,
    "tasks": tasks_frame,
    "labels": labels_frame,
    "assignments": assignments_frame,
    "activity": activity_frame,
}


@cache
def _examples() -> dict[str, Any]:
    return json.loads(EXAMPLES_PATH.read_text())  # type: ignore[no-any-return]


def example(method: str) -> Any:
    """A fresh copy of the example response body of ``method`` (tests may change it)."""
    return copy.deepcopy(_examples()[method])


def expected(name: str, rows: list[dict[str, Any]]) -> pd.DataFrame:
    """A frame of ``name`` from hand-written rows (missing columns are NA), in the declared dtypes."""
    return pd.DataFrame(rows, columns=list(SCHEMAS[name])).astype(SCHEMAS[name])


def utc(text: str) -> pd.Timestamp:
    """The instant ``text`` (which carries a zone) in UTC."""
    return pd.Timestamp(text).tz_convert("UTC")


MORTY = {"userID": "user-123", "name": "Morty Smith"}
EXAMPLE_INCIDENT = {
    "incident_id": "incident-123",
    "title": "high latency in web requests",
    "status": "active",
    "severity": "minor",
    "incident_type": "internal",
    "is_drill": True,
    "created_time": utc("2021-08-07T11:58:23Z"),
    "modified_time": utc("2021-08-07T11:58:23Z"),
    "closed_time": utc("2021-08-07T11:58:23Z"),
    # The stubs' space-separated time without a zone, read as UTC, microseconds kept.
    "incident_start": utc("2022-02-11T00:50:20.574137Z"),
    "incident_end": utc("2022-02-11T00:50:20.574137Z"),
    "duration_seconds": 60,
    "created_by_user_id": "user-123",
    "created_by_name": "Morty Smith",
    "summary": "Something happened, we found out something interesting, then we fixed it.",
    "overview_url": "/a/grafana-irm-app/incidents/incident-123/title",
    "task_todo_count": 5,
    "task_done_count": 8,
    "total_participants": 3,
}


# --------------------------------------------------------------------------------------------------
# Schemas and empty input


def test_schemas_declare_the_documented_columns_dtypes_and_order() -> None:
    time = "datetime64[ns, UTC]"
    assert list(SCHEMAS["incidents"].items()) == [
        ("incident_id", "string"), ("title", "string"), ("status", "string"), ("severity", "string"),
        ("severity_id", "string"), ("incident_type", "string"), ("is_drill", "boolean"),
        ("created_time", time), ("modified_time", time), ("closed_time", time), ("incident_start", time),
        ("incident_end", time), ("duration_seconds", "Int64"), ("created_by_user_id", "string"),
        ("created_by_name", "string"), ("summary", "string"), ("description", "string"), ("slug", "string"),
        ("overview_url", "string"), ("task_todo_count", "Int64"), ("task_done_count", "Int64"),
        ("total_participants", "Int64"),
    ]  # fmt: skip
    assert list(SCHEMAS["tasks"].items()) == [
        ("incident_id", "string"), ("task_id", "string"), ("text", "string"), ("status", "string"),
        ("immutable", "boolean"), ("created_time", time), ("modified_time", time),
        ("author_user_id", "string"), ("author_name", "string"), ("assigned_user_id", "string"),
        ("assigned_name", "string"),
    ]  # fmt: skip
    assert list(SCHEMAS["labels"].items()) == [
        ("incident_id", "string"), ("key", "string"), ("value", "string"), ("description", "string"),
        ("color_hex", "string"),
    ]  # fmt: skip
    assert list(SCHEMAS["assignments"].items()) == [
        ("incident_id", "string"), ("role_id", "Int64"), ("role", "string"), ("user_id", "string"),
        ("user_name", "string"), ("important", "boolean"), ("mandatory", "boolean"),
    ]  # fmt: skip
    assert list(SCHEMAS["activity"].items()) == [
        ("incident_id", "string"), ("activity_item_id", "string"), ("activity_kind", "string"),
        ("event_time", time), ("created_time", time), ("user_id", "string"), ("user_name", "string"),
        ("subject_user_id", "string"), ("subject_user_name", "string"), ("body", "string"), ("url", "string"),
        ("tags", "string"), ("relevance", "string"), ("immutable", "boolean"),
    ]  # fmt: skip


@pytest.mark.parametrize("name", list(BUILDERS))
def test_empty_input_gives_an_empty_frame_with_the_full_schema(name: str) -> None:
    for empty in ([], iter(())):
        frame = BUILDERS[name](empty)
        assert frame.empty
        assert frame.dtypes.astype(str).to_dict() == SCHEMAS[name]
        assert_frame_equal(frame, empty_frame(name))
        assert_frame_equal(frame, expected(name, []))


def test_empty_frame_refuses_an_unknown_name() -> None:
    with pytest.raises(ValueError, match="incident"):
        empty_frame("incident")


# --------------------------------------------------------------------------------------------------
# incidents


def test_incidents_from_query_incidents_keep_one_row_per_incident() -> None:
    records = example("IncidentsService.QueryIncidents")["incidents"]
    assert len(records) == 2  # the example repeats the same incident
    assert_frame_equal(incidents_frame(records), expected("incidents", [EXAMPLE_INCIDENT]))


def test_incidents_from_get_incident() -> None:
    record = example("IncidentsService.GetIncident")["incident"]
    assert_frame_equal(incidents_frame([record]), expected("incidents", [EXAMPLE_INCIDENT]))


def test_incidents_from_previews_take_severity_from_severity_label() -> None:
    records = example("IncidentsService.QueryIncidentPreviews")["incidentPreviews"]
    row = {
        "incident_id": "incident-123",
        "title": "high latency in web requests",
        "status": "active",
        "severity": "major",
        "severity_id": "severity-123",
        "incident_type": "internal",
        "is_drill": True,
        "created_time": utc("2021-08-07T11:58:23Z"),
        "modified_time": utc("2021-08-07T11:58:23Z"),
        "closed_time": utc("2021-08-07T11:58:23Z"),
        "incident_start": utc("2022-02-11T00:50:20.574137Z"),
        "incident_end": utc("2022-02-11T00:50:20.574137Z"),
        "created_by_user_id": "user-123",
        "created_by_name": "Morty Smith",
        "summary": "Lighting struck the server so we lost some throughput. We sprayed it with an 8-bit "
        "fire extinguisher and now it's back to normal.",
        "description": "Looks like there is a problem with the load balancers...",
        "slug": "high-latency-in-web-requests",
        "total_participants": 3,
    }
    assert_frame_equal(incidents_frame(records), expected("incidents", [row]))


def test_incidents_mix_full_and_preview_records_leaving_what_a_kind_lacks_missing() -> None:
    full = example("IncidentsService.GetIncident")["incident"]
    preview = example("IncidentsService.QueryIncidentPreviews")["incidentPreviews"][0]
    preview["incidentID"] = "2"
    frame = incidents_frame([full, preview]).set_index("incident_id")
    assert frame.loc["incident-123", "severity"] == "minor"
    assert frame.loc["2", "severity"] == "major"
    assert pd.isna(frame.loc["incident-123", "severity_id"])
    assert pd.isna(frame.loc["incident-123", "slug"])
    assert frame.loc["2", "slug"] == "high-latency-in-web-requests"
    assert pd.isna(frame.loc["2", "duration_seconds"])
    assert pd.isna(frame.loc["2", "task_todo_count"])
    assert pd.isna(frame.loc["2", "overview_url"])
    assert frame.loc["incident-123", "task_done_count"] == 8


def test_a_repeated_incident_keeps_its_first_record() -> None:
    records = [
        {"incidentID": "1", "title": "first"},
        {"incidentID": "2", "title": "other"},
        {"incidentID": "1", "title": "second"},
    ]
    frame = incidents_frame(records)
    assert frame["incident_id"].tolist() == ["1", "2"]
    assert frame["title"].tolist() == ["first", "other"]
    assert frame.index.tolist() == [0, 1]


def test_open_incident_has_missing_end_times() -> None:
    record = {"incidentID": "7", "status": "active", "closedTime": "", "incidentEnd": "", "isDrill": False}
    frame = incidents_frame([record])
    assert frame[["closed_time", "incident_end"]].isna().all().all()
    assert frame["is_drill"].tolist() == [False]


def test_unknown_fields_are_ignored_at_every_level() -> None:
    plain = example("IncidentsService.GetIncident")["incident"]
    extended = copy.deepcopy(plain)
    extended["statusID"] = 3
    extended["prefix"] = {"nested": ["anything"]}
    extended["createdByUser"]["email"] = "morty@example.com"
    extended["taskList"]["tasks"][0]["priority"] = 1
    extended["labels"][0]["labelUUID"] = "u-1"
    extended["incidentMembership"]["assignments"][0]["role"]["orgRole"] = "Editor"
    for name in ("incidents", "tasks", "labels", "assignments"):
        assert_frame_equal(BUILDERS[name]([extended]), BUILDERS[name]([plain]))
    item = example("ActivityService.QueryActivity")["activityItems"][0]
    assert_frame_equal(activity_frame([{**item, "reactions": [{"emoji": "+1"}]}]), activity_frame([item]))


def test_records_may_be_any_mapping() -> None:
    record = example("IncidentsService.GetIncident")["incident"]
    proxied = MappingProxyType({**record, "createdByUser": MappingProxyType(record["createdByUser"])})
    assert_frame_equal(incidents_frame([proxied]), incidents_frame([record]))


# --------------------------------------------------------------------------------------------------
# Times


TIMES = [
    ("2026-09-19T11:02:02Z", utc("2026-09-19T11:02:02Z")),
    ("2026-09-19T11:02:02.688Z", utc("2026-09-19T11:02:02.688Z")),
    ("2026-09-19T11:02:02.688373Z", utc("2026-09-19T11:02:02.688373Z")),
    ("2026-09-19T11:07:18.515762775Z", utc("2026-09-19T11:07:18.515762775Z")),
    ("2026-09-19T11:33:27.17626Z", utc("2026-09-19T11:33:27.176260Z")),
    ("2026-09-19T11:02:02+02:00", utc("2026-09-19T09:02:02Z")),
    ("2026-09-19T11:02:02.5-05:30", utc("2026-09-19T16:32:02.5Z")),
    ("2022-02-11 00:50:20.574137", utc("2022-02-11T00:50:20.574137Z")),
    ("2022-02-11T00:50:20", utc("2022-02-11T00:50:20Z")),
    ("", pd.NaT),
    (None, pd.NaT),
    ("0001-01-01T00:00:00Z", pd.NaT),
    ("0001-01-01T00:00:00.000Z", pd.NaT),
    ("0001-01-01 00:00:00 +0000 UTC", pd.NaT),
]


@pytest.mark.parametrize(("text", "want"), TIMES, ids=[repr(text) for text, _ in TIMES])
def test_time_strings_parse_to_utc_nanoseconds(text: str | None, want: pd.Timestamp) -> None:
    # Alone, and in a column that also holds a time without a zone (which takes another parser).
    for neighbours in ([], [{"incidentID": "2", "createdTime": "2022-02-11 00:50:20"}]):
        frame = incidents_frame([{"incidentID": "1", "createdTime": text}, *neighbours])
        assert str(frame["created_time"].dtype) == "datetime64[ns, UTC]"
        got = frame.loc[0, "created_time"]
        assert (pd.isna(got) and pd.isna(want)) or got == want


def test_a_missing_time_is_missing() -> None:
    frame = incidents_frame([{"incidentID": "1"}])
    times = ["created_time", "modified_time", "closed_time", "incident_start", "incident_end"]
    assert frame[times].isna().all().all()


def test_nanoseconds_are_kept_next_to_coarser_times() -> None:
    frame = tasks_frame(
        [
            {
                "incidentID": "1",
                "taskList": {
                    "tasks": [
                        {"taskID": "a", "createdTime": "2026-09-19T11:02:02Z"},
                        {"taskID": "b", "createdTime": "2026-09-19T11:07:18.515762775Z"},
                        {"taskID": "c", "createdTime": "2026-09-19 11:07:18.000000001"},
                    ]
                },
            }
        ]
    )
    assert frame["created_time"].dt.unit == "ns"
    assert frame["created_time"].dt.nanosecond.tolist() == [0, 775, 1]
    assert frame.loc[1, "created_time"].value % 1_000_000_000 == 515_762_775


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("yesterday", "not an RFC 3339 time"),
        ("2026-13-01T00:00:00Z", "not an RFC 3339 time"),
        ("1600-01-01T00:00:00Z", "outside 1677-09-21..2262-04-11"),
    ],
)
def test_an_unparseable_time_names_the_record_and_field(text: str, problem: str) -> None:
    records = [{"incidentID": "1", "createdTime": "2026-01-01T00:00:00Z"}, {"incidentID": "2", "closedTime": text}]
    with pytest.raises(ResponseFormatError, match=problem) as caught:
        incidents_frame(records)
    message = str(caught.value)
    assert "record 1" in message and "'2'" in message and "closedTime" in message and text in message


# --------------------------------------------------------------------------------------------------
# tasks


def test_tasks_from_query_incidents_one_row_per_task() -> None:
    records = example("IncidentsService.QueryIncidents")["incidents"]
    task = {
        "incident_id": "incident-123",
        "task_id": "task-123456",
        "text": "Assign an investigator",
        "status": "todo",
        "immutable": True,
        "created_time": utc("2018-01-01T00:00:00Z"),
        "modified_time": utc("2018-01-01T00:00:00Z"),
        "author_user_id": "user-123",
        "author_name": "Morty Smith",
        "assigned_user_id": "user-123",
        "assigned_name": "Morty Smith",
    }
    # Two copies of the incident, each listing the task twice: one task.
    assert_frame_equal(tasks_frame(records), expected("tasks", [task]))


def test_tasks_without_author_or_assignee_and_from_add_task_responses() -> None:
    added = example("TasksService.AddTask")
    added["taskList"]["tasks"][1]["taskID"] = "task-2"
    added["taskList"]["tasks"][1]["status"] = "done"
    records = [
        {
            "incidentID": "17",
            "taskList": {
                "tasks": [
                    {"taskID": "must-choose-severity", "text": "Choose a severity", "status": "done",
                     "immutable": True, "authorUser": None, "assignedUser": None},
                    {"taskID": "t-2", "text": "Roll back", "status": "progress", "immutable": False,
                     "assignedUser": {"userID": "grafana-incident:user-1", "name": "Ada"}},
                ]
            },
        },
        example("IncidentsService.QueryIncidentPreviews")["incidentPreviews"][0],  # no tasks
        added,
    ]  # fmt: skip
    frame = tasks_frame(records)
    want = expected(
        "tasks",
        [
            {"incident_id": "17", "task_id": "must-choose-severity", "text": "Choose a severity",
             "status": "done", "immutable": True},
            {"incident_id": "17", "task_id": "t-2", "text": "Roll back", "status": "progress",
             "immutable": False, "assigned_user_id": "grafana-incident:user-1", "assigned_name": "Ada"},
        ],
    )  # fmt: skip
    assert_frame_equal(frame.iloc[:2], want)
    added_rows = frame.iloc[2:]
    assert added_rows["incident_id"].tolist() == ["incident-123456", "incident-123456"]
    assert added_rows["task_id"].tolist() == ["task-123456", "task-2"]
    assert added_rows["status"].tolist() == ["todo", "done"]


# --------------------------------------------------------------------------------------------------
# labels


def test_labels_from_an_incident_remove_duplicates() -> None:
    records = example("IncidentsService.QueryIncidents")["incidents"]
    label = {
        "incident_id": "incident-123",
        "key": "service_name",
        "value": "customers-affected",
        "description": "Customers are affected by this incident.",
        "color_hex": "#ff0000",
    }
    assert_frame_equal(labels_frame(records), expected("labels", [label]))


def test_labels_from_get_labels_with_the_incident_id_attached() -> None:
    body = example("IncidentsService.GetLabels")
    body["labels"].append({**body["labels"][0], "key": "team", "value": "payments", "colorHex": ""})
    frame = labels_frame([{"incidentID": "17", **body}])
    want = expected(
        "labels",
        [
            {"incident_id": "17", "key": "service_name", "value": "customers-affected",
             "description": "Customers are affected by this incident.", "color_hex": "#ff0000"},
            {"incident_id": "17", "key": "team", "value": "payments",
             "description": "Customers are affected by this incident.", "color_hex": ""},
        ],
    )  # fmt: skip
    assert_frame_equal(frame, want)


def test_free_form_labels_get_the_tags_key_and_keyed_labels_keep_theirs() -> None:
    records = [
        {
            "incidentID": "1",
            "labels": [
                {"label": "security"},
                {"key": "", "label": "db"},
                {"key": "Tags", "label": "customers-affected"},
                {"key": "TAGS", "label": "pir"},
                {"key": "tags", "label": "security"},  # the same label as the first one
                {"key": "team", "label": "payments"},
                {"key": "Team", "label": "payments"},  # keys other than tags keep their casing
            ],
        },
        {"incidentID": "2", "labels": [{"key": "tags", "value": "security", "keyUUID": "k", "valueUUID": "v"}]},
    ]
    frame = labels_frame(records)
    assert list(zip(frame["incident_id"], frame["key"], frame["value"], strict=True)) == [
        ("1", "tags", "security"),
        ("1", "tags", "db"),
        ("1", "tags", "customers-affected"),
        ("1", "tags", "pir"),
        ("1", "team", "payments"),
        ("1", "Team", "payments"),
        ("2", "tags", "security"),
    ]


def test_labels_from_an_incident_and_its_get_labels_answer_are_counted_once() -> None:
    incident = {"incidentID": "1", "labels": [{"key": "team", "label": "payments", "colorHex": "#00f"}]}
    answer = {"incidentID": "1", "labels": [{"key": "team", "value": "payments", "keyUUID": "k", "valueUUID": "v"}]}
    frame = labels_frame([incident, answer])
    assert len(frame) == 1
    assert frame.loc[0, "color_hex"] == "#00f"  # the first record's row is kept


# --------------------------------------------------------------------------------------------------
# assignments


def test_assignments_from_an_incident_drop_placeholders_and_duplicates() -> None:
    record = example("IncidentsService.GetIncident")["incident"]
    commander = record["incidentMembership"]["assignments"][0]
    record["incidentMembership"]["assignments"] += [
        # Empty slots as the live service sends them (docs/api.md#roles-and-placeholder-slots), and half-empty variants.
        {"user": {"userID": "", "name": "", "photoURL": ""}, "role": {**commander["role"], "roleID": 0}, "roleID": 0},
        {"user": {"userID": "", "name": ""}, "role": commander["role"], "roleID": 1},
        {"user": MORTY, "role": {**commander["role"], "roleID": 0, "name": ""}, "roleID": 0},
        {"user": None, "role": commander["role"], "roleID": 1},
        {
            "user": {"userID": "user-456", "name": "Rick Sanchez"},
            "role": {"roleID": 2, "name": "investigator", "important": True, "mandatory": False},
            "roleID": 2,
        },
    ]
    want = expected(
        "assignments",
        [
            {"incident_id": "incident-123", "role_id": 1, "role": "commander", "user_id": "user-123",
             "user_name": "Morty Smith", "important": True, "mandatory": True},
            {"incident_id": "incident-123", "role_id": 2, "role": "investigator", "user_id": "user-456",
             "user_name": "Rick Sanchez", "important": True, "mandatory": False},
        ],
    )  # fmt: skip
    assert_frame_equal(assignments_frame([record]), want)


def test_assignments_from_previews_are_important_roles_without_names() -> None:
    records = example("IncidentsService.QueryIncidentPreviews")["incidentPreviews"]
    records[0]["incidentMembershipPreview"]["importantAssignments"].append(
        {"roleID": 0, "user": {"userID": "", "name": ""}}
    )
    want = expected(
        "assignments",
        [{"incident_id": "incident-123", "role_id": 1, "user_id": "user-123", "user_name": "Morty Smith",
          "important": True}],
    )  # fmt: skip
    assert_frame_equal(assignments_frame(records), want)


def test_assignments_from_mixed_records_stay_in_record_order() -> None:
    preview = {"incidentID": "1", "incidentMembershipPreview": {"importantAssignments": [{"roleID": 5, "user": MORTY}]}}
    full = {
        "incidentID": "2",
        "incidentMembership": {"assignments": [{"roleID": 7, "user": MORTY, "role": {"roleID": 7, "name": "scribe"}}]},
    }
    frame = assignments_frame([preview, full])
    assert frame["incident_id"].tolist() == ["1", "2"]
    assert frame["role"].isna().tolist() == [True, False]
    assert frame.loc[1, "role"] == "scribe"


def test_an_assignment_in_both_a_preview_and_the_full_incident_keeps_the_full_row() -> None:
    preview = {"incidentID": "1", "incidentMembershipPreview": {"importantAssignments": [{"roleID": 5, "user": MORTY}]}}
    full = {
        "incidentID": "1",
        "incidentMembership": {
            "assignments": [{"roleID": 5, "user": MORTY, "role": {"roleID": 5, "name": "commander", "mandatory": True}}]
        },
    }
    frame = assignments_frame([preview, full])
    assert len(frame) == 1
    assert frame.loc[0, "role"] == "commander"
    assert frame.loc[0, "mandatory"]


# --------------------------------------------------------------------------------------------------
# activity


def test_activity_from_query_activity() -> None:
    items = example("ActivityService.QueryActivity")["activityItems"]
    row = {
        "incident_id": "incident-123",
        "activity_item_id": "activity-item-123",
        "activity_kind": "incidentCreated",
        "event_time": utc("2021-08-07T11:58:23Z"),
        "created_time": utc("2021-08-07T11:58:23Z"),
        "user_id": "user-123",
        "user_name": "Morty Smith",
        "subject_user_id": "user-123",
        "subject_user_name": "Morty Smith",
        "body": "The incident was created by user-123",
        "url": "https://meet.google.com/my-incident-room",
        "tags": "important",
        "relevance": "low",
        "immutable": True,
    }
    # The example lists the same item twice: one row.
    assert_frame_equal(activity_frame(items), expected("activity", [row]))


def test_activity_tags_are_joined_with_commas() -> None:
    items = [
        {"incidentID": "1", "activityItemID": "a", "tags": ["important", "starred"]},
        {"incidentID": "1", "activityItemID": "b", "tags": []},
        {"incidentID": "1", "activityItemID": "c"},
        {"incidentID": "2", "activityItemID": "a", "tags": None},  # same item ID, other incident
    ]
    frame = activity_frame(items)
    assert frame["tags"].tolist() == ["important,starred", "", "", ""]
    assert frame["incident_id"].tolist() == ["1", "1", "1", "2"]
    assert frame["user_id"].isna().all()


# --------------------------------------------------------------------------------------------------
# Malformed responses


def _incident(**fields: Any) -> dict[str, Any]:
    return {"incidentID": "bad-1", **fields}


WRONG_TYPES: list[tuple[str, dict[str, Any], str]] = [
    ("incidents", _incident(isDrill="true"), "'isDrill' must be a boolean, got str 'true'"),
    ("incidents", _incident(title=5), "'title' must be a string, got int 5"),
    ("incidents", _incident(createdTime=123), "'createdTime' must be a string"),
    ("incidents", _incident(taskList=[]), "'taskList' must be an object, got list"),
    ("incidents", _incident(durationSeconds="60"), "'durationSeconds' must be an integer, got str '60'"),
    ("incidents", _incident(durationSeconds=True), "'durationSeconds' must be an integer, got bool"),
    ("incidents", _incident(severity=3), "'severity' must be a string"),
    ("incidents", _incident(createdByUser={"userID": 5}), "'createdByUser.userID' must be a string"),
    ("incidents", _incident(taskList={"todoCount": 1.5}), "'taskList.todoCount' must be an integer"),
    ("tasks", _incident(taskList={"tasks": "x"}), "'taskList.tasks' must be a list"),
    ("tasks", _incident(taskList={"tasks": [{}, "x"]}), "'taskList.tasks[1]' must be an object"),
    ("tasks", _incident(taskList={"tasks": [{}, {"immutable": "yes"}]}), "'taskList.tasks[1].immutable' must be"),
    ("tasks", _incident(taskList={"tasks": [{"authorUser": {"name": 7}}]}), "'taskList.tasks[0].authorUser.name'"),
    (
        "tasks",
        _incident(taskList={"tasks": [{"createdTime": "soon"}]}),
        "'taskList.tasks[0].createdTime' is not an RFC 3339 time",
    ),
    ("labels", _incident(labels="x"), "'labels' must be a list, got str 'x'"),
    ("labels", _incident(labels=[{"key": 1, "label": "a"}]), "'labels[0].key' must be a string"),
    ("labels", _incident(labels=[None]), "'labels[0]' must be an object, got NoneType"),
    ("labels", _incident(labels=[{"label": "a", "colorHex": 255}]), "'labels[0].colorHex' must be a string"),
    (
        "assignments",
        _incident(incidentMembership={"assignments": [{"roleID": "1", "user": MORTY}]}),
        "'incidentMembership.assignments[0].roleID' must be an integer",
    ),
    (
        "assignments",
        _incident(incidentMembership={"assignments": [{"roleID": 1, "user": MORTY, "role": {"important": "true"}}]}),
        "'incidentMembership.assignments[0].role.important' must be a boolean",
    ),
    (
        "assignments",
        _incident(incidentMembershipPreview={"importantAssignments": "x"}),
        "'incidentMembershipPreview.importantAssignments' must be a list",
    ),
    ("activity", _incident(tags="important"), "'tags' must be a list"),
    ("activity", _incident(tags=["important", 1]), "'tags[1]' must be a string, got int 1"),
    ("activity", _incident(immutable="no"), "'immutable' must be a boolean"),
    ("activity", _incident(subjectUser="user-1"), "'subjectUser' must be an object"),
]


@pytest.mark.parametrize(("name", "record", "problem"), WRONG_TYPES, ids=[p for _, _, p in WRONG_TYPES])
def test_a_wrong_type_names_the_builder_record_incident_and_field(
    name: str, record: dict[str, Any], problem: str
) -> None:
    good = {"incidentID": "ok-0"}
    with pytest.raises(ResponseFormatError) as caught:
        BUILDERS[name]([good, record])
    message = str(caught.value)
    assert message.startswith(f"{name}_frame: record 1 (incidentID 'bad-1'): ")
    assert problem in message


@pytest.mark.parametrize("name", list(BUILDERS))
@pytest.mark.parametrize("bad", ["x", None, ["incidentID", "1"]])
def test_a_record_that_is_not_an_object_is_refused(name: str, bad: Any) -> None:
    with pytest.raises(ResponseFormatError, match=r"record 1: the record must be an object"):
        BUILDERS[name]([{"incidentID": "1"}, bad])


@pytest.mark.parametrize("name", list(BUILDERS))
@pytest.mark.parametrize("record", [{}, {"incidentID": ""}, {"incidentID": None, "title": "zero value"}])
def test_a_record_without_an_incident_id_is_refused(name: str, record: dict[str, Any]) -> None:
    # The zero-value incident GetIncident returns for an unknown ID has no ID (docs/api.md#unknown-incident-ids).
    with pytest.raises(ResponseFormatError, match=r"record 1: 'incidentID' is missing or empty"):
        BUILDERS[name]([{"incidentID": "1"}, record])


def test_an_incident_id_must_be_a_string() -> None:
    with pytest.raises(ResponseFormatError, match=r"record 0: 'incidentID' must be a string, got int 17"):
        incidents_frame([{"incidentID": 17}])


def test_a_whole_response_body_is_a_caller_mistake() -> None:
    with pytest.raises(TypeError, match="list of records"):
        incidents_frame(example("IncidentsService.QueryIncidents"))


def test_the_docstring_examples_hold() -> None:
    with pd.option_context("display.width", 100, "display.max_columns", 20):
        results = doctest.testmod(frames, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert results.attempted > 0
    assert results.failed == 0


# --------------------------------------------------------------------------------------------------
# The column tables: every wired column is read, type-checked and named from its declaration


def test_schemas_are_derived_from_the_column_tables() -> None:
    assert list(TABLES) == list(SCHEMAS) == ["incidents", "tasks", "labels", "assignments", "activity"]
    for name, table in TABLES.items():
        assert SCHEMAS[name] == {column.name: column.dtype for column in table.columns}
        assert table.columns[0].name == "incident_id" and table.required == ["incident_id"]
        assert set(table.sort_keys) <= set(SCHEMAS[name])
        for dtype in SCHEMAS[name].values():
            assert str(dtype) in {"string", "datetime64[ns, UTC]", "Int64", "boolean"}
            if str(dtype) == "string":
                assert dtype.storage == "pyarrow"  # the same on pandas 2 and 3
    assert set(ERRORS.sort_keys) <= set(ERROR_SCHEMA) and "field" in ERROR_SCHEMA


def _nest(path: str, value: Any) -> dict[str, Any]:
    """A record holding ``value`` at the wire ``path`` (``[]`` becomes a one-item list)."""
    head, _, rest = path.partition(".")
    inner: Any = value if not rest else _nest(rest, value)
    if head.endswith("[]"):
        return {head[:-2]: [inner]}
    return {head: inner}


def _merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        elif isinstance(value, list) and isinstance(out.get(key), list):
            out[key] = [_merge(out[key][0], value[0])]
        else:
            out[key] = value
    return out


# A row that survives the builders (an assignment needs a user and a role), to put the value into. The
# role ID is in the fallback place, so that both of its paths can be seen to be read.
ROW_BASE: dict[str, dict[str, Any]] = {
    "assignments": _nest("incidentMembership.assignments[]", {"role": {"roleID": 1}, "user": {"userID": "u-1"}}),
}
GOOD = {"string": "v-1", "datetime64[ns, UTC]": "2026-01-02T03:04:05.123456789Z", "Int64": 7, "boolean": True}
WRONG = {"string": (5, "a string"), "datetime64[ns, UTC]": (5, "a string"), "Int64": ("7", "an integer"),
         "boolean": ("true", "a boolean")}  # fmt: skip
WIRED = [
    (name, column.name, path, str(column.dtype))
    for name, table in TABLES.items()
    for column in table.columns
    for path in column.wire
    if column.nullable
]


@pytest.mark.parametrize(("name", "column", "path", "dtype"), WIRED, ids=[f"{n}.{c}:{p}" for n, c, p, _ in WIRED])
def test_every_wired_column_is_read_from_its_declared_path(name: str, column: str, path: str, dtype: str) -> None:
    base = _merge({"incidentID": "1"}, ROW_BASE.get(name, {}))
    frame = BUILDERS[name]([_merge(base, _nest(path, GOOD[dtype]))])
    want = utc(GOOD[dtype]) if dtype.startswith("datetime") else GOOD[dtype]
    assert frame[column].tolist() == [want]


@pytest.mark.parametrize(("name", "column", "path", "dtype"), WIRED, ids=[f"{n}.{c}:{p}" for n, c, p, _ in WIRED])
def test_every_wired_column_refuses_a_wrong_type_naming_its_path(name: str, column: str, path: str, dtype: str) -> None:
    wrong, kind = WRONG[dtype]
    record = _merge(_merge({"incidentID": "bad-1"}, ROW_BASE.get(name, {})), _nest(path, wrong))
    with pytest.raises(ResponseFormatError) as caught:
        BUILDERS[name]([{"incidentID": "ok-0"}, record])
    field = path.replace("[]", "[0]")
    assert str(caught.value) == (
        f"{name}_frame: record 1 (incidentID 'bad-1'): '{field}' must be {kind}, got {type(wrong).__name__} {wrong!r}"
    )


# --------------------------------------------------------------------------------------------------
# Collecting problems instead of raising


def test_problems_collects_each_malformed_value_and_the_rest_is_built() -> None:
    records = [
        {"incidentID": "1", "title": "fine", "createdTime": "2026-01-01T00:00:00Z"},
        {"incidentID": "2", "title": "bad drill flag", "isDrill": "true", "createdTime": 1767225600},
        {"incidentID": "3", "title": "bad time", "closedTime": "yesterday", "durationSeconds": 60},
        "not an object",
        {"title": "no ID"},
        {"incidentID": 4, "title": "ID of the wrong type"},
    ]
    problems: list[RecordProblem] = []
    frame = incidents_frame(records, problems=problems)
    assert frame["incident_id"].tolist() == ["1", "2", "3"]
    assert frame["title"].tolist() == ["fine", "bad drill flag", "bad time"]
    assert frame["is_drill"].isna().tolist() == [True, True, True]
    assert frame.loc[1, ["created_time", "closed_time"]].isna().all() and frame.loc[2, "duration_seconds"] == 60
    found = {(p.record, p.incident_id, p.field): p for p in problems}
    assert len(problems) == len(found)  # each once: the record that is not an object is not also "without ID"
    assert sorted(found, key=str) == sorted(
        [
            (1, "2", "isDrill"),
            (1, "2", "createdTime"),
            (2, "3", "closedTime"),
            (3, None, ""),
            (4, None, "incidentID"),
            (5, None, "incidentID"),
        ],
        key=str,
    )
    assert found[1, "2", "isDrill"].problem == "must be a boolean, got str 'true'"
    assert found[2, "3", "closedTime"].message == (
        "incidents_frame: record 2 (incidentID '3'): 'closedTime' is not an RFC 3339 time: 'yesterday'"
    )
    assert found[4, None, "incidentID"].problem == "is missing or empty; a record without it cannot be a row"
    assert found[5, None, "incidentID"].problem == "must be a string, got int 4"
    # Without a list, the first problem raises, as before.
    with pytest.raises(ResponseFormatError, match="record 3: the record must be an object"):
        incidents_frame(records)


def test_problems_in_nested_rows_name_the_item_and_keep_its_siblings() -> None:
    record = {
        "incidentID": "1",
        "taskList": {
            "tasks": [
                {"taskID": "a", "createdTime": "2026-01-01T00:00:00Z"},
                "not a task",
                {"taskID": "c", "createdTime": 5, "authorUser": {"userID": 7, "name": "Ada"}},
                {"taskID": "d"},
            ]
        },
    }
    problems: list[RecordProblem] = []
    frame = tasks_frame([record, {"incidentID": "2", "taskList": {"tasks": [{"taskID": "e"}]}}], problems=problems)
    assert frame["task_id"].tolist() == ["a", "c", "d", "e"]
    assert frame.loc[1, "author_name"] == "Ada" and pd.isna(frame.loc[1, "author_user_id"])
    assert [p.field for p in problems] == [
        "taskList.tasks[1]",
        "taskList.tasks[2].createdTime",
        "taskList.tasks[2].authorUser.userID",
    ]
    items = [{"incidentID": "1", "activityItemID": f"a-{n}", "eventTime": "2026-01-01T00:00:00Z"} for n in range(5)]
    items[3]["eventTime"] = 1767225600
    items[4]["tags"] = ["ok", 2]
    problems = []
    activity = activity_frame(items, problems=problems)
    assert len(activity) == 5 and activity["event_time"].isna().tolist() == [False, False, False, True, False]
    assert activity["tags"].isna().tolist() == [False, False, False, False, True]
    assert [(p.record, p.field) for p in problems] == [(3, "eventTime"), (4, "tags[1]")]


def test_total_participants_from_full_incidents_and_previews() -> None:
    full = {"incidentID": "1", "incidentMembership": {"totalParticipants": 3}}
    preview = {"incidentID": "2", "incidentMembershipPreview": {"totalParticipants": 2}}
    frame = incidents_frame([full, preview, {"incidentID": "3"}])
    assert frame["total_participants"].tolist() == [3, 2, pd.NA]
    with pytest.raises(ResponseFormatError, match=r"'incidentMembership\.totalParticipants' must be an integer"):
        incidents_frame([{"incidentID": "1", "incidentMembership": {"totalParticipants": "3"}}])
