"""Hostile answers, through a real proxy in front of the emulator (tests/reliability/tamper.py).

For each kind the outcome is one a user can rely on: a transient spoiled answer is retried and the
frames equal a clean fetch's; a lasting one leaves that incident in ``data.errors`` /
``data.incomplete`` with the rest kept, or (``strict=True``) raises an ``IncidentAPIError`` that
names the method; nothing hangs and nothing wrong is returned as data.
Transport-level cases are in tests/test_transport.py (gzip bomb, trickled body, redirects, token
echoed across an excerpt cut) and tests/test_pagination.py (cursor loops, max_pages).
"""

from __future__ import annotations

import pytest

import incident_analytics as ia
from incident_analytics.emulator import Emulator
from tests.fakes import SleepRecorder
from tests.reliability.conftest import INCIDENTS, SEED, assert_same_frames
from tests.reliability.tamper import tampering

ACTIVITY = "ActivityService.QueryActivity"
GET = "IncidentsService.GetIncident"
LIST = "IncidentsService.QueryIncidentPreviews"
# Answers spoiled for good (tests/reliability/tamper.py): each must end as an error, never as data.
HOSTILE = ["html", "truncated", "wrong_types", "error200", "redirect", "lying_gzip"]


@pytest.fixture(scope="module")
def emu() -> Emulator:
    with Emulator(seed=SEED, incidents=INCIDENTS) as emulator:
        yield emulator  # type: ignore[misc]


@pytest.fixture(scope="module")
def clean(emu: Emulator) -> ia.IncidentData:
    with ia.IncidentClient(emu.url, emu.token) as client:
        return ia.fetch(client, progress=False)


def fetch_through(url: str, token: str, **options: object) -> ia.IncidentData:
    with ia.IncidentClient(url, token, sleep=SleepRecorder(), attempt_timeout=1.5) as client:
        return ia.fetch(client, progress=False, **options)  # type: ignore[arg-type]


def test_a_transient_html_proxy_page_is_retried_and_the_frames_are_identical(
    emu: Emulator, clean: ia.IncidentData
) -> None:
    with tampering(emu, GET, "html", times=5) as proxy:
        data = fetch_through(proxy.url, emu.token)  # type: ignore[attr-defined]
    assert proxy.spoiled == 5
    assert_same_frames(data, clean)


@pytest.mark.parametrize("kind", HOSTILE)
def test_a_lasting_hostile_answer_is_an_error_row_per_incident_and_the_rest_is_kept(
    emu: Emulator, clean: ia.IncidentData, kind: str
) -> None:
    with tampering(emu, ACTIVITY, kind) as proxy:
        data = fetch_through(proxy.url, emu.token)  # type: ignore[attr-defined]
    ids = set(clean.incidents["incident_id"])
    assert proxy.spoiled >= len(ids)
    assert set(data.incomplete) == ids, kind
    assert set(data.errors["method"]) <= {"activity", ACTIVITY}
    assert data.activity.empty
    # What did not go through the spoiled method is all there, unchanged.
    assert_same_frames_without_activity(data, clean)


def assert_same_frames_without_activity(data: ia.IncidentData, clean: ia.IncidentData) -> None:
    for name in ("tasks", "labels", "assignments"):
        a, b = getattr(data, name), getattr(clean, name)
        assert a.reset_index(drop=True).equals(b.reset_index(drop=True)), name
    assert list(data.incidents["incident_id"]) == list(clean.incidents["incident_id"])


@pytest.mark.parametrize("kind", HOSTILE)
def test_strict_raises_an_api_error_naming_the_method(emu: Emulator, kind: str) -> None:
    with tampering(emu, GET, kind) as proxy, pytest.raises(ia.IncidentAPIError) as caught:
        fetch_through(proxy.url, emu.token, strict=True)  # type: ignore[attr-defined]
    assert GET in str(caught.value) or "GetIncident" in str(caught.value)
    assert emu.token not in str(caught.value)


def test_an_endless_cursor_on_the_listing_stops_with_a_clear_error(emu: Emulator) -> None:
    with tampering(emu, LIST, "endless") as proxy, pytest.raises(ia.IncidentAPIError) as caught:
        fetch_through(proxy.url, emu.token)  # type: ignore[attr-defined]
    assert "QueryIncidentPreviews" in str(caught.value)
    assert proxy.spoiled < 1000


def test_a_trickled_answer_times_out_per_attempt_and_is_retried(emu: Emulator, clean: ia.IncidentData) -> None:
    with tampering(emu, GET, "trickle", times=2) as proxy:
        data = fetch_through(proxy.url, emu.token)  # type: ignore[attr-defined]
    assert proxy.spoiled == 2
    assert_same_frames(data, clean)
