"""Every method of ``contract.json`` answers, over HTTP, with exactly its response type's shape.

One scripted session calls all 69 methods in an order that gives each one something real to act
on (an incident, a task, a note, a field, a role, a key update, a status, a hook). Each answer is
checked recursively against the contract: every object has exactly its type's fields, lists hold
their element type, primitives have their JSON type, Go pointers may be null.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from incident_analytics.emulator import IMPLEMENTED_METHODS, UNVERSIONED_ONLY, Emulator

# A copy of the API contract (every method, type and field), kept with the tests.
CONTRACT_PATH = Path(__file__).resolve().parents[1] / "fixtures" / "contract.json"

# IncidentPreview carries these only when the request asks for them (docs/api.md#listing-incidents).
OPTIONAL_PREVIEW_PARTS = {"fieldValues", "incidentMembershipPreview", "incidentChannels"}
PRIMITIVES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "bool": (bool,),
    "int": (int,),
    "int64": (int,),
    "map[string]interface{}": (dict,),
}


@pytest.fixture(scope="module")
def contract() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(CONTRACT_PATH.read_text())
    return data


def check_shape(types: dict[str, Any], value: Any, go_type: str, path: str) -> None:
    """Assert ``value`` has the shape of ``go_type`` (recursively); ``path`` names it in failures."""
    if go_type.startswith("*"):
        if value is None:
            return
        go_type = go_type[1:]
    if go_type.startswith("[]"):
        assert isinstance(value, list), f"{path}: expected a list, got {value!r:.80}"
        for index, item in enumerate(value):
            check_shape(types, item, go_type[2:], f"{path}[{index}]")
        return
    if go_type in PRIMITIVES:
        wanted = PRIMITIVES[go_type]
        assert isinstance(value, wanted) and not (bool not in wanted and isinstance(value, bool)), (
            f"{path}: expected {go_type}, got {value!r:.80}"
        )
        return
    fields = {field["json"]: field["go_type"] for field in types[go_type]}
    assert isinstance(value, dict), f"{path}: expected a {go_type} object, got {value!r:.80}"
    missing = set(fields) - set(value)
    if go_type == "IncidentPreview":
        missing -= OPTIONAL_PREVIEW_PARTS
    assert not missing, f"{path} ({go_type}) lacks {sorted(missing)}"
    extra = set(value) - set(fields)
    assert not extra, f"{path} ({go_type}) has fields outside the contract: {sorted(extra)}"
    for name, item in value.items():
        check_shape(types, item, fields[name], f"{path}.{name}")


class Session:
    """Calls methods on an emulator and remembers what later calls need."""

    def __init__(self, emu: Emulator, contract: dict[str, Any]) -> None:
        self.emu = emu
        self.types = contract["types"]
        self.responses = {m["path"]: m["response"] for m in contract["methods"]}
        self.checked: list[str] = []
        self.ctx: dict[str, Any] = {}
        base = emu.url + "/api/plugins/grafana-irm-app/resources/api/"
        headers = {"Authorization": f"Bearer {emu.token}"}
        self.v1 = httpx.Client(base_url=base + "v1/", headers=headers)
        self.plain = httpx.Client(base_url=base, headers=headers)

    def __call__(self, method: str, body: dict[str, Any]) -> dict[str, Any]:
        client = self.plain if method in UNVERSIONED_ONLY else self.v1
        response = client.post(method, json=body)
        assert response.status_code == 200, (method, response.status_code, response.text)
        data: dict[str, Any] = response.json()
        check_shape(self.types, data, self.responses[method], method)
        self.checked.append(method)
        return data

    def close(self) -> None:
        self.v1.close()
        self.plain.close()


@pytest.fixture(scope="module")
def session(contract: dict[str, Any]) -> Iterator[Session]:
    with Emulator(scenario="small", fixed_clock=True) as emu:
        s = Session(emu, contract)
        yield s
        s.close()


def _incidents(s: Session) -> None:
    created = s(
        "IncidentsService.CreateIncident",
        {
            "title": "Checkout errors",
            "severity": "Major",
            "labels": [{"label": "customer-facing"}],
            "initialStatusUpdate": "We are looking into it.",
            "attachURL": "https://grafana.example.com/render/panel.png",
            "attachCaption": "Error rate",
        },
    )["incident"]
    incident_id = s.ctx["incident"] = created["incidentID"]
    user_id = s.ctx["user"] = s("UsersService.QueryUsers", {"query": {"limit": 5}})["users"][0]["userID"]
    s("UsersService.GetUser", {"userID": user_id})
    s("IncidentsService.QueryIncidentPreviews", {"query": {"limit": 3}})
    s(
        "IncidentsService.QueryIncidentPreviews",
        {
            "query": {"limit": 3},
            "includeCustomFieldValues": True,
            "includeMembershipPreview": True,
            "includeIncidentChannels": True,
        },
    )
    s("IncidentsService.QueryIncidents", {"query": {"limit": 2}})
    s("IncidentsService.GetIncident", {"incidentID": incident_id})
    s("IncidentsService.GetIncidentMembership", {"incidentID": incident_id})
    s("IncidentsService.UpdateSeverity", {"incidentID": incident_id, "severity": "Critical"})
    s("IncidentsService.UpdateTitle", {"incidentID": incident_id, "title": "Checkout errors in eu-west"})
    s("IncidentsService.UpdateIncidentIsDrill", {"incidentID": incident_id, "isDrill": False})
    s(
        "IncidentsService.UpdateIncidentEventTime",
        {"incidentID": incident_id, "eventName": "incidentStart", "eventTime": "2026-10-31T23:00:00Z"},
    )
    s("IncidentsService.AddLabel", {"incidentID": incident_id, "label": {"label": "database"}})
    s("IncidentsService.RemoveLabel", {"incidentID": incident_id, "label": "database"})
    s("IncidentsService.AssignLabel", {"incidentID": incident_id, "key": "team", "value": "payments"})
    labels = s("IncidentsService.GetLabels", {"incidentID": incident_id})["labels"]
    uuids = {"keyUUID": labels[0]["keyUUID"], "valueUUID": labels[0]["valueUUID"]}
    s("IncidentsService.UnassignLabel", {"incidentID": incident_id, "key": "team", "value": "payments"})
    s("IncidentsService.AssignLabelByUUID", {"incidentID": incident_id, **uuids})
    s("IncidentsService.UnassignLabelByUUID", {"incidentID": incident_id, **uuids})
    s("IncidentsService.AssignRole", {"incidentID": incident_id, "userID": user_id, "role": "commander"})
    s("IncidentsService.UnassignRole", {"incidentID": incident_id, "userID": user_id, "role": "commander"})


def _tasks_and_activity(s: Session) -> None:
    incident_id, user_id = s.ctx["incident"], s.ctx["user"]
    task_id = s("TasksService.AddTask", {"incidentID": incident_id, "text": "Roll back"})["task"]["taskID"]
    s("TasksService.UpdateTaskStatus", {"incidentID": incident_id, "taskID": task_id, "status": "progress"})
    s("TasksService.UpdateTaskText", {"incidentID": incident_id, "taskID": task_id, "text": "Roll back v2"})
    s("TasksService.UpdateTaskUser", {"incidentID": incident_id, "taskID": task_id, "userID": user_id})
    s("TasksService.DeleteTask", {"incidentID": incident_id, "taskID": task_id})
    note = s("ActivityService.AddActivity", {"incidentID": incident_id, "activityKind": "userNote", "body": "Hi"})
    item_id = note["activityItem"]["activityItemID"]
    target = {"incidentID": incident_id, "activityItemID": item_id}
    s("ActivityService.UpdateActivityBody", {**target, "body": "Hello"})
    s("ActivityService.UpdateActivityEventTime", {**target, "eventTime": "2026-11-01T00:30:00Z"})
    s("ActivityService.UpdateActivityRelevance", {**target, "relevance": "high"})
    s("ActivityService.QueryActivity", {"query": {"incidentID": incident_id, "limit": 50}})
    s("ActivityService.RemoveActivity", target)


def _catalogue(s: Session) -> None:
    incident_id = s.ctx["incident"]
    s("RolesService.GetRoles", {})
    s("FieldsService.GetFields", {})
    key_field = s("FieldsService.AddLabelKey", {"key": "customer", "description": "Customer"})["field"]
    s("FieldsService.AddLabelValue", {"key": "customer", "value": "acme"})
    s("FieldsService.GetField", {"fieldUUID": key_field["uuid"]})
    field = s(
        "FieldsService.AddField",
        {"field": {"name": "Ticket", "domainName": "incident", "type": "string", "description": "Support ticket"}},
    )["field"]
    option_uuid = s(
        "FieldsService.AddFieldSelectOption",
        {"fieldUUID": key_field["uuid"], "fieldSelectOption": {"value": "globex"}},
    )["fieldSelectOptionUUID"]
    s(
        "FieldsService.UpdateFieldSelectOption",
        {"fieldUUID": key_field["uuid"], "selectOptionUUID": option_uuid, "value": "globex-corp"},
    )
    s("FieldsService.DeleteFieldSelectOption", {"fieldUUID": key_field["uuid"], "selectOptionUUID": option_uuid})
    s("FieldsService.UpdateField", {"fieldUUID": field["uuid"], "name": "Ticket", "description": "Zendesk"})
    s(
        "FieldsService.RecordFieldValue",
        {"fieldUUID": field["uuid"], "value": "ZD-1", "targetKind": "incident", "targetID": incident_id},
    )
    s("FieldsService.GetFieldValues", {"targetKind": "incident", "targetID": incident_id})
    s("FieldsService.ArchiveField", {"fieldUUID": field["uuid"]})
    s("FieldsService.UnarchiveField", {"fieldUUID": field["uuid"]})
    s("FieldsService.DeleteField", {"fieldUUID": field["uuid"]})
    role = s("RolesService.CreateRole", {"role": {"name": "scribe", "description": "Keeps notes"}})["role"]
    s("RolesService.UpdateRole", {"role": {**role, "description": "Keeps the timeline"}})
    s("RolesService.ArchiveRole", {"roleID": role["roleID"]})
    s("RolesService.UnarchiveRole", {"roleID": role["roleID"]})
    s("RolesService.DeleteRole", {"roleID": role["roleID"]})
    configurations = s("StatusService.QueryOrgStatuses", {})["configurations"]
    s.ctx["status"] = configurations[0]["statuses"][0]["statusID"]
    created = s(
        "StatusService.CreateOrgStatus",
        {"incidentType": "internal", "name": "Mitigated", "category": "active", "icon": "info-circle"},
    )["status"]
    s("StatusService.GetStatusByID", {"statusID": created["statusID"]})
    s(
        "StatusService.UpdateOrgStatus",
        {"statusID": created["statusID"], "name": "Mitigated", "category": "active", "description": "Impact stopped"},
    )


def _key_updates_and_integrations(s: Session) -> None:
    incident_id = s.ctx["incident"]
    hook = s(
        "IntegrationService.EnableHook",
        {"integrationID": "grate.webhook", "hookID": "webhook", "eventName": "incidentUpdated"},
    )["enabledHookID"]
    s("IntegrationService.GetEnabledHooks", {})
    update = s(
        "KeyUpdatesService.CreateKeyUpdate",
        {"incidentID": incident_id, "title": "Cause found", "content": "A bad deploy.", "statusID": s.ctx["status"]},
    )["keyUpdate"]
    s("KeyUpdatesService.GetKeyUpdate", {"incidentID": incident_id, "id": update["id"]})
    s("KeyUpdatesService.GetInitialKeyUpdate", {"incidentID": incident_id})
    s("KeyUpdatesService.GetLastKeyUpdate", {"incidentID": incident_id})
    s("KeyUpdatesService.QueryKeyUpdates", {"query": {"incidentID": incident_id, "limit": 1}})
    s("KeyUpdatesService.UpdateKeyUpdate", {"incidentID": incident_id, "id": update["id"], "content": "A bad deploy!"})
    s("KeyUpdatesService.DeleteKeyUpdate", {"incidentID": incident_id, "id": update["id"]})
    s("IntegrationService.CreateIncidentSlackChannel", {"incidentID": incident_id, "channelName": "inc-checkout"})
    s("IncidentsService.GetIncidentChannels", {"incidentID": incident_id})
    s("IntegrationService.GetHookRuns", {"incidentID": incident_id})
    s("IntegrationService.DisableHook", {"integrationID": "grate.webhook", "enabledHookID": hook})
    s("IncidentsService.UpdateStatus", {"incidentID": incident_id, "status": "resolved"})


STEPS: tuple[Callable[[Session], None], ...] = (
    _incidents,
    _tasks_and_activity,
    _catalogue,
    _key_updates_and_integrations,
)


def test_every_contract_method_answers_with_its_shape(session: Session, contract: dict[str, Any]) -> None:
    """All 69 methods answer HTTP 200 with exactly the contract's response shape."""
    for step in STEPS:
        step(session)
    every = {m["path"] for m in contract["methods"]}
    assert len(every) == 69
    assert every <= set(session.checked), sorted(every - set(session.checked))


def test_the_emulator_implements_the_whole_contract(contract: dict[str, Any]) -> None:
    """The emulator's method list is the contract's 69 plus the unversioned GetOrgSeverities."""
    every = {m["path"] for m in contract["methods"]}
    assert set(IMPLEMENTED_METHODS) == every | {"SeveritiesService.GetOrgSeverities"}


def test_the_checker_catches_a_wrong_shape(contract: dict[str, Any]) -> None:
    """A missing field, an extra field and a wrongly typed value are each caught."""
    types = contract["types"]
    role = {
        "roleID": 1,
        "orgID": "1",
        "name": "x",
        "description": "",
        "important": True,
        "mandatory": False,
        "archived": False,
        "createdAt": "",
        "updatedAt": "",
    }
    check_shape(types, {"role": role}, "CreateRoleResponse", "ok")
    for broken in ({k: v for k, v in role.items() if k != "orgID"}, {**role, "extra": 1}, {**role, "roleID": "1"}):
        with pytest.raises(AssertionError):
            check_shape(types, {"role": broken}, "CreateRoleResponse", "broken")


def test_the_emulator_imports_nothing_of_the_client() -> None:
    """The emulator is an independent implementation of the API: it imports only its own modules."""
    import ast

    import incident_analytics.emulator as package

    root = Path(package.__file__).parent
    outside = []
    for path in sorted(root.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [("." * node.level) + (node.module or "")]
            for name in names:
                own = name.startswith("incident_analytics.emulator") or (
                    name.startswith(".") and not name.startswith("..")
                )
                if name.startswith(("incident_analytics", "..")) and not own:
                    outside.append(f"{path.name}: {name}")
    assert len(list(root.glob("*.py"))) > 10 and outside == []
