"""Frames built by hand (for hand-computed values) and fetched from the emulator (for agreement checks)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import pandas as pd
import pytest

import incident_analytics as ia
from incident_analytics import frames
from incident_analytics.emulator import Emulator

AS_OF = pd.Timestamp("2026-06-01 13:00", tz="UTC")


def stamp(text: str | None) -> pd.Timestamp:
    return pd.NaT if text is None else pd.Timestamp(text, tz="UTC")


def frame(name: str, rows: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """A frame with the declared schema: the given columns filled, the others missing."""
    schema = frames.SCHEMAS[name]
    data = {column: [row.get(column) for row in rows] for column in schema}
    for column, dtype in schema.items():
        if str(dtype).startswith("datetime64"):
            data[column] = pd.to_datetime(
                pd.Series([stamp(v) if isinstance(v, str) or v is None else v for v in data[column]], dtype=object),
                utc=True,
            )
    return pd.DataFrame(data, columns=list(schema)).astype(schema)


def incident(incident_id: str, start: str | None = None, end: str | None = None, **fields: Any) -> dict[str, Any]:
    """An incident row: ``start``/``end`` fill incident_start/created_time and incident_end/closed_time."""
    row: dict[str, Any] = {
        "incident_id": incident_id,
        "is_drill": False,
        "severity": "Major",
        "status": "resolved" if end else "active",
        "created_time": start,
        "incident_start": start,
        "incident_end": end,
        "closed_time": end,
    }
    row.update(fields)
    return row


@pytest.fixture(scope="session")
def emulator_data() -> Iterator[ia.IncidentData]:
    """Everything fetched from a seeded emulator (drills included; each test filters as it needs)."""
    with Emulator(seed=0, incidents=250) as emu, ia.IncidentClient(emu.url, emu.token) as client:
        yield ia.fetch(client, progress=False, include_drills=True)


def item(incident_id: str, kind: str, at: str, user: str | None, body: str = "", subject: str | None = None) -> dict:
    return {
        "incident_id": incident_id,
        "activity_item_id": f"{incident_id}-{kind}-{at}",
        "activity_kind": kind,
        "created_time": f"2026-05-04 {at}",
        "event_time": f"2026-05-04 {at}",
        "user_id": user,
        "user_name": None if user is None else user.upper(),
        "subject_user_id": subject,
        "body": body,
    }


def activity(*rows: dict) -> pd.DataFrame:
    return frame("activity", list(rows))
