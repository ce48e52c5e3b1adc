"""End to end: the declare form in a real browser (Voilà + Playwright + Debian Chromium)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from incident_analytics.emulator import Emulator

from .browser import launch_chromium, require_chromium, voila

NOTEBOOK = Path(__file__).resolve().parent / "fixtures" / "declare-form.ipynb"
REPO = Path(__file__).resolve().parents[1]
TITLE = "Payments API down (declared in a browser)"


@pytest.mark.slow
def test_declare_an_incident_in_a_browser() -> None:
    require_chromium()
    sync_api = pytest.importorskip("playwright.sync_api")
    with Emulator(seed=0, incidents=20) as emu:
        env = {
            "GRAFANA_URL": emu.url,
            "GRAFANA_SERVICE_ACCOUNT_TOKEN": emu.token,
            "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
        }
        with voila(NOTEBOOK, env) as base, sync_api.sync_playwright() as playwright:
            browser = launch_chromium(playwright)
            try:
                page = browser.new_page()

                def only_voila(route: Any) -> None:
                    # The page asks a CDN for fonts; nothing outside loopback may stall the test.
                    if route.request.url.startswith(base):
                        route.continue_()
                    else:
                        route.abort()

                page.route("**/*", only_voila)
                page.goto(base + "/", wait_until="domcontentloaded")
                title = page.locator(".widget-text", has_text="Title").locator("input")
                title.wait_for(state="visible", timeout=90_000)
                title.fill(TITLE)
                page.locator("button.widget-button", has_text="Declare").click()
                message = page.locator(".ia-message", has_text="Declared incident")
                message.wait_for(state="visible", timeout=60_000)
                shown = message.inner_text()
                page_text = page.content()
            finally:
                browser.close()
        with emu.state.lock:
            created = [i for i in emu.state.incidents.values() if i.title == TITLE]
    assert len(created) == 1, "exactly one incident declared"
    assert f"Declared incident {created[0].incident_id}" in shown
    assert emu.token not in page_text
