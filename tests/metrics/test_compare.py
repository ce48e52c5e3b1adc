"""compare: no false alarms on one distribution, a threefold change found, the verdict and its numbers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from incident_analytics import metrics

from .conftest import AS_OF, frame, incident

SPLIT = pd.Timestamp("2026-03-01", tz="UTC")


def samples(before_hours: np.ndarray, after_hours: np.ndarray, **fields: object) -> pd.DataFrame:
    """Incidents starting before SPLIT with ``before_hours`` durations and after it with ``after_hours``."""
    rows = []
    for side, hours in (("b", before_hours), ("a", after_hours)):
        base = SPLIT - pd.Timedelta(days=30) if side == "b" else SPLIT + pd.Timedelta(days=1)
        for i, h in enumerate(hours):
            start = base + pd.Timedelta(minutes=7 * i)
            rows.append(incident(f"{side}{i}", str(start), str(start + pd.Timedelta(hours=float(h))), **fields))
    return frame("incidents", rows)


def lognormal(rng: np.random.Generator, n: int, median_hours: float = 2.0) -> np.ndarray:
    return np.round(rng.lognormal(np.log(median_hours), 1.0, n), 4) + 0.001


def test_one_distribution_is_not_significant_in_at_least_90_percent_of_50_seeds() -> None:
    significant = 0
    for seed in range(50):
        rng = np.random.default_rng(seed)
        incidents = samples(lognormal(rng, 60), lognormal(rng, 70))
        result = metrics.compare(incidents, split=SPLIT, as_of=AS_OF, n_resamples=1000, seed=seed)
        significant += result.significant
        assert 0 < result.p_value <= 1
    assert significant <= 5


@pytest.mark.parametrize("statistic", ["median", "mean", "geometric_mean", "p90"])
def test_a_threefold_change_is_significant(statistic: str) -> None:
    rng = np.random.default_rng(7)
    before = lognormal(rng, 80)
    after = lognormal(rng, 75) * 3
    result = metrics.compare(samples(before, after), split=SPLIT, statistic=statistic, as_of=AS_OF, n_resamples=2000)
    assert result.groups == ("before", "after") and result.n == (80, 75)
    value_b = {
        "median": np.median(after),
        "p90": np.quantile(after, 0.9),
        "mean": np.mean(after),
        "geometric_mean": np.exp(np.mean(np.log(after))),
    }[statistic]
    assert abs(result.values[1].total_seconds() / 3600 - value_b) < 1e-6
    assert result.significant and result.p_value < 0.01
    assert result.relative_difference > 1
    assert result.ci_low > pd.Timedelta(0)
    assert result.relative_ci[0] > 0
    assert "rose" in result.verdict and "unlikely to be noise" in result.verdict
    assert "with 80 and 75 incidents" in result.verdict


def test_verdict_of_a_small_change_names_the_chance_and_the_detectable_change() -> None:
    rng = np.random.default_rng(3)
    before = lognormal(rng, 80)
    result = metrics.compare(samples(before, before[:75] * 0.9), split=SPLIT, as_of=AS_OF, n_resamples=2000)
    assert not result.significant
    assert result.verdict.startswith(f"Median time to resolve fell {abs(result.relative_difference) * 100:.0f}% (")
    assert "with 80 and 75 incidents a change this size appears by chance" in result.verdict
    assert "this is not evidence of improvement" in result.verdict
    assert f"Only changes above {result.min_detectable_change * 100:.0f}% could be told apart." in result.verdict
    # The bootstrap interval of the difference covers no change, and the detectable change exceeds this one.
    assert result.ci_low < pd.Timedelta(0) < result.ci_high
    assert result.min_detectable_change > abs(result.relative_difference)


def test_detectable_change_shrinks_with_more_incidents() -> None:
    rng = np.random.default_rng(11)
    small = metrics.compare(samples(lognormal(rng, 40), lognormal(rng, 40)), split=SPLIT, as_of=AS_OF, n_resamples=2000)
    large = metrics.compare(
        samples(lognormal(rng, 400), lognormal(rng, 400)), split=SPLIT, as_of=AS_OF, n_resamples=2000
    )
    assert 0 < large.min_detectable_change < small.min_detectable_change


def test_results_repeat_for_a_seed() -> None:
    rng = np.random.default_rng(5)
    incidents = samples(lognormal(rng, 50), lognormal(rng, 50))
    one = metrics.compare(incidents, split=SPLIT, as_of=AS_OF, n_resamples=500, seed=4)
    two = metrics.compare(incidents, split=SPLIT, as_of=AS_OF, n_resamples=500, seed=4)
    assert (one.p_value, one.ci_low, one.ci_high, one.verdict) == (two.p_value, two.ci_low, two.ci_high, two.verdict)
    np.testing.assert_array_equal(one.bootstrap, two.bootstrap)
    assert len(one.bootstrap) == len(one.null) == 500
    assert one.anchors.as_of == AS_OF


def test_split_by_a_column_or_label_key_with_two_values() -> None:
    rng = np.random.default_rng(9)
    incidents = samples(lognormal(rng, 30), lognormal(rng, 30))
    incidents["severity"] = np.where(incidents["incident_id"].str.startswith("b"), "Major", "Minor")
    incidents["severity"] = incidents["severity"].astype(pd.StringDtype("pyarrow"))
    by_column = metrics.compare(incidents, split="severity", as_of=AS_OF, n_resamples=500)
    by_time = metrics.compare(incidents, split=SPLIT, as_of=AS_OF, n_resamples=500)
    assert by_column.groups == ("Major", "Minor") and by_column.values == by_time.values
    labels = frame(
        "labels",
        [
            {"incident_id": i, "key": "team", "value": "db" if i.startswith("b") else "web"}
            for i in incidents["incident_id"]
        ],
    )
    by_label = metrics.compare(incidents, split="team", labels=labels, as_of=AS_OF, n_resamples=500)
    assert by_label.groups == ("db", "web") and by_label.values == by_time.values
    incidents.loc[0, "severity"] = "Critical"
    with pytest.raises(ValueError, match=r"exactly two values, found 3: 'Critical', 'Major', 'Minor'"):
        metrics.compare(incidents, split="severity", as_of=AS_OF)


def test_open_incidents_and_drills_stay_out_of_the_samples() -> None:
    rng = np.random.default_rng(2)
    incidents = samples(lognormal(rng, 20), lognormal(rng, 20))
    extra = frame(
        "incidents",
        [
            incident("open", str(SPLIT + pd.Timedelta(days=2)), None),
            incident("drill", str(SPLIT + pd.Timedelta(days=2)), str(SPLIT + pd.Timedelta(days=9)), is_drill=True),
        ],
    )
    result = metrics.compare(
        pd.concat([incidents, extra], ignore_index=True), split=SPLIT, as_of=AS_OF, n_resamples=500
    )
    assert result.n == (20, 20) and result.n_open == (0, 1)


def test_too_few_incidents_and_bad_arguments() -> None:
    incidents = samples(np.array([1.0]), np.array([2.0, 3.0]))
    result = metrics.compare(incidents, split=SPLIT, as_of=AS_OF, n_resamples=500)
    assert result.verdict.startswith("Too few incidents to compare: 1 in before and 2 in after")
    assert np.isnan(result.p_value) and not result.significant
    with pytest.raises(ValueError, match="statistic must be one of median, mean, geometric_mean, p90"):
        metrics.compare(incidents, split=SPLIT, statistic="p99")
    with pytest.raises(ValueError, match="split='nonsense'"):
        metrics.compare(incidents, split="nonsense")


def test_by_compares_within_each_group() -> None:
    rng = np.random.default_rng(4)
    major = samples(lognormal(rng, 30), lognormal(rng, 30) * 3, severity="Major")
    minor = samples(lognormal(rng, 30), lognormal(rng, 30), severity="Minor")
    minor["incident_id"] = ("m" + minor["incident_id"]).astype(pd.StringDtype("pyarrow"))
    result = metrics.compare(
        pd.concat([major, minor], ignore_index=True), split=SPLIT, by="severity", as_of=AS_OF, n_resamples=1000
    )
    assert set(result.by_group) == {"Major", "Minor"}
    assert result.n == (60, 60) and result.by_group["Major"].n == (30, 30)
    assert result.by_group["Major"].significant
