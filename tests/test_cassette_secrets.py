"""No cassette may hold a token, a bearer header or a real host; the scrubbing hooks really scrub."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import CASSETTES, PLACEHOLDER_ORIGIN, Target

CASSETTE_FILES = sorted(CASSETTES.rglob("*.yaml"))
TOKEN_LIKE = re.compile(r"glsa_[A-Za-z0-9_]{8,}|Bearer\s+\S{8,}", re.IGNORECASE)


def test_there_are_cassettes_to_check() -> None:
    assert len(CASSETTE_FILES) >= 5


@pytest.mark.parametrize("path", CASSETTE_FILES, ids=lambda p: str(p.relative_to(CASSETTES)))
def test_no_cassette_holds_a_token_or_a_real_host(path: Path) -> None:
    text = path.read_text()
    assert not TOKEN_LIKE.search(text), f"{path} holds something token-like"
    data = yaml.safe_load(text)
    for interaction in data["interactions"]:
        request = interaction["request"]
        headers = {k.lower() for k in request.get("headers", {})}
        assert "authorization" not in headers
        assert "host" not in headers and "cookie" not in headers
        assert request["uri"].startswith(PLACEHOLDER_ORIGIN + "/api/plugins/"), request["uri"]
        assert "set-cookie" not in {k.lower() for k in interaction["response"].get("headers", {})}
        # Stored decoded, so a scrub could see inside the body.
        assert "content-encoding" not in {k.lower() for k in interaction["response"].get("headers", {})}


def test_the_recording_hooks_scrub_an_echoed_token(vcr_config: dict[str, Any], api_target: Target) -> None:
    secret = api_target.token
    response = {"body": {"string": f'{{"error": "bad token {secret}"}}'.encode()}, "headers": {"Set-Cookie": ["x"]}}
    cleaned = vcr_config["before_record_response"](response)
    assert secret.encode() not in cleaned["body"]["string"]
    assert b"***" in cleaned["body"]["string"]
    assert "Set-Cookie" not in cleaned["headers"]
    assert "authorization" in vcr_config["filter_headers"]
    assert vcr_config["decode_compressed_response"] is True
