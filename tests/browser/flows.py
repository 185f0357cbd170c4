"""What a user does in the browser, step by step, shared by the browser tests.

Every step clicks and types on the real pages; the only shortcuts are the ones a test needs to
know a secret a phone would hold (the TOTP key of a device enrolled beforehand).
"""

from __future__ import annotations

from typing import Any

import pyotp
from django.utils import translation
from django.utils.translation import gettext
from playwright.sync_api import Page, expect

from fincrm.users.actors import actor_for_user
from fincrm.users.models import MfaDevice, User
from fincrm.users.services.mfa import mfa_setup_begin, mfa_setup_confirm
from tests.support.world import PASSWORD


def label(text: str, language: str = "zh-hans") -> str:
    """A msgid as the page shows it in ``language`` (the catalogue may still be untranslated)."""
    with translation.override(language):
        return gettext(text)


def url(page: Page, path: str) -> str:
    return str(page.base_url) + path  # type: ignore[attr-defined]


def fill_sign_in(page: Page, username: str, password: str, language: str = "zh-hans") -> None:
    """On the sign-in page: type the name and password and press the button."""
    page.get_by_label(label("Username", language)).fill(username)
    page.get_by_label(label("Password", language)).fill(password)
    page.get_by_role("button", name=label("Sign in", language), exact=True).click()


def open_sign_in(page: Page) -> None:
    page.goto(url(page, "/signin/"))
    expect(page.get_by_role("heading", name=label("Sign in to fincrm"))).to_be_visible()


def sign_in(page: Page, username: str, password: str = PASSWORD) -> None:
    """Sign in with a password only and land on the home page."""
    open_sign_in(page)
    fill_sign_in(page, username, password)
    expect_home(page, username)


def expect_home(page: Page, username: str) -> None:
    name = User.objects.get(username=username).full_name
    expect(page).to_have_url(url(page, "/"))
    expect(page.locator("#fincrm-welcome")).to_have_text(label("Welcome, %(name)s") % {"name": name})


def enroll_device(username: str) -> str:
    """A confirmed TOTP device made through the services (as if enrolled earlier); its secret.

    Its last used step is reset so a code of the current step is accepted at sign-in."""
    user = User.objects.get(username=username)
    actor = actor_for_user(user)
    device = mfa_setup_begin(actor=actor)
    mfa_setup_confirm(actor=actor, code=pyotp.TOTP(device.secret).now())
    MfaDevice.objects.filter(pk=device.pk).update(last_used_step=0)
    return str(device.secret)


def enter_code(page: Page, code: str) -> None:
    """On the second-factor page: type a code and press Verify."""
    expect(page.get_by_role("heading", name=label("Two-factor sign-in"))).to_be_visible()
    page.get_by_label(label("Code"), exact=True).fill(code)
    page.get_by_role("button", name=label("Verify")).click()


def sign_in_with_totp(page: Page, username: str) -> str:
    """Enroll a device beforehand, then sign in with the password and a code from it."""
    secret = enroll_device(username)
    open_sign_in(page)
    fill_sign_in(page, username, PASSWORD)
    expect(page).to_have_url(url(page, "/signin/verify/"))
    enter_code(page, pyotp.TOTP(secret).now())
    expect_home(page, username)
    return secret


def sign_out(page: Page) -> None:
    """Through the user menu in the top bar."""
    page.get_by_role("button", name=label("Open the user menu")).filter(visible=True).first.click()
    page.locator(".dropdown-menu.show").get_by_role("button", name=label("Sign out")).click()
    expect(page).to_have_url(url(page, "/signin/"))


def session_cookie(page: Page) -> str:
    from django.conf import settings

    cookies: list[Any] = page.context.cookies()
    return next(c["value"] for c in cookies if c["name"] == settings.SESSION_COOKIE_NAME)
