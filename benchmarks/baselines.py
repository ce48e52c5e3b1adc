"""The baselines every benchmark row is set against: what a competent user writes without the toolkit.

Both fetch baselines make the same calls as ``ia.fetch`` with its defaults: the previews listing
(``isdrill:false``, 100 per page, newest first), then per incident ``GetIncident`` (tasks and
assignments) and ``QueryActivity`` (all pages). Previews already carry labels, so neither calls
``GetLabels`` (``ia.fetch`` does not either). The frames are built the usual way, with
``pandas.json_normalize``, exploding the nested lists and parsing the times.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pandas as pd

PATH = "/api/plugins/grafana-irm-app/resources/api/v1/"
TIME_COLUMNS = ["createdTime", "modifiedTime", "closedTime", "incidentStart", "incidentEnd"]


def _times(frame: pd.DataFrame, columns: list[str]) -> None:
    for column in columns:
        if column in frame:
            frame[column] = pd.to_datetime(frame[column].replace("", None), utc=True, format="ISO8601")


def normalize_build(
    incidents: list[dict[str, Any]], activity: list[dict[str, Any]] | None = None
) -> dict[str, pd.DataFrame]:
    """Frames with ``json_normalize``: incidents, tasks, assignments, labels (from the records), activity."""
    flat = pd.json_normalize(incidents, sep="_")
    _times(flat, TIME_COLUMNS)
    tasks = pd.json_normalize(incidents, record_path=["taskList", "tasks"], meta=["incidentID"], sep="_")
    _times(tasks, ["createdTime", "modifiedTime"])
    members = pd.json_normalize(
        incidents, record_path=["incidentMembership", "assignments"], meta=["incidentID"], sep="_"
    )
    if not members.empty:
        members = members[members["user_userID"] != ""]
    labels = pd.json_normalize(incidents, record_path=["labels"], meta=["incidentID"], sep="_")
    out = {"incidents": flat, "tasks": tasks, "assignments": members, "labels": labels}
    if activity is not None:
        act = pd.json_normalize(activity, sep="_")
        _times(act, ["createdTime", "eventTime"])
        out["activity"] = act
    return out


def _post(http: httpx.Client, method: str, body: dict[str, Any]) -> dict[str, Any]:
    response = http.post(method, json=body)
    response.raise_for_status()
    return response.json()  # type: ignore[no-any-return]


def _pages(http: httpx.Client, method: str, query: dict[str, Any], key: str) -> list[dict[str, Any]]:
    body: dict[str, Any] = {"query": {**query, "limit": 100}}
    out: list[dict[str, Any]] = []
    while True:
        page = _post(http, method, body)
        out.extend(page[key])
        cursor = page.get("cursor") or {}
        if not cursor.get("hasMore") or not cursor.get("nextValue") or not page[key]:
            return out
        body["cursor"] = cursor


def _previews(http: httpx.Client) -> list[dict[str, Any]]:
    query = {"queryString": "isdrill:false", "orderDirection": "DESC", "orderField": "createdTime"}
    return _pages(http, "IncidentsService.QueryIncidentPreviews", query, "incidentPreviews")


def _one(http: httpx.Client, iid: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    incident = _post(http, "IncidentsService.GetIncident", {"incidentID": iid})["incident"]
    query = {"incidentID": iid, "orderDirection": "ASC"}
    activity = _pages(http, "ActivityService.QueryActivity", query, "activityItems")
    return incident, activity


def sequential_fetch(url: str, token: str) -> dict[str, pd.DataFrame]:
    """(a) One request after another with one ``httpx.Client`` (keep-alive), same calls as ``ia.fetch``."""
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=url.rstrip("/") + PATH, headers=headers, timeout=60) as http:
        results = [_one(http, p["incidentID"]) for p in _previews(http)]
    return normalize_build([r[0] for r in results], [a for r in results for a in r[1]])


def threadpool_fetch(url: str, token: str, workers: int = 8, limit: int | None = None) -> dict[str, pd.DataFrame]:
    """(b) The 20-line script: list the previews, then ``ThreadPoolExecutor(workers)`` over the incidents,
    sharing one ``httpx.Client`` (its connection pool is thread-safe). ``limit``: the first incidents only."""
    headers = {"Authorization": f"Bearer {token}"}
    limits = httpx.Limits(max_connections=workers, max_keepalive_connections=workers)
    with httpx.Client(base_url=url.rstrip("/") + PATH, headers=headers, timeout=60, limits=limits) as http:
        ids = [p["incidentID"] for p in _previews(http)][:limit]
        with ThreadPoolExecutor(workers) as pool:
            results = list(pool.map(lambda iid: _one(http, iid), ids))
    return normalize_build([r[0] for r in results], [a for r in results for a in r[1]])
