"""The effects planted in the ``demo`` scenario, found with plain pandas on frames from ``ia.fetch``.

No analysis module is used: these tests keep the seeded data honest, so that when the metrics,
reports or clean-up flows are checked against the demo, what they should find is really there.
The numbers asserted here are the ones documented in :mod:`incident_analytics.emulator.scenarios`.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import incident_analytics as ia
from incident_analytics.emulator import Emulator
from incident_analytics.emulator.world import TEAMS
from tests.conftest import DemoScenario

IMPROVEMENT_DATE = pd.Timestamp("2026-05-01", tz="UTC")
HOUR = pd.Timedelta(hours=1)


class Demo:
    """The demo scenario fetched once, with the emulator's own list of planted incidents."""

    def __init__(self, data: ia.IncidentData, planted: dict[str, list[str]]) -> None:
        self.data = data
        self.planted = planted
        incidents = data.incidents
        start = incidents["incident_start"].fillna(incidents["created_time"])
        end = incidents["incident_end"].fillna(incidents["closed_time"])
        team = data.labels.query("key == 'team'").set_index("incident_id")["value"]
        self.incidents = incidents.assign(
            ttr_minutes=(end - start).dt.total_seconds() / 60,
            team=incidents["incident_id"].map(team),
            after=incidents["created_time"] >= IMPROVEMENT_DATE,
        )
        self.resolved = self.incidents[self.incidents["status"] == "resolved"]


@pytest.fixture(scope="module")
def demo(demo_scenario: DemoScenario) -> Demo:
    return Demo(demo_scenario.data, demo_scenario.planted)


def _median_test(after: np.ndarray, before: np.ndarray) -> float:
    """Permutation p-value of the difference of medians (two-sided)."""

    def statistic(x: np.ndarray, y: np.ndarray, axis: int) -> np.ndarray:
        return np.asarray(np.median(x, axis=axis) - np.median(y, axis=axis))

    result = stats.permutation_test((after, before), statistic, vectorized=True, n_resamples=4999, random_state=0)
    return float(result.pvalue)


def _before_after(demo: Demo, severity: str) -> tuple[np.ndarray, np.ndarray]:
    rows = demo.resolved[demo.resolved["severity"] == severity]
    return rows.loc[~rows["after"], "ttr_minutes"].to_numpy(), rows.loc[rows["after"], "ttr_minutes"].to_numpy()


def test_the_demo_is_a_year_of_a_real_organisation(demo: Demo) -> None:
    """~950 non-drill incidents over ~14 months; all four severities; a few still open."""
    incidents = demo.incidents
    assert 900 < len(incidents) < 1000 and not incidents["is_drill"].any()
    span = incidents["created_time"].max() - incidents["created_time"].min()
    assert pd.Timedelta(days=380) < span < pd.Timedelta(days=430)
    assert set(incidents["severity"]) == {"Critical", "Major", "Minor", "Pending"}
    assert 10 <= (incidents["status"] == "active").sum() <= 50


def test_major_incidents_resolve_forty_percent_faster_from_may(demo: Demo) -> None:
    """The planted improvement: Major's median time to resolve falls by about 40%, significantly."""
    before, after = _before_after(demo, "Major")
    assert (len(before), len(after)) == (145, 158)
    ratio = np.median(after) / np.median(before)
    assert 0.55 < ratio < 0.65
    assert _median_test(after, before) < 0.01


def test_minor_incidents_move_about_ten_percent_by_chance_only(demo: Demo) -> None:
    """The planted non-change: Minor's median moves ~10%, and a permutation test does not call it."""
    before, after = _before_after(demo, "Minor")
    assert (len(before), len(after)) == (196, 207)
    ratio = np.median(after) / np.median(before)
    assert 0.05 < abs(1 - ratio) < 0.15
    assert _median_test(after, before) > 0.2


def test_team_payments_is_slower_at_every_severity(demo: Demo) -> None:
    """The slow label: ``team:payments`` takes 1.5-2.5 times the other teams' median, severity by severity."""
    medians = demo.resolved.groupby(["severity", "team"])["ttr_minutes"].median().unstack()
    for severity in ("Major", "Minor"):
        others = medians.loc[severity].drop("payments").median()
        assert 1.5 < medians.loc[severity, "payments"] / others < 2.5


def test_durations_are_heavy_tailed_with_bad_entries(demo: Demo) -> None:
    """Lognormal-like per severity with a tail of days; zero and negative durations; missing times."""
    ttr = demo.resolved["ttr_minutes"]
    assert (ttr > 2 * 24 * 60).sum() >= 5
    assert ttr.quantile(0.95) > 5 * ttr.median()
    assert (ttr == 0).sum() >= 1 and (ttr < 0).sum() >= 1
    resolved = demo.resolved
    assert resolved["incident_start"].isna().sum() >= 5 and resolved["incident_end"].isna().sum() >= 5
    late = (resolved["incident_start"] < resolved["created_time"] - pd.Timedelta(minutes=1)).mean()
    assert 0.08 < late < 0.25


def test_label_pairs_co_occur(demo: Demo) -> None:
    """security goes with team:identity, database with team:payments, network with team:platform."""
    labels = demo.data.labels
    text = np.where(labels["key"] == "tags", labels["value"], labels["key"] + ":" + labels["value"])
    sets = pd.Series(text, index=labels["incident_id"]).groupby(level=0).agg(set)
    n = len(demo.incidents)

    def lift(a: str, b: str) -> float:
        has_a, has_b = sets.map(lambda s: a in s), sets.map(lambda s: b in s)
        return float((has_a & has_b).sum() * n / (has_a.sum() * has_b.sum()))

    assert lift("security", "team:identity") > 2.5
    assert lift("database", "team:payments") > 2.0
    assert lift("network", "team:platform") > 1.8


def test_near_duplicate_labels_for_the_clean_up(demo: Demo) -> None:
    """customer-facing is also spelt "Customer Facing" and "customer_facing"."""
    tags = demo.data.labels.query("key == 'tags'")["value"]
    counts = tags.value_counts()
    variants = ["customer-facing", "Customer Facing", "customer_facing"]
    assert all(counts[v] >= 10 for v in variants)
    assert counts["customer-facing"] > 3 * counts["Customer Facing"] > counts["customer_facing"]
    normalised = tags.str.lower().str.replace(r"[ _]", "-", regex=True)
    assert (normalised == "customer-facing").sum() == counts[variants].sum()


def test_reopened_incidents_show_in_the_timeline(demo: Demo) -> None:
    """resolved → active, then resolved again; the incident's status and closedTime are the last ones."""
    activity = demo.data.activity
    reopen = activity[activity["body"] == "Status changed from resolved to active"]
    ids = sorted(set(reopen["incident_id"]), key=int)
    assert len(ids) >= 10 and ids == demo.planted["reopened"]
    closed = activity[activity["activity_kind"] == "incidentClosed"].groupby("incident_id")["event_time"]
    incidents = demo.incidents.set_index("incident_id")
    for incident_id in ids:
        assert incidents.loc[incident_id, "status"] == "resolved"
        assert closed.count()[incident_id] == 2
        assert closed.max()[incident_id] == incidents.loc[incident_id, "closed_time"]
        assert reopen.loc[reopen["incident_id"] == incident_id, "event_time"].iloc[0] < closed.max()[incident_id]


def test_escalated_incidents_show_in_the_timeline(demo: Demo) -> None:
    """A second severity change to a more severe level; the incident ends at that severity."""
    changes = demo.data.activity.query("activity_kind == 'incidentSeverityChanged'").sort_values("event_time")
    parsed = changes["body"].str.extract(r"from (\w+) to (\w+)")
    escalations = changes[(parsed[0] != "Pending") & parsed[0].isin(["Minor", "Major"])]
    ids = sorted(set(escalations["incident_id"]), key=int)
    assert len(ids) >= 10 and ids == demo.planted["escalated"]
    last = changes.groupby("incident_id")["body"].last().str.extract(r"to (\w+)$")[0]
    severity = demo.incidents.set_index("incident_id")["severity"]
    assert all(last[i] == severity[i] for i in ids)
    assert set(severity[ids]) <= {"Major", "Critical"}


def test_some_commanders_are_assigned_late(demo: Demo) -> None:
    """roleAssigned (commander) an hour or more after declaration in a few dozen incidents."""
    activity = demo.data.activity
    commander = activity[(activity["activity_kind"] == "roleAssigned") & activity["body"].str.endswith("as commander")]
    declared = demo.incidents.set_index("incident_id")["created_time"]
    delay = commander["event_time"] - commander["incident_id"].map(declared)
    late = sorted(set(commander.loc[delay >= HOUR, "incident_id"]), key=int)
    assert len(late) >= 20 and late == demo.planted["late_commander"]
    assert delay.median() < pd.Timedelta(minutes=10)


def test_declarations_follow_each_teams_working_hours(demo: Demo) -> None:
    """Most declarations fall on weekdays 09:00-18:00 in the owning team's time zone."""
    for team in TEAMS:
        created = demo.incidents.loc[demo.incidents["team"] == team.name, "created_time"].dt.tz_convert(team.timezone)
        working = ((created.dt.weekday < 5) & (created.dt.hour >= 9) & (created.dt.hour < 18)).mean()
        assert working > (0.65 if team.on_call else 0.9), (team.name, working)


def test_workload_shows_night_hours_for_on_call_teams_only(demo: Demo) -> None:
    """Share of timeline items between 00:00 and 06:00 local time: high for payments and platform only."""
    activity = demo.data.activity
    team = demo.incidents.set_index("incident_id")["team"]
    night: dict[str, float] = {}
    for t in TEAMS:
        items = activity.loc[activity["incident_id"].map(team) == t.name, "created_time"].dt.tz_convert(t.timezone)
        night[t.name] = float((items.dt.hour < 6).mean())
    assert min(night["payments"], night["platform"]) > 3 * max(night["search"], night["identity"])
    assert max(night["search"], night["identity"]) < 0.05


def test_responders_work_in_bursts_of_two_to_five_people(demo: Demo) -> None:
    """Items minutes apart while active, long quiet gaps while waiting; 2-5 people per incident."""
    activity = demo.data.activity.sort_values(["incident_id", "created_time"])
    gaps = activity.groupby("incident_id")["created_time"].diff().dropna()
    assert (gaps <= pd.Timedelta(minutes=10)).mean() > 0.7
    assert (gaps >= HOUR).mean() > 0.03
    people = activity.groupby("incident_id")["user_id"].nunique()
    assert people.between(2, 7).mean() > 0.9


def test_tasks_are_never_modified_before_created(demo: Demo) -> None:
    tasks = demo.data.tasks
    assert len(tasks) > 3000 and (tasks["modified_time"] >= tasks["created_time"]).all()


@pytest.mark.parametrize("name", ["small", "empty"])
def test_other_scenarios(name: str) -> None:
    """``small`` is a short history, ``empty`` only the catalogue."""
    with Emulator(scenario=name) as emu, ia.IncidentClient(emu.url, emu.token) as client:
        data = ia.fetch(client, progress=False, include=())
        assert emu.scenario is not None and emu.scenario.name == name
        expected = emu.scenario.incidents
        assert len(emu.state.incidents) == expected
        assert len(data.incidents) == expected - sum(i.is_drill for i in emu.state.incidents.values())
        assert re.search(rf"scenario={name}", repr(emu))
        users = client.call("UsersService.QueryUsers", {"query": {"limit": 50}})["users"]
        assert len(users) == 16


def test_explicit_arguments_override_a_scenario() -> None:
    emu = Emulator(scenario="demo", incidents=10)
    assert emu.seed == 36 and len(emu.state.incidents) == 10
    with pytest.raises(ValueError, match="unknown scenario 'huge'; one of demo, small, large, empty"):
        Emulator(scenario="huge")
