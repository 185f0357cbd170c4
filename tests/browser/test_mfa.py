"""Second factor in the browser: enrolment a privileged role forces, then signing in with a
recovery code or a TOTP code."""

from __future__ import annotations

import time

import pyotp
from playwright.sync_api import Page, expect

from fincrm.users.models import MfaDevice, RecoveryCode
from tests.browser.conftest import screenshot
from tests.browser.flows import (
    enter_code,
    expect_home,
    fill_sign_in,
    label,
    open_sign_in,
    sign_in_with_totp,
    sign_out,
    url,
)
from tests.support.world import PASSWORD, World


def _enroll_through_the_page(page: Page) -> tuple[str, list[str]]:
    """system_admin_a signs in, is confined to enrolment, scans (reads) the key and confirms."""
    open_sign_in(page)
    fill_sign_in(page, "system_admin_a", PASSWORD)

    expect(page).to_have_url(url(page, "/account/mfa/"))
    expect(page.get_by_role("heading", name=label("Set up two-factor sign-in"))).to_be_visible()
    expect(
        page.get_by_text(label("Your role requires two-factor sign-in. Set it up to continue."))
    ).to_be_visible()
    qr = page.get_by_role("img", name=label("QR code for your authenticator app"))
    expect(qr.locator("svg")).to_be_visible()
    box = qr.locator("svg").bounding_box()
    assert box is not None
    assert box["width"] >= 100
    assert box["height"] >= 100
    secret = page.locator("code[data-secret]").inner_text().strip()
    assert len(secret) >= 16
    assert secret.isalnum()

    # Anything else sends the user back here until the second factor is set up.
    page.goto(url(page, "/"))
    expect(page).to_have_url(url(page, "/account/mfa/"))
    assert page.locator("code[data-secret]").inner_text().strip() == secret

    page.get_by_label(label("Code from your app")).fill(pyotp.TOTP(secret).now())
    page.get_by_role("button", name=label("Confirm")).click()

    expect(page.get_by_role("heading", name=label("Recovery codes"))).to_be_visible()
    expect(page.get_by_text(label("Two-factor sign-in is set up."))).to_be_visible()
    codes = [code.strip() for code in page.locator("[data-recovery-code]").all_inner_texts()]
    assert len(codes) == 10
    assert len(set(codes)) == 10
    assert all(len(code) == 19 for code in codes)  # XXXX-XXXX-XXXX-XXXX
    return secret, codes


def test_privileged_user_enrolls_then_signs_in_with_a_recovery_code(page: Page, live_world: World) -> None:
    secret, codes = _enroll_through_the_page(page)
    device = MfaDevice.objects.get(user__username="system_admin_a")
    assert device.confirmed_at is not None
    assert device.secret == secret

    # Once enrolled the shell is open.
    page.get_by_role("link", name=label("I have saved them")).click()
    expect(page).to_have_url(url(page, "/account/"))
    sign_out(page)
    expect(page.get_by_text(label("You have signed out."))).to_be_visible()

    fill_sign_in(page, "system_admin_a", PASSWORD)
    expect(page).to_have_url(url(page, "/signin/verify/"))
    enter_code(page, codes[3].lower())

    expect_home(page, "system_admin_a")
    expect(
        page.get_by_role("status").filter(
            has_text=label(
                "You signed in with a recovery code. It cannot be used again; make new ones if few are left."
            )
        )
    ).to_be_visible()
    assert RecoveryCode.objects.filter(user__username="system_admin_a", used_at__isnull=False).count() == 1

    # The same recovery code does not work twice.
    sign_out(page)
    fill_sign_in(page, "system_admin_a", PASSWORD)
    enter_code(page, codes[3])
    expect(page.get_by_text(label("The code is not correct."), exact=True)).to_be_visible()
    expect(page).to_have_url(url(page, "/signin/verify/"))
    screenshot(page, "mfa-code-refused")


def test_enrolled_user_signs_in_with_a_totp_code_and_a_wrong_or_reused_code_is_refused(
    page: Page, live_world: World
) -> None:
    secret = sign_in_with_totp(page, "system_admin_a")
    used_step = MfaDevice.objects.get(user__username="system_admin_a").last_used_step
    assert used_step > 0
    sign_out(page)

    fill_sign_in(page, "system_admin_a", PASSWORD)
    expect(page).to_have_url(url(page, "/signin/verify/"))
    # Not signed in yet: the home page sends the user back to sign in.
    page.goto(url(page, "/"))
    expect(page).to_have_url(url(page, "/signin/?next=/"))
    page.go_back()

    totp = pyotp.TOTP(secret)
    near = {totp.generate_otp(int(time.time()) // 30 + offset) for offset in range(-2, 3)}
    wrong = next(code for code in ("000000", "111111", "222222", "333333") if code not in near)
    enter_code(page, wrong)
    expect(page.get_by_text(label("The code is not correct."), exact=True)).to_be_visible()
    # The code of the step already used (as if read off the phone again at once) is refused too.
    enter_code(page, totp.generate_otp(used_step))
    expect(page.get_by_text(label("The code is not correct."), exact=True)).to_be_visible()
    expect(page).to_have_url(url(page, "/signin/verify/"))

    # A code of the next step (the phone a few seconds later) is accepted; the server allows one
    # step of clock drift, so nothing has to wait.
    enter_code(page, totp.generate_otp(used_step + 1))
    expect_home(page, "system_admin_a")
