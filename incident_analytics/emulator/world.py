"""The seeded organisation: its teams, people, catalogue, texts and the effects planted in its data.

Everything here is a constant or built from a seeded ``random.Random``; :mod:`.seed` uses it to
generate incidents. The planted effects (see :mod:`.seed` for the full list and the numbers a seed
produces) are parameterised here, so a test or notebook can name them instead of repeating them.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TypeVar
from zoneinfo import ZoneInfo

from incident_analytics.emulator.model import (
    TAGS_KEY,
    Catalog,
    LabelField,
    LabelOption,
    Role,
    Severity,
    User,
    uuid_text,
)
from incident_analytics.emulator.times import NS_PER_SECOND, truncate_seconds, truncate_us

MINUTE = 60 * NS_PER_SECOND
HOUR = 60 * MINUTE
DAY = 24 * HOUR

DEFAULT_ANCHOR = datetime(2026, 11, 1, tzinfo=UTC)
"""The default "now" of the seeded data."""

T = TypeVar("T")

SPAN_DAYS = 426  # ~14 months of history before the anchor


@dataclass(frozen=True, slots=True)
class Team:
    """A team: where it works (one time zone), what it owns, and whether it is paged around the clock.

    ``on_call`` teams answer pages at night and on weekends (a quarter of their incidents are declared
    outside working hours and their responders work through the night); the other teams mostly
    declare in working hours and leave non-critical work for the next working morning.
    """

    name: str
    timezone: str
    weight: float
    services: tuple[str, ...]
    on_call: bool
    people: tuple[str, ...]

    @property
    def zone(self) -> ZoneInfo:
        """The team's time zone."""
        return ZoneInfo(self.timezone)


TEAMS = (
    Team(
        "payments",
        "Europe/Berlin",
        0.30,
        ("checkout-api", "payments-gateway", "billing-worker"),
        True,
        ("Jonas Becker", "Sofia Rossi", "Oskar Nilsson", "Inês Duarte"),
    ),
    Team(
        "platform",
        "America/New_York",
        0.30,
        ("ingress", "k8s-control-plane", "ci-runners"),
        True,
        ("Liam O'Brien", "Noah Williams", "Tomás García", "Grace Mwangi"),
    ),
    Team(
        "search", "Asia/Kolkata", 0.20, ("search-api", "indexer"), False, ("Priya Sharma", "Zara Ahmed", "Amara Okafor")
    ),
    Team(
        "identity",
        "America/Los_Angeles",
        0.20,
        ("auth", "user-service"),
        False,
        ("Mei Chen", "Kenji Tanaka", "Daniel Kim", "Fatima Al-Sayed"),
    ),
)
TEAMS_BY_NAME = {team.name: team for team in TEAMS}
WORKDAY_START_HOUR = 9
WORKDAY_END_HOUR = 18
NIGHT_SHARE = {True: 0.25, False: 0.05}
"""Share of declarations outside working hours, for on-call teams (True) and the others."""

USER_NAMES = tuple(name for team in TEAMS for name in team.people)
API_USER_NAME = "sa-incident-automation"

# (label, level, color). Level 1 is the most severe; Pending (not yet assessed) is 0. [INF]
SEVERITIES = (
    ("Pending", 0, "#8E8E8E"),
    ("Critical", 1, "#E02F44"),
    ("Major", 2, "#FF9830"),
    ("Minor", 3, "#FADE2A"),
)
SEVERITY_WEIGHTS = {"Critical": 0.08, "Major": 0.30, "Minor": 0.46, "Pending": 0.16}
DURATION_PARAMS = {
    "Critical": (45.0, 0.9),
    "Major": (120.0, 1.0),
    "Minor": (240.0, 1.1),
    "Pending": (30.0, 1.0),
}
"""Impact duration (``incidentEnd - incidentStart``) per severity: lognormal (median minutes, sigma)."""
LONG_TAIL_SHARE = 0.02
"""Share of incidents whose impact lasts 4-12 times longer than drawn (the ones lasting days)."""

# -- planted effects (documented in :mod:`.seed`) ---------------------------------------------------

IMPROVEMENT_DATE = datetime(2026, 5, 1, tzinfo=UTC)
IMPROVED_SEVERITY = "Major"
IMPROVEMENT_FACTOR = 0.6
"""From :data:`IMPROVEMENT_DATE` on, Major incidents' time to resolve is 40% shorter."""
STEADY_SEVERITY = "Minor"
"""Drawn from one unchanged distribution over the whole history: any before/after move is chance."""
SLOW_LABEL = ("team", "payments")
SLOW_FACTOR = 1.8
"""Incidents of ``team:payments`` take 1.8 times as long to resolve as the same severity elsewhere."""
CUSTOMER_FACING_VARIANTS = {"customer-facing": 0.78, "Customer Facing": 0.14, "customer_facing": 0.08}
"""Near-duplicate spellings of one free-form label, for the label clean-up flow."""
REOPEN_SHARE = 0.03
ESCALATION_SHARE = 0.08
LATE_COMMANDER_SHARE = 0.10
LATE_COMMANDER_AFTER = HOUR
"""A commander assigned this long or longer after declaration counts as late."""
MISSING_START_SHARE = 0.02
MISSING_END_SHARE = 0.02
BAD_ENTRY_SHARE = 0.004
"""Share of resolved incidents with a zero, and again with a negative, impact duration."""

TAGS = (
    ("security", "Security-relevant incident", "#E02F44"),
    ("customer-facing", "Customers noticed the impact", "#FF9830"),
    ("Customer Facing", "", ""),
    ("customer_facing", "", ""),
    ("PIR not needed", "", ""),
    ("database", "", "#8AB8FF"),
    ("network", "", "#73BF69"),
    ("false-positive", "", ""),
    ("follow-up", "Has follow-up work", "#B877D9"),
    ("game-day", "Planned exercise", "#5794F2"),
)
TEAM_SERVICES = {team.name: team.services for team in TEAMS}
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
    "Still seeing errors in one region.",
    "Restarted the affected pods.",
    "Waiting for the vendor to respond.",
    "Added a temporary alert on the queue depth.",
    "Latency is improving but not yet normal.",
)
REOPEN_NOTE = "Errors are back; reopening."
KEY_UPDATES = (
    "We are investigating elevated error rates.",
    "The cause is identified; a fix is being rolled out.",
    "A mitigation is in place; we are monitoring.",
    "Customers may see slower responses while we recover.",
    "Service is fully restored.",
)
SLACK_TEAM_ID = "T0EMULATOR"
"""The Slack workspace the emulator's incident channels belong to."""
SLACK_CHANNEL_SHARE = 0.6
SCREENSHOT_SHARE = 0.05
"""Share of notes that carry a dashboard screenshot attachment."""
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


def make_uuid(rng: random.Random) -> str:
    """A version-4-shaped UUID string drawn from ``rng`` (deterministic, unlike ``uuid.uuid4``)."""
    return uuid_text(rng.getrandbits(128))


def pick(rng: random.Random, items: Sequence[T]) -> T:
    """``rng.choice`` in one draw of ``random()`` (the generator calls it hundreds of thousands of times)."""
    return items[int(rng.random() * len(items))]


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
