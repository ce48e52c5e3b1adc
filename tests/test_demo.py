"""The demo: emulator, fetch, a labelled summary, and both HTML reports written into one folder."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest

import incident_analytics as ia
from incident_analytics.demo import run_demo


def test_demo_writes_both_reports_and_labels_every_number(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GRAFANA_URL", raising=False)
    monkeypatch.delenv("GRAFANA_SERVICE_ACCOUNT_TOKEN", raising=False)
    out = io.StringIO()
    result = run_demo(tmp_path / "out", incidents=120, seed=2, progress=False, out=out)
    text = out.getvalue()

    # Why N seeded incidents become M: the drills, counted through the API.
    assert result.seeded == 120 and result.drills > 0
    assert len(result.data.incidents) == result.seeded - result.drills
    assert f"Seeded incidents in the emulator: {result.seeded}" in text
    assert f"Drills among them (excluded from every number below): {result.drills}" in text
    assert f"Incidents fetched (seeded minus drills): {result.seeded - result.drills}" in text
    # Counts are integers under named columns.
    assert re.search(r"severity\s+open incidents\s+resolved incidents\s+all incidents", text)
    assert re.search(r"severity\s+resolved \(n\)\s+open \(n\)\s+left out \(n\)\s+median hours\s+p90 hours", text)
    counts = text.split("Incidents by severity (counts):")[1].split("Time to resolve by severity")[0]
    assert re.search(r"\d", counts) and not re.search(r"\d\.\d", counts)

    # Both reports, in the folder asked for, announced with their paths and how to open them.
    assert result.review == tmp_path / "out" / "review.html"
    assert result.postmortem == tmp_path / "out" / f"postmortem-{result.postmortem_id}.html"
    for path in (result.review, result.postmortem):
        assert path.read_text().startswith("<!doctype html>")
        assert str(path.resolve()) in text
    assert "Open the reports in any browser" in text
    assert ia.IncidentData.read_parquet(result.store).incidents.shape[0] == len(result.data.incidents)

    # The postmortem is of the longest resolved incident.
    from incident_analytics import metrics

    ttr = metrics.time_to_resolve(result.data.incidents, as_of=result.data.fetched_at)
    longest = ttr[ttr["resolved"]].sort_values("duration").iloc[-1]["incident_id"]
    assert result.postmortem_id == str(longest)
    assert "glsa_" not in text
    assert result.total_seconds >= result.fetch_seconds > 0
