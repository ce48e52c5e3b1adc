"""label_stats and label_cooccurrence on hand-computed examples and emulator data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import incident_analytics as ia
from incident_analytics import metrics

from .conftest import AS_OF, frame, incident

H = pd.Timedelta(hours=1)


@pytest.fixture
def data() -> tuple[pd.DataFrame, pd.DataFrame]:
    incidents = frame(
        "incidents",
        [
            incident("1", "2026-01-01 00:00", "2026-01-01 01:00"),
            incident("2", "2026-02-01 00:00", "2026-02-01 03:00"),
            incident("3", "2026-03-01 00:00", None),
            incident("4", "2026-04-01 00:00", "2026-04-01 02:00", is_drill=True),
        ],
    )
    labels = frame(
        "labels",
        [
            {"incident_id": "1", "key": "team", "value": "db"},
            {"incident_id": "1", "key": "tags", "value": "security"},
            {"incident_id": "1", "key": "tags", "value": "security"},  # repeated: counts once
            {"incident_id": "2", "key": "team", "value": "db"},
            {"incident_id": "3", "key": "team", "value": "web"},
            {"incident_id": "3", "key": "tags", "value": "security"},
            {"incident_id": "4", "key": "team", "value": "db"},  # a drill
            {"incident_id": "9", "key": "team", "value": "db"},  # not in incidents
        ],
    )
    return incidents, labels


def test_label_stats_hand_computed(data: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    incidents, labels = data
    stats = metrics.label_stats(labels, incidents, as_of=AS_OF)
    assert list(stats.columns) == ["key", "value", "incidents", "share", "n_open", "median", "first_seen", "last_seen"]
    rows = {(r.key, r.value): r for r in stats.itertuples()}
    db = rows[("team", "db")]
    assert (db.incidents, db.share, db.n_open, db.median) == (2, 2 / 3, 0, 2 * H)  # median of 1 h and 3 h
    assert (db.first_seen, db.last_seen) == (pd.Timestamp("2026-01-01", tz="UTC"), pd.Timestamp("2026-02-01", tz="UTC"))
    security = rows[("tags", "security")]
    assert (security.incidents, security.n_open, security.median) == (2, 1, H)
    web = rows[("team", "web")]
    assert web.incidents == 1 and web.n_open == 1 and pd.isna(web.median)
    assert stats["incidents"].tolist() == sorted(stats["incidents"], reverse=True)
    assert stats.attrs["anchors"]["as_of"] == AS_OF
    with_drills = metrics.label_stats(labels, incidents, as_of=AS_OF, include_drills=True)
    assert with_drills.set_index(["key", "value"]).loc[("team", "db"), "incidents"] == 3


def test_label_stats_empty_and_missing_columns(data: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    incidents, labels = data
    assert metrics.label_stats(labels.iloc[:0], incidents, as_of=AS_OF).empty
    with pytest.raises(ValueError, match="labels frame is missing column\\(s\\) 'value'"):
        metrics.label_stats(labels.drop(columns=["value"]), incidents)


def test_label_cooccurrence_metrics(data: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    _, labels = data
    # Incidents 1, 2, 3, 4, 9 (five); team:db on 1, 2, 4, 9; security on 1, 3; team:web on 3.
    counts = metrics.label_cooccurrence(labels)
    assert list(counts.index) == ["security", "team:db", "team:web"] == list(counts.columns)
    assert counts.loc["security", "team:db"] == 1 and counts.loc["team:db", "team:db"] == 4
    assert counts.loc["security", "team:web"] == 1 and counts.loc["team:db", "team:web"] == 0
    assert (counts.to_numpy() == counts.to_numpy().T).all()
    jaccard = metrics.label_cooccurrence(labels, metric="jaccard")
    assert jaccard.loc["security", "team:db"] == pytest.approx(1 / 5)  # {1} / {1, 2, 3, 4, 9}
    assert np.diag(jaccard).tolist() == [1.0, 1.0, 1.0]
    lift = metrics.label_cooccurrence(labels, metric="lift")
    assert lift.loc["security", "team:web"] == pytest.approx((1 / 5) / ((2 / 5) * (1 / 5)))
    only_team = metrics.label_cooccurrence(labels, keys=["team"])
    assert list(only_team.index) == ["team:db", "team:web"]
    # With incidents: drills and unknown incidents leave, N is the incidents counted.
    incidents = data[0]
    counted = metrics.label_cooccurrence(labels, incidents=incidents, metric="lift")
    assert counted.attrs["n_incidents"] == 3
    assert counted.loc["team:db", "team:db"] == pytest.approx(3 / 2)  # 2 of 3 incidents: 2 * 3 / (2 * 2)
    with pytest.raises(ValueError, match="metric must be one of count, jaccard, lift"):
        metrics.label_cooccurrence(labels, metric="pmi")


def test_label_stats_on_emulator_data_match_a_plain_pandas_count(emulator_data: ia.IncidentData) -> None:
    stats = metrics.label_stats(emulator_data.labels, emulator_data.incidents, as_of=emulator_data.fetched_at)
    real = emulator_data.incidents[~emulator_data.incidents["is_drill"].fillna(False).astype(bool)]
    kept = emulator_data.labels[emulator_data.labels["incident_id"].isin(real["incident_id"])]
    expected = kept.drop_duplicates(["incident_id", "key", "value"]).groupby(["key", "value"]).size()
    got = stats.set_index(["key", "value"])["incidents"]
    assert got.sort_index().to_dict() == expected.sort_index().to_dict()
    assert (stats["share"] == stats["incidents"] / len(real)).all()
    matrix = metrics.label_cooccurrence(emulator_data.labels, keys=["team"])
    # Each incident has at most one team: the off-diagonal is empty.
    assert (matrix.to_numpy() - np.diag(np.diag(matrix.to_numpy())) == 0).all()
