"""Model records → wire JSON dicts, field for field as the contract's types (``contract.json``).

Every field of a type is always present, at its zero value when unset (``""`` for strings and
unset times, ``false``, ``0``, ``[]``), as Go's encoder writes structs without ``omitempty``.
Pointer fields (``Task.authorUser``/``assignedUser``) are ``null`` when unset. Booleans and
integers are real JSON booleans and numbers even where the stub examples carry strings
(``"archived": "false"``): Go itself could not decode those stubs (docs/api.md#time-formats).
"""

from __future__ import annotations

from typing import Any

from incident_analytics.emulator.model import (
    TAGS_KEY,
    ActivityItem,
    Assignment,
    Attachment,
    Catalog,
    Channel,
    EnabledHook,
    HookRun,
    Incident,
    KeyUpdate,
    Label,
    LabelField,
    LabelOption,
    OrgStatus,
    Ref,
    Role,
    Severity,
    Task,
    User,
)
from incident_analytics.emulator.times import NS_PER_SECOND, format_time

JSON = dict[str, Any]

PLUGIN_PATH_ID = "grafana-irm-app"
"""The app id used in relative ``overviewURL`` links (docs/api.md#base-url-and-plugin-ids)."""

PLACEHOLDER_ROLE_NAMES = ("commander", "investigator")
"""Roles that get an empty placeholder slot while nobody holds them (docs/api.md#roles-and-placeholder-slots; inferred).

Live data shows placeholder slots (``userID ""``, ``roleID 0``) but not which roles get them;
we emit one per unfilled *important* role, i.e. the mandatory commander and the investigator.
"""


def user_preview(catalog: Catalog, user_id: str | None) -> JSON:
    """``UserPreview`` of a user; an empty or unknown ID gives the zero preview."""
    user = catalog.users.get(user_id or "")
    if user is None:
        return {"userID": user_id or "", "name": "", "photoURL": ""}
    return {"userID": user.user_id, "name": user.name, "photoURL": user.photo_url}


def _optional_user(catalog: Catalog, user_id: str | None) -> JSON | None:
    return None if not user_id else user_preview(catalog, user_id)


def user(record: User) -> JSON:
    """The full ``User`` record."""
    return {
        "userID": record.user_id,
        "internalUserID": record.internal_user_id,
        "email": record.email,
        "modifiedTime": format_time(record.modified_ns),
        "name": record.name,
        "photoURL": record.photo_url,
        "grafanaUserID": record.grafana_user_id,
        "grafanaLogin": record.grafana_login,
        "slackUserID": "",
        "slackTeamID": "",
        "msTeamsUserID": "",
    }


def role(record: Role | None) -> JSON:
    """A ``Role``; ``None`` gives the zero role of a placeholder slot."""
    if record is None:
        return {
            "roleID": 0,
            "orgID": "",
            "name": "",
            "description": "",
            "important": False,
            "mandatory": False,
            "archived": False,
            "createdAt": "",
            "updatedAt": "",
        }
    return {
        "roleID": record.role_id,
        "orgID": record.org_id,
        "name": record.name,
        "description": record.description,
        "important": record.important,
        "mandatory": record.mandatory,
        "archived": record.archived,
        "createdAt": format_time(record.created_ns),
        "updatedAt": format_time(record.updated_ns),
    }


def severity(record: Severity) -> JSON:
    """An entry of ``GetOrgSeverities``: ``{severityID, displayLabel, level, color}``."""
    return {
        "severityID": record.severity_id,
        "displayLabel": record.label,
        "level": record.level,
        "color": record.color,
    }


def label(record: Label) -> JSON:
    """An ``IncidentLabel`` (both kinds: free-form ones have key ``tags``)."""
    return {
        "key": record.key,
        "label": record.text,
        "description": record.description,
        "colorHex": record.color_hex,
    }


def key_value_label(catalog: Catalog, record: Label) -> JSON:
    """An ``IncidentKeyValueLabel`` with the key's and value's UUIDs from the field catalogue."""
    field = catalog.label_fields.get(record.key)
    option = field.option(record.text) if field is not None else None
    return {
        "key": record.key,
        "keyUUID": field.uuid if field is not None else "",
        "valueUUID": option.uuid if option is not None else "",
        "value": record.text,
        "description": record.description,
        "colorHex": record.color_hex,
    }


def key_value_labels(catalog: Catalog, incident: Incident) -> list[JSON]:
    """The keyed labels of an incident (free-form Tags labels are left out), as ``GetLabels`` gives."""
    return [key_value_label(catalog, item) for item in incident.labels if item.key != TAGS_KEY]


def task(catalog: Catalog, record: Task) -> JSON:
    """A ``Task``; system tasks have ``authorUser: null``."""
    return {
        "taskID": record.task_id,
        "immutable": record.immutable,
        "createdTime": format_time(record.created_ns),
        "modifiedTime": format_time(record.modified_ns),
        "text": record.text,
        "status": record.status,
        "authorUser": _optional_user(catalog, record.author_id),
        "assignedUser": _optional_user(catalog, record.assigned_id),
    }


def task_list(catalog: Catalog, incident: Incident) -> JSON:
    """A ``TaskList``; ``progress`` counts as to-do."""
    done = sum(1 for item in incident.tasks if item.status == "done")
    return {
        "tasks": [task(catalog, item) for item in incident.tasks],
        "todoCount": len(incident.tasks) - done,
        "doneCount": done,
    }


def _placeholder_roles(catalog: Catalog, incident: Incident) -> set[int]:
    held = {item.role_id for item in incident.assignments}
    wanted = {r.role_id for r in catalog.roles.values() if r.name in PLACEHOLDER_ROLE_NAMES and not r.archived}
    return wanted - held


def assignments(catalog: Catalog, incident: Incident) -> list[JSON]:
    """Full ``Assignment`` list in role order, with a placeholder slot per unfilled important role."""
    empty = _placeholder_roles(catalog, incident)
    result: list[JSON] = []
    for role_id in sorted(catalog.roles):
        for item in incident.assignments:
            if item.role_id == role_id:
                result.append(assignment(catalog, item))
        if role_id in empty:
            result.append({"user": user_preview(catalog, ""), "role": role(None), "roleID": 0})
    return result


def assignment(catalog: Catalog, record: Assignment) -> JSON:
    """One filled ``Assignment``."""
    return {
        "user": user_preview(catalog, record.user_id),
        "role": role(catalog.roles.get(record.role_id)),
        "roleID": record.role_id,
    }


def membership_counts(incident: Incident) -> tuple[int, int]:
    """(totalAssignments, totalParticipants): filled assignments, and distinct people among them."""
    return len(incident.assignments), len({item.user_id for item in incident.assignments})


def membership(catalog: Catalog, incident: Incident) -> JSON:
    """``IncidentMembership``; ``totalAssignments`` leaves the placeholder slots out
    (docs/api.md#roles-and-placeholder-slots)."""
    total, people = membership_counts(incident)
    return {
        "assignments": assignments(catalog, incident),
        "totalAssignments": total,
        "totalParticipants": people,
    }


def membership_preview(catalog: Catalog, incident: Incident) -> JSON:
    """``IncidentMembershipPreview``: the important roles' holders and the totals."""
    total, people = membership_counts(incident)
    important = [
        {"user": user_preview(catalog, item.user_id), "roleID": item.role_id}
        for item in incident.assignments
        if (r := catalog.roles.get(item.role_id)) is not None and r.important
    ]
    return {"importantAssignments": important, "totalAssignments": total, "totalParticipants": people}


def duration_seconds(incident: Incident, now_ns: int) -> int:
    """end - start in whole seconds (Go truncates toward zero); open incidents run until now."""
    start = incident.start_ns if incident.start_ns is not None else incident.created_ns
    end = incident.end_ns if incident.end_ns is not None else incident.closed_ns
    if end is None:
        end = now_ns
    return int((end - start) / NS_PER_SECOND)


def overview_url(incident: Incident) -> str:
    """The relative overview link, ``/a/grafana-irm-app/incidents/<id>/<slug>``
    (docs/api.md#base-url-and-plugin-ids)."""
    return f"/a/{PLUGIN_PATH_ID}/incidents/{incident.incident_id}/{incident.slug}"


def incident(catalog: Catalog, record: Incident, now_ns: int) -> JSON:
    """The full ``Incident`` record; ``now_ns`` is used for open incidents' ``durationSeconds``."""
    sev = catalog.severities.get(record.severity_id)
    return {
        "incidentID": record.incident_id,
        "refs": [ref(item) for item in record.refs],
        "severity": sev.label if sev is not None else "",
        "labels": [label(item) for item in record.labels],
        "isDrill": record.is_drill,
        "incidentType": record.incident_type,
        "createdTime": format_time(record.created_ns),
        "modifiedTime": format_time(record.modified_ns),
        "createdByUser": user_preview(catalog, record.created_by),
        "closedTime": format_time(record.closed_ns),
        "durationSeconds": duration_seconds(record, now_ns),
        "status": record.status,
        "title": record.title,
        "overviewURL": overview_url(record),
        "incidentMembership": membership(catalog, record),
        "taskList": task_list(catalog, record),
        "summary": record.summary,
        "incidentStart": format_time(record.start_ns),
        "incidentEnd": format_time(record.end_ns),
        "incidentChannels": [channel(item) for item in record.channels],
    }


def zero_incident() -> JSON:
    """The zero-value ``Incident`` that ``GetIncident`` returns for an unknown ID (docs/api.md#unknown-incident-ids)."""
    return {
        "incidentID": "",
        "refs": [],
        "severity": "",
        "labels": [],
        "isDrill": False,
        "incidentType": "",
        "createdTime": "",
        "modifiedTime": "",
        "createdByUser": {"userID": "", "name": "", "photoURL": ""},
        "closedTime": "",
        "durationSeconds": 0,
        "status": "",
        "title": "",
        "overviewURL": "",
        "incidentMembership": {"assignments": [], "totalAssignments": 0, "totalParticipants": 0},
        "taskList": {"tasks": [], "todoCount": 0, "doneCount": 0},
        "summary": "",
        "incidentStart": "",
        "incidentEnd": "",
        "incidentChannels": [],
    }


def incident_preview(
    catalog: Catalog,
    record: Incident,
    *,
    field_values: bool = False,
    membership: bool = False,
    channels: bool = False,
) -> JSON:
    """An ``IncidentPreview``; the three optional parts are present only when asked for
    (docs/api.md#listing-incidents)."""
    sev = catalog.severities.get(record.severity_id)
    result: JSON = {
        "incidentID": record.incident_id,
        "severityID": record.severity_id,
        "severityLabel": sev.label if sev is not None else "",
        "incidentType": record.incident_type,
        "labels": [label(item) for item in record.labels],
        "isDrill": record.is_drill,
        "createdTime": format_time(record.created_ns),
        "modifiedTime": format_time(record.modified_ns),
        "closedTime": format_time(record.closed_ns),
        "createdByUser": user_preview(catalog, record.created_by),
        "title": record.title,
        "description": record.description,
        "summary": record.summary,
        "status": record.status,
        "slug": record.slug,
        "incidentStart": format_time(record.start_ns),
        "incidentEnd": format_time(record.end_ns),
        "version": record.version,
    }
    if field_values:
        result["fieldValues"] = [
            {"fieldUUID": catalog.label_fields[item.key].uuid, "value": item.text}
            for item in record.labels
            if item.key in catalog.label_fields
        ] + [{"fieldUUID": uuid, "value": value} for uuid, value in record.field_values.items()]
    if membership:
        result["incidentMembershipPreview"] = membership_preview(catalog, record)
    if channels:
        result["incidentChannels"] = [channel(item) for item in record.channels]
    return result


def activity_item(catalog: Catalog, record: ActivityItem) -> JSON:
    """An ``ActivityItem``."""
    return {
        "activityItemID": record.item_id,
        "incidentID": record.incident_id,
        "user": user_preview(catalog, record.user_id),
        "subjectUser": user_preview(catalog, record.subject_user_id),
        "createdTime": format_time(record.created_ns),
        "eventTime": format_time(record.event_ns),
        "activityKind": record.kind,
        "body": record.body,
        "url": record.url,
        "tags": list(record.tags),
        "immutable": record.immutable,
        "fieldValues": dict(record.field_values),
        "attachments": [attachment(item) for item in record.attachments],
        "relevance": record.relevance,
    }


def select_option(record: LabelOption) -> JSON:
    """A ``CustomMetadataFieldSelectOption``."""
    return {
        "uuid": record.uuid,
        "value": record.value,
        "label": record.value,
        "color": record.color,
        "icon": "",
        "description": record.description,
        "source": "incident",
        "externalID": "",
    }


def label_field(record: LabelField) -> JSON:
    """A label key (or the free-form Tags field) as a ``CustomMetadataField`` of domain ``labels``."""
    return {
        "uuid": record.uuid,
        "name": record.name,
        "slug": record.key,
        "color": record.color,
        "icon": "",
        "description": record.description,
        "type": record.field_type,
        "required": record.required,
        "immutable": record.immutable or record.key == TAGS_KEY,
        "domainName": record.domain,
        "selectoptions": [select_option(option) for option in record.options],
        "source": "incident",
        "externalID": "",
        "archived": record.archived,
        "version": record.version,
    }


def ref(record: Ref) -> JSON:
    """An ``IncidentRef``."""
    return {"key": record.key, "ref": record.ref, "url": record.url}


def channel(record: Channel) -> JSON:
    """An ``IncidentChannel``."""
    return {"provider": record.provider, "channelID": record.channel_id, "teamID": record.team_id}


def attachment(record: Attachment) -> JSON:
    """An ``Attachment`` of a timeline item."""
    return {
        "attachmentID": record.attachment_id,
        "attachedByUserID": record.attached_by,
        "sourceURL": record.source_url,
        "useSourceURL": True,
        "path": "",
        "uploadTime": format_time(record.upload_ns),
        "deletedTime": "",
        "contentType": record.content_type,
        "fileType": record.file_type,
        "ext": record.ext,
        "contentLength": record.content_length,
        "displayType": record.display_type,
        "downloadURL": record.source_url,
        "hasThumbnail": False,
        "thumbnailURL": "",
        "sHA512": "",
        "attachmentErr": "",
    }


def key_update(catalog: Catalog, record: KeyUpdate) -> JSON:
    """A ``KeyUpdate``; ``title`` and ``color`` are null when unset (Go pointers)."""
    return {
        "id": record.key_update_id,
        "orgID": "1",
        "incidentID": record.incident_id,
        "title": record.title,
        "content": record.content,
        "contentType": record.content_type,
        "createdTime": format_time(record.created_ns),
        "modifiedTime": format_time(record.modified_ns),
        "createdBy": user_preview(catalog, record.created_by),
        "lastModifiedBy": user_preview(catalog, record.modified_by),
        "statusID": record.status_id,
        "severityID": record.severity_id,
        "scope": record.scope,
        "color": record.color,
    }


def org_status(record: OrgStatus) -> JSON:
    """A ``Status`` of StatusService; ``kind`` (deprecated) mirrors ``category``."""
    return {
        "statusID": record.status_id,
        "incidentType": record.incident_type,
        "name": record.name,
        "description": record.description,
        "category": record.category,
        "kind": record.category,
        "color": record.color,
        "icon": record.icon,
        "slug": record.slug,
        "position": record.position,
        "archivedTime": format_time(record.archived_ns),
        "immutable": record.immutable,
        "createdTime": format_time(record.created_ns),
        "modifiedTime": format_time(record.modified_ns),
    }


def enabled_hook(record: EnabledHook) -> JSON:
    """An ``EnabledHook``."""
    return {
        "integrationID": record.integration_id,
        "enabledHookID": record.enabled_hook_id,
        "eventName": record.event_name,
        "hook": {"hookID": record.hook_id, "name": record.hook_id, "description": ""},
        "incidentFilter": record.incident_filter,
        "sensitive": record.sensitive,
    }


def hook_run(record: HookRun) -> JSON:
    """A ``HookRun``."""
    when = format_time(record.run_ns)
    return {
        "integrationID": record.integration_id,
        "hookID": record.hook_id,
        "enabledHookID": record.enabled_hook_id,
        "lastRun": when,
        "lastUpdate": when,
        "metadata": {"title": record.title, "explanation": record.explanation, "url": record.url},
        "eventName": record.event_name,
        "eventKind": record.event_kind,
        "updateStatus": record.status,
        "updateError": "",
        "status": record.status,
    }
