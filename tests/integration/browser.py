"""Playwright fixtures for the page's browser tests: Debian's chromium driven by Playwright for
Python through its executable path (no browser download), and screenshots kept as test artifacts.

The fixtures ``browser`` (session) and ``page`` are registered in tests/integration/conftest.py.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

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


def launched_browser() -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).is_file():
        pytest.skip(f"chromium is not installed at {CHROMIUM} (scripts/test-prerequisites.sh installs Debian's)")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


def fresh_page(browser: Any) -> Iterator[object]:
    """A fresh browser context (no cookies) and page; its console errors fail the test at the end."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(TIMEOUT_MS)
    opened = context.new_page()
    errors: list[str] = []
    # A failed load is logged by the browser without its URL: answers are checked by URL instead
    # (the favicon, which the page does not have, is the one 404 a browser asks for by itself).
    opened.on("console", lambda message: errors.append(message.text)
              if message.type == "error" and not message.text.startswith("Failed to load resource") else None)
    opened.on("pageerror", lambda exc: errors.append(str(exc)))
    expected = _EXPECTED.setdefault(id(opened), set())
    opened.on("response", lambda response: errors.append(f"{response.status} {response.url}")
              if response.status >= 400 and not response.url.endswith("/favicon.ico")
              and (response.status, urlsplit(response.url).path) not in expected else None)
    try:
        yield opened
    finally:
        _EXPECTED.pop(id(opened), None)
        context.close()
    assert not errors, f"the page logged errors in the browser: {errors}"


_EXPECTED: dict[int, set[tuple[int, str]]] = {}


def expect_refusal(page: Any, status: int, path: str) -> None:
    """The test means ``page`` to be answered ``status`` at ``path`` (a refusal it asserts on)."""
    _EXPECTED[id(page)].add((status, path))


def screenshot(page, name: str) -> Path:
    """A full-page PNG in the artifacts folder, checked to be one."""
    path = artifacts_dir() / f"{re.sub(r'[^A-Za-z0-9_.-]', '-', name)}.png"
    page.screenshot(path=str(path), full_page=True)
    data = path.read_bytes()
    assert data.startswith(PNG_SIGNATURE) and len(data) > len(PNG_SIGNATURE), f"{path} is not a PNG"
    return path
