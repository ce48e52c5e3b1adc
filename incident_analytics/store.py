"""``IncidentData``, the five frames (plus errors) a fetch produces, and their Parquet store.

A store is a folder holding one *generation* per write and a manifest that names the current one::

    store/
      meta.json                      the manifest, replaced in one rename as a write's last step
      generation-20261130T054501-1f3a9c2e/
        incidents.parquet  tasks.parquet  labels.parquet  assignments.parquet  activity.parquet
        errors.parquet
      .lock                          taken by writers (``store_lock``)

A write puts every file of the new generation in a new folder, flushes it to disk, and only then
replaces ``meta.json``; older generations are removed afterwards. A crash at any point leaves the
previous manifest naming a complete generation, so a reader (and the next ``sync``) sees either the
old store or the new one, never a mix. Stores written before generations (``meta.json`` of store
version 1 beside the Parquet files) are read as they are and become a generation on their next write.

Reading applies the declared schemas again, so dtypes survive the round trip, and a column that a
later version added (and an older store therefore lacks) is filled with missing values.
"""

from __future__ import annotations

import contextlib
import html
import json
import logging
import os
import secrets
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from . import frames
from .errors import StoreError
from .schema import ERROR_SCHEMA

if TYPE_CHECKING:
    from .concurrency import FetchStats
    from .sync import SyncReport

logger = logging.getLogger("incident_analytics")

FRAME_NAMES = ("incidents", "tasks", "labels", "assignments", "activity")
META_FILE = "meta.json"
LOCK_FILE = ".lock"
STORE_VERSION = 2
"""The layout ``to_parquet`` writes, recorded as ``version`` in ``meta.json``. 1: the Parquet files
beside ``meta.json`` (read, never written); 2: generations named by the manifest."""
GENERATION_PREFIX = "generation-"
STORE_FILES = (*FRAME_NAMES, "errors")
# Columns no row can be without; any other column a store lacks is filled with missing values.
_REQUIRED_COLUMNS = frozenset({"incident_id"})


def empty_errors() -> pd.DataFrame:
    """An errors frame with no rows."""
    return pd.DataFrame({c: pd.Series(dtype=t) for c, t in ERROR_SCHEMA.items()})


@dataclass
class IncidentData:
    """Incidents and what hangs off them, as tidy frames (schemas in ``frames.SCHEMAS``).

    Attributes:
        incidents, tasks, labels, assignments, activity: the five frames.
        errors: one row per per-incident call that failed after retries and per malformed value in
            a record (``incident_id, method, error_type, status_code, message, field``; ``field``
            names a malformed value); those incidents are incomplete.
        fetched_at: when the fetch started (UTC).
        selection: the since/until/query/drills the data was fetched for.
    """

    incidents: pd.DataFrame
    tasks: pd.DataFrame
    labels: pd.DataFrame
    assignments: pd.DataFrame
    activity: pd.DataFrame
    errors: pd.DataFrame = field(default_factory=empty_errors)
    fetched_at: pd.Timestamp | None = None
    selection: dict[str, Any] = field(default_factory=dict)
    sync_report: SyncReport | None = field(default=None, init=False, compare=False)
    """What the ``sync`` that returned this data did (None for a fetch or a read); not stored."""
    fetch_stats: FetchStats | None = field(default=None, init=False, compare=False, repr=False)
    """What the ``fetch`` or ``sync`` that returned this data did on the wire (requests, retries, 429s,
    peak concurrency, seconds per phase); None for a read. Not stored."""

    @property
    def incomplete(self) -> list[str]:
        """IDs of incidents whose data is not whole: a call failed after retries, or a record came
        back malformed (both are rows in ``errors``; the frames hold the rest of the incident)."""
        return sorted(set(self.errors["incident_id"].dropna().astype(str)))

    def to_parquet(self, directory: str | os.PathLike[str]) -> Path:
        """Write every frame and ``meta.json`` into ``directory`` (created if needed); returns it.

        The write is atomic as a whole: the files go into a new generation folder and ``meta.json``,
        replaced last in one rename, switches to it. A crash leaves the previous store readable and
        unchanged. Writers of one store take turns (``store_lock``).

        >>> data.to_parquet("incidents-store/")  # doctest: +SKIP
        >>> ia.IncidentData.read_parquet("incidents-store/")  # doctest: +SKIP
        """
        with store_lock(directory):
            return write_store(self, directory)

    @classmethod
    def read_parquet(cls, directory: str | os.PathLike[str]) -> IncidentData:
        """Read a store written by ``to_parquet`` (or ``sync``); dtypes are restored from the schemas.

        Only the generation ``meta.json`` names is read, so a write in progress (or one that crashed)
        is invisible. Columns added to the schemas since the store was written are filled with
        missing values.

        Raises:
            FileNotFoundError: ``directory`` holds no store.
            StoreError: the store is damaged (unreadable ``meta.json`` or Parquet file) or was
                written by a newer version of incident_analytics.
        """
        folder = Path(directory)
        if not (folder / META_FILE).is_file():
            raise FileNotFoundError(f"{folder} is not an incident_analytics store (no {META_FILE})")
        return _read_current(folder)

    def summary(self) -> dict[str, Any]:
        """Counts and the declared-time range, the numbers the reprs show."""
        created = self.incidents["created_time"]
        return {
            "incidents": len(self.incidents),
            "open": int((self.incidents["status"] == "active").sum()),
            "tasks": len(self.tasks),
            "labels": len(self.labels),
            "assignments": len(self.assignments),
            "activity": len(self.activity),
            "incomplete": len(self.incomplete),
            "first_declared": None if created.dropna().empty else created.min(),
            "last_declared": None if created.dropna().empty else created.max(),
            "fetched_at": self.fetched_at,
        }

    def __repr__(self) -> str:
        s = self.summary()
        span = (
            f"{s['first_declared']:%Y-%m-%d} .. {s['last_declared']:%Y-%m-%d}"
            if s["first_declared"]
            else "no incidents"
        )
        return (
            f"IncidentData({s['incidents']} incidents ({s['open']} open), {s['tasks']} tasks, "
            f"{s['labels']} labels, {s['assignments']} assignments, {s['activity']} activity items; "
            f"declared {span}; {s['incomplete']} incomplete)"
        )

    def _repr_html_(self) -> str:
        s = self.summary()
        rows = [
            ("Incidents", f"{s['incidents']:,} ({s['open']:,} open)"),
            ("Tasks", f"{s['tasks']:,}"),
            ("Labels", f"{s['labels']:,}"),
            ("Role assignments", f"{s['assignments']:,}"),
            ("Activity items", f"{s['activity']:,}"),
            (
                "Declared",
                f"{s['first_declared']:%Y-%m-%d %H:%M} to {s['last_declared']:%Y-%m-%d %H:%M} UTC"
                if s["first_declared"]
                else "no incidents",
            ),
            (
                "Fetched at",
                f"{s['fetched_at']:%Y-%m-%d %H:%M:%S} UTC" if s["fetched_at"] is not None else "unknown",
            ),
        ]
        if s["incomplete"]:
            rows.append(("Incomplete", f"{s['incomplete']:,} incidents (see <code>.errors</code>)"))
        body = "".join(
            f"<tr><th style='text-align:left'>{html.escape(k)}</th><td style='text-align:left'>{v}</td></tr>"
            for k, v in rows
        )
        return f"<div><strong>IncidentData</strong><table>{body}</table></div>"


def _damaged(path: Path, problem: str, folder: Path) -> StoreError:
    return StoreError(
        f"{path}: {problem}; the store cannot be read. Write it again with "
        f"`incident-analytics fetch --out {folder}` (or `ia.fetch(...).to_parquet(...)`)"
    )


def _read_meta(folder: Path) -> tuple[str, dict[str, Any]]:
    """The manifest's text and content, checked: a JSON object of a store version this code reads."""
    path = folder / META_FILE
    try:
        text = path.read_text(encoding="utf-8")
        meta = json.loads(text)
    except (UnicodeDecodeError, ValueError) as exc:
        raise _damaged(path, f"not valid JSON ({exc})", folder) from None
    if not isinstance(meta, dict):
        raise _damaged(path, "not a JSON object", folder)
    version = meta.get("version")
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise _damaged(path, f"no valid store version (got {version!r})", folder)
    if version > STORE_VERSION:
        raise StoreError(
            f"{path}: store version {version} was written by a newer incident_analytics; this one reads "
            f"versions up to {STORE_VERSION}. Upgrade incident_analytics, or fetch into a new folder "
            f"with `incident-analytics fetch --out NEW_FOLDER`"
        )
    if version >= 2 and not (
        isinstance(meta.get("generation"), str) and meta["generation"].startswith(GENERATION_PREFIX)
    ):
        raise _damaged(path, f"no valid generation (got {meta.get('generation')!r})", folder)
    return text, meta


def _read_current(folder: Path) -> IncidentData:
    """The store named by the manifest. If a writer replaces it while we read (and removes the files
    we were about to open), read the new one instead: either store, never a mix."""
    for _attempt in range(100):
        text, meta = _read_meta(folder)
        try:
            return _read_files(folder, meta)
        except FileNotFoundError as exc:
            try:
                moved_on = (folder / META_FILE).read_text(encoding="utf-8") != text
            except OSError:
                moved_on = True
            if not moved_on:
                raise _damaged(Path(exc.filename or folder), "missing", folder) from None
    raise StoreError(f"{folder}: the store kept changing while it was read; try again")


def _read_files(folder: Path, meta: dict[str, Any]) -> IncidentData:
    where = folder / meta["generation"] if meta["version"] >= 2 else folder
    rows: dict[str, Any] = meta["rows"] if isinstance(meta.get("rows"), dict) else {}
    schemas = {**frames.SCHEMAS, "errors": ERROR_SCHEMA}
    loaded = {name: _read(where / f"{name}.parquet", schemas[name], folder, rows.get(name)) for name in STORE_FILES}
    fetched = meta.get("fetched_at")
    try:
        stamp = None if fetched is None else pd.Timestamp(fetched)
    except (TypeError, ValueError):
        raise _damaged(folder / META_FILE, f"fetched_at {fetched!r} is not a time", folder) from None
    selection = meta.get("selection") or {}
    if not isinstance(selection, dict):
        raise _damaged(folder / META_FILE, "selection is not a JSON object", folder)
    return IncidentData(**loaded, fetched_at=stamp, selection=selection)


def _read(path: Path, schema: dict[str, Any], folder: Path, expected_rows: object = None) -> pd.DataFrame:
    """One Parquet file with the declared columns and dtypes; columns it lacks are filled with NA."""
    try:
        frame = pd.read_parquet(path)
    except FileNotFoundError:
        raise
    except Exception as exc:  # pyarrow raises several types for a truncated or foreign file
        raise _damaged(path, f"not a readable Parquet file ({type(exc).__name__}: {exc})", folder) from None
    if isinstance(expected_rows, int) and len(frame) != expected_rows:
        raise _damaged(path, f"{len(frame)} rows where the manifest promises {expected_rows}", folder)
    missing = [c for c in schema if c not in frame.columns]
    required = [c for c in missing if c in _REQUIRED_COLUMNS]
    if required:
        raise _damaged(path, f"lacks the required columns {required}", folder)
    if missing:
        # Written before these columns existed: they were not fetched, so they are missing values.
        logger.info("%s lacks columns %s (written by an older version); they are left empty", path, missing)
        for column in missing:
            frame[column] = pd.Series(index=frame.index, dtype=schema[column])
    frame = frame[list(schema)]
    # Parquet keeps pandas dtypes; convert only what differs (a cast of every column costs time).
    differ = {c: t for c, t in schema.items() if frame[c].dtype != pd.api.types.pandas_dtype(t)}
    try:
        return frame.astype(differ) if differ else frame
    except (TypeError, ValueError) as exc:
        raise _damaged(path, f"a column does not have its declared type ({exc})", folder) from None


def _fsync(path: Path) -> None:
    """Flush a file (or a folder's entries) to disk, so a crash cannot reorder the writes."""
    flags = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) if path.is_dir() else os.O_RDONLY
    try:
        fd = os.open(path, flags)
    except OSError:  # pragma: no cover - folders cannot be opened on Windows
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover - some file systems refuse fsync on folders
        pass
    finally:
        os.close(fd)


def _make_folder(folder: Path) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise StoreError(f"{folder} is a file, not a folder: choose another store folder") from None


def _write_generation(data: IncidentData, folder: Path) -> Path:
    """Every file of ``data`` in a new generation folder, flushed to disk; returns the folder."""
    stamp = pd.Timestamp.now(tz="UTC").strftime("%Y%m%dT%H%M%S")
    generation = folder / f"{GENERATION_PREFIX}{stamp}-{secrets.token_hex(4)}"
    generation.mkdir()
    for name in STORE_FILES:
        path = generation / f"{name}.parquet"
        getattr(data, name).to_parquet(path, index=False)
        _fsync(path)
    _fsync(generation)
    return generation


def _switch(folder: Path, meta: dict[str, Any]) -> None:
    """Replace the manifest in one rename: the moment the new generation becomes the store."""
    temp = folder / f".{META_FILE}.{secrets.token_hex(4)}.tmp"
    try:
        with open(temp, "w", encoding="utf-8") as handle:
            json.dump(meta, handle, indent=2)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, folder / META_FILE)
    finally:
        if temp.exists():
            temp.unlink()
    _fsync(folder)


def _clean(folder: Path, keep: str) -> None:
    """Remove what no manifest names any more: older (or crashed) generations, the files of a
    version 1 store, and temporary files of interrupted writes."""
    legacy = {f"{name}.parquet" for name in STORE_FILES}
    for entry in folder.iterdir():
        name = entry.name
        if entry.is_dir() and name.startswith(GENERATION_PREFIX) and name != keep:
            shutil.rmtree(entry, ignore_errors=True)
        elif entry.is_file() and (name in legacy or (name.startswith(".") and name.endswith(".tmp"))):
            with contextlib.suppress(FileNotFoundError):
                entry.unlink()


@contextlib.contextmanager
def store_lock(directory: str | os.PathLike[str]) -> Iterator[None]:
    """Hold an exclusive lock on the store in ``directory`` (created if needed) while writing it.

    Two syncs of one store at once would each compute changes from the same old store, and the
    later write would drop the earlier one's; a write would also remove the other's generation. The
    second one waits instead. Not reentrant: ``write_store`` inside it, not ``to_parquet``.
    (Advisory ``flock``; where the platform has none, no lock is taken.)
    """
    folder = Path(directory)
    _make_folder(folder)
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not on Linux or macOS
        yield
        return
    with open(folder / LOCK_FILE, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def read_store(directory: str | os.PathLike[str]) -> IncidentData | None:
    """The store in ``directory``, or None if there is none yet (no folder, or no ``meta.json``)."""
    folder = Path(directory)
    if folder.exists() and not folder.is_dir():
        raise StoreError(f"{folder} is a file, not a folder: choose another store folder")
    if not (folder / META_FILE).exists():
        return None
    return _read_current(folder)


def stored_selection(directory: str | os.PathLike[str]) -> dict[str, Any] | None:
    """The selection the store in ``directory`` was fetched for (from ``meta.json`` only), or None
    if there is no store yet."""
    folder = Path(directory)
    if not (folder / META_FILE).is_file():
        return None
    selection = _read_meta(folder)[1].get("selection") or {}
    if not isinstance(selection, dict):
        raise _damaged(folder / META_FILE, "selection is not a JSON object", folder)
    return selection


def write_store(data: IncidentData, directory: str | os.PathLike[str]) -> Path:
    """Write ``data`` as the store in ``directory``, atomically; the caller holds ``store_lock``.

    Steps: a new generation folder with every file, flushed; the manifest ``meta.json`` replaced in
    one rename; then older generations removed.
    """
    folder = Path(directory)
    _make_folder(folder)
    try:
        generation = _write_generation(data, folder)
    except OSError as exc:
        # The previous store is untouched; the partial generation is removed by the next write.
        raise StoreError(
            f"{folder}: cannot write the store ({exc.strerror or exc}); the previous one is unchanged"
        ) from exc
    meta = {
        "version": STORE_VERSION,
        "generation": generation.name,
        "files": {name: f"{name}.parquet" for name in STORE_FILES},
        "rows": {name: len(getattr(data, name)) for name in STORE_FILES},
        "fetched_at": None if data.fetched_at is None else data.fetched_at.isoformat(),
        "selection": data.selection,
    }
    _switch(folder, meta)
    _clean(folder, keep=generation.name)
    logger.info("wrote the store %s: %d incidents, generation %s", folder, len(data.incidents), generation.name)
    return folder
