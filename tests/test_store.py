"""The Parquet store: versions, older stores (a fixture written by store version 1), damaged files,
generations and their clean-up."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest
from pandas.testing import assert_frame_equal

import incident_analytics as ia
from incident_analytics import frames
from incident_analytics.store import (
    ERROR_SCHEMA,
    FRAME_NAMES,
    GENERATION_PREFIX,
    META_FILE,
    STORE_VERSION,
    IncidentData,
    read_store,
)

FIXTURE = Path(__file__).parent / "fixtures" / "store-v1"


@pytest.fixture
def v1_store(tmp_path: Path) -> Path:
    """A copy of the fixture store: 6 incidents (1 open, 1 incomplete), every frame filled, written by
    the layout before generations (Parquet files beside meta.json, store version 1)."""
    return Path(shutil.copytree(FIXTURE, tmp_path / "v1"))


def generations(store: Path) -> list[str]:
    return sorted(p.name for p in store.iterdir() if p.name.startswith(GENERATION_PREFIX))


def test_a_store_written_by_version_1_is_read_with_every_frame_and_dtype(v1_store: Path) -> None:
    data = IncidentData.read_parquet(v1_store)
    assert len(data.incidents) == 6 and (data.incidents["status"] == "active").sum() == 1
    for name in FRAME_NAMES:
        frame = getattr(data, name)
        assert not frame.empty, name
        assert list(frame.columns) == list(frames.SCHEMAS[name]), name
        assert frame.dtypes.to_dict() == {c: pd.api.types.pandas_dtype(t) for c, t in frames.SCHEMAS[name].items()}
    assert data.incomplete == ["2"] and list(data.errors.columns) == list(ERROR_SCHEMA)
    assert data.selection == {"since": None, "until": None, "query": "", "include_drills": False}
    assert data.fetched_at is not None


def test_a_column_an_older_store_lacks_is_filled_with_missing_values(v1_store: Path) -> None:
    # Written before "duration_seconds" and "slug" existed, say.
    path = v1_store / "incidents.parquet"
    table = pq.read_table(path)
    pq.write_table(table.drop_columns(["duration_seconds", "slug"]), path)
    tasks = v1_store / "tasks.parquet"
    pq.write_table(pq.read_table(tasks).drop_columns(["assigned_name"]), tasks)
    data = IncidentData.read_parquet(v1_store)
    assert list(data.incidents.columns) == list(frames.SCHEMAS["incidents"])
    assert data.incidents["duration_seconds"].isna().all()
    assert data.incidents["duration_seconds"].dtype == "Int64"
    assert data.incidents["slug"].isna().all() and data.tasks["assigned_name"].isna().all()
    assert data.incidents["title"].notna().all()
    # Writing it again gives a current store that reads back the same.
    data.to_parquet(v1_store)
    assert_frame_equal(IncidentData.read_parquet(v1_store).incidents, data.incidents)


def test_a_store_without_incident_ids_is_refused(v1_store: Path) -> None:
    path = v1_store / "labels.parquet"
    pq.write_table(pq.read_table(path).drop_columns(["incident_id"]), path)
    with pytest.raises(ia.StoreError, match=r"labels\.parquet.*incident_id.*fetch --out"):
        IncidentData.read_parquet(v1_store)


def test_writing_over_a_version_1_store_moves_it_into_a_generation(v1_store: Path) -> None:
    data = IncidentData.read_parquet(v1_store)
    data.to_parquet(v1_store)
    meta = json.loads((v1_store / META_FILE).read_text())
    assert meta["version"] == STORE_VERSION == 2
    assert generations(v1_store) == [meta["generation"]]
    assert not list(v1_store.glob("*.parquet")), "the version 1 files are removed"
    again = IncidentData.read_parquet(v1_store)
    for name in (*FRAME_NAMES, "errors"):
        assert_frame_equal(getattr(again, name), getattr(data, name))
    assert again.fetched_at == data.fetched_at and again.selection == data.selection


def test_a_store_from_a_newer_version_is_refused_clearly(v1_store: Path) -> None:
    IncidentData.read_parquet(v1_store).to_parquet(v1_store)
    meta = json.loads((v1_store / META_FILE).read_text())
    meta["version"] = STORE_VERSION + 1
    (v1_store / META_FILE).write_text(json.dumps(meta))
    with pytest.raises(ia.StoreError, match=rf"store version {STORE_VERSION + 1} was written by a newer"):
        IncidentData.read_parquet(v1_store)


@pytest.mark.parametrize(
    ("damage", "words"),
    [
        (lambda store: (store / META_FILE).write_text('{"version": 2, "gener'), r"meta\.json: not valid JSON"),
        (lambda store: (store / META_FILE).write_text("[1, 2]"), r"meta\.json: not a JSON object"),
        (lambda store: (store / META_FILE).write_text('{"selection": {}}'), r"meta\.json: no valid store version"),
        (
            lambda store: (store / META_FILE).write_text('{"version": 2, "generation": "generation-gone"}'),
            r"generation-gone.*missing",
        ),
        (lambda store: truncate(current(store) / "tasks.parquet"), r"tasks\.parquet: not a readable Parquet file"),
        (lambda store: (current(store) / "activity.parquet").unlink(), r"activity\.parquet: missing"),
    ],
    ids=["truncated-meta", "meta-not-object", "no-version", "no-generation", "truncated-parquet", "missing-parquet"],
)
def test_a_damaged_store_raises_a_store_error_naming_the_file_and_the_remedy(
    v1_store: Path, damage: object, words: str
) -> None:
    IncidentData.read_parquet(v1_store).to_parquet(v1_store)
    damage(v1_store)  # type: ignore[operator]
    with pytest.raises(ia.StoreError, match=words) as caught:
        IncidentData.read_parquet(v1_store)
    assert f"incident-analytics fetch --out {v1_store}" in str(caught.value)
    assert isinstance(caught.value, ia.IncidentAnalyticsError)


def current(store: Path) -> Path:
    return store / json.loads((store / META_FILE).read_text())["generation"]


def truncate(path: Path) -> None:
    content = path.read_bytes()
    path.write_bytes(content[: len(content) // 2])


def test_a_truncated_version_1_file_is_a_store_error_too(v1_store: Path) -> None:
    truncate(v1_store / "incidents.parquet")
    with pytest.raises(ia.StoreError, match=r"incidents\.parquet: not a readable Parquet file.*fetch --out"):
        IncidentData.read_parquet(v1_store)


def test_each_write_leaves_one_generation_and_removes_leftovers_of_a_crashed_one(v1_store: Path) -> None:
    data = IncidentData.read_parquet(v1_store)
    data.to_parquet(v1_store)
    first = generations(v1_store)
    # What a writer killed half-way leaves behind: a generation no manifest names and a temp manifest.
    (v1_store / f"{GENERATION_PREFIX}crashed").mkdir()
    (v1_store / f"{GENERATION_PREFIX}crashed" / "incidents.parquet").write_bytes(b"PAR1")
    (v1_store / f".{META_FILE}.dead.tmp").write_text("{")
    assert_frame_equal(IncidentData.read_parquet(v1_store).incidents, data.incidents)
    data.to_parquet(v1_store)
    assert len(generations(v1_store)) == 1 and generations(v1_store) != first
    assert not list(v1_store.glob(".*.tmp"))


def test_a_store_path_that_is_a_file_is_a_store_error(tmp_path: Path, v1_store: Path) -> None:
    target = tmp_path / "not-a-folder"
    target.write_text("x")
    data = IncidentData.read_parquet(v1_store)
    with pytest.raises(ia.StoreError, match="is a file, not a folder"):
        data.to_parquet(target)
    with pytest.raises(ia.StoreError, match="is a file, not a folder"):
        read_store(target)
    assert target.read_text() == "x"


def test_a_folder_without_a_store_is_not_a_store(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="not an incident_analytics store"):
        IncidentData.read_parquet(tmp_path)
    assert read_store(tmp_path / "nothing") is None


def test_a_failed_write_is_a_store_error_and_leaves_the_previous_store(
    v1_store: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import errno

    data = IncidentData.read_parquet(v1_store)
    data.to_parquet(v1_store)
    calls = 0

    def disk_full(self: pd.DataFrame, path: object, **kwargs: object) -> None:
        nonlocal calls
        calls += 1
        if calls == 3:
            raise OSError(errno.ENOSPC, "No space left on device")
        original(self, path, **kwargs)

    original = pd.DataFrame.to_parquet
    monkeypatch.setattr(pd.DataFrame, "to_parquet", disk_full)
    with pytest.raises(ia.StoreError, match=r"No space left on device.*previous one is unchanged"):
        IncidentData(data.incidents.iloc[:2], data.tasks, data.labels, data.assignments, data.activity).to_parquet(
            v1_store
        )
    monkeypatch.undo()
    assert_frame_equal(IncidentData.read_parquet(v1_store).incidents, data.incidents)
