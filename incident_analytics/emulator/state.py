"""The emulator's in-memory model and every write the API can make to it.

All access goes through one re-entrant lock (:attr:`State.lock`); the HTTP handlers hold it for
a whole RPC, so each call sees and leaves a consistent state. Writes stamp ``modifiedTime`` with
the write clock (wall clock, strictly increasing µs), bump ``version`` and append the timeline
items the service would. A write that changes nothing (same status, label already there …)
leaves the incident untouched: no new version, no activity.
"""

from __future__ import annotations

import threading
import uuid
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
    Catalog,
    Incident,
    Label,
    LabelField,
    LabelOption,
    Task,
)
from incident_analytics.emulator.query import Node, Subject
from incident_analytics.emulator.request import BadRequest, NotFound
from incident_analytics.emulator.seed import DEFAULT_ANCHOR, generate, slugify, system_tasks
from incident_analytics.emulator.times import WriteClock, truncate_seconds, truncate_us

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


class State:
    """Catalogue, incidents and their histories, with thread-safe reads and writes.

    Attributes:
        catalog: users, roles, severities, label fields.
        incidents: incident ID → :class:`~incident_analytics.emulator.model.Incident`, in ID order.
        notes: incident ID → description of a deliberate data-quality oddity in the seeded data.
        anchor_ns: the seeded data's "now" in nanoseconds.
        lock: hold it to read several things consistently while the server runs.
    """

    def __init__(self, seed: int = 0, incidents: int = 300, *, now: datetime | None = None) -> None:
        data = generate(seed, incidents, now or DEFAULT_ANCHOR)
        self.catalog: Catalog = data.catalog
        self.incidents: dict[str, Incident] = {item.incident_id: item for item in data.incidents}
        self.notes: dict[str, str] = data.notes
        self.anchor_ns: int = data.anchor_ns
        self.clock = WriteClock(floor_ns=data.anchor_ns)
        self.lock = threading.RLock()
        self._seq = max((a.seq for i in data.incidents for a in i.activity), default=0)
        self._subjects: dict[str, tuple[int, Subject]] = {}

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
            item_id=str(uuid.uuid4()),
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
        return item

    def _touch(self, incident: Incident, now: int) -> None:
        # The write clock gives every write its own later µs, so modifiedTime strictly increases.
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
            start_ns=truncate_seconds(created),  # whole seconds, as live (FACTS.md §6 DL fixture)
            end_ns=None,
            tasks=system_tasks(created),
            version=0,
        )
        for text in labels:
            if text and all(label.text != text for label in incident.labels if label.is_tag):
                incident.labels.append(self._tag_label(text))
        self.incidents[incident_id] = incident
        self._record(incident, "incidentCreated", now, f"Incident declared: {title}")
        if self.catalog.severities[severity_id].label != "Pending":
            self._system_task(incident, SYSTEM_TASK_SEVERITY, "done", created)
        if initial_status_update:
            note = self._record(incident, "userNote", now, initial_status_update)
            note.immutable, note.relevance = False, "normal"
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
            # Reopening clears both; FACTS.md §6 marks the live behaviour unknown.
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
            option = LabelOption(str(uuid.uuid4()), text)
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
            field = LabelField(str(uuid.uuid4()), key, key, description, color)
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
            field.options.append(LabelOption(str(uuid.uuid4()), value, description, color))
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
        task = Task(str(uuid.uuid4()), text, "todo", False, now, now, self.catalog.api_user_id, assign_to or None)
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
