"""The notebooks in notebooks/ run top to bottom in a real Jupyter kernel, leak no token and leave no
temporary files behind."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from incident_analytics.emulator import Emulator

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_runs_against_the_emulator_without_leaking_the_token(
    path: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    notebook = nbformat.read(path, as_version=4)
    assert not any(cell.get("outputs") for cell in notebook.cells if cell.cell_type == "code"), (
        "commit notebooks without outputs"
    )
    with Emulator(seed=0, incidents=200) as emu:
        # The kernel inherits this environment, so the notebook talks to this emulator.
        monkeypatch.setenv("GRAFANA_URL", emu.url)
        monkeypatch.setenv("GRAFANA_SERVICE_ACCOUNT_TOKEN", emu.token)
        monkeypatch.setenv("MPLBACKEND", "Agg")
        # The kernel's temporary folder: whatever the notebook creates there must be gone at the end.
        kernel_tmp = tmp_path / "kernel-tmp"
        kernel_tmp.mkdir()
        monkeypatch.setenv("TMPDIR", str(kernel_tmp))
        NotebookClient(
            notebook, timeout=180, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}
        ).execute()
        token = emu.token
        served = len(emu.requests)
    outputs = json.dumps([cell.get("outputs", []) for cell in notebook.cells])
    # The postmortem notebook fetches one incident (GetIncident, its activity, roles): a handful of calls.
    assert served > (3 if path.name == "postmortem.ipynb" else 100), "the notebook should have fetched"
    assert token not in outputs
    assert '"output_type": "error"' not in outputs
    assert "IncidentData" in outputs and "token='***'" in outputs
    assert sorted(p.name for p in kernel_tmp.iterdir()) == [], "the notebook left temporary files behind"
