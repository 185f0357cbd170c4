"""The customer 360 in the browser: masked identity, the AUM chart, scope, a strict CSP."""

from __future__ import annotations

import importlib
import tempfile
from pathlib import Path
from typing import Any

from django.apps import apps
from django.utils import timezone
from playwright.sync_api import Page, expect

from fincrm.customers.models import Customer
from fincrm.privacy.models import ProcessingPurpose
from tests.browser.conftest import screenshot
from tests.browser.flows import label, sign_in, sign_out, url
from tests.customers.profile_support import add_portfolio
from tests.support.world import World

# Looked at by a person after a run (the brief: "make it look like a bank's professional tool").
SCREENSHOTS = Path(tempfile.gettempdir()) / "fincrm-screenshots"


def _seed_purposes() -> None:
    # The transactional database is flushed between tests, data migrations included.
    if not ProcessingPurpose.objects.filter(code="marketing").exists():
        seed = importlib.import_module("fincrm.privacy.migrations.0002_standard_purposes").seed
        seed(apps, None)


def _csp_violations(page: Page) -> list[str]:
    messages: list[str] = []

    def collect(message: Any) -> None:
        if "Content Security Policy" in message.text or "Refused to" in message.text:
            messages.append(message.text)

    page.on("console", collect)
    return messages


def test_account_manager_sees_the_masked_360_with_its_aum_chart(page: Page, live_world: World) -> None:
    _seed_purposes()
    add_portfolio(live_world.customer_a, size=2)
    Customer.objects.filter(pk=live_world.customer_a).update(
        aum="161000.00", aum_updated_at=timezone.now(), value_tier="affluent", aml_risk_rating="medium"
    )
    violations = _csp_violations(page)

    sign_in(page, "account_manager_a")
    page.goto(url(page, f"/customers/{live_world.customer_a}/"))

    expect(page.locator('h1[data-field="name"]')).to_have_text("张*")
    expect(page.locator('[data-field="mobile"]')).to_contain_text("138****8000")
    expect(page.locator('[data-field="id-number"]')).to_contain_text("110***********002X")
    expect(page.locator("#fincrm-aum-chart canvas")).to_have_count(1)
    expect(page.locator('#profile-holdings tr[data-maturing="1"]')).to_have_count(1)
    expect(page.locator("#privacy-consents")).to_be_visible()
    assert "13800138000" not in page.content()

    # The history tabs switch (Bootstrap's tab script, no inline handler).
    page.locator("#profile-history").get_by_role("tab", name=label("Coverage")).click()
    expect(page.locator("#profile-history-coverage")).to_be_visible()

    page.locator("#profile-history").get_by_role("tab", name=label("Changes")).click()
    screenshot(page, "customer-360-desktop", directory=SCREENSHOTS)
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(url(page, f"/customers/{live_world.customer_a}/"))
    expect(page.locator("#fincrm-aum-chart canvas")).to_have_count(1)
    screenshot(page, "customer-360-phone", directory=SCREENSHOTS)
    assert violations == []


def test_another_account_manager_gets_the_not_found_page(page: Page, live_world: World) -> None:
    sign_in(page, "account_manager_a")
    sign_out(page)
    sign_in(page, "account_manager_b")

    response = page.goto(url(page, f"/customers/{live_world.customer_a}/"))

    assert response is not None
    assert response.status == 404
    expect(page.locator('[data-status="404"]')).to_be_visible()
    expect(page.get_by_role("heading", name=label("Page not found"))).to_be_visible()
    assert "138****8000" not in page.content()
