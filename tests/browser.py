"""Headless Chromium for browser tests: Debian's chromium driven by Playwright (never ``playwright install``).

``launch_chromium(playwright)`` returns a launched browser, or skips the test when no Chromium is
installed; under CI (the ``CI`` environment variable set) a missing browser fails instead, so a
broken CI image cannot turn browser tests into silent skips.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import pytest

# /usr/lib/chromium/chromium is the binary itself; /usr/bin/chromium is Debian's wrapper script around it.
CANDIDATES = ("/usr/lib/chromium/chromium", "/usr/bin/chromium", "/usr/bin/chromium-browser")
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]


def chromium_path() -> str | None:
    """The Chromium executable: ``$CHROMIUM_PATH`` if set, else the first Debian location that exists."""
    configured = os.environ.get("CHROMIUM_PATH")
    if configured:
        return configured if Path(configured).exists() else None
    for candidate in CANDIDATES:
        if Path(candidate).exists():
            return candidate
    return shutil.which("chromium")


def launch_chromium(playwright: Any) -> Any:
    """Launch headless Chromium through ``playwright`` (from ``sync_playwright()``); skip if missing."""
    path = chromium_path()
    if path is None:
        message = "Chromium is not installed (apt-get install chromium, or set CHROMIUM_PATH)"
        if os.environ.get("CI"):
            pytest.fail(f"{message}; CI must run the browser tests")
        pytest.skip(message)
    return playwright.chromium.launch(executable_path=path, headless=True, args=FLAGS)
