"""The page shell in the browser: language switch, idle timeout, the administration pages an
account manager may not open, the phone layout, and the screenshots in docs/images."""

from __future__ import annotations

import os
import re
import time
from pathlib import Path
from typing import Any

import pyotp
from django.contrib.sessions.backends.db import SessionStore
from django.contrib.sessions.models import Session
from playwright.sync_api import Page, ViewportSize, expect

from fincrm.org.models import OrgUnit, Team
from fincrm.users.models import User
from fincrm.users.sessions import SESSION_LAST_ACTIVITY
from tests.browser.conftest import screenshot
from tests.browser.flows import (
    expect_home,
    fill_sign_in,
    label,
    open_sign_in,
    session_cookie,
    sign_in,
    sign_in_with_totp,
    sign_out,
    url,
)
from tests.support.world import PASSWORD, World

NOTIFICATIONS = re.compile(r"/notifications/$")
DOC_IMAGES = Path(__file__).resolve().parents[2] / "docs" / "images"
PHONE: ViewportSize = {"width": 390, "height": 844}
DESKTOP: ViewportSize = {"width": 1280, "height": 800}


def _nav(page: Page) -> Any:
    return page.locator("#fincrm-sidebar nav")


def _cjk(text: str) -> bool:
    return any("\u4e00" <= ch <= "\u9fff" for ch in text)


def _last_activity(page: Page) -> int:
    session = Session.objects.get(session_key=session_cookie(page))
    return int(session.get_decoded()[SESSION_LAST_ACTIVITY])


def _set_last_activity(page: Page, epoch: int) -> None:
    """What the clock would have done: the session's last activity moved into the past."""
    store = SessionStore(session_key=session_cookie(page))
    store[SESSION_LAST_ACTIVITY] = epoch
    store.save()
    assert _last_activity(page) == epoch


def _sign_in_and_wait_for_the_poll(page: Page, username: str) -> Any:
    """Sign in; the home page's notifications poll has answered when this returns."""
    with page.expect_response(NOTIFICATIONS) as poll:
        sign_in(page, username)
    assert poll.value.status == 200
    return poll.value


# --- Language -------------------------------------------------------------------------------


def test_default_is_simplified_chinese_and_the_top_bar_switches_language(
    page: Page, live_world: World
) -> None:
    sign_in(page, "account_manager_a")
    home_zh = label("Home", "zh-hans")
    assert _cjk(home_zh)

    expect(page.locator("html")).to_have_attribute("lang", "zh-hans")
    expect(_nav(page).get_by_role("link", name=home_zh)).to_be_visible()

    page.locator("header").get_by_role("button", name=label("Language", "zh-hans")).click()
    page.locator("header .dropdown-menu.show").get_by_role("button", name="English").click()

    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(_nav(page).get_by_role("link", name="Home", exact=True)).to_be_visible()
    expect(page.locator("#fincrm-welcome")).to_have_text("Welcome, Account Manager A")
    expect(page).to_have_url(url(page, "/"))

    # It sticks to the next page, and switches back the same way.
    page.goto(url(page, "/account/"))
    expect(page.locator("html")).to_have_attribute("lang", "en")
    page.locator("header").get_by_role("button", name="Language").click()
    page.locator("header .dropdown-menu.show").get_by_role("button", name="简体中文").click()

    expect(page.locator("html")).to_have_attribute("lang", "zh-hans")
    expect(page).to_have_url(url(page, "/account/"))
    expect(_nav(page).get_by_role("link", name=home_zh)).to_be_visible()


def test_the_sign_in_page_offers_the_language_switch_too(page: Page, live_world: World) -> None:
    open_sign_in(page)
    expect(page.locator("html")).to_have_attribute("lang", "zh-hans")

    page.get_by_role("button", name="English").click()

    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.get_by_role("heading", name="Sign in to fincrm")).to_be_visible()
    fill_sign_in(page, "account_manager_a", PASSWORD, "en")
    expect(page.locator("#fincrm-welcome")).to_have_text("Welcome, Account Manager A")


# --- Session idle timeout -------------------------------------------------------------------


def test_idle_session_ends_with_a_message(page: Page, live_world: World, settings: Any) -> None:
    settings.FINCRM_SESSION_IDLE_SECONDS = 60
    _sign_in_and_wait_for_the_poll(page, "account_manager_a")
    key = session_cookie(page)

    _set_last_activity(page, int(time.time()) - 61)
    page.goto(url(page, "/account/"))

    expect(page).to_have_url(url(page, "/signin/?next=/account/"))
    expect(page.get_by_role("status")).to_have_text(label("Your session has ended; please sign in again"))
    assert not Session.objects.filter(session_key=key).exists()
    # Signing in again goes where the user was headed.
    fill_sign_in(page, "account_manager_a", PASSWORD)
    expect(page).to_have_url(url(page, "/account/"))


def test_notifications_poll_is_not_activity(page: Page, live_world: World, settings: Any) -> None:
    settings.FINCRM_SESSION_IDLE_SECONDS = 60
    # The page's own clock is under the test's control, so the 60-second poll can be made to
    # fire at once; the server's clock is moved by editing the session.
    page.clock.install()
    poll = _sign_in_and_wait_for_the_poll(page, "account_manager_a")
    assert poll.request.headers.get("x-fincrm-background") == "1"

    quiet_since = int(time.time()) - 50
    _set_last_activity(page, quiet_since)
    with page.expect_response(NOTIFICATIONS) as next_poll:
        page.clock.run_for(61_000)
    assert next_poll.value.status == 200
    assert next_poll.value.request.headers.get("x-fincrm-background") == "1"
    assert _last_activity(page) == quiet_since  # the poll did not count

    # A click does count. The new page polls as it loads: wait for that answer, or it could be taken
    # for the poll below (seen in CI under load).
    with page.expect_response(NOTIFICATIONS):
        page.get_by_role("link", name=label("Home")).filter(visible=True).first.click()
    expect_home(page, "account_manager_a")
    assert _last_activity(page) >= int(time.time()) - 5

    # A poll once the idle limit has passed ends the session (401, and the server forgets the
    # session) and takes the whole page to sign-in at once, which says why.
    key = session_cookie(page)
    _set_last_activity(page, int(time.time()) - 61)
    with page.expect_response(NOTIFICATIONS) as ending_poll:
        page.clock.run_for(61_000)
    assert ending_poll.value.status == 401
    assert not Session.objects.filter(session_key=key).exists()
    expect(page).to_have_url(url(page, "/signin/?next=/"))
    expect(page.get_by_text(label("Your session has ended; please sign in again"))).to_be_visible()


# --- Administration pages -------------------------------------------------------------------


def test_account_manager_is_refused_the_administration_pages(page: Page, live_world: World) -> None:
    sign_in(page, "account_manager_a")

    expect(_nav(page).get_by_role("link", name=label("Home"))).to_be_visible()
    expect(_nav(page)).not_to_contain_text(label("Administration"))
    for item in ("Org units", "Teams", "Users", "Roles", "Approvals", "Security alerts"):
        expect(_nav(page).get_by_role("link", name=label(item))).to_have_count(0)

    for path in ("/admin/users/", "/admin/roles/", "/admin/org/", "/admin/approvals/", "/security/alerts/"):
        response = page.goto(url(page, path))
        assert response is not None
        assert response.status == 403, path
        expect(page.get_by_role("heading", name=label("Access denied"))).to_be_visible()
        expect(page.locator("[data-status]")).to_have_attribute("data-status", "403")


def test_system_admin_after_mfa_opens_the_administration_pages(page: Page, live_world: World) -> None:
    sign_in_with_totp(page, "system_admin_a")

    expect(_nav(page).get_by_text(label("Administration"))).to_be_visible()
    _nav(page).get_by_role("link", name=label("Users")).click()
    expect(page).to_have_url(url(page, "/admin/users/"))
    expect(page.get_by_role("heading", name=label("Users"))).to_be_visible()
    expect(page.get_by_role("cell", name="account_manager_a")).to_be_visible()
    expect(_nav(page).get_by_role("link", name=label("Users"))).to_have_attribute("aria-current", "page")

    response = page.goto(url(page, "/admin/roles/"))
    assert response is not None
    assert response.status == 200
    expect(page.get_by_role("heading", name=label("Roles"))).to_be_visible()
    expect(page.get_by_role("link", name=label("Account manager"))).to_be_visible()


# --- Phone ----------------------------------------------------------------------------------


def test_phone_width_hides_the_menu_behind_a_button(page: Page, live_world: World) -> None:
    page.set_viewport_size(PHONE)
    sign_in(page, "account_manager_a")
    home = _nav(page).get_by_role("link", name=label("Home"))
    toggle = page.get_by_role("button", name=label("Show or hide the menu"))

    expect(toggle).to_be_visible()
    expect(home).to_be_hidden()
    expect(page.locator("#fincrm-welcome")).to_be_in_viewport()

    toggle.click()
    expect(home).to_be_visible()
    expect(toggle).to_have_attribute("aria-expanded", "true")
    home.click()
    expect_home(page, "account_manager_a")
    expect(_nav(page).get_by_role("link", name=label("Home"))).to_be_hidden()


# --- Screenshots for the documentation ------------------------------------------------------

# Demo-like names for the documentation images: the two users shown, then everybody else.
CHINESE_NAMES = {"account_manager_a": "王晓明", "system_admin_a": "李静"}
OTHER_NAMES = [
    "张伟",
    "刘洋",
    "陈静",
    "杨帆",
    "赵磊",
    "黄丽",
    "周杰",
    "吴敏",
    "徐强",
    "孙婷",
    "马超",
    "朱琳",
    "胡斌",
    "郭芳",
    "何勇",
    "高洁",
    "林涛",
    "罗娟",
    "郑浩",
    "梁雪",
    "谢军",
    "宋佳",
    "唐亮",
    "韩梅",
    "冯刚",
    "邓霞",
    "曹阳",
    "彭程",
    "曾红",
    "肖鹏",
    "田甜",
    "董明",
    "袁媛",
    "潘宇",
    "蒋欣",
    "蔡文",
    "余静",
    "杜鹃",
    "叶飞",
    "程颖",
]
CHINESE_UNITS = {
    "HQ": "总行",
    "BR-A": "上海分行",
    "BR-B": "北京分行",
    "SB-A1": "浦东支行",
    "SB-B1": "朝阳支行",
}
CHINESE_TEAMS = {"T-A1": "浦东财富管理一组", "T-B1": "朝阳财富管理一组"}


def _demo_names() -> None:
    others = iter(OTHER_NAMES)
    for user in User.objects.order_by("username"):
        name = CHINESE_NAMES.get(user.username) or next(others)
        User.objects.filter(pk=user.pk).update(full_name=name)
    for code, name in CHINESE_UNITS.items():
        OrgUnit.objects.filter(code=code).update(name=name)
    for code, name in CHINESE_TEAMS.items():
        Team.objects.filter(code=code).update(name=name)


def _settled(page: Page) -> None:
    """Nothing left to arrive (the bell's poll has been answered)."""
    page.wait_for_load_state("networkidle")


def test_docs_screenshots(page: Page, live_world: World) -> None:
    """The images in docs/images (written there only with FINCRM_DOC_SCREENSHOTS=1)."""
    directory = DOC_IMAGES if os.environ.get("FINCRM_DOC_SCREENSHOTS") == "1" else None

    def shot(name: str, *, full_page: bool = False) -> None:
        _settled(page)
        path = screenshot(page, name, full_page=full_page, directory=directory)
        assert path.stat().st_size > 10_000, name

    _demo_names()

    open_sign_in(page)
    shot("signin")

    fill_sign_in(page, "system_admin_a", PASSWORD)
    expect(
        page.get_by_role("img", name=label("QR code for your authenticator app")).locator("svg")
    ).to_be_visible()
    shot("mfa-enrollment", full_page=True)
    secret = page.locator("code[data-secret]").inner_text().strip()
    page.get_by_label(label("Code from your app")).fill(pyotp.TOTP(secret).now())
    page.get_by_role("button", name=label("Confirm")).click()
    expect(page.get_by_role("heading", name=label("Recovery codes"))).to_be_visible()

    page.goto(url(page, "/admin/users/"))
    expect(page.get_by_role("heading", name=label("Users"))).to_be_visible()
    expect(page.get_by_role("cell", name="account_manager_a")).to_be_visible()
    shot("shell-desktop-admin")

    page.set_viewport_size(PHONE)
    page.reload()
    expect(page.get_by_role("button", name=label("Show or hide the menu"))).to_be_visible()
    shot("shell-phone-admin")

    page.set_viewport_size(DESKTOP)
    sign_out(page)
    fill_sign_in(page, "account_manager_a", PASSWORD)
    expect_home(page, "account_manager_a")
    expect(page.locator("[data-field=org-unit]")).to_have_text("浦东支行")
    shot("shell-desktop-account-manager")

    page.set_viewport_size(PHONE)
    page.get_by_role("button", name=label("Show or hide the menu")).click()
    expect(_nav(page).get_by_role("link", name=label("Home"))).to_be_visible()
    # The collapse animation has ended when the menu has its final class.
    expect(page.locator("#fincrm-sidebar")).to_have_class(re.compile(r"\bshow\b"))
    shot("shell-phone-account-manager")
