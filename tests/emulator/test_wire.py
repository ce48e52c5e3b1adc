"""The cached encoded answers (emulator/wire.py): exact bytes, and never stale after a write."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
import pytest

from incident_analytics.emulator import Emulator
from incident_analytics.emulator.wire import dumps

from .helpers import ok

HOT = {
    "IncidentsService.GetIncident": lambda i: {"incidentID": i},
    "IncidentsService.GetLabels": lambda i: {"incidentID": i},
    "ActivityService.QueryActivity": lambda i: {"query": {"incidentID": i, "limit": 100}},
    "IncidentsService.QueryIncidentPreviews": lambda i: {
        "query": {"limit": 50, "queryString": "isdrill:false"},
        "includeMembershipPreview": True,
        "includeCustomFieldValues": True,
    },
}
# Quotes, backslashes, non-ASCII and the very text the duration splice looks for.
TRICKY = 'Crème "brûlée" \\ ,"durationSeconds":0, — 事故'


def _plain(client: httpx.Client, method: str, body: Any) -> bytes:
    response = client.post(method, json=body, headers={"Accept-Encoding": "identity"})
    assert response.status_code == 200, response.text
    assert "content-encoding" not in response.headers
    return response.content


def _open_id(emu: Emulator) -> str:
    return next(i.incident_id for i in emu.state.incidents.values() if i.status == "active" and not i.is_drill)


@pytest.mark.parametrize("method", sorted(HOT))
def test_cached_answers_are_the_bytes_encoding_the_dict_gives(
    fresh: Emulator, wclient: httpx.Client, method: str
) -> None:
    """Assembled from cached parts or not, a body is json.dumps(compact, non-ASCII kept) of what it decodes to."""
    incident_id = _open_id(fresh)
    ok(wclient, "IncidentsService.UpdateTitle", {"incidentID": incident_id, "title": TRICKY})
    ok(wclient, "ActivityService.AddActivity", {"incidentID": incident_id, "activityKind": "userNote", "body": TRICKY})
    for _ in range(2):  # the first answer fills the cache, the second comes from it
        raw = _plain(wclient, method, HOT[method](incident_id))
        decoded = json.loads(raw)
        assert raw == json.dumps(decoded, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        escaped = json.dumps(TRICKY, ensure_ascii=False)[1:-1].encode("utf-8")
        assert escaped in raw or method == "IncidentsService.GetLabels"


def test_get_incident_matches_the_state_render(fresh: Emulator, wclient: httpx.Client) -> None:
    """GetIncident (cached) gives what rendering the incident gives, for every incident, twice."""
    with fresh.state.lock:
        resolved = [i.incident_id for i in fresh.state.incidents.values() if i.closed_ns is not None]
    for _ in range(2):
        for incident_id in resolved:
            raw = _plain(wclient, "IncidentsService.GetIncident", {"incidentID": incident_id})
            assert raw == dumps({"incident": fresh.state.render_incident(incident_id)})


def test_open_incident_duration_keeps_running_while_cached(fresh: Emulator, wclient: httpx.Client) -> None:
    """durationSeconds of an open incident is as of each answer, not of the cached render."""
    incident_id = _open_id(fresh)
    first = ok(wclient, "IncidentsService.GetIncident", {"incidentID": incident_id})["incident"]
    time.sleep(1.1)
    second = ok(wclient, "IncidentsService.GetIncident", {"incidentID": incident_id})["incident"]
    assert second["durationSeconds"] >= first["durationSeconds"] + 1
    assert {**second, "durationSeconds": 0} == {**first, "durationSeconds": 0}


def test_get_incident_after_writes_shows_each_change(fresh: Emulator, wclient: httpx.Client) -> None:
    """UpdateTitle, AssignLabel, AddActivity and UpdateStatus each show in the next GetIncident."""
    incident_id = _open_id(fresh)

    def get() -> dict[str, Any]:
        incident: dict[str, Any] = ok(wclient, "IncidentsService.GetIncident", {"incidentID": incident_id})["incident"]
        return incident

    before = get()
    ok(wclient, "IncidentsService.UpdateTitle", {"incidentID": incident_id, "title": "Renamed while cached"})
    renamed = get()
    assert renamed["title"] == "Renamed while cached" and renamed["modifiedTime"] != before["modifiedTime"]
    fields = ok(wclient, "FieldsService.GetFields", {"domainName": "labels"})["fields"]
    key_field = next(f for f in fields if f["slug"] != "tags" and f["selectoptions"])
    key, value = key_field["slug"], key_field["selectoptions"][-1]["value"]
    ok(wclient, "IncidentsService.UnassignLabel", {"incidentID": incident_id, "key": key, "value": value})
    get()  # cache the state without the label
    ok(wclient, "IncidentsService.AssignLabel", {"incidentID": incident_id, "key": key, "value": value})
    assert {"key": key, "label": value} in [{"key": x["key"], "label": x["label"]} for x in get()["labels"]]
    labelled = get()
    ok(wclient, "ActivityService.AddActivity", {"incidentID": incident_id, "activityKind": "userNote", "body": "hi"})
    assert get()["modifiedTime"] > labelled["modifiedTime"]
    ok(wclient, "IncidentsService.UpdateStatus", {"incidentID": incident_id, "status": "resolved"})
    resolved = get()
    assert resolved["status"] == "resolved" and resolved["closedTime"] != ""


def test_get_labels_after_assign_and_unassign(fresh: Emulator, wclient: httpx.Client) -> None:
    """GetLabels (cached) follows AssignLabel and UnassignLabel."""
    incident_id = _open_id(fresh)
    fields = ok(wclient, "FieldsService.GetFields", {"domainName": "labels"})["fields"]
    key_field = next(f for f in fields if f["slug"] != "tags" and f["selectoptions"])
    key, value = key_field["slug"], key_field["selectoptions"][0]["value"]

    def labels() -> list[tuple[str, str]]:
        found = ok(wclient, "IncidentsService.GetLabels", {"incidentID": incident_id})["labels"]
        return [(x["key"], x["value"]) for x in found]

    ok(wclient, "IncidentsService.UnassignLabel", {"incidentID": incident_id, "key": key, "value": value})
    assert (key, value) not in labels()
    ok(wclient, "IncidentsService.AssignLabel", {"incidentID": incident_id, "key": key, "value": value})
    assert (key, value) in labels()
    ok(wclient, "IncidentsService.UnassignLabel", {"incidentID": incident_id, "key": key, "value": value})
    assert (key, value) not in labels()


def test_query_activity_after_add_edit_and_remove(fresh: Emulator, wclient: httpx.Client) -> None:
    """QueryActivity (cached items) follows AddActivity, UpdateActivityBody and RemoveActivity."""
    incident_id = _open_id(fresh)
    query = {"query": {"incidentID": incident_id, "limit": 100}}

    def notes() -> dict[str, str]:
        items = ok(wclient, "ActivityService.QueryActivity", query)["activityItems"]
        return {a["activityItemID"]: a["body"] for a in items if a["activityKind"] == "userNote"}

    before = notes()
    added = ok(
        wclient,
        "ActivityService.AddActivity",
        {"incidentID": incident_id, "activityKind": "userNote", "body": "first words"},
    )["activityItem"]
    item_id = added["activityItemID"]
    assert notes() == {**before, item_id: "first words"}
    ok(
        wclient,
        "ActivityService.UpdateActivityBody",
        {"incidentID": incident_id, "activityItemID": item_id, "body": "second"},
    )
    assert notes()[item_id] == "second"
    ok(wclient, "ActivityService.RemoveActivity", {"incidentID": incident_id, "activityItemID": item_id})
    assert notes() == before


def test_previews_follow_writes_to_the_listed_incidents(fresh: Emulator, wclient: httpx.Client) -> None:
    """A listing (cached selection and previews) shows a new title and drops an incident that stops matching."""
    incident_id = _open_id(fresh)
    body = {"query": {"limit": 100, "queryString": "status:active"}}

    def listed() -> dict[str, str]:
        previews = ok(wclient, "IncidentsService.QueryIncidentPreviews", body)["incidentPreviews"]
        return {p["incidentID"]: p["title"] for p in previews}

    assert incident_id in listed()
    ok(wclient, "IncidentsService.UpdateTitle", {"incidentID": incident_id, "title": "New title in the listing"})
    assert listed()[incident_id] == "New title in the listing"
    ok(wclient, "IncidentsService.UpdateStatus", {"incidentID": incident_id, "status": "resolved"})
    assert incident_id not in listed()
    created = ok(wclient, "IncidentsService.CreateIncident", {"title": "Declared after the listing"})["incident"]
    assert listed()[created["incidentID"]] == "Declared after the listing"


def test_catalogue_write_reaches_cached_incidents(fresh: Emulator, wclient: httpx.Client) -> None:
    """Redescribing a role (no incident's version moves) shows in the cached incidents' assignments."""
    with fresh.state.lock:
        incident = next(i for i in fresh.state.incidents.values() if i.assignments)
        role = fresh.state.catalog.roles[incident.assignments[0].role_id]
        role_id, name, important, mandatory = role.role_id, role.name, role.important, role.mandatory
    incident_id = incident.incident_id

    def descriptions() -> set[str]:
        got = ok(wclient, "IncidentsService.GetIncident", {"incidentID": incident_id})["incident"]
        return {a["role"]["description"] for a in got["incidentMembership"]["assignments"] if a["roleID"] == role_id}

    assert "Redescribed while cached" not in descriptions()
    role_body = {"roleID": role_id, "name": name, "important": important, "mandatory": mandatory}
    ok(wclient, "RolesService.UpdateRole", {"role": {**role_body, "description": "Redescribed while cached"}})
    assert descriptions() == {"Redescribed while cached"}


def test_api_call_still_gives_dicts(fresh: Emulator) -> None:
    """Api.call decodes the encoded answers of the hot methods: callers in Python get dicts."""
    incident_id = _open_id(fresh)
    api = fresh._backend.api
    for method, body in HOT.items():
        result = api.call(method, body(incident_id))
        encoded = json.loads(api.call_encoded(method, body(incident_id)))
        assert isinstance(result, dict)
        result.pop("cursor", None), encoded.pop("cursor", None)  # each page issues a new cursor value
        assert result == encoded


def test_cache_is_bounded(fresh: Emulator, wclient: httpx.Client) -> None:
    """The encoded-answer cache stays within its byte bound, evicting the least recently used."""
    cache = fresh._backend.api.wire
    cache.max_bytes = 20_000
    for incident_id in list(fresh.state.incidents)[:30]:
        ok(wclient, "IncidentsService.GetIncident", {"incidentID": incident_id})
        assert cache.size <= 20_000
    assert cache.misses >= 30


def test_prerender_fills_the_cache_and_answers_stay_exact(fresh: Emulator, wclient: httpx.Client) -> None:
    """Emulator.prerender() renders every incident; answers then come from the cache and are unchanged."""
    incident_id = next(i.incident_id for i in fresh.state.incidents.values() if i.closed_ns is not None)
    before = _plain(wclient, "IncidentsService.GetIncident", {"incidentID": incident_id})
    cache = fresh._backend.api.wire
    assert fresh.prerender() == len(fresh.state.incidents)
    misses = cache.misses
    for method in ("IncidentsService.GetIncident", "IncidentsService.GetLabels", "ActivityService.QueryActivity"):
        _plain(wclient, method, HOT[method](incident_id))
    _plain(wclient, "IncidentsService.QueryIncidentPreviews", {"query": {"limit": 100}})
    assert cache.misses == misses
    assert _plain(wclient, "IncidentsService.GetIncident", {"incidentID": incident_id}) == before
