"""Cursor paging (docs/api.md#paging): opaque UUID cursors mapped server-side to a keyset position.

A query's results are sorted by a total order (the sort value, then the numeric ID or sequence
number), and a cursor remembers the key of the last row handed out, plus a fingerprint of the
query it belongs to. The next page starts strictly after that key, so paging stays correct when
rows are added or changed between pages (no row is repeated or skipped unless its own sort value
changed). The cursor value is a UUID (drawn from a seeded generator, so a replayed session issues the same
cursors), as in the official stub; clients must treat it as
opaque. Unknown, expired or foreign cursors are refused with HTTP 400.
"""

from __future__ import annotations

import bisect
import random
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from incident_analytics.emulator.request import BadRequest, Body
from incident_analytics.emulator.world import make_uuid

T = TypeVar("T")
SortKey = tuple[Any, ...]

END_CURSOR: dict[str, Any] = {"nextValue": "", "hasMore": False}


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    """One page of rows and the cursor to send back (``{"nextValue", "hasMore"}``)."""

    rows: list[T]
    cursor: dict[str, Any]


class CursorStore:
    """Maps issued cursor values to (query fingerprint, last key); bounded, oldest forgotten first."""

    def __init__(self, max_entries: int = 100_000, *, rng: random.Random | None = None) -> None:
        self._rng = rng if rng is not None else random.Random()
        self._entries: OrderedDict[str, tuple[str, SortKey]] = OrderedDict()
        self._max = max_entries
        self._lock = threading.Lock()

    def issue(self, fingerprint: str, last_key: SortKey) -> str:
        """A new cursor value for continuing after ``last_key``."""
        with self._lock:
            value = make_uuid(self._rng)
            self._entries[value] = (fingerprint, last_key)
            while len(self._entries) > self._max:
                self._entries.popitem(last=False)
        return value

    def resolve(self, request: Body, fingerprint: str) -> SortKey | None:
        """The position a request's top-level ``cursor`` points at; None for the first page.

        A missing cursor or an empty ``nextValue`` means the first page, whatever ``hasMore``
        says: the official Go client always sends ``{"nextValue": "", "hasMore": false}``.
        """
        cursor = request.obj("cursor")
        value = cursor.string("nextValue")
        cursor.boolean("hasMore")
        if not value:
            return None
        with self._lock:
            entry = self._entries.get(value)
        if entry is None:
            raise BadRequest(f"cursor.nextValue {value!r} is not a cursor this server issued (or it expired)")
        if entry[0] != fingerprint:
            raise BadRequest("cursor.nextValue belongs to a different query; send the same query to continue")
        return entry[1]


def paginate(
    rows: Sequence[T],
    key: Callable[[T], SortKey],
    *,
    descending: bool,
    limit: int,
    after: SortKey | None,
    store: CursorStore,
    fingerprint: str,
    keys: Sequence[SortKey] | None = None,
) -> Page[T]:
    """Slice the page after ``after`` out of ``rows`` (already sorted ascending by ``key``).

    ``keys``, when given, are the rows' keys already computed (``key(row)`` for each row).
    """
    if keys is None:
        keys = [key(row) for row in rows]
    if descending:
        end = len(rows) if after is None else bisect.bisect_left(keys, after)
        start = max(0, end - limit)
        page = list(reversed(rows[start:end]))
        has_more = start > 0
    else:
        start = 0 if after is None else bisect.bisect_right(keys, after)
        end = min(len(rows), start + limit)
        page = list(rows[start:end])
        has_more = end < len(rows)
    if not has_more or not page:
        return Page(page, dict(END_CURSOR))
    return Page(page, {"nextValue": store.issue(fingerprint, key(page[-1])), "hasMore": True})
