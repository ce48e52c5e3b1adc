"""The RPC methods: decode and validate a request, call the state, render the response.

Each handler takes the decoded request body and returns the response dict, or raises an
:class:`~incident_analytics.emulator.request.RpcError` (HTTP 400/404 with ``{"error": ...}``).
:data:`IMPLEMENTED_METHODS` lists every ``Service.Method`` the emulator answers.
"""

from __future__ import annotations

import json
import random
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Any

from incident_analytics.emulator import render
from incident_analytics.emulator.model import ActivityItem, Incident, KeyUpdate, User
from incident_analytics.emulator.paging import CursorStore, Page, SortKey, T, paginate
from incident_analytics.emulator.query import And, Node, QuerySyntaxError, parse
from incident_analytics.emulator.request import BadRequest, Body, NotFound
from incident_analytics.emulator.state import ORDER_FIELDS, ROLE_NAMES, STATUSES, TASK_STATUSES, State
from incident_analytics.emulator.wire import Encoded, WireCache, dumps
from incident_analytics.emulator.wire import page as encoded_page

JSON = dict[str, Any]
Handler = Callable[["Api", Body], JSON | Encoded]

DIRECTIONS = ("ASC", "DESC")
MAX_SELECTIONS = 64  # sorted query selections kept (each holds a list of the matching incidents)
ACTIVITY_KINDS = (
    "incidentUpdated",
    "incidentTitleChanged",
    "incidentStatusChanged",
    "incidentSeverityChanged",
    "incidentCreated",
    "incidentDeleted",
    "incidentClosed",
    "roleAssigned",
    "roleUnassigned",
    "actionRun",
    "userNote",
    "dataQuery",
    "hookRunMetadata",
    "taskAdded",
    "taskUpdated",
    "taskCompleted",
    "taskDeleted",
    "messageReaction",
    "contextAttached",
    "incidentIsDrillChanged",
    "incidentStart",
    "incidentEnd",
    "incidentSummary",
    "labelAdded",
    "labelRemoved",
    "siftResult",
)
RELEVANCES = ("automatic", "archive", "low", "normal", "high")
EVENT_NAMES = ("incidentStart", "incidentEnd")
MAX_NOTE_LENGTH = 65536  # AddActivity body limit (docs/api.md#activity-timeline)

_HANDLERS: dict[str, Handler] = {}

UNVERSIONED_ONLY = frozenset({"SeveritiesService.GetOrgSeverities", "IntegrationService.GetHookRuns"})
"""Methods that answer only on the unversioned ``.../resources/api/`` prefix (docs/api.md#unversioned-methods)."""


INCIDENT_WRITES = frozenset(
    {
        "IncidentsService.UpdateStatus",
        "IncidentsService.UpdateSeverity",
        "IncidentsService.UpdateTitle",
        "IncidentsService.UpdateIncidentIsDrill",
        "IncidentsService.UpdateIncidentEventTime",
        "IncidentsService.RemoveLabel",
        "IncidentsService.AssignLabel",
        "IncidentsService.UnassignLabel",
        "IncidentsService.AssignLabelByUUID",
        "IncidentsService.UnassignLabelByUUID",
        "IncidentsService.AssignRole",
        "IncidentsService.UnassignRole",
        "IncidentsService.CreateIncidentSlackChannel",
        "TasksService.AddTask",
        "TasksService.UpdateTaskStatus",
        "TasksService.UpdateTaskText",
        "TasksService.UpdateTaskUser",
        "TasksService.DeleteTask",
        "ActivityService.AddActivity",
        "ActivityService.RemoveActivity",
        "ActivityService.UpdateActivityBody",
        "ActivityService.UpdateActivityEventTime",
        "ActivityService.UpdateActivityRelevance",
        "KeyUpdatesService.CreateKeyUpdate",
        "KeyUpdatesService.UpdateKeyUpdate",
        "KeyUpdatesService.DeleteKeyUpdate",
    }
)
"""Writes whose every effect is on the one incident they name (each such change bumps its ``version``).

Every other write (org catalogue, ``CreateIncident``, ``AddLabel`` and ``RecordFieldValue``, which may
add catalogue options) also bumps the state's ``catalog_version``, so no cached render outlives it.
"""


def is_read(method: str) -> bool:
    """Whether ``Service.Method`` only reads (``Get…`` and ``Query…`` methods change no state)."""
    return method.partition(".")[2].startswith(("Get", "Query"))


def rpc(name: str) -> Callable[[Handler], Handler]:
    """Register a handler for ``Service.Method``."""

    def register(func: Handler) -> Handler:
        _HANDLERS[name] = func
        return func

    return register


class Api:
    """Dispatches RPCs to handlers against one :class:`State`, holding its lock for each call."""

    def __init__(self, state: State) -> None:
        self.state = state
        self.cursors = CursorStore(rng=random.Random(f"emulator-cursors-{state.seed}"))
        self.wire = WireCache(state)
        self._selections: OrderedDict[tuple[str, str], tuple[int, list[Incident], list[SortKey]]] = OrderedDict()

    @staticmethod
    def knows(method: str, *, versioned: bool) -> bool:
        """Whether ``method`` is served on the ``/v1`` prefix (``versioned``) or the unversioned one."""
        if method not in _HANDLERS:
            return False
        return not versioned or method not in UNVERSIONED_ONLY

    def call(self, method: str, body: Any) -> JSON:
        """Run ``method`` on a decoded JSON body; raises RpcError for 400/404 answers."""
        result = self._run(method, body)
        if isinstance(result, Encoded):
            decoded: JSON = json.loads(result)
            return decoded
        return result

    def call_encoded(self, method: str, body: Any) -> bytes:
        """Run ``method`` and give its answer as the JSON body sent (UTF-8, compact)."""
        result = self._run(method, body)
        return result if isinstance(result, Encoded) else dumps(result)

    def _run(self, method: str, body: Any) -> JSON | Encoded:
        handler = _HANDLERS[method]
        with self.state.lock:
            try:
                return handler(self, Body(body))
            finally:
                if not is_read(method):  # a failed write may have changed something before failing
                    self.state.note_write(incident_only=method in INCIDENT_WRITES)

    def selection(self, query_string: str, node: Node, order_field: str) -> tuple[list[Incident], list[SortKey]]:
        """The incidents matching a query, sorted ascending by ``order_field``, and their sort keys.

        Kept per (query, order) until the next write: a listing pages through the same selection.
        """
        cache_key = (query_string, order_field)
        cached = self._selections.get(cache_key)
        if cached is not None and cached[0] == self.state.changes:
            self._selections.move_to_end(cache_key)
            return cached[1], cached[2]
        key = self.state.order_key(order_field)
        rows = sorted(self.state.select(node), key=key)
        keys = [key(item) for item in rows]
        self._selections[cache_key] = (self.state.changes, rows, keys)
        self._selections.move_to_end(cache_key)
        while len(self._selections) > MAX_SELECTIONS:
            self._selections.popitem(last=False)
        return rows, keys

    # -- helpers shared by handlers ---------------------------------------------------------------

    def incident(self, body: Body) -> Incident:
        """The incident named by ``incidentID`` (400 if missing, 404 if unknown)."""
        return self.state.require(body.string("incidentID"))

    def full(self, incident: Incident) -> JSON:
        """The rendered full incident."""
        return render.incident(self.state.catalog, incident, self.state.clock.peek())

    def task_response(self, incident: Incident, task_id: str | None = None) -> JSON:
        """``{incidentID, task?, taskList}`` as the TasksService methods answer."""
        catalog = self.state.catalog
        result: JSON = {"incidentID": incident.incident_id}
        if task_id is not None:
            task = self.state.task(incident, task_id)
            result["task"] = render.task(catalog, task)
        result["taskList"] = render.task_list(catalog, incident)
        return result

    def target_incident(self, body: Body) -> Incident:
        """The incident a ``targetKind``/``targetID`` pair names (only ``incident`` targets exist)."""
        kind = body.enum("targetKind", ("incident",), default="incident")
        target_id = body.string("targetID", required=True)
        found = self.state.incidents.get(target_id)
        if found is None:
            raise NotFound(f"{kind} {target_id} not found")
        return found


def _query(text: str) -> Node:
    try:
        return parse(text)
    except QuerySyntaxError as exc:
        raise BadRequest(f"invalid query.queryString: {exc}") from None


def _fingerprint(method: str, query: JSON) -> str:
    return json.dumps([method, {k: v for k, v in query.items() if k != "limit"}], sort_keys=True)


def _page(
    api: Api,
    rows: Sequence[T],
    key: Callable[[T], SortKey],
    echo: JSON,
    after: SortKey | None,
    fingerprint: str,
    keys: Sequence[SortKey] | None = None,
) -> Page[T]:
    """The page of ``rows`` (sorted ascending by ``key``) after ``after``, in the direction and size the
    echoed query asks (``orderDirection`` "DESC" or ascending; ``limit``), its cursor kept in the store."""
    return paginate(
        rows,
        key,
        descending=echo.get("orderDirection") == "DESC",
        limit=echo["limit"],
        after=after,
        store=api.cursors,
        fingerprint=fingerprint,
        keys=keys,
    )


# --- IncidentsService: reads ---------------------------------------------------------------------


@rpc("IncidentsService.QueryIncidentPreviews")
def query_incident_previews(api: Api, body: Body) -> Encoded:
    """Page through incident previews filtered by ``queryString`` and ordered by ``orderField``."""
    query = body.obj("query")
    echo: JSON = {
        "limit": query.limit(),
        "orderDirection": query.enum("orderDirection", DIRECTIONS, default="DESC"),
        "orderField": query.enum("orderField", ORDER_FIELDS, default="createdTime"),
        "queryString": query.string("queryString"),
    }
    flags = {
        "field_values": body.boolean("includeCustomFieldValues"),
        "membership": body.boolean("includeMembershipPreview"),
        "channels": body.boolean("includeIncidentChannels"),
    }
    node = _query(echo["queryString"])
    fingerprint = _fingerprint("previews", echo)
    after = api.cursors.resolve(body, fingerprint)
    key = api.state.order_key(echo["orderField"])
    rows, keys = api.selection(echo["queryString"], node, echo["orderField"])
    page = _page(api, rows, key, echo, after, fingerprint, keys)
    previews = [api.wire.preview(item, **flags) for item in page.rows]
    return encoded_page("incidentPreviews", previews, echo, page.cursor)


@rpc("IncidentsService.QueryIncidents")
def query_incidents(api: Api, body: Body) -> JSON:
    """Deprecated full records: ``queryString`` wins, ``dateFrom``/``dateTo`` do nothing
    (docs/api.md#deprecated-queryincidents)."""
    query = body.obj("query")
    echo: JSON = {
        "limit": query.limit(),
        "includeStatuses": query.strings("includeStatuses"),
        "excludeStatuses": query.strings("excludeStatuses"),
        "incidentLabels": query.strings("incidentLabels"),
        "dateFrom": query.string("dateFrom"),
        "dateTo": query.string("dateTo"),
        "onlyDrills": query.boolean("onlyDrills"),
        "orderDirection": query.enum("orderDirection", DIRECTIONS, default="DESC"),
        "severity": query.string("severity"),
        "queryString": query.string("queryString"),
    }
    for name in ("includeStatuses", "excludeStatuses"):
        for status in echo[name]:
            if status not in STATUSES:
                raise BadRequest(f"query.{name}: {status!r} is invalid; one of {', '.join(STATUSES)}")
    state = api.state
    extra: Callable[[Incident], bool] | None = None
    if echo["queryString"]:
        node = _query(echo["queryString"])
    else:
        node = And(())
        include, exclude = set(echo["includeStatuses"]), set(echo["excludeStatuses"])
        labels = [text.casefold() for text in echo["incidentLabels"]]
        severity = echo["severity"].casefold()
        only_drills = echo["onlyDrills"]

        def extra(item: Incident) -> bool:
            subject = state.subject(item)
            return (
                (not include or item.status in include)
                and item.status not in exclude
                and (not only_drills or item.is_drill)
                and (not severity or subject.severity == severity)
                and all(subject.has_label_text(text) for text in labels)
            )

    fingerprint = _fingerprint("incidents", echo)
    after = api.cursors.resolve(body, fingerprint)
    key = state.order_key("createdTime")
    rows = sorted(state.select(node, extra), key=key)
    page = _page(api, rows, key, echo, after, fingerprint)
    return {"incidents": [api.full(item) for item in page.rows], "query": echo, "cursor": page.cursor}


@rpc("IncidentsService.GetIncident")
def get_incident(api: Api, body: Body) -> JSON | Encoded:
    """The full incident; an unknown ID gives HTTP 200 with a zero-value incident (docs/api.md#unknown-incident-ids)."""
    found = api.state.get(body.string("incidentID", required=True))
    if found is None:
        return {"incident": render.zero_incident()}
    return Encoded(api.wire.incident_response(found))


@rpc("IncidentsService.GetIncidentMembership")
def get_incident_membership(api: Api, body: Body) -> JSON:
    """The assignments, placeholder slots included; an unknown incident has none."""
    found = api.state.get(body.string("incidentID", required=True))
    return {"assignments": render.assignments(api.state.catalog, found) if found else []}


@rpc("IncidentsService.GetIncidentChannels")
def get_incident_channels(api: Api, body: Body) -> JSON:
    """The incident's chat channels (its Slack channel, once created); an unknown incident has none."""
    found = api.state.get(body.string("incidentID", required=True))
    return {"incidentChannels": [render.channel(c) for c in found.channels] if found else []}


@rpc("IncidentsService.GetLabels")
def get_labels(api: Api, body: Body) -> JSON | Encoded:
    """The keyed labels of an incident (free-form Tags labels excluded)."""
    found = api.state.get(body.string("incidentID", required=True))
    if found is None:
        return {"labels": []}
    return Encoded(b'{"labels":' + api.wire.key_value_labels(found) + b"}")


# --- IncidentsService: writes --------------------------------------------------------------------


@rpc("IncidentsService.CreateIncident")
def create_incident(api: Api, body: Body) -> JSON:
    """Declare an incident; only each label's ``label`` text is used (Tags labels, docs/api.md#free-form-labels)."""
    title = body.string("title", required=True)
    labels = [item.string("label", required=True) for item in body.objs("labels")]
    incident = api.state.create_incident(
        title=title,
        severity=body.string("severity"),
        status=body.enum("status", STATUSES, default="active"),
        labels=labels,
        is_drill=body.boolean("isDrill"),
        initial_status_update=body.string("initialStatusUpdate"),
        attach_url=body.string("attachURL"),
        attach_caption=body.string("attachCaption"),
    )
    return {"incident": api.full(incident)}


@rpc("IncidentsService.UpdateStatus")
def update_status(api: Api, body: Body) -> JSON:
    """Set the status to active or resolved."""
    status = body.enum("status", STATUSES)
    incident = api.incident(body)
    api.state.update_status(incident, status)
    return {"incident": api.full(incident)}


@rpc("IncidentsService.UpdateSeverity")
def update_severity(api: Api, body: Body) -> JSON:
    """Set the severity by label (any case) or severity ID."""
    severity = body.string("severity", required=True)
    incident = api.incident(body)
    api.state.update_severity(incident, severity)
    return {"incident": api.full(incident)}


@rpc("IncidentsService.UpdateTitle")
def update_title(api: Api, body: Body) -> JSON:
    """Rename the incident."""
    title = body.string("title", required=True)
    incident = api.incident(body)
    api.state.update_title(incident, title)
    return {"incident": api.full(incident)}


@rpc("IncidentsService.UpdateIncidentIsDrill")
def update_incident_is_drill(api: Api, body: Body) -> JSON:
    """Set the drill flag."""
    is_drill = body.boolean("isDrill")
    incident = api.incident(body)
    api.state.update_is_drill(incident, is_drill)
    return {"incident": api.full(incident)}


@rpc("IncidentsService.UpdateIncidentEventTime")
def update_incident_event_time(api: Api, body: Body) -> JSON:
    """Set incidentStart/incidentEnd; ``activityItemKind`` is the deprecated alias of ``eventName``."""
    event_ns = body.timestamp("eventTime", required=True)
    assert event_ns is not None
    name = body.string("eventName") or body.string("activityItemKind")
    if name not in EVENT_NAMES:
        raise BadRequest(f"eventName {name!r} is invalid; one of {', '.join(EVENT_NAMES)}")
    incident = api.incident(body)
    api.state.update_event_time(incident, name, event_ns)
    return {}


@rpc("IncidentsService.AddLabel")
def add_label(api: Api, body: Body) -> JSON:
    """Add a label: free-form when ``key`` is empty or ``tags``, else a keyed label from the catalogue."""
    label = body.obj("label")
    text = label.string("label", required=True)
    key = label.string("key")
    incident = api.incident(body)
    if key in ("", "tags"):
        api.state.add_tag(incident, text)
    else:
        api.state.assign_label(incident, *api.state.label_option(key, text))
    return {"incident": api.full(incident)}


@rpc("IncidentsService.RemoveLabel")
def remove_label(api: Api, body: Body) -> JSON:
    """Remove a free-form label by its text; a missing one is a no-op."""
    text = body.string("label", required=True)
    incident = api.incident(body)
    api.state.remove_tag(incident, text)
    return {"incident": api.full(incident)}


@rpc("IncidentsService.AssignLabel")
def assign_label(api: Api, body: Body) -> JSON:
    """Add keyed label ``key=value`` (both must exist in the catalogue)."""
    key, value = body.string("key", required=True), body.string("value", required=True)
    incident = api.incident(body)
    api.state.assign_label(incident, *api.state.label_option(key, value))
    return {"labels": render.key_value_labels(api.state.catalog, incident)}


@rpc("IncidentsService.UnassignLabel")
def unassign_label(api: Api, body: Body) -> JSON:
    """Remove keyed label ``key=value``; a missing one is a no-op."""
    key, value = body.string("key", required=True), body.string("value", required=True)
    incident = api.incident(body)
    api.state.unassign_label(incident, *api.state.label_option(key, value))
    return {"labels": render.key_value_labels(api.state.catalog, incident)}


@rpc("IncidentsService.AssignLabelByUUID")
def assign_label_by_uuid(api: Api, body: Body) -> JSON:
    """Add a keyed label named by ``keyUUID``/``valueUUID``."""
    key_uuid, value_uuid = body.string("keyUUID", required=True), body.string("valueUUID", required=True)
    incident = api.incident(body)
    api.state.assign_label(incident, *api.state.label_option_by_uuid(key_uuid, value_uuid))
    return {"labels": render.key_value_labels(api.state.catalog, incident)}


@rpc("IncidentsService.UnassignLabelByUUID")
def unassign_label_by_uuid(api: Api, body: Body) -> JSON:
    """Remove a keyed label named by ``keyUUID``/``valueUUID``."""
    key_uuid, value_uuid = body.string("keyUUID", required=True), body.string("valueUUID", required=True)
    incident = api.incident(body)
    api.state.unassign_label(incident, *api.state.label_option_by_uuid(key_uuid, value_uuid))
    return {"labels": render.key_value_labels(api.state.catalog, incident)}


@rpc("IncidentsService.AssignRole")
def assign_role(api: Api, body: Body) -> JSON:
    """Give a user a role; ``didChange`` is false when they already held it."""
    role = body.enum("role", ROLE_NAMES)
    user_id = body.string("userID", required=True)
    incident = api.incident(body)
    changed = api.state.assign_role(incident, role, user_id)
    return {"incident": api.full(incident), "didChange": changed}


@rpc("IncidentsService.UnassignRole")
def unassign_role(api: Api, body: Body) -> JSON:
    """Take a role from a user; ``didChange`` is false when they did not hold it."""
    role = body.enum("role", ROLE_NAMES)
    user_id = body.string("userID", required=True)
    incident = api.incident(body)
    changed = api.state.unassign_role(incident, role, user_id)
    return {"incident": api.full(incident), "didChange": changed}


# --- TasksService --------------------------------------------------------------------------------


@rpc("TasksService.AddTask")
def add_task(api: Api, body: Body) -> JSON:
    """Add a custom task."""
    text = body.string("text", required=True)
    assign_to = body.string("assignToUserID")
    incident = api.incident(body)
    task = api.state.add_task(incident, text, assign_to)
    return api.task_response(incident, task.task_id)


@rpc("TasksService.UpdateTaskStatus")
def update_task_status(api: Api, body: Body) -> JSON:
    """Set a task's status (todo, progress, done)."""
    status = body.enum("status", TASK_STATUSES)
    incident = api.incident(body)
    task = api.state.task(incident, body.string("taskID"))
    api.state.update_task_status(incident, task, status)
    return api.task_response(incident, task.task_id)


@rpc("TasksService.UpdateTaskText")
def update_task_text(api: Api, body: Body) -> JSON:
    """Reword a custom task."""
    text = body.string("text", required=True)
    incident = api.incident(body)
    task = api.state.task(incident, body.string("taskID"))
    api.state.update_task_text(incident, task, text)
    return api.task_response(incident, task.task_id)


@rpc("TasksService.UpdateTaskUser")
def update_task_user(api: Api, body: Body) -> JSON:
    """Assign a task to a user (empty ``userID`` unassigns)."""
    user_id = body.string("userID")
    incident = api.incident(body)
    task = api.state.task(incident, body.string("taskID"))
    api.state.update_task_user(incident, task, user_id)
    return api.task_response(incident, task.task_id)


@rpc("TasksService.DeleteTask")
def delete_task(api: Api, body: Body) -> JSON:
    """Delete a custom task."""
    incident = api.incident(body)
    task = api.state.task(incident, body.string("taskID"))
    api.state.delete_task(incident, task)
    return api.task_response(incident)


# --- ActivityService -----------------------------------------------------------------------------


@rpc("ActivityService.QueryActivity")
def query_activity(api: Api, body: Body) -> Encoded:
    """Page through an incident's timeline by event time (ASC by default)."""
    query = body.obj("query")
    echo: JSON = {
        "incidentID": query.string("incidentID", required=True),
        "limit": query.limit(),
        "tag": query.string("tag"),
        "orderDirection": query.enum("orderDirection", DIRECTIONS, default="ASC"),
        "activityKind": query.strings("activityKind"),
    }
    for kind in echo["activityKind"]:
        if kind not in ACTIVITY_KINDS:
            raise BadRequest(f"query.activityKind: {kind!r} is not an activity kind")
    fingerprint = _fingerprint("activity", echo)
    after = api.cursors.resolve(body, fingerprint)
    found = api.state.get(echo["incidentID"])
    kinds, tag = set(echo["activityKind"]), echo["tag"]
    items = [
        item
        for item in (found.activity if found else [])
        if (not kinds or item.kind in kinds) and (not tag or tag in item.tags)
    ]

    def key(item: ActivityItem) -> tuple[int, int]:
        return (item.event_ns, item.seq)

    items.sort(key=key)
    page = _page(api, items, key, echo, after, fingerprint)
    encoded = api.wire.activity_items(found, page.rows) if found is not None else []
    return encoded_page("activityItems", encoded, echo, page.cursor)


@rpc("ActivityService.AddActivity")
def add_activity(api: Api, body: Body) -> JSON:
    """Add a user note (the only kind the API accepts) of at most 65536 characters."""
    kind = body.string("activityKind")
    if kind != "userNote":
        raise BadRequest(f"activityKind {kind!r} is invalid; only userNote can be added")
    text = body.string("body", required=True)
    if len(text) > MAX_NOTE_LENGTH:
        raise BadRequest(f"body is {len(text)} characters; the maximum is {MAX_NOTE_LENGTH}")
    field_values = body.obj("fieldValues").data
    event_ns = body.timestamp("eventTime")
    incident = api.incident(body)
    item = api.state.add_note(incident, text, event_ns=event_ns, field_values=field_values)
    return {"activityItem": render.activity_item(api.state.catalog, item)}


def _activity_target(api: Api, body: Body) -> tuple[Incident, ActivityItem]:
    incident = api.incident(body)
    return incident, api.state.activity_item(incident, body.string("activityItemID"))


@rpc("ActivityService.RemoveActivity")
def remove_activity(api: Api, body: Body) -> JSON:
    """Delete a user note; returns the removed item."""
    incident, item = _activity_target(api, body)
    api.state.remove_activity(incident, item)
    return {"activityItem": render.activity_item(api.state.catalog, item)}


@rpc("ActivityService.UpdateActivityBody")
def update_activity_body(api: Api, body: Body) -> JSON:
    """Edit a user note's text."""
    text = body.string("body", required=True)
    if len(text) > MAX_NOTE_LENGTH:
        raise BadRequest(f"body is {len(text)} characters; the maximum is {MAX_NOTE_LENGTH}")
    incident, item = _activity_target(api, body)
    api.state.edit_activity(incident, item, body=text)
    return {"activityItem": render.activity_item(api.state.catalog, item)}


@rpc("ActivityService.UpdateActivityEventTime")
def update_activity_event_time(api: Api, body: Body) -> JSON:
    """Move a user note on the timeline."""
    event_ns = body.timestamp("eventTime", required=True)
    incident, item = _activity_target(api, body)
    api.state.edit_activity(incident, item, event_ns=event_ns)
    return {"activityItem": render.activity_item(api.state.catalog, item)}


@rpc("ActivityService.UpdateActivityRelevance")
def update_activity_relevance(api: Api, body: Body) -> JSON:
    """Set an item's relevance (allowed on every item)."""
    relevance = body.enum("relevance", RELEVANCES)
    incident, item = _activity_target(api, body)
    api.state.edit_activity(incident, item, relevance=relevance)
    return {"activityItem": render.activity_item(api.state.catalog, item)}


# --- org catalogue -------------------------------------------------------------------------------


@rpc("RolesService.GetRoles")
def get_roles(api: Api, body: Body) -> JSON:
    """The org's incident roles."""
    return {"roles": [render.role(r) for r in api.state.catalog.roles.values()]}


@rpc("SeveritiesService.GetOrgSeverities")
def get_org_severities(api: Api, body: Body) -> JSON:
    """The org's severities by level; served only on the unversioned prefix (docs/api.md#unversioned-methods)."""
    severities = sorted(api.state.catalog.severities.values(), key=lambda s: s.level)
    return {"severities": [render.severity(s) for s in severities]}


@rpc("FieldsService.GetFields")
def get_fields(api: Api, body: Body) -> JSON:
    """Custom fields: one ``labels``-domain field per label key, plus the free-form ``tags`` field."""
    domain = body.string("domainName")
    if domain not in ("", "labels", "incident"):
        raise BadRequest(f"domainName {domain!r} is invalid; one of labels, incident")
    fields = [f for f in api.state.all_fields() if not domain or f.domain == domain]
    return {"fields": [render.label_field(f) for f in fields]}


@rpc("FieldsService.GetField")
def get_field(api: Api, body: Body) -> JSON:
    """One field by UUID."""
    return {"field": render.label_field(api.state.field(body.string("fieldUUID", required=True)))}


@rpc("FieldsService.AddLabelKey")
def add_label_key(api: Api, body: Body) -> JSON:
    """Create a label key (an existing key is returned unchanged)."""
    field = api.state.add_label_key(
        body.string("key", required=True), body.string("description"), body.string("colorHex")
    )
    return {"field": render.label_field(field)}


@rpc("FieldsService.AddLabelValue")
def add_label_value(api: Api, body: Body) -> JSON:
    """Add a value to a label key; returns the updated field."""
    field = api.state.add_label_value(
        body.string("key", required=True),
        body.string("value", required=True),
        body.string("description"),
        body.string("colorHex"),
    )
    return {"field": render.label_field(field)}


@rpc("UsersService.QueryUsers")
def query_users(api: Api, body: Body) -> JSON:
    """Page through the org's users by name."""
    query = body.obj("query")
    echo: JSON = {"limit": query.limit()}
    fingerprint = _fingerprint("users", echo)
    after = api.cursors.resolve(body, fingerprint)

    def key(user: User) -> tuple[str, str]:
        return (user.name, user.user_id)

    users = sorted(api.state.catalog.users.values(), key=key)
    page = _page(api, users, key, echo, after, fingerprint)
    return {"users": [render.user(u) for u in page.rows], "query": echo, "cursor": page.cursor}


@rpc("UsersService.GetUser")
def get_user(api: Api, body: Body) -> JSON:
    """One user by ID."""
    user_id = body.string("userID", required=True)
    found = api.state.catalog.users.get(user_id)
    if found is None:
        raise NotFound(f"user {user_id} not found")
    return {"user": render.user(found)}


# --- KeyUpdatesService ---------------------------------------------------------------------------

CONTENT_TYPES = ("text/plain", "application/x-lexical-editor", "text/markdown+slack", "text/markdown+msteams")
SCOPES = ("internal", "public", "private")
KEY_UPDATE_ORDER_FIELDS = ("createdTime", "modifiedTime", "title")


def _optional_string(body: Body, key: str) -> str | None:
    """A ``*string`` field: None when missing or null, else the string."""
    if body.data.get(key) is None:
        return None
    return body.string(key)


def _key_update_fields(body: Body) -> dict[str, Any]:
    return {
        "title": _optional_string(body, "title"),
        "content": body.string("content", required=True),
        "content_type": body.enum("contentType", CONTENT_TYPES, default="text/plain"),
        "scope": body.enum("scope", SCOPES, default="internal"),
        "status_id": body.string("statusID"),
        "severity_id": body.string("severityID"),
        "color": _optional_string(body, "color"),
    }


@rpc("KeyUpdatesService.CreateKeyUpdate")
def create_key_update(api: Api, body: Body) -> JSON:
    """Post a key update; a ``statusID``/``severityID`` moves the incident to that status/severity."""
    fields = _key_update_fields(body)
    incident = api.incident(body)
    record = api.state.create_key_update(incident, **fields)
    return {"keyUpdate": render.key_update(api.state.catalog, record)}


@rpc("KeyUpdatesService.UpdateKeyUpdate")
def update_key_update(api: Api, body: Body) -> JSON:
    """Edit a key update."""
    fields = _key_update_fields(body)
    incident = api.incident(body)
    record = api.state.key_update(incident, body.string("id"))
    api.state.update_key_update(incident, record, **fields)
    return {"keyUpdate": render.key_update(api.state.catalog, record)}


@rpc("KeyUpdatesService.DeleteKeyUpdate")
def delete_key_update(api: Api, body: Body) -> JSON:
    """Delete a key update."""
    incident = api.incident(body)
    api.state.delete_key_update(incident, api.state.key_update(incident, body.string("id")))
    return {}


@rpc("KeyUpdatesService.GetKeyUpdate")
def get_key_update(api: Api, body: Body) -> JSON:
    """One key update by ID."""
    body.enum("contentType", CONTENT_TYPES, default="text/plain")
    incident = api.incident(body)
    return {"keyUpdate": render.key_update(api.state.catalog, api.state.key_update(incident, body.string("id")))}


@rpc("KeyUpdatesService.GetInitialKeyUpdate")
def get_initial_key_update(api: Api, body: Body) -> JSON:
    """The first key update (``CreateIncident``'s ``initialStatusUpdate``), or null."""
    body.enum("contentType", CONTENT_TYPES, default="text/plain")
    incident = api.incident(body)
    first = incident.key_updates[0] if incident.key_updates else None
    return {"keyUpdate": render.key_update(api.state.catalog, first) if first else None}


@rpc("KeyUpdatesService.GetLastKeyUpdate")
def get_last_key_update(api: Api, body: Body) -> JSON:
    """The latest key update (or null) and how many there are."""
    body.enum("contentType", CONTENT_TYPES, default="text/plain")
    incident = api.incident(body)
    last = incident.key_updates[-1] if incident.key_updates else None
    return {
        "keyUpdate": render.key_update(api.state.catalog, last) if last else None,
        "keyUpdateCount": len(incident.key_updates),
    }


@rpc("KeyUpdatesService.QueryKeyUpdates")
def query_key_updates(api: Api, body: Body) -> JSON:
    """Page through an incident's key updates, filtered by scope and ordered by time or title."""
    query = body.obj("query")
    echo: JSON = {
        "incidentID": query.string("incidentID", required=True),
        "limit": query.limit(),
        "orderDirection": query.enum("orderDirection", DIRECTIONS, default="DESC"),
        "orderField": query.enum("orderField", KEY_UPDATE_ORDER_FIELDS, default="createdTime"),
        "scope": query.string("scope"),
        "contentType": query.string("contentType"),
    }
    if echo["scope"] and echo["scope"] not in SCOPES:
        raise BadRequest(f"query.scope {echo['scope']!r} is invalid; one of {', '.join(SCOPES)}")
    if echo["contentType"] and echo["contentType"] not in CONTENT_TYPES:
        raise BadRequest(f"query.contentType {echo['contentType']!r} is invalid; one of {', '.join(CONTENT_TYPES)}")
    incident = api.state.require(echo["incidentID"])
    fingerprint = _fingerprint("keyUpdates", echo)
    after = api.cursors.resolve(body, fingerprint)
    order = echo["orderField"]
    position = {id(item): index for index, item in enumerate(incident.key_updates)}

    def key(item: KeyUpdate) -> tuple[Any, ...]:
        value: Any = {"createdTime": item.created_ns, "modifiedTime": item.modified_ns}.get(order, item.title or "")
        return (value, position[id(item)])

    rows = sorted((u for u in incident.key_updates if not echo["scope"] or u.scope == echo["scope"]), key=key)
    page = _page(api, rows, key, echo, after, fingerprint)
    catalog = api.state.catalog
    return {"keyUpdates": [render.key_update(catalog, u) for u in page.rows], "query": echo, "cursor": page.cursor}


# --- IntegrationService: the incident's Slack channel --------------------------------------------


@rpc("IntegrationService.CreateIncidentSlackChannel")
def create_incident_slack_channel(api: Api, body: Body) -> JSON:
    """Open the incident's Slack channel; it then shows in ``incidentChannels`` and ``refs``."""
    name = body.string("channelName")
    body.boolean("postUpdates")
    body.boolean("inviteUsers")
    incident = api.incident(body)
    channel = api.state.create_slack_channel(incident, name)
    return {"channelID": channel.channel_id, "channelName": channel.name}


from incident_analytics.emulator import handlers_org  # noqa: E402,F401  (registers the org-wide methods)

IMPLEMENTED_METHODS: tuple[str, ...] = tuple(sorted(_HANDLERS))
"""Every ``Service.Method`` the emulator answers (compare with contract.json's 69 methods)."""
