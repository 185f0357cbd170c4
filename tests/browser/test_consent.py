"""Recording and withdrawing a consent on a customer's consent page, in the browser."""

from __future__ import annotations

import importlib

from django.apps import apps
from playwright.sync_api import Page, expect

from fincrm.privacy.models import Consent, ProcessingPurpose
from tests.browser.flows import label, sign_in, url
from tests.support.world import World


def _seed_purposes() -> None:
    # The transactional database is flushed between tests, data migrations included.
    if not ProcessingPurpose.objects.filter(code="marketing").exists():
        seed = importlib.import_module("fincrm.privacy.migrations.0002_standard_purposes").seed
        seed(apps, None)


def test_record_then_withdraw_marketing_sms(page: Page, live_world: World) -> None:
    _seed_purposes()
    page.on("dialog", lambda dialog: dialog.accept())
    sign_in(page, "account_manager_a")
    page.goto(url(page, f"/privacy/customers/{live_world.customer_a}/consents/"))
    panel = page.locator("#privacy-consents")
    sms_row = panel.locator('tr[data-consent="marketing:sms"]')
    expect(sms_row).to_contain_text(label("Not given"))

    page.get_by_label(label("Purpose"), exact=True).select_option("marketing:sms")
    page.get_by_label(label("Evidence reference")).fill("FORM-0001")
    page.get_by_role("button", name=label("Record consent")).click()
    sms_row = page.locator('#privacy-consents tr[data-consent="marketing:sms"]')
    expect(sms_row).to_contain_text(label("Given"))
    consent = Consent.objects.get(customer_id=live_world.customer_a, channel="sms")
    assert consent.withdrawn_at is None
    assert consent.evidence == "FORM-0001"

    sms_row.get_by_role("button", name=label("Withdraw")).click()
    expect(page.locator('#privacy-consents tr[data-consent="marketing:sms"]')).to_contain_text(
        label("Withdrawn")
    )
    consent.refresh_from_db()
    assert consent.withdrawn_at is not None
