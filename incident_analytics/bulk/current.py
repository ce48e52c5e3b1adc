"""The labels incidents carry now: from a labels frame, an ``IncidentData`` or the API."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pandas as pd

from ..client import AsyncIncidentClient
from ..errors import NotFoundError, RateLimitError, ResponseFormatError, ServerError, TransportError
from .frames import TAGS_KEY, checked_labels

logger = logging.getLogger("incident_analytics")

Label = tuple[str, str]
"""``(key, value)``; free-form labels have the key ``"tags"``."""

READ_CONCURRENCY = 8
# A read that still fails after the client's own retries (a 500 is not in its retry list) is safe
# to try again: reading changes nothing.
TRANSIENT = (ServerError, TransportError, RateLimitError, ResponseFormatError)
READ_ROUNDS = 3


def check_client(client: Any) -> None:
    """Refuse the asyncio client: its helpers return coroutines, and bulk work runs in threads."""
    if isinstance(client, AsyncIncidentClient):
        raise TypeError("bulk label changes need the synchronous ia.IncidentClient, not AsyncIncidentClient")


def read_labels(client: Any, incident_id: str, *, rounds: int = READ_ROUNDS) -> set[Label]:
    """The incident's labels read now with ``GetIncident``; transient failures are tried again."""
    for round_ in range(1, rounds + 1):
        try:
            return labels_of(client.incidents.get(incident_id))
        except TRANSIENT as exc:
            if round_ == rounds:
                raise
            wait = exc.retry_after if isinstance(exc, RateLimitError) and exc.retry_after else 0.2 * round_
            logger.info("reading incident %s failed (%s); trying again in %.1f s", incident_id, exc, wait)
            time.sleep(wait)
    raise AssertionError("unreachable")


def labels_of(incident: Mapping[str, Any]) -> set[Label]:
    """The ``(key, value)`` labels of one ``Incident`` record (both kinds, free-form as ``tags``).

    The same reading as ``frames.labels_frame`` (text in ``label``, else ``value``; an empty key or
    any casing of ``tags`` is free-form), without building a frame: apply reads every incident.

    >>> record = {"incidentID": "1", "labels": [{"key": "Tags", "label": "db"}, {"key": "team", "value": "x"}]}
    >>> sorted(labels_of(record))
    [('tags', 'db'), ('team', 'x')]
    """
    labels = incident.get("labels") or []
    if not isinstance(labels, list):
        raise ResponseFormatError(f"incident {incident.get('incidentID')!r}: 'labels' must be a list")
    out: set[Label] = set()
    for item in labels:
        if not isinstance(item, Mapping):
            raise ResponseFormatError(f"incident {incident.get('incidentID')!r}: a label is not an object")
        key = item.get("key") or TAGS_KEY
        text = item.get("label") or item.get("value")
        if isinstance(key, str) and isinstance(text, str) and text:
            out.add((TAGS_KEY if key.casefold() == TAGS_KEY else key, text))
    return out


def from_frames(current: Any) -> tuple[dict[str, set[Label]], set[str]]:
    """Labels per incident, and the known incident IDs, from a labels frame or an ``IncidentData``.

    With a bare labels frame, only incidents that carry at least one label are known.
    """
    incidents = getattr(current, "incidents", None)
    labels = checked_labels(current, "current")
    by_incident: dict[str, set[Label]] = {}
    keys = labels["key"].astype(object).where(labels["key"].notna(), TAGS_KEY)
    for iid, key, value in zip(labels["incident_id"].astype(str), keys, labels["value"].astype(str), strict=True):
        by_incident.setdefault(iid, set()).add((TAGS_KEY if str(key).casefold() == TAGS_KEY else str(key), value))
    known = set(by_incident)
    if isinstance(incidents, pd.DataFrame) and "incident_id" in incidents.columns:
        known |= set(incidents["incident_id"].astype(str))
    return by_incident, known


def from_client(client: Any, incident_ids: Iterable[str]) -> tuple[dict[str, set[Label]], set[str]]:
    """Labels per incident read with ``GetIncident`` (concurrently); unknown IDs are left out."""
    check_client(client)
    ids = sorted(set(incident_ids))

    def read(iid: str) -> tuple[str, set[Label] | None]:
        try:
            return iid, read_labels(client, iid)
        except NotFoundError:
            return iid, None

    with ThreadPoolExecutor(max_workers=READ_CONCURRENCY, thread_name_prefix="ia-labels") as pool:
        found = dict(pool.map(read, ids))
    labels = {iid: got for iid, got in found.items() if got is not None}
    return labels, set(labels)
