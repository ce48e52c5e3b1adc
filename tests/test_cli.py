"""The incident-analytics command: demo, fetch, sync and the emulator server."""

from __future__ import annotations

import io
import re
import subprocess
import sys
from pathlib import Path

import pytest

import incident_analytics as ia
from incident_analytics.cli import main
from incident_analytics.emulator import Emulator


def run(argv: list[str]) -> tuple[int, str]:
    out = io.StringIO()
    code = main(argv, out=out)
    return code, out.getvalue()


def test_demo_needs_no_credentials_and_writes_the_reports(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GRAFANA_URL", raising=False)
    monkeypatch.delenv("GRAFANA_SERVICE_ACCOUNT_TOKEN", raising=False)
    code, out = run(["demo", "--incidents", "80", "--quiet", "--out", str(tmp_path / "out")])
    assert code == 0
    assert "Incidents by severity (counts)" in out
    assert "Time to resolve by severity" in out
    assert "glsa_" not in out
    assert (tmp_path / "out" / "review.html").is_file()
    assert len(list((tmp_path / "out").glob("postmortem-*.html"))) == 1
    data = ia.IncidentData.read_parquet(tmp_path / "out" / "store")
    assert len(data.incidents) > 50


def test_fetch_and_sync_read_the_token_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with Emulator(seed=5, incidents=40) as emu:
        monkeypatch.setenv("GRAFANA_URL", emu.url)
        monkeypatch.setenv("GRAFANA_SERVICE_ACCOUNT_TOKEN", emu.token)
        code, out = run(["fetch", "--quiet", "--since", "2026-01-01", "--out", str(tmp_path / "f")])
        assert code == 0 and "incidents" in out
        code, out = run(["sync", "--quiet", str(tmp_path / "s")])
        assert code == 0
        assert emu.token not in out
    fetched = ia.IncidentData.read_parquet(tmp_path / "f")
    assert (fetched.incidents["created_time"] >= "2026-01-01").all()


def test_a_missing_token_is_a_one_line_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("GRAFANA_URL", "https://mystack.grafana.net")
    monkeypatch.delenv("GRAFANA_SERVICE_ACCOUNT_TOKEN", raising=False)
    code, _ = run(["fetch", "--out", "unused"])
    assert code == 2
    assert "GRAFANA_SERVICE_ACCOUNT_TOKEN" in capsys.readouterr().err


def test_the_emulator_command_serves_until_stopped() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "incident_analytics.cli", "emulator", "--port", "0", "--incidents", "30"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        text = ""
        for line in proc.stdout:
            text += line
            if "GRAFANA_SERVICE_ACCOUNT_TOKEN=" in line:
                break
        url = re.search(r"GRAFANA_URL=(\S+)", text)
        token = re.search(r"GRAFANA_SERVICE_ACCOUNT_TOKEN=(\S+)", text)
        assert url and token
        with ia.IncidentClient(url.group(1), token.group(1)) as client:
            assert len(list(client.incidents.query(""))) == 30
    finally:
        proc.terminate()
        assert proc.wait(timeout=10) == 0
        if proc.stdout:
            proc.stdout.close()


def test_the_emulator_command_serves_a_scenario() -> None:
    """``--scenario small`` serves the preset's 150 incidents; ``--incidents`` would override it."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "incident_analytics.cli", "emulator", "--port", "0", "--scenario", "small"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        text = ""
        for line in proc.stdout:
            text += line
            if "GRAFANA_SERVICE_ACCOUNT_TOKEN=" in line:
                break
        assert "(150 incidents, seed 0)" in text
        url = re.search(r"GRAFANA_URL=(\S+)", text)
        token = re.search(r"GRAFANA_SERVICE_ACCOUNT_TOKEN=(\S+)", text)
        assert url and token
        with ia.IncidentClient(url.group(1), token.group(1)) as client:
            assert len(list(client.incidents.query(""))) == 150
    finally:
        proc.terminate()
        assert proc.wait(timeout=10) == 0
        if proc.stdout:
            proc.stdout.close()
