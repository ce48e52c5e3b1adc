"""fetch against the emulator on loopback: completeness, selection, failures, the Parquet round trip."""

from __future__ import annotations

import datetime as dt
import importlib
import json
import queue
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest
from pandas.testing import assert_frame_equal

import incident_analytics as ia
from incident_analytics import frames
from incident_analytics.emulator import Emulator
from incident_analytics.fetch import fetch
from incident_analytics.store import IncidentData
from tests.fakes import ScriptedAPI, SleepRecorder, json_reply


@pytest.fixture
def client(emulator: Emulator) -> Iterator[ia.IncidentClient]:
    emulator.clear_faults()
    with ia.IncidentClient(emulator.url, emulator.token, sleep=SleepRecorder()) as c:
        yield c


def non_drill_ids(emu: Emulator) -> set[str]:
    return {i.incident_id for i in emu.state.incidents.values() if not i.is_drill}


def test_fetch_gets_every_incident_and_everything_attached(emulator: Emulator, client: ia.IncidentClient) -> None:
    data = fetch(client, progress=False)
    expected = non_drill_ids(emulator)
    assert set(data.incidents["incident_id"]) == expected
    assert data.incidents["incident_id"].is_unique
    state = [emulator.state.incidents[i] for i in expected]
    assert len(data.tasks) == sum(len(i.tasks) for i in state)
    assert len(data.activity) == sum(len(i.activity) for i in state)
    # Placeholder role slots are not assignments.
    assert len(data.assignments) == sum(1 for i in state for a in i.assignments if a.user_id and a.role_id)
    expected_labels = {(i.incident_id, lbl.key, lbl.text) for i in state for lbl in i.labels}
    assert set(data.labels[["incident_id", "key", "value"]].itertuples(index=False, name=None)) == expected_labels
    assert data.errors.empty
    # Full incident fields (only GetIncident has them) and preview-only fields are both filled.
    assert data.incidents["duration_seconds"].notna().all()
    assert data.incidents["slug"].notna().all()
    assert data.incidents["severity_id"].notna().all()


def test_fetch_frames_equal_the_builders_on_the_servers_own_records(
    emulator: Emulator, client: ia.IncidentClient
) -> None:
    data = fetch(client, include=("tasks",), progress=False)
    ids = sorted(non_drill_ids(emulator), key=int)
    records = [emulator.state.render_incident(i) for i in ids]
    expected = frames.tasks_frame(records)
    got = data.tasks
    key = ["incident_id", "task_id"]
    assert_frame_equal(got.sort_values(key).reset_index(drop=True), expected.sort_values(key).reset_index(drop=True))


def test_since_until_and_query_select_on_the_server_and_again_here(
    emulator: Emulator, client: ia.IncidentClient
) -> None:
    since, until = pd.Timestamp("2026-03-01", tz="UTC"), pd.Timestamp("2026-06-01", tz="UTC")
    data = fetch(client, since="2026-03-01", until="2026-06-01", query="severity:major", include=(), progress=False)
    assert len(data.incidents) > 0
    assert data.incidents["created_time"].between(since, until, inclusive="left").all()
    assert (data.incidents["severity"].str.lower() == "major").all()
    assert not data.incidents["is_drill"].any()
    expected = {
        i.incident_id
        for i in emulator.state.incidents.values()
        if not i.is_drill
        and since.value <= i.created_ns < until.value
        and emulator.state.severity_label(i).lower() == "major"
    }
    assert set(data.incidents["incident_id"]) == expected


def test_a_server_that_ignores_the_date_range_cannot_widen_the_result() -> None:
    previews = [
        {"incidentID": "1", "createdTime": "2025-12-31T23:59:59Z", "isDrill": False, "title": "too early"},
        {"incidentID": "2", "createdTime": "2026-01-01T00:00:00Z", "isDrill": False, "title": "first"},
        {
            "incidentID": "3",
            "createdTime": "2026-01-31T23:59:59.999999999Z",
            "isDrill": False,
            "title": "last",
        },
        {"incidentID": "4", "createdTime": "2026-02-01T00:00:00Z", "isDrill": False, "title": "too late"},
        {"incidentID": "5", "createdTime": "2026-01-15T00:00:00Z", "isDrill": True, "title": "a drill"},
    ]
    api = ScriptedAPI(json_reply({"incidentPreviews": previews, "cursor": {"hasMore": False}}))
    with ia.IncidentClient("https://s.grafana.net", "glsa_x_0123456789", transport=api.transport()) as c:
        data = fetch(c, since="2026-01-01", until="2026-02-01", include=(), progress=False)
    assert list(data.incidents["incident_id"]) == ["2", "3"]
    assert api.bodies[0]["query"]["queryString"] == "isdrill:false declared:2026-01-01T00:00:00Z,2026-02-01T00:00:00Z"


def test_include_skips_what_is_not_asked_for(emulator: Emulator, client: ia.IncidentClient) -> None:
    emulator.reset_requests()
    data = fetch(client, include=("labels",), progress=False)
    methods = {r.method for r in emulator.requests}
    assert methods == {"IncidentsService.QueryIncidentPreviews"}
    assert data.tasks.empty and data.activity.empty and data.assignments.empty
    assert not data.labels.empty
    assert list(data.tasks.columns) == list(frames.SCHEMAS["tasks"])


@pytest.mark.parametrize(
    ("kwargs", "error", "words"),
    [
        ({"include": ("tasks", "comments")}, ValueError, "comments"),
        ({"include": "tasks"}, TypeError, "not one string"),
        ({"concurrency": 0}, ValueError, "concurrency"),
        ({"since": "last tuesday"}, ValueError, "since"),
        ({"since": "2026-02-01", "until": "2026-01-01"}, ValueError, "before until"),
        ({"query": 5}, TypeError, "query"),
    ],
)
def test_bad_arguments_fail_before_any_request(kwargs: dict[str, object], error: type[Exception], words: str) -> None:
    api = ScriptedAPI()
    with (
        ia.IncidentClient("https://s.grafana.net", "glsa_x_0123456789", transport=api.transport()) as c,
        pytest.raises(error, match=words),
    ):
        fetch(c, progress=False, **kwargs)  # type: ignore[arg-type]
    assert api.requests == []


def test_one_failing_incident_does_not_lose_the_others(emulator: Emulator, client: ia.IncidentClient) -> None:
    victim = sorted(non_drill_ids(emulator), key=int)[3]
    emulator.inject("500", method="ActivityService.QueryActivity", incident_id=victim, times=None)
    try:
        data = fetch(client, progress=False)
    finally:
        emulator.clear_faults()
    assert data.incomplete == [victim]
    row = data.errors.iloc[0]
    assert row["method"] == "ActivityService.QueryActivity"
    assert row["error_type"] == "ServerError" and row["status_code"] == 500
    assert victim not in set(data.activity["incident_id"])
    others = non_drill_ids(emulator) - {victim}
    assert others <= set(data.activity["incident_id"])
    # The incident itself and its tasks are still there.
    assert victim in set(data.incidents["incident_id"]) and victim in set(data.tasks["incident_id"])


def test_strict_raises_the_failure_instead(emulator: Emulator, client: ia.IncidentClient) -> None:
    victim = sorted(non_drill_ids(emulator), key=int)[5]
    emulator.inject("500", method="IncidentsService.GetIncident", incident_id=victim, times=None)
    try:
        with pytest.raises(ia.ServerError, match="GetIncident"):
            fetch(client, strict=True, progress=False)
    finally:
        emulator.clear_faults()


def test_transient_faults_are_absorbed_by_retries(emulator: Emulator, client: ia.IncidentClient) -> None:
    emulator.inject("503", method="IncidentsService.GetIncident", times=3)
    emulator.inject("429", method="ActivityService.QueryActivity", times=2, retry_after=1)
    data = fetch(client, progress=False)
    assert data.errors.empty
    assert set(data.incidents["incident_id"]) == non_drill_ids(emulator)


def test_progress_bars_per_phase(
    emulator: Emulator, client: ia.IncidentClient, capsys: pytest.CaptureFixture[str]
) -> None:
    fetch(client, progress=True)
    err = capsys.readouterr().err
    for phase in ("incidents", "details", "activity"):
        assert phase in err


def test_parquet_round_trip_keeps_values_and_dtypes(tmp_path: Path, client: ia.IncidentClient) -> None:
    data = fetch(client, progress=False)
    data.to_parquet(tmp_path / "store")
    back = IncidentData.read_parquet(tmp_path / "store")
    for name in ("incidents", "tasks", "labels", "assignments", "activity", "errors"):
        assert_frame_equal(getattr(back, name), getattr(data, name))
    assert back.fetched_at == data.fetched_at
    assert back.selection == data.selection


def test_notebook_summary_names_counts_and_dates(client: ia.IncidentClient) -> None:
    data = fetch(client, progress=False)
    page = data._repr_html_()
    assert f"{len(data.incidents):,}" in page and "Fetched at" in page and "Declared" in page
    assert f"{len(data.incidents)} incidents" in repr(data)


def test_get_labels_is_asked_only_for_records_without_labels() -> None:
    previews = [
        {"incidentID": "1", "createdTime": "2026-01-02T00:00:00Z", "isDrill": False, "labels": []},
        {"incidentID": "2", "createdTime": "2026-01-03T00:00:00Z", "isDrill": False},  # no labels field at all
    ]
    key_value = {"key": "team", "keyUUID": "k", "value": "search", "valueUUID": "v", "description": "", "colorHex": ""}
    api = ScriptedAPI(
        json_reply({"incidentPreviews": previews, "cursor": {"hasMore": False}}),
        json_reply({"labels": [key_value]}),
    )
    with ia.IncidentClient("https://s.grafana.net", "glsa_x_0123456789", transport=api.transport()) as c:
        data = fetch(c, include=("labels",), progress=False)
    assert api.methods == ["IncidentsService.QueryIncidentPreviews", "IncidentsService.GetLabels"]
    assert api.bodies[1] == {"incidentID": "2"}
    assert data.labels[["incident_id", "key", "value"]].values.tolist() == [["2", "team", "search"]]


# --- malformed records: reported per incident, the rest kept (issue 6 item 7) -----------------------


class Corrupting(httpx.HTTPTransport):
    """Real HTTP to the emulator, except that ``change(request_body, response_body)`` edits the JSON
    answers of ``method`` first: a way to have the emulator's own data arrive with one bad field."""

    def __init__(self, method: str, change: Callable[[dict[str, Any], dict[str, Any]], None]) -> None:
        super().__init__()
        self.method = method
        self.change = change

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = super().handle_request(request)
        if not request.url.path.endswith(self.method) or response.status_code != 200:
            return response
        response.read()
        body = json.loads(response.content)
        self.change(json.loads(request.content), body)
        headers = [
            (k, v) for k, v in response.headers.items() if k.lower() not in {"content-encoding", "content-length"}
        ]
        return httpx.Response(200, headers=headers, content=json.dumps(body).encode())


def corrupt(
    emulator: Emulator, method: str, change: Callable[[dict[str, Any], dict[str, Any]], None]
) -> ia.IncidentClient:
    return ia.IncidentClient(emulator.url, emulator.token, transport=Corrupting(method, change), sleep=SleepRecorder())


@pytest.mark.parametrize("bad", [1767225600, "yesterday"], ids=["number", "word"])
def test_a_listed_incident_with_an_unreadable_created_time_is_reported_not_dropped(
    emulator: Emulator, bad: object
) -> None:
    victim = sorted(non_drill_ids(emulator), key=int)[2]

    def change(_request: dict[str, Any], body: dict[str, Any]) -> None:
        for preview in body["incidentPreviews"]:
            if preview["incidentID"] == victim:
                preview["createdTime"] = bad

    with corrupt(emulator, "QueryIncidentPreviews", change) as client:
        data = fetch(client, since="2000-01-01", include=(), progress=False)
        with pytest.raises(ia.ResponseFormatError, match=f"incidentID '{victim}'.*'createdTime'"):
            fetch(client, since="2000-01-01", include=(), progress=False, strict=True)
    assert set(data.incidents["incident_id"]) == non_drill_ids(emulator)
    assert data.incomplete == [victim]
    row = data.errors.iloc[0]
    assert (row["incident_id"], row["method"], row["field"]) == (
        victim,
        "IncidentsService.QueryIncidentPreviews",
        "createdTime",
    )
    assert row["error_type"] == "ResponseFormatError" and pd.isna(row["status_code"])
    assert ("must be a string" if isinstance(bad, int) else "not an RFC 3339 time") in row["message"]
    assert pd.isna(data.incidents.set_index("incident_id").loc[victim, "created_time"])


def test_a_wrong_typed_event_time_in_one_timeline_is_one_error_row(emulator: Emulator) -> None:
    victim = next(i for i in sorted(non_drill_ids(emulator), key=int) if len(emulator.state.incidents[i].activity) > 4)

    def change(request: dict[str, Any], body: dict[str, Any]) -> None:
        if request["query"]["incidentID"] == victim and not request.get("cursor"):
            body["activityItems"][3]["eventTime"] = 1767225600

    with corrupt(emulator, "QueryActivity", change) as client:
        data = fetch(client, progress=False)
        with pytest.raises(ia.ResponseFormatError, match="'eventTime' must be a string, got int 1767225600"):
            fetch(client, progress=False, strict=True)
    assert data.incomplete == [victim]
    assert data.errors[["incident_id", "method", "field"]].values.tolist() == [
        [victim, "ActivityService.QueryActivity", "activity[3].eventTime"]
    ]
    assert data.errors.loc[0, "message"] == "'activity[3].eventTime' must be a string, got int 1767225600"
    # Every call was made and every other item is there; the bad item keeps its row, without the time.
    state = [emulator.state.incidents[i] for i in non_drill_ids(emulator)]
    assert len(data.activity) == sum(len(i.activity) for i in state)
    rows = data.activity[data.activity["incident_id"] == victim]
    bad_id = emulator.state.incidents[victim].activity[3].item_id
    assert rows.set_index("activity_item_id")["event_time"].isna().to_dict() == {
        a.item_id: a.item_id == bad_id for a in emulator.state.incidents[victim].activity
    }


def test_a_malformed_task_in_get_incident_names_its_path(emulator: Emulator) -> None:
    victim = sorted(non_drill_ids(emulator), key=int)[1]

    def change(request: dict[str, Any], body: dict[str, Any]) -> None:
        if request["incidentID"] == victim:
            body["incident"]["taskList"]["tasks"][0]["status"] = ["done"]

    with corrupt(emulator, "GetIncident", change) as client:
        data = fetch(client, include=("tasks",), progress=False)
    assert data.incomplete == [victim]
    assert data.errors[["method", "field"]].values.tolist() == [
        ["IncidentsService.GetIncident", "taskList.tasks[0].status"]
    ]
    assert len(data.tasks) == sum(len(emulator.state.incidents[i].tasks) for i in non_drill_ids(emulator))


def test_a_listed_record_without_an_id_is_an_error_row_not_a_crash() -> None:
    previews = [
        {"incidentID": "1", "createdTime": "2026-01-02T00:00:00Z", "isDrill": False, "title": "fine"},
        {"createdTime": "2026-01-03T00:00:00Z", "isDrill": False, "title": "no ID"},
    ]
    api = ScriptedAPI(default=json_reply({"incidentPreviews": previews, "cursor": {"hasMore": False}}))
    with ia.IncidentClient("https://s.grafana.net", "glsa_x_0123456789", transport=api.transport()) as c:
        data = fetch(c, include=(), progress=False)
        with pytest.raises(ia.ResponseFormatError, match="without an incidentID"):
            fetch(c, include=(), progress=False, strict=True)
    assert data.incidents["incident_id"].tolist() == ["1"]
    assert data.errors[["method", "field"]].values.tolist() == [
        ["IncidentsService.QueryIncidentPreviews", "incidentID"]
    ]
    assert data.incomplete == []


# --- ambiguous inputs refused, accepted forms equal (issue 6 item 8) --------------------------------


@pytest.mark.parametrize(
    "since",
    [
        "2026-01-01",
        "2026-01-01T00:00:00Z",
        "2026-01-01T01:00:00+01:00",
        "2026-01-01 00:00:00",
        dt.date(2026, 1, 1),
        dt.datetime(2026, 1, 1),  # naive: UTC
        dt.datetime(2025, 12, 31, 19, tzinfo=dt.timezone(dt.timedelta(hours=-5))),
        pd.Timestamp("2026-01-01"),
        pd.Timestamp("2026-01-01 09:00", tz="Asia/Tokyo"),
    ],
    ids=repr,
)
def test_since_accepts_iso_strings_dates_datetimes_and_timestamps(since: object) -> None:
    api = ScriptedAPI(json_reply({"incidentPreviews": [], "cursor": {"hasMore": False}}))
    with ia.IncidentClient("https://s.grafana.net", "glsa_x_0123456789", transport=api.transport()) as c:
        data = fetch(c, since=since, include=(), progress=False)  # type: ignore[arg-type]
    assert api.bodies[0]["query"]["queryString"] == "isdrill:false declared:2026-01-01T00:00:00Z,"
    assert data.selection["since"] == "2026-01-01T00:00:00+00:00"


@pytest.mark.parametrize(
    ("kwargs", "error", "words"),
    [
        ({"since": 1767225600}, TypeError, r"since=1767225600 is a number.*ISO 8601"),
        ({"until": 1767225600.5}, TypeError, r"until=.* is a number.*datetime\.date"),
        ({"since": True}, TypeError, "since=True is a number"),
        ({"since": "01/02/2026"}, ValueError, r"since='01/02/2026' is not an ISO 8601.*'2026-01-01'"),
        ({"since": "yesterday"}, ValueError, "ISO 8601"),
        ({"since": "2026-02-30"}, ValueError, "not a valid date"),
        ({"since": ["2026-01-01"]}, TypeError, "is a list"),
        ({"include": None}, TypeError, r"include must be a collection.*got None"),
        ({"include": 3}, TypeError, "include must be a collection"),
        ({"include": ("tasks", None)}, TypeError, "part names"),
        ({"concurrency": True}, ValueError, "concurrency"),
        ({"concurrency": "8"}, ValueError, "concurrency"),
        ({"max_items": True}, ValueError, "max_items"),
        ({"max_items": 0}, ValueError, "max_items"),
        ({"max_items": 2.5}, ValueError, "max_items"),
        ({"strict": "yes"}, TypeError, "strict"),
        ({"progress": None}, TypeError, "progress"),
    ],
    ids=lambda value: repr(value) if isinstance(value, dict) else "",
)
def test_ambiguous_or_bad_arguments_fail_before_any_request(
    kwargs: dict[str, object], error: type[Exception], words: str
) -> None:
    api = ScriptedAPI()
    with (
        ia.IncidentClient("https://s.grafana.net", "glsa_x_0123456789", transport=api.transport()) as c,
        pytest.raises(error, match=words),
    ):
        fetch(c, **{"progress": False, **kwargs})  # type: ignore[arg-type]
    assert api.requests == []


def test_max_items_keeps_the_newest_incidents(emulator: Emulator, client: ia.IncidentClient) -> None:
    data = fetch(client, max_items=5, include=(), progress=False)
    everything = fetch(client, include=(), progress=False)
    newest = everything.incidents.nlargest(5, "created_time")
    assert set(data.incidents["incident_id"]) == set(newest["incident_id"])


def test_a_listed_incident_without_a_creation_time_is_outside_a_date_range() -> None:
    previews = [
        {"incidentID": "1", "createdTime": "2026-01-02T00:00:00Z", "isDrill": False},
        {"incidentID": "2", "createdTime": "", "isDrill": False},
        {"incidentID": "3", "createdTime": "0001-01-01T00:00:00Z", "isDrill": False},
        {"incidentID": "4", "isDrill": False},
    ]
    api = ScriptedAPI(json_reply({"incidentPreviews": previews, "cursor": {"hasMore": False}}))
    with ia.IncidentClient("https://s.grafana.net", "glsa_x_0123456789", transport=api.transport()) as c:
        data = fetch(c, since="2026-01-01", include=(), progress=False)
    assert data.incidents["incident_id"].tolist() == ["1"]
    assert data.errors.empty


def test_workers_wait_while_the_frame_builder_is_behind(
    emulator: Emulator, client: ia.IncidentClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every answer not yet turned into rows is decoded JSON in memory: with a slow frame builder
    the workers must stop at `UNREAD_ANSWERS` waiting answers, and nothing may be lost by it."""
    fetch_module = importlib.import_module("incident_analytics.fetch")  # the package's `fetch` is the function
    reference = fetch(client, progress=False)
    most_waiting: list[int] = []

    class CountingQueue(queue.SimpleQueue):  # type: ignore[type-arg]
        def put(self, item: Any, block: bool = True, timeout: float | None = None) -> None:
            super().put(item, block, timeout)
            if isinstance(item, tuple):  # an answer (the thread pool queues its work items too)
                most_waiting.append(self.qsize())

    slow_add = fetch_module.Collected.add

    def add(self: Any, kind: str, iid: str, answer: Any) -> None:
        time.sleep(0.002)  # a main thread starved of the GIL by busy workers
        slow_add(self, kind, iid, answer)

    monkeypatch.setattr(fetch_module.queue, "SimpleQueue", CountingQueue)
    monkeypatch.setattr(fetch_module.Collected, "add", add)
    monkeypatch.setattr(fetch_module, "UNREAD_ANSWERS", 3)
    data = fetch(client, concurrency=8, progress=False)
    assert max(most_waiting) <= 3
    # An open incident's duration is counted up to now, so it moved between the two fetches.
    assert_frame_equal(
        data.incidents.drop(columns="duration_seconds"), reference.incidents.drop(columns="duration_seconds")
    )
    for name in ("tasks", "labels", "assignments", "activity", "errors"):
        assert_frame_equal(getattr(data, name), getattr(reference, name))

    # Without the bound the same run lets answers pile up: the test can tell.
    most_waiting.clear()
    monkeypatch.setattr(fetch_module, "UNREAD_ANSWERS", 10_000)
    fetch(client, concurrency=8, progress=False)
    assert max(most_waiting) > 3


def test_a_strict_failure_while_answers_wait_raises_instead_of_hanging(
    emulator: Emulator, client: ia.IncidentClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Workers waiting for room in the unread answers are let go when the main thread gives up."""
    fetch_module = importlib.import_module("incident_analytics.fetch")
    victim = sorted(non_drill_ids(emulator), key=int)[-1]
    slow_add = fetch_module.Collected.add

    def add(self: Any, kind: str, iid: str, answer: Any) -> None:
        time.sleep(0.005)
        slow_add(self, kind, iid, answer)

    monkeypatch.setattr(fetch_module.Collected, "add", add)
    monkeypatch.setattr(fetch_module, "UNREAD_ANSWERS", 1)
    emulator.inject("500", method="IncidentsService.GetIncident", incident_id=victim, times=None)
    outcome: list[BaseException] = []

    def run() -> None:
        try:
            fetch(client, strict=True, concurrency=8, progress=False)
        except BaseException as exc:
            outcome.append(exc)

    worker = threading.Thread(target=run, daemon=True)
    try:
        worker.start()
        worker.join(timeout=60)
    finally:
        emulator.clear_faults()
    assert not worker.is_alive(), "fetch hung after a strict failure"
    assert len(outcome) == 1 and isinstance(outcome[0], ia.ServerError)
