"""Signing in with a password, the generic error, and the lockout after repeated failures."""

from __future__ import annotations

import re
from typing import Any

from playwright.sync_api import Page, expect

from fincrm.users.models import User
from tests.browser.conftest import screenshot
from tests.browser.flows import expect_home, fill_sign_in, label, open_sign_in, sign_in, url
from tests.support.world import PASSWORD, World

WRONG = "Wrong-Horse-Battery-0"


def _form_error(page: Page) -> Any:
    return page.locator("form .alert-danger[role=alert]")


def _comparable(page: Page) -> str:
    """The sign-in card as markup, without the per-response CSRF token."""
    html = page.locator("main").inner_html()
    return re.sub(r'name="csrfmiddlewaretoken" value="[^"]*"', 'name="csrfmiddlewaretoken"', html)


def test_user_without_mfa_signs_in_and_sees_their_name(page: Page, live_world: World) -> None:
    sign_in(page, "account_manager_a")

    name = User.objects.get(username="account_manager_a").full_name
    expect(page.locator("#fincrm-welcome")).to_have_text(label("Welcome, %(name)s") % {"name": name})
    expect(page.locator("[data-field=org-unit]")).to_have_text("Sub-branch A1")
    # The user menu in the top bar names them too.
    expect(page.get_by_role("button", name=label("Open the user menu")).filter(visible=True)).to_contain_text(
        name
    )


def test_wrong_password_or_unknown_name_shows_the_generic_error(page: Page, live_world: World) -> None:
    open_sign_in(page)

    fill_sign_in(page, "account_manager_a", WRONG)

    expect(_form_error(page)).to_have_text(label("The username or password is not correct."))
    expect(page).to_have_url(url(page, "/signin/"))
    expect(page.get_by_label(label("Username"))).to_have_value("account_manager_a")
    expect(page.get_by_label(label("Password"))).to_have_value("")
    assert User.objects.get(username="account_manager_a").locked_at is None

    # A name that does not exist gets the very same answer.
    fill_sign_in(page, "nobody_here", WRONG)
    expect(_form_error(page)).to_have_text(label("The username or password is not correct."))
    expect(page.get_by_label(label("Username"))).to_have_value("nobody_here")


def test_signed_out_visitor_is_sent_to_sign_in_and_back(page: Page, live_world: World) -> None:
    page.goto(url(page, "/account/"))

    expect(page).to_have_url(url(page, "/signin/?next=/account/"))
    fill_sign_in(page, "account_manager_a", PASSWORD)
    expect(page).to_have_url(url(page, "/account/"))


def test_five_failures_lock_the_account_and_the_right_password_is_refused_alike(
    page: Page, live_world: World, settings: Any
) -> None:
    settings.FINCRM_LOCKOUT_FAILURES = 5
    settings.FINCRM_LOGIN_IP_FREE_FAILURES = 100  # the per-address slow-down must not come first
    open_sign_in(page)

    for attempt in range(5):
        assert User.objects.get(username="team_lead_a").locked_at is None, attempt
        fill_sign_in(page, "team_lead_a", WRONG)
        expect(_form_error(page)).to_have_text(label("The username or password is not correct."))
    wrong_password_page = _comparable(page)
    wrong_password_text = page.locator("body").inner_text()
    screenshot(page, "signin-wrong-password")

    assert User.objects.get(username="team_lead_a").locked_at is not None
    fill_sign_in(page, "team_lead_a", PASSWORD)

    expect(_form_error(page)).to_have_text(label("The username or password is not correct."))
    expect(page).to_have_url(url(page, "/signin/"))
    assert _comparable(page) == wrong_password_page
    assert page.locator("body").inner_text() == wrong_password_text
    screenshot(page, "signin-locked")

    # The lock is what refused the right password: once cleared (as an administrator's unlock
    # does), the same password gets in.
    User.objects.filter(username="team_lead_a").update(locked_at=None)
    fill_sign_in(page, "team_lead_a", PASSWORD)
    expect_home(page, "team_lead_a")
