"""Browser tests: Playwright driving Debian's Chromium against the live server.

They need /usr/bin/chromium (apt-get install chromium fonts-noto-cjk) and are skipped, saying so,
without it. They use a transactional database (the live server runs in another thread), so each
test builds the authorization world it needs.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from fincrm.org.models import OrgUnit
from tests.audit.support import Tamper, tamper
from tests.support.world import World, build_world, load_world

__all__ = ["tamper"]

CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-results" / "screenshots"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/browser/" in str(item.fspath).replace(os.sep, "/"):
            item.add_marker(pytest.mark.browser)


@pytest.fixture(scope="session")
def chromium() -> Iterator[Any]:
    if not CHROMIUM.exists():
        pytest.skip("browser tests need /usr/bin/chromium (apt-get install chromium fonts-noto-cjk)")
    from playwright.sync_api import sync_playwright

    # Playwright's sync API runs an event loop in this thread; the ORM calls the tests make around
    # it are still synchronous and single-threaded.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        yield browser
        browser.close()
    del os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"]


@pytest.fixture
def live_world(transactional_db: None, tamper: Tamper) -> World:
    """The world in a committed database; ``tamper`` (after transactional_db) clears the audit
    rows the pages wrote, so the database flush between tests can run past the audit triggers."""
    if not OrgUnit.objects.exists():
        build_world()
    return load_world()


@pytest.fixture
def page(chromium: Any, live_server: Any) -> Iterator[Any]:
    context = chromium.new_context(viewport={"width": 1280, "height": 800}, locale="zh-CN")
    context.set_default_timeout(10_000)
    page = context.new_page()
    page.base_url = live_server.url
    yield page
    context.close()


def screenshot(page: Any, name: str, *, full_page: bool = True, directory: Path | None = None) -> Path:
    """NAME.png in test-results/screenshots (or ``directory``), once the web fonts are ready."""
    folder = directory or SCREENSHOTS
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.png"
    page.evaluate("document.fonts.ready.then(() => true)")
    page.screenshot(path=str(path), full_page=full_page, animations="disabled", caret="hide")
    return path
