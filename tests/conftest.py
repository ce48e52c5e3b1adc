"""Shared fixtures: the vcrpy cassette set-up and a live emulator on loopback.

Cassettes live in ``cassettes/<test module>/<test>.yaml`` and are matched on method, path and the
JSON body (the page cursor lives in the body). CI replays them with recording off. To re-record:
``scripts/record-cassettes`` (against the emulator, or a real stack when ``GRAFANA_URL`` and
``GRAFANA_SERVICE_ACCOUNT_TOKEN`` are set).

Recording is deterministic against the emulator: it runs with a fixed clock and seeded IDs, and
the ``Date`` header is not stored, so recording twice gives byte-identical cassettes. Against a
real stack, names, e-mails, avatars, titles and note bodies are anonymised before anything is
written (:mod:`tests.anonymise`). ``CASSETTE_DIR`` records into another folder (the determinism
test uses it).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from vcr.persisters.filesystem import FilesystemPersister

import incident_analytics as ia
from incident_analytics.emulator import Emulator
from tests.anonymise import Anonymiser

REPO = Path(__file__).resolve().parents[1]
CASSETTES = REPO / "cassettes"
RECORDED_CASSETTES = Path(os.environ.get("CASSETTE_DIR") or CASSETTES)
# Never contacted while replaying: the cassette answers first. Loopback so plain http is allowed.
REPLAY_URL = "http://127.0.0.1:9"
REPLAY_TOKEN = "replay-placeholder-token"
PLACEHOLDER_ORIGIN = "https://grafana.invalid"
_ORIGIN = re.compile(r"^https?://[^/]+")


@dataclass
class Target:
    """Where cassette tests send requests: the real thing while recording, nothing while replaying."""

    url: str
    token: str
    emulator: Emulator | None
    recording: bool

    @property
    def real_stack(self) -> bool:
        """True when recording against a real Grafana stack (seeded-data assertions do not hold)."""
        return self.recording and self.emulator is None


def json_body_matcher(r1: Any, r2: Any) -> None:
    """vcrpy matcher: the bodies as parsed JSON (key order and spacing ignored), else as bytes."""

    def parsed(request: Any) -> Any:
        body = request.body or b""
        try:
            return json.loads(body)
        except ValueError:
            return body

    if parsed(r1) != parsed(r2):
        raise AssertionError(f"bodies differ: {parsed(r1)!r} != {parsed(r2)!r}")


class SortedPersister(FilesystemPersister):
    """Writes interactions sorted by request (method, URL, body), so that calls made concurrently
    (``ia.fetch``'s pool) are stored in the same order on every recording. Replay matches on the
    request, not the position; identical requests keep their recorded order (the sort is stable)."""

    @staticmethod
    def save_cassette(cassette_path: Any, cassette_dict: dict[str, Any], serializer: Any) -> None:
        pairs = sorted(
            zip(cassette_dict["requests"], cassette_dict["responses"], strict=True),
            key=lambda pair: (pair[0].method, pair[0].uri, pair[0].body or b""),
        )
        ordered = {"requests": [p[0] for p in pairs], "responses": [p[1] for p in pairs]}
        FilesystemPersister.save_cassette(cassette_path, ordered, serializer)


def pytest_recording_configure(config: pytest.Config, vcr: Any) -> None:
    vcr.register_matcher("json_body", json_body_matcher)
    vcr.register_persister(SortedPersister)


@pytest.fixture(scope="session")
def api_target(request: pytest.FixtureRequest) -> Iterator[Target]:
    mode = request.config.getoption("--record-mode")
    if mode in (None, "none"):
        yield Target(REPLAY_URL, REPLAY_TOKEN, None, recording=False)
        return
    url, token = os.environ.get("GRAFANA_URL"), os.environ.get("GRAFANA_SERVICE_ACCOUNT_TOKEN")
    if url and token:
        yield Target(url, token, None, recording=True)
        return
    # A fixed clock and a fixed token: the recorded answers are the same on every run.
    with Emulator(seed=0, incidents=120, fixed_clock=True, token="glsa_recording_placeholder_0") as emulator:
        yield Target(emulator.url, emulator.token, emulator, recording=True)


def _scrubber(secret: str) -> Callable[[str], str]:
    def scrub(text: str) -> str:
        return text.replace(secret, "***") if secret else text

    return scrub


@pytest.fixture(scope="session")
def vcr_config(api_target: Target) -> dict[str, Any]:
    scrub = _scrubber(api_target.token)
    anonymise = Anonymiser.from_environment().response_hook() if api_target.real_stack else None

    def before_record_request(request: Any) -> Any:
        # Port- and stack-independent cassettes (vcrpy applies this before matching too).
        request.uri = _ORIGIN.sub(PLACEHOLDER_ORIGIN, request.uri)
        return request

    def before_record_response(response: dict[str, Any]) -> dict[str, Any]:
        body = response.get("body", {}).get("string")
        if isinstance(body, bytes):
            response["body"]["string"] = scrub(body.decode("utf-8", "replace")).encode()
        elif isinstance(body, str):
            response["body"]["string"] = scrub(body)
        if anonymise is not None:
            response = anonymise(response)
        headers = response.get("headers", {})
        # The date differs on every run; cookies and the org ID are the stack's own.
        for name in list(headers):
            if name.lower() in ("set-cookie", "x-grafana-org-id", "date"):
                del headers[name]
            elif name.lower() == "content-length" and isinstance(response["body"].get("string"), bytes):
                headers[name] = [str(len(response["body"]["string"]))]
        return response

    return {
        "match_on": ["method", "path", "json_body"],
        "filter_headers": ["authorization", "host", "cookie", "user-agent"],
        # Without this the body is stored gzip-compressed and scrubbing would silently miss it.
        "decode_compressed_response": True,
        "before_record_request": before_record_request,
        "before_record_response": before_record_response,
    }


@pytest.fixture
def vcr_cassette_dir(request: pytest.FixtureRequest) -> str:
    return str(RECORDED_CASSETTES / request.module.__name__.rsplit(".", 1)[-1])


@pytest.fixture(scope="module")
def emulator() -> Iterator[Emulator]:
    """A seeded emulator on loopback (fresh per test module)."""
    with Emulator(seed=0, incidents=120) as emu:
        yield emu


@dataclass(frozen=True)
class DemoScenario:
    """The ``demo`` scenario fetched in full, and the emulator's list of the incidents carrying each
    planted effect (``state.planted``). Read-only: every test that uses it shares one copy."""

    data: ia.IncidentData
    planted: dict[str, list[str]]


@pytest.fixture(scope="session")
def demo_scenario() -> DemoScenario:
    """``ia.fetch`` of ``Emulator(scenario="demo")`` (about 10 s), once per test run."""
    with Emulator(scenario="demo") as emu, ia.IncidentClient(emu.url, emu.token) as client:
        data = ia.fetch(client, progress=False)
        return DemoScenario(data, {kind: list(ids) for kind, ids in emu.state.planted.items()})
