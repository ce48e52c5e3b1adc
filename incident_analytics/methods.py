"""The catalogue of RPC methods: one row per ``Service.Method`` with what the client must know of it.

Each row says how a failed call may be retried (``kind``), whether the method answers only on the
unversioned ``.../resources/api/`` prefix (``unversioned``), and for a cursor-paged listing the
response key holding its records (``items_key``) and the field that identifies one (``record_id``).
The request path (``transport``), the paging loop and the helpers (``rpc``, ``client``) all read this
table; nothing else lists methods. The emulator keeps its own, independent list on purpose, and
``tests/test_methods.py`` checks both against ``contract.json``.

Retry kinds:

* ``read`` (``Get*``/``Query*``): retried on 429, 502, 503, 504 and network errors.
* ``idempotent``: a write whose repeat leaves the same end state (set status, assign a label, ...);
  retried like a read.
* ``unsafe``: a create-like write (``CreateIncident``, ``AddTask``, ``AddActivity``, ``AddLabel``) or
  any other write not known to be idempotent (deletes). Retried only when the request certainly never
  reached the server; a timeout after sending, a dropped connection or a proxy 502/504 raises
  ``OutcomeUnknownError``.

A method missing from the table (a newer API) is treated by its name: ``Get*``/``Query*`` as a read,
anything else as ``unsafe``; it goes to the ``/v1`` prefix.

>>> METHODS["IncidentsService.CreateIncident"].kind
'unsafe'
>>> METHODS["IncidentsService.QueryIncidentPreviews"].items_key
'incidentPreviews'
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Literal

RetryKind = Literal["read", "idempotent", "unsafe"]


@dataclass(frozen=True)
class Method:
    """One RPC method: its name, retry kind, path prefix and (for listings) where its records are."""

    name: str
    kind: RetryKind
    unversioned: bool = False
    items_key: str | None = None
    record_id: str | None = None

    @property
    def paged(self) -> bool:
        """True for a cursor-paged listing."""
        return self.items_key is not None


_R: RetryKind = "read"
_I: RetryKind = "idempotent"
_U: RetryKind = "unsafe"

# Sources: contract.json (generated from grafana/incident-go) for the names; docs/ and
# docs/api.md#base-url-and-plugin-ids for the unversioned prefix (GetOrgSeverities, QueryIncidentContext and
# GetHookRuns answer only there, as gcx found live; incident-go's /v1 for GetHookRuns contradicts it and loses); design
# "Retries" for kinds.
_TABLE: tuple[Method, ...] = (
    # ActivityService
    Method("ActivityService.AddActivity", _U),
    Method("ActivityService.QueryActivity", _R, items_key="activityItems", record_id="activityItemID"),
    Method("ActivityService.RemoveActivity", _U),
    Method("ActivityService.UpdateActivityBody", _I),
    Method("ActivityService.UpdateActivityEventTime", _I),
    Method("ActivityService.UpdateActivityRelevance", _I),
    # FieldsService
    Method("FieldsService.AddField", _U),
    Method("FieldsService.AddFieldSelectOption", _U),
    Method("FieldsService.AddLabelKey", _U),
    Method("FieldsService.AddLabelValue", _U),
    Method("FieldsService.ArchiveField", _I),
    Method("FieldsService.DeleteField", _U),
    Method("FieldsService.DeleteFieldSelectOption", _U),
    Method("FieldsService.GetField", _R),
    Method("FieldsService.GetFieldValues", _R),
    Method("FieldsService.GetFields", _R),
    Method("FieldsService.RecordFieldValue", _I),
    Method("FieldsService.UnarchiveField", _I),
    Method("FieldsService.UpdateField", _I),
    Method("FieldsService.UpdateFieldSelectOption", _I),
    # IncidentContextService (absent from contract.json; documented unversioned-only)
    Method("IncidentContextService.QueryIncidentContext", _R, unversioned=True),
    # IncidentsService
    Method("IncidentsService.AddLabel", _U),
    Method("IncidentsService.AssignLabel", _I),
    Method("IncidentsService.AssignLabelByUUID", _I),
    Method("IncidentsService.AssignRole", _I),
    Method("IncidentsService.CreateIncident", _U),
    Method("IncidentsService.GetIncident", _R),
    Method("IncidentsService.GetIncidentChannels", _R),
    Method("IncidentsService.GetIncidentMembership", _R),
    Method("IncidentsService.GetLabels", _R),
    Method("IncidentsService.QueryIncidentPreviews", _R, items_key="incidentPreviews", record_id="incidentID"),
    Method("IncidentsService.QueryIncidents", _R, items_key="incidents", record_id="incidentID"),
    Method("IncidentsService.RemoveLabel", _I),
    Method("IncidentsService.UnassignLabel", _I),
    Method("IncidentsService.UnassignLabelByUUID", _I),
    Method("IncidentsService.UnassignRole", _I),
    Method("IncidentsService.UpdateIncidentEventTime", _I),
    Method("IncidentsService.UpdateIncidentIsDrill", _I),
    Method("IncidentsService.UpdateSeverity", _I),
    Method("IncidentsService.UpdateStatus", _I),
    Method("IncidentsService.UpdateTitle", _I),
    # IntegrationService
    Method("IntegrationService.CreateIncidentSlackChannel", _U),
    Method("IntegrationService.DisableHook", _I),
    Method("IntegrationService.EnableHook", _I),
    Method("IntegrationService.GetEnabledHooks", _R),
    Method("IntegrationService.GetHookRuns", _R, unversioned=True),
    # KeyUpdatesService
    Method("KeyUpdatesService.CreateKeyUpdate", _U),
    Method("KeyUpdatesService.DeleteKeyUpdate", _U),
    Method("KeyUpdatesService.GetInitialKeyUpdate", _R),
    Method("KeyUpdatesService.GetKeyUpdate", _R),
    Method("KeyUpdatesService.GetLastKeyUpdate", _R),
    Method("KeyUpdatesService.QueryKeyUpdates", _R, items_key="keyUpdates", record_id="id"),
    Method("KeyUpdatesService.UpdateKeyUpdate", _I),
    # RolesService
    Method("RolesService.ArchiveRole", _I),
    Method("RolesService.CreateRole", _U),
    Method("RolesService.DeleteRole", _U),
    Method("RolesService.GetRoles", _R),
    Method("RolesService.UnarchiveRole", _I),
    Method("RolesService.UpdateRole", _I),
    # SeveritiesService (absent from contract.json; documented unversioned-only)
    Method("SeveritiesService.GetOrgSeverities", _R, unversioned=True),
    # StatusService
    Method("StatusService.CreateOrgStatus", _U),
    Method("StatusService.GetStatusByID", _R),
    Method("StatusService.QueryOrgStatuses", _R),
    Method("StatusService.UpdateOrgStatus", _I),
    # TasksService
    Method("TasksService.AddTask", _U),
    Method("TasksService.DeleteTask", _U),
    Method("TasksService.UpdateTaskStatus", _I),
    Method("TasksService.UpdateTaskText", _I),
    Method("TasksService.UpdateTaskUser", _I),
    # UsersService
    Method("UsersService.GetUser", _R),
    Method("UsersService.QueryUsers", _R, items_key="users", record_id="userID"),
)

METHODS: Mapping[str, Method] = MappingProxyType({m.name: m for m in _TABLE})
"""Every catalogued ``Service.Method`` and what the client knows of it."""

NOT_IN_CONTRACT = frozenset({"SeveritiesService.GetOrgSeverities", "IncidentContextService.QueryIncidentContext"})
"""Catalogued methods that contract.json (generated from incident-go) lacks; gcx calls them live."""


def method_info(name: str) -> Method:
    """The catalogue row of ``name``, or one inferred from the name for a method not catalogued.

    >>> method_info("UsersService.GetSomethingNew").kind
    'read'
    """
    known = METHODS.get(name)
    if known is not None:
        return known
    short = name.rpartition(".")[2]
    return Method(name, _R if short.startswith(("Get", "Query")) else _U)


def method(name: str) -> str:
    """``name`` itself, after checking it is catalogued (the helpers name their methods through this).

    >>> method("TasksService.AddTask")
    'TasksService.AddTask'
    """
    if name not in METHODS:
        raise KeyError(f"{name!r} is not in the method catalogue (incident_analytics.methods.METHODS)")
    return name


__all__ = ["METHODS", "NOT_IN_CONTRACT", "Method", "RetryKind", "method", "method_info"]
