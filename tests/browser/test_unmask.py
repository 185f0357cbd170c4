"""Unmasking in the browser: a risk officer (second factor required) opens a customer's 360 page,
presses "show" on the mobile number, gives a reason and a fresh code, and sees the number; the
audit event exists and holds no value."""

from __future__ import annotations

import time

import pyotp
from playwright.sync_api import Page, expect

from fincrm.audit.models import AuditEvent
from tests.browser.flows import label, sign_in_with_totp, url
from tests.support.world import World

MOBILE = "+8613800138000"


def test_risk_officer_unmasks_a_mobile_with_reason_and_code(page: Page, live_world: World) -> None:
    errors: list[str] = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    secret = sign_in_with_totp(page, "risk_officer_a")
    page.goto(url(page, f"/customers/{live_world.customer_a}/"))
    control = page.locator(f"#unmask-{live_world.customer_a}-mobile")
    expect(control).to_contain_text("138****8000")
    expect(control).not_to_contain_text(MOBILE)

    control.get_by_role("button", name=label("Show")).click()
    dialog = control.locator("[data-unmask-dialog]")
    expect(dialog).to_be_visible()
    dialog.get_by_label(label("Reason"), exact=True).select_option("aml_investigation")
    dialog.get_by_label(label("Details"), exact=True).fill("AML case 2024-17")
    # The sign-in used this step's code; a code is accepted once, so type the next step's.
    dialog.get_by_label(label("Code from your authenticator app")).fill(
        pyotp.TOTP(secret).at(time.time() + 30)
    )
    dialog.get_by_role("button", name=label("Show")).click()

    expect(control.locator("[data-unmask-value]")).to_have_text(MOBILE)
    expect(control.locator("[data-unmask-dialog]")).to_have_count(0)
    event = AuditEvent.objects.get(action="pii.unmasked")
    assert event.object_id == str(live_world.customer_a)
    assert event.after["field"] == "mobile"
    assert event.reason == "aml_investigation: AML case 2024-17"
    assert MOBILE not in str(event.after)
    assert not [error for error in errors if "Content Security Policy" in error]
