"""Bulk label changes against the emulator: plan, validation, dry run, apply, journal, hygiene."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest

import incident_analytics as ia
from incident_analytics.bulk import (
    LabelPlan,
    LabelResult,
    apply_label_changes,
    find_label_duplicates,
    merge_plan,
    plan_label_changes,
)
from incident_analytics.emulator import Emulator

from .bulk_helpers import WRITE_METHODS, expected_after, server_labels, successful_writes

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def emu() -> Iterator[Emulator]:
    with Emulator(seed=3, incidents=60) as emulator:
        yield emulator


@pytest.fixture
def client(emu: Emulator) -> Iterator[ia.IncidentClient]:
    with ia.IncidentClient(emu.url, emu.token) as c:
        yield c


def _writes(emu: Emulator) -> list[Any]:
    return [r for r in emu.requests if r.method in WRITE_METHODS]


def _desired(*rows: tuple[str, str, str]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["incident_id", "key", "value"])


def test_labels_read_for_apply_match_the_labels_frame(client: ia.IncidentClient) -> None:
    from incident_analytics.bulk.current import labels_of
    from incident_analytics.frames import labels_frame

    for iid in ("1", "2", "3", "4"):
        record = client.incidents.get(iid)
        frame = labels_frame([record])
        assert labels_of(record) == set(zip(frame["key"], frame["value"], strict=True))


# -- planning ---------------------------------------------------------------------------------------


def test_plan_add_marks_present_labels_as_skip_and_sends_nothing(emu: Emulator, client: ia.IncidentClient) -> None:
    have = server_labels(emu, "1")
    key, value = have[0]
    emu.reset_requests()
    plan = plan_label_changes(_desired(("1", key, value), ("1", "tags", "brand-new"), ("2", "team", "search")),
                              client=client)
    assert isinstance(plan, LabelPlan)
    assert list(plan.columns) == ["incident_id", "key", "value", "action", "reason"]
    rows = {(r.incident_id, r.key, r.value): (r.action, r.reason) for r in plan.itertuples()}
    assert rows[("1", key, value)] == ("skip", "already present")
    assert rows[("1", "tags", "brand-new")] == ("add", "missing")
    expected = "skip" if ("team", "search") in server_labels(emu, "2") else "add"
    assert rows[("2", "team", "search")][0] == expected
    assert not _writes(emu), "planning must not write"


def test_plan_from_a_labels_frame_and_a_labels_column_of_lists() -> None:
    current = pd.DataFrame({"incident_id": ["5", "5"], "key": ["team", "tags"], "value": ["payments", "security"]})
    desired = pd.DataFrame({"incident_id": ["5"], "labels": [["team:platform", "security", "network"]]})
    plan = plan_label_changes(desired, current=current)
    got = {(r.key, r.value, r.action) for r in plan.itertuples()}
    assert got == {("team", "platform", "add"), ("tags", "security", "skip"), ("tags", "network", "add")}


def test_plan_remove_mode() -> None:
    current = pd.DataFrame({"incident_id": ["5"], "key": ["tags"], "value": ["security"]})
    plan = plan_label_changes(_desired(("5", "tags", "security"), ("5", "tags", "network")), current=current,
                              mode="remove")
    got = {(r.value, r.action, r.reason) for r in plan.itertuples()}
    assert got == {("security", "remove", "present"), ("network", "skip", "already absent")}


def test_plan_replace_removes_only_for_the_keys_named() -> None:
    current = pd.DataFrame(
        {
            "incident_id": ["5", "5", "5", "6"],
            "key": ["team", "team", "region", "team"],
            "value": ["payments", "search", "eu-west", "search"],
        }
    )
    plan = plan_label_changes(_desired(("5", "team", "platform"), ("5", "team", "search")), current=current,
                              mode="replace")
    got = {(r.incident_id, r.key, r.value, r.action) for r in plan.itertuples()}
    assert got == {
        ("5", "team", "platform", "add"),
        ("5", "team", "search", "skip"),
        ("5", "team", "payments", "remove"),
    }  # region (another key) and incident 6 (not in desired) are left alone
    assert list(plan["action"]) == ["add", "remove", "skip"], "adds come before removes"


def test_plan_knows_incidents_without_labels_from_incident_data(emu: Emulator, client: ia.IncidentClient) -> None:
    for key, value in server_labels(emu, "1"):  # incident 1 loses every label
        if key == "tags":
            client.incidents.remove_label("1", value)
        else:
            client.incidents.unassign_label("1", key, value)
    data = ia.fetch(client, include=("labels",), include_drills=True, progress=False)
    assert "1" not in set(data.labels["incident_id"])
    plan = plan_label_changes(_desired(("1", "tags", "x-new")), current=data)
    assert plan["action"].tolist() == ["add"]
    with pytest.raises(ValueError, match="unknown incident 1"):
        plan_label_changes(_desired(("1", "tags", "x-new")), current=data.labels)


@pytest.mark.parametrize(
    ("desired", "message"),
    [
        (pd.DataFrame({"incident_id": ["1"], "key": ["tags"]}), "missing column(s) value"),
        (pd.DataFrame({"key": ["tags"], "value": ["x"]}), "missing column(s) incident_id"),
        (pd.DataFrame({"incident_id": ["1", None, ""], "value": ["a", "b", "c"]}, index=[10, 11, 12]),
         "incident_id is missing, empty or not a string/integer: rows 11, 12"),
        (pd.DataFrame({"incident_id": ["1", float("nan")], "value": ["a", "b"]}), "not a string/integer: row 1"),
        (pd.DataFrame({"incident_id": ["1", "1", "2"], "value": ["a", "a", "b"]}),
         "duplicate label tags:'a' on incident 1: rows 0, 1"),
        (pd.DataFrame({"incident_id": ["1", "2"], "value": ["a", 7]}), "value must be a string, got int: row 1"),
        (pd.DataFrame({"incident_id": ["1", "2"], "key": ["team", 3], "value": ["a", "b"]}), "key must be"),
        (pd.DataFrame({"incident_id": ["1"], "value": ["  "]}), "value is empty: row 0"),
        (pd.DataFrame({"incident_id": ["1"], "labels": ["security"]}), "labels must be a list"),
    ],
)
def test_bad_input_raises_value_error_naming_rows_before_any_request(
    emu: Emulator, client: ia.IncidentClient, desired: pd.DataFrame, message: str
) -> None:
    emu.reset_requests()
    with pytest.raises(ValueError) as caught:
        plan_label_changes(desired, client=client)
    assert message in str(caught.value)
    assert emu.requests == [], "nothing may be sent for bad input"


def test_unknown_incidents_are_named_by_row(emu: Emulator, client: ia.IncidentClient) -> None:
    with pytest.raises(ValueError, match=r"unknown incident 99999 \(not found on the server\): row 1"):
        plan_label_changes(_desired(("1", "tags", "a"), ("99999", "tags", "b")), client=client)
    assert not _writes(emu)
    current = pd.DataFrame({"incident_id": ["1"], "key": ["tags"], "value": ["a"]})
    with pytest.raises(ValueError, match=r"unknown incident 7 \(not found in current\): row 1"):
        plan_label_changes(_desired(("1", "tags", "a"), ("7", "tags", "b")), current=current)


def test_plan_needs_current_or_client_and_a_known_mode() -> None:
    with pytest.raises(ValueError, match="current="):
        plan_label_changes(_desired(("1", "tags", "a")))
    with pytest.raises(ValueError, match="mode must be one of"):
        plan_label_changes(_desired(("1", "tags", "a")), current=_desired(("1", "tags", "a")),
                           mode="merge")  # type: ignore[arg-type]


def test_a_bad_plan_row_is_refused_before_any_request(emu: Emulator, client: ia.IncidentClient) -> None:
    plan = pd.DataFrame({"incident_id": ["1", "2"], "key": ["tags", "tags"], "value": ["a", "b"],
                         "action": ["add", "delete"], "reason": ["", ""]})
    emu.reset_requests()
    with pytest.raises(ValueError, match="action must be one of add, remove, skip: row 1"):
        apply_label_changes(client, plan, progress=False)
    assert emu.requests == []


# -- applying ---------------------------------------------------------------------------------------


def _mixed_plan(emu: Emulator, client: ia.IncidentClient) -> LabelPlan:
    tag_on_3 = next(v for k, v in server_labels(emu, "3") if k == "tags")
    keyed_on_4 = next((k, v) for k, v in server_labels(emu, "4") if k != "tags")
    adds = plan_label_changes(_desired(("3", "tags", "bulk-added"), ("4", "cause", "capacity")), client=client)
    removes = plan_label_changes(_desired(("3", "tags", tag_on_3), ("4", *keyed_on_4)), client=client,
                                 mode="remove")
    return LabelPlan(pd.concat([adds, removes], ignore_index=True))


def test_apply_uses_the_right_method_per_label_kind_and_reaches_the_plan(
    emu: Emulator, client: ia.IncidentClient
) -> None:
    plan = _mixed_plan(emu, client)
    before = {iid: server_labels(emu, iid) for iid in ("3", "4")}
    emu.reset_requests()
    result = apply_label_changes(client, plan, progress=False)
    assert isinstance(result, LabelResult)
    assert list(result.columns) == ["incident_id", "key", "value", "action", "reason", "status", "error", "attempts"]
    sent = {(r.method, r.body["incidentID"]) for r in _writes(emu)}
    methods = {m for m, _ in sent}
    changes = plan[plan["action"] != "skip"]
    expect = set()
    for row in changes.itertuples():
        kind = ("AddLabel" if row.action == "add" else "RemoveLabel") if row.key == "tags" else (
            "AssignLabel" if row.action == "add" else "UnassignLabel")
        expect.add(f"IncidentsService.{kind}")
    assert methods == expect
    assert set(result.loc[result["action"] != "skip", "status"]) == {"applied"}
    assert result.loc[result["action"] != "skip", "attempts"].eq(1).all()
    assert result["error"].isna().all()
    want = expected_after(before, plan)
    for iid in ("3", "4"):
        assert sorted(server_labels(emu, iid)) == sorted(want[iid])


def test_dry_run_sends_nothing_and_returns_what_would_be_sent(emu: Emulator, client: ia.IncidentClient) -> None:
    plan = plan_label_changes(_desired(("3", "tags", "dry"), ("4", "cause", "config")), client=client)
    emu.reset_requests()
    result = apply_label_changes(client, plan, dry_run=True, progress=False)
    assert emu.requests == []
    sent = result[result["status"] == "dry_run"]
    methods = dict(zip(sent["value"], sent["method"], strict=True))
    assert methods.get("dry") == "IncidentsService.AddLabel"
    assert sent.set_index("value").loc["dry", "request"] == {
        "incidentID": "3", "label": {"label": "dry", "description": "", "colorHex": ""}
    }
    if "config" in methods:
        assert methods["config"] == "IncidentsService.AssignLabel"
    assert ("tags", "dry") not in server_labels(emu, "3")


def test_reapplying_an_applied_plan_changes_nothing_and_says_so(
    emu: Emulator, client: ia.IncidentClient, caplog: pytest.LogCaptureFixture
) -> None:
    plan = _mixed_plan(emu, client)
    apply_label_changes(client, plan, progress=False)
    after = {iid: server_labels(emu, iid) for iid in ("3", "4")}
    emu.reset_requests()
    with caplog.at_level("INFO", logger="incident_analytics"):
        again = apply_label_changes(client, plan, progress=False)
    assert not _writes(emu), "an applied plan must not be sent again"
    assert set(again["status"]) == {"skipped"}
    changed = again[again["action"] != "skip"]
    assert changed["reason"].str.match(r"already (present|absent) on the server").all()
    assert "nothing to change" in caplog.text
    assert {iid: server_labels(emu, iid) for iid in ("3", "4")} == after


def test_failures_are_listed_row_by_row_and_the_rest_still_runs(emu: Emulator, client: ia.IncidentClient) -> None:
    plan = plan_label_changes(_desired(("5", "tags", "ok-label"), ("6", "team", "no-such-team")), client=client)
    result = apply_label_changes(client, plan, progress=False).set_index("value")
    assert result.loc["ok-label", "status"] == "applied"
    assert result.loc["no-such-team", "status"] == "failed"
    assert "no-such-team" in result.loc["no-such-team", "error"]
    assert result.loc["no-such-team", "attempts"] == 1
    assert emu.token not in result.to_string()


# A fresh plan is its own read of the server (no read before the first write); with
# trust_plan_for=0 (as for a plan loaded from a file) the incident is read first. Either way an
# uncertain write is checked by a read before it is retried.
FRESH_OR_READ = pytest.mark.parametrize(
    ("trust_plan_for", "first"), [(60.0, []), (0.0, ["GetIncident"])], ids=["fresh-plan", "read-first"]
)


@FRESH_OR_READ
def test_a_dropped_add_label_is_checked_before_the_retry(
    emu: Emulator, client: ia.IncidentClient, trust_plan_for: float, first: list[str]
) -> None:
    emu.inject("drop", method="IncidentsService.AddLabel", incident_id="7", times=1)
    plan = plan_label_changes(_desired(("7", "tags", "after-drop")), client=client)
    emu.reset_requests()
    result = apply_label_changes(client, plan, progress=False, trust_plan_for=trust_plan_for)
    assert result["status"].tolist() == ["applied"] and result["attempts"].tolist() == [2]
    methods = [r.method.rsplit(".", 1)[1] for r in emu.requests]
    # AddLabel dropped (outcome unknown), read to check, AddLabel again
    assert methods == [*first, "AddLabel", "GetIncident", "AddLabel"]
    assert server_labels(emu, "7").count(("tags", "after-drop")) == 1


class _LoseResponse(httpx.HTTPTransport):
    """The server gets and applies the request; the client loses the answer (a reset after sending)."""

    def __init__(self, method: str, times: int) -> None:
        super().__init__()
        self.method, self.times = method, times

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = super().handle_request(request)
        if request.url.path.endswith(self.method) and self.times > 0:
            self.times -= 1
            response.read()
            response.close()
            raise httpx.ReadError("connection reset after the request was sent", request=request)
        return response


@FRESH_OR_READ
def test_an_add_label_applied_but_unanswered_is_not_doubled(
    emu: Emulator, trust_plan_for: float, first: list[str]
) -> None:
    with ia.IncidentClient(emu.url, emu.token, transport=_LoseResponse("AddLabel", times=1)) as lossy:
        with pytest.raises(ia.OutcomeUnknownError):  # what the client alone says
            lossy.incidents.add_label("8", "probe")
        lossy.incidents.remove_label("8", "probe")
        plan = plan_label_changes(_desired(("8", "tags", "lost-answer")), client=lossy)
        lossy_transport = _LoseResponse("AddLabel", times=1)
    with ia.IncidentClient(emu.url, emu.token, transport=lossy_transport) as lossy:
        emu.reset_requests()
        result = apply_label_changes(lossy, plan, progress=False, trust_plan_for=trust_plan_for)
    assert result["status"].tolist() == ["applied"]
    assert [r.method.rsplit(".", 1)[1] for r in emu.requests] == [*first, "AddLabel", "GetIncident"]
    assert server_labels(emu, "8").count(("tags", "lost-answer")) == 1
    assert successful_writes(emu)[("8", "tags", "lost-answer", "add")] == 1


def test_an_invalid_token_stops_the_run(emu: Emulator) -> None:
    plan = pd.DataFrame({"incident_id": ["1", "2", "3"], "key": "tags", "value": "x", "action": "add", "reason": ""})
    with ia.IncidentClient(emu.url, "glsa_wrong", max_retries=0) as bad:
        result = apply_label_changes(bad, plan, concurrency=1, progress=False)
    assert set(result["status"]) == {"failed"}
    assert result["error"].str.contains("401|not sent", regex=True).all()
    assert "glsa_wrong" not in result.to_string()


def test_apply_checks_concurrency(client: ia.IncidentClient) -> None:
    plan = plan_label_changes(_desired(("1", "tags", "c")), current=_desired(("1", "tags", "d")))
    with pytest.raises(ValueError, match="concurrency"):
        apply_label_changes(client, plan, concurrency=0)


async def test_the_async_client_is_refused_with_a_clear_error(emu: Emulator) -> None:
    plan = plan_label_changes(_desired(("1", "tags", "c")), current=_desired(("1", "tags", "d")))
    async with ia.AsyncIncidentClient(emu.url, emu.token) as aclient:
        with pytest.raises(TypeError, match=r"synchronous ia\.IncidentClient"):
            apply_label_changes(aclient, plan, progress=False)
        with pytest.raises(TypeError, match=r"synchronous ia\.IncidentClient"):
            plan_label_changes(_desired(("1", "tags", "c")), client=aclient)


def test_progress_bar_counts_the_changes(client: ia.IncidentClient, capsys: pytest.CaptureFixture[str]) -> None:
    plan = plan_label_changes(_desired(("1", "tags", "p1"), ("2", "tags", "p2")), client=client)
    apply_label_changes(client, plan, progress=True)
    err = capsys.readouterr().err
    assert "label changes" in err and "2/2" in err


def test_html_repr_shows_counts_per_action_and_status_then_rows(emu: Emulator, client: ia.IncidentClient) -> None:
    plan = plan_label_changes(
        _desired(*[(str(i), "tags", f"html-{i}") for i in range(1, 16)]), client=client
    )
    html = plan._repr_html_()
    assert html is not None
    assert "LabelPlan" in html and "15 rows on 15 incidents" in html and "first 10 of 15" in html
    assert html.index("add") < html.index("html-1")
    result = apply_label_changes(client, plan, progress=False)
    rhtml = result._repr_html_()
    assert rhtml is not None and "applied" in rhtml and "total" in rhtml
    summary = result.summary()
    assert summary.loc["add", "applied"] == 15
    # a projection is a plain frame again
    assert "LabelPlan" not in (plan[["incident_id"]]._repr_html_() or "")


# -- the journal -------------------------------------------------------------------------------------


def test_a_second_call_with_the_journal_skips_what_is_done(
    emu: Emulator, client: ia.IncidentClient, tmp_path: Path
) -> None:
    journal = tmp_path / "labels.jsonl"
    plan = plan_label_changes(_desired(*[(str(i), "tags", "journaled") for i in range(1, 6)]), client=client)
    first = apply_label_changes(client, plan, journal=journal, progress=False)
    assert set(first["status"]) == {"applied"}
    lines = [json.loads(line) for line in journal.read_text().splitlines()]
    assert len(lines) == 5 and {entry["status"] for entry in lines} == {"applied"}
    assert {"incident_id", "key", "value", "action", "status", "attempts", "error", "at"} <= set(lines[0])
    emu.reset_requests()
    second = apply_label_changes(client, plan, journal=journal, progress=False)
    assert emu.requests == [], "everything is in the journal: nothing is read or written"
    assert set(second["status"]) == {"skipped"}
    assert second["reason"].str.startswith("journal: applied").all()


def test_a_cut_last_line_is_ignored_and_its_change_checked_again(
    emu: Emulator, client: ia.IncidentClient, tmp_path: Path
) -> None:
    journal = tmp_path / "labels.jsonl"
    plan = plan_label_changes(_desired(("1", "tags", "cut-a"), ("2", "tags", "cut-b")), client=client)
    apply_label_changes(client, plan, journal=journal, progress=False)
    text = journal.read_text().splitlines()
    journal.write_text(text[0] + "\n" + text[1][: len(text[1]) // 2])  # killed while writing line 2
    emu.reset_requests()
    again = apply_label_changes(client, plan, journal=journal, progress=False)
    assert sorted(again["status"]) == ["skipped", "skipped"]
    assert not _writes(emu)


_WORKER = """
import os, sys
import pandas as pd
import incident_analytics as ia
from incident_analytics.bulk import apply_label_changes
plan = pd.read_json(sys.argv[1], orient="records", dtype=False)
with ia.IncidentClient() as client:
    apply_label_changes(client, plan, journal=sys.argv[2], concurrency=4, progress=False)
"""

# Plans itself, so its apply takes the fresh plan as the server's state and reads no incident first.
_PLANNING_WORKER = """
import os, sys
import pandas as pd
import incident_analytics as ia
from incident_analytics.bulk import apply_label_changes, plan_label_changes
desired = pd.read_json(sys.argv[3], orient="records", dtype=False)
with ia.IncidentClient() as client:
    plan = plan_label_changes(desired, client=client)
    plan.to_json(sys.argv[1], orient="records")
    apply_label_changes(client, plan, journal=sys.argv[2], concurrency=4, progress=False)
"""


@pytest.mark.parametrize("planned_in", ["parent", "worker"])
def test_kill_and_resume_applies_every_change_exactly_once(tmp_path: Path, planned_in: str) -> None:
    with Emulator(seed=5, incidents=150, latency=0.01) as emu, ia.IncidentClient(emu.url, emu.token) as client:
        desired = pd.DataFrame(
            [(str(i), "tags", f"resume-{j}") for i in range(1, 151) for j in range(2)]
            + [(str(i), "cause", "dependency") for i in range(1, 151)],
            columns=["incident_id", "key", "value"],
        )
        before = {iid: server_labels(emu, iid) for iid in emu.state.incidents}
        plan_path, journal, desired_path = tmp_path / "plan.json", tmp_path / "journal.jsonl", tmp_path / "want.json"
        if planned_in == "parent":
            plan_label_changes(desired, client=client).to_json(plan_path, orient="records")
            script = _WORKER
        else:
            desired.to_json(desired_path, orient="records")
            script = _PLANNING_WORKER
        emu.reset_requests()
        env = {**os.environ, "GRAFANA_URL": emu.url, "GRAFANA_SERVICE_ACCOUNT_TOKEN": emu.token,
               "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
        worker = subprocess.Popen([sys.executable, "-c", script, str(plan_path), str(journal), str(desired_path)],
                                  env=env, stderr=subprocess.PIPE, start_new_session=True)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if journal.exists() and journal.read_text().count("\n") >= 60:
                break
            assert worker.poll() is None, worker.stderr.read().decode() if worker.stderr else ""
            time.sleep(0.02)
        os.kill(worker.pid, signal.SIGKILL)
        worker.wait()
        assert worker.stderr is not None
        worker.stderr.close()
        methods = [r.method.rsplit(".", 1)[1] for r in emu.requests]
        first_write = next(i for i, m in enumerate(methods) if m != "GetIncident")
        reads_while_writing = methods[first_write:].count("GetIncident")
        written = len({r.body["incidentID"] for r in emu.requests if not r.method.endswith("GetIncident")})
        # the planning worker read every incident to plan, then wrote without reading them again (a
        # fresh plan); the other read each incident before its first write
        if planned_in == "worker":
            assert reads_while_writing < written // 2, (reads_while_writing, written)
        else:
            assert reads_while_writing >= written - 8, (reads_while_writing, written)
        plan = pd.read_json(plan_path, orient="records", dtype=False)
        changes = plan[plan["action"] != "skip"]
        assert len(changes) > 300
        done_first = journal.read_text().count("\n")
        assert 60 <= done_first < len(plan), "the run must be killed mid-way"

        result = apply_label_changes(client, plan, journal=journal, progress=False)
        assert set(result["status"]) <= {"applied", "skipped"}
        assert result["reason"].str.startswith("journal:").sum() >= 55

        writes = successful_writes(emu)
        for row in changes.itertuples():
            assert writes[(row.incident_id, row.key, row.value, row.action)] == 1, row
        assert sum(writes.values()) == len(changes)
        want = expected_after(before, plan)
        for iid in emu.state.incidents:
            labels = server_labels(emu, iid)
            assert len(labels) == len(set(labels)), f"duplicated label on {iid}"
            assert set(labels) == want[iid]


# -- label hygiene ----------------------------------------------------------------------------------


def test_find_label_duplicates_groups_spellings_of_one_label() -> None:
    values = ["customer-facing", "Customer Facing", "customer_facing", " customer-facing ", "database",
              "databases", "Database", "security", "securty", "auth", "auths", "api", "ap1", "network"]
    labels = pd.DataFrame({"incident_id": [str(i) for i in range(len(values))], "key": "tags", "value": values})
    labels.loc[len(labels)] = ["99", "tags", "customer-facing"]
    labels.loc[len(labels)] = ["98", "team", "Customer Facing"]  # another key: never grouped with tags
    groups = find_label_duplicates(labels)
    assert list(groups.columns) == ["group", "key", "value", "count", "suggested", "incident_ids"]
    by_group = {g: set(rows["value"]) for g, rows in groups.groupby("group")}
    assert by_group[0] == {"customer-facing", "Customer Facing", "customer_facing", " customer-facing "}
    assert {"database", "databases", "Database"} in by_group.values()  # case and plural
    assert {"security", "securty"} in by_group.values()  # one edit apart, 5+ characters
    assert {"auth", "auths"} in by_group.values()  # plural, whatever the length
    assert not any({"api", "ap1"} <= v for v in by_group.values())  # short: no fuzzy match
    assert not any("network" in v for v in by_group.values())
    top = groups[groups["group"] == 0].set_index("value")
    assert top.loc["customer-facing", "count"] == 2 and bool(top.loc["customer-facing", "suggested"])
    assert top.loc["customer-facing", "incident_ids"] == ["0", "99"]
    assert set(groups["key"]) == {"tags"}


def test_merge_plan_adds_the_canonical_value_and_removes_the_others() -> None:
    labels = pd.DataFrame({"incident_id": ["1", "2", "2", "3"], "key": "tags",
                           "value": ["customer-facing", "Customer Facing", "customer-facing", "customer_facing"]})
    groups = find_label_duplicates(labels)
    plan = merge_plan(groups, into="customer-facing")
    got = [(r.incident_id, r.value, r.action) for r in plan.itertuples()]
    assert got == [
        ("1", "customer-facing", "skip"),
        ("2", "customer-facing", "skip"),
        ("2", "Customer Facing", "remove"),
        ("3", "customer-facing", "add"),
        ("3", "customer_facing", "remove"),
    ]
    with pytest.raises(ValueError, match="in no group"):
        merge_plan(pd.concat([groups, groups.assign(group=1, value="x-" + groups["value"])]), into="nope")
    assert "customer facing" in merge_plan(groups, into="customer facing")["value"].tolist()  # a new spelling


def test_duplicates_found_merged_and_gone_on_the_server(emu: Emulator, client: ia.IncidentClient) -> None:
    for iid, text in (("10", "Customer Facing"), ("11", "customer_facing"), ("12", "customer-facing")):
        client.incidents.add_label(iid, text)
    data = ia.fetch(client, include=("labels",), include_drills=True, progress=False)
    groups = find_label_duplicates(data)
    chosen = groups[groups["value"] == "customer-facing"]["group"].iloc[0]
    assert {"Customer Facing", "customer_facing"} <= set(groups.loc[groups["group"] == chosen, "value"])
    result = apply_label_changes(client, merge_plan(groups, into="customer-facing"), progress=False)
    assert "failed" not in set(result["status"])
    fresh = ia.fetch(client, include=("labels",), include_drills=True, progress=False).labels
    values = set(fresh.loc[fresh["key"] == "tags", "value"])
    assert "customer-facing" in values and not values & {"Customer Facing", "customer_facing"}
    for iid in ("10", "11", "12"):
        assert server_labels(emu, iid).count(("tags", "customer-facing")) == 1


# -- the fault run ----------------------------------------------------------------------------------

FAULTS = {"500": 0.025, "503": 0.025, "429": 0.025, "drop": 0.025}  # 10% of requests, Retry-After on 429/503
# Every 429 and 503 carries Retry-After: 1 and holds back the whole pool for that second: about 120 of
# them made each run last 200 s. Capping the hold (and the backoff) keeps every fault, retry and
# pool-wide hold; the hold's length is tested in tests/test_transport.py.
QUICK_RETRIES = ia.RetryPolicy(max_retry_after=0.05, backoff_base=0.05)


def fault_run_plan(client: ia.IncidentClient, incidents: int, changes: int) -> LabelPlan:
    """``changes`` changes over ``incidents`` incidents: free-form adds and removes, keyed assigns."""
    rows = []
    for i in range(1, incidents + 1):
        rows += [(str(i), "tags", f"fault-run-{j}") for j in range(6)]
        rows += [(str(i), "cause", value) for value in ("deploy", "config", "capacity", "dependency")]
    adds = plan_label_changes(pd.DataFrame(rows, columns=["incident_id", "key", "value"]), client=client)
    chosen = adds[adds["action"] == "add"].head(changes)[["incident_id", "key", "value"]]
    # Planned again from just those rows: a fresh plan, as a user makes it, applied unchanged.
    plan = plan_label_changes(pd.DataFrame(chosen), client=client)
    assert (plan["action"] == "add").sum() == len(plan) == changes
    return plan


@pytest.mark.slow
@FRESH_OR_READ
def test_two_thousand_changes_under_ten_percent_faults_end_in_exactly_the_desired_state(
    trust_plan_for: float, first: list[str]
) -> None:
    with Emulator(seed=11, incidents=320, faults=FAULTS, fault_seed=4) as emu, \
            ia.IncidentClient(emu.url, emu.token, retry=QUICK_RETRIES) as client:
        plan = fault_run_plan(client, 320, 2000)
        before = {iid: server_labels(emu, iid) for iid in emu.state.incidents}
        emu.reset_requests()
        result = apply_label_changes(client, plan, progress=False, trust_plan_for=trust_plan_for)
        requests = emu.requests
        reads = sum(r.method.endswith("GetIncident") for r in requests)
        # read-first: every incident is read; fresh plan: only the checks of uncertain writes
        assert (reads >= plan["incident_id"].nunique()) if first else (0 < reads < plan["incident_id"].nunique())
        faults = [r for r in requests if r.fault]
        assert len(faults) >= 0.08 * len(requests), "faults were injected"
        assert {r.fault for r in faults} >= {"500", "503", "429", "drop"}
        failed = result[result["status"] == "failed"]
        assert failed.empty, failed.to_string()  # listed row by row if any survive the retries
        want = expected_after(before, plan)
        for iid in emu.state.incidents:
            labels = server_labels(emu, iid)
            assert len(labels) == len(set(labels)), f"duplicated label on incident {iid}"
            assert set(labels) == want[iid], f"incident {iid} differs from the plan"
        writes = successful_writes(emu)
        assert all(writes[(r.incident_id, r.key, r.value, r.action)] == 1 for r in plan.itertuples())


def test_a_dry_run_reads_the_journal_but_never_writes_it(
    emu: Emulator, client: ia.IncidentClient, tmp_path: Path
) -> None:
    journal = tmp_path / "labels.jsonl"
    plan = plan_label_changes(_desired(("1", "tags", "dry-a"), ("2", "tags", "dry-b")), client=client)
    apply_label_changes(client, plan, dry_run=True, journal=journal, progress=False)
    assert not journal.exists()
    apply_label_changes(client, plan.head(1), journal=journal, progress=False)
    preview = apply_label_changes(client, plan, dry_run=True, journal=journal, progress=False)
    assert preview["status"].tolist() == ["skipped", "dry_run"]
    assert journal.read_text().count("\n") == 1


class _InterruptedClient:
    """The real client, whose ``incidents.add_label`` is interrupted (Ctrl-C) on its n-th call."""

    def __init__(self, client: ia.IncidentClient, at_call: int) -> None:
        self._client, self._at, self._calls = client, at_call, 0
        self.retry = client.retry
        self.incidents = self

    def get(self, incident_id: str) -> Any:
        return self._client.incidents.get(incident_id)

    def add_label(self, incident_id: str, label: str) -> Any:
        self._calls += 1
        if self._calls == self._at:
            raise KeyboardInterrupt
        return self._client.incidents.add_label(incident_id, label)


def test_an_interrupted_apply_keeps_its_journal_and_the_rerun_finishes(
    emu: Emulator, client: ia.IncidentClient, tmp_path: Path
) -> None:
    journal = tmp_path / "labels.jsonl"
    plan = plan_label_changes(_desired(*[(str(i), "tags", "ctrl-c") for i in range(1, 7)]), client=client)
    with pytest.raises(KeyboardInterrupt):
        apply_label_changes(_InterruptedClient(client, at_call=4), plan, concurrency=1, journal=journal,
                            progress=False)
    assert journal.read_text().count("\n") == 3, "the three changes before the interrupt are journaled"
    result = apply_label_changes(client, plan, journal=journal, progress=False)
    assert result["reason"].str.startswith("journal:").sum() == 3
    assert (result["status"] == "applied").sum() == 3
    for i in range(1, 7):
        assert server_labels(emu, str(i)).count(("tags", "ctrl-c")) == 1
