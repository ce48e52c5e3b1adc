"""The org-wide RPC methods: FieldsService writes and values, RolesService writes, StatusService and
IntegrationService hooks. Registered into :mod:`.handlers`' table when that module is imported."""

from __future__ import annotations

from typing import Any

from incident_analytics.emulator import render
from incident_analytics.emulator.handlers import JSON, Api, rpc
from incident_analytics.emulator.org import (
    DOMAINS,
    FIELD_TYPES,
    HOOK_EVENTS,
    INCIDENT_TYPES,
    STATUS_CATEGORIES,
    STATUS_ICONS,
)
from incident_analytics.emulator.query import QuerySyntaxError, parse
from incident_analytics.emulator.request import BadRequest, Body

# --- FieldsService -------------------------------------------------------------------------------


def _options(items: list[Body]) -> list[tuple[str, str, str, str]]:
    """(uuid, value, description, color) of ``CustomMetadataFieldSelectOption`` objects."""
    result = []
    for item in items:
        value = item.string("value") or item.string("label")
        if not value:
            raise BadRequest(f"{item.path}.value is required")
        result.append((item.string("uuid"), value, item.string("description"), item.string("color")))
    return result


@rpc("FieldsService.AddField")
def add_field(api: Api, body: Body) -> JSON:
    """Create a custom field; in the ``labels`` domain it is a new label key."""
    field = body.obj("field")
    created = api.state.add_field(
        name=field.string("name", required=True),
        slug=field.string("slug"),
        domain=field.enum("domainName", DOMAINS, default="incident"),
        field_type=field.enum("type", FIELD_TYPES, default="string"),
        description=field.string("description"),
        color=field.string("color"),
        icon=field.string("icon"),
        required=field.boolean("required"),
        options=_options(field.objs("selectoptions")),
    )
    return {"field": render.label_field(created)}


@rpc("FieldsService.UpdateField")
def update_field(api: Api, body: Body) -> JSON:
    """Change a field (a stale ``version`` is refused); a new slug renames the label key everywhere."""
    record = api.state.field(body.string("fieldUUID"))
    changes: dict[str, Any] = {
        "name": body.string("name") or record.name,
        "slug": body.string("slug"),
        "color": body.string("color"),
        "icon": body.string("icon"),
        "description": body.string("description"),
        "required": body.boolean("required"),
        "options": _options(body.objs("selectoptions")),
    }
    domain = body.string("domainName")
    if domain and domain != record.domain:
        raise BadRequest(f"domainName cannot change (field {record.name!r} is in {record.domain!r})")
    if body.boolean("immutable"):
        changes["immutable"] = True
    return {"field": render.label_field(api.state.update_field(record, body.integer("version"), changes))}


@rpc("FieldsService.ArchiveField")
def archive_field(api: Api, body: Body) -> JSON:
    """Archive a field: it stays listed (``archived: true``) but takes no new values."""
    api.state.set_field_archived(api.state.field(body.string("fieldUUID")), True)
    return {}


@rpc("FieldsService.UnarchiveField")
def unarchive_field(api: Api, body: Body) -> JSON:
    """Bring an archived field back."""
    api.state.set_field_archived(api.state.field(body.string("fieldUUID")), False)
    return {}


@rpc("FieldsService.DeleteField")
def delete_field(api: Api, body: Body) -> JSON:
    """Delete a field and its values on every incident."""
    api.state.delete_field(api.state.field(body.string("fieldUUID")))
    return {}


@rpc("FieldsService.AddFieldSelectOption")
def add_field_select_option(api: Api, body: Body) -> JSON:
    """Add an option (a label value, for a label key); returns its UUID."""
    record = api.state.field(body.string("fieldUUID"))
    option = body.obj("fieldSelectOption")
    created = api.state.add_option(
        record, option.string("value"), option.string("description"), option.string("color"), option.string("label")
    )
    return {"fieldSelectOptionUUID": created.uuid}


@rpc("FieldsService.UpdateFieldSelectOption")
def update_field_select_option(api: Api, body: Body) -> JSON:
    """Change an option; a new value renames that label on every incident carrying it."""
    record = api.state.field(body.string("fieldUUID"))
    option = api.state.option(record, body.string("selectOptionUUID"))
    value = body.string("value") or body.string("label")
    api.state.update_option(record, option, value, body.string("description"), body.string("color"))
    return {}


@rpc("FieldsService.DeleteFieldSelectOption")
def delete_field_select_option(api: Api, body: Body) -> JSON:
    """Remove an option and that label from every incident."""
    record = api.state.field(body.string("fieldUUID"))
    api.state.delete_option(record, api.state.option(record, body.string("selectOptionUUID")))
    return {}


@rpc("FieldsService.GetFieldValues")
def get_field_values(api: Api, body: Body) -> JSON:
    """An incident's field values: one per keyed or free-form label, and its incident-domain fields."""
    domain = body.string("domainName")
    if domain and domain not in DOMAINS:
        raise BadRequest(f"domainName {domain!r} is invalid; one of {', '.join(DOMAINS)}")
    incident = api.target_incident(body)
    values = api.state.field_values(incident, domain)
    return {"fieldValues": [{"field": render.label_field(field), "value": value} for field, value in values]}


@rpc("FieldsService.RecordFieldValue")
def record_field_value(api: Api, body: Body) -> JSON:
    """Set a field's value on an incident (a label key's value adds that label; ``""`` clears)."""
    record = api.state.field(body.string("fieldUUID"))
    value = body.string("value")
    incident = api.target_incident(body)
    api.state.record_field_value(incident, record, value)
    return {}


# --- RolesService --------------------------------------------------------------------------------


@rpc("RolesService.CreateRole")
def create_role(api: Api, body: Body) -> JSON:
    """Create an org role (the ID is assigned by the server)."""
    role = body.obj("role")
    created = api.state.create_role(
        role.string("name", required=True),
        role.string("description"),
        role.boolean("important"),
        role.boolean("mandatory"),
    )
    return {"role": render.role(created)}


@rpc("RolesService.UpdateRole")
def update_role(api: Api, body: Body) -> JSON:
    """Change a role's name, description and flags."""
    role = body.obj("role")
    record = api.state.role(role.integer("roleID"))
    api.state.update_role(
        record,
        role.string("name") or record.name,
        role.string("description"),
        role.boolean("important"),
        role.boolean("mandatory"),
    )
    return {"role": render.role(record)}


@rpc("RolesService.ArchiveRole")
def archive_role(api: Api, body: Body) -> JSON:
    """Archive a role: it can no longer be assigned and gets no placeholder slot."""
    api.state.set_role_archived(api.state.role(body.integer("roleID")), True)
    return {}


@rpc("RolesService.UnarchiveRole")
def unarchive_role(api: Api, body: Body) -> JSON:
    """Bring an archived role back."""
    api.state.set_role_archived(api.state.role(body.integer("roleID")), False)
    return {}


@rpc("RolesService.DeleteRole")
def delete_role(api: Api, body: Body) -> JSON:
    """Delete a custom role that nobody holds."""
    api.state.delete_role(api.state.role(body.integer("roleID")))
    return {}


# --- StatusService -------------------------------------------------------------------------------


def _status_changes(body: Body) -> dict[str, str]:
    return {
        "name": body.string("name", required=True),
        "description": body.string("description"),
        "category": body.enum("category", STATUS_CATEGORIES),
        "color": body.string("color"),
        "icon": body.enum("icon", STATUS_ICONS, default="clock"),
    }


@rpc("StatusService.QueryOrgStatuses")
def query_org_statuses(api: Api, body: Body) -> JSON:
    """The status configuration of each incident type (or of the one asked for), by position."""
    wanted = body.string("incidentType")
    if wanted and wanted not in INCIDENT_TYPES:
        raise BadRequest(f"incidentType {wanted!r} is invalid; one of {', '.join(INCIDENT_TYPES)}")
    catalog = api.state.catalog
    configurations = []
    for incident_type in INCIDENT_TYPES:
        if wanted and incident_type != wanted:
            continue
        statuses = sorted(
            (s for s in catalog.statuses.values() if s.incident_type == incident_type), key=lambda s: s.position
        )
        configurations.append(
            {
                "statuses": [render.org_status(s) for s in statuses],
                "incidentType": incident_type,
                "default": incident_type not in catalog.customised_types,
            }
        )
    return {"configurations": configurations}


@rpc("StatusService.GetStatusByID")
def get_status_by_id(api: Api, body: Body) -> JSON:
    """One status by ID."""
    return {"status": render.org_status(api.state.org_status(body.string("statusID")))}


@rpc("StatusService.CreateOrgStatus")
def create_org_status(api: Api, body: Body) -> JSON:
    """Add a status to an incident type's configuration."""
    incident_type = body.enum("incidentType", INCIDENT_TYPES, default="internal")
    changes = _status_changes(body)
    return {"status": render.org_status(api.state.create_status(incident_type, **changes))}


@rpc("StatusService.UpdateOrgStatus")
def update_org_status(api: Api, body: Body) -> JSON:
    """Change a status (immutable ones keep their name and category)."""
    record = api.state.org_status(body.string("statusID"))
    incident_type = body.string("incidentType")
    if incident_type and incident_type != record.incident_type:
        raise BadRequest(f"incidentType cannot change (status {record.name!r} is for {record.incident_type} incidents)")
    return {"status": render.org_status(api.state.update_status_definition(record, _status_changes(body)))}


# --- IntegrationService: hooks -------------------------------------------------------------------


@rpc("IntegrationService.EnableHook")
def enable_hook(api: Api, body: Body) -> JSON:
    """Switch a hook on; it runs (``GetHookRuns``, ``hookRunMetadata`` items) on matching incident writes."""
    integration_id = body.string("integrationID", required=True)
    hook_id = body.string("hookID", required=True)
    event_name = body.enum("eventName", HOOK_EVENTS)
    incident_filter = body.string("incidentFilter")
    if incident_filter:
        try:
            parse(incident_filter)
        except QuerySyntaxError as exc:
            raise BadRequest(f"invalid incidentFilter: {exc}") from None
    config = [item.data for item in body.obj("hookConfig").objs("fields")]
    hook = api.state.enable_hook(
        integration_id, hook_id, event_name, incident_filter, body.boolean("sensitive"), config
    )
    return {"enabledHookID": hook.enabled_hook_id}


@rpc("IntegrationService.DisableHook")
def disable_hook(api: Api, body: Body) -> JSON:
    """Switch an enabled hook off."""
    api.state.disable_hook(body.string("integrationID"), body.string("enabledHookID", required=True))
    return {}


@rpc("IntegrationService.GetEnabledHooks")
def get_enabled_hooks(api: Api, body: Body) -> JSON:
    """The enabled hooks, optionally of one event."""
    event_name = body.string("eventName")
    if event_name and event_name not in HOOK_EVENTS:
        raise BadRequest(f"eventName {event_name!r} is invalid; one of {', '.join(HOOK_EVENTS)}")
    hooks = [h for h in api.state.catalog.hooks.values() if not event_name or h.event_name == event_name]
    return {"enabledHooks": [render.enabled_hook(h) for h in hooks]}


@rpc("IntegrationService.GetHookRuns")
def get_hook_runs(api: Api, body: Body) -> JSON:
    """The hook runs of an incident; served only on the unversioned prefix (docs/api.md#unversioned-methods)."""
    found = api.state.get(body.string("incidentID", required=True))
    return {"hookRuns": [render.hook_run(run) for run in found.hook_runs] if found else []}
