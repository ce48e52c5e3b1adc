"""The client and fetch against recorded HTTP: cassettes recorded from the emulator (or a real stack)
and replayed with recording off. Assertions hold for any stack, so re-recording against a real one
keeps them meaningful; the seeded-data checks live in the emulator-backed tests.
"""

from __future__ import annotations

from collections.abc import Iterator

import pandas as pd
import pytest

import incident_analytics as ia
from tests.conftest import Target
from tests.fakes import SleepRecorder

pytestmark = pytest.mark.vcr


@pytest.fixture
def client(api_target: Target) -> Iterator[ia.IncidentClient]:
    with ia.IncidentClient(api_target.url, api_target.token, sleep=SleepRecorder()) as c:
        yield c


@pytest.fixture
async def async_client(api_target: Target) -> ia.AsyncIncidentClient:
    return ia.AsyncIncidentClient(api_target.url, api_target.token, sleep=SleepRecorder().asleep)


def times(records: list[dict[str, object]], key: str) -> list[pd.Timestamp]:
    return [pd.Timestamp(str(r[key])) for r in records]


def test_previews_page_through_everything_once_in_order(client: ia.IncidentClient) -> None:
    pages: list[int] = []
    previews = list(
        client.incidents.query(
            "isdrill:false",
            order_field="createdTime",
            order_direction="ASC",
            page_size=25,
            on_page=lambda p, n: pages.append(p),
        )
    )
    ids = [p["incidentID"] for p in previews]
    assert len(ids) == len(set(ids)) > 25
    assert len(pages) == -(-len(ids) // 25) or len(pages) == -(-len(ids) // 25) + 1
    assert times(previews, "createdTime") == sorted(times(previews, "createdTime"))
    assert not any(p["isDrill"] for p in previews)


def test_get_incident_has_tasks_and_members(client: ia.IncidentClient) -> None:
    first = next(client.incidents.query("status:resolved", max_items=1))
    incident = client.incidents.get(first["incidentID"])
    assert incident["incidentID"] == first["incidentID"]
    assert incident["status"] == "resolved" and incident["closedTime"]
    assert isinstance(incident["taskList"]["tasks"], list)
    assert isinstance(incident["incidentMembership"]["assignments"], list)


def test_unknown_incident_is_not_found(client: ia.IncidentClient) -> None:
    with pytest.raises(ia.NotFoundError):
        client.incidents.get("987654321")


def test_activity_pages_in_time_order(client: ia.IncidentClient) -> None:
    first = next(client.incidents.query("status:resolved", max_items=1))
    items = list(client.activity.query(first["incidentID"], page_size=3))
    assert len(items) > 3
    assert len({i["activityItemID"] for i in items}) == len(items)
    assert {i["incidentID"] for i in items} == {first["incidentID"]}
    assert times(items, "eventTime") == sorted(times(items, "eventTime"))


def test_catalogues(client: ia.IncidentClient) -> None:
    assert {r["name"] for r in client.roles.list()} >= {"commander", "investigator"}
    severities = {s["displayLabel"].lower() for s in client.severities.list()}
    assert {"critical", "major", "minor"} <= severities
    assert isinstance(client.fields.label_keys(), dict)


def test_a_bad_query_string_is_a_bad_request(client: ia.IncidentClient) -> None:
    with pytest.raises(ia.BadRequestError):
        list(client.incidents.query("any(status:active status:resolved)"))


def test_fetch_replays_into_frames(client: ia.IncidentClient) -> None:
    data = ia.fetch(client, since="2026-09-01", until="2026-11-01", progress=False)
    assert len(data.incidents) > 0
    assert data.errors.empty
    assert data.incidents["created_time"].min() >= pd.Timestamp("2026-09-01", tz="UTC")
    assert set(data.activity["incident_id"]) <= set(data.incidents["incident_id"])
    assert set(data.tasks["incident_id"]) <= set(data.incidents["incident_id"])
    assert data.incidents["duration_seconds"].notna().any()


def test_a_rate_limited_read_is_retried(api_target: Target, client: ia.IncidentClient) -> None:
    if api_target.real_stack:
        pytest.skip("needs the emulator's fault injection to record")
    if api_target.emulator is not None:
        api_target.emulator.inject("429", method="RolesService.GetRoles", times=1, retry_after=2)
        api_target.emulator.inject("503", method="RolesService.GetRoles", times=1)
    sleep = SleepRecorder()
    with ia.IncidentClient(api_target.url, api_target.token, sleep=sleep) as retrying:
        assert retrying.roles.list()
    assert sleep.delays[0] == 2.0 and len(sleep.delays) == 2


async def test_async_client_replays_the_same(async_client: ia.AsyncIncidentClient) -> None:
    async with async_client as c:
        ids = [p["incidentID"] async for p in c.incidents.query("isdrill:false", page_size=25, max_items=60)]
        assert len(ids) == len(set(ids)) == 60
        incident = await c.incidents.get(ids[0])
        assert incident["incidentID"] == ids[0]
