"""Small helpers shared by the emulator tests (kept independent of the emulator's own code)."""

from __future__ import annotations

import dataclasses
import hashlib
import re
from collections.abc import Iterator
from typing import Any

import httpx

_TIME = re.compile(r"^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?Z$")


def call(client: httpx.Client, method: str, body: Any = None) -> httpx.Response:
    """POST ``body`` (default ``{}``) to ``Service.Method`` on the client's base URL."""
    return client.post(method, json={} if body is None else body)


def ok(client: httpx.Client, method: str, body: Any = None) -> dict[str, Any]:
    """Call and require HTTP 200 without an in-band error; returns the decoded body."""
    response = call(client, method, body)
    assert response.status_code == 200, (method, response.status_code, response.text)
    data: dict[str, Any] = response.json()
    assert "error" not in data, data
    return data


def ns(text: str) -> int:
    """An RFC 3339 UTC wire time as integer nanoseconds (strict: ``Z`` suffix, up to 9 digits)."""
    from datetime import UTC, datetime

    match = _TIME.match(text)
    assert match is not None, f"not an RFC 3339 UTC time: {text!r}"
    whole = datetime.fromisoformat(match.group(1)).replace(tzinfo=UTC)
    frac = (match.group(2) or "").ljust(9, "0")
    return int(whole.timestamp()) * 1_000_000_000 + int(frac)


def fraction_digits(text: str) -> int:
    """How many fractional-second digits a wire time carries (0 for whole seconds)."""
    match = _TIME.match(text)
    assert match is not None, text
    return len(match.group(2) or "")


def pages(
    client: httpx.Client, method: str, query: dict[str, Any], items_key: str, **extra: Any
) -> Iterator[dict[str, Any]]:
    """Every page of a cursor-paged method, following the top-level cursor (docs/api.md#paging)."""
    cursor: dict[str, Any] | None = None
    for _ in range(10_000):
        body: dict[str, Any] = {"query": query, **extra}
        if cursor is not None:
            body["cursor"] = cursor
        page = ok(client, method, body)
        yield page
        cursor = page["cursor"]
        if not cursor["hasMore"]:
            return
    raise AssertionError("paging did not terminate")


def all_items(client: httpx.Client, method: str, query: dict[str, Any], items_key: str, **extra: Any) -> list[Any]:
    """The concatenated items of every page."""
    return [item for page in pages(client, method, query, items_key, **extra) for item in page[items_key]]


def preview_ids(client: httpx.Client, query_string: str, **query: Any) -> list[str]:
    """Incident IDs of all pages of QueryIncidentPreviews (limit 100) for a query string."""
    q = {"limit": 100, "queryString": query_string, **query}
    return [p["incidentID"] for p in all_items(client, "IncidentsService.QueryIncidentPreviews", q, "incidentPreviews")]


def world_digest(state: Any) -> str:
    """sha256 of everything a seeded emulator state holds, in a canonical form.

    Covers the catalogue (users, roles, severities, label fields, statuses) and every incident with
    its labels, tasks, assignments, timeline (each item's every field), key updates, channels and
    refs, plus the state's notes, planted effects, teams and anchor. Records are read through their
    public attributes (a field kept behind a property, such as a lazily made timeline, is read
    through the property), so the digest depends on the data, not on how it is stored.
    """
    digest = hashlib.sha256()
    for part in (state.catalog, *state.incidents.values(), state.notes, state.planted, state.teams, state.anchor_ns):
        digest.update(repr(_canonical(part)).encode())
    return digest.hexdigest()


_ATTRIBUTES: dict[type, list[str]] = {}


def _attributes(cls: type) -> list[str]:
    names = _ATTRIBUTES.get(cls)
    if names is None:
        public = {f.name.lstrip("_") for f in dataclasses.fields(cls)}
        names = _ATTRIBUTES[cls] = sorted(name for name in public if hasattr(cls, name))
    return names


def _canonical(value: Any) -> Any:
    if value is None or isinstance(value, (str, int, float)):
        return value
    if isinstance(value, (list, tuple)):
        return [_canonical(v) for v in value]
    if isinstance(value, (set, frozenset)):
        return sorted((_canonical(v) for v in value), key=repr)
    if isinstance(value, dict):
        return sorted((str(k), _canonical(v)) for k, v in value.items())
    cls = type(value)
    return (cls.__name__, [(name, _canonical(getattr(value, name))) for name in _attributes(cls)])
