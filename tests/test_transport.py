"""The one request path: headers, gzip, error mapping, retries, redaction and logging."""

from __future__ import annotations

import dataclasses
import logging
import random
import threading
import time
import tracemalloc
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

import incident_analytics as ia
from incident_analytics.config import RetryPolicy
from incident_analytics.emulator import Emulator
from incident_analytics.transport import (
    AttemptEvent,
    RateLimiter,
    excerpt,
    method_kind,
    parse_retry_after,
    retry_decision,
)
from tests.fakes import ScriptedAPI, SleepRecorder, json_reply, text_reply
from tests.loopback import serve, trickling, url_of

TOKEN = "glsa_unit_test_token_0123456789abcdef"
URL = "https://mystack.grafana.net"


def make_client(api: ScriptedAPI, sleep: SleepRecorder | None = None, **kwargs: object) -> ia.IncidentClient:
    return ia.IncidentClient(
        URL, TOKEN, transport=api.transport(), sleep=sleep or SleepRecorder(), rng=random.Random(0), **kwargs
    )


# --- the request on the wire ---------------------------------------------------------------------


def test_every_call_is_a_json_post_with_auth_and_gzip_headers() -> None:
    api = ScriptedAPI(json_reply({"roles": []}))
    with make_client(api) as client:
        client.call("RolesService.GetRoles", {})
    request = api.requests[0]
    assert request.method == "POST"
    assert str(request.url) == f"{URL}/api/plugins/grafana-irm-app/resources/api/v1/RolesService.GetRoles"
    assert request.headers["content-type"] == "application/json; charset=utf-8"
    assert request.headers["accept"] == "application/json; charset=utf-8"
    assert request.headers["accept-encoding"] == "gzip"
    assert request.headers["authorization"] == f"Bearer {TOKEN}"
    assert request.headers["user-agent"].startswith("incident-analytics/")
    assert request.content == b"{}"


def test_get_org_severities_goes_to_the_unversioned_path() -> None:
    api = ScriptedAPI(json_reply({"severities": []}))
    with make_client(api) as client:
        client.call("SeveritiesService.GetOrgSeverities")
    assert api.requests[0].url.path == "/api/plugins/grafana-irm-app/resources/api/SeveritiesService.GetOrgSeverities"


def test_gzip_responses_are_decoded() -> None:
    api = ScriptedAPI(json_reply({"roles": [{"name": "commander"}]}, gzipped=True))
    with make_client(api) as client:
        assert client.call("RolesService.GetRoles") == {"roles": [{"name": "commander"}]}


@pytest.mark.parametrize("method", ["GetRoles", "Roles.Get.X", "", ".GetRoles", "RolesService."])
def test_a_malformed_method_name_is_refused_before_sending(method: str) -> None:
    api = ScriptedAPI()
    with make_client(api) as client, pytest.raises(ValueError, match=r"Service\.Method"):
        client.call(method)
    assert api.requests == []


def test_a_body_that_is_not_json_is_refused_before_sending() -> None:
    api = ScriptedAPI()
    with make_client(api) as client, pytest.raises(TypeError, match="not JSON-serialisable"):
        client.call("RolesService.GetRoles", {"when": object()})
    assert api.requests == []


# --- error mapping --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("reply", "error", "words"),
    [
        # Grafana core's own 401 bodies carry "message", not "error" (docs/api.md#grafana-core-messages).
        (
            json_reply({"message": "Invalid API key", "messageId": "api-key.invalid", "statusCode": 401}, 401),
            ia.AuthenticationError,
            "Invalid API key (api-key.invalid)",
        ),
        (
            json_reply({"message": "Unauthorized", "messageId": "auth.unauthorized"}, 401),
            ia.AuthenticationError,
            "Unauthorized",
        ),
        (json_reply({"error": "forbidden"}, 403), ia.PermissionDeniedError, "forbidden"),
        (text_reply("404 page not found", 404), ia.NotFoundError, "404 page not found"),
        (
            json_reply({"error": "invalid query string: any() is not supported"}, 400),
            ia.BadRequestError,
            "any()",
        ),
        (json_reply({"error": "bad field"}, 422), ia.BadRequestError, "bad field"),
        (json_reply({"error": "boom"}, 500), ia.ServerError, "boom"),
        # RFC 7807 problem details (docs/api.md#rfc-7807-problem-details).
        (
            httpx.Response(
                400,
                json={
                    "type": "about:blank",
                    "title": "Bad Request",
                    "status": 400,
                    "detail": "org not ready",
                    "code": "orgs.not_initialized",
                },
                headers={"content-type": "application/problem+json"},
            ),
            ia.BadRequestError,
            "Bad Request: org not ready [orgs.not_initialized]",
        ),
        # An HTML page from a proxy: status first, with a short excerpt.
        (
            text_reply("<html><body><h1>502 Bad Gateway</h1></body></html>", 502, "text/html"),
            ia.ServerError,
            "HTML",
        ),
        # Errors in band on HTTP 200 (oto convention; gcx checks result.Error after a 200).
        (json_reply({"error": "something went wrong"}), ia.IncidentAPIError, "something went wrong"),
        # A 200 that is not JSON, or not an object.
        (
            text_reply("<html>login</html>", 200, "text/html"),
            ia.ResponseFormatError,
            "expected a JSON object",
        ),
        (json_reply([1, 2, 3]), ia.ResponseFormatError, "got list"),
        (text_reply("", 200), ia.ResponseFormatError, "expected a JSON object"),
    ],
)
def test_failures_map_to_one_error_each_naming_the_method(
    reply: httpx.Response, error: type[Exception], words: str
) -> None:
    api = ScriptedAPI(reply)
    with make_client(api, max_retries=0) as client, pytest.raises(error) as caught:
        client.call("IncidentsService.QueryIncidentPreviews", {"query": {}})
    assert isinstance(caught.value, ia.IncidentAPIError)
    assert caught.value.method == "IncidentsService.QueryIncidentPreviews"
    assert str(caught.value).startswith("IncidentsService.QueryIncidentPreviews: ")
    assert words in str(caught.value)


def test_status_error_keeps_status_and_decoded_body() -> None:
    api = ScriptedAPI(json_reply({"error": "incident 99 not found"}, 404))
    with make_client(api) as client, pytest.raises(ia.NotFoundError) as caught:
        client.call("IncidentsService.UpdateStatus", {"incidentID": "99", "status": "resolved"})
    assert caught.value.status_code == 404
    assert caught.value.body == {"error": "incident 99 not found"}


def test_a_long_html_body_is_cut_to_a_short_excerpt() -> None:
    api = ScriptedAPI(text_reply("<html>" + "x" * 5000 + "</html>", 200, "text/html"))
    with make_client(api) as client, pytest.raises(ia.ResponseFormatError) as caught:
        client.call("RolesService.GetRoles")
    assert len(str(caught.value)) < 400


def test_the_token_never_appears_in_errors_even_when_the_server_echoes_it() -> None:
    echo = {
        "error": f"bad header Authorization: Bearer {TOKEN}",
        "headers": {"Authorization": f"Bearer {TOKEN}"},
    }
    api = ScriptedAPI(json_reply(echo, 400), text_reply(f"<html>token {TOKEN}</html>", 502, "text/html"))
    with make_client(api, max_retries=0) as client:
        for _ in range(2):
            with pytest.raises(ia.IncidentAPIError) as caught:
                client.call("RolesService.GetRoles")
            rendered = f"{caught.value} {caught.value!r} {caught.value.body} {caught.value.message}"
            assert TOKEN not in rendered
            assert "***" in rendered


# --- retries --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "kind"),
    [
        ("IncidentsService.GetIncident", "read"),
        ("IncidentsService.QueryIncidentPreviews", "read"),
        ("ActivityService.QueryActivity", "read"),
        ("SeveritiesService.GetOrgSeverities", "read"),
        ("IncidentsService.UpdateStatus", "idempotent"),
        ("IncidentsService.UpdateSeverity", "idempotent"),
        ("IncidentsService.UpdateTitle", "idempotent"),
        ("IncidentsService.UpdateIncidentIsDrill", "idempotent"),
        ("IncidentsService.AssignLabel", "idempotent"),
        ("IncidentsService.UnassignLabel", "idempotent"),
        ("IncidentsService.RemoveLabel", "idempotent"),
        ("TasksService.UpdateTaskStatus", "idempotent"),
        ("IncidentsService.CreateIncident", "unsafe"),
        ("TasksService.AddTask", "unsafe"),
        ("ActivityService.AddActivity", "unsafe"),
        ("IncidentsService.AddLabel", "unsafe"),
        ("TasksService.DeleteTask", "unsafe"),
        ("SomeService.Unknown", "unsafe"),
    ],
)
def test_methods_are_classified_for_retrying(method: str, kind: str) -> None:
    assert method_kind(method) == kind


CONNECT = httpx.ConnectError("connection refused")
READ_TIMEOUT = httpx.ReadTimeout("read timed out")
RESET = httpx.RemoteProtocolError("Server disconnected without sending a response.")


@pytest.mark.parametrize(
    ("method", "status", "exc", "retry"),
    [
        # Reads retry on 429, 502, 503, 504 and network errors; not on 500 or 4xx.
        ("IncidentsService.GetIncident", 429, None, True),
        ("IncidentsService.GetIncident", 502, None, True),
        ("IncidentsService.GetIncident", 503, None, True),
        ("IncidentsService.GetIncident", 504, None, True),
        ("IncidentsService.GetIncident", 500, None, False),
        ("IncidentsService.GetIncident", 400, None, False),
        ("IncidentsService.GetIncident", 401, None, False),
        ("IncidentsService.GetIncident", 404, None, False),
        ("IncidentsService.GetIncident", None, CONNECT, True),
        ("IncidentsService.GetIncident", None, READ_TIMEOUT, True),
        ("IncidentsService.GetIncident", None, RESET, True),
        # Idempotent writes behave like reads.
        ("IncidentsService.UpdateStatus", 503, None, True),
        ("IncidentsService.UpdateStatus", None, READ_TIMEOUT, True),
        # Creates: only when the request certainly never reached the server.
        ("IncidentsService.CreateIncident", 429, None, True),
        ("IncidentsService.CreateIncident", 503, None, False),
        ("IncidentsService.CreateIncident", 502, None, False),
        ("IncidentsService.CreateIncident", None, CONNECT, True),
        ("IncidentsService.CreateIncident", None, httpx.ConnectTimeout("t"), True),
        ("IncidentsService.CreateIncident", None, httpx.PoolTimeout("t"), True),
        ("IncidentsService.CreateIncident", None, READ_TIMEOUT, False),
        ("IncidentsService.CreateIncident", None, RESET, False),
        ("TasksService.AddTask", None, httpx.WriteTimeout("t"), False),
        ("ActivityService.AddActivity", 504, None, False),
    ],
)
def test_retry_decisions(method: str, status: int | None, exc: Exception | None, retry: bool) -> None:
    decision = retry_decision(method, 0, 0.0, RetryPolicy(), random.Random(1), status=status, exc=exc)
    assert decision.retry is retry, decision.reason


def test_backoff_is_full_jitter_under_a_doubling_capped_ceiling() -> None:
    policy = RetryPolicy(max_retries=10, backoff_base=0.5, backoff_max=4.0, total_timeout=1e9)
    rng = random.Random(7)
    for attempt, ceiling in [(0, 0.5), (1, 1.0), (2, 2.0), (3, 4.0), (6, 4.0)]:
        delays = [retry_decision("X.GetY", attempt, 0.0, policy, rng, status=503).delay for _ in range(300)]
        assert min(delays) >= 0.0 and max(delays) <= ceiling
        assert max(delays) > 0.8 * ceiling  # spread over the whole range, not a fixed wait
        assert min(delays) < 0.2 * ceiling


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("7", 7.0),
        ("0", 0.0),
        ("1.5", 1.5),
        ("-3", 0.0),
        ("Wed, 21 Oct 2015 07:28:00 GMT", 10.0),
        ("Wed, 21 Oct 2015 07:27:00 GMT", 0.0),  # a date in the past: go now
        ("soon", None),
        ("", None),
        (None, None),
    ],
)
def test_retry_after_as_seconds_or_http_date(header: str | None, expected: float | None) -> None:
    assert parse_retry_after(header, now=1445412470.0) == expected


def test_retry_after_is_honoured_and_capped() -> None:
    policy = RetryPolicy(max_retry_after=30.0)
    rng = random.Random(0)
    assert retry_decision("X.GetY", 0, 0.0, policy, rng, status=429, retry_after="12").delay == 12.0
    assert retry_decision("X.GetY", 0, 0.0, policy, rng, status=429, retry_after="3600").delay == 30.0


def test_attempts_and_total_time_are_bounded() -> None:
    policy = RetryPolicy(max_retries=2, total_timeout=10.0)
    rng = random.Random(0)
    assert retry_decision("X.GetY", 1, 0.0, policy, rng, status=503).retry
    assert not retry_decision("X.GetY", 2, 0.0, policy, rng, status=503).retry
    # A wait that would cross the total budget is not started.
    assert not retry_decision("X.GetY", 0, 8.0, policy, rng, status=429, retry_after="5").retry


def test_a_read_is_retried_through_429_and_503_then_succeeds_without_real_sleeping() -> None:
    sleep = SleepRecorder()
    api = ScriptedAPI(
        json_reply({"error": "rate limited"}, 429, {"retry-after": "2"}),
        json_reply({"error": "unavailable"}, 503),
        CONNECT,
        json_reply({"roles": []}),
    )
    with make_client(api, sleep) as client:
        assert client.call("RolesService.GetRoles") == {"roles": []}
    assert len(api.requests) == 4
    assert sleep.delays[0] == 2.0  # Retry-After honoured
    assert len(sleep.delays) == 3


def test_a_read_gives_up_after_max_retries_with_the_last_error() -> None:
    sleep = SleepRecorder()
    api = ScriptedAPI(default=json_reply({"error": "rate limited"}, 429, {"retry-after": "1"}))
    with make_client(api, sleep, max_retries=3) as client, pytest.raises(ia.RateLimitError) as caught:
        client.call("IncidentsService.GetIncident", {"incidentID": "1"})
    assert len(api.requests) == 4
    assert caught.value.retry_after == 1.0
    assert sleep.delays == [1.0, 1.0, 1.0]


def test_a_create_that_timed_out_after_sending_is_not_retried() -> None:
    api = ScriptedAPI(READ_TIMEOUT)
    with (
        make_client(api) as client,
        pytest.raises(ia.OutcomeUnknownError, match="may have reached the server"),
    ):
        client.incidents.create("Database down")
    assert len(api.requests) == 1


def test_a_create_that_never_connected_is_retried() -> None:
    incident = {"incidentID": "7", "title": "Database down"}
    api = ScriptedAPI(CONNECT, json_reply({"incident": incident}))
    with make_client(api) as client:
        assert client.incidents.create("Database down")["incidentID"] == "7"
    assert len(api.requests) == 2


def test_a_create_answered_503_is_not_retried() -> None:
    api = ScriptedAPI(json_reply({"error": "unavailable"}, 503))
    with make_client(api) as client, pytest.raises(ia.ServerError):
        client.tasks.add("7", "Roll back")
    assert len(api.requests) == 1


def test_network_errors_after_retries_are_transport_errors() -> None:
    api = ScriptedAPI(default=READ_TIMEOUT)
    with make_client(api, max_retries=1) as client, pytest.raises(ia.RequestTimeoutError):
        client.call("IncidentsService.GetIncident", {"incidentID": "1"})
    api = ScriptedAPI(default=RESET)
    with make_client(api, max_retries=1) as client, pytest.raises(ia.TransportError) as caught:
        client.call("IncidentsService.GetIncident", {"incidentID": "1"})
    assert "RemoteProtocolError" in str(caught.value)


def test_client_side_rate_limit_spaces_requests() -> None:
    sleep = SleepRecorder()
    api = ScriptedAPI(default=json_reply({"roles": []}))
    with make_client(api, sleep, rate_limit=100.0) as client:
        for _ in range(5):
            client.call("RolesService.GetRoles")
    # rate 100/s, no burst: the calls (which do not really sleep here) are booked 10 ms apart.
    assert len(sleep.delays) == 4
    assert sleep.delays == pytest.approx([0.01, 0.02, 0.03, 0.04], abs=0.008)
    sleep = SleepRecorder()
    api = ScriptedAPI(default=json_reply({"roles": []}))
    with make_client(api, sleep, rate_limit=0.5) as client:
        for _ in range(3):
            client.call("RolesService.GetRoles")
    # 0.5 requests/s: the second and third calls wait about two and four seconds.
    assert len(sleep.delays) == 2
    assert sleep.delays[0] == pytest.approx(2.0, abs=0.1)
    assert sleep.delays[1] == pytest.approx(4.0, abs=0.1)


# --- logging and reprs ----------------------------------------------------------------------------


def test_one_debug_line_per_attempt_without_the_token(caplog: pytest.LogCaptureFixture) -> None:
    api = ScriptedAPI(json_reply({"error": "x"}, 503), json_reply({"roles": []}))
    with caplog.at_level(logging.DEBUG, logger="incident_analytics"), make_client(api) as client:
        client.call("RolesService.GetRoles")
    lines = [r.getMessage() for r in caplog.records if r.name == "incident_analytics"]
    assert len(lines) == 2
    assert "RolesService.GetRoles" in lines[0] and "status=503" in lines[0] and "attempt=1" in lines[0]
    assert "status=200" in lines[1] and "attempt=2" in lines[1] and "elapsed=" in lines[1]
    assert all(TOKEN not in r.getMessage() for r in caplog.records)


def test_client_repr_hides_the_token() -> None:
    with make_client(ScriptedAPI()) as client:
        assert TOKEN not in repr(client)
        assert "***" in repr(client)
        assert TOKEN not in repr(vars(client))


# --- async ----------------------------------------------------------------------------------------


async def test_async_client_shares_retries_and_error_mapping() -> None:
    sleep = SleepRecorder()
    api = ScriptedAPI(json_reply({"error": "busy"}, 503, {"retry-after": "1"}), json_reply({"roles": [{"roleID": 1}]}))
    async with ia.AsyncIncidentClient(URL, TOKEN, transport=api.async_transport(), sleep=sleep.asleep) as client:
        assert await client.roles.list() == [{"roleID": 1}]
    assert sleep.delays == [1.0]
    api = ScriptedAPI(READ_TIMEOUT)
    async with ia.AsyncIncidentClient(URL, TOKEN, transport=api.async_transport(), sleep=sleep.asleep) as client:
        with pytest.raises(ia.OutcomeUnknownError):
            await client.incidents.create("x")
    api = ScriptedAPI(json_reply({"message": "Invalid API key"}, 401))
    async with ia.AsyncIncidentClient(URL, TOKEN, transport=api.async_transport()) as client:
        with pytest.raises(ia.AuthenticationError, match="Invalid API key"):
            await client.call("RolesService.GetRoles")


# --- wall-clock deadlines (issue #6 item 2) -------------------------------------------------------

# 40 bytes of valid JSON: trickled at one byte per 0.5 s the whole body takes 20 s, and a client
# without a wall-clock deadline would wait for all of it (httpx's timeout is per read).
TRICKLED = b'{"roles": [], "padding": "xxxxxxxxxxxx"}'
MARGIN = 1.0  # scheduling slack on a loaded 2-core machine


def test_a_trickled_body_times_out_at_the_attempt_deadline() -> None:
    assert len(TRICKLED) == 40
    with (
        trickling(TRICKLED) as server,
        ia.IncidentClient(url_of(server), TOKEN, attempt_timeout=1.5, max_retries=0) as client,
    ):
        started = time.monotonic()
        with pytest.raises(ia.RequestTimeoutError, match=r"attempt_timeout=1\.5s") as caught:
            client.roles.list()
        took = time.monotonic() - started
    assert took < 1.5 + MARGIN
    assert caught.value.method == "RolesService.GetRoles"


def test_a_body_with_long_gaps_is_cut_at_the_deadline_not_at_the_next_byte() -> None:
    # One byte every 0.9 s: the sync client must not wait for the byte due at 1.8 s to notice that
    # its 1.0 s deadline passed (a watchdog ends the blocked read), and the pool stays usable.
    with (
        trickling(TRICKLED, interval=0.9) as server,
        ia.IncidentClient(url_of(server), TOKEN, attempt_timeout=1.0, max_retries=0) as client,
    ):
        for _ in range(2):
            started = time.monotonic()
            with pytest.raises(ia.RequestTimeoutError, match="attempt_timeout=1s"):
                client.roles.list()
            assert time.monotonic() - started < 1.0 + 0.5


def test_total_timeout_bounds_every_attempt_together() -> None:
    policy = RetryPolicy(max_retries=10, backoff_base=0.01, total_timeout=2.0)
    with (
        trickling(TRICKLED) as server,
        ia.IncidentClient(url_of(server), TOKEN, attempt_timeout=1.2, retry=policy) as client,
    ):
        started = time.monotonic()
        with pytest.raises(ia.RequestTimeoutError, match="total_timeout=2s"):
            client.roles.list()
        took = time.monotonic() - started
        attempts = len(server.seen)
    assert took < 2.0 + MARGIN
    assert attempts >= 2  # a read whose attempt ran out is tried again while the total allows


def test_a_create_whose_body_trickles_is_outcome_unknown_not_retried() -> None:
    with (
        trickling(TRICKLED) as server,
        ia.IncidentClient(url_of(server), TOKEN, attempt_timeout=1.0) as client,
    ):
        started = time.monotonic()
        with pytest.raises(ia.OutcomeUnknownError, match="attempt_timeout"):
            client.incidents.create("Database down")
        assert time.monotonic() - started < 1.0 + MARGIN
        assert len(server.seen) == 1


async def test_the_async_client_has_the_same_deadlines() -> None:
    with trickling(TRICKLED) as server:
        async with ia.AsyncIncidentClient(url_of(server), TOKEN, attempt_timeout=1.5, max_retries=0) as client:
            started = time.monotonic()
            with pytest.raises(ia.RequestTimeoutError, match=r"attempt_timeout=1\.5s"):
                await client.roles.list()
            assert time.monotonic() - started < 1.5 + MARGIN
        policy = RetryPolicy(max_retries=10, backoff_base=0.01, total_timeout=2.0)
        async with ia.AsyncIncidentClient(url_of(server), TOKEN, attempt_timeout=1.2, retry=policy) as client:
            started = time.monotonic()
            with pytest.raises(ia.RequestTimeoutError, match="total_timeout=2s"):
                await client.roles.list()
            assert time.monotonic() - started < 2.0 + MARGIN


# --- the size of a response (issue #6 item 4) -----------------------------------------------------


class CountingStream(httpx.SyncByteStream):
    """A response body handed out chunk by chunk, counting how many chunks were pulled."""

    def __init__(self, chunks: list[bytes]) -> None:
        self.chunks = chunks
        self.pulled = 0

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self.chunks:
            self.pulled += 1
            yield chunk


def gzip_bomb(expanded_mib: int, chunk_bytes: int = 8192) -> list[bytes]:
    """A gzip body of a few hundred KiB that inflates to ``expanded_mib`` MiB, in wire-sized chunks."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    mib = b" " * (1 << 20)
    data = b"".join(compressor.compress(mib) for _ in range(expanded_mib)) + compressor.flush()
    return [data[i : i + chunk_bytes] for i in range(0, len(data), chunk_bytes)]


def test_a_gzip_bomb_is_refused_at_the_cap_without_inflating_it() -> None:
    chunks = gzip_bomb(256)
    assert sum(map(len, chunks)) < 1 << 20  # under 1 MiB on the wire, 256 MiB inflated
    stream = CountingStream(chunks)
    reply = httpx.Response(200, headers={"content-type": "application/json", "content-encoding": "gzip"}, stream=stream)
    api = ScriptedAPI(reply)
    cap = 4 << 20
    with make_client(api, max_response_bytes=cap) as client:
        tracemalloc.start()
        try:
            with pytest.raises(ia.ResponseFormatError, match="max_response_bytes=4,194,304"):
                client.roles.list()
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert peak < 3 * cap, f"peak {peak / 2**20:.0f} MiB while refusing a 256 MiB body"
    assert stream.pulled < len(chunks), "the body was read to the end before refusing it"


def test_the_default_cap_is_64_mib_and_a_declared_oversized_body_is_refused_unread() -> None:
    with make_client(ScriptedAPI()) as client:
        assert client._requester.settings.max_response_bytes == 64 * 1024 * 1024
    stream = CountingStream([b"x" * 1024] * 4)
    reply = httpx.Response(200, headers={"content-type": "application/json", "content-length": "4096"}, stream=stream)
    with make_client(ScriptedAPI(reply), max_response_bytes=1000) as client, pytest.raises(ia.ResponseFormatError):
        client.roles.list()
    assert stream.pulled == 0


def test_a_body_just_under_the_cap_is_accepted() -> None:
    body = {"roles": [{"name": "x" * 900}]}
    with make_client(ScriptedAPI(json_reply(body, gzipped=True)), max_response_bytes=1000) as client:
        assert client.roles.list() == body["roles"]


# --- the token at the cut of an excerpt (issue #6 item 5) ------------------------------------------


def leaks(text: str, token: str = TOKEN, shortest: int = 4) -> list[str]:
    """Every piece of the token of at least ``shortest`` characters found in ``text``."""
    return [token[i:j] for i in range(len(token)) for j in range(i + shortest, len(token) + 1) if token[i:j] in text]


@pytest.mark.parametrize("inside", [4, 20, len(TOKEN) - 1])
@pytest.mark.parametrize("status", [200, 502])
def test_a_token_echoed_across_the_excerpt_cut_leaves_no_piece_behind(inside: int, status: int) -> None:
    # The 200-character cut falls ``inside`` characters into the echoed token: cutting before
    # scrubbing leaked that much of it (20 of 21 characters in the issue).
    before = 200 - inside
    page = "<p>" + "x" * (before - len("<p>") - len(" Bearer ")) + " Bearer " + TOKEN + " echoed back</p>" * 5
    assert page.index(TOKEN) == before
    api = ScriptedAPI(text_reply(page, status, "text/html"))
    with make_client(api, max_retries=0) as client, pytest.raises(ia.IncidentAPIError) as caught:
        client.call("RolesService.GetRoles")
    rendered = f"{caught.value} {caught.value!r} {caught.value.body} {caught.value.message}"
    assert leaks(rendered) == []
    assert "***" in str(caught.value.body)


def test_a_partial_token_at_the_end_of_an_excerpt_is_removed() -> None:
    # A server that itself truncated its echo: only a prefix of the token, right where we cut.
    page = "z" * 190 + TOKEN[:20] + " and more text after it " * 5
    api = ScriptedAPI(text_reply(page, 500))
    with make_client(api) as client, pytest.raises(ia.ServerError) as caught:
        client.call("RolesService.GetRoles")
    assert leaks(f"{caught.value} {caught.value.body}") == []
    assert excerpt("abc " + TOKEN[:12] + " tail", TOKEN, limit=10) == "abc …"
    assert excerpt("abc " + TOKEN + " tail", TOKEN) == "abc *** tail"


# --- creates answered by a proxy 502/504 (issue #6 item 6) -----------------------------------------


@pytest.mark.parametrize(
    ("act", "method"),
    [
        (lambda c: c.incidents.create("Database down"), "IncidentsService.CreateIncident"),
        (lambda c: c.tasks.add("1", "Roll back"), "TasksService.AddTask"),
        (lambda c: c.activity.add_note("1", "Rolled back"), "ActivityService.AddActivity"),
        (lambda c: c.incidents.add_label("1", "db"), "IncidentsService.AddLabel"),
    ],
)
@pytest.mark.parametrize("status", [502, 504])
def test_a_create_like_write_answered_by_a_proxy_5xx_is_outcome_unknown(
    act: Callable[[ia.IncidentClient], object], method: str, status: int
) -> None:
    api = ScriptedAPI(text_reply("<html>Bad Gateway</html>", status, "text/html"))
    with make_client(api) as client, pytest.raises(ia.OutcomeUnknownError) as caught:
        act(client)
    assert not isinstance(caught.value, ia.ServerError)
    assert caught.value.method == method and caught.value.status_code == status
    assert "may have reached the server" in str(caught.value)
    assert api.methods == [method]


def test_idempotent_writes_and_reads_keep_retrying_through_502_and_504() -> None:
    incident = {"incident": {"incidentID": "1"}}
    api = ScriptedAPI(json_reply({"error": "bad gateway"}, 502), json_reply({"error": "gw"}, 504), json_reply(incident))
    with make_client(api) as client:
        assert client.incidents.update_status("1", "resolved")["incidentID"] == "1"
    assert len(api.requests) == 3
    api = ScriptedAPI(json_reply({"error": "gw"}, 504), json_reply(incident))
    with make_client(api) as client:
        assert client.incidents.get("1")["incidentID"] == "1"


def test_the_emulator_behind_a_failing_proxy_gets_one_create_only() -> None:
    with Emulator(seed=3, incidents=5) as emu:
        emu.inject("502", method="IncidentsService.CreateIncident")
        with (
            ia.IncidentClient(emu.url, emu.token, sleep=SleepRecorder()) as client,
            pytest.raises(ia.OutcomeUnknownError),
        ):
            client.incidents.create("Payments failing")
        creates = [r for r in emu.requests if r.method == "IncidentsService.CreateIncident"]
    assert len(creates) == 1


# --- redirects (issue #6 item 9) -------------------------------------------------------------------


@pytest.mark.parametrize("status", [301, 302, 307, 308])
def test_a_redirect_with_a_json_body_is_an_error_naming_the_location(status: int) -> None:
    reply = json_reply({"roles": []}, status, {"location": "https://elsewhere.example/login"})
    api = ScriptedAPI(reply)
    with make_client(api) as client, pytest.raises(ia.RedirectError) as caught:
        client.roles.list()
    assert caught.value.location == "https://elsewhere.example/login"
    assert "https://elsewhere.example/login" in str(caught.value)
    assert caught.value.status_code == status
    assert len(api.requests) == 1


def test_a_redirect_is_not_followed_so_the_token_stays_home() -> None:
    with serve(mode="record") as elsewhere:
        target = url_of(elsewhere) + "/steal"
        with serve(mode="redirect", status=307, location=target) as server:
            with ia.IncidentClient(url_of(server), TOKEN) as client, pytest.raises(ia.RedirectError, match="steal"):
                client.roles.list()
            assert len(server.seen) == 1
        assert elsewhere.seen == []


# --- errors that say what to fix ---------------------------------------------------------------------


def test_a_network_error_names_the_url_host_and_plugin() -> None:
    # Port 9 (discard) on loopback: nothing listens, the connection is refused at once.
    with (
        ia.IncidentClient("http://127.0.0.1:9", TOKEN, max_retries=0) as client,
        pytest.raises(ia.TransportError) as caught,
    ):
        client.roles.list()
    message = str(caught.value)
    assert "http://127.0.0.1:9/api/plugins/grafana-irm-app/resources/api/v1/RolesService.GetRoles" in message
    assert "127.0.0.1:9" in message and "'grafana-irm-app'" in message


def test_a_routing_404_names_the_url_and_plugin_id_and_the_other_plugin(emulator: Emulator) -> None:
    with (
        ia.IncidentClient(emulator.url, emulator.token, plugin_id="grafana-oncall-app") as client,
        pytest.raises(ia.NotFoundError) as caught,
    ):
        client.roles.list()
    message = str(caught.value)
    assert f"{emulator.url}/api/plugins/grafana-oncall-app/resources/api/v1/RolesService.GetRoles" in message
    assert "plugin 'grafana-oncall-app' is installed" in message and "plugin_id='grafana-irm-app'" in message


def test_an_api_not_found_keeps_its_own_words_without_the_url_hint(emulator: Emulator) -> None:
    with ia.IncidentClient(emulator.url, emulator.token) as client, pytest.raises(ia.NotFoundError) as caught:
        client.incidents.update_status("99999", "resolved")
    assert "plugin" not in str(caught.value)


def test_a_401_says_which_environment_variable_to_check(emulator: Emulator) -> None:
    with (
        ia.IncidentClient(emulator.url, "glsa_wrong_token_0000000000") as client,
        pytest.raises(ia.AuthenticationError, match="check GRAFANA_SERVICE_ACCOUNT_TOKEN"),
    ):
        client.roles.list()


# --- which path carries the request (issue #10) ----------------------------------------------------


def test_the_sync_client_sends_past_httpx_unless_a_transport_is_given() -> None:
    with serve(mode="record") as server:
        with ia.IncidentClient(url_of(server), TOKEN) as client:
            assert client.roles.list() == []
            assert client._requester._fast and client._requester._client is None
        with ia.IncidentClient(url_of(server), TOKEN, transport=httpx.HTTPTransport()) as client:
            assert client.roles.list() == []
            assert not client._requester._fast and client._requester._client is not None
        assert len(server.seen) == 2
        assert all(seen["headers"]["Authorization"] == f"Bearer {TOKEN}" for seen in server.seen)


@pytest.mark.parametrize(
    ("variables", "fast"),
    [
        ({"HTTPS_PROXY": "http://127.0.0.1:3128"}, False),
        ({"all_proxy": "http://127.0.0.1:3128"}, False),
        ({"HTTP_PROXY": "http://127.0.0.1:3128"}, False),
        ({"HTTPS_PROXY": "http://127.0.0.1:3128", "NO_PROXY": "*"}, True),
        ({}, True),
    ],
)
def test_a_proxy_in_the_environment_keeps_requests_on_httpx(
    monkeypatch: pytest.MonkeyPatch, variables: dict[str, str], fast: bool
) -> None:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    with ia.IncidentClient(URL, TOKEN) as client:
        assert client._requester._fast is fast


def test_under_a_vcrpy_cassette_requests_go_through_httpx_to_be_recorded_and_replayed(tmp_path: Path) -> None:
    import vcr

    cassette = tmp_path / "roles.yaml"
    with serve(mode="record") as server:
        url = url_of(server)
        with ia.IncidentClient(url, TOKEN) as client:
            with vcr.use_cassette(str(cassette), record_mode="all", filter_headers=["authorization"]):
                assert client.roles.list() == []
            assert client.roles.list() == []  # the cassette is closed: the fast path again
            assert client._requester._client is not None  # built for the cassette's call only
        assert len(server.seen) == 2
    assert "RolesService.GetRoles" in cassette.read_text() and TOKEN not in cassette.read_text()
    # The server is gone: only the cassette can answer.
    with (
        vcr.use_cassette(str(cassette), record_mode="none"),
        ia.IncidentClient(url, TOKEN, max_retries=0) as client,
    ):
        assert client.roles.list() == []


# --- Retry-After for the whole pool and attempt listeners (issue #10) -------------------------------


def test_a_retry_after_holds_back_every_thread_sharing_the_client() -> None:
    sends: list[tuple[float, float, int | None]] = []
    lock = threading.Lock()

    def listen(event: AttemptEvent) -> None:
        now = time.monotonic()
        with lock:
            sends.append((now - event.seconds, now, event.status))

    with Emulator(seed=3, incidents=5, latency=0.01) as emu, ia.IncidentClient(emu.url, emu.token) as client:
        client.add_listener(listen)
        emu.inject("429", method="RolesService.GetRoles", retry_after=1)
        threads = [threading.Thread(target=lambda: [client.roles.list() for _ in range(10)]) for _ in range(4)]
        started = time.monotonic()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        took = time.monotonic() - started
    refused = [done for _, done, status in sends if status == 429]
    assert len(refused) == 1 and len(sends) == 41
    after = [sent for sent, _, _ in sends if sent > refused[0]]
    # Every request sent after the 429 arrived (by any of the four threads) waited out its second;
    # only the few already on their way (or answered first) went before it.
    assert len(after) >= 30
    assert min(after) >= refused[0] + 1.0 - 0.05
    assert took >= 1.0


def test_a_retry_after_is_waited_for_once_by_the_thread_that_got_it() -> None:
    sleep = SleepRecorder()
    api = ScriptedAPI(json_reply({"error": "busy"}, 429, {"retry-after": "3"}), default=json_reply({"roles": []}))
    with make_client(api, sleep) as client:
        client.roles.list()
        client.roles.list()
    assert sleep.delays == [3.0]


def test_listeners_see_every_attempt_and_can_be_removed() -> None:
    sleep = SleepRecorder()
    api = ScriptedAPI(
        json_reply({"error": "rate limited"}, 429, {"retry-after": "2"}),
        json_reply({"error": "unavailable"}, 503),
        CONNECT,
        json_reply({"roles": []}),
        default=json_reply({"roles": []}),
    )
    events: list[AttemptEvent] = []
    with make_client(api, sleep) as client:
        remove = client.add_listener(events.append)
        client.roles.list()
        remove()
        client.roles.list()
    assert [(e.status, e.retry_after, e.retried) for e in events] == [
        (429, 2.0, True),
        (503, None, True),
        (None, None, True),
        (200, None, False),
    ]
    assert all(e.method == "RolesService.GetRoles" and 0 <= e.seconds < 5 for e in events)
    with pytest.raises(dataclasses.FrozenInstanceError):
        events[0].status = 200  # type: ignore[misc]


def test_the_last_attempt_and_refused_bodies_are_reported_as_not_retried() -> None:
    api = ScriptedAPI(json_reply({"error": "busy"}, 429, {"retry-after": "1"}), text_reply("x" * 5000, 200))
    events: list[AttemptEvent] = []
    with make_client(api, max_retries=0, max_response_bytes=1000) as client:
        client.add_listener(events.append)
        with pytest.raises(ia.RateLimitError):
            client.roles.list()
        with pytest.raises(ia.ResponseFormatError):
            client.roles.list()
    assert [(e.status, e.retry_after, e.retried) for e in events] == [(429, 1.0, False), (200, None, False)]


def test_a_failing_listener_is_logged_and_the_others_still_run(caplog: pytest.LogCaptureFixture) -> None:
    def broken(event: AttemptEvent) -> None:
        raise ValueError("listener bug")

    events: list[AttemptEvent] = []
    with make_client(ScriptedAPI(json_reply({"roles": []}))) as client:
        client.add_listener(broken)
        client.add_listener(events.append)
        with caplog.at_level(logging.ERROR, logger="incident_analytics"):
            assert client.roles.list() == []
    assert len(events) == 1
    assert any("listener" in r.getMessage() and r.exc_info for r in caplog.records)
    with make_client(ScriptedAPI()) as client, pytest.raises(TypeError, match="callable"):
        client.add_listener("not a function")  # type: ignore[arg-type]


def test_listeners_on_the_fast_path_see_real_attempts(emulator: Emulator) -> None:
    events: list[AttemptEvent] = []
    emulator.inject("503", method="RolesService.GetRoles", retry_after=0)
    with ia.IncidentClient(emulator.url, emulator.token) as client:
        client.add_listener(events.append)
        client.roles.list()
        assert client._requester._client is None
    assert [(e.status, e.retry_after, e.retried) for e in events] == [(503, 0.0, True), (200, None, False)]


async def test_the_async_client_has_listeners_and_the_shared_retry_after() -> None:
    sleep = SleepRecorder()
    api = ScriptedAPI(json_reply({"error": "busy"}, 503, {"retry-after": "1"}), default=json_reply({"roles": []}))
    events: list[AttemptEvent] = []
    async with ia.AsyncIncidentClient(URL, TOKEN, transport=api.async_transport(), sleep=sleep.asleep) as client:
        remove = client.add_listener(events.append)
        assert await client.roles.list() == []
        remove()
        assert await client.roles.list() == []
    assert [(e.status, e.retry_after, e.retried) for e in events] == [(503, 1.0, True), (200, None, False)]
    assert sleep.delays == [1.0]


def test_a_mock_patched_into_httpcore_sees_the_requests(monkeypatch: pytest.MonkeyPatch) -> None:
    # respx mocks by replacing httpcore's ConnectionPool.handle_request: such a patch is honoured too.
    import httpcore

    original = httpcore.ConnectionPool.handle_request
    seen: list[str] = []

    def spy(pool: httpcore.ConnectionPool, request: httpcore.Request) -> httpcore.Response:
        seen.append(request.url.target.decode())
        return original(pool, request)

    with serve(mode="record") as server, ia.IncidentClient(url_of(server), TOKEN) as client:
        client.roles.list()
        monkeypatch.setattr(httpcore.ConnectionPool, "handle_request", spy)
        client.roles.list()
        monkeypatch.undo()
        client.roles.list()
        assert len(server.seen) == 3
    assert seen == ["/api/plugins/grafana-irm-app/resources/api/v1/RolesService.GetRoles"]


def test_rate_limiter_slots_and_how_late_a_sender_may_be() -> None:
    now = [100.0]
    limiter = RateLimiter(100.0, clock=lambda: now[0])
    assert [limiter.reserve_slot() for _ in range(3)] == pytest.approx([100.0, 100.01, 100.02])
    assert limiter.tolerance == pytest.approx(0.04)  # four slots at 100/s
    now[0] = 100.05
    assert not limiter.missed(100.02)  # 30 ms late: still within four slots
    now[0] = 100.07
    assert limiter.missed(100.02)  # 50 ms late: book again
    assert RateLimiter(10_000.0).tolerance == pytest.approx(0.010)  # never below scheduling jitter
