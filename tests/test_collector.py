"""The cyclic garbage collector is paused during a fetch or sync and left as it was found."""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator

import pytest

import incident_analytics as ia
from incident_analytics.collector import collector_paused
from incident_analytics.emulator import Emulator


@pytest.fixture(autouse=True)
def collector_enabled() -> Iterator[None]:
    gc.enable()
    yield
    gc.enable()


def test_paused_inside_and_enabled_again_after_even_on_error() -> None:
    with pytest.raises(RuntimeError), collector_paused():
        assert not gc.isenabled()
        raise RuntimeError("boom")
    assert gc.isenabled()


def test_a_collector_the_user_disabled_stays_disabled() -> None:
    gc.disable()
    with collector_paused():
        pass
    assert not gc.isenabled()


def test_overlapping_pauses_end_with_the_last_one() -> None:
    entered, release = threading.Event(), threading.Event()

    def other() -> None:
        with collector_paused():
            entered.set()
            release.wait(10)

    thread = threading.Thread(target=other)
    with collector_paused():
        thread.start()
        assert entered.wait(10)
    assert not gc.isenabled(), "the other thread's pause is still under way"
    release.set()
    thread.join(10)
    assert gc.isenabled()


def test_fetch_runs_without_collections_and_restores_the_collector(emulator: Emulator) -> None:
    collections: list[int] = []

    def count(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            collections.append(info["generation"])

    gc.callbacks.append(count)
    try:
        with ia.IncidentClient(emulator.url, emulator.token) as client:
            data = ia.fetch(client, progress=False)
    finally:
        gc.callbacks.remove(count)
    assert len(data.incidents) > 0
    assert collections == []
    assert gc.isenabled()


def test_a_failed_fetch_restores_the_collector(emulator: Emulator) -> None:
    emulator.inject("500", method="IncidentsService.GetIncident", times=None)
    try:
        with (
            ia.IncidentClient(emulator.url, emulator.token, max_retries=0) as client,
            pytest.raises(ia.ServerError),
        ):
            ia.fetch(client, strict=True, progress=False)
    finally:
        emulator.clear_faults()
    assert gc.isenabled()
