"""Cursor paging and ordering (docs/api.md#paging)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from incident_analytics.emulator import Emulator
from incident_analytics.rpc import PREVIEW_ORDER_FIELDS

from .helpers import all_items, call, ns, ok, pages

PREVIEWS = "IncidentsService.QueryIncidentPreviews"
# The order fields the client may send (written from contract.json on the client side).
ORDER_FIELDS = list(PREVIEW_ORDER_FIELDS)


def test_limit_7_pages_return_every_incident_once(seeded: Emulator, client: httpx.Client) -> None:
    """Paging with limit 7 yields every incident exactly once; the last cursor is hasMore false, "" value."""
    seen: list[str] = []
    cursors = []
    for page in pages(client, PREVIEWS, {"limit": 7}, "incidentPreviews"):
        assert 1 <= len(page["incidentPreviews"]) <= 7
        seen.extend(p["incidentID"] for p in page["incidentPreviews"])
        cursors.append(page["cursor"])
    assert len(seen) == len(set(seen)) == len(seeded.state.incidents) == 300
    assert cursors[-1] == {"nextValue": "", "hasMore": False}
    assert all(c["hasMore"] and c["nextValue"] for c in cursors[:-1])
    assert len({c["nextValue"] for c in cursors[:-1]}) == len(cursors) - 1  # never repeats a cursor
    assert len(cursors) == -(-300 // 7)


def test_response_echoes_query_with_defaults(client: httpx.Client) -> None:
    """Without limit/order, the defaults are 10, DESC, createdTime; the query is echoed."""
    page = ok(client, PREVIEWS, {"query": {}})
    assert len(page["incidentPreviews"]) == 10
    assert page["query"] == {
        "limit": 10,
        "orderDirection": "DESC",
        "orderField": "createdTime",
        "queryString": "",
    }
    ids = [int(p["incidentID"]) for p in page["incidentPreviews"]]
    assert ids == list(range(300, 290, -1))  # IDs follow createdTime


def test_go_client_first_page_cursor_is_first_page(client: httpx.Client) -> None:
    """incident-go always sends ``{"nextValue": "", "hasMore": false}``: that means page one."""
    plain = ok(client, PREVIEWS, {"query": {"limit": 5}})
    with_cursor = ok(client, PREVIEWS, {"query": {"limit": 5}, "cursor": {"nextValue": "", "hasMore": False}})
    assert plain["incidentPreviews"] == with_cursor["incidentPreviews"]


def test_exactly_full_last_page_reports_no_more(client: httpx.Client) -> None:
    """When the results end exactly at a page boundary, that page already says hasMore false."""
    page = ok(client, PREVIEWS, {"query": {"limit": 100, "queryString": ""}})
    assert page["cursor"]["hasMore"] is True
    last = list(pages(client, PREVIEWS, {"limit": 100}, "incidentPreviews"))[-1]
    assert len(last["incidentPreviews"]) == 100
    assert last["cursor"] == {"nextValue": "", "hasMore": False}


def test_empty_result_has_no_more(client: httpx.Client) -> None:
    """A query matching nothing returns an empty page and the end cursor."""
    page = ok(client, PREVIEWS, {"query": {"queryString": "label:no-such-label"}})
    assert page["incidentPreviews"] == []
    assert page["cursor"] == {"nextValue": "", "hasMore": False}


@pytest.mark.parametrize("limit", [101, 1000, -1])
def test_limit_out_of_range_is_400(client: httpx.Client, limit: int) -> None:
    """A limit above the documented maximum of 100 (or negative) is refused."""
    response = call(client, PREVIEWS, {"query": {"limit": limit}})
    assert response.status_code == 400
    assert "limit" in response.json()["error"]


def test_limit_100_is_allowed(client: httpx.Client) -> None:
    """100 is the maximum page size and is accepted."""
    assert len(ok(client, PREVIEWS, {"query": {"limit": 100}})["incidentPreviews"]) == 100


@pytest.mark.parametrize("value", ["garbage", "123e4567-e89b-12d3-a456-426614174000"])
def test_unknown_cursor_is_400(client: httpx.Client, value: str) -> None:
    """A cursor the server never issued is refused (not silently page one)."""
    response = call(client, PREVIEWS, {"query": {"limit": 5}, "cursor": {"nextValue": value, "hasMore": True}})
    assert response.status_code == 400
    assert "cursor" in response.json()["error"]


def test_cursor_of_another_query_is_400(client: httpx.Client) -> None:
    """A cursor only continues the query it came from."""
    cursor = ok(client, PREVIEWS, {"query": {"limit": 5, "queryString": "status:resolved"}})["cursor"]
    response = call(client, PREVIEWS, {"query": {"limit": 5, "queryString": "isdrill:false"}, "cursor": cursor})
    assert response.status_code == 400


def test_cursor_inside_query_is_ignored(client: httpx.Client) -> None:
    """A cursor sent inside ``query`` is an unknown field: page one comes back again (docs/api.md#paging)."""
    first = ok(client, PREVIEWS, {"query": {"limit": 5}})
    again = ok(client, PREVIEWS, {"query": {"limit": 5, "cursor": first["cursor"]}})
    assert again["incidentPreviews"] == first["incidentPreviews"]


def test_paging_survives_new_incidents_between_pages(fresh: Emulator, wclient: httpx.Client) -> None:
    """Creating incidents while paging DESC neither repeats nor skips an existing incident."""
    seen: list[str] = []
    cursor: dict[str, Any] | None = None
    while True:
        body: dict[str, Any] = {"query": {"limit": 9}}
        if cursor:
            body["cursor"] = cursor
        page = ok(wclient, PREVIEWS, body)
        seen.extend(p["incidentID"] for p in page["incidentPreviews"])
        ok(wclient, "IncidentsService.CreateIncident", {"title": f"During paging {len(seen)}"})
        cursor = page["cursor"]
        if not cursor["hasMore"]:
            break
    assert sorted(seen, key=int) == [str(i) for i in range(1, 61)]


def _levels(seeded: Emulator, client: httpx.Client) -> dict[str, int]:
    response = client.post(
        seeded.url + "/api/plugins/grafana-irm-app/resources/api/SeveritiesService.GetOrgSeverities", json={}
    )
    return {s["displayLabel"]: s["level"] for s in response.json()["severities"]}


def _sort_key(field: str, levels: dict[str, int]) -> Callable[[dict[str, Any]], tuple[Any, ...]]:
    """The documented order: value, then numeric ID; unset times first; severity by level."""

    def key(p: dict[str, Any]) -> tuple[Any, ...]:
        number = int(p["incidentID"])
        if field == "incidentID":
            return (number,)
        if field in ("createdTime", "modifiedTime", "incidentStart", "incidentEnd", "closedTime"):
            text = p[field]
            return (bool(text), ns(text) if text else 0, number)
        if field == "severity":
            return (levels[p["severityLabel"]], number)
        if field == "prefix":
            return (number,)
        return (p[field], number)

    return key


@pytest.mark.parametrize("direction", ["ASC", "DESC"])
@pytest.mark.parametrize("field", ORDER_FIELDS)
def test_ordering_matches_python_sort_of_state(
    seeded: Emulator, client: httpx.Client, field: str, direction: str
) -> None:
    """Each orderField in both directions equals a Python sort of the state (DESC = reversed ASC)."""
    query = {"limit": 100, "orderField": field, "orderDirection": direction}
    got = [p["incidentID"] for p in all_items(client, PREVIEWS, query, "incidentPreviews")]
    previews = [seeded.state.render_preview(i) for i in seeded.state.incidents]
    expected = [p["incidentID"] for p in sorted(previews, key=_sort_key(field, _levels(seeded, client)))]
    if direction == "DESC":
        expected.reverse()
    assert got == expected


@pytest.mark.parametrize("field", ["sideways", "createdtime", "severityID"])
def test_unknown_order_field_is_400(client: httpx.Client, field: str) -> None:
    """An orderField outside the enum is refused, naming it."""
    response = call(client, PREVIEWS, {"query": {"orderField": field}})
    assert response.status_code == 400
    assert "orderField" in response.json()["error"]


@pytest.mark.parametrize("direction", ["asc", "UP"])
def test_unknown_order_direction_is_400(client: httpx.Client, direction: str) -> None:
    """orderDirection must be ASC or DESC."""
    response = call(client, PREVIEWS, {"query": {"orderDirection": direction}})
    assert response.status_code == 400
    assert "orderDirection" in response.json()["error"]


def test_activity_pages_in_order(seeded: Emulator, client: httpx.Client) -> None:
    """QueryActivity pages ASC by default, DESC on request, each item once, same cursor rules."""
    incident_id = max(seeded.state.incidents.values(), key=lambda i: len(i.activity)).incident_id
    query = {"incidentID": incident_id, "limit": 2}
    asc = all_items(client, "ActivityService.QueryActivity", query, "activityItems")
    desc = all_items(client, "ActivityService.QueryActivity", {**query, "orderDirection": "DESC"}, "activityItems")
    assert len(asc) == len(seeded.state.incidents[incident_id].activity) >= 3
    assert [a["activityItemID"] for a in desc] == [a["activityItemID"] for a in reversed(asc)]
    times = [ns(a["eventTime"]) for a in asc]
    assert times == sorted(times)
    assert asc[0]["activityKind"] == "incidentCreated"


def test_query_users_pages(seeded: Emulator, client: httpx.Client) -> None:
    """QueryUsers pages through every user."""
    users = all_items(client, "UsersService.QueryUsers", {"limit": 4}, "users")
    assert len(users) == len(seeded.state.catalog.users) == 16
    assert all(u["userID"].startswith("grafana-incident:user-") for u in users)
