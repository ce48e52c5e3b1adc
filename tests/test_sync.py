"""sync against the emulator on loopback: it equals a fresh fetch, survives a crash at any step of its
write, keeps its selection, refreshes open incidents and says what it did."""

from __future__ import annotations

import datetime as dt
import importlib
import logging
import random
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from pandas.testing import assert_frame_equal

import incident_analytics as ia
from incident_analytics.emulator import Emulator
from incident_analytics.fetch import fetch
from incident_analytics.store import GENERATION_PREFIX, IncidentData
from incident_analytics.sync import SyncReport, sync
from tests.fakes import ScriptedAPI, SleepRecorder

FRAMES = ("incidents", "tasks", "labels", "assignments", "activity")
HOUR_NS = 3600 * 1_000_000_000


def non_drill_ids(emu: Emulator) -> set[str]:
    return {i.incident_id for i in emu.state.incidents.values() if not i.is_drill}


def assert_same(got: IncidentData, expected: IncidentData) -> None:
    """All five frames equal, duration_seconds of open incidents included."""
    for name in FRAMES:
        assert_frame_equal(getattr(got, name), getattr(expected, name), obj=name)


class ServerClock:
    """The emulator's clock for open incidents' durationSeconds, held still and moved on by hand, so
    a sync and the fetch it is compared with see the same durations, and a stale one shows."""

    def __init__(self, emu: Emulator) -> None:
        self.now_ns = time.time_ns()
        emu.state.clock.peek = lambda: self.now_ns  # type: ignore[method-assign]

    def advance(self, hours: int = 1) -> None:
        self.now_ns += hours * HOUR_NS


@pytest.fixture
def emu() -> Iterator[Emulator]:
    with Emulator(seed=4, incidents=60) as emulator:
        yield emulator


@pytest.fixture
def client(emu: Emulator) -> Iterator[ia.IncidentClient]:
    with ia.IncidentClient(emu.url, emu.token, sleep=SleepRecorder()) as c:
        yield c


def random_writes(client: ia.IncidentClient, emu: Emulator, rng: random.Random, count: int) -> set[str]:
    """Apply ``count`` random writes through the API; returns the incident IDs touched."""
    ids = sorted(emu.state.incidents, key=int)
    users = list(emu.state.catalog.users)
    touched: set[str] = set()
    for _ in range(count):
        iid = rng.choice(ids)
        action = rng.randrange(8)
        if action == 0:
            client.incidents.update_status(iid, rng.choice(["active", "resolved"]))
        elif action == 1:
            client.incidents.update_severity(iid, rng.choice(["Minor", "Major", "Critical"]))
        elif action == 2:
            client.incidents.add_label(iid, rng.choice(["security", "sync-test"]))
        elif action == 3:
            client.incidents.assign_label(iid, "team", rng.choice(["payments", "search"]))
        elif action == 4:
            client.tasks.add(iid, f"follow up {rng.random():.4f}")
        elif action == 5:
            client.activity.add_note(iid, "noted")
        elif action == 6:
            client.incidents.update_is_drill(iid, rng.random() < 0.5)
        else:
            client.incidents.assign_role(iid, rng.choice(users), "observer")
        touched.add(iid)
    new = client.incidents.create("Created during sync test", severity="Minor")
    touched.add(new["incidentID"])
    return touched


def test_sync_after_random_writes_equals_a_fresh_full_fetch(tmp_path: Path) -> None:
    rng = random.Random(42)
    with Emulator(seed=3, incidents=150) as emu, ia.IncidentClient(emu.url, emu.token) as client:
        clock = ServerClock(emu)
        store = tmp_path / "store"
        first = sync(client, store, progress=False)
        assert len(first.incidents) == len(non_drill_ids(emu))
        for _round in range(3):
            touched = random_writes(client, emu, rng, 25)
            # An hour later: open incidents that did not change have a longer duration now.
            clock.advance()
            emu.reset_requests()
            # No safety overlap here, so exactly the changed incidents are fetched again in full (the
            # newest stored one sits on the horizon itself); open ones get a GetIncident for their duration.
            synced = sync(client, store, progress=False, overlap=dt.timedelta(0))
            activity = {
                r.body["query"]["incidentID"] for r in emu.requests if r.method == "ActivityService.QueryActivity"
            }
            assert len(activity - touched) <= 1, "sync must fetch only what changed"
            fresh = fetch(client, progress=False)
            assert (fresh.incidents["status"] == "active").any()
            assert_same(synced, fresh)
            # And what is on disk is what was returned.
            assert_same(IncidentData.read_parquet(store), synced)


def test_sync_keeps_old_rows_of_a_failed_incident_and_retries_it_next_time(tmp_path: Path) -> None:
    with (
        Emulator(seed=4, incidents=60) as emu,
        ia.IncidentClient(emu.url, emu.token, sleep=SleepRecorder()) as client,
    ):
        store = tmp_path / "store"
        sync(client, store, progress=False)
        victim = sorted(non_drill_ids(emu), key=int)[0]
        client.activity.add_note(victim, "first note after the store was made")
        emu.inject("500", method="ActivityService.QueryActivity", incident_id=victim, times=None)
        partial = sync(client, store, progress=False)
        assert partial.incomplete == [victim]
        # Its earlier activity rows are still there; the new note is not yet.
        rows = partial.activity[partial.activity["incident_id"] == victim]
        assert len(rows) == len(emu.state.incidents[victim].activity) - 1
        emu.clear_faults()
        healed = sync(client, store, progress=False)
        assert healed.incomplete == []
        rows = healed.activity[healed.activity["incident_id"] == victim]
        assert len(rows) == len(emu.state.incidents[victim].activity)


def test_two_syncs_of_one_store_at_once_take_turns(tmp_path: Path) -> None:
    from concurrent.futures import ThreadPoolExecutor

    with Emulator(seed=6, incidents=60) as emu, ia.IncidentClient(emu.url, emu.token) as client:
        ServerClock(emu)
        store = tmp_path / "store"
        with ThreadPoolExecutor(2) as pool:
            runs = [pool.submit(sync, client, store, progress=False) for _ in range(2)]
            results = [r.result() for r in runs]
        gets = sum(1 for r in emu.requests if r.method == "IncidentsService.GetIncident")
        fresh = fetch(client, progress=False)
    # The second waited for the first and found a store: one full fetch, not two.
    open_count = int((fresh.incidents["status"] == "active").sum())
    assert gets <= len(fresh.incidents) + open_count + 2
    assert_same(IncidentData.read_parquet(store), fresh)
    assert_same(results[1], fresh)
    assert (store / ".lock").exists()


# --- a crash while the store is written ------------------------------------------------------------

# Runs one sync in a child process and kills it (os._exit, no cleanup) right after its N-th file-system
# step: a Parquet file written, a rename, a removal. It exits 0 if the sync had fewer steps than N.
CRASHING_SYNC = r"""
import datetime as dt
import os
import pathlib
import shutil
import sys

import pandas as pd

import incident_analytics as ia

url, token, store, crash_after = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
steps = 0


def counted(owner, name):
    original = getattr(owner, name)

    def step(*args, **kwargs):
        global steps
        result = original(*args, **kwargs)
        steps += 1
        if steps == crash_after:
            os._exit(17)
        return result

    setattr(owner, name, step)


for owner, name in [
    (pd.DataFrame, "to_parquet"),
    (os, "replace"),
    (os, "rename"),
    (os, "unlink"),
    (shutil, "rmtree"),
    (pathlib.Path, "write_text"),
]:
    counted(owner, name)
with ia.IncidentClient(url, token) as client:
    ia.sync(client, store, progress=False, overlap=dt.timedelta(milliseconds=10))
"""


def frames_equal(a: IncidentData, b: IncidentData) -> bool:
    try:
        assert_same(a, b)
    except AssertionError:
        return False
    return True


def test_a_crash_at_any_step_of_the_store_write_loses_nothing(tmp_path: Path, emu: Emulator) -> None:
    overlap = dt.timedelta(milliseconds=10)
    ServerClock(emu)
    with ia.IncidentClient(emu.url, emu.token) as client:
        base = tmp_path / "base"
        sync(client, base, progress=False, overlap=overlap)
        before = IncidentData.read_parquet(base)
        # Changes spread wider than the overlap: a sync that trusted a half-written store would take
        # its horizon from the newest of them and never see the older ones again.
        ids = sorted(non_drill_ids(emu), key=int)
        client.tasks.add(ids[0], "a task added first")
        time.sleep(0.05)
        client.activity.add_note(ids[1], "a note added a little later")
        time.sleep(0.05)
        client.incidents.assign_label(ids[2], "team", "payments")
        time.sleep(0.05)
        client.incidents.create("declared last", severity="Minor")
        fresh = fetch(client, progress=False)
        assert not frames_equal(before, fresh)

        crash_after = 0
        while True:
            crash_after += 1
            store = tmp_path / f"crash-{crash_after}"
            shutil.copytree(base, store)
            child = subprocess.run(
                [sys.executable, "-c", CRASHING_SYNC, emu.url, emu.token, str(store), str(crash_after)],
                capture_output=True,
                text=True,
                timeout=120,
            )
            assert child.returncode in (0, 17), child.stderr
            # A reader sees the old store or the new one, never a mix.
            seen = IncidentData.read_parquet(store)
            assert frames_equal(seen, before) or frames_equal(seen, fresh), f"a mix after step {crash_after}"
            recovered = sync(client, store, progress=False, overlap=overlap)
            assert_same(recovered, fresh)
            assert_same(IncidentData.read_parquet(store), fresh)
            generations = [p.name for p in store.iterdir() if p.name.startswith(GENERATION_PREFIX)]
            assert len(generations) == 1, "older and crashed generations are removed"
            assert not [p for p in store.iterdir() if p.suffix == ".tmp"]
            if child.returncode == 0:
                break
    assert crash_after > 5, "every step of the write was interrupted once"


def test_a_reader_sees_one_whole_store_while_another_process_writes(tmp_path: Path, client: ia.IncidentClient) -> None:
    import threading

    small = fetch(client, since="2026-06-01", progress=False)
    large = fetch(client, progress=False)
    shapes = {tuple(len(getattr(d, n)) for n in FRAMES) for d in (small, large)}
    store = tmp_path / "store"
    large.to_parquet(store)
    done = threading.Event()

    def write() -> None:
        try:
            for i in range(20):
                (small if i % 2 == 0 else large).to_parquet(store)
                time.sleep(0.02)
        finally:
            done.set()

    writer = threading.Thread(target=write)
    writer.start()
    reads = 0
    while not done.is_set() or reads == 0:
        data = IncidentData.read_parquet(store)
        assert tuple(len(getattr(data, n)) for n in FRAMES) in shapes
        assert set(data.tasks["incident_id"]) <= set(data.incidents["incident_id"])
        reads += 1
    writer.join()
    assert reads > 1


# --- selection, report, arguments ------------------------------------------------------------------


def test_a_later_sync_keeps_the_stored_selection_and_says_what_it_did(
    tmp_path: Path, emu: Emulator, client: ia.IncidentClient, caplog: pytest.LogCaptureFixture
) -> None:
    ServerClock(emu)
    store = tmp_path / "store"
    fetch(client, since="2026-06-01", progress=False).to_parquet(store)
    client.tasks.add(sorted(non_drill_ids(emu), key=int)[-1], "one more task")
    emu.reset_requests()
    with caplog.at_level(logging.INFO, logger="incident_analytics"):
        data = sync(client, store, progress=False)
    report = data.sync_report
    assert report is not None and report.kind == "incremental"
    assert data.selection["since"] == "2026-06-01T00:00:00+00:00"
    # Only what changed was fetched again, not the whole selection.
    assert sum(r.method == "ActivityService.QueryActivity" for r in emu.requests) <= 2
    assert_same(data, fetch(client, since="2026-06-01", progress=False))
    # Open incidents not modified since the horizon are the ones refreshed rather than refetched.
    incidents = data.incidents
    unchanged_open = int(((incidents["status"] == "active") & (incidents["modified_time"] < report.horizon)).sum())
    assert str(report) == (
        f"{report.changed} changed, {unchanged_open} open refreshed, store of {len(data.incidents)} incidents"
    )
    assert report.changed >= 1 and report.open_refreshed == unchanged_open
    assert str(report) in caplog.text

    other = sync(client, store, since="2026-09-01", progress=False)
    assert other.sync_report is not None
    assert str(other.sync_report) == f"selection changed: full refetch, store of {len(other.incidents)} incidents"
    assert (other.incidents["created_time"] >= pd.Timestamp("2026-09-01", tz="UTC")).all()
    # Passing the stored value again is the same selection, and so is leaving it out.
    same = sync(client, store, since="2026-09-01", progress=False)
    assert same.sync_report is not None and same.sync_report.kind == "incremental"


def test_the_first_sync_reports_a_new_store(tmp_path: Path, client: ia.IncidentClient) -> None:
    data = sync(client, tmp_path / "store", progress=False)
    assert str(data.sync_report) == f"new store: full fetch, store of {len(data.incidents)} incidents"


def test_report_lines_name_what_left_and_what_failed() -> None:
    report = SyncReport("incremental", incidents=275, changed=12, open_refreshed=9, left=1, failed=2)
    assert str(report) == (
        "12 changed, 9 open refreshed, 1 left the selection, 2 with errors (kept, retried next time), "
        "store of 275 incidents"
    )


@pytest.mark.parametrize(
    ("overlap", "error", "words"),
    [
        (dt.timedelta(minutes=-5), ValueError, "overlap must be zero or more"),
        (300, TypeError, "overlap must be a datetime.timedelta"),
        ("5m", TypeError, "overlap must be a datetime.timedelta"),
    ],
)
def test_a_bad_overlap_fails_before_any_request(
    tmp_path: Path, overlap: object, error: type[Exception], words: str
) -> None:
    api = ScriptedAPI()
    with (
        ia.IncidentClient("https://s.grafana.net", "glsa_x_0123456789", transport=api.transport()) as c,
        pytest.raises(error, match=words),
    ):
        sync(c, tmp_path / "store", progress=False, overlap=overlap)  # type: ignore[arg-type]
    assert api.requests == []
    assert not (tmp_path / "store").exists()


def test_open_unchanged_incidents_get_their_current_duration(
    tmp_path: Path, emu: Emulator, client: ia.IncidentClient
) -> None:
    clock = ServerClock(emu)
    ids = sorted(non_drill_ids(emu), key=int)
    open_id = ids[0]
    client.incidents.update_status(open_id, "active")
    store = tmp_path / "store"
    first = sync(client, store, progress=False)
    # Another incident changes later, so the open one is older than the next horizon: unchanged.
    client.incidents.add_label(ids[5], "sync-test")
    sync(client, store, progress=False, overlap=dt.timedelta(0))
    clock.advance(hours=2)
    emu.reset_requests()
    later = sync(client, store, progress=False, overlap=dt.timedelta(0))
    assert later.sync_report is not None and later.sync_report.open_refreshed >= 1
    row = later.incidents.set_index("incident_id").loc[open_id]
    before = first.incidents.set_index("incident_id").loc[open_id, "duration_seconds"]
    assert row["duration_seconds"] == before + 2 * 3600
    # One GetIncident per open incident, no activity paging for the unchanged ones.
    gets = [r.body["incidentID"] for r in emu.requests if r.method == "IncidentsService.GetIncident"]
    assert open_id in gets
    assert sum(r.method == "ActivityService.QueryActivity" for r in emu.requests) <= 1
    assert_same(later, fetch(client, progress=False))


def test_sync_is_the_package_s_sync() -> None:
    # The function shadows the module as an attribute of the package; the module is in sys.modules.
    module = importlib.import_module("incident_analytics.sync")
    assert ia.sync is module.sync
    doc = module.__doc__ or ""
    for words in ("How far back", "replaces", "refreshes", "Deletions"):
        assert words in doc


def test_sync_of_a_store_written_by_version_1_continues_it(tmp_path: Path) -> None:
    store = Path(shutil.copytree(Path(__file__).parent / "fixtures" / "store-v1", tmp_path / "v1"))
    with (
        Emulator(seed=1, incidents=6, now="2026-11-01T00:00:00Z") as emu,
        ia.IncidentClient(emu.url, emu.token) as client,
    ):
        client.tasks.add(sorted(emu.state.incidents, key=int)[3], "a task after the store was written")
        data = sync(client, store, progress=False)
    assert data.sync_report is not None and data.sync_report.kind == "incremental"
    assert "a task after the store was written" in set(data.tasks["text"])
    assert not list(store.glob("*.parquet")) and len(list(store.glob(f"{GENERATION_PREFIX}*"))) == 1


def test_a_failed_duration_refresh_keeps_the_old_value_and_does_not_widen_the_next_sync(
    tmp_path: Path, emu: Emulator, client: ia.IncidentClient, caplog: pytest.LogCaptureFixture
) -> None:
    clock = ServerClock(emu)
    ids = sorted(non_drill_ids(emu), key=int)
    client.incidents.update_status(ids[0], "active")
    store = tmp_path / "store"
    sync(client, store, progress=False)
    client.incidents.add_label(ids[5], "sync-test")
    before = sync(client, store, progress=False, overlap=dt.timedelta(0))
    clock.advance()
    emu.inject("500", method="IncidentsService.GetIncident", incident_id=ids[0], times=None)
    try:
        with caplog.at_level(logging.WARNING, logger="incident_analytics"):
            later = sync(client, store, progress=False, overlap=dt.timedelta(0))
    finally:
        emu.clear_faults()
    assert later.incomplete == [] and later.errors.empty
    row = later.incidents.set_index("incident_id").loc[ids[0]]
    assert row["duration_seconds"] == before.incidents.set_index("incident_id").loc[ids[0], "duration_seconds"]
    assert f"could not be refreshed ({ids[0]})" in caplog.text
