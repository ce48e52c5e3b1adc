"""Cursor paging: every record once, the right stop rules, and no endless loops."""

from __future__ import annotations

import json
from collections.abc import Callable

import httpx
import pytest

import incident_analytics as ia
from incident_analytics.config import DEFAULT_MAX_PAGES
from tests.fakes import ScriptedAPI, SleepRecorder, json_reply

TOKEN = "glsa_paging_token_abcdef0123456789"
METHOD = "IncidentsService.QueryIncidentPreviews"


def paged_server(
    total: int, *, cursor_for: Callable[[int], str] | None = None
) -> Callable[[httpx.Request], httpx.Response]:
    """A server of ``total`` previews that honours limit and an offset-in-cursor, like the live API."""

    def handler(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        limit = body["query"]["limit"]
        assert 1 <= limit <= 100
        assert "cursor" not in body["query"], "the cursor belongs at the top level"
        offset = int(body.get("cursor", {}).get("nextValue") or 0)
        items = [{"incidentID": str(i)} for i in range(offset + 1, min(offset + limit, total) + 1)]
        end = offset + len(items)
        more = end < total
        next_value = (cursor_for or str)(end) if more else ""
        return json_reply(
            {
                "incidentPreviews": items,
                "query": body["query"],
                "cursor": {"nextValue": next_value, "hasMore": more},
            }
        )

    return handler


def client_for(api: ScriptedAPI) -> ia.IncidentClient:
    return ia.IncidentClient("https://s.grafana.net", TOKEN, transport=api.transport(), sleep=SleepRecorder())


def test_every_record_once_across_many_pages() -> None:
    api = ScriptedAPI(default=paged_server(1234))
    pages: list[tuple[int, int]] = []
    with client_for(api) as client:
        ids = [
            p["incidentID"]
            for p in client.paginate(
                METHOD,
                {"query": {"queryString": ""}},
                "incidentPreviews",
                on_page=lambda p, n: pages.append((p, n)),
            )
        ]
    assert ids == [str(i) for i in range(1, 1235)]
    assert len(api.requests) == 13
    assert pages[-1] == (13, 1234)
    # The first page carries no cursor; later ones hand back the previous cursor unchanged, top level.
    bodies = api.bodies
    assert "cursor" not in bodies[0]
    assert bodies[1]["cursor"] == {"nextValue": "100", "hasMore": True}
    assert all(b["query"]["limit"] == 100 for b in bodies)


def test_page_size_is_never_above_100() -> None:
    api = ScriptedAPI(default=paged_server(250))
    with client_for(api) as client:
        assert len(list(client.paginate(METHOD, None, "incidentPreviews", page_size=500))) == 250
    assert {b["query"]["limit"] for b in api.bodies} == {100}


@pytest.mark.parametrize("bad", [0, -1, 1.5, "10", True])
def test_page_size_must_be_a_positive_whole_number(bad: object) -> None:
    with client_for(ScriptedAPI()) as client, pytest.raises(ValueError, match="page_size"):
        client.paginate(METHOD, None, "incidentPreviews", page_size=bad)  # type: ignore[arg-type]


def test_max_items_stops_early_and_shrinks_the_last_page() -> None:
    api = ScriptedAPI(default=paged_server(1000))
    with client_for(api) as client:
        items = list(client.paginate(METHOD, None, "incidentPreviews", page_size=40, max_items=90))
    assert len(items) == 90
    assert [b["query"]["limit"] for b in api.bodies] == [40, 40, 10]
    with client_for(ScriptedAPI()) as client:
        assert list(client.paginate(METHOD, None, "incidentPreviews", max_items=0)) == []


@pytest.mark.parametrize(
    "last_cursor",
    [{"hasMore": False, "nextValue": "abc"}, {"hasMore": True, "nextValue": ""}, {"hasMore": True}, None],
)
def test_stop_on_has_more_false_or_empty_next_value(last_cursor: dict[str, object] | None) -> None:
    page = {"incidentPreviews": [{"incidentID": "1"}], "cursor": last_cursor}
    api = ScriptedAPI(json_reply(page))
    with client_for(api) as client:
        assert len(list(client.paginate(METHOD, None, "incidentPreviews"))) == 1
    assert len(api.requests) == 1


def test_stop_on_an_empty_page_even_if_the_server_says_has_more() -> None:
    api = ScriptedAPI(
        json_reply({"incidentPreviews": [{"incidentID": "1"}], "cursor": {"nextValue": "a", "hasMore": True}}),
        json_reply({"incidentPreviews": [], "cursor": {"nextValue": "b", "hasMore": True}}),
    )
    with client_for(api) as client:
        assert len(list(client.paginate(METHOD, None, "incidentPreviews"))) == 1
    assert len(api.requests) == 2


def test_a_repeated_cursor_raises_instead_of_looping() -> None:
    same = json_reply({"incidentPreviews": [{"incidentID": "1"}], "cursor": {"nextValue": "again", "hasMore": True}})
    api = ScriptedAPI(default=same)
    with client_for(api) as client, pytest.raises(ia.PaginationLoopError, match="second time"):
        list(client.paginate(METHOD, None, "incidentPreviews"))
    assert len(api.requests) == 2


def test_more_items_than_asked_for_are_truncated() -> None:
    flood = {"incidentPreviews": [{"incidentID": str(i)} for i in range(50)], "cursor": {"hasMore": False}}
    api = ScriptedAPI(json_reply(flood))
    with client_for(api) as client:
        assert len(list(client.paginate(METHOD, None, "incidentPreviews", page_size=20))) == 20


def test_a_page_of_the_wrong_shape_is_a_format_error() -> None:
    api = ScriptedAPI(json_reply({"incidentPreviews": {"not": "a list"}}))
    with client_for(api) as client, pytest.raises(ia.ResponseFormatError, match="should be a list"):
        list(client.paginate(METHOD, None, "incidentPreviews"))


def test_the_callers_body_is_not_modified() -> None:
    body = {"query": {"queryString": "status:active"}}
    api = ScriptedAPI(default=paged_server(150))
    with client_for(api) as client:
        list(client.paginate(METHOD, body, "incidentPreviews"))
    assert body == {"query": {"queryString": "status:active"}}
    assert api.bodies[0]["query"]["queryString"] == "status:active"


async def test_async_paging_has_the_same_rules() -> None:
    api = ScriptedAPI(default=paged_server(345, cursor_for=lambda n: f"{n}"))
    async with ia.AsyncIncidentClient("https://s.grafana.net", TOKEN, transport=api.async_transport()) as client:
        ids = [p["incidentID"] async for p in client.incidents.query("isdrill:false", page_size=50)]
    assert ids == [str(i) for i in range(1, 346)]
    assert len(api.requests) == 7
    same = json_reply({"incidentPreviews": [{"incidentID": "1"}], "cursor": {"nextValue": "x", "hasMore": True}})
    api = ScriptedAPI(default=same)
    async with ia.AsyncIncidentClient("https://s.grafana.net", TOKEN, transport=api.async_transport()) as client:
        with pytest.raises(ia.PaginationLoopError):
            _ = [p async for p in client.paginate(METHOD, None, "incidentPreviews")]


# --- paging that would never end (issue #6 item 3) -------------------------------------------------


def fresh_cursor_same_records(request: httpx.Request) -> httpx.Response:
    """A broken server: a new cursor on every page, and always the same records."""
    body = json.loads(request.content)
    page = int(body.get("cursor", {}).get("nextValue") or 0) + 1
    records = [{"incidentID": str(i)} for i in range(1, 4)]
    return json_reply({"incidentPreviews": records, "cursor": {"nextValue": str(page), "hasMore": True}})


def test_a_new_cursor_over_the_same_records_raises_naming_method_and_pages() -> None:
    api = ScriptedAPI(default=fresh_cursor_same_records)
    with client_for(api) as client, pytest.raises(ia.PaginationLoopError) as caught:
        list(client.incidents.query())
    message = str(caught.value)
    assert message.startswith("IncidentsService.QueryIncidentPreviews: ")
    assert "after 2 pages" in message and "already returned" in message
    assert caught.value.method == METHOD
    assert len(api.requests) == 2


def endless(request: httpx.Request) -> httpx.Response:
    """A server whose listing never ends: a new cursor and new records on every page."""
    body = json.loads(request.content)
    offset = int(body.get("cursor", {}).get("nextValue") or 0)
    limit = body["query"]["limit"]
    records = [{"incidentID": str(i)} for i in range(offset, offset + limit)]
    return json_reply({"incidentPreviews": records, "cursor": {"nextValue": str(offset + limit), "hasMore": True}})


def test_max_pages_is_a_ceiling_with_a_clear_error() -> None:
    api = ScriptedAPI(default=endless)
    seen: list[str] = []
    with client_for(api) as client, pytest.raises(ia.PaginationLoopError, match=r"after 5 pages.*max_pages=5"):
        seen.extend(p["incidentID"] for p in client.incidents.query(max_pages=5, page_size=10))
    assert len(api.requests) == 5
    assert len(seen) == 50  # every record of the pages fetched was handed over before the error


def test_max_pages_comes_from_the_client_and_defaults_to_a_documented_number() -> None:
    api = ScriptedAPI(default=endless)
    with (
        ia.IncidentClient("https://s.grafana.net", TOKEN, transport=api.transport(), max_pages=3) as client,
        pytest.raises(ia.PaginationLoopError, match="max_pages=3"),
    ):
        list(client.paginate(METHOD, None, page_size=1))
    assert len(api.requests) == 3
    assert DEFAULT_MAX_PAGES == 10_000  # 1,000,000 records at 100 a page; the API reports no total
    assert "DEFAULT_MAX_PAGES" in (ia.IncidentClient.__doc__ or "")


def test_a_listing_exactly_max_pages_long_ends_normally() -> None:
    api = ScriptedAPI(default=paged_server(30))
    with client_for(api) as client:
        assert len(list(client.paginate(METHOD, None, page_size=10, max_pages=3))) == 30


def test_a_partial_overlap_between_pages_is_not_a_loop() -> None:
    # Paging while a new incident is declared shifts records down by one: one repeat, not a loop.
    first = [{"incidentID": "3"}, {"incidentID": "2"}]
    second = [{"incidentID": "2"}, {"incidentID": "1"}]
    api = ScriptedAPI(
        json_reply({"incidentPreviews": first, "cursor": {"nextValue": "a", "hasMore": True}}),
        json_reply({"incidentPreviews": second, "cursor": {"hasMore": False}}),
    )
    with client_for(api) as client:
        assert [p["incidentID"] for p in client.paginate(METHOD)] == ["3", "2", "2", "1"]


def test_items_key_comes_from_the_catalogue() -> None:
    api = ScriptedAPI(json_reply({"activityItems": [{"activityItemID": "a"}], "cursor": {"hasMore": False}}))
    with client_for(api) as client:
        assert list(client.paginate("ActivityService.QueryActivity", {"query": {"incidentID": "1"}})) == [
            {"activityItemID": "a"}
        ]


async def test_async_paging_stops_a_loop_of_fresh_cursors_too() -> None:
    api = ScriptedAPI(default=fresh_cursor_same_records)
    async with ia.AsyncIncidentClient("https://s.grafana.net", TOKEN, transport=api.async_transport()) as client:
        with pytest.raises(ia.PaginationLoopError, match="after 2 pages"):
            _ = [p async for p in client.incidents.query()]
    api = ScriptedAPI(default=endless)
    async with ia.AsyncIncidentClient("https://s.grafana.net", TOKEN, transport=api.async_transport()) as client:
        with pytest.raises(ia.PaginationLoopError, match="max_pages=4"):
            _ = [p async for p in client.incidents.query(max_pages=4)]
    assert len(api.requests) == 4
