"""Test knobs: latency, concurrency, rate limiting, scripted and random faults."""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from incident_analytics.emulator import Emulator

from .helpers import call


def _client(emu: Emulator) -> httpx.Client:
    return httpx.Client(base_url=emu.api_url, headers={"Authorization": f"Bearer {emu.token}"})


@pytest.fixture
def tiny() -> Iterator[Emulator]:
    """A small private emulator whose knobs a test may turn."""
    with Emulator(seed=2, incidents=10, slow_seconds=0.3) as emu:
        yield emu


def test_latency_is_added_to_every_response() -> None:
    """Five sequential requests with latency 0.05 take at least 0.25 s."""
    with Emulator(incidents=5, latency=0.05) as emu, _client(emu) as c:
        started = time.perf_counter()
        for _ in range(5):
            assert call(c, "RolesService.GetRoles").status_code == 200
        assert time.perf_counter() - started >= 0.25


def test_concurrent_requests_overlap() -> None:
    """Five concurrent requests with latency 0.2 finish together, well under 5 x 0.2 s."""
    with Emulator(incidents=5, latency=0.2) as emu, _client(emu) as c:
        started = time.perf_counter()
        with ThreadPoolExecutor(max_workers=5) as pool:
            statuses = list(pool.map(lambda _: call(c, "RolesService.GetRoles").status_code, range(5)))
        elapsed = time.perf_counter() - started
    assert statuses == [200] * 5
    assert 0.2 <= elapsed < 0.9  # sequential would be 1.0 s; the margin absorbs a busy CI machine


def test_latency_can_be_changed_at_runtime(tiny: Emulator) -> None:
    """``emu.latency`` is a live knob."""
    tiny.latency = 0.15
    with _client(tiny) as c:
        started = time.perf_counter()
        call(c, "RolesService.GetRoles")
        assert time.perf_counter() - started >= 0.15


def test_rate_limit_answers_429_with_retry_after() -> None:
    """Over the token bucket: 429, Retry-After in whole seconds (>= 1), JSON error; later it recovers."""
    with Emulator(incidents=5, rate_limit=(2.0, 3)) as emu, _client(emu) as c:
        statuses = [call(c, "RolesService.GetRoles") for _ in range(5)]
        assert [r.status_code for r in statuses[:3]] == [200, 200, 200]
        limited = statuses[3]
        assert limited.status_code == 429
        assert limited.json() == {"error": "rate limit exceeded"}
        assert int(limited.headers["retry-after"]) >= 1
        time.sleep(0.6)
        assert call(c, "RolesService.GetRoles").status_code == 200
        assert [r.fault for r in emu.requests][3] == "429"


def test_inject_503_twice_then_success(tiny: Emulator) -> None:
    """A scripted fault hits exactly the next ``times`` requests."""
    tiny.inject("503", times=2)
    with _client(tiny) as c:
        first, second, third = (call(c, "IncidentsService.GetIncident", {"incidentID": "1"}) for _ in range(3))
    assert (first.status_code, second.status_code, third.status_code) == (503, 503, 200)
    assert first.headers["retry-after"] == "1" and "error" in first.json()


@pytest.mark.parametrize("kind", ["500", "502", "504", "429", "403"])
def test_inject_status_codes(tiny: Emulator, kind: str) -> None:
    """Each injected status answers with that code and a JSON ``error``."""
    tiny.inject(kind)
    with _client(tiny) as c:
        response = call(c, "RolesService.GetRoles")
    assert response.status_code == int(kind)
    assert isinstance(response.json()["error"], str)


def test_inject_retry_after_is_sent_verbatim(tiny: Emulator) -> None:
    """Retry-After may be seconds or an HTTP date; it is sent as given."""
    tiny.inject("429", retry_after=7)
    tiny.inject("503", retry_after="Wed, 21 Oct 2026 07:28:00 GMT")
    with _client(tiny) as c:
        assert call(c, "RolesService.GetRoles").headers["retry-after"] == "7"
        assert call(c, "RolesService.GetRoles").headers["retry-after"] == "Wed, 21 Oct 2026 07:28:00 GMT"


def test_inject_drop_closes_without_response(tiny: Emulator) -> None:
    """``drop`` closes the connection: the client sees a protocol/transport error, then all is well."""
    tiny.inject("drop")
    with _client(tiny) as c:
        with pytest.raises(httpx.RemoteProtocolError):
            call(c, "RolesService.GetRoles")
        assert call(c, "RolesService.GetRoles").status_code == 200
    assert [r.status for r in tiny.requests][-2:] == [None, 200]


def test_inject_html_proxy_page(tiny: Emulator) -> None:
    """``html``: 502 with a text/html page, as a proxy in front of Grafana would send."""
    tiny.inject("html")
    with _client(tiny) as c:
        response = call(c, "RolesService.GetRoles")
    assert response.status_code == 502
    assert response.headers["content-type"].startswith("text/html")
    assert "<html>" in response.text


def test_inject_error200(tiny: Emulator) -> None:
    """``error200``: HTTP 200 carrying an in-band ``error`` (docs/api.md#in-band-errors-on-http-200)."""
    tiny.inject("error200")
    with _client(tiny) as c:
        response = call(c, "RolesService.GetRoles")
    assert response.status_code == 200
    assert response.json() == {"error": "something went wrong"}


def test_inject_slow(tiny: Emulator) -> None:
    """``slow`` waits slow_seconds, then answers normally."""
    tiny.inject("slow")
    with _client(tiny) as c:
        started = time.perf_counter()
        response = call(c, "RolesService.GetRoles")
    assert response.status_code == 200 and time.perf_counter() - started >= 0.3


def test_inject_targets_method_and_incident(tiny: Emulator) -> None:
    """``method`` and ``incident_id`` narrow a fault; ``times=None`` lasts until clear_faults()."""
    tiny.inject("500", method="IncidentsService.GetIncident", incident_id="2", times=None)
    with _client(tiny) as c:
        assert call(c, "IncidentsService.GetIncident", {"incidentID": "1"}).status_code == 200
        assert call(c, "RolesService.GetRoles").status_code == 200
        for _ in range(3):
            assert call(c, "IncidentsService.GetIncident", {"incidentID": "2"}).status_code == 500
        query = {"query": {"incidentID": "2"}}
        assert call(c, "ActivityService.QueryActivity", query).status_code == 200
        tiny.clear_faults()
        assert call(c, "IncidentsService.GetIncident", {"incidentID": "2"}).status_code == 200


def test_inject_matches_query_incident_id(tiny: Emulator) -> None:
    """incident_id also matches ``query.incidentID`` (QueryActivity)."""
    tiny.inject("504", incident_id="3")
    with _client(tiny) as c:
        assert call(c, "ActivityService.QueryActivity", {"query": {"incidentID": "3"}}).status_code == 504


def test_inject_rejects_unknown_kinds(tiny: Emulator) -> None:
    """Typos in fault kinds fail loudly."""
    with pytest.raises(ValueError, match="unknown fault kind"):
        tiny.inject("timeout")
    with pytest.raises(ValueError):
        Emulator(incidents=1, faults={"503": 0.7, "500": 0.5})


def _outcomes(fault_seed: int) -> list[int | str]:
    faults = {"503": 0.2, "500": 0.1, "drop": 0.1, "html": 0.05, "error200": 0.05}
    outcomes: list[int | str] = []
    with Emulator(incidents=5, faults=faults, fault_seed=fault_seed) as emu, _client(emu) as c:
        for _ in range(40):
            try:
                response = call(c, "RolesService.GetRoles")
            except httpx.RemoteProtocolError:
                outcomes.append("drop")
                continue
            outcomes.append(
                "error200" if response.status_code == 200 and "error" in response.json() else response.status_code
            )
    return outcomes


def test_random_faults_are_deterministic_per_fault_seed() -> None:
    """The same fault_seed gives the same outcome sequence; another seed another one."""
    first, again, other = _outcomes(5), _outcomes(5), _outcomes(6)
    assert first == again
    assert first != other
    assert set(first) & {503, 500, "drop"} and first.count(200) > 10
