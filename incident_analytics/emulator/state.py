"""The emulator's in-memory model and every write the API can make to it.

All access goes through one re-entrant lock (:attr:`State.lock`); the HTTP handlers hold it for
a whole RPC, so each call sees and leaves a consistent state. Writes stamp ``modifiedTime`` with
the write clock (wall clock, strictly increasing µs), bump ``version`` and append the timeline
items the service would. A write that changes nothing (same status, label already there …)
leaves the incident untouched: no new version, no activity.
"""

from __future__ import annotations

import gc
import random
import threading
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

from incident_analytics.emulator import render
from incident_analytics.emulator.model import (
    SYSTEM_TASK_COMMANDER,
    SYSTEM_TASK_INVESTIGATOR,
    SYSTEM_TASK_SEVERITY,
    TAGS_KEY,
    ActivityItem,
    Assignment,
    Attachment,
    Catalog,
    Channel,
    HookRun,
    Incident,
    KeyUpdate,
    Label,
    LabelField,
    LabelOption,
    Ref,
    Task,
)
from incident_analytics.emulator.org import OrgWrites, default_statuses
from incident_analytics.emulator.query import Node, QuerySyntaxError, Subject, parse
from incident_analytics.emulator.request import BadRequest, NotFound
from incident_analytics.emulator.seed import DEFAULT_ANCHOR, generate, slugify, system_tasks
from incident_analytics.emulator.times import NS_PER_SECOND, WriteClock, truncate_seconds, truncate_us
from incident_analytics.emulator.world import SLACK_TEAM_ID, make_uuid

JSON = dict[str, Any]
SortKey = tuple[Any, ...]

ORDER_FIELDS = (
    "incidentID",
    "createdTime",
    "modifiedTime",
    "title",
    "status",
    "severity",
    "prefix",
    "isDrill",
    "incidentStart",
    "incidentEnd",
    "closedTime",
)
"""``IncidentPreviewsQueryOrderField`` values (contract.json)."""

TASK_STATUSES = ("todo", "progress", "done")
STATUSES = ("active", "resolved")
ROLE_NAMES = ("commander", "investigator", "observer")
SYSTEM_ROLE_TASKS = {"commander": SYSTEM_TASK_COMMANDER, "investigator": SYSTEM_TASK_INVESTIGATOR}


class State(OrgWrites):
    """Catalogue, incidents and their histories, with thread-safe reads and writes.

    Attributes:
        catalog: users, roles, severities, label fields.
        incidents: incident ID → :class:`~incident_analytics.emulator.model.Incident`, in ID order.
        notes: incident ID → description of a deliberate data-quality oddity in the seeded data.
        planted: planted effect → IDs of the seeded incidents carrying it (see :mod:`.seed`).
        teams: incident ID → the team owning a seeded incident.
        anchor_ns: the seeded data's "now" in nanoseconds.
        lock: hold it to read several things consistently while the server runs.
    """

    def __init__(
        self, seed: int = 0, incidents: int = 300, *, now: datetime | None = None, fixed_clock: bool = False
    ) -> None:
        # Generation allocates hundreds of thousands of small records and frees none of them: the cyclic
        # collector would rescan them again and again for nothing (about 15% of the time at 20,000).
        collecting = gc.isenabled()
        gc.disable()
        try:
            data = generate(seed, incidents, now or DEFAULT_ANCHOR)
        finally:
            if collecting:
                gc.enable()
        self.catalog: Catalog = data.catalog
        self.incidents: dict[str, Incident] = {item.incident_id: item for item in data.incidents}
        self.notes: dict[str, str] = data.notes
        self.planted: dict[str, list[str]] = data.planted
        self.teams: dict[str, str] = data.teams
        self.seed = seed
        self.catalog.statuses = default_statuses(min(r.created_ns for r in self.catalog.roles.values()))
        self.anchor_ns: int = data.anchor_ns
        # A fixed clock starts an hour after the anchor and moves one second per write.
        self.clock = (
            WriteClock(floor_ns=data.anchor_ns + 3600 * NS_PER_SECOND, step_ns=NS_PER_SECOND)
            if fixed_clock
            else WriteClock(floor_ns=data.anchor_ns)
        )
        # New IDs (incidents' items, tasks, fields …) come from a seeded generator, so the same
        # session of writes gives the same IDs.
        self._ids = random.Random(f"emulator-writes-{seed}")
        self.lock = threading.RLock()
        self._seq = data.last_seq
        self._subjects: dict[str, tuple[int, Subject]] = {}
        # Stamps of the encoded-answer caches (wire.py, Api.selection): ``changes`` moves on every
        # write, ``catalog_version`` on every write that may change how any incident renders.
        self.changes = 0
        self.catalog_version = 0

    def note_write(self, *, incident_only: bool) -> None:
        """Record that a write RPC ran; ``incident_only``: it changed nothing but the incident it names."""
        self.changes += 1
        if not incident_only:
            self.catalog_version += 1

    def new_id(self) -> str:
        """A fresh UUID for a record created by a write (deterministic per seed)."""
        return make_uuid(self._ids)

    # -- reading ----------------------------------------------------------------------------------

    def get(self, incident_id: str) -> Incident | None:
        """The incident with this ID, or None."""
        return self.incidents.get(incident_id)

    def require(self, incident_id: str) -> Incident:
        """The incident a write names; 400 without an ID, 404 for an unknown one."""
        if not incident_id:
            raise BadRequest("incidentID is required")
        found = self.incidents.get(incident_id)
        if found is None:
            raise NotFound(f"incident {incident_id} not found")
        return found

    def render_incident(self, incident_id: str) -> JSON:
        """The wire ``Incident`` dict, or the zero incident for an unknown ID (as ``GetIncident``)."""
        with self.lock:
            found = self.incidents.get(incident_id)
            if found is None:
                return render.zero_incident()
            return render.incident(self.catalog, found, self.clock.peek())

    def render_preview(
        self,
        incident_id: str,
        *,
        field_values: bool = False,
        membership: bool = False,
        channels: bool = False,
    ) -> JSON:
        """The wire ``IncidentPreview`` dict of a known incident."""
        with self.lock:
            return render.incident_preview(
                self.catalog,
                self.incidents[incident_id],
                field_values=field_values,
                membership=membership,
                channels=channels,
            )

    def severity_label(self, incident: Incident) -> str:
        """The label of an incident's severity (``"Major"`` …)."""
        severity = self.catalog.severities.get(incident.severity_id)
        return severity.label if severity is not None else ""

    def subject(self, incident: Incident) -> Subject:
        """What the query language sees of an incident (cached per version)."""
        cached = self._subjects.get(incident.incident_id)
        if cached is not None and cached[0] == incident.version:
            return cached[1]
        subject = Subject(
            is_drill=incident.is_drill,
            status=incident.status,
            severity=self.severity_label(incident).casefold(),
            tags=frozenset(label.text.casefold() for label in incident.labels if label.is_tag),
            keyed=frozenset(
                (label.key.casefold(), label.text.casefold()) for label in incident.labels if not label.is_tag
            ),
            declared=incident.created_ns,
            started=incident.start_ns,
            resolved=incident.closed_ns,
            ended=incident.end_ns,
        )
        self._subjects[incident.incident_id] = (incident.version, subject)
        return subject

    def select(self, node: Node, extra: Callable[[Incident], bool] | None = None) -> list[Incident]:
        """Incidents matching a parsed query (and an optional extra predicate), in ID order."""
        return [
            item
            for item in self.incidents.values()
            if node.matches(self.subject(item)) and (extra is None or extra(item))
        ]

    def order_key(self, field: str) -> Callable[[Incident], SortKey]:
        """The ascending sort key for an ``orderField``; ties are broken by numeric incident ID.

        Unset times sort before every set time (ascending). Severity sorts by level, title and
        status by their text, the drill flag false before true. Incidents carry no prefix here, so
        ``prefix`` orders by ID alone.
        """
        if field == "incidentID":
            return lambda i: (i.number,)
        if field in ("createdTime", "modifiedTime"):
            attr = "created_ns" if field == "createdTime" else "modified_ns"
            return lambda i: (getattr(i, attr), i.number)
        if field in ("incidentStart", "incidentEnd", "closedTime"):
            attr = {"incidentStart": "start_ns", "incidentEnd": "end_ns", "closedTime": "closed_ns"}[field]

            def by_time(i: Incident) -> SortKey:
                value = getattr(i, attr)
                return (0, 0, i.number) if value is None else (1, value, i.number)

            return by_time
        if field == "title":
            return lambda i: (i.title, i.number)
        if field == "status":
            return lambda i: (i.status, i.number)
        if field == "severity":
            levels = {s.severity_id: s.level for s in self.catalog.severities.values()}
            return lambda i: (levels.get(i.severity_id, 0), i.number)
        if field == "isDrill":
            return lambda i: (i.is_drill, i.number)
        if field == "prefix":
            return lambda i: ("", i.number)
        raise BadRequest(f"query.orderField {field!r} is invalid; one of {', '.join(ORDER_FIELDS)}")

    # -- write helpers ----------------------------------------------------------------------------

    def _next_seq(self) -> int:
        self._seq += 1
        return self._seq

    def _record(
        self,
        incident: Incident,
        kind: str,
        now: int,
        body: str,
        *,
        subject: str = "",
        field_values: dict[str, Any] | None = None,
        event_ns: int | None = None,
    ) -> ActivityItem:
        """Append a timeline item by the API user and bump the incident's version and modifiedTime."""
        created = truncate_us(now)
        item = ActivityItem(
            uid=self._ids.getrandbits(128),
            incident_id=incident.incident_id,
            kind=kind,
            user_id=self.catalog.api_user_id,
            created_ns=created,
            event_ns=created if event_ns is None else event_ns,
            body=body,
            seq=self._next_seq(),
            subject_user_id=subject,
            field_values=dict(field_values or {}),
        )
        incident.activity.append(item)
        self._touch(incident, now)
        if kind != "hookRunMetadata" and self.catalog.hooks:
            self._run_hooks(incident, kind, created)
        return item

    def _run_hooks(self, incident: Incident, kind: str, now: int) -> None:
        """Run the enabled hooks whose event (and incident filter) this write matches."""
        event = {"incidentCreated": "incidentCreated", "incidentClosed": "incidentClosed"}.get(kind, "incidentUpdated")
        for hook in list(self.catalog.hooks.values()):
            if hook.event_name != event:
                continue
            if hook.incident_filter:
                try:
                    if not parse(hook.incident_filter).matches(self.subject(incident)):
                        continue
                except QuerySyntaxError:
                    continue
            run = HookRun(
                hook.integration_id,
                hook.hook_id,
                hook.enabled_hook_id,
                now,
                event,
                kind,
                f"{hook.hook_id} ran",
                f"{hook.hook_id} ran on {event} of incident {incident.incident_id}",
                f"https://hooks.invalid/{hook.integration_id}/{hook.enabled_hook_id}",
            )
            incident.hook_runs.append(run)
            self._record(
                incident,
                "hookRunMetadata",
                now,
                run.explanation,
                field_values={"enabledHookID": hook.enabled_hook_id, "status": run.status},
            )

    def _touch(self, incident: Incident, now: int) -> None:
        # The write clock gives every write its own later µs, so modifiedTime strictly increases.
        self.changes += 1
        incident.version += 1
        incident.modified_ns = max(truncate_us(now), incident.modified_ns)

    def _user(self, user_id: str, field: str) -> str:
        if user_id not in self.catalog.users:
            raise BadRequest(f"{field} {user_id!r} is not a known user")
        return user_id

    def _system_task(self, incident: Incident, task_id: str, status: str, now: int) -> None:
        for task in incident.tasks:
            if task.task_id == task_id and task.status != status:
                task.status, task.modified_ns = status, now

    def _severity(self, value: str, field: str) -> str:
        severity = self.catalog.severity_by_label(value)
        if severity is None:
            labels = ", ".join(s.label for s in self.catalog.severities.values())
            raise BadRequest(f"{field} {value!r} is not a severity of this org; one of {labels}")
        return severity.severity_id

    # -- incident writes --------------------------------------------------------------------------

    def create_incident(
        self,
        *,
        title: str,
        severity: str = "",
        status: str = "active",
        labels: Iterable[str] = (),
        is_drill: bool = False,
        initial_status_update: str = "",
        attach_url: str = "",
        attach_caption: str = "",
    ) -> Incident:
        """Declare an incident; ``resolved`` opens a retrospective one, closed at once."""
        if not title.strip():
            raise BadRequest("title is required")
        severity_id = self._severity(severity or "Pending", "severity")
        now = self.clock.now()
        created = truncate_us(now)
        incident_id = str(max((i.number for i in self.incidents.values()), default=0) + 1)
        incident = Incident(
            incident_id=incident_id,
            title=title,
            slug=slugify(title),
            description="",
            summary="",
            status="active",
            severity_id=severity_id,
            is_drill=is_drill,
            incident_type="internal",
            created_ns=created,
            modified_ns=created,
            created_by=self.catalog.api_user_id,
            closed_ns=None,
            start_ns=truncate_seconds(created),  # whole seconds, as live (docs/api.md#start-end-and-duration-fields)
            end_ns=None,
            tasks=system_tasks(created),
            version=0,
        )
        for text in labels:
            if text and all(label.text != text for label in incident.labels if label.is_tag):
                incident.labels.append(self._tag_label(text))
        self.incidents[incident_id] = incident
        declared = self._record(incident, "incidentCreated", now, f"Incident declared: {title}")
        if attach_url:
            declared.attachments.append(self._attachment(attach_url, now))
            if attach_caption:
                declared.field_values["attachCaption"] = attach_caption
        if self.catalog.severities[severity_id].label != "Pending":
            self._system_task(incident, SYSTEM_TASK_SEVERITY, "done", created)
        if initial_status_update:
            # The official client posts it as the first key update; the timeline shows it as a note.
            note = self._record(incident, "userNote", now, initial_status_update)
            note.immutable, note.relevance = False, "normal"
            self.create_key_update(
                incident,
                title=None,
                content=initial_status_update,
                content_type="text/plain",
                scope="internal",
                note=False,
            )
        if status == "resolved":
            self.update_status(incident, "resolved")
        return incident

    def update_status(self, incident: Incident, status: str) -> bool:
        """Set active/resolved; resolving sets closedTime (and an empty incidentEnd) to now."""
        if incident.status == status:
            return False
        now = self.clock.now()
        previous, incident.status = incident.status, status
        self._record(
            incident,
            "incidentStatusChanged",
            now,
            f"Status changed from {previous} to {status}",
            field_values={"previousStatus": previous, "status": status},
        )
        if status == "resolved":
            incident.closed_ns = truncate_us(now)
            if incident.end_ns is None:
                incident.end_ns = incident.closed_ns
            self._record(incident, "incidentClosed", now, "Incident resolved")
        else:
            # Reopening clears both; the live behaviour is unknown (docs/api.md#start-end-and-duration-fields).
            incident.closed_ns = None
            incident.end_ns = None
        return True

    def update_severity(self, incident: Incident, severity: str) -> bool:
        """Change the severity (label, any case, or severity ID)."""
        severity_id = self._severity(severity, "severity")
        if severity_id == incident.severity_id:
            return False
        now = self.clock.now()
        previous = self.severity_label(incident)
        incident.severity_id = severity_id
        label = self.severity_label(incident)
        self._record(
            incident,
            "incidentSeverityChanged",
            now,
            f"Severity changed from {previous} to {label}",
            field_values={"previousSeverity": previous, "severity": label},
        )
        done = "todo" if label == "Pending" else "done"
        self._system_task(incident, SYSTEM_TASK_SEVERITY, done, now)
        return True

    def update_title(self, incident: Incident, title: str) -> bool:
        """Rename the incident (and its slug)."""
        if not title.strip():
            raise BadRequest("title is required")
        if title == incident.title:
            return False
        now = self.clock.now()
        previous, incident.title, incident.slug = incident.title, title, slugify(title)
        self._record(
            incident,
            "incidentTitleChanged",
            now,
            f'Title changed from "{previous}" to "{title}"',
            field_values={"previousTitle": previous, "title": title},
        )
        return True

    def update_is_drill(self, incident: Incident, is_drill: bool) -> bool:
        """Mark or unmark the incident as a drill."""
        if incident.is_drill == is_drill:
            return False
        incident.is_drill = is_drill
        self._record(
            incident,
            "incidentIsDrillChanged",
            self.clock.now(),
            "Marked as a drill" if is_drill else "No longer a drill",
            field_values={"isDrill": is_drill},
        )
        return True

    def update_event_time(self, incident: Incident, event_name: str, event_ns: int) -> bool:
        """Set incidentStart or incidentEnd (``event_name``) to ``event_ns``."""
        attr = "start_ns" if event_name == "incidentStart" else "end_ns"
        if getattr(incident, attr) == event_ns:
            return False
        setattr(incident, attr, event_ns)
        what = "start" if event_name == "incidentStart" else "end"
        self._record(incident, event_name, self.clock.now(), f"Incident {what} time updated", event_ns=event_ns)
        return True

    # -- labels -----------------------------------------------------------------------------------

    def _tag_label(self, text: str) -> Label:
        option = self.catalog.tags_field.option(text)
        if option is None:  # a new free-form label joins the Tags field's options
            option = LabelOption(self.new_id(), text)
            self.catalog.tags_field.options.append(option)
            self.catalog.tags_field.version += 1
        return Label(TAGS_KEY, text, option.description, option.color)

    def label_option(self, key: str, value: str) -> tuple[LabelField, LabelOption]:
        """The catalogue entry of keyed label ``key=value``; 400 naming whichever is unknown."""
        if key == TAGS_KEY:
            raise BadRequest('key "tags" is the free-form Tags field; use AddLabel/RemoveLabel')
        field = self.catalog.label_fields.get(key)
        if field is None:
            raise BadRequest(f"label key {key!r} does not exist; add it with FieldsService.AddLabelKey")
        option = field.option(value)
        if option is None:
            raise BadRequest(f"label value {value!r} does not exist for key {key!r}")
        return field, option

    def label_option_by_uuid(self, key_uuid: str, value_uuid: str) -> tuple[LabelField, LabelOption]:
        """The catalogue entry of a keyed label named by UUIDs; 400 naming whichever is unknown."""
        for field in self.catalog.label_fields.values():
            if field.uuid == key_uuid:
                option = field.option_by_uuid(value_uuid)
                if option is None:
                    raise BadRequest(f"valueUUID {value_uuid!r} is not a value of key {field.key!r}")
                return field, option
        raise BadRequest(f"keyUUID {key_uuid!r} is not a label key")

    def add_tag(self, incident: Incident, text: str) -> bool:
        """Add a free-form label; an existing one is a no-op."""
        if any(label.is_tag and label.text == text for label in incident.labels):
            return False
        incident.labels.append(self._tag_label(text))
        self._record(
            incident,
            "labelAdded",
            self.clock.now(),
            f'Added label "{text}"',
            field_values={"key": TAGS_KEY, "label": text},
        )
        return True

    def remove_tag(self, incident: Incident, text: str) -> bool:
        """Remove a free-form label by its text; a missing one is a no-op."""
        kept = [label for label in incident.labels if not (label.is_tag and label.text == text)]
        if len(kept) == len(incident.labels):
            return False
        incident.labels = kept
        self._record(
            incident,
            "labelRemoved",
            self.clock.now(),
            f'Removed label "{text}"',
            field_values={"key": TAGS_KEY, "label": text},
        )
        return True

    def assign_label(self, incident: Incident, field: LabelField, option: LabelOption) -> bool:
        """Add keyed label ``field.key=option.value``; an existing one is a no-op."""
        if any(label.key == field.key and label.text == option.value for label in incident.labels):
            return False
        incident.labels.append(
            Label(field.key, option.value, option.description or field.description, option.color or field.color)
        )
        self._record(
            incident,
            "labelAdded",
            self.clock.now(),
            f'Added label "{field.key}:{option.value}"',
            field_values={"key": field.key, "label": option.value},
        )
        return True

    def unassign_label(self, incident: Incident, field: LabelField, option: LabelOption) -> bool:
        """Remove keyed label ``field.key=option.value``; a missing one is a no-op."""
        kept = [label for label in incident.labels if not (label.key == field.key and label.text == option.value)]
        if len(kept) == len(incident.labels):
            return False
        incident.labels = kept
        self._record(
            incident,
            "labelRemoved",
            self.clock.now(),
            f'Removed label "{field.key}:{option.value}"',
            field_values={"key": field.key, "label": option.value},
        )
        return True

    def add_label_key(self, key: str, description: str, color: str) -> LabelField:
        """Create a label key (idempotent: an existing key is returned unchanged)."""
        if not key:
            raise BadRequest("key is required")
        if key == TAGS_KEY:
            return self.catalog.tags_field
        field = self.catalog.label_fields.get(key)
        if field is None:
            field = LabelField(self.new_id(), key, key, description, color)
            self.catalog.label_fields[key] = field
        return field

    def add_label_value(self, key: str, value: str, description: str, color: str) -> LabelField:
        """Add an allowed value to a label key (idempotent for an existing value)."""
        if not value:
            raise BadRequest("value is required")
        field = self.catalog.tags_field if key == TAGS_KEY else self.catalog.label_fields.get(key)
        if field is None:
            raise BadRequest(f"label key {key!r} does not exist; add it with FieldsService.AddLabelKey")
        if field.option(value) is None:
            field.options.append(LabelOption(self.new_id(), value, description, color))
            field.version += 1
        return field

    # -- roles ------------------------------------------------------------------------------------

    def assign_role(self, incident: Incident, role_name: str, user_id: str) -> bool:
        """Give ``user_id`` the role; holding it already is a no-op. Roles may have several holders."""
        role = self.catalog.role_by_name(role_name)
        if role is None:
            raise BadRequest(f"role {role_name!r} is invalid; one of {', '.join(ROLE_NAMES)}")
        self._user(user_id, "userID")
        if any(a.user_id == user_id and a.role_id == role.role_id for a in incident.assignments):
            return False
        now = self.clock.now()
        incident.assignments.append(Assignment(user_id, role.role_id))
        name = self.catalog.users[user_id].name
        self._record(
            incident,
            "roleAssigned",
            now,
            f"{name} assigned as {role.name}",
            subject=user_id,
            field_values={"role": role.name},
        )
        if role.name in SYSTEM_ROLE_TASKS:
            self._system_task(incident, SYSTEM_ROLE_TASKS[role.name], "done", now)
        return True

    def unassign_role(self, incident: Incident, role_name: str, user_id: str) -> bool:
        """Take the role from ``user_id``; not holding it is a no-op."""
        role = self.catalog.role_by_name(role_name)
        if role is None:
            raise BadRequest(f"role {role_name!r} is invalid; one of {', '.join(ROLE_NAMES)}")
        self._user(user_id, "userID")
        kept = [a for a in incident.assignments if not (a.user_id == user_id and a.role_id == role.role_id)]
        if len(kept) == len(incident.assignments):
            return False
        now = self.clock.now()
        incident.assignments = kept
        name = self.catalog.users[user_id].name
        self._record(
            incident,
            "roleUnassigned",
            now,
            f"{name} unassigned from {role.name}",
            subject=user_id,
            field_values={"role": role.name},
        )
        if role.name in SYSTEM_ROLE_TASKS and all(a.role_id != role.role_id for a in kept):
            self._system_task(incident, SYSTEM_ROLE_TASKS[role.name], "todo", now)
        return True

    # -- tasks ------------------------------------------------------------------------------------

    def task(self, incident: Incident, task_id: str) -> Task:
        """The task a write names; 400 without an ID, 404 for an unknown one."""
        if not task_id:
            raise BadRequest("taskID is required")
        for task in incident.tasks:
            if task.task_id == task_id:
                return task
        raise NotFound(f"task {task_id} not found in incident {incident.incident_id}")

    def add_task(self, incident: Incident, text: str, assign_to: str) -> Task:
        """Add a custom (mutable) task authored by the API user."""
        if not text.strip():
            raise BadRequest("text is required")
        if assign_to:
            self._user(assign_to, "assignToUserID")
        now = self.clock.now()
        task = Task(self.new_id(), text, "todo", False, now, now, self.catalog.api_user_id, assign_to or None)
        incident.tasks.append(task)
        self._record(incident, "taskAdded", now, f'Added task "{text}"', field_values={"taskID": task.task_id})
        return task

    def update_task_status(self, incident: Incident, task: Task, status: str) -> bool:
        """Move a task between todo/progress/done (system tasks too: ticking them off is allowed)."""
        if task.status == status:
            return False
        now = self.clock.now()
        task.status, task.modified_ns = status, now
        kind = "taskCompleted" if status == "done" else "taskUpdated"
        verb = "Completed" if status == "done" else f"Moved to {status}:"
        self._record(
            incident,
            kind,
            now,
            f'{verb} task "{task.text}"',
            field_values={"taskID": task.task_id, "status": status},
        )
        return True

    def update_task_text(self, incident: Incident, task: Task, text: str) -> bool:
        """Reword a custom task; system tasks are immutable (400)."""
        if task.immutable:
            raise BadRequest(f"task {task.task_id} is a system task and cannot be edited")
        if not text.strip():
            raise BadRequest("text is required")
        if task.text == text:
            return False
        now = self.clock.now()
        task.text, task.modified_ns = text, now
        self._record(incident, "taskUpdated", now, f'Task renamed to "{text}"', field_values={"taskID": task.task_id})
        return True

    def update_task_user(self, incident: Incident, task: Task, user_id: str) -> bool:
        """Assign a task to a user; an empty ``user_id`` unassigns it."""
        if user_id:
            self._user(user_id, "userID")
        if (task.assigned_id or "") == user_id:
            return False
        now = self.clock.now()
        task.assigned_id, task.modified_ns = user_id or None, now
        self._record(
            incident,
            "taskUpdated",
            now,
            f'Task "{task.text}" assigned',
            subject=user_id,
            field_values={"taskID": task.task_id},
        )
        return True

    def delete_task(self, incident: Incident, task: Task) -> None:
        """Delete a custom task; system tasks are immutable (400)."""
        if task.immutable:
            raise BadRequest(f"task {task.task_id} is a system task and cannot be deleted")
        incident.tasks = [item for item in incident.tasks if item is not task]
        self._record(
            incident,
            "taskDeleted",
            self.clock.now(),
            f'Deleted task "{task.text}"',
            field_values={"taskID": task.task_id},
        )

    # -- key updates, channels, field values ------------------------------------------------------

    def _attachment(self, url: str, now: int) -> Attachment:
        ext = url.rsplit("/", 1)[-1].rpartition(".")[2].lower() if "." in url.rsplit("/", 1)[-1] else ""
        image = ext in ("png", "jpg", "jpeg", "gif", "webp")
        content_type = f"image/{'jpeg' if ext == 'jpg' else ext}" if image else "text/html"
        return Attachment(
            self.new_id(),
            self.catalog.api_user_id,
            url,
            now,
            content_type,
            "image" if image else "file",
            ext,
            display_type="embed" if image else "list",
        )

    def key_update(self, incident: Incident, key_update_id: str) -> KeyUpdate:
        """A key update by ID; 400 without one, 404 for an unknown one."""
        if not key_update_id:
            raise BadRequest("id is required")
        for item in incident.key_updates:
            if item.key_update_id == key_update_id:
                return item
        raise NotFound(f"key update {key_update_id} not found in incident {incident.incident_id}")

    def _apply_key_update_refs(self, incident: Incident, status_id: str, severity_id: str) -> None:
        """A key update that names a status or severity moves the incident to it."""
        if severity_id:
            if severity_id not in self.catalog.severities:
                raise BadRequest(f"severityID {severity_id!r} is not a severity of this org")
            self.update_severity(incident, severity_id)
        if status_id:
            status = self.catalog.statuses.get(status_id)
            if status is None:
                raise BadRequest(f"statusID {status_id!r} is not a status of this org")
            self.update_status(incident, status.category)

    def create_key_update(
        self,
        incident: Incident,
        *,
        title: str | None,
        content: str,
        content_type: str,
        scope: str,
        status_id: str = "",
        severity_id: str = "",
        color: str | None = None,
        note: bool = True,
    ) -> KeyUpdate:
        """Post a key update; a named status or severity is applied to the incident first."""
        if not content.strip():
            raise BadRequest("content is required")
        self._apply_key_update_refs(incident, status_id, severity_id)
        now = self.clock.now()
        user = self.catalog.api_user_id
        record = KeyUpdate(
            self.new_id(),
            incident.incident_id,
            title,
            content,
            content_type,
            truncate_us(now),
            truncate_us(now),
            user,
            user,
            status_id,
            severity_id,
            scope,
            color,
        )
        incident.key_updates.append(record)
        if note:
            item = self._record(
                incident,
                "incidentUpdated",
                now,
                f"Key update: {title or content}",
                field_values={"keyUpdateID": record.key_update_id},
            )
            item.tags.append("important")
        else:
            self._touch(incident, now)
        return record

    def update_key_update(self, incident: Incident, record: KeyUpdate, **changes: Any) -> KeyUpdate:
        """Edit a key update (content, title, scope, status, severity, colour)."""
        if not changes["content"].strip():
            raise BadRequest("content is required")
        self._apply_key_update_refs(incident, changes["status_id"], changes["severity_id"])
        for name, value in changes.items():
            setattr(record, name, value)
        now = self.clock.now()
        record.modified_ns, record.modified_by = truncate_us(now), self.catalog.api_user_id
        self._record(
            incident,
            "incidentUpdated",
            now,
            f"Key update edited: {record.title or record.content}",
            field_values={"keyUpdateID": record.key_update_id},
        )
        return record

    def delete_key_update(self, incident: Incident, record: KeyUpdate) -> None:
        """Delete a key update."""
        incident.key_updates = [item for item in incident.key_updates if item is not record]
        self._record(
            incident,
            "incidentUpdated",
            self.clock.now(),
            "Key update deleted",
            field_values={"keyUpdateID": record.key_update_id},
        )

    def create_slack_channel(self, incident: Incident, name: str) -> Channel:
        """Open the incident's Slack channel (one per incident); fills ``incidentChannels`` and ``refs``."""
        if any(item.provider == "slack" for item in incident.channels):
            raise BadRequest(f"incident {incident.incident_id} already has a Slack channel")
        name = name or f"inc-{incident.incident_id}-{incident.slug}"
        name = name.lstrip("#").lower()[:80]
        if not name or any(not (ch.isalnum() or ch in "-_") for ch in name):
            raise BadRequest(f"channelName {name!r} may hold only lower-case letters, digits, - and _")
        channel_id = "C" + self.new_id().replace("-", "")[:10].upper()
        record = Channel("slack", channel_id, SLACK_TEAM_ID, name)
        incident.channels.append(record)
        incident.refs.append(Ref("slackChannel", channel_id, f"https://slack.com/app_redirect?channel={channel_id}"))
        self._record(
            incident,
            "incidentUpdated",
            self.clock.now(),
            f"Created Slack channel #{name}",
            field_values={"channelID": channel_id},
        )
        return record

    def record_field_value(self, incident: Incident, field: LabelField, value: str) -> None:
        """Set (or with ``""`` clear) a custom field's value; on a label key it adds that label."""
        if field.archived:
            raise BadRequest(f"field {field.name!r} is archived")
        if field.domain == "labels":
            if not value:
                raise BadRequest("value is required for a label key")
            option = field.option(value) or field.option_by_uuid(value)
            if option is None:
                raise BadRequest(f"value {value!r} is not an option of label key {field.key!r}")
            if field is self.catalog.tags_field:
                self.add_tag(incident, option.value)
            else:
                self.assign_label(incident, field, option)
            return
        if field.options and value and field.option(value) is None and field.option_by_uuid(value) is None:
            raise BadRequest(f"value {value!r} is not an option of field {field.name!r}")
        if incident.field_values.get(field.uuid, "") == value:
            return
        if value:
            incident.field_values[field.uuid] = value
        else:
            incident.field_values.pop(field.uuid, None)
        self._record(
            incident,
            "incidentUpdated",
            self.clock.now(),
            f'Field "{field.name}" set to "{value}"',
            field_values={"fieldUUID": field.uuid, "value": value},
        )

    def field_values(self, incident: Incident, domain: str) -> list[tuple[LabelField, str]]:
        """The incident's custom field values: its keyed labels and its incident-domain fields."""
        result: list[tuple[LabelField, str]] = []
        if domain in ("", "labels"):
            for label in incident.labels:
                field = self.catalog.tags_field if label.is_tag else self.catalog.label_fields.get(label.key)
                if field is not None:
                    result.append((field, label.text))
        if domain in ("", "incident"):
            for uuid, value in incident.field_values.items():
                field = self.catalog.incident_fields.get(uuid)
                if field is not None:
                    result.append((field, value))
        return result

    # -- activity ---------------------------------------------------------------------------------

    def add_note(
        self, incident: Incident, body: str, *, event_ns: int | None, field_values: dict[str, Any]
    ) -> ActivityItem:
        """Add a ``userNote`` to the timeline (``eventTime`` defaults to now)."""
        item = self._record(incident, "userNote", self.clock.now(), body, event_ns=event_ns, field_values=field_values)
        item.immutable, item.relevance = False, "normal"
        return item

    def activity_item(self, incident: Incident, item_id: str) -> ActivityItem:
        """A timeline item by ID; 400 without an ID, 404 for an unknown one."""
        if not item_id:
            raise BadRequest("activityItemID is required")
        for item in incident.activity:
            if item.item_id == item_id:
                return item
        raise NotFound(f"activity item {item_id} not found in incident {incident.incident_id}")

    def edit_activity(self, incident: Incident, item: ActivityItem, **changes: Any) -> None:
        """Change a user note's ``body``, ``event_ns`` or ``relevance``; system items are immutable."""
        if item.immutable and set(changes) != {"relevance"}:
            raise BadRequest(f"activity item {item.item_id} ({item.kind}) is immutable")
        for name, value in changes.items():
            setattr(item, name, value)
        self._touch(incident, self.clock.now())

    def remove_activity(self, incident: Incident, item: ActivityItem) -> None:
        """Delete a user note from the timeline; system items are immutable."""
        if item.immutable:
            raise BadRequest(f"activity item {item.item_id} ({item.kind}) is immutable")
        incident.activity = [entry for entry in incident.activity if entry is not item]
        self._touch(incident, self.clock.now())
