"""Recording cassettes: deterministic against the emulator, anonymised against a real stack."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.anonymise import KEY_ENV, Anonymiser
from tests.conftest import REPO

# What a real stack answers, trimmed: a preview, an incident, a timeline item, a user, a key update.
RECORDED_LIKE: dict[str, Any] = {
    "incidentPreviews": [
        {
            "incidentID": "42",
            "severityLabel": "Major",
            "title": "Payments down for ACME Corp",
            "description": "Jane noticed it first",
            "summary": "Root cause: Jane's deploy",
            "slug": "payments-down-for-acme-corp",
            "createdByUser": {
                "userID": "grafana-incident:user-1",
                "name": "Jane Doe",
                "photoURL": "https://secure.gravatar.com/avatar/abc",
            },
            "labels": [{"key": "team", "label": "payments", "description": "", "colorHex": ""}],
        }
    ],
    "incident": {
        "incidentID": "42",
        "title": "Payments down for ACME Corp",
        "overviewURL": "/a/grafana-irm-app/incidents/42/payments-down-for-acme-corp",
        "createdByUser": {
            "userID": "grafana-incident:user-1",
            "name": "Jane Doe",
            "photoURL": "https://secure.gravatar.com/avatar/abc",
        },
        "severity": "Major",
    },
    "activityItems": [
        {
            "activityItemID": "a1",
            "incidentID": "42",
            "user": {
                "userID": "grafana-incident:user-2",
                "name": "John Roe",
                "photoURL": "https://secure.gravatar.com/avatar/def",
            },
            "activityKind": "incidentTitleChanged",
            "body": "Called ACME's CTO at +1 555 0100",
            "fieldValues": {"previousTitle": "Payments down", "title": "Payments down for ACME Corp"},
        }
    ],
    "user": {
        "userID": "grafana-incident:user-1",
        "name": "Jane Doe",
        "email": "jane.doe@acme.example",
        "photoURL": "https://secure.gravatar.com/avatar/abc",
        "grafanaLogin": "jdoe",
    },
    "keyUpdate": {
        "id": "k1",
        "title": "ACME informed",
        "content": "Jane phoned ACME",
        "contentType": "text/plain",
        "lastModifiedBy": {"userID": "grafana-incident:user-1", "name": "Jane Doe", "photoURL": ""},
    },
    "roles": [{"roleID": 9576, "name": "commander"}],
    "cursor": {"nextValue": "", "hasMore": False},
}
SECRETS = ("Jane", "John", "ACME", "acme", "jdoe", "gravatar", "555 0100", "payments-down")


def _anonymised(key: bytes) -> dict[str, Any]:
    hook = Anonymiser(key).response_hook()
    response = {"body": {"string": json.dumps(RECORDED_LIKE).encode()}, "headers": {}}
    out: dict[str, Any] = json.loads(hook(response)["body"]["string"])
    return out


def test_the_anonymiser_replaces_names_emails_avatars_titles_and_notes() -> None:
    out = _anonymised(b"k")
    text = json.dumps(out)
    for secret in SECRETS:
        assert secret not in text, secret
    user = out["user"]
    assert user["email"].endswith("@example.invalid") and user["photoURL"].startswith("https://avatar.invalid/")
    # Same input, same placeholder: a person and an incident stay recognisable across responses.
    assert (
        user["name"] == out["incident"]["createdByUser"]["name"] == out["incidentPreviews"][0]["createdByUser"]["name"]
    )
    assert out["incident"]["title"] == out["incidentPreviews"][0]["title"]
    assert out["activityItems"][0]["fieldValues"]["title"] == out["incident"]["title"]
    assert out["incident"]["overviewURL"].endswith("/" + out["incidentPreviews"][0]["slug"])
    # What analysis needs is kept: IDs, severities, label values, role names, cursors.
    assert out["incident"]["incidentID"] == "42" and out["incident"]["severity"] == "Major"
    assert out["incidentPreviews"][0]["labels"] == RECORDED_LIKE["incidentPreviews"][0]["labels"]
    assert out["roles"] == RECORDED_LIKE["roles"] and out["cursor"] == RECORDED_LIKE["cursor"]
    assert out["user"]["userID"] == "grafana-incident:user-1"


def test_placeholders_depend_on_the_key() -> None:
    """Stable for one key (re-recording with the same key gives the same cassettes); unguessable without it."""
    assert _anonymised(b"k") == _anonymised(b"k")
    assert _anonymised(b"k")["user"]["name"] != _anonymised(b"other")["user"]["name"]


def test_the_key_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(KEY_ENV, "team-secret")
    first = Anonymiser.from_environment().placeholder("Person", "Jane Doe")
    assert first == Anonymiser(b"team-secret").placeholder("Person", "Jane Doe")
    monkeypatch.delenv(KEY_ENV)
    assert Anonymiser.from_environment().placeholder("Person", "Jane Doe") != first  # random per session


def test_a_body_that_is_not_json_is_left_alone() -> None:
    hook = Anonymiser(b"k").response_hook()
    assert hook({"body": {"string": b"404 page not found\n"}})["body"]["string"] == b"404 page not found\n"


@pytest.mark.slow
def test_recording_twice_gives_byte_identical_cassettes(tmp_path: Path) -> None:
    """scripts/record-cassettes against the emulator (fixed clock, seeded IDs, no Date header, sorted
    interactions): two recordings of the concurrent fetch and async tests are byte for byte the same."""
    runs = []
    for name in ("first", "second"):
        target = tmp_path / name
        env = {**os.environ, "CASSETTE_DIR": str(target), "PYTHONPATH": str(REPO)}
        env.pop("GRAFANA_URL", None)
        env.pop("GRAFANA_SERVICE_ACCOUNT_TOKEN", None)
        subprocess.run(
            [
                str(REPO / "scripts" / "record-cassettes"),
                "-q",
                "tests/test_cassettes.py",
                "-k",
                "fetch or async or activity",
            ],
            cwd=REPO,
            env={**env, "PATH": f"{Path(sys.executable).parent}:{env.get('PATH', '')}"},
            check=True,
            capture_output=True,
            timeout=600,
        )
        runs.append({p.relative_to(target): p.read_bytes() for p in sorted(target.rglob("*.yaml"))})
    assert len(runs[0]) == 3
    assert runs[0] == runs[1]
