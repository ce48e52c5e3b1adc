"""Fetch speed, frame-building speed and sync cost, as ratios against baselines measured in the same run.

Run:  python benchmarks/bench_fetch.py [--incidents 2000] [--latency 0.02] [--records 100000]

1. A naive client (sequential requests; ``pandas.json_normalize`` + explode) against ``ia.fetch``
   (8 threads), both fetching incidents with tasks, labels and activity from the emulator, which runs
   in its own process with ``--latency`` seconds added to every response. The round-trip floor is
   ``pages x latency + per-incident calls x latency / concurrency``.
2. Building the frames for ``--records`` synthetic ``Incident`` records: ``incident_analytics.frames``
   against a ``json_normalize``-based build, with peak memory (tracemalloc) for both.
3. ``ia.sync`` after 1% of the incidents changed, against the full fetch.
"""

from __future__ import annotations

import argparse
import collections
import json
import logging
import os
import re
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pandas as pd

import incident_analytics as ia
from incident_analytics import frames

TIME_COLUMNS = ["createdTime", "modifiedTime", "closedTime", "incidentStart", "incidentEnd"]


# --------------------------------------------------------------------------------------------------
# The emulator in its own process, so its request handling does not share a GIL with the client.


class EmulatorProcess:
    def __init__(self, incidents: int, latency: float, seed: int = 1) -> None:
        self.args = [
            sys.executable,
            "-m",
            "incident_analytics.cli",
            "emulator",
            "--port",
            "0",
            "--incidents",
            str(incidents),
            "--latency",
            str(latency),
            "--seed",
            str(seed),
        ]

    def __enter__(self) -> EmulatorProcess:
        self.proc = subprocess.Popen(self.args, stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None
        lines = []
        for line in self.proc.stdout:
            lines.append(line)
            if "GRAFANA_SERVICE_ACCOUNT_TOKEN=" in line:
                break
        text = "".join(lines)
        self.url = re.search(r"GRAFANA_URL=(\S+)", text).group(1)  # type: ignore[union-attr]
        self.token = re.search(r"GRAFANA_SERVICE_ACCOUNT_TOKEN=(\S+)", text).group(1)  # type: ignore[union-attr]
        return self

    def __exit__(self, *exc: object) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=10)


class CallCounter(logging.Handler):
    """Counts the client's one-DEBUG-line-per-request log, per RPC method."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.counts: collections.Counter[str] = collections.Counter()

    def emit(self, record: logging.LogRecord) -> None:
        if record.msg.startswith("POST %s"):
            self.counts[str(record.args[0])] += 1  # type: ignore[index]


# --------------------------------------------------------------------------------------------------
# The naive baseline: what one would hand-roll with httpx and json_normalize.


def naive_fetch(url: str, token: str) -> dict[str, pd.DataFrame]:
    base = url.rstrip("/") + "/api/plugins/grafana-irm-app/resources/api/v1/"
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    with httpx.Client(base_url=base, headers=headers, timeout=60) as http:

        def post(method: str, body: dict[str, Any]) -> dict[str, Any]:
            response = http.post(method, json=body)
            response.raise_for_status()
            return response.json()  # type: ignore[no-any-return]

        def pages(method: str, query: dict[str, Any], key: str) -> Iterator[dict[str, Any]]:
            body: dict[str, Any] = {"query": {**query, "limit": 100}}
            while True:
                page = post(method, body)
                yield from page[key]
                cursor = page.get("cursor") or {}
                if not cursor.get("hasMore") or not cursor.get("nextValue") or not page[key]:
                    return
                body["cursor"] = cursor

        previews = list(
            pages("IncidentsService.QueryIncidentPreviews", {"queryString": "isdrill:false"}, "incidentPreviews")
        )
        full, labels, activity = [], [], []
        for preview in previews:
            iid = preview["incidentID"]
            full.append(post("IncidentsService.GetIncident", {"incidentID": iid})["incident"])
            for label in post("IncidentsService.GetLabels", {"incidentID": iid})["labels"]:
                labels.append({"incidentID": iid, **label})
            activity.extend(
                pages(
                    "ActivityService.QueryActivity",
                    {"incidentID": iid, "orderDirection": "ASC"},
                    "activityItems",
                )
            )
    return normalize_build(full, labels, activity)


def _times(frame: pd.DataFrame, columns: list[str]) -> None:
    for column in columns:
        if column in frame:
            frame[column] = pd.to_datetime(frame[column].replace("", None), utc=True, format="ISO8601")


def normalize_build(
    incidents: list[dict[str, Any]],
    labels: list[dict[str, Any]] | None = None,
    activity: list[dict[str, Any]] | None = None,
) -> dict[str, pd.DataFrame]:
    """Frames the usual way: json_normalize the records, explode the nested lists, parse the times."""
    flat = pd.json_normalize(incidents, sep="_")
    _times(flat, TIME_COLUMNS)
    tasks = pd.json_normalize(incidents, record_path=["taskList", "tasks"], meta=["incidentID"], sep="_")
    _times(tasks, ["createdTime", "modifiedTime"])
    members = pd.json_normalize(
        incidents, record_path=["incidentMembership", "assignments"], meta=["incidentID"], sep="_"
    )
    if not members.empty:
        members = members[members["user_userID"] != ""]
    if labels is None:
        label_frame = pd.DataFrame(
            {
                "incidentID": [i["incidentID"] for i in incidents],
                "labels": [i.get("labels") for i in incidents],
            }
        )
        label_frame = label_frame.explode("labels").dropna(subset=["labels"])
        label_frame = pd.concat(
            [
                label_frame[["incidentID"]].reset_index(drop=True),
                pd.json_normalize(label_frame["labels"].tolist()),
            ],
            axis=1,
        )
    else:
        label_frame = pd.json_normalize(labels)
    out = {"incidents": flat, "tasks": tasks, "assignments": members, "labels": label_frame.drop_duplicates()}
    if activity is not None:
        act = pd.json_normalize(activity, sep="_")
        _times(act, ["createdTime", "eventTime"])
        out["activity"] = act
    return out


def ia_build(records: list[dict[str, Any]]) -> dict[str, pd.DataFrame]:
    return {
        "incidents": frames.incidents_frame(records),
        "tasks": frames.tasks_frame(records),
        "assignments": frames.assignments_frame(records),
        "labels": frames.labels_frame(records),
    }


# --------------------------------------------------------------------------------------------------


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    result = fn()
    return time.perf_counter() - started, result


def peak_memory(fn: Callable[[], Any]) -> tuple[float, float]:
    tracemalloc.start()
    started = time.perf_counter()
    fn()
    elapsed = time.perf_counter() - started
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return elapsed, peak / 2**20


def synthetic_records(source: list[dict[str, Any]], count: int) -> list[dict[str, Any]]:
    """``count`` Incident records cloned from real emulator records under new IDs."""
    out = []
    for n in range(count):
        record = json.loads(json.dumps(source[n % len(source)])) if n < len(source) else dict(source[n % len(source)])
        record["incidentID"] = str(n + 1)
        out.append(record)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--incidents", type=int, default=2000)
    parser.add_argument("--latency", type=float, default=0.02)
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--skip-naive", action="store_true", help="skip the slow sequential baseline")
    args = parser.parse_args()
    print(f"machine: {os.cpu_count()} cores, Python {sys.version.split()[0]}, pandas {pd.__version__}")

    counter = CallCounter()
    logger = logging.getLogger("incident_analytics")
    logger.setLevel(logging.DEBUG)
    logger.addHandler(counter)

    with EmulatorProcess(args.incidents, args.latency) as emu:
        print(
            f"\n1. fetch {args.incidents} seeded incidents (drills excluded) with tasks, labels, activity; "
            f"{args.latency * 1000:.0f} ms per response"
        )
        with ia.IncidentClient(emu.url, emu.token) as client:
            fetch_s, data = timed(lambda: ia.fetch(client, concurrency=args.concurrency, progress=False))
        calls = dict(counter.counts)
        pages = calls.get("IncidentsService.QueryIncidentPreviews", 0)
        per_incident = sum(n for m, n in calls.items() if m != "IncidentsService.QueryIncidentPreviews")
        floor = pages * args.latency + per_incident * args.latency / args.concurrency
        print(
            f"   ia.fetch: {fetch_s:.2f} s for {len(data.incidents)} incidents, {len(data.tasks)} tasks, "
            f"{len(data.labels)} labels, {len(data.activity)} activity items"
        )
        print(f"   calls: {calls}")
        print(
            f"   round-trip floor: {pages} pages x {args.latency}s + {per_incident} calls x {args.latency}s / "
            f"{args.concurrency} = {floor:.2f} s  ->  fetch / floor = {fetch_s / floor:.2f}  (target <= 1.5)"
        )
        if not args.skip_naive:
            naive_s, naive = timed(lambda: naive_fetch(emu.url, emu.token))
            assert len(naive["incidents"]) == len(data.incidents), (
                len(naive["incidents"]),
                len(data.incidents),
            )
            print(
                f"   naive sequential + json_normalize: {naive_s:.2f} s  ->  naive / fetch = "
                f"{naive_s / fetch_s:.1f}x  (target >= 10)"
            )

        print("\n3. sync after 1% of incidents changed")
        with tempfile.TemporaryDirectory() as store, ia.IncidentClient(emu.url, emu.token) as client:
            ia.sync(client, store, concurrency=args.concurrency, progress=False)
            changed = data.incidents["incident_id"].sample(frac=0.01, random_state=0).tolist()
            for iid in changed:
                client.incidents.add_label(iid, "bench-touched")
            sync_s, synced = timed(lambda: ia.sync(client, store, concurrency=args.concurrency, progress=False))
            assert (synced.labels["value"] == "bench-touched").sum() == len(changed)
        print(
            f"   {len(changed)} incidents changed; sync {sync_s:.2f} s vs full fetch {fetch_s:.2f} s  ->  "
            f"sync / fetch = {100 * sync_s / fetch_s:.1f}%  (target <= 5%)"
        )

        with ia.IncidentClient(emu.url, emu.token) as client:
            source = list(client.incidents.query_full("", page_size=100, max_items=2000))

    logger.removeHandler(counter)
    print(f"\n2. build frames for {args.records:,} synthetic Incident records (incidents, tasks, assignments, labels)")
    records = synthetic_records(source, args.records)
    ours_s, ours_mb = peak_memory(lambda: ia_build(records))
    base_s, base_mb = peak_memory(lambda: normalize_build(records))
    ours_s2, _ = timed(lambda: ia_build(records))
    base_s2, _ = timed(lambda: normalize_build(records))
    ours_best, base_best = min(ours_s, ours_s2), min(base_s, base_s2)
    print(f"   incident_analytics.frames: {ours_best:.2f} s, peak {ours_mb:.0f} MiB")
    print(f"   json_normalize + explode:  {base_best:.2f} s, peak {base_mb:.0f} MiB")
    print(f"   json_normalize / frames = {base_best / ours_best:.2f}x  (target >= 2)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
