"""End to end: the token appears in no log line (ours or httpx/httpcore at DEBUG), no repr and no error."""

from __future__ import annotations

import logging

import pytest

import incident_analytics as ia
from incident_analytics.emulator import Emulator
from tests.fakes import SleepRecorder


def test_a_fetch_with_faults_leaks_the_token_nowhere(caplog: pytest.LogCaptureFixture) -> None:
    with Emulator(seed=9, incidents=40) as emu:
        emu.inject("503", method="IncidentsService.GetIncident", times=2)
        emu.inject("500", method="ActivityService.QueryActivity", times=None, incident_id="3")
        with (
            caplog.at_level(logging.DEBUG),
            ia.IncidentClient(emu.url, emu.token, sleep=SleepRecorder()) as client,
        ):
            data = ia.fetch(client, progress=False)
            with pytest.raises(ia.IncidentAPIError) as caught:
                client.call("IncidentsService.QueryIncidentPreviews", {"query": {"queryString": "any(a b)"}})
            rendered = [repr(client), repr(data), str(caught.value), repr(caught.value), str(caught.value.body)]
            rendered += [str(v) for v in data.errors.astype(str).to_numpy().ravel()]
        token = emu.token
    assert len(caplog.records) > 50, "DEBUG logging of every request should have been captured"
    assert token not in caplog.text
    assert all(token not in text for text in rendered)
    assert data.incomplete == ["3"]
