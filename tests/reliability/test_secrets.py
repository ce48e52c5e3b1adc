"""The token leaks nowhere a user keeps or shows: the Parquet store a sync writes, the bulk journal,
the reports (review and postmortem), the reprs, the error texts and every log line (ours, httpx's and
httpcore's at DEBUG), with faults and an API that echoes the token back in its error bodies.
Logs, reprs and errors of a fetch: tests/test_secrets.py; cassettes: tests/test_cassette_secrets.py;
errors that echo the token across an excerpt cut: tests/test_transport.py; notebooks:
tests/test_notebooks.py."""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd
import pytest

import incident_analytics as ia
from incident_analytics import report
from incident_analytics.bulk import apply_label_changes, plan_label_changes
from incident_analytics.emulator import Emulator
from tests.fakes import SleepRecorder
from tests.reliability.tamper import tampering

TOKEN = "glsa_reliability-secret-0123456789abcdef"


def every_byte_under(folder: Path) -> bytes:
    return b"".join(path.read_bytes() for path in sorted(folder.rglob("*")) if path.is_file())


def test_the_token_is_in_no_store_journal_report_repr_error_or_log(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    shown: list[str] = []
    with Emulator(seed=4, incidents=12, token=TOKEN, faults={"503": 0.05, "429": 0.05}, fault_seed=1) as emu, \
            caplog.at_level(logging.DEBUG):
        with ia.IncidentClient(emu.url, TOKEN, sleep=SleepRecorder(), max_retries=10) as client:
            store = tmp_path / "store"
            data = ia.sync(client, store, progress=False)
            ia.sync(client, store, progress=False)
            first = str(data.incidents["incident_id"].iloc[0])
            changes = pd.DataFrame({"incident_id": [first], "key": ["tags"], "value": ["secret-check"]})
            plan = plan_label_changes(changes, client=client)
            result = apply_label_changes(client, plan, journal=tmp_path / "journal", progress=False)
            assert (result["status"] == "applied").all()
            shown += [repr(client), repr(data), repr(plan), repr(result), data.errors.to_string()]
            report.write_review(data, tmp_path / "reports" / "review.html")
            shown.append(report.postmortem(client, first, format="html"))
        # An error body that echoes the request back, token and all, must not carry it into the exception.
        with tampering(emu, "IncidentsService.GetIncident", "echo") as proxy, \
                ia.IncidentClient(proxy.url, TOKEN, sleep=SleepRecorder()) as client:  # type: ignore[attr-defined]
            with pytest.raises(ia.IncidentAPIError) as caught:
                client.incidents.get(first)
            shown += [str(caught.value), repr(caught.value), str(caught.value.body)]
            assert "you sent" in str(caught.value) + str(caught.value.body), "the echo must have come back"
    assert len(caplog.records) > 50, "DEBUG logging of the requests should have been captured"
    written = every_byte_under(tmp_path)
    assert b"secret-check" in written or (tmp_path / "journal").exists()
    assert TOKEN.encode() not in written
    assert TOKEN not in caplog.text
    for text in shown:
        assert TOKEN not in text
