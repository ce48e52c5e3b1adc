"""Org-wide writes: custom fields and their options, roles, custom statuses and integration hooks.

:class:`OrgWrites` is mixed into :class:`~incident_analytics.emulator.state.State`; it changes the
catalogue, and the incidents where a catalogue change reaches them (renaming a label value renames
it on every incident carrying it; deleting a field or option removes its values). Those incidents
get a new ``version`` and ``modifiedTime`` but no timeline item: an admin's change to the catalogue
is not an event of the incident.
"""

from __future__ import annotations

import random
from typing import TYPE_CHECKING, Any

from incident_analytics.emulator.model import TAGS_KEY, EnabledHook, LabelField, LabelOption, OrgStatus, Role
from incident_analytics.emulator.request import BadRequest, NotFound
from incident_analytics.emulator.world import make_uuid

if TYPE_CHECKING:
    from incident_analytics.emulator.model import Catalog, Incident
    from incident_analytics.emulator.times import WriteClock

FIELD_TYPES = ("string", "single-select", "multi-select", "bool", "number", "date")
DOMAINS = ("labels", "incident")
STATUS_CATEGORIES = ("active", "resolved")
STATUS_ICONS = ("clock", "info-circle", "exclamation-circle", "question-circle", "check-circle")
INCIDENT_TYPES = ("internal", "private")
HOOK_EVENTS = (
    "incidentCreated",
    "incidentDeleted",
    "incidentUpdated",
    "incidentClosed",
    "manuallyTriggered",
    "incidentFilter",
)
BUILTIN_ROLES = ("commander", "investigator", "observer")
# (name, description, category, icon, color, immutable): the default status configuration. [INF]
DEFAULT_STATUSES = (
    ("Investigating", "We are investigating the issue", "active", "clock", "#F2495C", False),
    ("Identified", "The cause has been identified", "active", "exclamation-circle", "#FF9830", False),
    ("Monitoring", "A fix is in place; we are watching", "active", "info-circle", "#FADE2A", False),
    ("Resolved", "The incident is over", "resolved", "check-circle", "#73BF69", True),
)


def default_statuses(created_ns: int) -> dict[str, OrgStatus]:
    """The default statuses of both incident types, with IDs that depend only on their names."""
    from incident_analytics.emulator.seed import slugify

    statuses: dict[str, OrgStatus] = {}
    for incident_type in INCIDENT_TYPES:
        for position, (name, description, category, icon, color, immutable) in enumerate(DEFAULT_STATUSES, 1):
            status_id = make_uuid(random.Random(f"status-{incident_type}-{name}"))
            statuses[status_id] = OrgStatus(
                status_id,
                incident_type,
                name,
                description,
                category,
                color,
                icon,
                slugify(name),
                position,
                created_ns,
                created_ns,
                immutable,
            )
    return statuses


class OrgWrites:
    """Catalogue writes; needs the ``State`` attributes declared below."""

    catalog: Catalog
    incidents: dict[str, Incident]
    clock: WriteClock

    def new_id(self) -> str:  # provided by State
        raise NotImplementedError

    def _touch(self, incident: Incident, now: int) -> None:  # provided by State
        raise NotImplementedError

    # -- custom fields --------------------------------------------------------------------------

    def all_fields(self) -> list[LabelField]:
        """Every field: label keys, the free-form Tags field, then the incident-domain fields."""
        return [*self.catalog.label_fields.values(), self.catalog.tags_field, *self.catalog.incident_fields.values()]

    def field(self, field_uuid: str) -> LabelField:
        """A field by UUID; 400 without one, 404 for an unknown one."""
        if not field_uuid:
            raise BadRequest("fieldUUID is required")
        for item in self.all_fields():
            if item.uuid == field_uuid:
                return item
        raise NotFound(f"field {field_uuid} not found")

    def _slug_taken(self, slug: str, domain: str, other_than: LabelField | None = None) -> bool:
        fields = (
            [*self.catalog.label_fields.values(), self.catalog.tags_field]
            if domain == "labels"
            else list(self.catalog.incident_fields.values())
        )
        return any(item.key.casefold() == slug.casefold() and item is not other_than for item in fields)

    def add_field(
        self,
        *,
        name: str,
        slug: str,
        domain: str,
        field_type: str,
        description: str,
        color: str,
        icon: str,
        required: bool,
        options: list[tuple[str, str, str, str]],
    ) -> LabelField:
        """Create a field; a ``labels``-domain field is a new label key (its slug is the key)."""
        if not name.strip():
            raise BadRequest("field.name is required")
        from incident_analytics.emulator.seed import slugify

        slug = slug or slugify(name).replace("-", "_")
        if self._slug_taken(slug, domain):
            raise BadRequest(f"field.slug {slug!r} already exists in domain {domain!r}")
        created = LabelField(
            self.new_id(),
            slug,
            name,
            description,
            color,
            [
                LabelOption(uuid or self.new_id(), value, option_description, option_color)
                for uuid, value, option_description, option_color in options
            ],
            field_type=field_type,
            domain=domain,
            required=required,
            icon=icon,
        )
        if domain == "labels":
            self.catalog.label_fields[slug] = created
        else:
            self.catalog.incident_fields[created.uuid] = created
        return created

    def update_field(self, record: LabelField, version: int, changes: dict[str, Any]) -> LabelField:
        """Change a field's settings; renaming a label key's slug renames the key on every incident.

        ``version`` (when not 0) must be the field's current version: a stale update is refused.
        """
        if version and version != record.version:
            raise BadRequest(f"field {record.uuid} is at version {record.version}, not {version}; reload it and retry")
        if record.immutable or record.key == TAGS_KEY:
            raise BadRequest(f"field {record.name!r} is immutable")
        slug = changes.pop("slug", "")
        if slug and slug != record.key:
            if self._slug_taken(slug, record.domain, record):
                raise BadRequest(f"slug {slug!r} already exists in domain {record.domain!r}")
            if record.domain == "labels":
                del self.catalog.label_fields[record.key]
                self.catalog.label_fields[slug] = record
                self._relabel(lambda label: label.key == record.key, key=slug)
            record.key = slug
        options = changes.pop("options", None)
        if options:
            kept = {option.uuid: option for option in record.options}
            record.options = []
            for uuid, value, description, color in options:
                previous = kept.get(uuid)
                if previous is not None and previous.value != value and record.domain == "labels":
                    self._relabel(
                        lambda label, old=previous.value: label.key == record.key and label.text == old, text=value
                    )
                record.options.append(LabelOption(uuid or self.new_id(), value, description, color))
        for name, value in changes.items():
            setattr(record, name, value)
        record.version += 1
        return record

    def set_field_archived(self, record: LabelField, archived: bool) -> None:
        """Archive or unarchive a field (archived label keys take no new values)."""
        if record.key == TAGS_KEY:
            raise BadRequest("the Tags field cannot be archived")
        if record.archived != archived:
            record.archived = archived
            record.version += 1

    def delete_field(self, record: LabelField) -> None:
        """Delete a field and its values on every incident."""
        if record.immutable or record.key == TAGS_KEY:
            raise BadRequest(f"field {record.name!r} is immutable and cannot be deleted")
        if record.domain == "labels":
            del self.catalog.label_fields[record.key]
            self._relabel(lambda label: label.key == record.key, remove=True)
        else:
            del self.catalog.incident_fields[record.uuid]
            now = self.clock.now()
            for incident in self.incidents.values():
                if incident.field_values.pop(record.uuid, None) is not None:
                    self._touch(incident, now)

    def add_option(self, record: LabelField, value: str, description: str, color: str, label: str) -> LabelOption:
        """Add a select option; a value the field already has is refused."""
        if not (value or label):
            raise BadRequest("fieldSelectOption.value is required")
        value = value or label
        if record.option(value) is not None:
            raise BadRequest(f"field {record.name!r} already has the option {value!r}")
        option = LabelOption(self.new_id(), value, description, color)
        record.options.append(option)
        record.version += 1
        return option

    def option(self, record: LabelField, option_uuid: str) -> LabelOption:
        """A select option by UUID; 400 without one, 404 for an unknown one."""
        if not option_uuid:
            raise BadRequest("selectOptionUUID is required")
        found = record.option_by_uuid(option_uuid)
        if found is None:
            raise NotFound(f"select option {option_uuid} not found in field {record.name!r}")
        return found

    def update_option(self, record: LabelField, option: LabelOption, value: str, description: str, color: str) -> None:
        """Change an option; a new value renames that label on every incident carrying it."""
        if value and value != option.value:
            if record.option(value) is not None:
                raise BadRequest(f"field {record.name!r} already has the option {value!r}")
            old = option.value
            self._relabel(lambda label: label.key == record.key and label.text == old, text=value)
            option.value = value
        option.description, option.color = description, color
        record.version += 1

    def delete_option(self, record: LabelField, option: LabelOption) -> None:
        """Remove an option and that label from every incident."""
        record.options = [item for item in record.options if item is not option]
        record.version += 1
        self._relabel(lambda label: label.key == record.key and label.text == option.value, remove=True)

    def _relabel(self, matches: Any, *, key: str = "", text: str = "", remove: bool = False) -> None:
        now = self.clock.now()
        for incident in self.incidents.values():
            hits = [label for label in incident.labels if matches(label)]
            if not hits:
                continue
            if remove:
                incident.labels = [label for label in incident.labels if not matches(label)]
            for label in hits:
                label.key = key or label.key
                label.text = text or label.text
            self._touch(incident, now)

    # -- roles ----------------------------------------------------------------------------------

    def role(self, role_id: int) -> Role:
        """A role by ID; 400 without one, 404 for an unknown one."""
        if not role_id:
            raise BadRequest("roleID is required")
        found = self.catalog.roles.get(role_id)
        if found is None:
            raise NotFound(f"role {role_id} not found")
        return found

    def _role_name_taken(self, name: str, other_than: Role | None = None) -> bool:
        return any(r.name.casefold() == name.casefold() and r is not other_than for r in self.catalog.roles.values())

    def create_role(self, name: str, description: str, important: bool, mandatory: bool) -> Role:
        """A new org role with the next free ID."""
        if not name.strip():
            raise BadRequest("role.name is required")
        if self._role_name_taken(name):
            raise BadRequest(f"a role named {name!r} already exists")
        role_id = max(self.catalog.roles, default=0) + 1
        created = Role(role_id, name, description, important, mandatory, self.clock.now())
        self.catalog.roles[role_id] = created
        return created

    def update_role(self, record: Role, name: str, description: str, important: bool, mandatory: bool) -> Role:
        """Change a role; the built-in roles keep their names (AssignRole names them)."""
        if not name.strip():
            raise BadRequest("role.name is required")
        if record.name in BUILTIN_ROLES and name != record.name:
            raise BadRequest(f"the built-in role {record.name!r} cannot be renamed")
        if self._role_name_taken(name, record):
            raise BadRequest(f"a role named {name!r} already exists")
        record.name, record.description, record.important, record.mandatory = name, description, important, mandatory
        record.updated_ns = self.clock.now()
        return record

    def set_role_archived(self, record: Role, archived: bool) -> None:
        """Archive or unarchive a role (an archived role cannot be assigned and gets no placeholder)."""
        if record.archived != archived:
            record.archived = archived
            record.updated_ns = self.clock.now()

    def delete_role(self, record: Role) -> None:
        """Delete a custom role nobody holds; built-in or held roles are refused (archive them)."""
        if record.name in BUILTIN_ROLES:
            raise BadRequest(f"the built-in role {record.name!r} cannot be deleted; archive it instead")
        held = [
            i.incident_id for i in self.incidents.values() if any(a.role_id == record.role_id for a in i.assignments)
        ]
        if held:
            raise BadRequest(f"role {record.name!r} is held in incident {held[0]}; archive it instead")
        del self.catalog.roles[record.role_id]

    # -- statuses -------------------------------------------------------------------------------

    def org_status(self, status_id: str) -> OrgStatus:
        """A status by ID; 400 without one, 404 for an unknown one."""
        if not status_id:
            raise BadRequest("statusID is required")
        found = self.catalog.statuses.get(status_id)
        if found is None:
            raise NotFound(f"status {status_id} not found")
        return found

    def create_status(
        self, incident_type: str, name: str, description: str, category: str, color: str, icon: str
    ) -> OrgStatus:
        """A new status, placed after the type's others."""
        from incident_analytics.emulator.seed import slugify

        if not name.strip():
            raise BadRequest("name is required")
        same_type = [s for s in self.catalog.statuses.values() if s.incident_type == incident_type]
        if any(s.name.casefold() == name.casefold() for s in same_type):
            raise BadRequest(f"a status named {name!r} already exists for {incident_type} incidents")
        now = self.clock.now()
        position = max((s.position for s in same_type), default=0) + 1
        created = OrgStatus(
            self.new_id(), incident_type, name, description, category, color, icon, slugify(name), position, now, now
        )
        self.catalog.statuses[created.status_id] = created
        self.catalog.customised_types.add(incident_type)
        return created

    def update_status_definition(self, record: OrgStatus, changes: dict[str, str]) -> OrgStatus:
        """Change a status; immutable ones (Resolved) keep their name and category."""
        from incident_analytics.emulator.seed import slugify

        if record.immutable and (changes["name"] != record.name or changes["category"] != record.category):
            raise BadRequest(f"status {record.name!r} is immutable: its name and category cannot change")
        if not changes["name"].strip():
            raise BadRequest("name is required")
        for name, value in changes.items():
            setattr(record, name, value)
        record.slug = slugify(record.name)
        record.modified_ns = self.clock.now()
        self.catalog.customised_types.add(record.incident_type)
        return record

    # -- integration hooks ----------------------------------------------------------------------

    def enable_hook(
        self,
        integration_id: str,
        hook_id: str,
        event_name: str,
        incident_filter: str,
        sensitive: bool,
        config: list[dict[str, Any]],
    ) -> EnabledHook:
        """Switch a hook on for an event; it then runs on matching incidents' writes."""
        hook = EnabledHook(integration_id, self.new_id(), hook_id, event_name, incident_filter, sensitive, config)
        self.catalog.hooks[hook.enabled_hook_id] = hook
        return hook

    def disable_hook(self, integration_id: str, enabled_hook_id: str) -> None:
        """Switch a hook off; 404 when no such hook is enabled for that integration."""
        hook = self.catalog.hooks.get(enabled_hook_id)
        if hook is None or (integration_id and hook.integration_id != integration_id):
            raise NotFound(f"enabled hook {enabled_hook_id} not found")
        del self.catalog.hooks[enabled_hook_id]
