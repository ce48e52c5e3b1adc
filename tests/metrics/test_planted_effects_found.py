"""The analysis finds what the emulator's ``demo`` scenario planted (issue #12's "done when").

``tests/emulator/test_planted_effects.py`` shows with plain pandas that the effects are in the data;
here the package's own metrics and clean-up helpers must find them, and must not find the
non-change. The planted effects and their numbers are documented in
:mod:`incident_analytics.emulator.scenarios` and :mod:`incident_analytics.emulator.seed`.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
import pytest

import incident_analytics as ia
from incident_analytics import metrics
from incident_analytics.bulk import find_label_duplicates
from incident_analytics.emulator.world import TEAMS
from tests.conftest import DemoScenario

IMPROVEMENT_DATE = "2026-05-01"


@dataclass(frozen=True)
class Demo:
    data: ia.IncidentData
    planted: dict[str, list[str]]

    @property
    def as_of(self) -> pd.Timestamp:
        return self.data.fetched_at

    def severity(self, name: str) -> pd.DataFrame:
        incidents = self.data.incidents
        return incidents[incidents["severity"] == name]

    def team_of(self) -> pd.Series:
        return self.data.labels.query("key == 'team'").set_index("incident_id")["value"]


@pytest.fixture(scope="module")
def demo(demo_scenario: DemoScenario) -> Demo:
    return Demo(demo_scenario.data, demo_scenario.planted)


def _ids(values: pd.Series) -> list[str]:
    return sorted(values.astype(str), key=int)


def test_compare_calls_the_planted_major_improvement_significant(demo: Demo) -> None:
    """Major's median time to resolve falls about 40% from 2026-05-01, and compare says it is real."""
    result = metrics.compare(demo.severity("Major"), split=IMPROVEMENT_DATE, as_of=demo.as_of)
    assert result.groups == ("before", "after")
    assert min(result.n) > 120
    assert -0.45 < result.relative_difference < -0.33, result.verdict
    assert result.significant and result.p_value < 0.01, result.verdict
    assert result.relative_ci[1] < 0  # the whole interval is a fall
    assert "fell" in result.verdict and "unlikely to be noise" in result.verdict


def test_compare_does_not_call_the_minor_non_change_significant(demo: Demo) -> None:
    """Minor's median moves about 10% by chance only: compare says it is not evidence."""
    result = metrics.compare(demo.severity("Minor"), split=IMPROVEMENT_DATE, as_of=demo.as_of)
    assert min(result.n) > 150
    assert 0.05 < abs(result.relative_difference) < 0.15, result.verdict
    assert not result.significant and result.p_value > 0.2, result.verdict
    assert result.relative_ci[0] < 0 < result.relative_ci[1]
    assert "not evidence" in result.verdict
    # The change it could have told apart is smaller than the planted improvement.
    assert result.min_detectable_change < 0.4


def test_compare_by_severity_separates_the_two(demo: Demo) -> None:
    """The same answers per group when compare is asked for every severity at once."""
    result = metrics.compare(demo.data.incidents, split=IMPROVEMENT_DATE, by="severity", as_of=demo.as_of)
    assert result.by_group["Major"].significant
    assert not result.by_group["Minor"].significant


def test_label_stats_shows_team_payments_slowest(demo: Demo) -> None:
    stats = metrics.label_stats(demo.data.labels, demo.data.incidents, as_of=demo.as_of)
    teams = stats[stats["key"] == "team"].set_index("value")["median"]
    assert set(teams.index) == {team.name for team in TEAMS}
    assert teams.idxmax() == "payments"
    assert teams["payments"] > 1.15 * teams.drop("payments").max()  # across severities: 3.1 h against 2.6 h


def test_lifecycle_finds_the_reopened_escalated_and_late_commander_incidents(demo: Demo) -> None:
    """Exactly the incidents the emulator lists in ``state.planted``, no more and no fewer."""
    data = demo.data
    life = metrics.lifecycle(data.activity, data.incidents, assignments=data.assignments, as_of=demo.as_of)
    per = life.per_incident
    assert _ids(per.loc[per["reopened"] > 0, "incident_id"]) == demo.planted["reopened"]
    assert _ids(per.loc[per["escalated"], "incident_id"]) == demo.planted["escalated"]
    late = per["time_to_commander"] >= pd.Timedelta(hours=1)
    assert _ids(per.loc[late, "incident_id"]) == demo.planted["late_commander"]
    assert min(len(demo.planted[kind]) for kind in ("reopened", "escalated", "late_commander")) >= 10
    # Most commanders are assigned within minutes; only the planted ones are late.
    assert per["time_to_commander"].median() < pd.Timedelta(minutes=10)


def test_workload_shows_late_and_sleeping_hours_for_the_on_call_teams(demo: Demo) -> None:
    """Each team's workload in its own time zone: payments and platform work late and at night."""
    team = demo.team_of()
    outside: dict[str, float] = {}
    for t in TEAMS:
        incidents = demo.data.incidents[demo.data.incidents["incident_id"].map(team) == t.name]
        load = metrics.workload(demo.data.activity, tz=t.timezone, incidents=incidents)
        total = load.per_person[["total", "late", "sleeping"]].sum()
        assert total["total"] > pd.Timedelta(hours=100), t.name
        outside[t.name] = (total["late"] + total["sleeping"]) / total["total"]
    on_call = min(outside["payments"], outside["platform"])
    office = max(outside["search"], outside["identity"])
    assert on_call > 0.25 and office < 0.15 and on_call > 2 * office, outside


def test_find_label_duplicates_groups_the_customer_facing_spellings(demo: Demo) -> None:
    groups = find_label_duplicates(demo.data.labels)
    first = groups[groups["group"] == 0]
    assert set(first["value"]) == {"customer-facing", "Customer Facing", "customer_facing"}
    assert (first["key"] == "tags").all()
    suggested = first.loc[first["suggested"], "value"]
    assert list(suggested) == ["customer-facing"]
    counts = first.set_index("value")["count"]
    tags = demo.data.labels.query("key == 'tags'")["value"].value_counts()
    assert counts.to_dict() == {value: int(tags[value]) for value in counts.index}
