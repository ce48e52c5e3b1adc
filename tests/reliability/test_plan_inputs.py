"""A property over the desired-labels frame given to ``plan_label_changes``: whatever a user puts in
it, either one ``ValueError``/``TypeError`` naming every bad row before anything is written (before
any request at all when the frame itself is malformed), or exactly the plan the labels on the
server call for. The oracle below restates the documented rules independently of the code.
Hand-picked cases are in tests/test_bulk.py and tests/test_bulk_cli.py."""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from typing import Any

import pandas as pd
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

import incident_analytics as ia
from incident_analytics.bulk import plan_label_changes
from incident_analytics.emulator import Emulator
from incident_analytics.emulator.handlers import is_read

Label = tuple[str, str]


@pytest.fixture(scope="module")
def world() -> Iterator[tuple[Emulator, ia.IncidentClient, ia.IncidentData, dict[str, set[Label]]]]:
    with Emulator(seed=5, incidents=12) as emu, ia.IncidentClient(emu.url, emu.token, max_retries=0) as client:
        data = ia.fetch(client, include=("labels",), include_drills=True, progress=False)
        have: dict[str, set[Label]] = {iid: set() for iid in data.incidents["incident_id"]}
        for iid, key, value in data.labels[["incident_id", "key", "value"]].itertuples(index=False):
            have[iid].add(("tags" if pd.isna(key) or str(key).casefold() == "tags" else str(key), str(value)))
        yield emu, client, data, have


def cells(known: list[str], labelled: list[Label], clean: bool) -> st.SearchStrategy[dict[str, Any]]:
    """One desired row: valid values (known IDs, labels some incidents carry), and unless ``clean``
    also every kind of mistake."""
    if clean:
        return st.fixed_dictionaries({
            "incident_id": st.one_of(st.sampled_from(known), st.sampled_from(known).map(int)),
            "key": st.one_of(st.sampled_from([k for k, _ in labelled] or ["team"]), st.sampled_from(["tags", "TAGS"])),
            "value": st.one_of(
                st.sampled_from([v for _, v in labelled] or ["x"]), st.sampled_from(["security", " spaced "])
            ),
        })
    iids = st.one_of(
        st.sampled_from(known), st.sampled_from(known), st.sampled_from(known).map(int), st.just(" 1 "),
        st.just("99999"), st.sampled_from([None, math.nan, "", "   ", True, 3.5, ["1"]]),
    )
    keys = st.one_of(
        st.sampled_from([k for k, _ in labelled] or ["team"]), st.sampled_from(["tags", "TAGS", " team ", "team"]),
        st.sampled_from([None, math.nan]), st.sampled_from(["", "  ", 5, False]),
    )
    values = st.one_of(
        st.sampled_from([v for _, v in labelled] or ["x"]), st.sampled_from(["security", "payments", " spaced "]),
        st.text(min_size=1, max_size=8), st.sampled_from(["", "   ", None, math.nan, 7, b"raw"]),
    )
    return st.fixed_dictionaries({"incident_id": iids, "key": keys, "value": values})


def _missing(value: Any) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value))


def _iid(value: Any) -> str | None:
    if isinstance(value, bool) or _missing(value):
        return None
    if isinstance(value, int):
        return str(value)
    return value.strip() if isinstance(value, str) and value.strip() else None


def _key(value: Any) -> str | None:
    if _missing(value):
        return "tags"
    if isinstance(value, str) and value.strip():
        return "tags" if value.strip().casefold() == "tags" else value.strip()
    return None


def oracle(
    records: list[dict[Any, Any]], has_key: bool, have: dict[str, set[Label]], mode: str
) -> tuple[set[int], bool, set[tuple[str, str, str, str]]]:
    """(bad rows, whether a bad row is bad in the frame itself, the plan's (id, key, value, action))."""
    bad: set[int] = set()
    malformed = False
    rows: dict[int, tuple[str, str, str]] = {}
    for row, record in enumerate(records):
        iid = _iid(record["incident_id"])
        key = _key(record["key"]) if has_key else "tags"
        value = record["value"]
        if iid is None or key is None or not isinstance(value, str) or not value.strip():
            bad.add(row)
            malformed = True
        else:
            rows[row] = (iid, key, value)
    counts: dict[tuple[str, str, str], int] = {}
    for label in rows.values():
        counts[label] = counts.get(label, 0) + 1
    for row, label in rows.items():
        if counts[label] > 1:
            bad.add(row)
            malformed = True
    if not malformed:
        bad |= {row for row, (iid, _, _) in rows.items() if iid not in have}
    plan: set[tuple[str, str, str, str]] = set()
    if not bad:
        wanted: dict[str, set[Label]] = {}
        for iid, key, value in rows.values():
            wanted.setdefault(iid, set()).add((key, value))
            present = (key, value) in have[iid]
            if mode == "remove":
                plan.add((iid, key, value, "remove" if present else "skip"))
            else:
                plan.add((iid, key, value, "skip" if present else "add"))
        if mode == "replace":
            for iid, want in wanted.items():
                keys = {key for key, _ in want}
                plan |= {(iid, key, value, "remove") for key, value in have[iid] - want if key in keys}
    return bad, malformed, plan


def named_rows(message: str) -> set[int]:
    """The row numbers a ``Problems`` message names (``row 3``, ``rows 1, 4 and 7``)."""
    found: set[int] = set()
    for line in message.splitlines()[1:]:
        found |= {int(n) for n in re.findall(r"\d+", line.rsplit(": row", 1)[-1])}
    return found


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_any_desired_frame_is_refused_row_by_row_before_any_write_or_planned_exactly(
    world: tuple[Emulator, ia.IncidentClient, ia.IncidentData, dict[str, set[Label]]], data: st.DataObject
) -> None:
    emu, client, fetched, have = world
    known = sorted(have, key=int)
    labelled = sorted({label for labels in have.values() for label in labels})
    clean = data.draw(st.booleans(), label="only valid values")
    records = data.draw(st.lists(cells(known, labelled, clean), min_size=1, max_size=7), label="rows")
    has_key = data.draw(st.booleans(), label="key column")
    mode = data.draw(st.sampled_from(["add", "remove", "replace"]), label="mode")
    via = data.draw(st.sampled_from(["client", "current"]), label="labels from")
    frame = pd.DataFrame(records, dtype=object)
    if not has_key:
        frame = frame.drop(columns="key")
    bad, malformed, want = oracle(frame.to_dict("records"), has_key, have, mode)

    emu.reset_requests()
    source: dict[str, Any] = {"client": client} if via == "client" else {"current": fetched}
    try:
        plan = plan_label_changes(frame, mode=mode, **source)  # type: ignore[arg-type]
    except ValueError as exc:
        event("refused")
        message = str(exc)
        assert bad, f"refused a valid frame: {message}"
        assert "nothing was sent" in message
        assert named_rows(message) == bad, message
        requests = emu.requests
        assert not [r for r in requests if not is_read(r.method)], "a refused plan wrote something"
        if malformed:
            assert requests == [], "the frame's own mistakes must be found before any request"
        return
    event("planned")
    assert not bad, f"planned a frame with bad rows {sorted(bad)}"
    got = set(plan[["incident_id", "key", "value", "action"]].itertuples(index=False, name=None))
    assert got == want
    assert all(is_read(r.method) for r in emu.requests), "planning never writes"
