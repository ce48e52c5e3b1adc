"""The deprecated QueryIncidents and the read methods around a single incident
(docs/api.md#deprecated-queryincidents)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

import incident_analytics.emulator as emulator_package
from incident_analytics.emulator import IMPLEMENTED_METHODS, Emulator

from .helpers import all_items, call, ok

QUERY = "IncidentsService.QueryIncidents"
INCIDENT_FIELDS = {
    "incidentID",
    "refs",
    "severity",
    "labels",
    "isDrill",
    "incidentType",
    "createdTime",
    "modifiedTime",
    "createdByUser",
    "closedTime",
    "durationSeconds",
    "status",
    "title",
    "overviewURL",
    "incidentMembership",
    "taskList",
    "summary",
    "incidentStart",
    "incidentEnd",
    "incidentChannels",
}


def _ids(client: httpx.Client, **query: Any) -> list[str]:
    return [i["incidentID"] for i in all_items(client, QUERY, {"limit": 100, **query}, "incidents")]


def _expected(seeded: Emulator, predicate: Any) -> list[str]:
    ids = [i for i in seeded.state.incidents if predicate(seeded.state.render_incident(i))]
    return sorted(ids, key=int, reverse=True)


def _labels(incident: dict[str, Any]) -> set[str]:
    return {lb["label"] if lb["key"] == "tags" else f"{lb['key']}:{lb['label']}" for lb in incident["labels"]}


def test_returns_full_incident_records(client: httpx.Client) -> None:
    """Records are full ``Incident`` objects with every contract field, newest first by default."""
    page = ok(client, QUERY, {"query": {"limit": 3}})
    assert [i["incidentID"] for i in page["incidents"]] == ["300", "299", "298"]
    assert all(set(i) == INCIDENT_FIELDS for i in page["incidents"])
    assert page["query"]["limit"] == 3 and page["query"]["orderDirection"] == "DESC"


def test_status_filters(seeded: Emulator, client: httpx.Client) -> None:
    """includeStatuses and excludeStatuses filter by status."""
    assert _ids(client, includeStatuses=["active"]) == _expected(seeded, lambda i: i["status"] == "active")
    assert _ids(client, excludeStatuses=["resolved"]) == _expected(seeded, lambda i: i["status"] == "active")
    assert _ids(client, includeStatuses=["active", "resolved"], excludeStatuses=["active"]) == _expected(
        seeded, lambda i: i["status"] == "resolved"
    )


def test_invalid_status_is_400(client: httpx.Client) -> None:
    """An unknown status value is refused, naming the field."""
    response = call(client, QUERY, {"query": {"includeStatuses": ["open"]}})
    assert response.status_code == 400
    assert "includeStatuses" in response.json()["error"]


@pytest.mark.parametrize(
    ("labels", "wanted"),
    [
        (["security"], {"security"}),
        (["team:platform"], {"team:platform"}),
        (["security", "team:identity"], {"security", "team:identity"}),
        (["platform"], None),  # a keyed label's bare value matches nothing (docs/api.md#label-matching)
    ],
)
def test_incident_labels(seeded: Emulator, client: httpx.Client, labels: list[str], wanted: set[str] | None) -> None:
    """Plain text matches Tags labels, ``key:value`` keyed labels; several labels must all be present."""
    got = _ids(client, incidentLabels=labels)
    if wanted is None:
        assert got == []
    else:
        assert got == _expected(seeded, lambda i: wanted <= _labels(i))
        assert got


def test_only_drills_and_severity(seeded: Emulator, client: httpx.Client) -> None:
    """onlyDrills keeps drills; severity matches the label case-insensitively."""
    assert _ids(client, onlyDrills=True) == _expected(seeded, lambda i: i["isDrill"])
    assert _ids(client, severity="CRITICAL") == _expected(seeded, lambda i: i["severity"] == "Critical")


def test_date_from_and_date_to_have_no_effect(client: httpx.Client) -> None:
    """dateFrom/dateTo are accepted and ignored, as live (docs/api.md#deprecated-queryincidents)."""
    everything = _ids(client)
    assert len(everything) == 300
    assert _ids(client, dateFrom="2026-10-01T00:00:00Z", dateTo="2026-10-02T00:00:00Z") == everything
    page = ok(client, QUERY, {"query": {"limit": 1, "dateFrom": "2026-10-01T00:00:00Z"}})
    assert page["query"]["dateFrom"] == "2026-10-01T00:00:00Z"  # echoed


def test_query_string_overrides_other_filters(seeded: Emulator, client: httpx.Client) -> None:
    """With a queryString, includeStatuses/onlyDrills/… are ignored."""
    got = _ids(client, queryString="status:resolved", includeStatuses=["active"], onlyDrills=True)
    assert got == _expected(seeded, lambda i: i["status"] == "resolved")


def test_order_direction_asc(client: httpx.Client) -> None:
    """ASC returns oldest first."""
    page = ok(client, QUERY, {"query": {"limit": 2, "orderDirection": "ASC"}})
    assert [i["incidentID"] for i in page["incidents"]] == ["1", "2"]


def test_get_incident_unknown_id_is_zero_incident(client: httpx.Client) -> None:
    """An unknown ID answers HTTP 200 with a zero-value incident, not 404 (docs/api.md#unknown-incident-ids)."""
    response = call(client, "IncidentsService.GetIncident", {"incidentID": "999999"})
    assert response.status_code == 200
    incident = response.json()["incident"]
    assert set(incident) == INCIDENT_FIELDS
    assert incident["incidentID"] == "" and incident["title"] == "" and incident["closedTime"] == ""
    assert incident["durationSeconds"] == 0 and incident["isDrill"] is False and incident["labels"] == []
    assert incident["createdByUser"] == {"userID": "", "name": "", "photoURL": ""}
    assert incident["taskList"] == {"tasks": [], "todoCount": 0, "doneCount": 0}


def test_get_incident_without_id_is_400(client: httpx.Client) -> None:
    """A missing incidentID is a bad request."""
    response = call(client, "IncidentsService.GetIncident", {})
    assert response.status_code == 400
    assert "incidentID" in response.json()["error"]


def test_get_incident_shape(seeded: Emulator, client: httpx.Client) -> None:
    """A full incident: relative overviewURL, task counts, durations, severity label."""
    for incident_id in ("1", "150", "300"):
        incident = ok(client, "IncidentsService.GetIncident", {"incidentID": incident_id})["incident"]
        assert incident == seeded.state.render_incident(incident_id) or incident["status"] == "active"
        assert incident["overviewURL"].startswith(f"/a/grafana-irm-app/incidents/{incident_id}/")
        tasks = incident["taskList"]
        done = sum(t["status"] == "done" for t in tasks["tasks"])
        assert tasks["doneCount"] == done and tasks["todoCount"] == len(tasks["tasks"]) - done
        assert incident["severity"] in {"Pending", "Minor", "Major", "Critical"}
        assert incident["incidentType"] in {"internal", "private"}


def test_placeholder_slots_for_unfilled_roles(seeded: Emulator, client: httpx.Client) -> None:
    """Unfilled commander/investigator roles show as empty slots that totalAssignments leaves out."""
    without = [i.incident_id for i in seeded.state.incidents.values() if all(a.role_id != 9577 for a in i.assignments)]
    assert without
    membership = ok(client, "IncidentsService.GetIncident", {"incidentID": without[0]})["incident"][
        "incidentMembership"
    ]
    slots = [a for a in membership["assignments"] if a["user"]["userID"] == ""]
    assert slots and all(a["roleID"] == 0 and a["role"]["roleID"] == 0 for a in slots)
    filled = [a for a in membership["assignments"] if a["user"]["userID"]]
    assert membership["totalAssignments"] == len(filled)
    assert membership["totalParticipants"] == len({a["user"]["userID"] for a in filled})
    direct = ok(client, "IncidentsService.GetIncidentMembership", {"incidentID": without[0]})
    assert direct["assignments"] == membership["assignments"]


def test_previews_optional_parts_only_when_asked(client: httpx.Client) -> None:
    """fieldValues, incidentMembershipPreview and incidentChannels appear only on request."""
    plain = ok(client, "IncidentsService.QueryIncidentPreviews", {"query": {"limit": 5}})["incidentPreviews"]
    assert all(not {"fieldValues", "incidentMembershipPreview", "incidentChannels"} & set(p) for p in plain)
    body = {
        "query": {"limit": 5},
        "includeCustomFieldValues": True,
        "includeMembershipPreview": True,
        "includeIncidentChannels": True,
    }
    full = ok(client, "IncidentsService.QueryIncidentPreviews", body)["incidentPreviews"]
    for preview in full:
        # The seeded incidents that have a Slack channel list it, as GetIncidentChannels does.
        channels = ok(client, "IncidentsService.GetIncidentChannels", {"incidentID": preview["incidentID"]})
        assert preview["incidentChannels"] == channels["incidentChannels"]
        membership = preview["incidentMembershipPreview"]
        assert set(membership) == {"importantAssignments", "totalAssignments", "totalParticipants"}
        assert all(set(a) == {"user", "roleID"} and a["user"]["userID"] for a in membership["importantAssignments"])
        keyed = [lb for lb in preview["labels"] if lb["key"] != "tags"]
        assert len(preview["fieldValues"]) == len(keyed)
        assert isinstance(preview["version"], int) and preview["version"] >= 1
        assert preview["severityLabel"] and preview["severityID"] and preview["slug"]


def test_get_labels_returns_keyed_labels_with_uuids(seeded: Emulator, client: httpx.Client) -> None:
    """GetLabels lists only keyed labels, with keyUUID/valueUUID from GetFields."""
    fields = {f["slug"]: f for f in ok(client, "FieldsService.GetFields")["fields"]}
    assert "tags" in fields and {"team", "service_name", "region", "cause"} <= set(fields)
    incident = next(i for i in seeded.state.incidents.values() if any(lb.is_tag for lb in i.labels))
    labels = ok(client, "IncidentsService.GetLabels", {"incidentID": incident.incident_id})["labels"]
    assert len(labels) == sum(not lb.is_tag for lb in incident.labels)
    for label in labels:
        field = fields[label["key"]]
        assert label["keyUUID"] == field["uuid"]
        assert label["valueUUID"] in {o["uuid"] for o in field["selectoptions"] if o["value"] == label["value"]}


def test_get_fields_catalogue(client: httpx.Client) -> None:
    """Label keys are ``labels``-domain fields with select options; booleans and versions are typed."""
    fields = ok(client, "FieldsService.GetFields", {"domainName": "labels"})["fields"]
    team = next(f for f in fields if f["slug"] == "team")
    assert team["domainName"] == "labels"
    assert {o["value"] for o in team["selectoptions"]} == {"payments", "platform", "search", "identity"}
    assert all(isinstance(f["archived"], bool) and isinstance(f["version"], int) for f in fields)
    assert ok(client, "FieldsService.GetFields", {"domainName": "incident"})["fields"] == []
    assert call(client, "FieldsService.GetFields", {"domainName": "nope"}).status_code == 400


def test_roles_and_users(client: httpx.Client) -> None:
    """GetRoles: commander (important, mandatory), investigator (important), observer; GetUser works."""
    roles = {r["name"]: r for r in ok(client, "RolesService.GetRoles")["roles"]}
    assert roles["commander"]["important"] and roles["commander"]["mandatory"]
    assert roles["investigator"]["important"] and not roles["investigator"]["mandatory"]
    assert not roles["observer"]["important"]
    assert all(r["roleID"] > 1000 and r["updatedAt"] == "" for r in roles.values())
    users = ok(client, "UsersService.QueryUsers", {"query": {"limit": 1}})["users"]
    user = ok(client, "UsersService.GetUser", {"userID": users[0]["userID"]})["user"]
    assert user == users[0]
    assert call(client, "UsersService.GetUser", {"userID": "grafana-incident:user-nobody"}).status_code == 404


def test_query_activity_filters(seeded: Emulator, client: httpx.Client) -> None:
    """activityKind and tag filter the timeline; the query is echoed with defaults applied."""
    incident = next(i for i in seeded.state.incidents.values() if any(a.tags for a in i.activity))
    query = {"incidentID": incident.incident_id, "activityKind": ["userNote"], "limit": 100}
    page = ok(client, "ActivityService.QueryActivity", {"query": query})
    assert page["activityItems"] and all(a["activityKind"] == "userNote" for a in page["activityItems"])
    assert page["query"] == {**query, "tag": "", "orderDirection": "ASC"}
    tagged = ok(client, "ActivityService.QueryActivity", {"query": {**query, "tag": "important"}})
    assert tagged["activityItems"] and all("important" in a["tags"] for a in tagged["activityItems"])
    for item in page["activityItems"]:
        assert set(item) == {
            "activityItemID",
            "incidentID",
            "user",
            "subjectUser",
            "createdTime",
            "eventTime",
            "activityKind",
            "body",
            "url",
            "tags",
            "immutable",
            "fieldValues",
            "attachments",
            "relevance",
        }


@pytest.mark.parametrize(
    ("query", "named"),
    [
        ({}, "incidentID"),
        ({"incidentID": "1", "activityKind": ["gossip"]}, "activityKind"),
        ({"incidentID": "1", "limit": 101}, "limit"),
        ({"incidentID": "1", "orderDirection": "up"}, "orderDirection"),
    ],
)
def test_query_activity_invalid(client: httpx.Client, query: dict[str, Any], named: str) -> None:
    """Missing incidentID, unknown kinds, oversized pages and bad directions are 400."""
    response = call(client, "ActivityService.QueryActivity", {"query": query})
    assert response.status_code == 400
    assert named in response.json()["error"]


def test_public_surface() -> None:
    """The package exports a small sorted surface and implements every method the toolkit needs."""
    assert emulator_package.__all__ == sorted(emulator_package.__all__)
    needed = {
        "IncidentsService." + m
        for m in [
            "QueryIncidentPreviews",
            "QueryIncidents",
            "GetIncident",
            "CreateIncident",
            "UpdateStatus",
            "UpdateSeverity",
            "UpdateTitle",
            "UpdateIncidentIsDrill",
            "UpdateIncidentEventTime",
            "AddLabel",
            "RemoveLabel",
            "AssignLabel",
            "UnassignLabel",
            "GetLabels",
            "AssignRole",
            "UnassignRole",
            "GetIncidentMembership",
        ]
    } | {
        "TasksService.AddTask",
        "TasksService.UpdateTaskStatus",
        "TasksService.UpdateTaskText",
        "TasksService.UpdateTaskUser",
        "TasksService.DeleteTask",
        "ActivityService.QueryActivity",
        "ActivityService.AddActivity",
        "RolesService.GetRoles",
        "SeveritiesService.GetOrgSeverities",
        "FieldsService.GetFields",
        "UsersService.QueryUsers",
        "UsersService.GetUser",
    }
    assert needed <= set(IMPLEMENTED_METHODS)
