"""Fixtures: real emulators on loopback and httpx clients authorised against them."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from incident_analytics.emulator import Emulator


@pytest.fixture(scope="session")
def seeded() -> Iterator[Emulator]:
    """A shared read-only emulator (300 incidents, seed 0). Tests must not write to it."""
    with Emulator(seed=0, incidents=300) as emu:
        yield emu


@pytest.fixture(scope="session")
def client(seeded: Emulator) -> Iterator[httpx.Client]:
    """An authorised client for :func:`seeded`, based at its ``/v1/`` API URL."""
    with httpx.Client(base_url=seeded.api_url, headers={"Authorization": f"Bearer {seeded.token}"}) as c:
        yield c


@pytest.fixture
def fresh() -> Iterator[Emulator]:
    """A private emulator for tests that write (60 incidents, seed 1)."""
    with Emulator(seed=1, incidents=60) as emu:
        yield emu


@pytest.fixture
def wclient(fresh: Emulator) -> Iterator[httpx.Client]:
    """An authorised client for :func:`fresh`."""
    with httpx.Client(base_url=fresh.api_url, headers={"Authorization": f"Bearer {fresh.token}"}) as c:
        yield c
