"""The emulator's token bucket (429 + Retry-After): a fetch through it loses nothing, and a client
rate limit under the server's gets no 429 at all. Bulk writes under a rate limit are in
tests/test_bulk.py; Retry-After parsing and capping in tests/test_transport.py."""

from __future__ import annotations

import threading
import time
from collections import Counter

import pytest

import incident_analytics as ia
from incident_analytics.emulator import Emulator
from tests.reliability.conftest import INCIDENTS, SEED, assert_same_frames


@pytest.fixture(scope="module")
def clean() -> ia.IncidentData:
    with Emulator(seed=SEED, incidents=INCIDENTS) as emu, ia.IncidentClient(emu.url, emu.token) as client:
        return ia.fetch(client, progress=False)


def test_a_fetch_through_a_rate_limit_gets_429s_and_loses_nothing(clean: ia.IncidentData) -> None:
    with Emulator(seed=SEED, incidents=INCIDENTS, rate_limit=(60.0, 10)) as emu, \
            ia.IncidentClient(emu.url, emu.token) as client:
        data = ia.fetch(client, progress=False)
        statuses = Counter(r.status for r in emu.requests)
    assert statuses[429] > 0, statuses
    assert_same_frames(data, clean)


def test_a_client_rate_under_the_servers_gets_no_429(clean: ia.IncidentData) -> None:
    # The client's limiter once had a bucket as deep as its rate (50 requests at once), so its first
    # second went at twice the rate and the server's burst of 10 answered 429; now it spaces requests.
    with Emulator(seed=SEED, incidents=INCIDENTS, rate_limit=(60.0, 10)) as emu, \
            ia.IncidentClient(emu.url, emu.token, rate_limit=50.0) as client:
        data = ia.fetch(client, progress=False)
        statuses = Counter(r.status for r in emu.requests)
    assert statuses[429] == 0, statuses
    assert_same_frames(data, clean)


def test_one_at_a_time_under_the_servers_rate_gets_no_429() -> None:
    with Emulator(seed=SEED, incidents=5, rate_limit=(60.0, 10)) as emu, \
            ia.IncidentClient(emu.url, emu.token, rate_limit=30.0) as client:
        for _ in range(45):
            client.roles.list()
        statuses = Counter(r.status for r in emu.requests)
    assert statuses == {200: 45}, statuses


def test_senders_that_wake_late_for_their_slots_do_not_reach_the_server_together() -> None:
    """A stall (here: the main thread holding the GIL, as frame building does) makes every booked
    slot pass at once; the senders book again instead of sending together into the server's burst."""
    with Emulator(seed=SEED, incidents=5, rate_limit=(50.0, 3)) as emu, \
            ia.IncidentClient(emu.url, emu.token, rate_limit=40.0) as client:
        start = threading.Barrier(9)

        def work() -> None:
            start.wait()
            for _ in range(6):
                client.roles.list()

        threads = [threading.Thread(target=work) for _ in range(8)]
        for thread in threads:
            thread.start()
        start.wait()
        time.sleep(0.15)
        sum(range(12_000_000))  # holds the GIL for a few hundred ms: no thread can send meanwhile
        for thread in threads:
            thread.join()
        statuses = Counter(r.status for r in emu.requests)
    assert statuses == {200: 48}, statuses
