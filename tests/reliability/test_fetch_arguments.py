"""A property over fetch's arguments: whatever a user passes, either a clear TypeError/ValueError
before any request reaches the server, or exactly the incidents the arguments select.
Hand-picked bad arguments are in tests/test_fetch.py (test_bad_arguments_fail_before_any_request,
test_ambiguous_or_bad_arguments_fail_before_any_request); the same property over plan inputs is in
test_plan_inputs.py, over frame inputs in test_frame_inputs.py."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pandas as pd
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

import incident_analytics as ia
from incident_analytics.emulator import Emulator

PARTS = ("tasks", "labels", "assignments", "activity")


@pytest.fixture(scope="module")
def world() -> Iterator[tuple[Emulator, ia.IncidentClient, pd.DataFrame]]:
    with Emulator(seed=5, incidents=30) as emu, ia.IncidentClient(emu.url, emu.token, max_retries=0) as client:
        every = ia.fetch(client, include=(), include_drills=True, progress=False).incidents
        yield emu, client, every


def times(every: pd.DataFrame) -> st.SearchStrategy[Any]:
    created = every["created_time"].dropna().sort_values()
    stamps = [created.quantile(q).floor("s") for q in (0.0, 0.25, 0.5, 0.75)] + [created.max() + pd.Timedelta("1s")]
    good = st.sampled_from(stamps).flatmap(
        lambda t: st.sampled_from([t, t.isoformat(), t.to_pydatetime(), t.isoformat().replace("+00:00", "Z")])
    )
    bad = st.one_of(
        st.integers(), st.floats(allow_nan=True), st.sampled_from(["01/02/2026", "yesterday", "", "2026-13-01"]),
        st.just(dt.time(1, 2)), st.lists(st.integers(), max_size=2),
    )
    # Valid values most of the time, so most examples get as far as a real fetch.
    return st.one_of(st.none(), good, good, st.none(), good, st.just(dt.date(2020, 1, 1)), bad)


def expected(every: pd.DataFrame, since: Any, until: Any, drills: bool, max_items: int | None) -> list[str]:
    keep = every if drills else every[~every["is_drill"].fillna(False)]
    created = keep["created_time"]
    if since is not None:
        keep = keep[created >= pd.Timestamp(since).tz_localize("UTC") if pd.Timestamp(since).tz is None
                    else created >= pd.Timestamp(since)]
        created = keep["created_time"]
    if until is not None:
        keep = keep[created < pd.Timestamp(until).tz_localize("UTC") if pd.Timestamp(until).tz is None
                    else created < pd.Timestamp(until)]
    if max_items is not None:
        keep = keep.sort_values("created_time", ascending=False).head(max_items)
    return sorted(keep["incident_id"])


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_any_arguments_give_a_clear_error_before_any_request_or_the_selected_incidents(
    world: tuple[Emulator, ia.IncidentClient, pd.DataFrame], data: st.DataObject
) -> None:
    emu, client, every = world
    include = st.one_of(*[st.lists(st.sampled_from(PARTS), max_size=2, unique=True)] * 6,
                        st.just(["tasks", "comments"]), st.just("tasks"), st.just(None))
    drills = st.one_of(*[st.booleans()] * 6, st.sampled_from([0, "yes", None]))
    concurrency = st.one_of(*[st.integers(1, 16)] * 6, st.integers(-2, 70), st.booleans(), st.just("8"))
    max_items = st.one_of(*[st.none(), st.integers(0, 40)] * 3, st.integers(-2, 40), st.just(2.5))
    kwargs: dict[str, Any] = {
        "since": data.draw(times(every), "since"),
        "until": data.draw(times(every), "until"),
        "include": data.draw(include, "include"),
        "include_drills": data.draw(drills, "include_drills"),
        "concurrency": data.draw(concurrency, "concurrency"),
        "max_items": data.draw(max_items, "max_items"),
    }
    emu.reset_requests()
    try:
        got = ia.fetch(client, progress=False, **kwargs)
    except (TypeError, ValueError) as exc:
        assert emu.requests == [], f"{exc} came after a request"
        assert str(exc), "the error must say what is wrong"
        named = [name for name in kwargs if name in str(exc) or name.replace("_", " ") in str(exc)]
        assert named or "include" in str(exc) or "time" in str(exc).lower(), str(exc)
        event(f"refused: {type(exc).__name__}")
        return
    event("fetched")
    want = expected(every, kwargs["since"], kwargs["until"], kwargs["include_drills"], kwargs["max_items"])
    assert sorted(got.incidents["incident_id"]) == want, kwargs
    for part in PARTS:
        if part not in kwargs["include"]:
            assert getattr(got, part).empty, part
