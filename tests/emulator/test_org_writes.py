"""The methods added for the whole contract: the state changes and timeline items each implies."""

from __future__ import annotations

from typing import Any

import httpx

from incident_analytics.emulator import Emulator

from .helpers import all_items, call, ok


def _labels_of(client: httpx.Client, incident_id: str) -> set[tuple[str, str]]:
    incident = ok(client, "IncidentsService.GetIncident", {"incidentID": incident_id})["incident"]
    return {(lb["key"], lb["label"]) for lb in incident["labels"]}


def _kinds(client: httpx.Client, incident_id: str) -> list[str]:
    items = all_items(
        client, "ActivityService.QueryActivity", {"incidentID": incident_id, "limit": 100}, "activityItems"
    )
    return [a["activityKind"] for a in items]


def _field(client: httpx.Client, slug: str) -> dict[str, Any]:
    return next(f for f in ok(client, "FieldsService.GetFields")["fields"] if f["slug"] == slug)


def test_renaming_a_label_value_renames_it_on_every_incident(fresh: Emulator, wclient: httpx.Client) -> None:
    """UpdateFieldSelectOption on a label key's value: the clean-up flow's rename, done once."""
    team = _field(wclient, "team")
    option = next(o for o in team["selectoptions"] if o["value"] == "payments")
    carriers = [i for i, inc in fresh.state.incidents.items() if any(lb.text == "payments" for lb in inc.labels)]
    assert carriers
    before = {i: fresh.state.incidents[i].version for i in carriers}
    body = {"fieldUUID": team["uuid"], "selectOptionUUID": option["uuid"], "value": "payments-eng"}
    assert ok(wclient, "FieldsService.UpdateFieldSelectOption", body) == {}
    for incident_id in carriers:
        labels = _labels_of(wclient, incident_id)
        assert ("team", "payments-eng") in labels and ("team", "payments") not in labels
        assert fresh.state.incidents[incident_id].version == before[incident_id] + 1
    assert "payments-eng" in {o["value"] for o in _field(wclient, "team")["selectoptions"]}
    # The renamed value is now the one the query language and AssignLabel know.
    ok(wclient, "IncidentsService.AssignLabel", {"incidentID": "1", "key": "team", "value": "payments-eng"})


def test_deleting_an_option_or_a_field_removes_its_labels(fresh: Emulator, wclient: httpx.Client) -> None:
    region = _field(wclient, "region")
    option = next(o for o in region["selectoptions"] if o["value"] == "eu-west")
    ok(
        wclient,
        "FieldsService.DeleteFieldSelectOption",
        {"fieldUUID": region["uuid"], "selectOptionUUID": option["uuid"]},
    )
    assert all(("region", "eu-west") not in _labels_of(wclient, i) for i in list(fresh.state.incidents)[:30])
    cause = _field(wclient, "cause")
    ok(wclient, "FieldsService.DeleteField", {"fieldUUID": cause["uuid"]})
    assert "cause" not in {f["slug"] for f in ok(wclient, "FieldsService.GetFields")["fields"]}
    assert all(lb.key != "cause" for inc in fresh.state.incidents.values() for lb in inc.labels)
    tags = _field(wclient, "tags")
    refused = call(wclient, "FieldsService.DeleteField", {"fieldUUID": tags["uuid"]})
    assert refused.status_code == 400 and "immutable" in refused.json()["error"]
    missing = call(wclient, "FieldsService.DeleteField", {"fieldUUID": "no-such-field"})
    assert missing.status_code == 404


def test_fields_update_with_version_check_archive_and_values(fresh: Emulator, wclient: httpx.Client) -> None:
    body = {"field": {"name": "Ticket", "domainName": "incident", "type": "string"}}
    field = ok(wclient, "FieldsService.AddField", body)["field"]
    assert field["domainName"] == "incident" and field["slug"] == "ticket" and field["version"] == 1
    stale = call(wclient, "FieldsService.UpdateField", {"fieldUUID": field["uuid"], "name": "Ticket", "version": 7})
    assert stale.status_code == 400 and "version 1" in stale.json()["error"]
    updated = ok(wclient, "FieldsService.UpdateField", {"fieldUUID": field["uuid"], "name": "Zendesk", "version": 1})
    assert updated["field"]["name"] == "Zendesk" and updated["field"]["version"] == 2
    target = {"targetKind": "incident", "targetID": "3"}
    ok(wclient, "FieldsService.RecordFieldValue", {"fieldUUID": field["uuid"], "value": "ZD-9", **target})
    values = ok(wclient, "FieldsService.GetFieldValues", {**target, "domainName": "incident"})["fieldValues"]
    assert [(v["field"]["uuid"], v["value"]) for v in values] == [(field["uuid"], "ZD-9")]
    assert "incidentUpdated" in _kinds(wclient, "3")
    preview = ok(
        wclient,
        "IncidentsService.QueryIncidentPreviews",
        {
            "query": {"queryString": "", "limit": 100, "orderField": "incidentID", "orderDirection": "ASC"},
            "includeCustomFieldValues": True,
        },
    )["incidentPreviews"][2]
    assert {"fieldUUID": field["uuid"], "value": "ZD-9"} in preview["fieldValues"]
    ok(wclient, "FieldsService.ArchiveField", {"fieldUUID": field["uuid"]})
    assert _field(wclient, "ticket")["archived"] is True
    archived = call(wclient, "FieldsService.RecordFieldValue", {"fieldUUID": field["uuid"], "value": "x", **target})
    assert archived.status_code == 400 and "archived" in archived.json()["error"]
    # A label key's value recorded as a field value is that label.
    team = _field(wclient, "team")
    ok(wclient, "FieldsService.RecordFieldValue", {"fieldUUID": team["uuid"], "value": "search", **target})
    assert ("team", "search") in _labels_of(wclient, "3")


def test_roles_create_update_archive_delete(fresh: Emulator, wclient: httpx.Client) -> None:
    role = ok(wclient, "RolesService.CreateRole", {"role": {"name": "scribe", "important": True}})["role"]
    assert role["roleID"] > 9578 and role["createdAt"] and role["updatedAt"] == ""
    dup = call(wclient, "RolesService.CreateRole", {"role": {"name": "Scribe"}})
    assert dup.status_code == 400
    ok(wclient, "RolesService.UpdateRole", {"role": {**role, "description": "Keeps the timeline"}})
    ok(wclient, "RolesService.ArchiveRole", {"roleID": role["roleID"]})
    roles = {r["roleID"]: r for r in ok(wclient, "RolesService.GetRoles")["roles"]}
    assert roles[role["roleID"]]["archived"] and roles[role["roleID"]]["description"] == "Keeps the timeline"
    ok(wclient, "RolesService.DeleteRole", {"roleID": role["roleID"]})
    assert role["roleID"] not in {r["roleID"] for r in ok(wclient, "RolesService.GetRoles")["roles"]}
    builtin = call(wclient, "RolesService.DeleteRole", {"roleID": 9576})
    assert builtin.status_code == 400 and "archive it instead" in builtin.json()["error"]
    assert call(wclient, "RolesService.ArchiveRole", {"roleID": 1}).status_code == 404


def test_key_updates_move_the_incident_and_page(fresh: Emulator, wclient: httpx.Client) -> None:
    """initialStatusUpdate is the first key update; a key update naming a severity sets it."""
    created = ok(
        wclient,
        "IncidentsService.CreateIncident",
        {"title": "Search is slow", "severity": "Minor", "initialStatusUpdate": "Looking into it."},
    )["incident"]
    incident_id = created["incidentID"]
    initial = ok(wclient, "KeyUpdatesService.GetInitialKeyUpdate", {"incidentID": incident_id})["keyUpdate"]
    assert initial["content"] == "Looking into it." and initial["title"] is None
    severities = {s.label: s.severity_id for s in fresh.state.catalog.severities.values()}
    body = {
        "incidentID": incident_id,
        "title": "Worse",
        "content": "Now affecting all users.",
        "severityID": severities["Critical"],
    }
    update = ok(wclient, "KeyUpdatesService.CreateKeyUpdate", body)["keyUpdate"]
    incident = ok(wclient, "IncidentsService.GetIncident", {"incidentID": incident_id})["incident"]
    assert incident["severity"] == "Critical"
    assert {"incidentSeverityChanged", "incidentUpdated"} <= set(_kinds(wclient, incident_id))
    last = ok(wclient, "KeyUpdatesService.GetLastKeyUpdate", {"incidentID": incident_id})
    assert last["keyUpdate"]["id"] == update["id"] and last["keyUpdateCount"] == 2
    pages = all_items(
        wclient, "KeyUpdatesService.QueryKeyUpdates", {"incidentID": incident_id, "limit": 1}, "keyUpdates"
    )
    assert [u["id"] for u in pages] == [update["id"], initial["id"]]  # newest first
    ok(wclient, "KeyUpdatesService.DeleteKeyUpdate", {"incidentID": incident_id, "id": update["id"]})
    gone = call(wclient, "KeyUpdatesService.GetKeyUpdate", {"incidentID": incident_id, "id": update["id"]})
    assert gone.status_code == 404
    bad = call(
        wclient, "KeyUpdatesService.CreateKeyUpdate", {"incidentID": incident_id, "content": "x", "scope": "world"}
    )
    assert bad.status_code == 400 and "scope" in bad.json()["error"]


def test_statuses_configuration(wclient: httpx.Client) -> None:
    configurations = ok(wclient, "StatusService.QueryOrgStatuses", {"incidentType": "internal"})["configurations"]
    assert [c["incidentType"] for c in configurations] == ["internal"] and configurations[0]["default"] is True
    names = [s["name"] for s in configurations[0]["statuses"]]
    assert names[-1] == "Resolved" and {s["category"] for s in configurations[0]["statuses"]} == {"active", "resolved"}
    created = ok(
        wclient,
        "StatusService.CreateOrgStatus",
        {"incidentType": "internal", "name": "Mitigated", "category": "active"},
    )["status"]
    assert created["position"] == len(names) + 1 and created["slug"] == "mitigated"
    after = ok(wclient, "StatusService.QueryOrgStatuses", {"incidentType": "internal"})["configurations"][0]
    assert after["default"] is False and after["statuses"][-1]["statusID"] == created["statusID"]
    resolved = configurations[0]["statuses"][-1]
    renamed = call(
        wclient,
        "StatusService.UpdateOrgStatus",
        {"statusID": resolved["statusID"], "name": "Done", "category": "resolved"},
    )
    assert renamed.status_code == 400 and "immutable" in renamed.json()["error"]


def test_hooks_run_on_matching_writes_and_runs_are_unversioned(fresh: Emulator, wclient: httpx.Client) -> None:
    body = {
        "integrationID": "grate.webhook",
        "hookID": "webhook",
        "eventName": "incidentClosed",
        "incidentFilter": "isdrill:false",
    }
    hook = ok(wclient, "IntegrationService.EnableHook", body)["enabledHookID"]
    incident_id = next(i for i, inc in fresh.state.incidents.items() if inc.status == "active" and not inc.is_drill)
    ok(wclient, "IncidentsService.UpdateStatus", {"incidentID": incident_id, "status": "resolved"})
    unversioned = httpx.Client(base_url=fresh.api_url.removesuffix("v1/"), headers=dict(wclient.headers))
    with unversioned:
        runs = ok(unversioned, "IntegrationService.GetHookRuns", {"incidentID": incident_id})["hookRuns"]
    assert [(r["enabledHookID"], r["eventName"], r["status"]) for r in runs] == [(hook, "incidentClosed", "success")]
    assert "hookRunMetadata" in _kinds(wclient, incident_id)
    assert call(wclient, "IntegrationService.GetHookRuns", {"incidentID": incident_id}).status_code == 404
    ok(wclient, "IntegrationService.DisableHook", {"integrationID": "grate.webhook", "enabledHookID": hook})
    assert ok(wclient, "IntegrationService.GetEnabledHooks")["enabledHooks"] == []
    bad = call(wclient, "IntegrationService.EnableHook", {**body, "incidentFilter": "any(a b)"})
    assert bad.status_code == 400 and "incidentFilter" in bad.json()["error"]


def test_slack_channel_fills_channels_and_refs(fresh: Emulator, wclient: httpx.Client) -> None:
    incident_id = next(i for i, inc in fresh.state.incidents.items() if not inc.channels)
    answer = ok(
        wclient, "IntegrationService.CreateIncidentSlackChannel", {"incidentID": incident_id, "channelName": "inc-db"}
    )
    assert answer["channelName"] == "inc-db" and answer["channelID"].startswith("C")
    incident = ok(wclient, "IncidentsService.GetIncident", {"incidentID": incident_id})["incident"]
    assert [c["channelID"] for c in incident["incidentChannels"]] == [answer["channelID"]]
    assert [r["ref"] for r in incident["refs"]] == [answer["channelID"]]
    again = call(wclient, "IntegrationService.CreateIncidentSlackChannel", {"incidentID": incident_id})
    assert again.status_code == 400


def test_create_incident_attaches_the_url(wclient: httpx.Client) -> None:
    body = {"title": "Graph attached", "attachURL": "https://grafana.example.com/render/p.png", "attachCaption": "5xx"}
    incident_id = ok(wclient, "IncidentsService.CreateIncident", body)["incident"]["incidentID"]
    items = all_items(
        wclient, "ActivityService.QueryActivity", {"incidentID": incident_id, "limit": 100}, "activityItems"
    )
    created = next(a for a in items if a["activityKind"] == "incidentCreated")
    [attachment] = created["attachments"]
    assert attachment["sourceURL"] == body["attachURL"] and attachment["fileType"] == "image"
    assert created["fieldValues"]["attachCaption"] == "5xx"


def test_seeded_incidents_have_channels_key_updates_and_attachments(fresh: Emulator) -> None:
    incidents = [i for i in fresh.state.incidents.values() if not i.is_drill]
    assert 0.4 < sum(bool(i.channels) for i in incidents) / len(incidents) < 0.8
    assert all(len(i.refs) == len(i.channels) for i in incidents)
    assert sum(bool(i.key_updates) for i in incidents) > 5
    assert any(a.attachments for i in incidents for a in i.activity)
