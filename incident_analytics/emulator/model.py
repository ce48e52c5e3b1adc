"""The emulator's in-memory records: plain mutable dataclasses, no behaviour.

Times are ``int`` nanoseconds since the epoch (``None`` = unset, rendered as ``""``); see
:mod:`incident_analytics.emulator.times`. Users, roles and severities are referenced by ID and
resolved through the :class:`Catalog` when rendering, the way the service joins them.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

TAGS_KEY = "tags"
"""The key free-form (legacy Tags) labels carry on the wire (docs/api.md#free-form-labels)."""

SYSTEM_TASK_COMMANDER = "assign-role-commander"
SYSTEM_TASK_INVESTIGATOR = "assign-role-investigator"
SYSTEM_TASK_SEVERITY = "must-choose-severity"


@dataclass(slots=True)
class User:
    """A person (or the API's service account) known to the incident app."""

    user_id: str
    name: str
    email: str
    photo_url: str
    internal_user_id: str
    grafana_user_id: str
    grafana_login: str
    modified_ns: int


@dataclass(slots=True)
class Role:
    """An incident role of the org (``commander``, ``investigator``, ``observer``)."""

    role_id: int
    name: str
    description: str
    important: bool
    mandatory: bool
    created_ns: int
    org_id: str = "1"
    archived: bool = False
    updated_ns: int | None = None


@dataclass(slots=True)
class Severity:
    """An org severity level; ``label`` is what ``Incident.severity`` carries."""

    severity_id: str
    label: str
    level: int
    color: str


@dataclass(slots=True)
class LabelOption:
    """One allowed value of a label key (a select option of a ``labels``-domain field)."""

    uuid: str
    value: str
    description: str = ""
    color: str = ""


@dataclass(slots=True)
class LabelField:
    """A custom metadata field; label keys are the ``labels``-domain ones, ``key`` being their slug."""

    uuid: str
    key: str
    name: str
    description: str
    color: str
    options: list[LabelOption] = field(default_factory=list)
    version: int = 1
    field_type: str = "multi-select"
    domain: str = "labels"
    required: bool = False
    immutable: bool = False
    archived: bool = False
    icon: str = ""

    def option(self, value: str) -> LabelOption | None:
        """The option whose value equals ``value`` (exact match), if any."""
        for opt in self.options:
            if opt.value == value:
                return opt
        return None

    def option_by_uuid(self, uuid: str) -> LabelOption | None:
        """The option with this UUID, if any."""
        for opt in self.options:
            if opt.uuid == uuid:
                return opt
        return None


@dataclass(slots=True)
class Label:
    """A label on an incident: ``key == "tags"`` for free-form labels, else a keyed label."""

    key: str
    text: str
    description: str = ""
    color_hex: str = ""

    @property
    def is_tag(self) -> bool:
        """Whether this is a free-form (Tags) label rather than a keyed one."""
        return self.key == TAGS_KEY


@dataclass(slots=True)
class Task:
    """A task on an incident's checklist; system tasks are immutable and have no author."""

    task_id: str
    text: str
    status: str
    immutable: bool
    created_ns: int
    modified_ns: int
    author_id: str | None
    assigned_id: str | None = None


@dataclass(slots=True)
class Assignment:
    """A user holding a role on an incident."""

    user_id: str
    role_id: int


@dataclass(slots=True)
class Attachment:
    """A file or link attached to a timeline item (``attachURL`` of CreateIncident, a screenshot …)."""

    attachment_id: str
    attached_by: str
    source_url: str
    upload_ns: int
    content_type: str
    file_type: str
    ext: str
    content_length: int = 0
    display_type: str = "list"


def uuid_text(bits: int) -> str:
    """A 128-bit number as a version-4-shaped UUID string."""
    h = f"{bits:032x}"
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{_VARIANT[h[16]]}{h[17:20]}-{h[20:]}"


_VARIANT = {digit: "89ab"[int(digit, 16) & 3] for digit in "0123456789abcdef"}


@dataclass(slots=True)
class ActivityItem:
    """One entry of an incident's timeline.

    ``uid`` is the item's ID as a number; :attr:`item_id` is its UUID text, made when asked for
    (a seeded org has hundreds of thousands of items, most never rendered).
    """

    uid: int
    incident_id: str
    kind: str
    user_id: str
    created_ns: int
    event_ns: int
    body: str
    seq: int
    subject_user_id: str = ""
    url: str = ""
    tags: list[str] = field(default_factory=list)
    immutable: bool = True
    field_values: dict[str, Any] = field(default_factory=dict)
    relevance: str = "automatic"
    attachments: list[Attachment] = field(default_factory=list)

    @property
    def item_id(self) -> str:
        """The ``activityItemID``."""
        return uuid_text(self.uid)


@dataclass(slots=True)
class KeyUpdate:
    """A key (status) update posted on an incident: the summary stakeholders read."""

    key_update_id: str
    incident_id: str
    title: str | None
    content: str
    content_type: str
    created_ns: int
    modified_ns: int
    created_by: str
    modified_by: str
    status_id: str = ""
    severity_id: str = ""
    scope: str = "internal"
    color: str | None = None


@dataclass(slots=True)
class Channel:
    """A chat channel of an incident (``IncidentChannel``)."""

    provider: str
    channel_id: str
    team_id: str
    name: str = ""


@dataclass(slots=True)
class Ref:
    """A reference from an incident to something outside it (``IncidentRef``)."""

    key: str
    ref: str
    url: str


@dataclass(slots=True)
class HookRun:
    """One run of an enabled integration hook on an incident."""

    integration_id: str
    hook_id: str
    enabled_hook_id: str
    run_ns: int
    event_name: str
    event_kind: str
    title: str
    explanation: str
    url: str
    status: str = "success"


@dataclass(slots=True)
class Incident:
    """An incident with everything the API can return about it."""

    incident_id: str
    title: str
    slug: str
    description: str
    summary: str
    status: str
    severity_id: str
    is_drill: bool
    incident_type: str
    created_ns: int
    modified_ns: int
    created_by: str
    closed_ns: int | None
    start_ns: int | None
    end_ns: int | None
    labels: list[Label] = field(default_factory=list)
    assignments: list[Assignment] = field(default_factory=list)
    tasks: list[Task] = field(default_factory=list)
    _activity: list[ActivityItem] = field(default_factory=list)
    """The activity items; read and write them through :attr:`activity`."""
    version: int = 1
    key_updates: list[KeyUpdate] = field(default_factory=list)
    channels: list[Channel] = field(default_factory=list)
    refs: list[Ref] = field(default_factory=list)
    hook_runs: list[HookRun] = field(default_factory=list)
    field_values: dict[str, str] = field(default_factory=dict)
    _activity_draft: Callable[[], list[ActivityItem]] | None = field(default=None, repr=False, compare=False)
    """Makes the timeline when first asked for (a seeded incident's items are drawn, not yet made)."""

    @property
    def number(self) -> int:
        """The numeric value of ``incident_id``, used to break ordering ties."""
        return int(self.incident_id)

    @property
    def activity(self) -> list[ActivityItem]:
        """The timeline, in order; a seeded incident's records are made when first read."""
        if self._activity_draft is not None:
            self._make_timeline()
        return self._activity

    @activity.setter
    def activity(self, items: list[ActivityItem]) -> None:
        self._activity = items
        self._activity_draft = None

    def _make_timeline(self) -> None:
        with _DRAFTS_LOCK:  # two threads may ask at once: make it once, so no append is lost
            draft = self._activity_draft
            if draft is None:
                return
            collecting = gc.isenabled()
            gc.disable()
            try:
                self._activity = draft()
                self._activity_draft = None
                # The new records live as long as the world: file them with the old generation at once
                # (freeze + unfreeze, two list splices), as generation does. Left to age through the young
                # generations they trigger full collections: reading all 20,000 timelines of the large
                # world took 4.7 s that way, against 0.4 s like this.
                if gc.get_freeze_count() == 0:  # never undo a freeze someone else made (seed.py does the same)
                    gc.freeze()
                    gc.unfreeze()
            finally:
                if collecting:
                    gc.enable()


_DRAFTS_LOCK = threading.Lock()


@dataclass(slots=True)
class OrgStatus:
    """A custom incident status of the org (StatusService), in the ``active`` or ``resolved`` category."""

    status_id: str
    incident_type: str
    name: str
    description: str
    category: str
    color: str
    icon: str
    slug: str
    position: int
    created_ns: int
    modified_ns: int
    immutable: bool = False
    archived_ns: int | None = None


@dataclass(slots=True)
class EnabledHook:
    """An integration hook switched on for an event (IntegrationService.EnableHook)."""

    integration_id: str
    enabled_hook_id: str
    hook_id: str
    event_name: str
    incident_filter: str
    sensitive: bool
    config: list[dict[str, Any]] = field(default_factory=list)


@dataclass(slots=True)
class Catalog:
    """Org-wide reference data: users, roles, severities, custom fields, statuses and hooks.

    ``label_fields`` are the ``labels``-domain fields by key; ``incident_fields`` the
    ``incident``-domain ones by UUID.
    """

    users: dict[str, User]
    roles: dict[int, Role]
    severities: dict[str, Severity]
    label_fields: dict[str, LabelField]
    tags_field: LabelField
    api_user_id: str
    incident_fields: dict[str, LabelField] = field(default_factory=dict)
    statuses: dict[str, OrgStatus] = field(default_factory=dict)
    hooks: dict[str, EnabledHook] = field(default_factory=dict)
    customised_types: set[str] = field(default_factory=set)

    def role_by_name(self, name: str) -> Role | None:
        """The role with this name (``commander`` …), if the org has it."""
        for role in self.roles.values():
            if role.name == name:
                return role
        return None

    def severity_by_label(self, label: str) -> Severity | None:
        """The severity whose label or ID equals ``label`` (label compared case-insensitively)."""
        folded = label.casefold()
        for severity in self.severities.values():
            if severity.label.casefold() == folded or severity.severity_id == label:
                return severity
        return None
