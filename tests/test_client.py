"""The named helpers: the exact bodies they send, and the bad input they refuse before sending."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest

import incident_analytics as ia
from tests.fakes import ScriptedAPI, SleepRecorder, json_reply

TOKEN = "glsa_client_token_0123456789abcdef"
INCIDENT = {"incidentID": "17", "title": "t"}


def client_for(api: ScriptedAPI) -> ia.IncidentClient:
    return ia.IncidentClient("https://s.grafana.net", TOKEN, transport=api.transport(), sleep=SleepRecorder())


@pytest.mark.parametrize(
    ("act", "reply", "method", "body"),
    [
        (
            lambda c: c.incidents.get(17),
            {"incident": INCIDENT},
            "IncidentsService.GetIncident",
            {"incidentID": "17"},
        ),
        (
            lambda c: c.incidents.create("DB down", severity="Major", labels=["db", "db", "prod"], is_drill=True),
            {"incident": INCIDENT},
            "IncidentsService.CreateIncident",
            {
                "title": "DB down",
                "status": "active",
                "isDrill": True,
                "severity": "Major",
                "labels": [{"label": "db"}, {"label": "prod"}],
            },
        ),
        (
            lambda c: c.incidents.update_status("17", "resolved"),
            {"incident": INCIDENT},
            "IncidentsService.UpdateStatus",
            {"incidentID": "17", "status": "resolved"},
        ),
        (
            lambda c: c.incidents.update_severity("17", "Critical"),
            {"incident": INCIDENT},
            "IncidentsService.UpdateSeverity",
            {"incidentID": "17", "severity": "Critical"},
        ),
        (
            lambda c: c.incidents.update_title("17", " New "),
            {"incident": INCIDENT},
            "IncidentsService.UpdateTitle",
            {"incidentID": "17", "title": "New"},
        ),
        (
            lambda c: c.incidents.update_is_drill("17", False),
            {"incident": INCIDENT},
            "IncidentsService.UpdateIncidentIsDrill",
            {"incidentID": "17", "isDrill": False},
        ),
        (
            lambda c: c.incidents.update_event_time(
                "17",
                "incidentStart",
                dt.datetime(2026, 3, 1, 14, 0, tzinfo=dt.timezone(dt.timedelta(hours=2))),
            ),
            {},
            "IncidentsService.UpdateIncidentEventTime",
            {"incidentID": "17", "eventName": "incidentStart", "eventTime": "2026-03-01T12:00:00Z"},
        ),
        (
            lambda c: c.incidents.add_label("17", "security"),
            {"incident": INCIDENT},
            "IncidentsService.AddLabel",
            {"incidentID": "17", "label": {"label": "security", "description": "", "colorHex": ""}},
        ),
        (
            lambda c: c.incidents.remove_label("17", "security"),
            {"incident": INCIDENT},
            "IncidentsService.RemoveLabel",
            {"incidentID": "17", "label": "security"},
        ),
        (
            lambda c: c.incidents.assign_label("17", "team", "payments"),
            {"labels": []},
            "IncidentsService.AssignLabel",
            {"incidentID": "17", "key": "team", "value": "payments"},
        ),
        (
            lambda c: c.incidents.unassign_label("17", "team", "payments"),
            {"labels": []},
            "IncidentsService.UnassignLabel",
            {"incidentID": "17", "key": "team", "value": "payments"},
        ),
        (
            lambda c: c.incidents.get_labels("17"),
            {"labels": []},
            "IncidentsService.GetLabels",
            {"incidentID": "17"},
        ),
        (
            lambda c: c.incidents.assign_role("17", "grafana-incident:user-1", "commander"),
            {"incident": INCIDENT, "didChange": True},
            "IncidentsService.AssignRole",
            {"incidentID": "17", "userID": "grafana-incident:user-1", "role": "commander"},
        ),
        (
            lambda c: c.incidents.unassign_role("17", "u", "observer"),
            {"incident": INCIDENT, "didChange": True},
            "IncidentsService.UnassignRole",
            {"incidentID": "17", "userID": "u", "role": "observer"},
        ),
        (
            lambda c: c.tasks.add("17", "Roll back", assign_to_user_id="u"),
            {"task": {}},
            "TasksService.AddTask",
            {"incidentID": "17", "text": "Roll back", "assignToUserID": "u"},
        ),
        (
            lambda c: c.tasks.update_status("17", "t1", "progress"),
            {"task": {}},
            "TasksService.UpdateTaskStatus",
            {"incidentID": "17", "taskID": "t1", "status": "progress"},
        ),
        (
            lambda c: c.tasks.update_text("17", "t1", "Roll forward"),
            {"task": {}},
            "TasksService.UpdateTaskText",
            {"incidentID": "17", "taskID": "t1", "text": "Roll forward"},
        ),
        (
            lambda c: c.tasks.assign_user("17", "t1", "u"),
            {"task": {}},
            "TasksService.UpdateTaskUser",
            {"incidentID": "17", "taskID": "t1", "userID": "u"},
        ),
        (
            lambda c: c.tasks.delete("17", "t1"),
            {"taskList": {}},
            "TasksService.DeleteTask",
            {"incidentID": "17", "taskID": "t1"},
        ),
        (
            lambda c: c.activity.add_note("17", "Rolled back", event_time="2026-03-01T12:00:00.5+00:00"),
            {"activityItem": {}},
            "ActivityService.AddActivity",
            {
                "incidentID": "17",
                "activityKind": "userNote",
                "body": "Rolled back",
                "eventTime": "2026-03-01T12:00:00.500000Z",
            },
        ),
        (lambda c: c.roles.list(), {"roles": []}, "RolesService.GetRoles", {}),
        (
            lambda c: c.fields.list("labels"),
            {"fields": []},
            "FieldsService.GetFields",
            {"domainName": "labels"},
        ),
    ],
)
def test_helpers_send_the_contract_body(
    act: Callable[[ia.IncidentClient], Any], reply: dict[str, Any], method: str, body: dict[str, Any]
) -> None:
    api = ScriptedAPI(json_reply(reply))
    with client_for(api) as client:
        act(client)
    assert api.methods == [method]
    assert api.bodies == [body]


@pytest.mark.parametrize(
    ("act", "error", "words"),
    [
        (
            lambda c: c.incidents.update_status("17", "closed"),
            ValueError,
            "status 'closed' is not one of: active, resolved",
        ),
        (lambda c: c.tasks.update_status("17", "t", "doing"), ValueError, "todo, progress, done"),
        (
            lambda c: c.incidents.assign_role("17", "u", "boss"),
            ValueError,
            "commander, investigator, observer",
        ),
        (
            lambda c: c.incidents.unassign_role("17", "u", "Commander"),
            ValueError,
            "commander, investigator, observer",
        ),
        (lambda c: c.incidents.get(""), ValueError, "incident_id must not be empty"),
        (lambda c: c.incidents.get(None), TypeError, "incident_id"),
        (lambda c: c.incidents.update_is_drill("17", "false"), TypeError, "is_drill must be True or False"),
        (lambda c: c.incidents.create("  "), ValueError, "title must not be empty"),
        (lambda c: c.incidents.create("x", labels="security"), TypeError, "labels must be a list"),
        (lambda c: c.incidents.create("x", status="open"), ValueError, "active, resolved"),
        (
            lambda c: c.incidents.update_event_time("17", "incidentStart", dt.datetime(2026, 3, 1)),
            ValueError,
            "no time zone",
        ),
        (lambda c: c.incidents.update_event_time("17", "incidentStart", "yesterday"), ValueError, "RFC 3339"),
        (
            lambda c: c.incidents.update_event_time("17", "start", "2026-03-01T00:00:00Z"),
            ValueError,
            "incidentStart, incidentEnd",
        ),
        (lambda c: c.activity.add_note("17", "x" * 65537), ValueError, "at most 65536"),
        (lambda c: c.incidents.query(order_field="severityLabel"), ValueError, "order_field"),
        (lambda c: c.incidents.query(order_direction="desc"), ValueError, "ASC, DESC"),
        (lambda c: c.activity.query("17", kinds="userNote"), TypeError, "kinds must be a list"),
        (lambda c: c.fields.list("everything"), ValueError, "labels, incident"),
    ],
)
def test_bad_arguments_are_refused_before_any_request(
    act: Callable[[ia.IncidentClient], Any], error: type[Exception], words: str
) -> None:
    api = ScriptedAPI()
    with client_for(api) as client, pytest.raises(error) as caught:
        act(client)
    assert words in str(caught.value)
    assert api.requests == []


def test_get_of_an_unknown_id_raises_not_found() -> None:
    # The live service answers HTTP 200 with a zero-value incident (FACTS.md §2).
    zero = {"incident": {"incidentID": "", "title": "", "labels": [], "isDrill": False}}
    api = ScriptedAPI(json_reply(zero))
    with client_for(api) as client, pytest.raises(ia.NotFoundError, match="'999' not found"):
        client.incidents.get("999")


def test_severities_fall_back_to_the_defaults_when_the_method_is_absent() -> None:
    api = ScriptedAPI(json_reply({"message": "Not found"}, 404))
    with client_for(api) as client:
        labels = [s["displayLabel"] for s in client.severities.list()]
    assert labels == ["Pending", "Minor", "Major", "Critical"]


def test_label_keys_come_from_the_labels_domain_fields() -> None:
    fields = [
        {
            "slug": "team",
            "domainName": "labels",
            "selectoptions": [{"value": "payments"}, {"value": "search"}],
        },
        {"slug": "old", "domainName": "labels", "archived": True, "selectoptions": [{"value": "x"}]},
        {"slug": "customer", "domainName": "incident", "selectoptions": []},
    ]
    api = ScriptedAPI(json_reply({"fields": fields}))
    with client_for(api) as client:
        assert client.fields.label_keys() == {"team": ["payments", "search"]}


def test_a_response_missing_its_field_is_a_format_error() -> None:
    api = ScriptedAPI(json_reply({"roles": "nope"}))
    with client_for(api) as client, pytest.raises(ia.ResponseFormatError, match="'roles' should be list"):
        client.roles.list()


def test_the_package_root_exports_the_whole_error_hierarchy() -> None:
    for name in [
        "AuthenticationError",
        "PermissionDeniedError",
        "NotFoundError",
        "BadRequestError",
        "RateLimitError",
        "ServerError",
        "ResponseFormatError",
        "TransportError",
        "RequestTimeoutError",
        "RedirectError",
        "OutcomeUnknownError",
    ]:
        error = getattr(ia, name)
        assert issubclass(error, ia.IncidentAPIError)
    assert ia.__all__ == sorted(ia.__all__)


def test_the_context_manager_closes_the_connection_pool() -> None:
    api = ScriptedAPI(json_reply({"roles": []}))
    with client_for(api) as client:
        client.roles.list()
    assert client._requester._client.is_closed
    with pytest.raises(RuntimeError):
        client.roles.list()


async def test_the_async_context_manager_closes_too() -> None:
    api = ScriptedAPI(json_reply({"roles": []}))
    async with ia.AsyncIncidentClient("https://s.grafana.net", TOKEN, transport=api.async_transport()) as client:
        assert await client.roles.list() == []
    assert client._requester._client.is_closed
