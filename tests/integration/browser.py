"""Playwright fixtures for the page's browser tests: Debian's chromium driven by Playwright for
Python through its executable path (no browser download), and screenshots kept as test artifacts.

Use with ``from tests.integration.browser import browser, page, screenshot  # noqa: F401`` in a
test module (fixtures are found by name in the module's namespace).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import REPO

CHROMIUM = os.environ.get("DEPLOYER_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
TIMEOUT_MS = 120_000
"""A deploy on two clusters with a build takes tens of seconds on a loaded 2-core machine: waits in
the browser are bounded by this, never padded with sleeps."""


def artifacts_dir() -> Path:
    """Where screenshots go: $DEPLOYER_TEST_ARTIFACTS, default build/test-artifacts (git-ignored)."""
    folder = Path(os.environ.get("DEPLOYER_TEST_ARTIFACTS") or REPO / "build" / "test-artifacts")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).is_file():
        pytest.skip(f"chromium is not installed at {CHROMIUM} (scripts/test-prerequisites.sh installs Debian's)")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture
def page(browser) -> Iterator[object]:
    """A fresh browser context (no cookies) and page; its console errors fail the test at the end."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(TIMEOUT_MS)
    opened = context.new_page()
    errors: list[str] = []
    opened.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    opened.on("pageerror", lambda exc: errors.append(str(exc)))
    yield opened
    context.close()
    assert not errors, f"the page logged errors in the browser: {errors}"


def screenshot(page, name: str) -> Path:
    """A full-page PNG in the artifacts folder, checked to be one."""
    path = artifacts_dir() / f"{re.sub(r'[^A-Za-z0-9_.-]', '-', name)}.png"
    page.screenshot(path=str(path), full_page=True)
    data = path.read_bytes()
    assert data.startswith(PNG_SIGNATURE) and len(data) > len(PNG_SIGNATURE), f"{path} is not a PNG"
    return path
