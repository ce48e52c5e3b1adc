"""The incident-analytics command: demo, fetch, sync and the emulator server."""

from __future__ import annotations

import io
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
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


@contextmanager
def emulator_command(*options: str) -> Iterator[tuple[str, str, str]]:
    """Run ``incident-analytics emulator --port 0 *options``; yield what it printed up to the token
    line, its URL and its token. On leaving, SIGTERM must stop it with exit code 0."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "incident_analytics.cli", "emulator", "--port", "0", *options],
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
        assert url and token, text
        yield text, url.group(1), token.group(1)
    finally:
        proc.terminate()
        assert proc.wait(timeout=10) == 0
        if proc.stdout:
            proc.stdout.close()


def test_the_emulator_command_serves_until_stopped() -> None:
    with emulator_command("--incidents", "30") as (text, url, token):
        assert f"API base URL: {url}/api/plugins/grafana-irm-app/resources/api/v1/\n" in text
        with ia.IncidentClient(url, token) as client:
            assert len(list(client.incidents.query(""))) == 30


# --- what a new user trips over ---------------------------------------------------------------------


@pytest.fixture
def stack(monkeypatch: pytest.MonkeyPatch) -> Iterator[Emulator]:
    with Emulator(seed=5, incidents=40) as emu:
        monkeypatch.setenv("GRAFANA_URL", emu.url)
        monkeypatch.setenv("GRAFANA_SERVICE_ACCOUNT_TOKEN", emu.token)
        emu.reset_requests()
        yield emu


def one_line(text: str) -> str:
    lines = [line for line in text.splitlines() if line.strip()]
    assert len(lines) == 1, text
    assert "Traceback" not in text
    return lines[0]


def test_sync_after_fetch_keeps_its_since_and_says_what_it_did(
    tmp_path: Path, stack: Emulator, capsys: pytest.CaptureFixture[str]
) -> None:
    store = str(tmp_path / "s")
    assert run(["fetch", "--quiet", "--since", "2026-06-01", "--out", store])[0] == 0
    fetched = ia.IncidentData.read_parquet(store)
    stack.reset_requests()
    code, out = run(["sync", "--quiet", store])
    assert code == 0
    first = out.splitlines()[0]
    match = re.fullmatch(rf"(\d+) changed, \d+ open refreshed, store of {len(fetched.incidents)} incidents", first)
    assert match, first
    # Only the few incidents modified within the overlap were fetched again, not the whole selection.
    activity = sum(r.method == "ActivityService.QueryActivity" for r in stack.requests)
    assert activity == int(match.group(1)) < len(fetched.incidents) // 2
    synced = ia.IncidentData.read_parquet(store)
    assert synced.selection["since"] == "2026-06-01T00:00:00+00:00"
    code, out = run(["sync", "--quiet", "--since", "2026-09-01", store])
    assert code == 0
    assert out.splitlines()[0].startswith("selection changed: full refetch, store of ")


@pytest.mark.parametrize("command", ["fetch", "sync"])
def test_a_store_path_that_is_a_file_fails_before_fetching(
    tmp_path: Path, stack: Emulator, capsys: pytest.CaptureFixture[str], command: str
) -> None:
    target = tmp_path / "a-file"
    target.write_text("keep me")
    argv = ["fetch", "--quiet", "--out", str(target)] if command == "fetch" else ["sync", "--quiet", str(target)]
    code, _ = run(argv)
    assert code == 2
    assert "is a file, not a folder" in one_line(capsys.readouterr().err)
    assert stack.requests == [], "nothing fetched"
    assert target.read_text() == "keep me"


def test_a_damaged_store_is_one_line_naming_the_file_and_the_remedy(
    tmp_path: Path, stack: Emulator, capsys: pytest.CaptureFixture[str]
) -> None:
    store = tmp_path / "s"
    assert run(["fetch", "--quiet", "--out", str(store)])[0] == 0
    (store / "meta.json").write_text("{not json")
    stack.reset_requests()
    code, _ = run(["sync", "--quiet", str(store)])
    assert code == 1
    line = one_line(capsys.readouterr().err)
    assert "meta.json" in line and f"fetch --out {store}" in line
    assert stack.requests == []


def test_messages_name_cli_flags_not_python_arguments(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("GRAFANA_SERVICE_ACCOUNT_TOKEN", "glsa_not_sent_0123456789")
    code, _ = run(["fetch", "--url", "http://grafana.example.com", "--out", "unused"])
    line = one_line(capsys.readouterr().err)
    assert code == 2 and "--allow-insecure-http" in line and "allow_insecure_http" not in line
    monkeypatch.delenv("GRAFANA_URL", raising=False)
    code, _ = run(["fetch", "--out", "unused"])
    line = one_line(capsys.readouterr().err)
    assert code == 2 and "--url" in line and "GRAFANA_URL" in line and "url=" not in line
    with pytest.raises(SystemExit) as exited:
        main(["fetch", "--since", "01/02/2026", "--out", "unused"])
    assert exited.value.code == 2
    line = one_line(capsys.readouterr().err)
    assert "--since" in line and "ISO 8601" in line


def test_a_since_after_the_stored_until_is_a_usage_error(
    tmp_path: Path, stack: Emulator, capsys: pytest.CaptureFixture[str]
) -> None:
    store = str(tmp_path / "s")
    assert run(["fetch", "--quiet", "--until", "2026-03-01", "--out", store])[0] == 0
    stack.reset_requests()
    code, _ = run(["sync", "--quiet", "--since", "2026-06-01", store])
    assert code == 2
    line = one_line(capsys.readouterr().err)
    assert "--since" in line and "--until" in line
    assert stack.requests == []


def test_insecure_http_is_allowed_with_its_flag(tmp_path: Path, stack: Emulator) -> None:
    # Loopback needs no flag; the flag is accepted and reaches the client.
    code, _ = run(["fetch", "--quiet", "--allow-insecure-http", "--url", stack.url, "--out", str(tmp_path / "s")])
    assert code == 0


def test_a_library_bug_keeps_its_traceback(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, stack: Emulator) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise ValueError("a bug inside the library")

    monkeypatch.setattr("incident_analytics.cli.fetch", broken)
    with pytest.raises(ValueError, match="a bug inside the library"):
        main(["fetch", "--quiet", "--out", str(tmp_path / "s")], out=io.StringIO())


def test_a_package_error_is_one_line_with_exit_code_1(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, stack: Emulator, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("GRAFANA_SERVICE_ACCOUNT_TOKEN", "glsa_wrong_token_0123456789")
    code, _ = run(["fetch", "--quiet", "--out", str(tmp_path / "s")])
    assert code == 1
    line = one_line(capsys.readouterr().err)
    assert line.startswith("error: ") and "glsa_wrong" not in line
    assert not (tmp_path / "s").exists()


def test_help_names_the_environment_and_exit_codes_without_markup(capsys: pytest.CaptureFixture[str]) -> None:
    texts = {}
    for command in ([], ["demo"], ["fetch"], ["sync"], ["emulator"]):
        with pytest.raises(SystemExit):
            main([*command, "--help"])
        texts[" ".join(command)] = capsys.readouterr().out
    for name, text in texts.items():
        assert "``" not in text, name
        assert "exit codes:" in text and "130" in text, name
    for name in ("fetch", "sync"):
        assert "GRAFANA_URL" in texts[name] and "GRAFANA_SERVICE_ACCOUNT_TOKEN" in texts[name]
        assert "--allow-insecure-http" in texts[name]
    # Every emulator option says what it does and its default.
    options = re.findall(r"^  (--[\w-]+)[^\n]*(?:\n {10,}[^\n]*)*", texts["emulator"], flags=re.M)
    assert {"--host", "--port", "--seed", "--incidents", "--latency", "--token", "--allow-remote"} <= set(options)
    for block in re.split(r"\n(?=  --)", texts["emulator"].split("options:")[1].split("exit codes:")[0]):
        if block.strip().startswith("--"):
            assert "default" in block, block


def test_the_emulator_refuses_a_host_that_is_not_loopback(capsys: pytest.CaptureFixture[str]) -> None:
    code, _ = run(["emulator", "--host", "0.0.0.0", "--port", "0", "--incidents", "5"])
    assert code == 2
    assert "--allow-remote" in one_line(capsys.readouterr().err)


def test_a_taken_port_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    with Emulator(seed=0, incidents=5) as busy:
        port = busy.port
        code, out = run(["emulator", "--port", str(port), "--incidents", "5"])
    assert code == 2
    line = one_line(capsys.readouterr().err)
    assert f"port {port}" in line and "--port" in line
    assert "GRAFANA_URL=" not in out


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "incident_analytics.cli", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **(env or {})},
    )


def test_ctrl_c_during_a_fetch_exits_130_with_one_line(tmp_path: Path) -> None:
    with Emulator(seed=0, incidents=200, latency=0.2) as emu:
        proc = cli(
            "fetch",
            "--quiet",
            "--out",
            str(tmp_path / "s"),
            env={"GRAFANA_URL": emu.url, "GRAFANA_SERVICE_ACCOUNT_TOKEN": emu.token},
        )
        deadline = time.monotonic() + 60
        while not emu.requests and time.monotonic() < deadline:
            time.sleep(0.05)
        assert emu.requests, "the fetch started"
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130
    assert one_line(err) == "interrupted (Ctrl-C)"
    assert not (tmp_path / "s").exists()


@pytest.mark.parametrize(("flag", "requests_logged"), [("-v", False), ("-vv", True)])
def test_verbose_is_a_summary_and_very_verbose_every_request(tmp_path: Path, flag: str, requests_logged: bool) -> None:
    """-v: one INFO line per phase of fetch and of sync; -vv: also one DEBUG line per request."""
    store = str(tmp_path / "s")
    with Emulator(seed=0, incidents=20) as emu:
        env = {"GRAFANA_URL": emu.url, "GRAFANA_SERVICE_ACCOUNT_TOKEN": emu.token}
        proc = cli(flag, "fetch", "--quiet", "--out", store, env=env)
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        listing = re.search(r"INFO incident_analytics: incidents: (\d+) incidents listed in [\d.]+ s$", err, re.M)
        assert listing, err
        listed = int(listing[1])
        assert 10 <= listed <= 20
        # One line per phase: the listing, each kind of per-incident call, the frames, the summary.
        for phase in ("details", "activity"):
            line = rf"INFO incident_analytics: {phase}: (\d+) per-incident calls, 0 errors, [\d.]+ s$"
            calls = re.search(line, err, re.M)
            assert calls and int(calls[1]) >= listed, err
        frames_line = re.search(r"INFO incident_analytics: frames built in [\d.]+ s: incidents (\d+) rows, tasks", err)
        assert frames_line and int(frames_line[1]) == listed
        assert f"INFO incident_analytics: fetched {listed} incidents" in err
        info = [line for line in err.splitlines() if " INFO " in line]
        assert len(info) <= 8, info  # a summary, not a line per incident or call
        assert ("POST IncidentsService.GetIncident" in err) is requests_logged
        assert "HTTP Request:" not in err or requests_logged

        proc = cli(flag, "sync", "--quiet", store, env=env)
        _, synced = proc.communicate(timeout=120)
        token = emu.token
    assert proc.returncode == 0, synced
    for phase in ("changed", "open"):
        assert re.search(rf"INFO incident_analytics: {phase}: \d+ incidents listed in [\d.]+ s$", synced, re.M), synced
    assert re.search(r"INFO incident_analytics: sync: \d+ incidents modified since", synced)
    assert "INFO incident_analytics: frames built in" in synced
    assert ("POST IncidentsService.QueryIncidentPreviews" in synced) is requests_logged
    assert token not in err and token not in synced


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["--url", "https://user:pw@mystack.grafana.net"], "GRAFANA_SERVICE_ACCOUNT_TOKEN"),
        (["--url", "https://mystack.grafana.net", "--plugin-id", "bad id!"], "--plugin-id"),
    ],
)
def test_configuration_errors_from_the_library_name_flags(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], argv: list[str], words: str
) -> None:
    monkeypatch.setenv("GRAFANA_SERVICE_ACCOUNT_TOKEN", "glsa_not_sent_0123456789")
    code, _ = run(["fetch", *argv, "--out", "unused"])
    line = one_line(capsys.readouterr().err)
    assert code == 2 and words in line
    assert not re.search(r"\b(token|url|plugin_id)=", line), line
def test_the_emulator_command_serves_a_scenario() -> None:
    """``--scenario small`` serves the preset's 150 incidents; ``--incidents`` would override it."""
    with emulator_command("--scenario", "small") as (text, url, token):
        assert "(150 incidents, seed 0)" in text
        with ia.IncidentClient(url, token) as client:
            assert len(list(client.incidents.query(""))) == 150
