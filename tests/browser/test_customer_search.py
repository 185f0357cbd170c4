"""Finding a customer as a new user would: pinyin initials in the top bar, then the 360; and the
same customer is neither found nor opened by an account manager of another branch."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from fincrm.audit.models import AuditEvent
from tests.browser.flows import sign_in, sign_out, url
from tests.support.world import World

SEARCH = '[data-testid="topbar-search"] input[name="q"]'


def test_initials_find_the_customer_and_open_the_360(page: Page, live_world: World) -> None:
    sign_in(page, "account_manager_a")

    page.locator(SEARCH).first.fill("zs")
    live = page.locator('[data-testid="customer-search-live"]').first
    expect(live.locator(f'[data-customer="{live_world.customer_a}"]')).to_contain_text("张*")

    page.locator(SEARCH).first.press("Enter")
    results = page.locator('[data-testid="customer-search-results"]')
    expect(results.locator(f'tr[data-customer="{live_world.customer_a}"]')).to_contain_text("张*")
    assert "/search" in page.url
    assert "zs" not in page.url  # POSTed: nothing in the address

    results.locator(f'tr[data-customer="{live_world.customer_a}"] a').click()
    expect(page).to_have_url(url(page, f"/customers/{live_world.customer_a}/"))
    expect(page.locator('[data-field="mobile"]')).to_contain_text("138****8000")


def test_a_mobile_number_is_looked_up_on_enter_and_audited_without_the_number(
    page: Page, live_world: World
) -> None:
    sign_in(page, "account_manager_a")

    page.locator(SEARCH).first.fill("138 0013 8000")
    page.locator(SEARCH).first.press("Enter")

    expect(page.locator(f'tr[data-customer="{live_world.customer_a}"]')).to_be_visible()
    event = AuditEvent.objects.filter(action="customer.searched").latest("sequence")
    assert "13800138000" not in str(event.after) + str(event.before)


def test_an_account_manager_of_another_branch_finds_nothing_and_cannot_open_it(
    page: Page, live_world: World
) -> None:
    sign_in(page, "account_manager_a")
    sign_out(page)
    sign_in(page, "account_manager_b")

    page.locator(SEARCH).first.fill("zs")
    page.locator(SEARCH).first.press("Enter")
    expect(page.locator('[data-testid="search-empty"]')).to_be_visible()

    response = page.goto(url(page, f"/customers/{live_world.customer_a}/"))
    assert response is not None
    assert response.status == 404
