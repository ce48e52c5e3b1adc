"""Deterministic, realistic seeded data: an org catalogue and ``n`` incidents with their history.

Everything comes from one ``random.Random(seed)`` and the ``anchor`` time, so the same
``(seed, n, anchor)`` always gives identical data, whatever the date the tests run.

What the data looks like:

- incidents spread over the ~14 months before the anchor, denser towards the anchor; IDs
  ``"1".."n"`` in createdTime order;
- severities Pending/Minor/Major/Critical; heavy-tailed (log-normal) impact durations whose
  median differs by severity (Critical fastest, Minor slowest; minutes to days);
- about 5% drills, about 3% private incidents, about 3% still open (at least 2 when n >= 50) with
  ``closedTime``/``incidentEnd`` unset;
- ``incidentStart`` usually the declaration time in whole seconds, sometimes minutes earlier
  (impact began before anyone declared); ``incidentEnd`` usually equal to ``closedTime``,
  sometimes earlier (impact ended, the incident was closed later);
- free-form labels and keyed labels (team, service_name, region, cause) that co-occur: a
  service belongs to a team, security issues cluster on identity, database ones on payments;
- system and custom tasks in every status, role assignments with some unfilled investigator and
  (rarely) commander slots, and 3-15 timeline items per incident consistent with its times.

Deliberate data-quality oddities (rare, listed in :attr:`SeedData.notes` by incident ID), so that
analytics code meets them in tests: one resolved incident whose ``incidentEnd`` is before its
``incidentStart`` (n >= 50) and one whose ``incidentEnd`` equals its ``incidentStart``, i.e. zero
duration (n >= 100).
"""

from __future__ import annotations

import bisect
import gc
import hashlib
import itertools
import math
import random
import re
from dataclasses import dataclass
from datetime import UTC, datetime

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
    Role,
    Severity,
    Task,
    User,
)
from incident_analytics.emulator.times import NS_PER_SECOND, to_ns, truncate_seconds, truncate_us

DEFAULT_ANCHOR = datetime(2026, 11, 1, tzinfo=UTC)
"""The default "now" of the seeded data."""

SPAN_DAYS = 426  # ~14 months
MINUTE = 60 * NS_PER_SECOND
HOUR = 60 * MINUTE
DAY = 24 * HOUR

USER_NAMES = (
    "Priya Sharma",
    "Tomás García",
    "Mei Chen",
    "Jonas Becker",
    "Amara Okafor",
    "Liam O'Brien",
    "Sofia Rossi",
    "Kenji Tanaka",
    "Fatima Al-Sayed",
    "Noah Williams",
    "Inês Duarte",
    "Oskar Nilsson",
    "Zara Ahmed",
    "Daniel Kim",
    "Grace Mwangi",
)
API_USER_NAME = "sa-incident-automation"

# (label, level, color). Level 1 is the most severe; Pending (not yet assessed) is 0. [INF]
SEVERITIES = (
    ("Pending", 0, "#8E8E8E"),
    ("Critical", 1, "#E02F44"),
    ("Major", 2, "#FF9830"),
    ("Minor", 3, "#FADE2A"),
)
SEVERITY_WEIGHTS = {"Critical": 0.10, "Major": 0.30, "Minor": 0.46, "Pending": 0.14}
# Log-normal impact duration per severity: (median minutes, sigma). Critical gets fixed fastest.
DURATION_PARAMS = {
    "Critical": (40.0, 0.9),
    "Major": (75.0, 1.0),
    "Minor": (180.0, 1.2),
    "Pending": (25.0, 1.1),
}

TAGS = (
    ("security", "Security-relevant incident", "#E02F44"),
    ("customer-facing", "Customers noticed the impact", "#FF9830"),
    ("PIR not needed", "", ""),
    ("database", "", "#8AB8FF"),
    ("network", "", "#73BF69"),
    ("false-positive", "", ""),
    ("follow-up", "Has follow-up work", "#B877D9"),
    ("game-day", "Planned exercise", "#5794F2"),
)
TEAM_SERVICES = {
    "payments": ("checkout-api", "payments-gateway", "billing-worker"),
    "platform": ("ingress", "k8s-control-plane", "ci-runners"),
    "search": ("search-api", "indexer"),
    "identity": ("auth", "user-service"),
}
TEAM_WEIGHTS = {"payments": 0.3, "platform": 0.3, "search": 0.2, "identity": 0.2}
REGIONS = ("eu-west", "us-east", "ap-south")
CAUSES = ("deploy", "config", "capacity", "dependency")
LABEL_KEYS = (
    ("team", "Owning team", "#5794F2", tuple(TEAM_SERVICES)),
    ("service_name", "Affected service", "#73BF69", tuple(s for v in TEAM_SERVICES.values() for s in v)),
    ("region", "Affected region", "#FF9830", REGIONS),
    ("cause", "Root-cause category", "#B877D9", CAUSES),
)

TITLES = (
    "Elevated 5xx errors on {service}",
    "High latency in {service}",
    "{service} pods crash-looping",
    "Failed deploy of {service}",
    "Certificate expiry for {service}",
    "Database connection pool exhausted ({service})",
    "Queue backlog growing in {service}",
    "DNS resolution failures in {region}",
    "Partial outage: {service} in {region}",
    "Memory leak in {service}",
)
DRILL_TITLES = ("[DRILL] Failover test of {service}", "[DRILL] Game day: {region} region loss")
NOTES = (
    "Looking at the dashboards now.",
    "Rolled back the last deploy.",
    "Error rate is back to baseline.",
    "Paged the owning team.",
    "Customer support has been informed.",
    "Scaling up the replicas as a mitigation.",
    "Root cause looks like a config change from this morning.",
    "Status page updated.",
    "Monitoring for another 30 minutes before resolving.",
    "Opened a ticket for the follow-up work.",
)
CUSTOM_TASKS = (
    "Post a status page update",
    "Open the PIR document",
    "Roll back the deploy",
    "Notify customer support",
    "Check the SLO dashboards",
    "Write a timeline",
)
SUMMARIES = (
    "A bad configuration change caused errors; it was rolled back.",
    "Capacity ran out during peak traffic; we scaled up and added alerts.",
    "An upstream dependency degraded; traffic was failed over.",
    "A deploy introduced a regression; fixed forward.",
)


@dataclass(slots=True)
class SeedData:
    """The generated org catalogue, incidents (ID order) and notes on deliberate oddities."""

    catalog: Catalog
    incidents: list[Incident]
    notes: dict[str, str]
    anchor_ns: int


def make_uuid(rng: random.Random) -> str:
    """A version-4-shaped UUID string drawn from ``rng`` (deterministic, unlike ``uuid.uuid4``)."""
    h = f"{rng.getrandbits(128):032x}"
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{'89ab'[int(h[16], 16) & 3]}{h[17:20]}-{h[20:32]}"


def slugify(title: str) -> str:
    """The URL slug of an incident title (lower case, dashes)."""
    return re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")[:80] or "incident"


def system_tasks(created_ns: int) -> list[Task]:
    """The default immutable system tasks of a new incident, all ``todo``."""
    return [
        Task(SYSTEM_TASK_COMMANDER, "Assign a commander", "todo", True, created_ns, created_ns, None),
        Task(SYSTEM_TASK_INVESTIGATOR, "Assign an investigator", "todo", True, created_ns, created_ns, None),
        Task(SYSTEM_TASK_SEVERITY, "Choose a severity", "todo", True, created_ns, created_ns, None),
    ]


def build_catalog(rng: random.Random, anchor_ns: int) -> Catalog:
    """The org's users, roles, severities and label fields."""
    org_created = truncate_seconds(anchor_ns - 600 * DAY)
    users: dict[str, User] = {}
    for index, name in enumerate((*USER_NAMES, API_USER_NAME)):
        user_id = f"grafana-incident:user-{rng.getrandbits(48):012x}"
        login = name.split()[0].lower() if index < len(USER_NAMES) else API_USER_NAME
        email = f"{login}@example.com"
        digest = hashlib.md5(email.encode(), usedforsecurity=False).hexdigest()
        users[user_id] = User(
            user_id=user_id,
            name=name,
            email=email,
            photo_url=f"https://secure.gravatar.com/avatar/{digest}?s=512&d=retro",
            internal_user_id=f"user-{rng.getrandbits(32):08x}",
            grafana_user_id=str(index + 2),
            grafana_login=login,
            modified_ns=truncate_us(org_created + rng.randrange(300 * DAY)),
        )
    api_user_id = next(reversed(users))
    roles = {
        9576: Role(9576, "commander", "Leads the response and makes the decisions.", True, True, org_created),
        9577: Role(9577, "investigator", "Digs into the cause and the fix.", True, False, org_created),
        9578: Role(9578, "observer", "Follows along.", False, False, org_created),
    }
    severities = {}
    for label, level, color in SEVERITIES:
        severity_id = make_uuid(rng)
        severities[severity_id] = Severity(severity_id, label, level, color)
    label_fields = {}
    for key, description, color, values in LABEL_KEYS:
        options = [LabelOption(make_uuid(rng), value) for value in values]
        label_fields[key] = LabelField(make_uuid(rng), key, key, description, color, options)
    tags_field = LabelField(
        make_uuid(rng),
        TAGS_KEY,
        "Tags",
        "Free-form labels",
        "",
        [LabelOption(make_uuid(rng), text, description, color) for text, description, color in TAGS],
    )
    return Catalog(users, roles, severities, label_fields, tags_field, api_user_id)


def generate(seed: int, n: int, anchor: datetime = DEFAULT_ANCHOR) -> SeedData:
    """Generate the catalogue and ``n`` incidents deterministically from ``seed`` and ``anchor``."""
    if n < 0:
        raise ValueError(f"incidents must be >= 0, got {n}")
    rng = random.Random(seed)
    anchor_ns = to_ns(anchor)
    catalog = build_catalog(rng, anchor_ns)
    # Hundreds of thousands of small objects and no garbage: the cyclic collector would only
    # rescan them over and over (it roughly doubles the time for 20,000 incidents).
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        return _Generator(rng, catalog, anchor_ns).run(n)
    finally:
        if was_enabled:
            gc.enable()


class _Generator:
    def __init__(self, rng: random.Random, catalog: Catalog, anchor_ns: int) -> None:
        self.rng = rng
        self.catalog = catalog
        self.anchor_ns = anchor_ns
        self.people = [u for u in catalog.users if u != catalog.api_user_id]
        # A few people command most incidents, as in real on-call rotations.
        self.commander_weights = [1.0 / (i + 1) ** 0.7 for i in range(len(self.people))]
        self.severity_by_label = {s.label: s for s in catalog.severities.values()}
        self.roles = {r.name: r for r in catalog.roles.values()}
        self.tags = {o.value: o for o in catalog.tags_field.options}
        self.seq = 0

    def run(self, n: int) -> SeedData:
        rng = self.rng
        span = SPAN_DAYS * DAY
        # pdf ∝ x^0.35 on [0, 1): incidents get denser towards the anchor.
        offsets = sorted(span * (1.0 - rng.random() ** (1 / 1.35)) + MINUTE for _ in range(n))
        created = [truncate_us(self.anchor_ns - int(off)) for off in reversed(offsets)]
        plans = [self._plan(index, created_ns) for index, created_ns in enumerate(created)]
        self._choose_open(plans)
        notes = self._oddities(plans)
        incidents = [self._build(plan) for plan in plans]
        return SeedData(self.catalog, incidents, notes, self.anchor_ns)

    # -- planning: the numbers that decide an incident's shape ------------------------------------

    def _plan(self, index: int, created_ns: int) -> _Plan:
        rng = self.rng
        is_drill = rng.random() < 0.05
        severity = "Minor" if is_drill else _SEVERITY.draw(rng)
        median, sigma = DURATION_PARAMS[severity]
        if is_drill:
            median, sigma = 30.0, 0.5
        minutes = math.exp(math.log(median) + sigma * rng.gauss(0.0, 1.0))
        duration = int(min(max(minutes, 1.5), 14 * 24 * 60) * MINUTE)
        roll = rng.random()
        if roll < 0.15:  # impact began before the declaration
            start_ns = truncate_seconds(created_ns - int(rng.uniform(1, 30) * MINUTE))
        elif roll < 0.2:  # older records keep microseconds on incidentStart (FACTS.md §7)
            start_ns = created_ns
        else:
            start_ns = truncate_seconds(created_ns)
        closed_ns = truncate_us(max(start_ns + duration, created_ns + MINUTE + rng.randrange(MINUTE)))
        return _Plan(str(index + 1), created_ns, start_ns, closed_ns, severity, is_drill)

    def _choose_open(self, plans: list[_Plan]) -> None:
        rng = self.rng
        n = len(plans)
        target = round(0.03 * n)
        if n >= 50:
            target = max(target, 2)
        limit = self.anchor_ns - MINUTE
        natural = [p for p in reversed(plans) if p.closed_ns > limit]
        for plan in natural[target:]:  # too many would still be open at the anchor: close them
            room = max(limit - plan.created_ns, 2 * MINUTE)
            plan.closed_ns = truncate_us(plan.created_ns + int(room * rng.uniform(0.3, 0.9)))
            plan.start_ns = min(plan.start_ns, truncate_seconds(plan.created_ns))
        chosen = natural[:target]
        taken = {id(p) for p in chosen}
        recent = [p for p in plans[int(n * 0.9) :] if id(p) not in taken and not p.is_drill]
        rng.shuffle(recent)
        if n >= 100 and len(chosen) < target:  # one long-forgotten open incident
            old = [p for p in plans[: n // 2] if not p.is_drill]
            if old:
                chosen.append(rng.choice(old))
        while len(chosen) < target and recent:
            chosen.append(recent.pop())
        for plan in chosen:
            plan.open = True
            if rng.random() < 0.3:
                plan.severity = "Pending"

    def _oddities(self, plans: list[_Plan]) -> dict[str, str]:
        notes: dict[str, str] = {}
        candidates = [p for p in plans if not p.open and not p.is_drill]
        if len(plans) >= 50 and candidates:
            plan = candidates[int(len(candidates) * 0.37)]
            plan.oddity = "end-before-start"
            notes[plan.incident_id] = "incidentEnd is 10 minutes before incidentStart (start edited after closing)"
        if len(plans) >= 100 and len(candidates) > 1:
            plan = candidates[int(len(candidates) * 0.61)]
            plan.oddity = "zero-duration"
            notes[plan.incident_id] = "incidentEnd equals incidentStart (durationSeconds 0)"
        return notes

    # -- building the records ----------------------------------------------------------------------

    def _build(self, plan: _Plan) -> Incident:
        rng = self.rng
        closed_ns = None if plan.open else plan.closed_ns
        end_ns = self._end_time(plan, closed_ns)
        team, service, region, labels = self._labels(plan, closed_ns is not None)
        title = rng.choice(DRILL_TITLES if plan.is_drill else TITLES).format(service=service, region=region)
        cast = self._cast()
        incident = Incident(
            incident_id=plan.incident_id,
            title=title,
            slug=slugify(title),
            description=f"{service} in {region} is affected. Team {team} is investigating.",
            summary=rng.choice(SUMMARIES) if closed_ns is not None and rng.random() < 0.6 else "",
            status="resolved" if closed_ns is not None else "active",
            severity_id=self.severity_by_label[plan.severity].severity_id,
            is_drill=plan.is_drill,
            incident_type="private" if rng.random() < 0.03 else "internal",
            created_ns=plan.created_ns,
            modified_ns=plan.created_ns,
            created_by=cast.creator,
            closed_ns=closed_ns,
            start_ns=plan.start_ns,
            end_ns=end_ns,
            labels=labels,
        )
        timeline = _Timeline(self, incident, closed_ns if closed_ns is not None else self.anchor_ns - MINUTE)
        timeline.add("incidentCreated", cast.creator, plan.created_ns, body=f"Incident declared: {title}")
        if plan.start_ns < truncate_seconds(plan.created_ns):
            when = timeline.after(2 * MINUTE, 20 * MINUTE)
            body = "Incident start time updated"
            timeline.add("incidentStart", cast.creator, when, event_ns=plan.start_ns, body=body)
        incident.tasks = system_tasks(plan.created_ns)
        self._assign_roles(incident, timeline, cast)
        self._rate_severity(plan, incident, timeline, cast)
        self._label_items(labels, timeline, cast.creator)
        incident.tasks.extend(self._custom_tasks(incident, timeline, cast.creator))
        self._notes_and_closing(incident, timeline, cast)
        incident.activity = timeline.finish()
        incident.version = len(incident.activity)
        incident.modified_ns = max(item.created_ns for item in incident.activity)
        return incident

    def _end_time(self, plan: _Plan, closed_ns: int | None) -> int | None:
        """incidentEnd: closedTime, or earlier (impact ended first), or one of the oddities."""
        if closed_ns is None:
            return None
        start_ns = plan.start_ns
        if plan.oddity == "end-before-start":
            return truncate_seconds(start_ns - 10 * MINUTE)
        if plan.oddity == "zero-duration":
            return start_ns
        if self.rng.random() < 0.15 and closed_ns - start_ns > 20 * MINUTE:
            early = int(self.rng.uniform(5 * MINUTE, min(2 * HOUR, (closed_ns - start_ns) / 2)))
            return truncate_seconds(closed_ns - early)
        return closed_ns

    def _cast(self) -> _Cast:
        """Who commands, investigates, observes and declared the incident."""
        rng = self.rng
        commander = rng.choices(self.people, self.commander_weights)[0] if rng.random() < 0.95 else None
        investigator = None
        if rng.random() < 0.7:
            investigator = commander if commander and rng.random() < 0.1 else rng.choice(self.people)
        observers = rng.sample(self.people, rng.choice((0, 0, 1, 1, 2, 3)))
        creator = commander if commander and rng.random() < 0.6 else rng.choice(self.people)
        return _Cast(commander, investigator, observers, creator)

    def _assign_roles(self, incident: Incident, timeline: _Timeline, cast: _Cast) -> None:
        """Role assignments with their timeline items; ticks the matching system tasks."""
        for role_name, holder, lo, hi, task in (
            ("commander", cast.commander, 5 * NS_PER_SECOND, 5 * MINUTE, incident.tasks[0]),
            ("investigator", cast.investigator, 2 * MINUTE, 30 * MINUTE, incident.tasks[1]),
        ):
            if holder is None:
                continue
            incident.assignments.append(Assignment(holder, self.roles[role_name].role_id))
            when = timeline.after(lo, hi)
            body = f"{self._name(holder)} assigned as {role_name}"
            timeline.add("roleAssigned", cast.creator, when, subject=holder, body=body)
            task.status, task.modified_ns = "done", when
        for observer in cast.observers:
            incident.assignments.append(Assignment(observer, self.roles["observer"].role_id))

    def _rate_severity(self, plan: _Plan, incident: Incident, timeline: _Timeline, cast: _Cast) -> None:
        """Severity changes from Pending (sometimes via an escalation step); ticks must-choose-severity."""
        if plan.severity == "Pending":
            return
        when = timeline.after(MINUTE, 15 * MINUTE)
        steps = [("Pending", plan.severity, cast.commander or cast.creator)]
        if self.rng.random() < 0.15 and plan.severity in ("Major", "Critical"):
            first = "Minor" if plan.severity == "Major" else "Major"
            steps = [("Pending", first, cast.creator), (first, plan.severity, cast.commander or cast.creator)]
        for index, (previous, severity, who) in enumerate(steps):
            if index:
                when = timeline.after(5 * MINUTE, 40 * MINUTE)
            timeline.add(
                "incidentSeverityChanged",
                who,
                when,
                body=f"Severity changed from {previous} to {severity}",
                field_values={"previousSeverity": previous, "severity": severity},
            )
        incident.tasks[2].status, incident.tasks[2].modified_ns = "done", when

    def _label_items(self, labels: list[Label], timeline: _Timeline, creator: str) -> None:
        """labelAdded items for some labels; most are set in the declaration form, without one."""
        for label in labels[:2]:
            if self.rng.random() < 0.5:
                continue
            text = label.text if label.is_tag else f"{label.key}:{label.text}"
            timeline.add(
                "labelAdded",
                creator,
                timeline.after(MINUTE, HOUR),
                body=f'Added label "{text}"',
                field_values={"key": label.key, "label": label.text},
            )

    def _notes_and_closing(self, incident: Incident, timeline: _Timeline, cast: _Cast) -> None:
        """User notes up to 3-15 items in all, then the status change and close for resolved incidents."""
        rng = self.rng
        closed_ns, end_ns = incident.closed_ns, incident.end_ns
        closing: list[tuple[str, int, int, str]] = []
        if closed_ns is not None:
            closing.append(("incidentStatusChanged", closed_ns, closed_ns, "Status changed from active to resolved"))
            closing.append(("incidentClosed", closed_ns, closed_ns, "Incident resolved"))
            if end_ns is not None and end_ns != closed_ns:
                edited = min(closed_ns + rng.randrange(1, 120) * NS_PER_SECOND, self.anchor_ns)
                closing.append(("incidentEnd", edited, end_ns, "Incident end time updated"))
        room = max(0, 15 - len(timeline.items) - len(closing))
        wanted = max(0, 3 - len(timeline.items) - len(closing))
        for _ in range(min(room, max(wanted, _geometric(rng, 0.45)))):
            when = timeline.after(0, max(timeline.horizon - incident.created_ns, MINUTE))
            item = timeline.add("userNote", rng.choice(self.people), when, body=rng.choice(NOTES))
            item.immutable, item.relevance = False, "normal"
            if rng.random() < 0.1:
                item.tags.append("important")
        for kind, created, event, body in closing:
            item = timeline.add(kind, cast.commander or cast.creator, created, event_ns=event, body=body)
            if kind == "incidentStatusChanged":
                item.field_values = {"previousStatus": "active", "status": "resolved"}

    def _labels(self, plan: _Plan, resolved: bool) -> tuple[str, str, str, list[Label]]:
        rng = self.rng
        team = _TEAM.draw(rng)
        service = rng.choice(TEAM_SERVICES[team])
        region = rng.choice(REGIONS)
        labels: list[Label] = []
        if rng.random() < 0.9:
            labels.append(self._keyed("team", team))
            if rng.random() < 0.85:
                labels.append(self._keyed("service_name", service))
        if rng.random() < 0.7:
            labels.append(self._keyed("region", region))
        if resolved and not plan.is_drill and rng.random() < 0.6:
            labels.append(self._keyed("cause", rng.choice(CAUSES)))
        tag_chances = {
            "security": 0.25 if team == "identity" else 0.04,
            "database": 0.3 if team == "payments" else 0.06,
            "customer-facing": 0.5 if plan.severity in ("Critical", "Major") else 0.12,
            "network": 0.2 if team == "platform" else 0.05,
            "PIR not needed": 0.3 if plan.severity == "Minor" else 0.03,
            "false-positive": 0.4 if plan.severity == "Pending" else 0.01,
            "follow-up": 0.1,
            "game-day": 1.0 if plan.is_drill else 0.0,
        }
        for text, chance in tag_chances.items():
            if rng.random() < chance:
                option = self.tags[text]
                labels.insert(0, Label(TAGS_KEY, text, option.description, option.color))
        return team, service, region, labels

    def _keyed(self, key: str, value: str) -> Label:
        field = self.catalog.label_fields[key]
        option = field.option(value)
        assert option is not None
        return Label(key, value, option.description or field.description, option.color or field.color)

    def _custom_tasks(self, incident: Incident, timeline: _Timeline, creator: str) -> list[Task]:
        rng = self.rng
        tasks = []
        resolved = incident.closed_ns is not None
        for text in rng.sample(CUSTOM_TASKS, rng.choice((0, 0, 1, 1, 2, 3, 4))):
            # Custom task times keep nanoseconds (FACTS.md §7 saw ns on task times).
            created = timeline.after(MINUTE, 2 * HOUR) + rng.randrange(1, 1000)
            status = (_TASK_STATUS_RESOLVED if resolved else _TASK_STATUS_OPEN).draw(rng)
            author = rng.choice([creator, *(a.user_id for a in incident.assignments)])
            assigned = rng.choice(self.people) if rng.random() < 0.5 else None
            task = Task(make_uuid(rng), text, status, False, created, created, author, assigned)
            if len(timeline.items) < 11:
                timeline.add(
                    "taskAdded",
                    author,
                    truncate_us(created),
                    body=f'Added task "{text}"',
                    field_values={"taskID": task.task_id},
                )
            if status != "todo":
                finished = timeline.clamp(created + rng.randrange(MINUTE, 3 * HOUR))
                task.modified_ns = finished + rng.randrange(1, 1000)
                if status == "done" and len(timeline.items) < 11:
                    timeline.add(
                        "taskCompleted",
                        author,
                        truncate_us(task.modified_ns),
                        body=f'Completed task "{text}"',
                        field_values={"taskID": task.task_id},
                    )
            tasks.append(task)
        return tasks

    def _name(self, user_id: str) -> str:
        return self.catalog.users[user_id].name

    def next_seq(self) -> int:
        self.seq += 1
        return self.seq


@dataclass(slots=True)
class _Cast:
    commander: str | None
    investigator: str | None
    observers: list[str]
    creator: str


@dataclass(slots=True)
class _Plan:
    incident_id: str
    created_ns: int
    start_ns: int
    closed_ns: int
    severity: str
    is_drill: bool
    open: bool = False
    oddity: str = ""


class _Timeline:
    """Collects the activity items of one incident, keeping their times inside its lifetime."""

    def __init__(self, gen: _Generator, incident: Incident, horizon: int) -> None:
        self.gen = gen
        self.incident = incident
        self.horizon = horizon
        self.items: list[ActivityItem] = []

    def after(self, lo: int, hi: int) -> int:
        """A µs time ``lo..hi`` after declaration, clamped before the horizon (close or anchor)."""
        offset = self.gen.rng.randrange(int(lo), max(int(hi), int(lo) + 1))
        return self.clamp(self.incident.created_ns + offset)

    def clamp(self, ns: int) -> int:
        """``ns`` at µs precision, moved before the horizon if it is past it."""
        latest = max(self.horizon - NS_PER_SECOND, self.incident.created_ns + NS_PER_SECOND)
        return truncate_us(min(ns, latest))

    def add(
        self,
        kind: str,
        user_id: str,
        created_ns: int,
        *,
        event_ns: int | None = None,
        body: str = "",
        subject: str = "",
        field_values: dict[str, str] | None = None,
    ) -> ActivityItem:
        """Append an item; ``event_ns`` defaults to ``created_ns``."""
        item = ActivityItem(
            item_id=make_uuid(self.gen.rng),
            incident_id=self.incident.incident_id,
            kind=kind,
            user_id=user_id,
            created_ns=created_ns,
            event_ns=created_ns if event_ns is None else event_ns,
            body=body,
            seq=0,
            subject_user_id=subject,
            field_values=dict(field_values or {}),
            relevance="high" if kind in ("incidentCreated", "incidentClosed") else "automatic",
        )
        self.items.append(item)
        return item

    def finish(self) -> list[ActivityItem]:
        """The items in timeline order (event time, then insertion), numbered."""
        ordered = sorted(self.items, key=lambda item: item.event_ns)
        for item in ordered:
            item.seq = self.gen.next_seq()
        return ordered


class _Weights:
    """A weighted choice over a small fixed table (faster than ``rng.choices`` per draw)."""

    def __init__(self, weights: dict[str, float]) -> None:
        self.keys = list(weights)
        self.cumulative = list(itertools.accumulate(weights.values()))

    def draw(self, rng: random.Random) -> str:
        return self.keys[bisect.bisect(self.cumulative, rng.random() * self.cumulative[-1])]


_SEVERITY = _Weights(SEVERITY_WEIGHTS)
_TEAM = _Weights(TEAM_WEIGHTS)
_TASK_STATUS_RESOLVED = _Weights({"done": 0.75, "todo": 0.15, "progress": 0.10})
_TASK_STATUS_OPEN = _Weights({"todo": 0.4, "progress": 0.3, "done": 0.3})


def _geometric(rng: random.Random, p: float) -> int:
    count = 0
    while rng.random() > p and count < 12:
        count += 1
    return count + 1
