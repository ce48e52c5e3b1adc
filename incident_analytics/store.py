"""``IncidentData``, the five frames (plus errors) a fetch produces, and their Parquet store.

A store is a folder: one Parquet file per frame and ``meta.json`` (when it was fetched, for which
selection). Reading applies the declared schemas again, so dtypes survive the round trip.
"""

from __future__ import annotations

import contextlib
import html
import json
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from . import frames
from .schema import ERROR_SCHEMA

FRAME_NAMES = ("incidents", "tasks", "labels", "assignments", "activity")
META_FILE = "meta.json"
STORE_VERSION = 1


def empty_errors() -> pd.DataFrame:
    """An errors frame with no rows."""
    return pd.DataFrame({c: pd.Series(dtype=t) for c, t in ERROR_SCHEMA.items()})


@dataclass
class IncidentData:
    """Incidents and what hangs off them, as tidy frames (schemas in ``frames.SCHEMAS``).

    Attributes:
        incidents, tasks, labels, assignments, activity: the five frames.
        errors: one row per per-incident call that failed after retries (``incident_id, method,
            error_type, status_code, message``); those incidents are incomplete.
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

    @property
    def incomplete(self) -> list[str]:
        """IDs of incidents with at least one failed call."""
        return sorted(set(self.errors["incident_id"].dropna().astype(str)))

    def to_parquet(self, directory: str | os.PathLike[str]) -> Path:
        """Write every frame and ``meta.json`` into ``directory`` (created if needed); returns it.

        Each file is written to a temporary name first and then renamed, so an interrupted write
        never leaves a half-written store behind.
        """
        folder = Path(directory)
        folder.mkdir(parents=True, exist_ok=True)
        for name in (*FRAME_NAMES, "errors"):
            _atomic_write(
                folder / f"{name}.parquet",
                lambda path, n=name: getattr(self, n).to_parquet(path, index=False),
            )
        meta = {
            "version": STORE_VERSION,
            "fetched_at": None if self.fetched_at is None else self.fetched_at.isoformat(),
            "selection": self.selection,
        }
        _atomic_write(folder / META_FILE, lambda path: Path(path).write_text(json.dumps(meta, indent=2)))
        return folder

    @classmethod
    def read_parquet(cls, directory: str | os.PathLike[str]) -> IncidentData:
        """Read a store written by ``to_parquet``; dtypes are restored from the declared schemas."""
        folder = Path(directory)
        if not (folder / META_FILE).exists():
            raise FileNotFoundError(f"{folder} is not an incident_analytics store (no {META_FILE})")
        meta = json.loads((folder / META_FILE).read_text())
        if meta.get("version") != STORE_VERSION:
            raise ValueError(f"{folder}: store version {meta.get('version')!r} is not {STORE_VERSION}")
        loaded = {name: _read(folder / f"{name}.parquet", frames.SCHEMAS[name]) for name in FRAME_NAMES}
        errors = _read(folder / "errors.parquet", ERROR_SCHEMA)
        fetched = meta.get("fetched_at")
        return cls(
            **loaded,
            errors=errors,
            fetched_at=None if fetched is None else pd.Timestamp(fetched),
            selection=meta.get("selection") or {},
        )

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


def _atomic_write(path: Path, write: Any) -> None:
    handle, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(handle)
    try:
        write(temp)
        os.replace(temp, path)
    finally:
        if os.path.exists(temp):
            os.unlink(temp)


def _read(path: Path, schema: dict[str, str]) -> pd.DataFrame:
    frame = pd.read_parquet(path)
    missing = [c for c in schema if c not in frame.columns]
    if missing:
        raise ValueError(f"{path} lacks columns {missing}; was it written by another version?")
    return frame[list(schema)].astype(schema)


@contextlib.contextmanager
def store_lock(directory: str | os.PathLike[str]) -> Iterator[None]:
    """Hold an exclusive lock on the store in ``directory`` (created if needed) while syncing it.

    Two syncs of one store at once would each write their own frames, and the files could end up
    from different runs. The second one waits instead. (Advisory ``flock``; where the platform has
    none, no lock is taken.)
    """
    folder = Path(directory)
    folder.mkdir(parents=True, exist_ok=True)
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not on Linux or macOS
        yield
        return
    with open(folder / ".lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def read_store(directory: str | os.PathLike[str]) -> IncidentData | None:
    """The store in ``directory``, or None if there is none yet."""
    if not (Path(directory) / META_FILE).exists():
        return None
    return IncidentData.read_parquet(directory)


def write_store(data: IncidentData, directory: str | os.PathLike[str]) -> Path:
    """Write ``data`` as the store in ``directory``."""
    return data.to_parquet(directory)
