"""Where the client sends requests, and what it refuses before sending anything."""

from __future__ import annotations

import pytest

import incident_analytics as ia
from incident_analytics.config import RetryPolicy, Secret, resolve_base_url, resolve_token, unversioned_base

IRM = "/api/plugins/grafana-irm-app/resources/api/v1/"


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("https://mystack.grafana.net", "https://mystack.grafana.net" + IRM),
        ("https://mystack.grafana.net/", "https://mystack.grafana.net" + IRM),
        ("  https://mystack.grafana.net  ", "https://mystack.grafana.net" + IRM),
        ("https://mystack.grafana.net" + IRM, "https://mystack.grafana.net" + IRM),
        ("https://mystack.grafana.net" + IRM.rstrip("/"), "https://mystack.grafana.net" + IRM),
        # The unversioned prefix is completed to v1.
        ("https://mystack.grafana.net/api/plugins/grafana-irm-app/resources/api", "https://mystack.grafana.net" + IRM),
        # A full base keeps its own (legacy) plugin id.
        (
            "https://old.example.com/api/plugins/grafana-incident-app/resources/api/v1",
            "https://old.example.com/api/plugins/grafana-incident-app/resources/api/v1/",
        ),
        # Grafana served under a sub-path.
        ("https://example.com/grafana", "https://example.com/grafana" + IRM),
        ("https://example.com:3443/grafana/", "https://example.com:3443/grafana" + IRM),
        # Loopback may use plain http (the emulator).
        ("http://127.0.0.1:8080", "http://127.0.0.1:8080" + IRM),
        ("http://localhost:3000", "http://localhost:3000" + IRM),
        ("http://[::1]:3000", "http://[::1]:3000" + IRM),
    ],
)
def test_stack_and_api_urls_normalise_to_the_v1_base(given: str, expected: str) -> None:
    assert resolve_base_url(given) == expected


def test_plugin_id_is_configurable_for_older_stacks() -> None:
    base = resolve_base_url("https://s.grafana.net", plugin_id="grafana-incident-app")
    assert base == "https://s.grafana.net/api/plugins/grafana-incident-app/resources/api/v1/"
    assert unversioned_base(base) == "https://s.grafana.net/api/plugins/grafana-incident-app/resources/api/"


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("http://mystack.grafana.net", "refusing plain http"),
        ("mystack.grafana.net", "must start with https://"),
        ("ftp://mystack.grafana.net", "must start with https://"),
        ("https://user:pw@mystack.grafana.net", "must not carry credentials"),
        ("https://mystack.grafana.net/?orgId=1", "query string"),
        ("", "non-empty"),
    ],
)
def test_unsafe_or_malformed_urls_are_refused_with_a_reason(url: str, words: str) -> None:
    with pytest.raises(ia.ConfigurationError, match=words):
        resolve_base_url(url)


def test_plain_http_to_a_remote_host_needs_an_explicit_opt_in() -> None:
    base = resolve_base_url("http://grafana.internal", allow_insecure_http=True)
    assert base == "http://grafana.internal" + IRM


def test_missing_url_and_token_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GRAFANA_URL", "https://env.grafana.net")
    monkeypatch.setenv("GRAFANA_SERVICE_ACCOUNT_TOKEN", "glsa_from_env_0123456789")
    with ia.IncidentClient() as client:
        assert client.base_url == "https://env.grafana.net" + IRM


def test_missing_settings_fail_at_construction_naming_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GRAFANA_URL", raising=False)
    monkeypatch.delenv("GRAFANA_SERVICE_ACCOUNT_TOKEN", raising=False)
    with pytest.raises(ia.ConfigurationError, match="GRAFANA_URL"):
        ia.IncidentClient(token="x")
    with pytest.raises(ia.ConfigurationError, match="GRAFANA_SERVICE_ACCOUNT_TOKEN"):
        ia.IncidentClient("https://s.grafana.net")
    # ConfigurationError is also a ValueError, for callers that catch the standard type.
    with pytest.raises(ValueError):
        ia.IncidentClient("https://s.grafana.net", token="   ")


def test_a_token_with_a_pasted_newline_is_refused() -> None:
    with pytest.raises(ia.ConfigurationError, match="whitespace"):
        resolve_token("glsa_abc\ndef")


def test_secret_never_shows_itself() -> None:
    secret = Secret("glsa_topsecret_123")
    assert "topsecret" not in repr(secret)
    assert "topsecret" not in str(secret)
    assert "topsecret" not in f"{secret!r} {[secret]}"
    assert secret.reveal() == "glsa_topsecret_123"


def test_retry_policy_rejects_negative_settings() -> None:
    with pytest.raises(ValueError, match="max_retries"):
        RetryPolicy(max_retries=-1)
    with pytest.raises(ValueError, match="backoff_base"):
        RetryPolicy(backoff_base=-0.1)
