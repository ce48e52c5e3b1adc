"""HTTP-level behaviour: auth, routing, prefixes, plugin ids, gzip, malformed bodies (docs/api.md#request-shape)."""

from __future__ import annotations

import gzip
import json
import threading
import time

import httpx
import pytest

from incident_analytics.emulator import IMPLEMENTED_METHODS, Emulator

from .helpers import call, ok

V1 = "/api/plugins/grafana-irm-app/resources/api/v1/"
UNVERSIONED = "/api/plugins/grafana-irm-app/resources/api/"


def test_urls_and_token_shape(seeded: Emulator) -> None:
    """The stack URL is loopback, the API URL ends with the /v1/ slash, the token looks like glsa_."""
    assert seeded.url.startswith("http://127.0.0.1:")
    assert seeded.api_url == seeded.url + V1
    assert seeded.token.startswith("glsa_") and len(seeded.token) > 20
    assert seeded.plugin_ids == ("grafana-irm-app", "grafana-incident-app")


def test_tokens_differ_per_instance_unless_given() -> None:
    """Each instance gets its own random token; token= pins it."""
    assert Emulator(incidents=1).token != Emulator(incidents=1).token
    assert Emulator(incidents=1, token="glsa_fixed").token == "glsa_fixed"


def test_missing_token_is_grafana_401(seeded: Emulator) -> None:
    """No Authorization header: Grafana core's 401 body with ``message``, not ``error``."""
    response = httpx.post(seeded.api_url + "IncidentsService.GetIncident", json={"incidentID": "1"})
    assert response.status_code == 401
    assert response.json() == {
        "message": "Unauthorized",
        "messageId": "auth.unauthorized",
        "statusCode": 401,
        "traceID": "",
    }


def test_wrong_token_is_invalid_api_key(seeded: Emulator) -> None:
    """A wrong bearer token: 401 ``api-key.invalid``."""
    response = httpx.post(
        seeded.api_url + "IncidentsService.GetIncident",
        json={"incidentID": "1"},
        headers={"Authorization": "Bearer glsa_wrong"},
    )
    assert response.status_code == 401
    assert response.json() == {
        "message": "Invalid API key",
        "messageId": "api-key.invalid",
        "statusCode": 401,
        "traceID": "",
    }


def test_auth_is_checked_before_routing(seeded: Emulator) -> None:
    """Even an unknown path answers 401 without a token (Grafana core runs before the plugin)."""
    response = httpx.post(seeded.url + "/api/plugins/nope/resources/x", json={})
    assert response.status_code == 401


@pytest.mark.parametrize(
    "path",
    [
        V1 + "IncidentsService.NoSuchMethod",
        V1 + "NoSuchService.GetIncident",
        "/api/plugins/grafana-irm-app/resources/api/v2/IncidentsService.GetIncident",
        "/api/plugins/other-app/resources/api/v1/IncidentsService.GetIncident",
        "/api/plugins/grafana-irm-app/resources/v1/IncidentsService.GetIncident",
        V1 + "IncidentsService",
        V1,
    ],
)
def test_unknown_method_or_prefix_is_oto_404(seeded: Emulator, client: httpx.Client, path: str) -> None:
    """Unknown methods and wrong prefixes: 404 ``text/plain`` ``404 page not found``."""
    response = client.post(seeded.url + path, json={})
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/plain")
    assert response.text.strip() == "404 page not found"


@pytest.mark.parametrize("verb", ["GET", "PUT", "DELETE", "PATCH"])
def test_non_post_is_404(client: httpx.Client, verb: str) -> None:
    """Every RPC is POST; other verbs on a valid method path get oto's 404."""
    response = client.request(verb, "IncidentsService.GetIncident")
    assert response.status_code == 404
    assert response.text.strip() == "404 page not found"


def test_get_org_severities_only_on_unversioned_prefix(seeded: Emulator, client: httpx.Client) -> None:
    """GetOrgSeverities 404s under /v1 and answers on the unversioned path (docs/api.md#unversioned-methods)."""
    assert call(client, "SeveritiesService.GetOrgSeverities").status_code == 404
    response = client.post(seeded.url + UNVERSIONED + "SeveritiesService.GetOrgSeverities", json={})
    assert response.status_code == 200
    severities = response.json()["severities"]
    assert [s["displayLabel"] for s in severities] == ["Pending", "Critical", "Major", "Minor"]
    assert all(set(s) == {"severityID", "displayLabel", "level", "color"} for s in severities)


def test_other_methods_answer_on_both_prefixes(seeded: Emulator, client: httpx.Client) -> None:
    """Every other implemented method also answers on the unversioned prefix."""
    v1 = ok(client, "IncidentsService.GetIncident", {"incidentID": "3"})
    response = client.post(seeded.url + UNVERSIONED + "IncidentsService.GetIncident", json={"incidentID": "3"})
    assert response.status_code == 200
    assert response.json() == v1
    assert "SeveritiesService.GetOrgSeverities" in IMPLEMENTED_METHODS


@pytest.mark.parametrize("plugin_id", ["grafana-irm-app", "grafana-incident-app"])
def test_both_plugin_ids(seeded: Emulator, client: httpx.Client, plugin_id: str) -> None:
    """The current and the legacy plugin id serve the same data."""
    url = f"{seeded.url}/api/plugins/{plugin_id}/resources/api/v1/IncidentsService.GetIncident"
    response = client.post(url, json={"incidentID": "1"})
    assert response.status_code == 200
    assert response.json()["incident"]["incidentID"] == "1"


def test_response_is_gzipped_when_accepted(client: httpx.Client) -> None:
    """Accept-Encoding: gzip gives a gzip body (httpx decodes it); identity gives plain JSON."""
    zipped = client.post("RolesService.GetRoles", json={}, headers={"Accept-Encoding": "gzip"})
    assert zipped.headers["content-encoding"] == "gzip"
    assert zipped.headers["content-type"] == "application/json; charset=utf-8"
    assert int(zipped.headers["content-length"]) < len(zipped.content)
    plain = client.post("RolesService.GetRoles", json={}, headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in plain.headers
    assert plain.json() == zipped.json()


def test_gzip_request_body_is_accepted(client: httpx.Client) -> None:
    """A gzip-encoded request body (Content-Encoding: gzip) is decoded."""
    payload = gzip.compress(json.dumps({"incidentID": "2"}).encode())
    response = client.post(
        "IncidentsService.GetIncident",
        content=payload,
        headers={"Content-Encoding": "gzip", "Content-Type": "application/json"},
    )
    assert response.status_code == 200
    assert response.json()["incident"]["incidentID"] == "2"


@pytest.mark.parametrize("payload", [b"{not json", b"[1, 2", b'"just a string"', b"[1, 2]"])
def test_malformed_or_non_object_json_is_400(client: httpx.Client, payload: bytes) -> None:
    """A body that is not a JSON object: 400 with an ``error`` string."""
    response = client.post(
        "IncidentsService.GetIncident", content=payload, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400
    assert isinstance(response.json()["error"], str)


def test_wrong_field_type_is_400_naming_the_field(client: httpx.Client) -> None:
    """A value of the wrong JSON type is refused, naming the field."""
    response = call(client, "IncidentsService.QueryIncidentPreviews", {"query": {"limit": "ten"}})
    assert response.status_code == 400
    assert "query.limit" in response.json()["error"]


def test_unknown_fields_are_ignored(client: httpx.Client) -> None:
    """Unknown request fields are ignored silently, even a misplaced cursor (docs/api.md#unknown-fields-are-ignored)."""
    body = {"incidentID": "4", "somethingNew": [1, 2], "query": {"contextPayload": "x"}}
    assert ok(client, "IncidentsService.GetIncident", body)["incident"]["incidentID"] == "4"


def test_charset_and_accept_headers_are_optional(seeded: Emulator) -> None:
    """gcx sends only ``Content-Type: application/json``; that works too."""
    response = httpx.post(
        seeded.api_url + "RolesService.GetRoles",
        content=b"{}",
        headers={"Authorization": f"Bearer {seeded.token}", "Content-Type": "application/json"},
    )
    assert response.status_code == 200


def test_empty_body_counts_as_empty_object(client: httpx.Client) -> None:
    """A POST without a body is treated as ``{}``."""
    response = client.post("RolesService.GetRoles", content=b"")
    assert response.status_code == 200
    assert [r["name"] for r in response.json()["roles"]] == ["commander", "investigator", "observer"]


def test_requests_are_recorded(fresh: Emulator, wclient: httpx.Client) -> None:
    """``emu.requests`` records method, body, status and authorisation of each request."""
    fresh.reset_requests()
    call(wclient, "IncidentsService.GetIncident", {"incidentID": "1"})
    httpx.post(fresh.api_url + "IncidentsService.GetIncident", json={"incidentID": "2"})
    records = fresh.requests
    assert [(r.method, r.status, r.authorized) for r in records] == [
        ("IncidentsService.GetIncident", 200, True),
        ("IncidentsService.GetIncident", 401, False),
    ]
    assert records[0].body == {"incidentID": "1"}
    fresh.reset_requests()
    assert fresh.requests == []


def test_stop_closes_server(fresh: Emulator) -> None:
    """After stop() the port refuses connections; stop() twice is harmless."""
    url = fresh.api_url
    fresh.stop()
    fresh.stop()
    with pytest.raises(httpx.ConnectError):
        httpx.post(url + "RolesService.GetRoles", json={})


def test_stop_with_idle_keep_alive_connection_does_not_hang() -> None:
    """A client holding a keep-alive connection does not block stop()."""
    emu = Emulator(incidents=5).start()
    with httpx.Client(base_url=emu.api_url, headers={"Authorization": f"Bearer {emu.token}"}) as c:
        assert call(c, "RolesService.GetRoles").status_code == 200
        emu.stop()
        with pytest.raises(httpx.TransportError):
            call(c, "RolesService.GetRoles")


def test_serve_forever_blocks_until_stopped() -> None:
    """serve_forever() serves in the calling thread; stop() from another thread ends it."""
    emu = Emulator(incidents=3)
    runner = threading.Thread(target=emu.serve_forever)
    runner.start()
    for _ in range(200):
        if emu.running:
            break
        time.sleep(0.01)
    response = httpx.post(
        emu.api_url + "RolesService.GetRoles", json={}, headers={"Authorization": f"Bearer {emu.token}"}
    )
    assert response.status_code == 200
    emu.stop()
    runner.join(timeout=5)
    assert not runner.is_alive() and not emu.running
