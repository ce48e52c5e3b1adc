"""Deterministic seeded data that looks like a real organisation, with effects planted for analysis.

Everything comes from one ``random.Random(seed)`` and the ``anchor`` time, so the same
``(seed, n, anchor)`` always gives identical data, whatever the date the tests run. The org itself
(teams, people, label catalogue, the parameters below) lives in :mod:`.world`.

**Time.** ~14 months of incidents before the anchor, denser towards it; IDs ``"1".."n"`` in
``createdTime`` order. Each incident belongs to a team, and each team works in one time zone
(payments Europe/Berlin, platform America/New_York, search Asia/Kolkata, identity
America/Los_Angeles). Declarations cluster on weekdays 09:00-18:00 local time, with a night and
weekend tail: 25% for the on-call teams (payments, platform), 5% for the others. Responders work in
bursts: at declaration, a few more while the incident lasts and one before it is resolved, each
burst being notes, tasks, role and severity changes a few minutes apart by 2-5 people; quiet while
waiting. The on-call teams' bursts fall at any hour; search and identity leave non-critical work for
the next working morning, so their workload shows no late or sleeping hours and the on-call teams'
does.

**Durations.** Impact (``incidentEnd - incidentStart``) is lognormal per severity (medians:
Critical 45 min, Major 2 h, Minor 4 h, Pending 30 min), and 2% last 4-12 times longer (days).
15% of incidents started before they were declared (detected late); in 15% the incident was closed
some minutes after the impact ended. About 3% are still open. About 5% are drills, 3% private.

**Around the incidents.** 60% of incidents have a Slack channel (``incidentChannels`` and a
``refs`` entry, and an ``incidentUpdated`` item when it was created); Critical and Major incidents
(and a fifth of the others) have 1-3 key updates, the first posted with the first note; 5% of notes
carry a dashboard screenshot (``attachments``).

**Planted effects** (parameters in :mod:`.world`; the numbers the ``"demo"`` scenario's seed
produces are in :mod:`.scenarios` and the README):

1. *A real improvement*: Major incidents declared from 2026-05-01 resolve 40% faster
   (:data:`~.world.IMPROVEMENT_FACTOR`).
2. *A non-change*: Minor incidents come from one distribution over the whole history; their median
   before and after 2026-05-01 differs by chance only.
3. *A slow label*: ``team:payments`` incidents take 1.8 times as long as the same severity elsewhere.
4. *Label pairs that co-occur*: ``security`` with ``team:identity``, ``database`` with
   ``team:payments``, ``network`` with ``team:platform``, ``customer-facing`` with Critical and
   Major; a ``service_name`` always belongs to its team.
5. *Reopened incidents* (3% of those lasting 3 h or more): the timeline shows ``active → resolved``,
   then ``resolved → active``, then ``active → resolved``; ``closedTime`` is the last resolution.
6. *Escalated incidents* (8% of Major and Critical ones lasting 90 min or more): rated one level lower
   first, raised in a later burst (``incidentSeverityChanged`` to a more severe level).
7. *Late commanders* (10% of incidents lasting 3 h or more): the commander's ``roleAssigned`` item
   comes 1-6 h after declaration.
8. *Near-duplicate labels*: ``customer-facing`` (78%), ``Customer Facing`` (14%) and
   ``customer_facing`` (8%) are one label spelt three ways.
9. *Bad data*: 2% of resolved incidents lack ``incidentStart`` and 2% lack ``incidentEnd`` (analysis
   falls back to created/closed time); 0.4% have a zero and 0.4% a negative impact duration (an
   end edited to before the start). These are listed in :attr:`SeedData.notes`.

:attr:`SeedData.planted` names the incidents that carry effects 5-9.
"""

from __future__ import annotations

import bisect
import gc
import itertools
import math
import operator
import random
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial
from typing import Any, Final, TypeVar
from zoneinfo import ZoneInfo

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
    Incident,
    KeyUpdate,
    Label,
    Ref,
    Task,
)
from incident_analytics.emulator.times import NS_PER_SECOND, to_ns, truncate_seconds, truncate_us
from incident_analytics.emulator.world import (
    BAD_ENTRY_SHARE,
    CAUSES,
    CUSTOM_TASKS,
    CUSTOMER_FACING_VARIANTS,
    DAY,
    DEFAULT_ANCHOR,
    DRILL_TITLES,
    DURATION_PARAMS,
    ESCALATION_SHARE,
    HOUR,
    IMPROVED_SEVERITY,
    IMPROVEMENT_DATE,
    IMPROVEMENT_FACTOR,
    KEY_UPDATES,
    LATE_COMMANDER_AFTER,
    LATE_COMMANDER_SHARE,
    LONG_TAIL_SHARE,
    MINUTE,
    MISSING_END_SHARE,
    MISSING_START_SHARE,
    NIGHT_SHARE,
    NOTES,
    REGIONS,
    REOPEN_NOTE,
    REOPEN_SHARE,
    SCREENSHOT_SHARE,
    SEVERITY_WEIGHTS,
    SLACK_CHANNEL_SHARE,
    SLACK_TEAM_ID,
    SLOW_FACTOR,
    SLOW_LABEL,
    SPAN_DAYS,
    SUMMARIES,
    TEAMS,
    TEAMS_BY_NAME,
    TITLES,
    WORKDAY_END_HOUR,
    WORKDAY_START_HOUR,
    Team,
    build_catalog,
    make_uuid,
    pick,
)

__all__ = ["DEFAULT_ANCHOR", "PLANTED_KINDS", "SeedData", "generate", "make_uuid", "slugify", "system_tasks"]

PLANTED_KINDS = (
    "reopened",
    "escalated",
    "late_commander",
    "missing_start",
    "missing_end",
    "zero_duration",
    "negative_duration",
)
"""The keys of :attr:`SeedData.planted`."""

_ESCALATE_FROM = {"Major": "Minor", "Critical": "Major"}
_SLUG_SEPARATORS = re.compile(r"[^a-z0-9]+")
T = TypeVar("T")


@dataclass(slots=True)
class SeedData:
    """The generated org catalogue, incidents (ID order) and where the planted effects are.

    Attributes:
        notes: incident ID → description of its data-quality oddity (missing or bad impact times).
        planted: kind (:data:`PLANTED_KINDS`) → IDs of the incidents carrying it, ascending.
        teams: incident ID → owning team (also the ``team`` label when the incident has one).
        last_seq: the highest ``seq`` of the activity items (they are numbered 1.. in timeline order).
    """

    catalog: Catalog
    incidents: list[Incident]
    notes: dict[str, str]
    anchor_ns: int
    planted: dict[str, list[str]] = field(default_factory=dict)
    teams: dict[str, str] = field(default_factory=dict)
    last_seq: int = 0


def slugify(title: str) -> str:
    """The URL slug of an incident title (lower case, dashes)."""
    return _SLUG_SEPARATORS.sub("-", title.lower()).strip("-")[:80] or "incident"


def system_tasks(created_ns: int) -> list[Task]:
    """The default immutable system tasks of a new incident, all ``todo``."""
    return [
        Task(SYSTEM_TASK_COMMANDER, "Assign a commander", "todo", True, created_ns, created_ns, None),
        Task(SYSTEM_TASK_INVESTIGATOR, "Assign an investigator", "todo", True, created_ns, created_ns, None),
        Task(SYSTEM_TASK_SEVERITY, "Choose a severity", "todo", True, created_ns, created_ns, None),
    ]


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
        data = _Generator(rng, catalog, anchor_ns, random.Random(f"emulator-extras-{seed}")).run(n)
        _settle_in_oldest_generation()
        return data
    finally:
        if was_enabled:
            gc.enable()


def _settle_in_oldest_generation() -> None:
    """Move every object the cyclic collector tracks into its oldest generation, without scanning them.

    The records just generated live as long as the emulator. Left in the youngest generation, the
    first collection after generation would traverse all of them (half a million objects for 20,000
    incidents, about 0.5 s) to free nothing, and the next generation's collection would do it again.
    ``gc.freeze()`` then ``gc.unfreeze()`` moves them (and whatever else was young) straight to the
    oldest generation, where full collections see them like any other long-lived data; nothing stays
    frozen. Skipped when the program froze objects itself, so that those stay frozen.
    """
    if gc.get_freeze_count() == 0:
        gc.freeze()
        gc.unfreeze()


@dataclass(slots=True)
class _Plan:
    incident_id: str
    team: Team
    created_ns: int
    start_ns: int | None
    end_ns: int | None
    closed_ns: int
    severity: str
    initial_severity: str
    is_drill: bool
    open: bool = False
    reopen: bool = False
    late_commander: bool = False


@dataclass(slots=True)
class _Cast:
    commander: str | None
    investigator: str | None
    responders: list[str]
    observers: list[str]
    creator: str


class _Generator:
    def __init__(self, rng: random.Random, catalog: Catalog, anchor_ns: int, extras: random.Random) -> None:
        self.rng = rng
        # Channels, key updates and attachments draw from their own stream, so adding them left
        # the rest of the seeded data (and the planted effects' numbers) as it was.
        self.extras = extras
        self.catalog = catalog
        self.anchor_ns = anchor_ns
        self.improvement_ns = to_ns(IMPROVEMENT_DATE)
        by_name = {u.name: u.user_id for u in catalog.users.values()}
        self.people = [u for u in catalog.users if u != catalog.api_user_id]
        self.team_people = {team.name: [by_name[name] for name in team.people] for team in TEAMS}
        self.zones = {team.name: ZoneInfo(team.timezone) for team in TEAMS}
        # The first people of a team command most of its incidents, as in real on-call rotations.
        self.commander_weights = {
            name: list(itertools.accumulate(1.0 / (i + 1) ** 0.7 for i in range(len(people))))
            for name, people in self.team_people.items()
        }
        self.severity_by_label = {s.label: s for s in catalog.severities.values()}
        self.roles = {r.name: r for r in catalog.roles.values()}
        # (key, value) → the arguments of its Label, for every keyed label and free-form tag.
        self.label_args = {
            (key, option.value): (
                key,
                option.value,
                option.description or field.description,
                option.color or field.color,
            )
            for key, field in catalog.label_fields.items()
            for option in field.options
        }
        self.label_args.update(
            ((TAGS_KEY, o.value), (TAGS_KEY, o.value, o.description, o.color)) for o in catalog.tags_field.options
        )
        self.tag_chances: dict[tuple[str, str, bool], tuple[tuple[str, float], ...]] = {}
        self.seq = 0
        self.planted: dict[str, list[str]] = {kind: [] for kind in PLANTED_KINDS}
        self.notes: dict[str, str] = {}

    def run(self, n: int) -> SeedData:
        rng = self.rng
        span = SPAN_DAYS * DAY
        drafts = []
        for _ in range(n):
            team = TEAMS_BY_NAME[_TEAM.draw(rng)]
            is_drill = rng.random() < 0.05
            severity = "Minor" if is_drill else _SEVERITY.draw(rng)
            # pdf ∝ x^0.35 on [0, 1): incidents get denser towards the anchor.
            offset = span * (1.0 - rng.random() ** (1 / 1.35)) + MINUTE
            created = self._declaration_time(self.anchor_ns - int(offset), team)
            drafts.append((created, team, is_drill, severity))
        drafts.sort(key=lambda draft: draft[0])
        plans = [self._plan(str(index + 1), *draft) for index, draft in enumerate(drafts)]
        self._choose_open(plans)
        self._bad_data(plans)
        incidents = [self._build(plan) for plan in plans]
        teams = {plan.incident_id: plan.team.name for plan in plans}
        for ids in self.planted.values():
            ids.sort(key=int)
        return SeedData(self.catalog, incidents, self.notes, self.anchor_ns, self.planted, teams, self.seq)

    # -- planning: the numbers that decide an incident's shape ------------------------------------

    def _declaration_time(self, moment_ns: int, team: Team) -> int:
        """A declaration on the day of ``moment_ns``: working hours in the team's zone, or the night tail."""
        rng = self.rng
        zone = self.zones[team.name]
        day = datetime.fromtimestamp(moment_ns // NS_PER_SECOND, zone).date()
        if rng.random() < NIGHT_SHARE[team.on_call]:
            if day.weekday() >= 5:
                hours = rng.random() * 24
            else:
                night = 24 - (WORKDAY_END_HOUR - WORKDAY_START_HOUR)
                hours = (WORKDAY_END_HOUR + rng.random() * night) % 24
        else:
            while day.weekday() >= 5:
                day -= timedelta(days=1)
            # Two uniforms: busiest around midday, quieter at the edges of the working day.
            hours = WORKDAY_START_HOUR + (rng.random() + rng.random()) / 2 * (WORKDAY_END_HOUR - WORKDAY_START_HOUR)
        local = datetime(day.year, day.month, day.day, tzinfo=zone) + timedelta(seconds=hours * 3600)
        created = truncate_us(int(local.timestamp()) * NS_PER_SECOND + rng.randrange(NS_PER_SECOND))
        if created > self.anchor_ns - 2 * MINUTE:
            created = truncate_us(moment_ns)
        return created

    def _plan(self, incident_id: str, created_ns: int, team: Team, is_drill: bool, severity: str) -> _Plan:
        rng = self.rng
        median, sigma = (30.0, 0.5) if is_drill else DURATION_PARAMS[severity]
        minutes = math.exp(math.log(median) + sigma * rng.gauss(0.0, 1.0))
        if not is_drill:
            if rng.random() < LONG_TAIL_SHARE:
                minutes *= rng.uniform(4.0, 12.0)
            if team.name == SLOW_LABEL[1]:
                minutes *= SLOW_FACTOR
            if severity == IMPROVED_SEVERITY and created_ns >= self.improvement_ns:
                minutes *= IMPROVEMENT_FACTOR
        duration = int(min(max(minutes, 2.0), 21 * 24 * 60) * MINUTE)
        roll = rng.random()
        if roll < 0.15:  # impact began before the declaration (detected late)
            start_ns = truncate_seconds(created_ns - int(rng.uniform(1, 45) * MINUTE))
        elif roll < 0.2:  # older records keep microseconds on incidentStart (docs/api.md#time-formats)
            start_ns = created_ns
        else:
            start_ns = truncate_seconds(created_ns)
        end_ns = truncate_us(start_ns + duration)
        closed_ns = end_ns
        if rng.random() < 0.15:  # closed a while after the impact ended
            closed_ns = truncate_us(end_ns + int(rng.uniform(5, 120) * MINUTE))
        closed_ns = max(closed_ns, truncate_us(created_ns + 2 * MINUTE + rng.randrange(MINUTE)))
        lasting = closed_ns - created_ns
        initial = severity
        if severity in _ESCALATE_FROM and lasting >= 90 * MINUTE and rng.random() < ESCALATION_SHARE:
            initial = _ESCALATE_FROM[severity]
        plan = _Plan(incident_id, team, created_ns, start_ns, end_ns, closed_ns, severity, initial, is_drill)
        if not is_drill and lasting >= 3 * HOUR:
            plan.reopen = rng.random() < REOPEN_SHARE
            plan.late_commander = rng.random() < LATE_COMMANDER_SHARE
        return plan

    def _choose_open(self, plans: list[_Plan]) -> None:
        """About 3% still open (at least 2 from 50 incidents): recent ones and one forgotten one."""
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
            if plan.start_ns is not None:
                plan.start_ns = min(plan.start_ns, truncate_seconds(plan.created_ns))
            plan.end_ns = plan.closed_ns
            plan.reopen = plan.late_commander = False
            plan.initial_severity = plan.severity
        chosen = natural[:target]
        taken = {id(p) for p in chosen}
        recent = [p for p in plans[int(n * 0.9) :] if id(p) not in taken and not p.is_drill]
        rng.shuffle(recent)
        if n >= 100 and len(chosen) < target:  # one long-forgotten open incident
            old = [p for p in plans[: n // 2] if not p.is_drill]
            if old:
                chosen.append(pick(rng, old))
        while len(chosen) < target and recent:
            chosen.append(recent.pop())
        for plan in chosen:
            plan.open, plan.reopen, plan.end_ns = True, False, None
            if rng.random() < 0.3:
                plan.severity = plan.initial_severity = "Pending"

    def _bad_data(self, plans: list[_Plan]) -> None:
        """Zero and negative impact durations and missing impact times on some resolved incidents."""
        rng = self.rng
        candidates = [p for p in plans if not p.open and not p.is_drill and not p.reopen]
        count = round(BAD_ENTRY_SHARE * len(candidates))
        negative = max(count, 1 if len(plans) >= 50 else 0)
        zero = max(count, 1 if len(plans) >= 100 else 0)
        picked = rng.sample(candidates, min(len(candidates), negative + zero))
        for index, plan in enumerate(picked):
            assert plan.start_ns is not None
            if index < negative:
                plan.end_ns = truncate_seconds(plan.start_ns - 10 * MINUTE)
                self._note(plan, "negative_duration", "incidentEnd is 10 minutes before incidentStart")
            else:
                plan.end_ns = plan.start_ns
                self._note(plan, "zero_duration", "incidentEnd equals incidentStart (durationSeconds 0)")
        taken = {id(p) for p in picked}
        for plan in candidates:
            if id(plan) in taken:
                continue
            roll = rng.random()
            if roll < MISSING_START_SHARE:
                plan.start_ns = None
                self._note(plan, "missing_start", "incidentStart was never set (use createdTime)")
            elif roll < MISSING_START_SHARE + MISSING_END_SHARE:
                plan.end_ns = None
                self._note(plan, "missing_end", "incidentEnd was never set although resolved (use closedTime)")

    def _note(self, plan: _Plan, kind: str, text: str) -> None:
        self.planted[kind].append(plan.incident_id)
        self.notes[plan.incident_id] = text

    # -- building the records ----------------------------------------------------------------------

    def _build(self, plan: _Plan) -> Incident:
        rng = self.rng
        closed_ns = None if plan.open else plan.closed_ns
        service, region, labels = self._labels(plan, closed_ns is not None)
        title = pick(rng, DRILL_TITLES if plan.is_drill else TITLES).format(service=service, region=region)
        cast = self._cast(plan.team)
        incident = Incident(
            incident_id=plan.incident_id,
            title=title,
            slug=slugify(title),
            description=f"{service} in {region} is affected. Team {plan.team.name} is investigating.",
            summary=pick(rng, SUMMARIES) if closed_ns is not None and rng.random() < 0.6 else "",
            status="resolved" if closed_ns is not None else "active",
            severity_id=self.severity_by_label[plan.severity].severity_id,
            is_drill=plan.is_drill,
            incident_type="private" if rng.random() < 0.03 else "internal",
            created_ns=plan.created_ns,
            modified_ns=plan.created_ns,
            created_by=cast.creator,
            closed_ns=closed_ns,
            start_ns=plan.start_ns,
            end_ns=plan.end_ns,
            labels=labels,
        )
        incident.tasks = system_tasks(plan.created_ns)
        horizon = closed_ns if closed_ns is not None else self.anchor_ns - MINUTE
        timeline = _Timeline(rng, plan.created_ns, horizon)
        _Story(self, plan, incident, cast, timeline).tell()
        if not plan.is_drill:
            self._extras(incident, cast, timeline)
        rows = timeline.rows
        count = len(rows) // _WIDTH
        first_seq = self.seq + 1
        self.seq += count
        # The records are made when the timeline is first read (Incident.activity): every draw is made
        # above, so the world is the same, and a server never asked about an incident never pays for them.
        incident._activity_draft = partial(build_activity, incident.incident_id, first_seq, rows, timeline.attachments)
        incident.version = count
        incident.modified_ns = max(rows[_CREATED::_WIDTH])
        return incident

    def _extras(self, incident: Incident, cast: _Cast, timeline: _Timeline) -> None:
        """A Slack channel (``incidentChannels``, ``refs``), key updates and screenshots on notes."""
        rng = self.extras
        getrandbits = rng.getrandbits
        rows = timeline.rows
        notes = [at for at in range(0, len(rows), _WIDTH) if rows[at + _KIND] == "userNote"]  # where they start
        if rng.random() < SLACK_CHANNEL_SHARE:
            channel_id = "C" + f"{getrandbits(40):010X}"
            name = f"inc-{incident.incident_id}-{incident.slug}"[:80]
            incident.channels.append(Channel("slack", channel_id, SLACK_TEAM_ID, name))
            incident.refs.append(
                Ref("slackChannel", channel_id, f"https://slack.com/app_redirect?channel={channel_id}")
            )
            when = timeline.clamp(incident.created_ns + 5 * NS_PER_SECOND + _below(getrandbits, _SLACK_DELAY))
            timeline.add(
                "incidentUpdated",
                cast.creator,
                when,
                f"Created Slack channel #{name}",
                {"channelID": channel_id},
                uid=getrandbits(128),
            )
        severe = self.catalog.severities[incident.severity_id].label in ("Critical", "Major")
        if notes and (severe or rng.random() < 0.2):
            author = cast.commander or cast.creator
            chosen = [notes[0], *_sample(rng, notes[1:], min(len(notes) - 1, _below(getrandbits, 3)))]
            for index, note in enumerate(sorted(chosen, key=lambda at: rows[at + _CREATED])):
                content = KEY_UPDATES[min(index, len(KEY_UPDATES) - 2)]
                if index and note == notes[-1] and incident.closed_ns is not None:
                    content = KEY_UPDATES[-1]
                when = rows[note + _CREATED] + 1000
                update = KeyUpdate(
                    make_uuid(rng), incident.incident_id, None, content, "text/plain", when, when, author, author
                )
                incident.key_updates.append(update)
                timeline.add(
                    "incidentUpdated",
                    author,
                    when,
                    f"Key update: {content}",
                    {"keyUpdateID": update.key_update_id},
                    important=True,
                    uid=getrandbits(128),
                )
        attachments = timeline.attachments
        for note in notes:
            if rng.random() < SCREENSHOT_SHARE:
                name = f"{getrandbits(32):08x}"
                url = f"https://grafana.example.com/render/d-solo/{name}/dashboard.png"
                attachments[rows[note + _UID]] = Attachment(
                    make_uuid(rng),
                    rows[note + _USER],
                    url,
                    rows[note + _CREATED],
                    "image/png",
                    "image",
                    "png",
                    48_213,
                    "embed",
                )

    def _cast(self, team: Team) -> _Cast:
        """Who commands, investigates, responds, observes and declared the incident."""
        rng = self.rng
        members = self.team_people[team.name]
        commander = None
        if rng.random() < 0.95:
            weights = self.commander_weights[team.name]
            commander = members[bisect.bisect(weights, rng.random() * weights[-1])]
        investigator = None
        if rng.random() < 0.7:
            pool = self.people if rng.random() < 0.1 else members
            investigator = pick(rng, [p for p in pool if p != commander] or pool)
        responders = [p for p in (commander, investigator) if p is not None]
        others = [p for p in members if p not in responders]
        responders += _sample(rng, others, min(len(others), pick(rng, (0, 1, 1, 2, 3))))
        if len(responders) < 2:
            responders += _sample(rng, [p for p in self.people if p not in responders], 2 - len(responders))
        observers = _sample(rng, self.people, pick(rng, (0, 0, 1, 1, 2, 3)))
        creator = commander if commander and rng.random() < 0.6 else pick(rng, members)
        return _Cast(commander, investigator, responders, observers, creator)

    def _labels(self, plan: _Plan, resolved: bool) -> tuple[str, str, list[Label]]:
        random = self.rng.random
        team = plan.team.name
        services = plan.team.services
        service = services[int(random() * len(services))]
        region = REGIONS[int(random() * len(REGIONS))]
        keyed = self.label_args
        labels: list[Label] = []
        if random() < 0.95:
            labels.append(Label(*keyed["team", team]))
            if random() < 0.85:
                labels.append(Label(*keyed["service_name", service]))
        if random() < 0.7:
            labels.append(Label(*keyed["region", region]))
        if resolved and not plan.is_drill and random() < 0.6:
            labels.append(Label(*keyed["cause", CAUSES[int(random() * len(CAUSES))]]))
        for text, chance in self._tag_chances(team, plan.severity, plan.is_drill):
            if random() < chance:
                if text == "customer-facing":
                    text = _CUSTOMER_FACING.draw(self.rng)
                labels.insert(0, Label(*keyed[TAGS_KEY, text]))
        return service, region, labels

    def _tag_chances(self, team: str, severity: str, is_drill: bool) -> tuple[tuple[str, float], ...]:
        """The chance of each free-form label (in draw order) for incidents of this kind."""
        key = (team, severity, is_drill)
        chances = self.tag_chances.get(key)
        if chances is None:
            chances = self.tag_chances[key] = (
                ("security", 0.35 if team == "identity" else 0.03),
                ("database", 0.35 if team == "payments" else 0.05),
                ("customer-facing", 0.5 if severity in ("Critical", "Major") else 0.12),
                ("network", 0.25 if team == "platform" else 0.05),
                ("PIR not needed", 0.3 if severity == "Minor" else 0.03),
                ("false-positive", 0.4 if severity == "Pending" else 0.01),
                ("follow-up", 0.1),
                ("game-day", 1.0 if is_drill else 0.0),
            )
        return chances

    def name(self, user_id: str) -> str:
        return self.catalog.users[user_id].name

    def next_working_time(self, ns: int, team: Team) -> int:
        """``ns`` if it is in the team's working hours, else a time early in its next working morning."""
        zone = self.zones[team.name]
        local = datetime.fromtimestamp(ns // NS_PER_SECOND, zone)
        if local.weekday() < 5 and WORKDAY_START_HOUR <= local.hour < WORKDAY_END_HOUR:
            return ns
        day = local.date() if local.hour < WORKDAY_START_HOUR else local.date() + timedelta(days=1)
        while day.weekday() >= 5:
            day += timedelta(days=1)
        morning = datetime(day.year, day.month, day.day, WORKDAY_START_HOUR, tzinfo=zone)
        return int(morning.timestamp()) * NS_PER_SECOND + self.rng.randrange(90 * MINUTE)


class _Story:
    """The timeline of one incident: a burst at declaration, a few while it lasts, one at the end."""

    __slots__ = ("cast", "gen", "getrandbits", "incident", "pending_tasks", "plan", "random", "rng", "rows", "timeline")

    def __init__(self, gen: _Generator, plan: _Plan, incident: Incident, cast: _Cast, timeline: _Timeline) -> None:
        self.gen = gen
        self.rng = gen.rng
        self.random = gen.rng.random
        self.getrandbits = gen.rng.getrandbits
        self.plan = plan
        self.incident = incident
        self.cast = cast
        self.timeline = timeline
        self.rows = timeline.rows
        self.pending_tasks: list[tuple[Task, str]] = []

    def tell(self) -> None:
        plan, timeline, cast = self.plan, self.timeline, self.cast
        created = plan.created_ns
        resolved = self.incident.closed_ns is not None
        timeline.add("incidentCreated", cast.creator, created, f"Incident declared: {self.incident.title}")
        t = self._declaration_burst(created)
        final_start = max(t, plan.closed_ns - int(self.rng.uniform(5, 30) * MINUTE)) if resolved else timeline.horizon
        reopen_window = self._reopen(t, final_start) if plan.reopen else None
        starts = self._burst_starts(t + 30 * MINUTE, final_start - 20 * MINUTE)
        if plan.initial_severity != plan.severity:
            when = starts[0] if starts else timeline.clamp(t + int(self.rng.uniform(20, 60) * MINUTE))
            self._severity(plan.initial_severity, plan.severity, self._responder(), when)
            self.gen.planted["escalated"].append(plan.incident_id)
        for start in starts:
            if reopen_window is not None and reopen_window[0] <= start < reopen_window[1]:
                continue  # nobody works on it while it is (wrongly) resolved
            self._burst(start, 2 + _below(self.getrandbits, 3))  # rng.randint(2, 4)
        if resolved:
            t = self._burst(final_start, 1 + _below(self.getrandbits, 2))  # rng.randint(1, 2)
            self._close(final_start)

    # -- bursts ----------------------------------------------------------------------------------

    def _step(self, t: int, lo_minutes: float = 1.0, hi_minutes: float = 5.0) -> int:
        # rng.uniform(lo, hi) written out: the same draw, without a call per item.
        t += int((lo_minutes + (hi_minutes - lo_minutes) * self.random()) * MINUTE)
        latest = self.timeline.latest
        if t > latest:
            t = latest
        return t - t % 1000

    def _responder(self) -> str:
        responders = self.cast.responders
        return responders[int(self.random() * len(responders))]

    def _declaration_burst(self, created: int) -> int:
        """Triage right after declaring: start time, roles, severity, labels, tasks, first notes."""
        rng, plan, cast, timeline, incident = self.rng, self.plan, self.cast, self.timeline, self.incident
        t = created
        if plan.start_ns is not None and plan.start_ns < truncate_seconds(created):
            t = self._step(t, 2, 10)
            timeline.add("incidentStart", cast.creator, t, "Incident start time updated", event_ns=plan.start_ns)
        if cast.commander is not None:
            if plan.late_commander:
                latest = max(LATE_COMMANDER_AFTER, min(6 * HOUR, int((plan.closed_ns - created) * 0.6)))
                when = timeline.clamp(created + int(rng.uniform(LATE_COMMANDER_AFTER, latest)))
                if when - created >= LATE_COMMANDER_AFTER:
                    self.gen.planted["late_commander"].append(plan.incident_id)
            else:
                when = t = self._step(t, 0.1, 5)
            self._assign("commander", cast.commander, when, incident.tasks[0])
        if cast.investigator is not None:
            t = self._step(t, 1, 8)
            self._assign("investigator", cast.investigator, t, incident.tasks[1])
        if plan.severity != "Pending":
            t = self._step(t, 1, 6)
            self._severity("Pending", plan.initial_severity, cast.commander or cast.creator, t)
            incident.tasks[2].status, incident.tasks[2].modified_ns = "done", t
        for label in incident.labels[:2]:
            if rng.random() < 0.5:
                t = self._step(t, 0.5, 3)
                text = label.text if label.is_tag else f"{label.key}:{label.text}"
                timeline.add(
                    "labelAdded", cast.creator, t, f'Added label "{text}"', {"key": label.key, "label": label.text}
                )
        for text in _sample(rng, CUSTOM_TASKS, pick(rng, (0, 0, 1, 1, 2, 3))):
            t = self._step(t, 0.5, 4)
            self._add_task(text, t)
        random, latest = self.random, timeline.latest
        for _ in range(1 + _below(self.getrandbits, 3)):  # rng.randint(1, 3)
            # self._step(t) written out (the same draw).
            t += int((1.0 + 4.0 * random()) * MINUTE)
            if t > latest:
                t = latest
            t -= t % 1000
            self._note(t)
        return t

    def _burst(self, start: int, items: int) -> int:
        """A few notes and task updates minutes apart by the responders; returns when it ended."""
        t = self.timeline.clamp(start)
        random, latest, pending_tasks = self.random, self.timeline.latest, self.pending_tasks
        for _ in range(items):
            if pending_tasks and random() < 0.4:
                self._finish_task(t)
            else:
                self._note(t)
            # self._step(t) written out (the same draw).
            t += int((1.0 + 4.0 * random()) * MINUTE)
            if t > latest:
                t = latest
            t -= t % 1000
        return t

    def _burst_starts(self, lo: int, hi: int) -> list[int]:
        """When later bursts begin: more for longer incidents; office-hours teams wait for the morning."""
        if hi - lo < 30 * MINUTE:
            return []
        rng, plan = self.rng, self.plan
        count = min(4, 1 + int(math.log2(1 + (hi - lo) / HOUR)))
        starts = sorted(lo + int(rng.random() * (hi - lo)) for _ in range(count))
        if not plan.team.on_call and plan.severity != "Critical":
            starts = [s for s in (self.gen.next_working_time(s, plan.team) for s in starts) if s < hi]
        return starts

    # -- items -----------------------------------------------------------------------------------

    def _note(self, when: int) -> None:
        # The hottest item: its row is written here directly (who, text, ID, "important", in draw order).
        random = self.random
        responders = self.cast.responders
        who = responders[int(random() * len(responders))]
        body = NOTES[int(random() * _NOTE_COUNT)]
        uid = self.getrandbits(128)
        rows = self.rows
        rows += (when, uid, "userNote", who, when, body, "", None, random() < 0.1)

    def _assign(self, role_name: str, holder: str, when: int, task: Task) -> None:
        gen = self.gen
        self.incident.assignments.append(Assignment(holder, gen.roles[role_name].role_id))
        self.timeline.add(
            "roleAssigned",
            self.cast.creator,
            when,
            f"{gen.name(holder)} assigned as {role_name}",
            {"role": role_name},
            subject=holder,
        )
        task.status, task.modified_ns = "done", when
        if role_name == "commander":
            for observer in self.cast.observers:
                self.incident.assignments.append(Assignment(observer, gen.roles["observer"].role_id))

    def _severity(self, previous: str, severity: str, who: str, when: int) -> None:
        self.timeline.add(
            "incidentSeverityChanged",
            who,
            when,
            f"Severity changed from {previous} to {severity}",
            {"previousSeverity": previous, "severity": severity},
        )

    def _add_task(self, text: str, when: int) -> None:
        rng = self.rng
        # Custom task times keep nanoseconds (nanoseconds were seen on task times, docs/api.md#time-formats).
        created = when + 1 + _below(self.getrandbits, 999)  # rng.randrange(1, 1000)
        author = self._responder()
        assigned = pick(rng, self.cast.responders) if rng.random() < 0.5 else None
        task = Task(make_uuid(rng), text, "todo", False, created, created, author, assigned)
        self.incident.tasks.append(task)
        self.timeline.add("taskAdded", author, when, f'Added task "{text}"', {"taskID": task.task_id})
        resolved = self.incident.closed_ns is not None
        target = (_TASK_STATUS_RESOLVED if resolved else _TASK_STATUS_OPEN).draw(rng)
        if target == "progress":
            task.status = "progress"
            task.modified_ns = max(created, self._step(when, 1, 30) + 1 + _below(self.getrandbits, 999))
        elif target == "done":
            self.pending_tasks.append((task, author))

    def _finish_task(self, when: int) -> None:
        task, author = self.pending_tasks.pop(0)
        task.status = "done"
        task.modified_ns = max(task.created_ns, when + 1 + _below(self.getrandbits, 999))
        self.timeline.add(
            "taskCompleted",
            author,
            truncate_us(task.modified_ns),
            f'Completed task "{task.text}"',
            {"taskID": task.task_id},
        )

    def _status(self, previous: str, status: str, when: int, who: str) -> None:
        self.timeline.add(
            "incidentStatusChanged",
            who,
            when,
            f"Status changed from {previous} to {status}",
            {"previousStatus": previous, "status": status},
        )
        if status == "resolved":
            self.timeline.add("incidentClosed", who, when, "Incident resolved")

    def _reopen(self, after: int, final_start: int) -> tuple[int, int] | None:
        """Resolve too early, then reopen; returns the (resolved, reopened) window, or None if no room."""
        plan, rng = self.plan, self.rng
        first = max(
            after + 10 * MINUTE, plan.created_ns + int((plan.closed_ns - plan.created_ns) * rng.uniform(0.3, 0.5))
        )
        room = final_start - first
        if room < 40 * MINUTE:
            return None
        reopened = first + int(rng.uniform(10 * MINUTE, min(2 * HOUR, room / 2)))
        who = self.cast.commander or self.cast.creator
        self._status("active", "resolved", truncate_us(first), who)
        self._status("resolved", "active", truncate_us(reopened), who)
        self.timeline.add("userNote", who, truncate_us(reopened) + 1000, REOPEN_NOTE)
        self.gen.planted["reopened"].append(plan.incident_id)
        return first, reopened

    def _close(self, final_start: int) -> None:
        plan, rng = self.plan, self.rng
        closed = plan.closed_ns
        while self.pending_tasks:
            self._finish_task(self.timeline.clamp(final_start))
        self._status("active", "resolved", closed, self.cast.commander or self.cast.creator)
        end = plan.end_ns
        if end is not None and end != closed:
            edited = min(closed + rng.randrange(1, 120) * NS_PER_SECOND, self.gen.anchor_ns)
            self.timeline.add(
                "incidentEnd",
                self.cast.commander or self.cast.creator,
                edited,
                "Incident end time updated",
                event_ns=end,
            )


# While an incident's story is told, each activity item is _WIDTH values appended to one flat list:
# (event_ns, uid, kind, user_id, created_ns, body, subject_user_id, field_values or None, important).
# That is cheaper than making each record and editing it afterwards; build_activity() makes the
# records, in timeline order, once the story is complete.
_WIDTH: Final = 9
_UID: Final = 1
_KIND: Final = 2
_USER: Final = 3
_CREATED: Final = 4
_EVENT_OF = operator.itemgetter(0)
_HIGH_RELEVANCE = frozenset(("incidentCreated", "incidentClosed"))
_NOTE_COUNT = len(NOTES)
_SLACK_DELAY = 2 * MINUTE - 5 * NS_PER_SECOND


class _Timeline:
    """Collects the activity items of one incident (flat rows), keeping their times inside its lifetime."""

    __slots__ = ("attachments", "getrandbits", "horizon", "latest", "rows")

    def __init__(self, rng: random.Random, created_ns: int, horizon: int) -> None:
        self.horizon = horizon
        self.latest = max(horizon - NS_PER_SECOND, created_ns + NS_PER_SECOND)
        self.rows: list[Any] = []
        self.attachments: dict[int, Attachment] = {}
        """Screenshots on notes, by the note's uid."""
        self.getrandbits = rng.getrandbits

    def clamp(self, ns: int) -> int:
        """``ns`` at µs precision, moved before the horizon (close or anchor) if it is past it."""
        if ns > self.latest:
            ns = self.latest
        return ns - ns % 1000

    def add(
        self,
        kind: str,
        user_id: str,
        created_ns: int,
        body: str,
        field_values: dict[str, str] | None = None,
        *,
        subject: str = "",
        event_ns: int | None = None,
        important: bool = False,
        uid: int | None = None,
    ) -> None:
        """Append an item; ``event_ns`` defaults to ``created_ns``; its ID is drawn from the seed unless given."""
        if uid is None:
            uid = self.getrandbits(128)
        self.rows += (
            created_ns if event_ns is None else event_ns,
            uid,
            kind,
            user_id,
            created_ns,
            body,
            subject,
            field_values,
            important,
        )


def build_activity(
    incident_id: str, first_seq: int, rows: list[Any], attachments: dict[int, Attachment]
) -> list[ActivityItem]:
    """The activity records of generated rows, in timeline order (event time, then insertion), numbered."""
    items = []
    seq = first_seq
    per_item = [iter(rows)] * _WIDTH
    for event_ns, uid, kind, user_id, created_ns, body, subject, field_values, important in sorted(
        zip(*per_item, strict=True), key=_EVENT_OF
    ):
        if kind == "userNote":
            immutable, relevance = False, "normal"
        else:
            immutable, relevance = True, "high" if kind in _HIGH_RELEVANCE else "automatic"
        attachment = attachments.get(uid) if attachments else None
        items.append(
            ActivityItem(
                uid,
                incident_id,
                kind,
                user_id,
                created_ns,
                event_ns,
                body,
                seq,
                subject,
                "",
                ["important"] if important else [],
                immutable,
                {} if field_values is None else field_values,
                relevance,
                [] if attachment is None else [attachment],
            )
        )
        seq += 1
    return items


def _below(getrandbits: Callable[[int], int], n: int) -> int:
    """``rng._randbelow(n)`` (what ``randrange``, ``randint`` and ``sample`` draw with), without their checks."""
    k = n.bit_length()
    r = getrandbits(k)
    while r >= n:
        r = getrandbits(k)
    return r


def _sample(rng: random.Random, population: Sequence[T], k: int) -> list[T]:
    """``rng.sample(population, k)``: the same draws and result, cheaper for the small samples made here."""
    n = len(population)
    if k > 5 or n > 21 or not 0 <= k <= n:  # the cases where sample() works differently (or fails)
        return rng.sample(population, k)
    getrandbits = rng.getrandbits
    pool = list(population)
    result = []
    for i in range(k):
        j = _below(getrandbits, n - i)
        result.append(pool[j])
        pool[j] = pool[n - i - 1]
    return result


class _Weights:
    """A weighted choice over a small fixed table (faster than ``rng.choices`` per draw)."""

    def __init__(self, weights: dict[str, float]) -> None:
        self.keys = list(weights)
        self.cumulative = list(itertools.accumulate(weights.values()))

    def draw(self, rng: random.Random) -> str:
        return self.keys[bisect.bisect(self.cumulative, rng.random() * self.cumulative[-1])]


_SEVERITY = _Weights(SEVERITY_WEIGHTS)
_TEAM = _Weights({team.name: team.weight for team in TEAMS})
_CUSTOMER_FACING = _Weights(CUSTOMER_FACING_VARIANTS)
_TASK_STATUS_RESOLVED = _Weights({"done": 0.75, "todo": 0.15, "progress": 0.10})
_TASK_STATUS_OPEN = _Weights({"todo": 0.4, "progress": 0.3, "done": 0.3})
