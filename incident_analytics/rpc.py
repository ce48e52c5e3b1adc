"""Request builders for the named helpers: check the caller's arguments, build the body, read the answer.

Each builder returns an ``RPC`` (method, body, how to read the response). The sync and async clients
run the same builders, so argument checks happen once, before any request is sent.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar, get_args

from .errors import NotFoundError, ResponseFormatError
from .methods import method as catalogued
from .types import (
    ID,
    EventName,
    FieldDomain,
    IncidentID,
    IncidentStatus,
    JSONDict,
    OrderDirection,
    PreviewOrderField,
    Role,
    TaskStatus,
    Time,
)

T = TypeVar("T")

# The runtime checks read the same Literal types the signatures show.
INCIDENT_STATUSES: tuple[str, ...] = get_args(IncidentStatus)
TASK_STATUSES: tuple[str, ...] = get_args(TaskStatus)
ROLES: tuple[str, ...] = get_args(Role)
ORDER_DIRECTIONS: tuple[str, ...] = get_args(OrderDirection)
PREVIEW_ORDER_FIELDS: tuple[str, ...] = get_args(PreviewOrderField)
EVENT_NAMES: tuple[str, ...] = get_args(EventName)
FIELD_DOMAINS: tuple[str, ...] = get_args(FieldDomain)
MAX_NOTE_CHARS = 65536

# What an org has when nobody customised it (docs/api.md#severities): used when GetOrgSeverities is absent.
# Level 1 is the most severe; Pending (not yet chosen) is 0, as the emulator's org severities have it.
DEFAULT_SEVERITIES: tuple[JSONDict, ...] = (
    {"severityID": "", "displayLabel": "Pending", "level": 0, "color": ""},
    {"severityID": "", "displayLabel": "Minor", "level": 3, "color": ""},
    {"severityID": "", "displayLabel": "Major", "level": 2, "color": ""},
    {"severityID": "", "displayLabel": "Critical", "level": 1, "color": ""},
)


@dataclass(frozen=True)
class RPC(Generic[T]):
    """One prepared call: the method, its body, and how to turn the decoded response into ``T``."""

    method: str
    body: JSONDict
    parse: Callable[[JSONDict], T]

    def __post_init__(self) -> None:
        catalogued(self.method)  # every helper's method is in the catalogue


# --------------------------------------------------------------------------------------------------
# Argument checks: each names the argument and the bad value.


def check_id(name: str, value: object) -> str:
    """An ID as the wire wants it: a non-empty string (ints are accepted, IDs are numeric strings)."""
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise TypeError(f"{name} must be a string ID such as '17', got {type(value).__name__} {value!r}")
    text = str(value).strip()
    if not text:
        raise ValueError(f"{name} must not be empty")
    return text


def check_text(name: str, value: object, *, allow_empty: bool = False, max_chars: int | None = None) -> str:
    """A string argument; empty ones are refused unless ``allow_empty``."""
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a string, got {type(value).__name__} {value!r}")
    if not allow_empty and not value.strip():
        raise ValueError(f"{name} must not be empty")
    if max_chars is not None and len(value) > max_chars:
        raise ValueError(f"{name} is {len(value)} characters long; the API accepts at most {max_chars}")
    return value


def check_choice(name: str, value: object, allowed: Iterable[str]) -> str:
    """One of a fixed set of values, or a ``ValueError`` that lists the allowed ones."""
    options = tuple(allowed)
    if not isinstance(value, str) or value not in options:
        raise ValueError(f"{name} {value!r} is not one of: {', '.join(options)}")
    return value


def check_bool(name: str, value: object) -> bool:
    """A real boolean (``"false"`` would be true in Python and rejected by the API)."""
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be True or False, got {type(value).__name__} {value!r}")
    return value


def format_time(name: str, value: object) -> str:
    """An RFC 3339 UTC string from an aware ``datetime``/``Timestamp`` or an RFC 3339 string."""
    if isinstance(value, str):
        text = value.strip()
        try:
            parsed = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            raise ValueError(f"{name} {value!r} is not an RFC 3339 time such as 2026-01-31T12:00:00Z") from None
        value = parsed
    if not isinstance(value, dt.datetime):
        raise TypeError(f"{name} must be a datetime or an RFC 3339 string, got {type(value).__name__}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} {value!r} has no time zone; give an aware time (e.g. UTC) to avoid guessing")
    utc = value.astimezone(dt.UTC)
    return utc.isoformat(timespec="microseconds" if utc.microsecond else "seconds").replace("+00:00", "Z")


# --------------------------------------------------------------------------------------------------
# Response readers.


def _field(method: str, response: Mapping[str, Any], key: str, kind: type) -> Any:
    value = response.get(key)
    if not isinstance(value, kind):
        raise ResponseFormatError(
            f"response field {key!r} should be {kind.__name__}, got {type(value).__name__}",
            method=method,
            body=None,
        )
    return value


def _reader(method: str, key: str, kind: type) -> Callable[[JSONDict], Any]:
    return lambda response: _field(method, response, key, kind)


def _incident_reader(method: str, incident_id: str | None = None) -> Callable[[JSONDict], JSONDict]:
    def read(response: JSONDict) -> JSONDict:
        incident: JSONDict = _field(method, response, "incident", dict)
        # GetIncident answers an unknown ID with HTTP 200 and a zero-value Incident, no error field
        # (docs/api.md#unknown-incident-ids); gcx treats an empty incidentID as not found too.
        if not incident.get("incidentID"):
            raise NotFoundError(f"incident {incident_id!r} not found", method=method, status_code=200)
        return incident

    return read


# --------------------------------------------------------------------------------------------------
# IncidentsService.

QUERY_PREVIEWS = catalogued("IncidentsService.QueryIncidentPreviews")
QUERY_INCIDENTS = catalogued("IncidentsService.QueryIncidents")


def query_previews_body(
    query_string: str = "",
    *,
    order_field: PreviewOrderField = "createdTime",
    order_direction: OrderDirection = "DESC",
    include_field_values: bool = False,
    include_membership: bool = False,
    include_channels: bool = False,
) -> JSONDict:
    """The first-page body of ``QueryIncidentPreviews`` (paging adds ``limit`` and the cursor)."""
    body: JSONDict = {
        "query": {
            "queryString": check_text("query_string", query_string, allow_empty=True),
            "orderField": check_choice("order_field", order_field, PREVIEW_ORDER_FIELDS),
            "orderDirection": check_choice("order_direction", order_direction, ORDER_DIRECTIONS),
        }
    }
    for key, flag, name in (
        ("includeCustomFieldValues", include_field_values, "include_field_values"),
        ("includeMembershipPreview", include_membership, "include_membership"),
        ("includeIncidentChannels", include_channels, "include_channels"),
    ):
        if check_bool(name, flag):
            body[key] = True
    return body


def query_incidents_body(query_string: str = "", *, order_direction: OrderDirection = "DESC") -> JSONDict:
    """The first-page body of the deprecated ``QueryIncidents`` (full incidents, with tasks)."""
    return {
        "query": {
            "queryString": check_text("query_string", query_string, allow_empty=True),
            "orderDirection": check_choice("order_direction", order_direction, ORDER_DIRECTIONS),
        }
    }


def get_incident(incident_id: IncidentID) -> RPC[JSONDict]:
    """``GetIncident``: the full incident with tasks and role assignments."""
    iid = check_id("incident_id", incident_id)
    method = catalogued("IncidentsService.GetIncident")
    return RPC(method, {"incidentID": iid}, _incident_reader(method, iid))


def create_incident(
    title: str,
    *,
    severity: str | None = None,
    labels: Iterable[str] = (),
    status: IncidentStatus = "active",
    is_drill: bool = False,
    room_prefix: str | None = None,
    initial_status_update: str | None = None,
) -> RPC[JSONDict]:
    """``CreateIncident``. Labels become free-form (Tags) labels: only their text is used
    (docs/api.md#free-form-labels)."""
    body: JSONDict = {
        "title": check_text("title", title).strip(),
        "status": check_choice("status", status, INCIDENT_STATUSES),
        "isDrill": check_bool("is_drill", is_drill),
    }
    if severity is not None:
        body["severity"] = check_text("severity", severity).strip()
    if isinstance(labels, str):
        raise TypeError("labels must be a list of strings, not one string")
    label_texts = [check_text(f"labels[{i}]", text).strip() for i, text in enumerate(labels)]
    if label_texts:
        body["labels"] = [{"label": text} for text in dict.fromkeys(label_texts)]
    if room_prefix is not None:
        body["roomPrefix"] = check_text("room_prefix", room_prefix)
    if initial_status_update is not None:
        body["initialStatusUpdate"] = check_text("initial_status_update", initial_status_update)
    method = catalogued("IncidentsService.CreateIncident")
    return RPC(method, body, _incident_reader(method))


def _incident_write(name: str, incident_id: IncidentID, **fields: Any) -> RPC[JSONDict]:
    iid = check_id("incident_id", incident_id)
    return RPC(name, {"incidentID": iid, **fields}, _incident_reader(name, iid))


def update_status(incident_id: IncidentID, status: IncidentStatus) -> RPC[JSONDict]:
    """``UpdateStatus`` to ``active`` or ``resolved``."""
    return _incident_write(
        catalogued("IncidentsService.UpdateStatus"),
        incident_id,
        status=check_choice("status", status, INCIDENT_STATUSES),
    )


def update_severity(incident_id: IncidentID, severity: str) -> RPC[JSONDict]:
    """``UpdateSeverity`` to an org severity label (matched case-insensitively by the service)."""
    return _incident_write(
        catalogued("IncidentsService.UpdateSeverity"), incident_id, severity=check_text("severity", severity).strip()
    )


def update_title(incident_id: IncidentID, title: str) -> RPC[JSONDict]:
    """``UpdateTitle``."""
    return _incident_write(
        catalogued("IncidentsService.UpdateTitle"), incident_id, title=check_text("title", title).strip()
    )


def update_is_drill(incident_id: IncidentID, is_drill: bool) -> RPC[JSONDict]:
    """``UpdateIncidentIsDrill``."""
    return _incident_write(
        catalogued("IncidentsService.UpdateIncidentIsDrill"), incident_id, isDrill=check_bool("is_drill", is_drill)
    )


def update_event_time(incident_id: IncidentID, event_name: EventName, event_time: Time) -> RPC[JSONDict]:
    """``UpdateIncidentEventTime``: move the start or end of impact (``incidentStart``/``incidentEnd``)."""
    iid = check_id("incident_id", incident_id)
    body = {
        "incidentID": iid,
        "eventName": check_choice("event_name", event_name, EVENT_NAMES),
        "eventTime": format_time("event_time", event_time),
    }
    return RPC(catalogued("IncidentsService.UpdateIncidentEventTime"), body, lambda response: response)


def add_label(incident_id: IncidentID, label: str, *, description: str = "", color_hex: str = "") -> RPC[JSONDict]:
    """``AddLabel``: a free-form (Tags) label. For ``key:value`` labels use ``assign_label``."""
    text = check_text("label", label).strip()
    item = {
        "label": text,
        "description": check_text("description", description, allow_empty=True),
        "colorHex": check_text("color_hex", color_hex, allow_empty=True),
    }
    return _incident_write(catalogued("IncidentsService.AddLabel"), incident_id, label=item)


def remove_label(incident_id: IncidentID, label: str) -> RPC[JSONDict]:
    """``RemoveLabel``: remove a free-form label by its text."""
    return _incident_write(
        catalogued("IncidentsService.RemoveLabel"), incident_id, label=check_text("label", label).strip()
    )


def _key_value(name: str, incident_id: IncidentID, key: str, value: str) -> RPC[list[JSONDict]]:
    body = {
        "incidentID": check_id("incident_id", incident_id),
        "key": check_text("key", key).strip(),
        "value": check_text("value", value).strip(),
    }
    return RPC(name, body, _reader(name, "labels", list))


def assign_label(incident_id: IncidentID, key: str, value: str) -> RPC[list[JSONDict]]:
    """``AssignLabel``: set a ``key:value`` label; returns the incident's keyed labels."""
    return _key_value(catalogued("IncidentsService.AssignLabel"), incident_id, key, value)


def unassign_label(incident_id: IncidentID, key: str, value: str) -> RPC[list[JSONDict]]:
    """``UnassignLabel``: remove a ``key:value`` label; returns the incident's keyed labels."""
    return _key_value(catalogued("IncidentsService.UnassignLabel"), incident_id, key, value)


def get_labels(incident_id: IncidentID) -> RPC[list[JSONDict]]:
    """``GetLabels``: the incident's ``key:value`` labels with their UUIDs."""
    method = catalogued("IncidentsService.GetLabels")
    return RPC(method, {"incidentID": check_id("incident_id", incident_id)}, _reader(method, "labels", list))


def _role(name: str, incident_id: IncidentID, user_id: ID, role: Role) -> RPC[JSONDict]:
    body = {
        "incidentID": check_id("incident_id", incident_id),
        "userID": check_id("user_id", user_id),
        "role": check_choice("role", role, ROLES),
    }
    return RPC(name, body, lambda response: response)


def assign_role(incident_id: IncidentID, user_id: ID, role: Role) -> RPC[JSONDict]:
    """``AssignRole``; the answer holds ``incident`` and ``didChange``."""
    return _role(catalogued("IncidentsService.AssignRole"), incident_id, user_id, role)


def unassign_role(incident_id: IncidentID, user_id: ID, role: Role) -> RPC[JSONDict]:
    """``UnassignRole``; the answer holds ``incident`` and ``didChange``."""
    return _role(catalogued("IncidentsService.UnassignRole"), incident_id, user_id, role)


# --------------------------------------------------------------------------------------------------
# TasksService.


def _task_rpc(name: str, incident_id: IncidentID, task_id: ID | None, **fields: Any) -> RPC[JSONDict]:
    body: JSONDict = {"incidentID": check_id("incident_id", incident_id)}
    if task_id is not None:
        body["taskID"] = check_id("task_id", task_id)
    body.update(fields)
    return RPC(name, body, _reader(name, "task", dict))


def add_task(incident_id: IncidentID, text: str, *, assign_to_user_id: ID | None = None) -> RPC[JSONDict]:
    """``AddTask``; returns the new task."""
    fields: JSONDict = {"text": check_text("text", text).strip()}
    if assign_to_user_id is not None:
        fields["assignToUserID"] = check_id("assign_to_user_id", assign_to_user_id)
    return _task_rpc(catalogued("TasksService.AddTask"), incident_id, None, **fields)


def update_task_status(incident_id: IncidentID, task_id: ID, status: TaskStatus) -> RPC[JSONDict]:
    """``UpdateTaskStatus`` to ``todo``, ``progress`` or ``done``."""
    return _task_rpc(
        catalogued("TasksService.UpdateTaskStatus"),
        incident_id,
        task_id,
        status=check_choice("status", status, TASK_STATUSES),
    )


def update_task_text(incident_id: IncidentID, task_id: ID, text: str) -> RPC[JSONDict]:
    """``UpdateTaskText``."""
    return _task_rpc(
        catalogued("TasksService.UpdateTaskText"), incident_id, task_id, text=check_text("text", text).strip()
    )


def assign_task_user(incident_id: IncidentID, task_id: ID, user_id: ID) -> RPC[JSONDict]:
    """``UpdateTaskUser``: assign the task to a user."""
    return _task_rpc(
        catalogued("TasksService.UpdateTaskUser"), incident_id, task_id, userID=check_id("user_id", user_id)
    )


def delete_task(incident_id: IncidentID, task_id: ID) -> RPC[JSONDict]:
    """``DeleteTask``; returns the incident's remaining task list."""
    method = catalogued("TasksService.DeleteTask")
    body = {"incidentID": check_id("incident_id", incident_id), "taskID": check_id("task_id", task_id)}
    return RPC(method, body, _reader(method, "taskList", dict))


# --------------------------------------------------------------------------------------------------
# ActivityService, RolesService, SeveritiesService, FieldsService.

QUERY_ACTIVITY = catalogued("ActivityService.QueryActivity")


def query_activity_body(
    incident_id: IncidentID,
    *,
    kinds: Iterable[str] | None = None,
    tag: str | None = None,
    order_direction: OrderDirection = "ASC",
) -> JSONDict:
    """The first-page body of ``QueryActivity`` for one incident."""
    query: JSONDict = {
        "incidentID": check_id("incident_id", incident_id),
        "orderDirection": check_choice("order_direction", order_direction, ORDER_DIRECTIONS),
    }
    if kinds is not None:
        if isinstance(kinds, str):
            raise TypeError("kinds must be a list of activity kinds, not one string")
        query["activityKind"] = [check_text(f"kinds[{i}]", k) for i, k in enumerate(kinds)]
    if tag is not None:
        query["tag"] = check_text("tag", tag)
    return {"query": query}


def add_note(incident_id: IncidentID, body: str, *, event_time: Time | None = None) -> RPC[JSONDict]:
    """``AddActivity`` of kind ``userNote`` (the only kind it accepts; body at most 65,536 characters)."""
    method = catalogued("ActivityService.AddActivity")
    request: JSONDict = {
        "incidentID": check_id("incident_id", incident_id),
        "activityKind": "userNote",
        "body": check_text("body", body, max_chars=MAX_NOTE_CHARS),
    }
    if event_time is not None:
        request["eventTime"] = format_time("event_time", event_time)
    return RPC(method, request, _reader(method, "activityItem", dict))


def get_roles() -> RPC[list[JSONDict]]:
    """``RolesService.GetRoles``."""
    method = catalogued("RolesService.GetRoles")
    return RPC(method, {}, _reader(method, "roles", list))


GET_ORG_SEVERITIES = catalogued("SeveritiesService.GetOrgSeverities")


def get_org_severities() -> RPC[list[JSONDict]]:
    """``SeveritiesService.GetOrgSeverities`` (unversioned path only)."""
    return RPC(GET_ORG_SEVERITIES, {}, _reader(GET_ORG_SEVERITIES, "severities", list))


def get_fields(domain_name: FieldDomain | None = None) -> RPC[list[JSONDict]]:
    """``FieldsService.GetFields``, optionally one domain (``labels`` or ``incident``)."""
    method = catalogued("FieldsService.GetFields")
    body: JSONDict = {}
    if domain_name is not None:
        body["domainName"] = check_choice("domain_name", domain_name, FIELD_DOMAINS)
    return RPC(method, body, _reader(method, "fields", list))


def label_keys_from_fields(fields: Iterable[Mapping[str, Any]]) -> dict[str, list[str]]:
    """Label keys and their values from ``GetFields``: the fields of domain ``labels``, not archived."""
    keys: dict[str, list[str]] = {}
    for item in fields:
        if item.get("domainName") != "labels" or item.get("archived") is True:
            continue
        key = item.get("slug") or item.get("name")
        if not isinstance(key, str) or not key:
            continue
        values = [
            str(option.get("value") or option.get("label"))
            for option in item.get("selectoptions") or []
            if isinstance(option, Mapping) and (option.get("value") or option.get("label"))
        ]
        keys[key] = values
    return keys
