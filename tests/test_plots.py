"""The charts, on the Agg backend: what is drawn (bars, lines, marks, labels, titles), not pixels."""

from __future__ import annotations

from collections.abc import Iterator

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from matplotlib.colors import to_hex
from matplotlib.container import BarContainer

from incident_analytics import metrics, plots
from tests.metrics.conftest import frame, incident

AS_OF = pd.Timestamp("2026-04-01", tz="UTC")


@pytest.fixture(autouse=True)
def close_figures() -> Iterator[None]:
    yield
    plt.close("all")


@pytest.fixture
def incidents() -> pd.DataFrame:
    rows = []
    for i, (month, severity, hours) in enumerate(
        [
            (1, "Critical", 1),
            (1, "Minor", 5),
            (2, "Major", 2),
            (2, "Major", 3),
            (3, "Minor", 8),
            (3, "Critical", 0.5),
            (3, "Minor", None),
            (3, "Major", 4),
            (1, "Minor", 7),
            (2, "Critical", 2),
        ]
    ):
        start = pd.Timestamp(f"2026-{month:02d}-10 08:00") + pd.Timedelta(hours=i)
        end = None if hours is None else str(start + pd.Timedelta(hours=hours))
        rows.append(incident(str(i), str(start), end, severity=severity))
    return frame("incidents", rows)


def bars(ax: plt.Axes) -> list[BarContainer]:
    return [c for c in ax.containers if isinstance(c, BarContainer)]


def test_incidents_over_time_stacks_one_bar_set_per_severity(incidents: pd.DataFrame) -> None:
    ax = plots.incidents_over_time(incidents, freq="MS")
    containers = bars(ax)
    assert [c.get_label() for c in containers] == ["Critical", "Major", "Minor"]
    assert all(len(c) == 3 for c in containers)  # January, February, March
    heights = np.array([[p.get_height() for p in c] for c in containers])
    assert heights.sum(axis=0).tolist() == [3, 3, 4]
    for container in containers:
        assert to_hex(container[0].get_facecolor()) == plots.SEVERITY_COLORS[container.get_label()].lower()
    assert ax.get_title() == "Incidents per month by severity"
    assert ax.get_ylabel() == "Incidents" and "UTC" in ax.get_xlabel()
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["Critical", "Major", "Minor"]


def test_time_to_resolve_distribution_draws_curves_bands_and_censor_marks(incidents: pd.DataFrame) -> None:
    result = metrics.survival(incidents, by="severity", as_of=AS_OF)
    _fig, ax = plt.subplots()
    assert plots.time_to_resolve_distribution(result, ax=ax) is ax
    curves = [line for line in ax.get_lines() if not line.get_label().startswith("_")]
    assert [line.get_label() for line in curves] == ["Critical (n=3)", "Major (n=3)", "Minor (n=4)"]
    assert [to_hex(line.get_color()) for line in curves] == [
        plots.SEVERITY_COLORS[s].lower() for s in ("Critical", "Major", "Minor")
    ]
    marks = [line for line in ax.get_lines() if line.get_gid() == "censored"]
    assert len(marks) == 1 and marks[0].get_marker() == "|" and len(marks[0].get_xdata()) == 1  # the open Minor
    assert len(ax.collections) == 3  # one confidence band per group
    assert ax.get_xscale() == "log"
    assert "Kaplan-Meier" in ax.get_title() and "censored" in ax.get_title()
    assert ax.get_xlabel() == "Time to resolve (hours, log scale)" and ax.get_ylabel() == "Share still unresolved"


def test_time_to_resolve_distribution_accepts_incidents(incidents: pd.DataFrame) -> None:
    ax = plots.time_to_resolve_distribution(incidents, by=None, as_of=AS_OF)
    assert [line.get_label() for line in ax.get_lines() if not line.get_label().startswith("_")] == ["all (n=10)"]


def test_mttr_trend_draws_median_band_p90_and_n(incidents: pd.DataFrame) -> None:
    table = metrics.mttr(incidents, freq="M", as_of=AS_OF)
    ax = plots.mttr_trend(table)
    labels = [line.get_label() for line in ax.get_lines()]
    assert labels == ["median", "p90"]
    median = ax.get_lines()[0]
    np.testing.assert_allclose(median.get_ydata(), table["median"].dt.total_seconds() / 3600)
    assert len(median.get_xdata()) == 3
    assert [t.get_text() for t in ax.texts if t.get_gid() == "n"] == ["n=3", "n=3", "n=3"]
    assert len(ax.collections) == 1  # the CI band
    assert ax.get_title() == "Time to resolve per month: median with 90% CI, and p90"
    assert ax.get_ylabel() == "Time to resolve (hours)"
    quarterly = plots.mttr_trend(incidents, freq="QS", as_of=AS_OF)
    assert quarterly.get_title().startswith("Time to resolve per quarter")


def test_compare_draws_both_samples_the_bootstrap_and_the_verdict(incidents: pd.DataFrame) -> None:
    result = metrics.compare(incidents, split="2026-02-01", as_of=AS_OF, n_resamples=500)
    ax = plots.compare(result)
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend == ["before (n=3)", "after (n=6)"]
    assert len(ax.patches) == 2  # two stepfilled histograms
    title = ax.get_title()
    assert title.startswith("Median time to resolve: before vs after\n")
    assert " ".join(title.split("\n")[1:]) == result.verdict
    (inset,) = ax.child_axes
    assert inset.get_title() == "Bootstrap: after - before"
    assert sum(p.get_height() for p in inset.patches) == 500


def test_label_frequency_and_cooccurrence() -> None:
    labels = frame(
        "labels",
        [
            {"incident_id": "1", "key": "team", "value": "db"},
            {"incident_id": "2", "key": "team", "value": "db"},
            {"incident_id": "2", "key": "tags", "value": "security"},
            {"incident_id": "3", "key": "team", "value": "web"},
        ],
    )
    ax = plots.label_frequency(labels, top=2)
    (container,) = bars(ax)
    assert [t.get_text() for t in ax.get_yticklabels()] == ["security", "team:db"]  # most frequent on top
    assert [p.get_width() for p in container] == [1, 2]
    assert ax.get_title() == "Most frequent labels (top 2 of 3)" and ax.get_xlabel() == "Incidents"
    matrix = metrics.label_cooccurrence(labels, metric="jaccard")
    ax = plots.label_cooccurrence(matrix)
    assert len(ax.images) == 1 and ax.images[0].get_array().shape == (3, 3)
    assert [t.get_text() for t in ax.get_xticklabels()] == ["security", "team:db", "team:web"]
    assert len([t for t in ax.texts if t.get_gid() == "value"]) == 9
    assert ax.get_title() == "Label co-occurrence (jaccard)"


def test_workload_stacks_working_late_sleeping_per_person() -> None:
    activity = frame(
        "activity",
        [
            {"incident_id": "1", "activity_kind": "userNote", "created_time": t, "user_id": u, "user_name": n}
            for t, u, n in [
                ("2026-05-04 09:00", "a", "Ann"),
                ("2026-05-04 22:55", "a", "Ann"),
                ("2026-05-04 23:10", "a", "Ann"),
                ("2026-05-04 20:00", "b", "Bob"),
            ]
        ],
    )
    result = metrics.workload(activity)
    ax = plots.workload(result)
    containers = bars(ax)
    assert [c.get_label() for c in containers] == ["working hours", "late hours", "sleeping hours"]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["Bob", "Ann"]
    widths = [[round(p.get_width() * 60) for p in c] for c in containers]
    assert widths == [[0, 10], [10, 5], [0, 20]]  # minutes: Bob 10 late; Ann 10 working, 5 late, 20 asleep
    assert ax.get_title() == "Time on incidents per person, by time of day (UTC)"


def test_incident_timeline_shows_kinds_and_changes() -> None:
    incidents = frame("incidents", [{**incident("7", "2026-05-04 10:00", "2026-05-04 11:00"), "title": "DB down"}])
    rows = [
        ("incidentCreated", "10:00", "Incident declared: DB down"),
        ("incidentSeverityChanged", "10:05", "Severity changed from Pending to Critical"),
        ("roleAssigned", "10:06", "Ann assigned as commander"),
        ("userNote", "10:20", "restarting"),
        ("taskAdded", "10:25", 'Added task "check"'),
        ("incidentStatusChanged", "11:00", "Status changed from active to resolved"),
    ]
    activity = frame(
        "activity",
        [
            {"incident_id": "7", "activity_kind": k, "created_time": f"2026-05-04 {t}", "user_id": "a", "body": b}
            for k, t, b in rows
        ]
        + [{"incident_id": "8", "activity_kind": "userNote", "created_time": "2026-05-04 10:00", "body": "other"}],
    )
    ax = plots.incident_timeline(activity, "7", incidents=incidents)
    assert ax.get_title() == "Incident 7: DB down - timeline of 6 activity items"
    assert [t.get_text() for t in ax.get_yticklabels()] == ["Status", "Severity", "Roles", "Labels", "Tasks", "Notes"]
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend[:5] == ["Status", "Severity", "Roles", "Tasks", "Notes"]
    changes = [t.get_text() for t in ax.texts if t.get_gid() == "change"]
    assert "Critical" in changes and "Ann assigned as commander" in changes
    severity_points = ax.collections[1]
    assert to_hex(severity_points.get_facecolors()[0]) == plots.SEVERITY_COLORS["Critical"].lower()
    assert {line.get_gid() for line in ax.get_lines()} == {"incident_start", "incident_end"}
    with pytest.raises(ValueError, match="no activity for incident '99'"):
        plots.incident_timeline(activity, "99")


def test_colours_are_fixed_per_group_name() -> None:
    assert plots.color_for("Critical") == plots.SEVERITY_COLORS["Critical"]
    assert plots.color_for("team-x") == plots.color_for("team-x")
    assert plots.color_for(None) == plots.color_for("(none)")


def test_mttr_trend_draws_one_line_per_group_in_its_colour(incidents: pd.DataFrame) -> None:
    table = metrics.mttr(incidents, by="severity", freq="M", as_of=AS_OF)
    ax = plots.mttr_trend(table)
    lines = ax.get_lines()
    assert [line.get_label() for line in lines] == ["Critical median", "Major median", "Minor median"]
    assert [to_hex(line.get_color()) for line in lines] == [
        plots.SEVERITY_COLORS[s].lower() for s in ("Critical", "Major", "Minor")
    ]
    assert len(ax.collections) == 3
    assert ax.get_title() == "Median time to resolve per month by severity, with 90% CI"
