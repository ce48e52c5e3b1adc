"""Writes: each changes state, bumps modifiedTime and version, and appends the right timeline items."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from incident_analytics.emulator import Emulator

from .helpers import all_items, call, fraction_digits, ns, ok


@dataclass
class Snapshot:
    """Before/after view of one incident for a write."""

    incident: dict[str, Any]
    version: int
    activity_ids: set[str]


def _snap(emu: Emulator, client: httpx.Client, incident_id: str) -> Snapshot:
    incident = ok(client, "IncidentsService.GetIncident", {"incidentID": incident_id})["incident"]
    items = all_items(
        client, "ActivityService.QueryActivity", {"incidentID": incident_id, "limit": 100}, "activityItems"
    )
    return Snapshot(incident, emu.state.incidents[incident_id].version, {a["activityItemID"] for a in items})


def _new_kinds(client: httpx.Client, incident_id: str, before: Snapshot) -> list[str]:
    items = all_items(
        client, "ActivityService.QueryActivity", {"incidentID": incident_id, "limit": 100}, "activityItems"
    )
    return sorted(a["activityKind"] for a in items if a["activityItemID"] not in before.activity_ids)


def _assert_bumped(emu: Emulator, client: httpx.Client, before: Snapshot) -> dict[str, Any]:
    incident_id = before.incident["incidentID"]
    response = ok(client, "IncidentsService.GetIncident", {"incidentID": incident_id})
    after: dict[str, Any] = response["incident"]
    assert ns(after["modifiedTime"]) > ns(before.incident["modifiedTime"])
    assert emu.state.incidents[incident_id].version > before.version
    return after


@pytest.fixture
def open_id(fresh: Emulator) -> Iterator[str]:
    """The ID of an active (still open) incident of the fresh emulator."""
    yield next(i.incident_id for i in fresh.state.incidents.values() if i.status == "active")


@pytest.fixture
def resolved_id(fresh: Emulator) -> Iterator[str]:
    """The ID of a resolved, non-drill incident of the fresh emulator."""
    yield next(i.incident_id for i in fresh.state.incidents.values() if i.status == "resolved" and not i.is_drill)


def test_create_incident(fresh: Emulator, wclient: httpx.Client) -> None:
    """CreateIncident: next numeric ID, Tags labels from ``label`` text only, system tasks, placeholders."""
    body = {
        "title": "Checkout is down",
        "severity": "critical",
        "labels": [{"label": "security", "key": "team", "colorHex": "#000"}, {"label": "brand-new"}],
        "isDrill": True,
        "roomPrefix": "incident",
    }
    incident = ok(wclient, "IncidentsService.CreateIncident", body)["incident"]
    assert incident["incidentID"] == "61"
    assert incident["status"] == "active" and incident["severity"] == "Critical" and incident["isDrill"]
    assert [(lb["key"], lb["label"]) for lb in incident["labels"]] == [
        ("tags", "security"),
        ("tags", "brand-new"),
    ]
    assert incident["closedTime"] == "" and incident["incidentEnd"] == ""
    assert fraction_digits(incident["incidentStart"]) == 0
    assert incident["overviewURL"] == "/a/grafana-irm-app/incidents/61/checkout-is-down"
    tasks = {t["taskID"]: t for t in incident["taskList"]["tasks"]}
    assert set(tasks) == {"assign-role-commander", "assign-role-investigator", "must-choose-severity"}
    assert all(t["immutable"] and t["authorUser"] is None for t in tasks.values())
    assert tasks["must-choose-severity"]["status"] == "done"  # a severity was chosen
    slots = incident["incidentMembership"]["assignments"]
    assert len(slots) == 2 and all(a["user"]["userID"] == "" and a["roleID"] == 0 for a in slots)
    assert incident["incidentMembership"]["totalAssignments"] == 0
    assert incident["createdByUser"]["userID"] == fresh.state.catalog.api_user_id
    kinds = [
        a["activityKind"]
        for a in ok(wclient, "ActivityService.QueryActivity", {"query": {"incidentID": "61"}})["activityItems"]
    ]
    assert kinds == ["incidentCreated"]
    fields = {f["slug"]: f for f in ok(wclient, "FieldsService.GetFields")["fields"]}
    assert "brand-new" in {o["value"] for o in fields["tags"]["selectoptions"]}


def test_create_incident_defaults_and_retrospective(wclient: httpx.Client) -> None:
    """No severity means Pending; status resolved opens a closed, retrospective incident."""
    pending = ok(wclient, "IncidentsService.CreateIncident", {"title": "x"})["incident"]
    assert pending["severity"] == "Pending"
    done = ok(wclient, "IncidentsService.CreateIncident", {"title": "y", "status": "resolved"})["incident"]
    assert done["status"] == "resolved" and done["closedTime"] and done["incidentEnd"] == done["closedTime"]


@pytest.mark.parametrize(
    ("body", "named"),
    [
        ({}, "title"),
        ({"title": "x", "status": "closed"}, "status"),
        ({"title": "x", "severity": "apocalyptic"}, "severity"),
        ({"title": "x", "labels": [{"key": "tags"}]}, "labels[0].label"),
        ({"title": "x", "isDrill": "yes"}, "isDrill"),
    ],
)
def test_create_incident_invalid(wclient: httpx.Client, body: dict[str, Any], named: str) -> None:
    """Invalid create requests are 400 naming the field."""
    response = call(wclient, "IncidentsService.CreateIncident", body)
    assert response.status_code == 400
    assert named in response.json()["error"]


def test_update_status_resolve_and_reopen(fresh: Emulator, wclient: httpx.Client, open_id: str) -> None:
    """Resolving sets closedTime=incidentEnd=now and logs status change + close; reopening clears both."""
    before = _snap(fresh, wclient, open_id)
    incident = ok(wclient, "IncidentsService.UpdateStatus", {"incidentID": open_id, "status": "resolved"})["incident"]
    assert incident["status"] == "resolved"
    assert incident["closedTime"] and incident["incidentEnd"] == incident["closedTime"]
    assert fraction_digits(incident["closedTime"]) <= 6
    assert incident["durationSeconds"] == (ns(incident["incidentEnd"]) - ns(incident["incidentStart"])) // 10**9
    _assert_bumped(fresh, wclient, before)
    assert _new_kinds(wclient, open_id, before) == ["incidentClosed", "incidentStatusChanged"]

    before = _snap(fresh, wclient, open_id)
    incident = ok(wclient, "IncidentsService.UpdateStatus", {"incidentID": open_id, "status": "active"})["incident"]
    assert incident["closedTime"] == "" and incident["incidentEnd"] == ""
    assert _new_kinds(wclient, open_id, before) == ["incidentStatusChanged"]


def test_same_status_is_a_no_op(fresh: Emulator, wclient: httpx.Client, resolved_id: str) -> None:
    """Writing the current value changes nothing: no version bump, no timeline item."""
    before = _snap(fresh, wclient, resolved_id)
    ok(wclient, "IncidentsService.UpdateStatus", {"incidentID": resolved_id, "status": "resolved"})
    assert fresh.state.incidents[resolved_id].version == before.version
    assert _new_kinds(wclient, resolved_id, before) == []


@pytest.mark.parametrize(
    ("method", "body", "field", "value", "kind"),
    [
        (
            "IncidentsService.UpdateSeverity",
            {"severity": "MINOR"},
            "severity",
            "Minor",
            "incidentSeverityChanged",
        ),
        ("IncidentsService.UpdateTitle", {"title": "Renamed!"}, "title", "Renamed!", "incidentTitleChanged"),
        (
            "IncidentsService.UpdateIncidentIsDrill",
            {"isDrill": True},
            "isDrill",
            True,
            "incidentIsDrillChanged",
        ),
    ],
)
def test_simple_updates(
    fresh: Emulator,
    wclient: httpx.Client,
    resolved_id: str,
    method: str,
    body: dict[str, Any],
    field: str,
    value: Any,
    kind: str,
) -> None:
    """UpdateSeverity/Title/IsDrill change the field, bump, and log their activity kind."""
    if field == "severity":
        ok(wclient, "IncidentsService.UpdateSeverity", {"incidentID": resolved_id, "severity": "Critical"})
    before = _snap(fresh, wclient, resolved_id)
    incident = ok(wclient, method, {"incidentID": resolved_id, **body})["incident"]
    assert incident[field] == value
    _assert_bumped(fresh, wclient, before)
    assert _new_kinds(wclient, resolved_id, before) == [kind]
    if field == "title":
        assert incident["overviewURL"].endswith("/renamed")


def test_update_incident_event_time(fresh: Emulator, wclient: httpx.Client, resolved_id: str) -> None:
    """UpdateIncidentEventTime sets start/end (also via the deprecated activityItemKind) and logs it."""
    before = _snap(fresh, wclient, resolved_id)
    response = ok(
        wclient,
        "IncidentsService.UpdateIncidentEventTime",
        {"incidentID": resolved_id, "eventName": "incidentStart", "eventTime": "2026-01-02T03:04:05Z"},
    )
    assert response == {}
    ok(
        wclient,
        "IncidentsService.UpdateIncidentEventTime",
        {
            "incidentID": resolved_id,
            "activityItemKind": "incidentEnd",
            "eventTime": "2026-01-02T05:04:05.5+01:00",
        },
    )
    after = _assert_bumped(fresh, wclient, before)
    assert after["incidentStart"] == "2026-01-02T03:04:05Z"
    assert after["incidentEnd"] == "2026-01-02T04:04:05.5Z"
    assert after["durationSeconds"] == 3600
    assert _new_kinds(wclient, resolved_id, before) == ["incidentEnd", "incidentStart"]
    items = all_items(
        wclient,
        "ActivityService.QueryActivity",
        {"incidentID": resolved_id, "activityKind": ["incidentStart"], "limit": 100},
        "activityItems",
    )
    assert items[0]["eventTime"] == "2026-01-02T03:04:05Z"


@pytest.mark.parametrize(
    "body",
    [
        {"eventName": "incidentMiddle", "eventTime": "2026-01-01T00:00:00Z"},
        {"eventName": "incidentStart", "eventTime": "yesterday"},
        {"eventName": "incidentStart"},
    ],
)
def test_update_incident_event_time_invalid(wclient: httpx.Client, body: dict[str, Any]) -> None:
    """Bad event names and times are 400."""
    assert call(wclient, "IncidentsService.UpdateIncidentEventTime", {"incidentID": "1", **body}).status_code == 400


def test_free_form_labels(fresh: Emulator, wclient: httpx.Client, resolved_id: str) -> None:
    """AddLabel/RemoveLabel manage Tags labels; duplicates and missing removals are no-ops."""
    before = _snap(fresh, wclient, resolved_id)
    incident = ok(wclient, "IncidentsService.AddLabel", {"incidentID": resolved_id, "label": {"label": "zebra"}})[
        "incident"
    ]
    assert {"key": "tags", "label": "zebra", "description": "", "colorHex": ""} in incident["labels"]
    _assert_bumped(fresh, wclient, before)
    assert _new_kinds(wclient, resolved_id, before) == ["labelAdded"]
    version = fresh.state.incidents[resolved_id].version
    again = ok(wclient, "IncidentsService.AddLabel", {"incidentID": resolved_id, "label": {"label": "zebra"}})
    assert sum(lb["label"] == "zebra" for lb in again["incident"]["labels"]) == 1
    assert fresh.state.incidents[resolved_id].version == version
    removed = ok(wclient, "IncidentsService.RemoveLabel", {"incidentID": resolved_id, "label": "zebra"})
    assert all(lb["label"] != "zebra" for lb in removed["incident"]["labels"])
    version = fresh.state.incidents[resolved_id].version
    ok(wclient, "IncidentsService.RemoveLabel", {"incidentID": resolved_id, "label": "zebra"})
    assert fresh.state.incidents[resolved_id].version == version


def test_keyed_labels(fresh: Emulator, wclient: httpx.Client, resolved_id: str) -> None:
    """AssignLabel/UnassignLabel manage keyed labels; the preview and query language see them."""
    ok(
        wclient,
        "IncidentsService.UnassignLabel",
        {"incidentID": resolved_id, "key": "team", "value": "search"},
    )
    before = _snap(fresh, wclient, resolved_id)
    labels = ok(wclient, "IncidentsService.AssignLabel", {"incidentID": resolved_id, "key": "team", "value": "search"})[
        "labels"
    ]
    assert any(lb["key"] == "team" and lb["value"] == "search" and lb["keyUUID"] for lb in labels)
    assert all(lb["key"] != "tags" for lb in labels)
    _assert_bumped(fresh, wclient, before)
    assert _new_kinds(wclient, resolved_id, before) == ["labelAdded"]
    ids = [
        p["incidentID"]
        for p in all_items(
            wclient,
            "IncidentsService.QueryIncidentPreviews",
            {"limit": 100, "queryString": "field:team:search"},
            "incidentPreviews",
        )
    ]
    assert resolved_id in ids
    twice = ok(wclient, "IncidentsService.AssignLabel", {"incidentID": resolved_id, "key": "team", "value": "search"})
    assert twice["labels"] == labels
    after = ok(
        wclient,
        "IncidentsService.UnassignLabel",
        {"incidentID": resolved_id, "key": "team", "value": "search"},
    )
    assert all(not (lb["key"] == "team" and lb["value"] == "search") for lb in after["labels"])
    assert ok(wclient, "IncidentsService.GetLabels", {"incidentID": resolved_id})["labels"] == after["labels"]


@pytest.mark.parametrize(
    ("key", "value", "named"),
    [("squad", "loki", "squad"), ("team", "marketing", "marketing"), ("tags", "security", "tags")],
)
def test_assign_unknown_key_or_value_is_400(wclient: httpx.Client, key: str, value: str, named: str) -> None:
    """Assigning a key or value the catalogue lacks is refused, naming it."""
    response = call(wclient, "IncidentsService.AssignLabel", {"incidentID": "1", "key": key, "value": value})
    assert response.status_code == 400
    assert named in response.json()["error"]


def test_label_catalogue_writes_enable_new_labels(wclient: httpx.Client) -> None:
    """AddLabelKey + AddLabelValue, then AssignLabelByUUID works with the new UUIDs."""
    field = ok(wclient, "FieldsService.AddLabelKey", {"key": "squad", "description": "Squad"})["field"]
    field = ok(wclient, "FieldsService.AddLabelValue", {"key": "squad", "value": "loki"})["field"]
    option = field["selectoptions"][0]
    labels = ok(
        wclient,
        "IncidentsService.AssignLabelByUUID",
        {"incidentID": "2", "keyUUID": field["uuid"], "valueUUID": option["uuid"]},
    )["labels"]
    assert {"key": "squad", "value": "loki"}.items() <= next(lb for lb in labels if lb["key"] == "squad").items()
    labels = ok(
        wclient,
        "IncidentsService.UnassignLabelByUUID",
        {"incidentID": "2", "keyUUID": field["uuid"], "valueUUID": option["uuid"]},
    )["labels"]
    assert all(lb["key"] != "squad" for lb in labels)
    assert ok(wclient, "FieldsService.GetField", {"fieldUUID": field["uuid"]})["field"]["slug"] == "squad"


def test_roles(fresh: Emulator, wclient: httpx.Client, open_id: str) -> None:
    """AssignRole/UnassignRole report didChange, fill/empty placeholder slots and tick system tasks."""
    user_id = next(iter(fresh.state.catalog.users))
    for assignment in list(fresh.state.incidents[open_id].assignments):
        role = {9576: "commander", 9577: "investigator", 9578: "observer"}[assignment.role_id]
        ok(
            wclient,
            "IncidentsService.UnassignRole",
            {"incidentID": open_id, "userID": assignment.user_id, "role": role},
        )
    incident = ok(wclient, "IncidentsService.GetIncident", {"incidentID": open_id})["incident"]
    assert [a["roleID"] for a in incident["incidentMembership"]["assignments"]] == [0, 0]
    before = _snap(fresh, wclient, open_id)
    body = {"incidentID": open_id, "userID": user_id, "role": "commander"}
    result = ok(wclient, "IncidentsService.AssignRole", body)
    assert result["didChange"] is True
    assignments = result["incident"]["incidentMembership"]["assignments"]
    assert [(a["user"]["userID"], a["roleID"]) for a in assignments] == [(user_id, 9576), ("", 0)]
    assert assignments[0]["role"]["name"] == "commander"
    assert result["incident"]["incidentMembership"]["totalAssignments"] == 1
    tasks = {t["taskID"]: t["status"] for t in result["incident"]["taskList"]["tasks"]}
    assert tasks["assign-role-commander"] == "done"
    _assert_bumped(fresh, wclient, before)
    assert _new_kinds(wclient, open_id, before) == ["roleAssigned"]
    assert ok(wclient, "IncidentsService.AssignRole", body)["didChange"] is False
    assert ok(wclient, "IncidentsService.UnassignRole", body)["didChange"] is True
    assert ok(wclient, "IncidentsService.UnassignRole", body)["didChange"] is False


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"role": "janitor", "userID": "grafana-incident:user-x"}, 400),
        ({"role": "observer", "userID": "grafana-incident:user-nobody"}, 400),
        ({"role": "observer"}, 400),
    ],
)
def test_roles_invalid(wclient: httpx.Client, body: dict[str, Any], status: int) -> None:
    """Unknown roles and users are refused."""
    assert call(wclient, "IncidentsService.AssignRole", {"incidentID": "1", **body}).status_code == status


def test_tasks_lifecycle(fresh: Emulator, wclient: httpx.Client, open_id: str) -> None:
    """AddTask → status progress → done → text → user → delete, with counts and activity kinds."""
    before = _snap(fresh, wclient, open_id)
    added = ok(wclient, "TasksService.AddTask", {"incidentID": open_id, "text": "Call the vendor"})
    task = added["task"]
    assert added["incidentID"] == open_id
    assert task["status"] == "todo" and not task["immutable"] and task["authorUser"]["userID"]
    assert task["assignedUser"] is None
    assert fraction_digits(task["createdTime"]) >= 6
    assert task in added["taskList"]["tasks"]
    _assert_bumped(fresh, wclient, before)
    todo, done = added["taskList"]["todoCount"], added["taskList"]["doneCount"]
    ref = {"incidentID": open_id, "taskID": task["taskID"]}
    progress = ok(wclient, "TasksService.UpdateTaskStatus", {**ref, "status": "progress"})
    assert progress["taskList"]["todoCount"] == todo  # progress counts as to-do
    finished = ok(wclient, "TasksService.UpdateTaskStatus", {**ref, "status": "done"})
    assert (finished["taskList"]["todoCount"], finished["taskList"]["doneCount"]) == (todo - 1, done + 1)
    renamed = ok(wclient, "TasksService.UpdateTaskText", {**ref, "text": "Call the vendor again"})
    assert renamed["task"]["text"] == "Call the vendor again"
    user_id = next(iter(fresh.state.catalog.users))
    assigned = ok(wclient, "TasksService.UpdateTaskUser", {**ref, "userID": user_id})
    assert assigned["task"]["assignedUser"]["userID"] == user_id
    deleted = ok(wclient, "TasksService.DeleteTask", ref)
    assert set(deleted) == {"incidentID", "taskList"}
    assert all(t["taskID"] != task["taskID"] for t in deleted["taskList"]["tasks"])
    assert _new_kinds(wclient, open_id, before) == sorted(
        ["taskAdded", "taskUpdated", "taskCompleted", "taskUpdated", "taskUpdated", "taskDeleted"]
    )


def test_system_tasks_cannot_be_edited_or_deleted(wclient: httpx.Client) -> None:
    """System tasks are immutable: rewording or deleting them is refused."""
    ref = {"incidentID": "1", "taskID": "assign-role-commander"}
    assert call(wclient, "TasksService.UpdateTaskText", {**ref, "text": "x"}).status_code == 400
    assert call(wclient, "TasksService.DeleteTask", ref).status_code == 400


@pytest.mark.parametrize(
    ("method", "body"),
    [
        ("TasksService.UpdateTaskStatus", {"incidentID": "1", "taskID": "nope", "status": "done"}),
        ("TasksService.DeleteTask", {"incidentID": "1", "taskID": "nope"}),
    ],
)
def test_unknown_task_is_404(wclient: httpx.Client, method: str, body: dict[str, Any]) -> None:
    """Writes to an unknown task are 404 naming it."""
    response = call(wclient, method, body)
    assert response.status_code == 404
    assert "task nope not found" in response.json()["error"]


def test_invalid_task_status_is_400(wclient: httpx.Client) -> None:
    """Task status must be todo, progress or done."""
    response = call(wclient, "TasksService.UpdateTaskStatus", {"incidentID": "1", "taskID": "x", "status": "doing"})
    assert response.status_code == 400
    assert "status" in response.json()["error"]


@pytest.mark.parametrize(
    ("method", "body"),
    [
        ("IncidentsService.UpdateStatus", {"status": "resolved"}),
        ("IncidentsService.UpdateSeverity", {"severity": "Major"}),
        ("IncidentsService.UpdateTitle", {"title": "x"}),
        ("IncidentsService.UpdateIncidentIsDrill", {"isDrill": True}),
        ("IncidentsService.AddLabel", {"label": {"label": "x"}}),
        ("IncidentsService.RemoveLabel", {"label": "x"}),
        ("IncidentsService.AssignLabel", {"key": "team", "value": "search"}),
        ("IncidentsService.AssignRole", {"role": "observer", "userID": "u"}),
        ("TasksService.AddTask", {"text": "x"}),
        ("ActivityService.AddActivity", {"activityKind": "userNote", "body": "x"}),
    ],
)
def test_write_to_unknown_incident_is_404(wclient: httpx.Client, method: str, body: dict[str, Any]) -> None:
    """Writes to an unknown incident answer 404 ``incident <id> not found``."""
    response = call(wclient, method, {"incidentID": "424242", **body})
    assert response.status_code == 404
    assert response.json() == {"error": "incident 424242 not found"}


def test_add_activity_note(fresh: Emulator, wclient: httpx.Client, resolved_id: str) -> None:
    """AddActivity adds a userNote (default eventTime now, or the given one), bumps the incident."""
    before = _snap(fresh, wclient, resolved_id)
    item = ok(
        wclient,
        "ActivityService.AddActivity",
        {"incidentID": resolved_id, "activityKind": "userNote", "body": "Looks fixed"},
    )["activityItem"]
    assert item["activityKind"] == "userNote" and item["body"] == "Looks fixed" and not item["immutable"]
    assert item["eventTime"] == item["createdTime"] and item["user"]["userID"]
    _assert_bumped(fresh, wclient, before)
    assert _new_kinds(wclient, resolved_id, before) == ["userNote"]
    dated = ok(
        wclient,
        "ActivityService.AddActivity",
        {
            "incidentID": resolved_id,
            "activityKind": "userNote",
            "body": "earlier",
            "eventTime": "2020-01-01T00:00:00Z",
        },
    )["activityItem"]
    first = ok(wclient, "ActivityService.QueryActivity", {"query": {"incidentID": resolved_id, "limit": 1}})
    assert first["activityItems"][0]["activityItemID"] == dated["activityItemID"]
    edited = ok(
        wclient,
        "ActivityService.UpdateActivityBody",
        {"incidentID": resolved_id, "activityItemID": dated["activityItemID"], "body": "edited"},
    )
    assert edited["activityItem"]["body"] == "edited"
    ok(
        wclient,
        "ActivityService.RemoveActivity",
        {"incidentID": resolved_id, "activityItemID": dated["activityItemID"]},
    )
    kinds = ok(
        wclient,
        "ActivityService.QueryActivity",
        {"query": {"incidentID": resolved_id, "activityKind": ["userNote"], "limit": 100}},
    )
    assert dated["activityItemID"] not in {a["activityItemID"] for a in kinds["activityItems"]}


@pytest.mark.parametrize(
    ("body", "named"),
    [
        ({"activityKind": "incidentClosed", "body": "x"}, "activityKind"),
        ({"body": "x"}, "activityKind"),
        ({"activityKind": "userNote", "body": "x" * 65537}, "65536"),
        ({"activityKind": "userNote", "body": ""}, "body"),
        ({"activityKind": "userNote", "body": "x", "eventTime": "soon"}, "eventTime"),
    ],
)
def test_add_activity_invalid(wclient: httpx.Client, body: dict[str, Any], named: str) -> None:
    """Only userNote, at most 65536 characters, valid eventTime."""
    response = call(wclient, "ActivityService.AddActivity", {"incidentID": "1", **body})
    assert response.status_code == 400
    assert named in response.json()["error"]


def test_note_of_exactly_65536_characters_is_accepted(wclient: httpx.Client) -> None:
    """The limit is inclusive."""
    body = {"incidentID": "1", "activityKind": "userNote", "body": "y" * 65536}
    assert call(wclient, "ActivityService.AddActivity", body).status_code == 200


def test_system_activity_items_are_immutable(fresh: Emulator, wclient: httpx.Client) -> None:
    """Editing the body of a system item (incidentCreated) is refused; relevance may change."""
    item = fresh.state.incidents["1"].activity[0]
    ref = {"incidentID": "1", "activityItemID": item.item_id}
    assert call(wclient, "ActivityService.UpdateActivityBody", {**ref, "body": "x"}).status_code == 400
    updated = ok(wclient, "ActivityService.UpdateActivityRelevance", {**ref, "relevance": "low"})
    assert updated["activityItem"]["relevance"] == "low"


def test_modified_time_strictly_increases_across_rapid_writes(fresh: Emulator, wclient: httpx.Client) -> None:
    """Back-to-back writes get strictly increasing modifiedTime values and versions."""
    stamps = []
    versions = []
    for index in range(15):
        incident = ok(wclient, "IncidentsService.UpdateTitle", {"incidentID": "3", "title": f"t{index}"})["incident"]
        stamps.append(ns(incident["modifiedTime"]))
        versions.append(fresh.state.incidents["3"].version)
    assert stamps == sorted(stamps) and len(set(stamps)) == len(stamps)
    assert versions == list(range(versions[0], versions[0] + 15))
    assert fraction_digits(incident["modifiedTime"]) <= 6
    newest = ok(
        wclient,
        "IncidentsService.QueryIncidentPreviews",
        {"query": {"limit": 1, "orderField": "modifiedTime"}},
    )["incidentPreviews"][0]
    assert newest["incidentID"] == "3" and newest["version"] == versions[-1]
