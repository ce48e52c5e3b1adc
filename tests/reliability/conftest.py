"""Shared pieces of the reliability suite: a clean reference fetch and frame comparison."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from types import FrameType

import pandas as pd
import pytest

import incident_analytics as ia

CASE_SECONDS = 30  # each case is bounded: past this it fails instead of hanging the suite


class CaseTimeout(Exception):
    """A reliability case ran past CASE_SECONDS."""


@pytest.fixture(autouse=True)
def bounded_in_time() -> Iterator[None]:
    def expire(signum: int, frame: FrameType | None) -> None:
        raise CaseTimeout(f"the case ran past {CASE_SECONDS} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(CASE_SECONDS)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


SEED, INCIDENTS = 21, 40
FRAMES = ("incidents", "tasks", "labels", "assignments", "activity")


def assert_same_frames(got: ia.IncidentData, want: ia.IncidentData) -> None:
    """Every frame equal, values and dtypes, in a canonical row order."""
    for name in FRAMES:
        a, b = getattr(got, name), getattr(want, name)
        if name == "incidents":
            # An open incident's duration runs to the fetch time, which differs between two fetches.
            open_ = a["closed_time"].isna()
            assert open_.equals(b["closed_time"].isna())
            a, b = a.copy(), b.copy()
            a.loc[open_, "duration_seconds"] = b.loc[open_, "duration_seconds"]
        pd.testing.assert_frame_equal(a.reset_index(drop=True), b.reset_index(drop=True), obj=name)
    assert got.errors.empty, got.errors
