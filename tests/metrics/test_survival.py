"""survival: Kaplan-Meier by hand and against lifelines (the reference) to 1e-9."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from lifelines import KaplanMeierFitter
from lifelines.utils import median_survival_times

import incident_analytics as ia
from incident_analytics import metrics

from .conftest import AS_OF, frame, incident

H = pd.Timedelta(hours=1)
# Durations in hours: events at 1, 2, 2, 5, 7; still open (censored) at 3, 6, 6.
EVENTS = [1, 2, 2, 5, 7]
OPEN = [3, 6, 6]


def worked_example() -> pd.DataFrame:
    rows = []
    for i, hours in enumerate(EVENTS):
        start = AS_OF - pd.Timedelta(days=2)
        rows.append(incident(f"e{i}", str(start), str(start + hours * H)))
    for i, hours in enumerate(OPEN):
        rows.append(incident(f"o{i}", str(AS_OF - hours * H), None))
    return frame("incidents", rows)


def test_hand_worked_kaplan_meier() -> None:
    result = metrics.survival(worked_example(), as_of=AS_OF)
    curve = result.curve
    assert curve["time"].tolist() == [pd.Timedelta(0)] + [h * H for h in (1, 2, 3, 5, 6, 7)]
    # S(1) = 7/8; S(2) = 7/8 * 5/7; S(5) = 5/8 * 3/4 (3 censored before 5 leaves 4 at risk); S(7) = 0.
    expected = [1, 7 / 8, 5 / 8, 5 / 8, 15 / 32, 15 / 32, 0]
    np.testing.assert_allclose(curve["survival"], expected, rtol=0, atol=1e-12)
    assert curve["at_risk"].tolist() == [8, 8, 7, 5, 4, 3, 1]
    assert curve["events"].tolist() == [0, 1, 2, 0, 1, 0, 1]
    assert curve["censored"].tolist() == [0, 0, 0, 1, 0, 2, 0]
    assert (curve["group"] == "all").all()
    assert result.median == 5 * H  # first time at or below one half
    assert result.median_ci == (1 * H, 7 * H)
    assert result.anchors.as_of == AS_OF and result.anchors.start.startswith("incident_start")


def test_median_is_nat_when_the_curve_never_reaches_one_half() -> None:
    rows = [incident("done", "2026-06-01 10:00", "2026-06-01 11:00")]
    rows += [incident(f"open{i}", "2026-06-01 10:00", None) for i in range(3)]
    result = metrics.survival(frame("incidents", rows), as_of=AS_OF)
    assert result.curve["survival"].min() == 0.75
    assert pd.isna(result.median)


def test_groups_give_series_and_a_frame_of_intervals() -> None:
    rows = [
        incident("1", "2026-06-01 00:00", "2026-06-01 01:00", severity="Critical"),
        incident("2", "2026-06-01 00:00", "2026-06-01 03:00", severity="Minor"),
        incident("3", "2026-06-01 00:00", None, severity="Minor"),
        incident("4", "2026-06-01 00:00", "2026-06-01 00:30", severity="Minor", is_drill=True),
    ]
    result = metrics.survival(frame("incidents", rows), by="severity", as_of=AS_OF)
    assert result.groups == ["Critical", "Minor"]
    assert result.median["Critical"] == H and result.median["Minor"] == 3 * H  # the drill left out
    assert list(result.median_ci.columns) == ["low", "high"]
    assert result.summary.set_index("group").loc["Minor", ["n", "events", "censored"]].tolist() == [2, 1, 1]


def test_empty_input() -> None:
    result = metrics.survival(frame("incidents", []), as_of=AS_OF)
    assert result.curve["survival"].tolist() == [1.0] and pd.isna(result.median)


def _lifelines(durations: np.ndarray, events: np.ndarray, ci: float) -> KaplanMeierFitter:
    return KaplanMeierFitter(alpha=1 - ci).fit(durations, events)


def _check_against_lifelines(result: metrics.SurvivalResult, table: pd.DataFrame, group_column: str | None) -> int:
    checked = 0
    for group in result.groups:
        part = table if group_column is None else table[table[group_column].astype(str) == group]
        durations = part["duration"].dt.total_seconds().to_numpy()
        events = part["resolved"].to_numpy()
        kmf = _lifelines(durations, events, result.ci)
        curve = result.curve[result.curve["group"] == group]
        # lifelines' timeline is 0 and every distinct duration, like ours: compare row by row.
        times = curve["time"].dt.total_seconds().to_numpy()
        np.testing.assert_allclose(times, kmf.survival_function_.index.to_numpy(), rtol=0, atol=1e-6)
        np.testing.assert_allclose(curve["survival"], kmf.survival_function_.iloc[:, 0].to_numpy(), rtol=0, atol=1e-9)
        np.testing.assert_allclose(curve["ci_low"], kmf.confidence_interval_.iloc[:, 0].to_numpy(), rtol=0, atol=1e-9)
        np.testing.assert_allclose(curve["ci_high"], kmf.confidence_interval_.iloc[:, 1].to_numpy(), rtol=0, atol=1e-9)
        events_table = kmf.event_table
        np.testing.assert_array_equal(curve["at_risk"].to_numpy()[1:], events_table["at_risk"].to_numpy()[1:])
        np.testing.assert_array_equal(curve["events"].to_numpy(), events_table["observed"].to_numpy())
        np.testing.assert_array_equal(curve["censored"].to_numpy(), events_table["censored"].to_numpy())
        median = result.median if group_column is None else result.median[group]
        if np.isfinite(kmf.median_survival_time_):
            assert abs(median.total_seconds() - kmf.median_survival_time_) < 1e-6
        else:
            assert pd.isna(median)
        low, high = median_survival_times(kmf.confidence_interval_).iloc[0]
        ours = result.median_ci if group_column is None else tuple(result.median_ci.loc[group])
        for mine, theirs in zip(ours, (low, high), strict=True):
            assert (pd.isna(mine) and not np.isfinite(theirs)) or abs(mine.total_seconds() - theirs) < 1e-6
        checked += len(times)
    return checked


def test_hand_worked_example_matches_lifelines() -> None:
    incidents = worked_example()
    result = metrics.survival(incidents, as_of=AS_OF)
    table = metrics.time_to_resolve(incidents, as_of=AS_OF)
    assert _check_against_lifelines(result, table, None) == 7


@pytest.mark.parametrize("ci", [0.95, 0.8])
def test_emulator_data_matches_lifelines_by_severity(emulator_data: ia.IncidentData, ci: float) -> None:
    as_of = emulator_data.fetched_at
    result = metrics.survival(emulator_data.incidents, by="severity", as_of=as_of, ci=ci)
    table = metrics.time_to_resolve(emulator_data.incidents, as_of=as_of)
    table["severity"] = (
        emulator_data.incidents.set_index("incident_id").loc[table["incident_id"], "severity"].to_numpy()
    )
    usable = table["duration"] > pd.Timedelta(0)
    assert (~usable).sum() == sum(result.anchors.excluded.values())
    assert result.summary["censored"].sum() == (~table.loc[usable, "resolved"]).sum() > 0
    assert _check_against_lifelines(result, table[usable], "severity") > 100
