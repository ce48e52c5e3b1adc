"""The named helpers: the exact bodies they send, and the bad input they refuse before sending."""

from __future__ import annotations

import dataclasses
import datetime as dt
import inspect
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import incident_analytics as ia
from incident_analytics import client as client_module
from incident_analytics import rpc
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
    # The live service answers HTTP 200 with a zero-value incident (docs/api.md#unknown-incident-ids).
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


# --- an honest public surface (issue #11 item 4) ---------------------------------------------------

NAMESPACES = [
    (client_module.Incidents, client_module.AsyncIncidents),
    (client_module.Tasks, client_module.AsyncTasks),
    (client_module.Activity, client_module.AsyncActivity),
    (client_module.Roles, client_module.AsyncRoles),
    (client_module.Severities, client_module.AsyncSeverities),
    (client_module.Fields, client_module.AsyncFields),
]


def public_methods(cls: type) -> dict[str, Callable[..., Any]]:
    return {name: member for name, member in vars(cls).items() if callable(member) and not name.startswith("_")}


def parameters(func: Callable[..., Any]) -> list[tuple[str, Any, Any, Any]]:
    return [(p.name, p.kind, p.default, p.annotation) for p in inspect.signature(func).parameters.values()]


@pytest.mark.parametrize(("sync", "async_"), NAMESPACES, ids=lambda cls: cls.__name__)
def test_every_sync_helper_has_an_async_twin_with_the_same_signature(sync: type, async_: type) -> None:
    sync_methods, async_methods = public_methods(sync), public_methods(async_)
    assert sync_methods.keys() == async_methods.keys()
    for name, func in sync_methods.items():
        twin = async_methods[name]
        assert parameters(twin) == parameters(func), f"{async_.__name__}.{name}"
        # Listings return async iterators; everything else is awaited.
        assert inspect.iscoroutinefunction(twin) != ("Iterator" in str(inspect.signature(func).return_annotation))


@pytest.mark.parametrize(("sync", "async_"), NAMESPACES, ids=lambda cls: cls.__name__)
def test_async_docstrings_point_to_the_sync_ones_instead_of_copying_them(sync: type, async_: type) -> None:
    assert f":class:`{sync.__name__}`" in (async_.__doc__ or "")
    for name, twin in public_methods(async_).items():
        assert f":meth:`{sync.__name__}.{name}`" in (twin.__doc__ or ""), f"{async_.__name__}.{name}"
        assert public_methods(sync)[name].__doc__, f"{sync.__name__}.{name} documents the behaviour"


def test_both_clients_take_the_same_parameters() -> None:
    sync = parameters(ia.IncidentClient.__init__)
    async_ = parameters(ia.AsyncIncidentClient.__init__)
    assert [p[:3] for p in sync] == [p[:3] for p in async_]
    # Only the injectable transport and sleep differ in type (sync vs async).
    differ = [s[0] for s, a in zip(sync, async_, strict=True) if s[3] != a[3]]
    assert differ == ["transport", "sleep"]
    for name in ("call", "paginate"):
        assert parameters(getattr(ia.IncidentClient, name)) == parameters(getattr(ia.AsyncIncidentClient, name))


def test_no_helper_parameter_is_typed_object() -> None:
    loose = [
        f"{cls.__name__}.{name}({p.name})"
        for pair in NAMESPACES
        for cls in pair
        for name, func in public_methods(cls).items()
        for p in inspect.signature(func).parameters.values()
        if p.annotation in ("object", object)
    ]
    builders = [
        f"rpc.{name}({p.name})"
        for name, func in vars(rpc).items()
        if inspect.isfunction(func) and not name.startswith(("_", "check_", "format_"))
        for p in inspect.signature(func).parameters.values()
        if p.annotation in ("object", object)
    ]
    assert loose + builders == []


def test_json_dict_is_defined_once() -> None:
    package = Path(ia.__file__).parent
    definitions = [
        path.name for path in package.rglob("*.py") if re.search(r"^JSONDict\b.*=", path.read_text(), re.MULTILINE)
    ]
    assert definitions == ["types.py"]


def test_max_retries_overrides_the_policy_with_dataclasses_replace() -> None:
    policy = ia.RetryPolicy(backoff_base=0.1, backoff_max=1.0, max_retry_after=5.0, total_timeout=9.0)
    with ia.IncidentClient("https://s.grafana.net", TOKEN, retry=policy, max_retries=1) as client:
        assert client.retry == dataclasses.replace(policy, max_retries=1)


# --- bad client and helper arguments, refused before any request (issue #6 item 8) -----------------


@pytest.mark.parametrize(
    ("kwargs", "error", "words"),
    [
        ({"rate_limit": 0}, ValueError, "rate_limit"),
        ({"rate_limit": -2.0}, ValueError, "rate_limit"),
        ({"rate_limit": True}, TypeError, "rate_limit"),
        ({"rate_limit": float("nan")}, ValueError, "rate_limit"),
        ({"timeout": 0}, ValueError, "timeout"),
        ({"timeout": "30"}, TypeError, "timeout"),
        ({"timeout": float("inf")}, ValueError, "timeout"),
        ({"attempt_timeout": 0}, ValueError, "attempt_timeout"),
        ({"attempt_timeout": -1}, ValueError, "attempt_timeout"),
        ({"max_retries": True}, TypeError, "max_retries"),
        ({"max_retries": -1}, ValueError, "max_retries"),
        ({"max_retries": 2.5}, TypeError, "max_retries"),
        ({"max_response_bytes": 0}, ValueError, "max_response_bytes"),
        ({"max_response_bytes": True}, TypeError, "max_response_bytes"),
        ({"max_pages": 0}, ValueError, "max_pages"),
        ({"max_pages": True}, TypeError, "max_pages"),
        ({"retry": {"max_retries": 1}}, TypeError, "RetryPolicy"),
        ({"plugin_id": None}, TypeError, "plugin_id"),
        ({"allow_insecure_http": "yes"}, TypeError, "allow_insecure_http"),
    ],
)
def test_bad_client_arguments_are_refused_at_construction(
    kwargs: dict[str, Any], error: type[Exception], words: str
) -> None:
    api = ScriptedAPI()
    with pytest.raises(error, match=words):
        ia.IncidentClient("https://s.grafana.net", TOKEN, transport=api.transport(), **kwargs)
    with pytest.raises(error, match=words):
        ia.AsyncIncidentClient("https://s.grafana.net", TOKEN, **kwargs)
    assert api.requests == []


@pytest.mark.parametrize(
    ("kwargs", "error", "words"),
    [
        ({"max_retries": True}, TypeError, "max_retries"),
        ({"total_timeout": 0}, ValueError, "total_timeout"),
        ({"backoff_base": float("nan")}, ValueError, "backoff_base"),
        ({"retry_statuses": "503"}, ValueError, "retry_statuses"),
        ({"retry_statuses": {True}}, ValueError, "retry_statuses"),
    ],
)
def test_bad_retry_policies_are_refused(kwargs: dict[str, Any], error: type[Exception], words: str) -> None:
    with pytest.raises(error, match=words):
        ia.RetryPolicy(**kwargs)


@pytest.mark.parametrize(
    ("act", "error", "words"),
    [
        (lambda c: c.incidents.query(max_items=True), TypeError, "max_items"),
        (lambda c: c.incidents.query(max_items=-1), ValueError, "max_items"),
        (lambda c: c.incidents.query(max_pages=0), ValueError, "max_pages"),
        (lambda c: c.incidents.query(page_size=True), ValueError, "page_size"),
        (lambda c: c.activity.query("1", max_items=False), TypeError, "max_items"),
        (lambda c: c.paginate("IncidentsService.QueryIncidentPreviews", None, max_items=True), TypeError, "max_items"),
        (lambda c: c.paginate("RolesService.GetRoles"), ValueError, "not a catalogued paged listing"),
        (lambda c: c.paginate("IncidentsService.QueryIncidentPreviews", on_page=5), TypeError, "on_page"),
        (lambda c: c.paginate("IncidentsService.QueryIncidentPreviews", ["query"]), TypeError, "body"),
    ],
)
def test_bad_paging_arguments_are_refused_before_any_request(
    act: Callable[[ia.IncidentClient], Any], error: type[Exception], words: str
) -> None:
    api = ScriptedAPI()
    with client_for(api) as client, pytest.raises(error, match=words):
        act(client)
    assert api.requests == []
