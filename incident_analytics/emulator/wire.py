"""Encoded JSON of the hot read answers, kept until the incident or the catalogue changes.

A fetch asks for every incident, its labels and its timeline, and benchmarks ask again on every
repeat: rendering and encoding the same records each time was most of the emulator's CPU per
request. :class:`WireCache` keeps the encoded bytes of a rendered record (a full incident, an
incident's keyed labels, a preview, a timeline item) under a stamp of what they were rendered
from: the incident object, its ``version`` (every write to an incident bumps it) and the state's
``catalog_version`` (bumped by every write that may change what any incident renders to: users,
roles, severities, label keys). A stale stamp renders again. Bytes are those of
``json.dumps(..., ensure_ascii=False, separators=(",", ":"))``, so a response assembled from cached
parts is byte for byte the one encoding the whole dict gives.

The only rendered value that changes without a write is an open incident's ``durationSeconds``
(it runs until now): the full incident is kept as the bytes before and after that number, and
the number is put in on every answer.

Callers hold the state's lock (the :class:`~incident_analytics.emulator.handlers.Api` does for
every RPC); the cache is not locked itself. It is bounded by the bytes it holds, least recently
used out first.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from incident_analytics.emulator import render
from incident_analytics.emulator.model import ActivityItem, Incident

if TYPE_CHECKING:
    from incident_analytics.emulator.state import State

MAX_BYTES = 128 * 1024 * 1024
"""Default bound of the encoded bytes kept (about 15 KiB per seeded incident when all are cached)."""

_DURATION = b',"durationSeconds":0,'

Stamp = tuple[int, int]


class Encoded(bytes):
    """A response body already encoded as JSON (handlers may return it instead of a dict)."""


# json.dumps builds a new encoder on every call when given options; one shared encoder is stateless.
_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))


def dumps(obj: Any) -> bytes:
    """``obj`` as the server encodes every JSON body: UTF-8, no ASCII escaping, no blanks.

    The same bytes as ``json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode()``.
    """
    return _ENCODER.encode(obj).encode("utf-8")


def page(items_key: str, items: Sequence[bytes], query: Any, cursor: Any) -> Encoded:
    """``{items_key: [items...], "query": query, "cursor": cursor}`` from encoded items."""
    return Encoded(
        b"".join(
            (
                b'{"',
                items_key.encode("utf-8"),
                b'":[',
                b",".join(items),
                b'],"query":',
                dumps(query),
                b',"cursor":',
                dumps(cursor),
                b"}",
            )
        )
    )


class _Entry:
    __slots__ = ("incident", "size", "stamp", "value")

    def __init__(self, incident: Incident, stamp: Stamp, value: Any, size: int) -> None:
        self.incident = incident
        self.stamp = stamp
        self.value = value
        self.size = size


class WireCache:
    """Encoded renders of incidents, previews, keyed labels and timeline items (see the module doc).

    ```python
    cache = WireCache(state)
    with state.lock:
        body = cache.incident_response(state.incidents["1"])  # b'{"incident":{...}}'
    ```
    """

    def __init__(self, state: State, max_bytes: int = MAX_BYTES) -> None:
        self.state = state
        self.max_bytes = max_bytes
        self._entries: OrderedDict[tuple[Any, str], _Entry] = OrderedDict()
        self._size = 0
        self.hits = 0
        self.misses = 0

    @property
    def size(self) -> int:
        """The encoded bytes held."""
        return self._size

    def _stamp(self, incident: Incident) -> Stamp:
        return (incident.version, self.state.catalog_version)

    def _entry(self, kind: Any, incident: Incident, build: Callable[[], tuple[Any, int]]) -> _Entry:
        key = (kind, incident.incident_id)
        stamp = self._stamp(incident)
        entry = self._entries.get(key)
        if entry is not None and entry.incident is incident and entry.stamp == stamp:
            self.hits += 1
            self._entries.move_to_end(key)
            return entry
        self.misses += 1
        value, size = build()
        if entry is not None:
            self._size -= entry.size
        entry = self._entries[key] = _Entry(incident, stamp, value, size)
        self._entries.move_to_end(key)
        self._grow(size)
        return entry

    def _grow(self, size: int) -> None:
        self._size += size
        while self._size > self.max_bytes and len(self._entries) > 1:
            _, old = self._entries.popitem(last=False)
            self._size -= old.size

    def prerender(self, incidents: Sequence[Incident]) -> int:
        """Fill the cache with the hot answers of ``incidents`` (full record, keyed labels, plain preview,
        timeline items) until it is full; returns how many incidents were rendered."""
        done = 0
        for incident in incidents:
            if self._size >= self.max_bytes:
                break
            self.incident_response(incident)
            self.key_value_labels(incident)
            self.preview(incident, field_values=False, membership=False, channels=False)
            self.activity_items(incident, incident.activity)
            done += 1
        return done

    # -- the cached renders -----------------------------------------------------------------------

    def incident_response(self, incident: Incident) -> bytes:
        """``{"incident": <full incident>}`` as ``GetIncident`` answers, with ``durationSeconds`` as of now."""

        def build() -> tuple[Any, int]:
            rendered = render.incident(self.state.catalog, incident, 0)
            rendered["durationSeconds"] = 0
            raw = dumps({"incident": rendered})
            # Inside JSON strings every quote is escaped, so the marker can only be the real key.
            at = raw.index(_DURATION) + len(_DURATION) - 2  # just after the colon, at the 0
            return (raw[:at], raw[at + 1 :]), len(raw)

        head, tail = self._entry("incident", incident, build).value
        seconds = render.duration_seconds(incident, self.state.clock.peek())
        return b"".join((head, str(seconds).encode("ascii"), tail))

    def key_value_labels(self, incident: Incident) -> bytes:
        """The encoded list of an incident's keyed labels, as ``GetLabels`` answers it."""

        def build() -> tuple[Any, int]:
            raw = dumps(render.key_value_labels(self.state.catalog, incident))
            return raw, len(raw)

        value: bytes = self._entry("labels", incident, build).value
        return value

    def preview(self, incident: Incident, *, field_values: bool, membership: bool, channels: bool) -> bytes:
        """The encoded ``IncidentPreview`` with the optional parts asked for."""

        def build() -> tuple[Any, int]:
            raw = dumps(
                render.incident_preview(
                    self.state.catalog,
                    incident,
                    field_values=field_values,
                    membership=membership,
                    channels=channels,
                )
            )
            return raw, len(raw)

        value: bytes = self._entry(("preview", field_values, membership, channels), incident, build).value
        return value

    def activity_items(self, incident: Incident, items: Sequence[ActivityItem]) -> list[bytes]:
        """The encoded ``ActivityItem`` of each of ``items`` (items of ``incident``'s timeline)."""
        entry = self._entry("activity", incident, lambda: ({}, 0))
        # Keyed by the item object: adding, removing or editing an item bumps the incident's
        # version, which replaces this whole entry, so an id() is never reused within it.
        encoded: dict[int, bytes] = entry.value
        result: list[bytes] = []
        added = 0
        for item in items:
            raw = encoded.get(id(item))
            if raw is None:
                raw = encoded[id(item)] = dumps(render.activity_item(self.state.catalog, item))
                added += len(raw)
            result.append(raw)
        if added:
            entry.size += added
            self._grow(added)
        return result
