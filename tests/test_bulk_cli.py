"""``incident-analytics labels plan|apply`` against the emulator."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from incident_analytics.cli import main
from incident_analytics.emulator import Emulator

from .bulk_helpers import WRITE_METHODS, server_labels


@pytest.fixture
def emu(monkeypatch: pytest.MonkeyPatch) -> Iterator[Emulator]:
    with Emulator(seed=6, incidents=20) as emulator:
        monkeypatch.setenv("GRAFANA_URL", emulator.url)
        monkeypatch.setenv("GRAFANA_SERVICE_ACCOUNT_TOKEN", emulator.token)
        yield emulator


def test_plan_then_dry_run_then_apply_from_csv(emu: Emulator, tmp_path: Path) -> None:
    desired = tmp_path / "desired.csv"
    desired.write_text("incident_id,key,value\n1,,from-cli\n2,tags,from-cli\n3,cause,deploy\n")
    plan_csv, result_csv, journal = tmp_path / "plan.csv", tmp_path / "result.csv", tmp_path / "j.jsonl"
    out = io.StringIO()
    assert main(["labels", "plan", str(desired), "--out", str(plan_csv)], out=out) == 0
    plan = pd.read_csv(plan_csv, dtype=str)
    assert list(plan.columns) == ["incident_id", "key", "value", "action", "reason"]
    assert set(plan.loc[plan["value"] == "from-cli", "action"]) == {"add"}
    assert "plan written to" in out.getvalue()

    emu.reset_requests()
    dry = io.StringIO()
    assert main(["labels", "apply", str(plan_csv), "--dry-run"], out=dry) == 0
    assert not [r for r in emu.requests if r.method in WRITE_METHODS]
    assert "dry_run" in dry.getvalue() and "IncidentsService.AddLabel" in dry.getvalue()

    assert main(["labels", "apply", str(plan_csv), "--journal", str(journal), "--out", str(result_csv),
                 "--quiet"], out=io.StringIO()) == 0
    result = pd.read_csv(result_csv, dtype=str)
    assert set(result["status"]) <= {"applied", "skipped"}
    assert ("tags", "from-cli") in server_labels(emu, "1") and ("tags", "from-cli") in server_labels(emu, "2")
    assert ("cause", "deploy") in server_labels(emu, "3")
    assert journal.exists()


def test_bad_csv_input_is_an_error_naming_the_rows(
    emu: Emulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    desired = tmp_path / "desired.csv"
    desired.write_text("incident_id,key,value\n1,,ok\n,,no-id\n")
    assert main(["labels", "plan", str(desired)], out=io.StringIO()) == 2
    assert "incident_id is missing, empty or not a string/integer: row 1" in capsys.readouterr().err
    assert main(["labels", "apply", str(tmp_path / "missing.csv")], out=io.StringIO()) == 2


def test_a_failed_change_gives_exit_status_one(emu: Emulator, tmp_path: Path) -> None:
    plan = tmp_path / "plan.csv"
    plan.write_text("incident_id,key,value,action,reason\n1,team,no-such-team,add,missing\n")
    out = io.StringIO()
    assert main(["labels", "apply", str(plan), "--quiet"], out=out) == 1
    assert "failed" in out.getvalue() and emu.token not in out.getvalue()
