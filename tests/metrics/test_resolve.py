"""time_to_resolve, mttr and incident_counts on hand-computed examples."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest
from pandas.testing import assert_frame_equal

from incident_analytics import metrics

from .conftest import AS_OF, frame, incident

H = pd.Timedelta(hours=1)


@pytest.fixture
def mixed() -> pd.DataFrame:
    return frame(
        "incidents",
        [
            incident("a", "2026-06-01 08:00", "2026-06-01 10:00"),  # 2 h, incident_start/incident_end
            {  # 1.5 h from the fallback columns
                **incident("b", None, None),
                "created_time": "2026-06-01 09:00",
                "closed_time": "2026-06-01 10:30",
                "status": "resolved",
            },
            incident("c", "2026-06-01 11:00", None),  # open: 2 h at AS_OF (13:00)
            incident("d", "2026-06-01 12:00", "2026-06-01 11:50"),  # negative
            incident("e", "2026-06-01 12:00", "2026-06-01 12:00"),  # zero
            incident("f", "2026-06-01 08:00", "2026-06-01 09:00", is_drill=True),  # drill, 1 h
            {**incident("g", None, None), "closed_time": "2026-06-01 10:00", "status": "resolved"},  # no start
        ],
    )


def test_time_to_resolve_uses_the_anchors_and_censors_open_incidents(mixed: pd.DataFrame) -> None:
    before = mixed.copy()
    ttr = metrics.time_to_resolve(mixed, as_of=AS_OF).set_index("incident_id")
    assert_frame_equal(mixed, before)  # input untouched
    assert "f" not in ttr.index  # drills excluded by default
    assert ttr.loc["a", "duration"] == 2 * H and ttr.loc["a", "start_anchor"] == "incident_start"
    assert ttr.loc["a", "end_anchor"] == "incident_end"
    assert ttr.loc["b", "duration"] == 1.5 * H
    assert (ttr.loc["b", "start_anchor"], ttr.loc["b", "end_anchor"]) == ("created_time", "closed_time")
    assert ttr.loc["c", "duration"] == 2 * H and not ttr.loc["c", "resolved"] and pd.isna(ttr.loc["c", "end"])
    assert pd.isna(ttr.loc["c", "end_anchor"])
    assert ttr.loc["d", "duration"] == -10 * pd.Timedelta(minutes=1) and ttr.loc["d", "negative"]
    assert ttr.loc["e", "zero"] and not ttr.loc["e", "negative"]
    assert ttr.loc["g", "end_without_start"] and pd.isna(ttr.loc["g", "duration"])
    assert ttr["duration"].dtype == "timedelta64[ns]"
    anchors = ttr.attrs["anchors"]
    assert anchors["start"] == "incident_start, else created_time" and anchors["as_of"] == AS_OF
    assert anchors["start_columns"] == {"incident_start": 4, "created_time": 1}
    assert anchors["excluded"] == {"negative": 1, "zero": 1, "end without start": 1}
    with_drills = metrics.time_to_resolve(mixed, as_of=AS_OF, include_drills=True)
    assert "f" in set(with_drills["incident_id"])


def test_as_of_defaults_to_now() -> None:
    incidents = frame("incidents", [incident("a", "2026-01-01 00:00", None)])
    now = pd.Timestamp.now(tz="UTC")
    duration = metrics.time_to_resolve(incidents)["duration"].iloc[0]
    assert abs(duration - (now - pd.Timestamp("2026-01-01", tz="UTC"))) < pd.Timedelta(minutes=1)


def test_missing_columns_are_named() -> None:
    incidents = frame("incidents", [incident("a", "2026-01-01 00:00", None)]).drop(columns=["closed_time", "is_drill"])
    with pytest.raises(ValueError, match=r"missing column\(s\) 'closed_time', 'is_drill'"):
        metrics.mttr(incidents)
    with pytest.raises(ValueError, match="'is_drill'"):
        metrics.time_to_resolve(incidents.assign(closed_time=pd.NaT))


def test_mttr_hand_computed(mixed: pd.DataFrame) -> None:
    incidents = pd.concat(
        [
            mixed,
            frame(
                "incidents",
                [
                    incident("h", "2026-06-01 00:00", "2026-06-01 03:00"),
                    incident("i", "2026-06-01 00:00", "2026-06-01 04:00"),
                ],
            ),
        ],
        ignore_index=True,
    )
    row = metrics.mttr(incidents, as_of=AS_OF).iloc[0]
    # Resolved with a positive duration: a 2 h, b 1.5 h, h 3 h, i 4 h (d, e, g excluded; c open; f a drill).
    assert (row["n"], row["n_open"], row["n_excluded"]) == (4, 1, 3)
    assert row["mean"] == 2.625 * H
    assert row["median"] == 2.5 * H
    assert row["p90"] == pd.Timedelta(hours=3 + 0.7)  # position 0.9 * 3 = 2.7 between 3 h and 4 h
    assert row["p95"] == pd.Timedelta(hours=3 + 0.85)
    assert abs(row["geometric_mean"] - pd.Timedelta(hours=float(np.prod([1.5, 2, 3, 4]) ** 0.25))) < pd.Timedelta(
        microseconds=1
    )
    assert row["median_ci_low"] <= row["median"] <= row["median_ci_high"]


def test_mttr_median_ci_is_the_exact_bootstrap_percentile_interval() -> None:
    hours = [1, 2, 4, 7, 11]
    incidents = frame(
        "incidents",
        [incident(str(i), "2026-01-01 00:00", str(pd.Timestamp("2026-01-01") + h * H)) for i, h in enumerate(hours)],
    )
    row = metrics.mttr(incidents, as_of=AS_OF, ci=0.8).iloc[0]
    # Every one of the 5^5 resamples, equally likely: their medians' 10th and 90th percentiles.
    medians = np.sort([np.median(sample) for sample in itertools.product(hours, repeat=5)])
    cdf = np.arange(1, len(medians) + 1) / len(medians)
    low, high = medians[np.argmax(cdf >= 0.1)], medians[np.argmax(cdf >= 0.9)]
    assert (row["median_ci_low"], row["median_ci_high"]) == (low * H, high * H)
    again = metrics.mttr(incidents, as_of=AS_OF, ci=0.8)
    assert_frame_equal(metrics.mttr(incidents, as_of=AS_OF, ci=0.8), again)  # results repeat


def test_mttr_groups_one_row_groups_and_empty_groups() -> None:
    incidents = frame(
        "incidents",
        [
            incident("1", "2026-01-05 00:00", "2026-01-05 01:00", severity="Critical"),
            incident("2", "2026-01-06 00:00", "2026-01-06 03:00", severity="Minor"),
            incident("3", "2026-02-06 00:00", "2026-02-06 05:00", severity="Minor"),
            incident("4", "2026-02-07 00:00", None, severity="Critical"),
        ],
    )
    table = metrics.mttr(incidents, by="severity", freq="M", as_of=AS_OF)
    assert list(table.columns[:2]) == ["severity", "period"]
    rows = {(r.severity, str(r.period)): r for r in table.itertuples()}
    one = rows[("Critical", "2026-01")]
    assert one.n == 1 and one.mean == one.median == one.p90 == one.median_ci_low == one.median_ci_high == H
    only_open = rows[("Critical", "2026-02")]
    assert only_open.n == 0 and only_open.n_open == 1 and pd.isna(only_open.median)
    assert rows[("Minor", "2026-02")].median == 5 * H
    # Offset aliases name the same periods, without warnings.
    assert_frame_equal(metrics.mttr(incidents, by="severity", freq="MS", as_of=AS_OF), table)
    assert set(metrics.mttr(incidents, freq="Q", as_of=AS_OF)["period"].astype(str)) == {"2026Q1"}
    assert len(metrics.mttr(incidents, freq="W", as_of=AS_OF)) == 2  # weeks of 5-6 Jan and 6-7 Feb


def test_mttr_by_label_key_counts_an_incident_in_each_of_its_values() -> None:
    incidents = frame(
        "incidents",
        [
            incident("1", "2026-01-05 00:00", "2026-01-05 01:00"),
            incident("2", "2026-01-06 00:00", "2026-01-06 03:00"),
            incident("3", "2026-01-07 00:00", "2026-01-07 05:00"),
        ],
    )
    labels = frame(
        "labels",
        [
            {"incident_id": "1", "key": "team", "value": "db"},
            {"incident_id": "1", "key": "team", "value": "web"},
            {"incident_id": "2", "key": "team", "value": "web"},
        ],
    )
    table = metrics.mttr(incidents, by="team", labels=labels, as_of=AS_OF)
    by_team = {
        ("(none)" if pd.isna(t) else t): (n, median)
        for t, n, median in zip(table["team"], table["n"], table["median"], strict=False)
    }
    assert by_team == {"db": (1, H), "web": (2, 2 * H), "(none)": (1, 5 * H)}
    with pytest.raises(ValueError, match="by='service'"):
        metrics.mttr(incidents, by="service", labels=labels)


def test_empty_input() -> None:
    empty = frame("incidents", [])
    assert metrics.time_to_resolve(empty).empty
    row = metrics.mttr(empty, as_of=AS_OF)
    assert len(row) == 1 and row["n"].iloc[0] == 0 and pd.isna(row["median"].iloc[0])
    assert metrics.mttr(empty, by="severity", freq="M").empty
    assert metrics.incident_counts(empty).empty


def test_incident_counts_are_zero_filled() -> None:
    incidents = frame(
        "incidents",
        [
            incident("1", "2026-01-05 00:00", None, severity="Critical"),
            incident("2", "2026-03-06 00:00", None, severity="Minor"),
            incident("3", "2026-03-07 00:00", None, severity="Minor"),
            incident("4", "2026-02-07 00:00", None, severity="Minor", is_drill=True),
        ],
    )
    counts = metrics.incident_counts(incidents, freq="MS", by="severity")
    assert counts["period"].astype(str).tolist() == ["2026-01"] * 2 + ["2026-02"] * 2 + ["2026-03"] * 2
    assert counts["severity"].tolist() == ["Critical", "Minor"] * 3
    assert counts["incidents"].tolist() == [1, 0, 0, 0, 0, 2]
    assert metrics.incident_counts(incidents, include_drills=True)["incidents"].tolist() == [1, 1, 2]


def test_bad_arguments_are_named() -> None:
    incidents = frame("incidents", [incident("1", "2026-01-05 00:00", None)])
    with pytest.raises(ValueError, match="freq 'fortnight'"):
        metrics.mttr(incidents, freq="fortnight")
    with pytest.raises(ValueError, match="ci must be"):
        metrics.mttr(incidents, ci=90)
    with pytest.raises(ValueError, match="as_of"):
        metrics.mttr(incidents, as_of="not a time")
