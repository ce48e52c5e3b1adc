"""An append-only JSON-lines journal of label-change outcomes, synced to disk line by line.

Each outcome is one line ``{"incident_id", "key", "value", "action", "status", "attempts",
"error", "at"}`` written, flushed and ``fsync``-ed before the next change is reported done, so a
killed process loses at most the change in flight (which the next run checks on the server).
"""

from __future__ import annotations

import json
import logging
import os
import threading
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any

logger = logging.getLogger("incident_analytics")

ChangeKey = tuple[str, str, str, str]
"""``(incident_id, key, value, action)``: one change of a plan."""

DONE = frozenset({"applied", "skipped"})


class Journal:
    """Open (or create) the journal at ``path``; ``done`` holds the changes already finished.

    >>> with Journal("labels.jsonl") as journal:          # doctest: +SKIP
    ...     journal.record(("17", "tags", "security", "add"), status="applied", attempts=1)
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.done: dict[ChangeKey, str] = read_done(self.path)
        self._lock = threading.Lock()
        self._file = self.path.open("a", encoding="utf-8")

    def record(self, change: ChangeKey, *, status: str, attempts: int = 0, error: str | None = None) -> None:
        """Append one outcome and sync it to disk."""
        entry: dict[str, Any] = dict(zip(("incident_id", "key", "value", "action"), change, strict=True))
        entry.update(status=status, attempts=attempts, error=error, at=datetime.now(UTC).isoformat())
        line = json.dumps(entry, ensure_ascii=False) + "\n"
        with self._lock:
            self._file.write(line)
            self._file.flush()
            os.fsync(self._file.fileno())
            if status in DONE:
                self.done[change] = f"{status} in an earlier run"

    def close(self) -> None:
        """Close the file."""
        self._file.close()

    def __enter__(self) -> Journal:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def read_done(path: str | os.PathLike[str]) -> dict[ChangeKey, str]:
    """The changes a journal records as done (applied or skipped), with a note; {} if there is none.

    A line cut short (the process was killed while writing it) is ignored: its change is not
    counted as done, so the next run checks it on the server again.
    """
    where = Path(path)
    done: dict[ChangeKey, str] = {}
    if not where.exists():
        return done
    with where.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                entry = json.loads(line)
                key = (entry["incident_id"], entry["key"], entry["value"], entry["action"])
                status = entry["status"]
            except (ValueError, KeyError, TypeError):
                logger.warning("journal %s: line %d is incomplete and is ignored", where, number)
                continue
            if status in DONE:
                done[key] = f"{status} in an earlier run"
            else:
                done.pop(key, None)
    return done
