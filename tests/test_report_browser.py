"""Both HTML reports render in a real browser: headless Chromium through Playwright, offline.

Each report is opened from a file:// URL with every other request refused (and recorded), then every
section heading is looked up and at least one chart must have been decoded as an image.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import incident_analytics as ia
from incident_analytics import report
from incident_analytics.emulator import Emulator
from tests.browser import launch_chromium

sync_api = pytest.importorskip("playwright.sync_api")


@pytest.fixture(scope="module")
def reports(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("reports")
    with Emulator(seed=4, incidents=120) as emu, ia.IncidentClient(emu.url, emu.token) as client:
        data = ia.fetch(client, progress=False)
        resolved = data.incidents[data.incidents["status"] == "resolved"]
        iid = str(resolved["incident_id"].iloc[0])
        postmortem = report.write_postmortem(client, iid, folder / f"postmortem-{iid}.html")
    review = report.write_review(data, folder / "review.html")
    return {"postmortem": postmortem, "review": review}


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with sync_api.sync_playwright() as playwright:
        chromium = launch_chromium(playwright)
        try:
            yield chromium
        finally:
            chromium.close()


def _open_offline(browser: Any, path: Path) -> tuple[Any, list[str]]:
    """A page showing ``path``, with every request that is not the file itself (or data:) refused."""
    page = browser.new_page()
    refused: list[str] = []

    def guard(route: Any) -> None:
        url = route.request.url
        if url == path.as_uri() or url.startswith("data:"):
            route.continue_()
        else:
            refused.append(url)
            route.abort()

    page.route("**/*", guard)
    page.goto(path.as_uri(), wait_until="load")
    return page, refused


@pytest.mark.parametrize(
    ("name", "sections"),
    [("postmortem", report.POSTMORTEM_SECTIONS), ("review", report.REVIEW_SECTIONS)],
)
def test_report_renders_in_chromium_with_every_section_and_a_chart(
    browser: Any, reports: dict[str, Path], name: str, sections: tuple[Any, ...]
) -> None:
    page, refused = _open_offline(browser, reports[name])
    try:
        headings = page.locator("h2").all_inner_texts()
        assert headings == [s.title for s in sections]
        for section in sections:
            assert page.locator(f"h2#{section.id}").is_visible()
        # Charts are decoded images with a real size, not broken-image icons.
        decoded = page.evaluate(
            "() => Array.from(document.images).filter(i => i.complete && i.naturalWidth > 100).length"
        )
        assert decoded >= 1
        assert page.locator("figure img").count() == page.evaluate("() => document.images.length")
        assert page.locator("h1").inner_text().strip()
        assert refused == [], f"the report tried to load {refused}"
        # It prints: Chromium lays it out as a PDF without errors.
        assert page.pdf(format="A4")[:4] == b"%PDF"
    finally:
        page.close()
