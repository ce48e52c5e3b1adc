"""The server read a plan was made from, so ``apply_label_changes`` can skip reading it again.

``plan_label_changes(..., client=client)`` reads every incident's labels and computes each row from
that read. It records the read in ``plan.attrs["labels_read"]``: the server, when, a digest of the
rows it planned, and a token of this process. ``apply_label_changes`` trusts the plan as the
server's state, and sends without reading each incident first, only when all of these hold:

* the plan was made in this process (a plan saved and loaded elsewhere is read again),
* from the server the client talks to, less than ``trust_for`` seconds ago,
* its rows are exactly the rows planned (any edit, filter or added row changes the digest),
* no earlier apply ran it (a second apply reads, so re-applying says "already present"),
* and no journal records part of it (a resumed run reads: a change may have been in flight).

Otherwise every incident's labels are read before its first write, as for any plan.
"""

from __future__ import annotations

import hashlib
import threading
import time
import uuid
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

ATTR = "labels_read"
TRUST_PLAN_FOR = 60.0
"""Seconds for which a plan made from a server read counts as the server's state."""

_PROCESS = uuid.uuid4().hex  # plans made in another process are never trusted
_spent: set[str] = set()
_spent_lock = threading.Lock()


def digest(changes: Iterable[Mapping[str, str]]) -> str:
    """An order-free digest of plan rows (``incident_id, key, value, action``): equal iff same rows.

    The sum of the rows' 64-bit hashes, so two plans concatenated digest to the sum of their digests.

    >>> a = {"incident_id": "1", "key": "tags", "value": "db", "action": "add"}
    >>> b = {"incident_id": "2", "key": "team", "value": "sre", "action": "remove"}
    >>> digest([a, b]) == digest([b, a]), digest([a]) == digest([b])
    (True, False)
    """
    total = 0
    for change in changes:
        text = "\x1f".join((change["incident_id"], change["key"], change["value"], change["action"]))
        total += int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "big")
    return f"{total % 2**64:016x}"


def _add(digests: Sequence[str]) -> str:
    return f"{sum(int(d, 16) for d in digests) % 2**64:016x}"


def record(attrs: dict[Any, Any], *, server: str, read_at: float, changes: Sequence[Mapping[str, str]]) -> None:
    """Note in ``attrs`` that ``changes`` were planned from a read of ``server`` at ``read_at`` (epoch s)."""
    attrs[ATTR] = {
        "source": "server",
        "server": server,
        "read_at": datetime.fromtimestamp(read_at, UTC).isoformat(),
        "rows": len(changes),
        "digest": digest(changes),
        "process": _PROCESS,
        "plans": [uuid.uuid4().hex],
    }


def merged(parts: Sequence[Mapping[Any, Any]]) -> dict[str, Any] | None:
    """One snapshot for plans concatenated: as old as the oldest read; None unless all agree on the server."""
    reads = [read for part in parts if isinstance(read := part.get(ATTR), dict) and read.get("source") == "server"]
    if not reads or len(reads) != len(parts):
        return None
    first = reads[0]
    try:
        if any(r["server"] != first["server"] or r["process"] != first["process"] for r in reads):
            return None
        return {
            "source": "server",
            "server": first["server"],
            "read_at": min(r["read_at"] for r in reads),
            "rows": sum(r["rows"] for r in reads),
            "digest": _add([r["digest"] for r in reads]),
            "process": first["process"],
            "plans": [plan for r in reads for plan in r["plans"]],
        }
    except (KeyError, TypeError, ValueError):
        return None


def trusted(
    attrs: Mapping[Any, Any], *, server: str, changes: Sequence[Mapping[str, str]], trust_for: float
) -> str | None:
    """Why the plan cannot stand for the server's state, or None when it can (see the module doc)."""
    read = attrs.get(ATTR)
    if not isinstance(read, dict) or read.get("source") != "server":
        return "the plan does not record a server read"
    if read.get("process") != _PROCESS:
        return "the plan was made in another process"
    if read.get("server") != server:
        return "the plan was made from another server"
    try:
        age = time.time() - datetime.fromisoformat(read["read_at"]).timestamp()
    except (KeyError, TypeError, ValueError):
        return "the plan's read time is unreadable"
    if not 0 <= age < trust_for:
        return f"the plan's read is {age:.0f} s old (trusted for {trust_for:g} s)"
    if read.get("rows") != len(changes) or read.get("digest") != digest(changes):
        return "the plan's rows changed since it was made"
    with _spent_lock:
        if any(plan in _spent for plan in read.get("plans", [])):
            return "the plan was applied before"
    return None


def spend(attrs: Mapping[Any, Any]) -> None:
    """Mark the plan's reads as used: a later apply of it (or of a plan made with it) reads again."""
    read = attrs.get(ATTR)
    if isinstance(read, dict):
        with _spent_lock:
            _spent.update(read.get("plans", []))
