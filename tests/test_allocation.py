"""During a fetch or sync the cyclic garbage collector is paused and Arrow allocates from the system
allocator; both are left as they were found."""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator

import pyarrow as pa
import pytest

import incident_analytics as ia
from incident_analytics.allocation import arrow_system_pool, collector_paused
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


def test_a_failed_fetch_restores_the_collector_and_the_arrow_pool(emulator: Emulator) -> None:
    pool = pa.default_memory_pool().backend_name
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
    assert pa.default_memory_pool().backend_name == pool


def test_fetch_builds_its_frames_from_the_system_pool_and_restores_the_default(emulator: Emulator) -> None:
    before = pa.default_memory_pool().backend_name
    assert before != "system", "this test needs Arrow's usual default pool (mimalloc or jemalloc)"
    pools: list[str] = []
    with ia.IncidentClient(emulator.url, emulator.token) as client:
        client.add_listener(lambda event: pools.append(pa.default_memory_pool().backend_name))
        data = ia.fetch(client, progress=False)
    assert pools and set(pools) == {"system"}
    assert pa.default_memory_pool().backend_name == before
    # The frames' buffers came from the system pool and stay valid after the switch back.
    titles = data.incidents["title"].array._pa_array
    assert titles.chunk(0).buffers()[1] is not None
    assert data.incidents["title"].str.len().sum() > 0
    assert data.activity["incident_id"].isin(data.incidents["incident_id"]).all()


def test_a_pool_chosen_with_the_environment_variable_is_left_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    before = pa.default_memory_pool().backend_name
    monkeypatch.setenv("ARROW_DEFAULT_MEMORY_POOL", before)
    with arrow_system_pool():
        assert pa.default_memory_pool().backend_name == before


def test_overlapping_pool_switches_restore_the_default_with_the_last_one() -> None:
    before = pa.default_memory_pool().backend_name
    with arrow_system_pool():
        with arrow_system_pool():
            assert pa.default_memory_pool().backend_name == "system"
        assert pa.default_memory_pool().backend_name == "system", "the outer body is still running"
    assert pa.default_memory_pool().backend_name == before
