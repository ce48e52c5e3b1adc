"""When a plan stands for the server's labels (no read before each incident's first write), and when not."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

import incident_analytics as ia
from incident_analytics.bulk import LabelPlan, apply_label_changes, plan_label_changes, snapshot
from incident_analytics.emulator import Emulator
from incident_analytics.frames import labels_frame

from .bulk_helpers import WRITE_METHODS, expected_after, server_labels, successful_writes


@pytest.fixture
def emu() -> Iterator[Emulator]:
    with Emulator(seed=3, incidents=40) as emulator:
        yield emulator


@pytest.fixture
def client(emu: Emulator) -> Iterator[ia.IncidentClient]:
    with ia.IncidentClient(emu.url, emu.token) as c:
        yield c


def _desired(*rows: tuple[str, str, str]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["incident_id", "key", "value"])


def _methods(emu: Emulator) -> list[str]:
    return [r.method.rsplit(".", 1)[1] for r in emu.requests]


def _plan(emu: Emulator, client: ia.IncidentClient) -> LabelPlan:
    """Free-form and keyed adds and removes on incidents 3-6 (concatenated from two plans)."""
    removes = []
    for iid in ("3", "4", "5", "6"):
        removes += [(iid, key, value) for key, value in server_labels(emu, iid)[:1]]
    adds = plan_label_changes(
        _desired(*[(iid, "tags", f"snap-{iid}") for iid in ("3", "4", "5", "6")], ("4", "cause", "capacity")),
        client=client,
    )
    gone = plan_label_changes(_desired(*removes), client=client, mode="remove")
    return LabelPlan(pd.concat([adds, gone], ignore_index=True))


def test_a_fresh_plan_is_applied_without_reading_each_incident(emu: Emulator, client: ia.IncidentClient) -> None:
    plan = _plan(emu, client)
    assert plan.attrs["labels_read"]["source"] == "server", "the concatenated plan keeps its reads"
    before = {iid: server_labels(emu, iid) for iid in emu.state.incidents}
    emu.reset_requests()
    result = apply_label_changes(client, plan, progress=False)
    assert "GetIncident" not in _methods(emu)
    changes = plan[plan["action"] != "skip"]
    assert len(_methods(emu)) == len(changes), "one write per change, nothing else"
    assert set(result.loc[result["action"] != "skip", "status"]) == {"applied"}
    want = expected_after(before, plan)
    for iid in emu.state.incidents:
        assert sorted(server_labels(emu, iid)) == sorted(want[iid])
    writes = successful_writes(emu)
    assert all(writes[(r.incident_id, r.key, r.value, r.action)] == 1 for r in changes.itertuples())


def test_reapplying_a_fresh_plan_reads_and_says_nothing_changed(emu: Emulator, client: ia.IncidentClient) -> None:
    plan = _plan(emu, client)
    apply_label_changes(client, plan, progress=False)
    emu.reset_requests()
    again = apply_label_changes(client, plan, progress=False)
    assert not [r for r in emu.requests if r.method in WRITE_METHODS]
    assert set(again["status"]) == {"skipped"}
    assert again.loc[again["action"] != "skip", "reason"].str.match(r"already (present|absent) on the server").all()
    # a copy made from the applied plan is spent too
    emu.reset_requests()
    copy = apply_label_changes(client, plan.copy(), progress=False)
    assert set(copy["status"]) == {"skipped"} and not [r for r in emu.requests if r.method in WRITE_METHODS]


Case = tuple[pd.DataFrame, dict[str, Any]]
"""A plan to apply and the options to apply it with."""


def _older(plan: pd.DataFrame, client: ia.IncidentClient, tmp: Path) -> Case:
    return plan, {"trust_plan_for": 0}


def _edited(plan: pd.DataFrame, client: ia.IncidentClient, tmp: Path) -> Case:
    edited = plan.copy()
    row = edited.index[edited["key"] == "tags"][0]
    edited.loc[row, "value"] = "hand-edited"
    return edited, {}


def _filtered(plan: pd.DataFrame, client: ia.IncidentClient, tmp: Path) -> Case:
    return plan.iloc[1:], {}


def _row_added(plan: pd.DataFrame, client: ia.IncidentClient, tmp: Path) -> Case:
    grown = plan.copy()
    grown.loc[len(grown) + 100] = ["7", "tags", "added-by-hand", "add", ""]
    return grown, {}


def _from_file(plan: pd.DataFrame, client: ia.IncidentClient, tmp: Path) -> Case:
    path = tmp / "plan.json"
    plan.to_json(path, orient="records")
    return pd.read_json(path, orient="records", dtype=False), {}


def _another_process(plan: pd.DataFrame, client: ia.IncidentClient, tmp: Path) -> Case:
    moved = plan.copy()
    moved.attrs = json.loads(json.dumps(plan.attrs))  # as a parquet file would carry them
    moved.attrs["labels_read"]["process"] = "another-process"
    return moved, {}


def _another_server(plan: pd.DataFrame, client: ia.IncidentClient, tmp: Path) -> Case:
    moved = plan.copy()
    moved.attrs["labels_read"] = {**plan.attrs["labels_read"], "server": "https://other.grafana.net/api/"}
    return moved, {}


def _journal(plan: pd.DataFrame, client: ia.IncidentClient, tmp: Path) -> Case:
    path = tmp / "earlier.jsonl"
    first = plan[plan["action"] != "skip"].iloc[0]
    entry = {"incident_id": first["incident_id"], "key": first["key"], "value": first["value"],
             "action": first["action"], "status": "failed", "attempts": 1, "error": "dropped", "at": ""}
    path.write_text(json.dumps(entry) + "\n")
    return plan, {"journal": path}


def _from_a_labels_frame(plan: pd.DataFrame, client: ia.IncidentClient, tmp: Path) -> Case:
    records = [client.incidents.get(iid) for iid in ("3", "4", "5", "6")]
    labels = labels_frame(records)
    desired = pd.DataFrame(plan.loc[plan["action"] == "add", ["incident_id", "key", "value"]])
    return plan_label_changes(desired, current=labels), {}


CASES: dict[str, Callable[[pd.DataFrame, ia.IncidentClient, Path], Case]] = {
    "older than trust_plan_for": _older,
    "a row edited": _edited,
    "rows filtered out": _filtered,
    "a row added": _row_added,
    "loaded from a file": _from_file,
    "made in another process": _another_process,
    "made from another server": _another_server,
    "a journal of an earlier run": _journal,
    "made from a labels frame": _from_a_labels_frame,
}


@pytest.mark.parametrize("case", list(CASES))
def test_a_plan_that_cannot_stand_for_the_server_is_read_first(
    emu: Emulator, client: ia.IncidentClient, tmp_path: Path, case: str, caplog: pytest.LogCaptureFixture
) -> None:
    plan, options = CASES[case](_plan(emu, client), client, tmp_path)
    pending = plan[plan["action"] != "skip"]
    emu.reset_requests()
    with caplog.at_level("INFO", logger="incident_analytics"):
        result = apply_label_changes(client, plan, progress=False, **options)
    methods = _methods(emu)
    incidents = set(pending["incident_id"].astype(str))  # (a journal's failed entry is not done)
    assert methods.count("GetIncident") == len(incidents), methods
    # each incident is read before its first write
    seen: set[str] = set()
    for record in emu.requests:
        iid = record.body["incidentID"]
        if record.method.endswith("GetIncident"):
            seen.add(iid)
        else:
            assert iid in seen, f"incident {iid} written before it was read"
    assert "read before its first write" in caplog.text
    assert set(result["status"]) <= {"applied", "skipped"}


def _without_cause(emu: Emulator, n: int) -> list[str]:
    return [iid for iid in sorted(emu.state.incidents, key=int)
            if not any(key == "cause" for key, _ in server_labels(emu, iid))][:n]


def _two_by_two(client: ia.IncidentClient, tagged: str, keyed: str) -> LabelPlan:
    tags = plan_label_changes(_desired((tagged, "tags", "a-first"), (tagged, "tags", "b-second")), client=client)
    causes = plan_label_changes(_desired((keyed, "cause", "capacity"), (keyed, "cause", "config")), client=client)
    plan = LabelPlan(pd.concat([tags, causes], ignore_index=True))
    assert (plan["action"] == "add").all() and plan.attrs["labels_read"]["source"] == "server"
    return plan


def _someone_adds(emu: Emulator, tagged: str, keyed: str) -> None:
    with ia.IncidentClient(emu.url, emu.token) as someone:  # between the plan and the apply
        someone.incidents.add_label(tagged, "b-second")
        someone.incidents.assign_label(keyed, "cause", "config")


@pytest.mark.parametrize("trust_plan_for", [60.0, 0.0], ids=["fresh-plan", "read-first"])
def test_a_label_someone_else_added_since_the_plan_is_skipped_not_sent(
    emu: Emulator, client: ia.IncidentClient, trust_plan_for: float
) -> None:
    tagged, keyed = _without_cause(emu, 2)
    plan = _two_by_two(client, tagged, keyed)
    _someone_adds(emu, tagged, keyed)
    emu.reset_requests()
    result = apply_label_changes(client, plan, progress=False, trust_plan_for=trust_plan_for).set_index("value")
    methods = _methods(emu)
    # Read first, or (a fresh plan) the first write's answer shows what the other user added.
    assert methods.count("GetIncident") == (0 if trust_plan_for else 2)
    assert methods.count("AddLabel") == 1 and methods.count("AssignLabel") == 1
    for value in ("b-second", "config"):
        assert result.loc[value, "status"] == "skipped"
        assert result.loc[value, "reason"] == "already present on the server"
    assert result.loc["a-first", "status"] == "applied" and result.loc["capacity", "status"] == "applied"
    assert server_labels(emu, tagged).count(("tags", "b-second")) == 1
    assert server_labels(emu, keyed).count(("cause", "config")) == 1


def test_the_incidents_with_most_changes_start_first(emu: Emulator, client: ia.IncidentClient) -> None:
    sizes = {"13": 1, "14": 4, "15": 2, "16": 3}
    desired = _desired(*[(iid, "tags", f"size-{j}") for iid, n in sizes.items() for j in range(n)])
    plan = plan_label_changes(desired, client=client)
    emu.reset_requests()
    apply_label_changes(client, plan, concurrency=1, progress=False)
    order = list(dict.fromkeys(r.body["incidentID"] for r in emu.requests))
    assert order == ["14", "16", "15", "13"]


def test_the_read_a_plan_records_and_how_concatenation_merges_it(client: ia.IncidentClient) -> None:
    first = plan_label_changes(_desired(("1", "tags", "x")), client=client)
    second = plan_label_changes(_desired(("2", "tags", "y")), client=client)
    a, b = first.attrs["labels_read"], second.attrs["labels_read"]
    assert a["source"] == "server" and a["server"] == client.base_url and a["rows"] == 1
    both = pd.concat([second, first], ignore_index=True)
    merged = both.attrs["labels_read"]
    assert merged["read_at"] == min(a["read_at"], b["read_at"]) and merged["rows"] == 2
    assert merged["digest"] == snapshot.digest([{c: str(v) for c, v in r.items()} for r in
                                                both[["incident_id", "key", "value", "action"]].to_dict("records")])
    plain = pd.DataFrame({"incident_id": ["3"], "key": ["tags"], "value": ["z"], "action": ["add"], "reason": [""]})
    assert "labels_read" not in pd.concat([first, plain], ignore_index=True).attrs
    elsewhere = second.copy()
    elsewhere.attrs["labels_read"] = {**b, "server": "https://other.grafana.net/api/"}
    assert "labels_read" not in pd.concat([first, elsewhere], ignore_index=True).attrs


def test_trust_plan_for_is_checked(client: ia.IncidentClient) -> None:
    plan = plan_label_changes(_desired(("1", "tags", "c")), current=_desired(("1", "tags", "d")))
    for bad in (-1, "60", True, float("nan")):
        with pytest.raises(ValueError, match="trust_plan_for"):
            apply_label_changes(client, plan, trust_plan_for=bad)  # type: ignore[arg-type]


def test_reads_run_ahead_of_the_workers_and_each_incident_is_read_once_before_its_writes(
    emu: Emulator, client: ia.IncidentClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    from incident_analytics.bulk import apply as apply_module

    readers: list[tuple[str, str]] = []
    real = apply_module.read_labels

    def recording(client: Any, incident_id: str) -> Any:
        readers.append((incident_id, threading.current_thread().name))
        return real(client, incident_id)

    monkeypatch.setattr(apply_module, "read_labels", recording)
    ids = [str(i) for i in range(20, 32)]
    plan = plan_label_changes(_desired(*[(iid, "tags", f"ahead-{j}") for iid in ids for j in range(3)]), client=client)
    emu.latency = 0.01
    emu.reset_requests()
    result = apply_label_changes(client, plan, concurrency=4, progress=False, trust_plan_for=0.0)
    assert set(result["status"]) == {"applied"}
    assert sorted(iid for iid, _ in readers) == sorted(ids), "each incident read exactly once"
    assert any(name.startswith("ia-bulk-read") for _, name in readers), "some reads ran ahead"
    seen: set[str] = set()
    for record in emu.requests:
        iid = record.body["incidentID"]
        if record.method.endswith("GetIncident"):
            seen.add(iid)
        else:
            assert iid in seen, f"incident {iid} written before it was read"
    for iid in ids:
        assert server_labels(emu, iid).count(("tags", "ahead-0")) == 1
