"""The customer list in a real browser: filter by stage and tag, save a view, reload it, export CSV
(step-up, download, neutralized cells, watermark)."""

from __future__ import annotations

import csv
import io
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyotp
import pytest
from playwright.sync_api import expect

from fincrm.customers.models import Customer, CustomerTag, SavedView
from fincrm.users.models import MfaDevice, User
from tests.browser.conftest import screenshot
from tests.browser.flows import enroll_device, label, open_sign_in, url
from tests.customers.factories import CustomerFactory, TagFactory
from tests.support.world import PASSWORD, World

pytestmark = pytest.mark.django_db(transaction=True)

USER = "branch_manager_a"  # customer.export over sub-branch A1; its role requires MFA


def _book() -> int:
    vip = TagFactory(label="VIP", colour="red")
    dormant = CustomerFactory(customer_number="D1", name="=1+2", lifecycle_stage="dormant", aum=Decimal("10"))
    CustomerFactory(customer_number="D2", lifecycle_stage="dormant", aum=Decimal("20"))  # no tag
    tagged_customer = CustomerFactory(customer_number="C1", lifecycle_stage="customer", aum=Decimal("30"))
    CustomerTag.objects.create(customer=dormant, tag=vip)
    CustomerTag.objects.create(customer=tagged_customer, tag=vip)
    return vip.pk


def _rows(page: Any) -> list[str]:
    return page.locator(
        '[data-testid="customer-table"] tbody tr[data-customer] td:nth-child(2) code'
    ).all_inner_texts()


def test_filter_save_view_reload_and_export(live_world: World, page: Any, tmp_path: Path) -> None:
    vip = _book()
    secret = enroll_device(USER)
    open_sign_in(page)
    page.get_by_label(label("Username")).fill(USER)
    page.get_by_label(label("Password")).fill(PASSWORD)
    page.get_by_role("button", name=label("Sign in"), exact=True).click()
    page.get_by_label(label("Code"), exact=True).fill(pyotp.TOTP(secret).now())
    page.get_by_role("button", name=label("Verify")).click()
    expect(page).to_have_url(url(page, "/"))

    # Filter by stage and tag.
    page.goto(url(page, "/customers/?sort=number"))
    filters = page.locator('[data-testid="customer-filters"]')
    filters.get_by_label(label("Dormant"), exact=True).check()
    filters.locator('select[name="tag"]').select_option(str(vip))
    filters.get_by_role("button", name=label("Apply")).click()
    expect(page.locator('[data-testid="customer-table"] tbody tr[data-customer]')).to_have_count(1)
    assert _rows(page) == ["D1"]

    # Save the view, go elsewhere, reload it from the saved-views menu.
    page.get_by_test_id("saved-views-toggle").click()
    page.locator("#id_view_label").fill("Dormant VIP")
    page.get_by_role("button", name=label("Save view"), exact=True).click()
    expect(page).to_have_url(url(page, f"/customers/?view={SavedView.objects.get(label='Dormant VIP').pk}"))
    page.goto(url(page, "/customers/?sort=number"))
    expect(page.locator('[data-testid="customer-table"] tbody tr[data-customer]')).to_have_count(4)
    page.get_by_test_id("saved-views-toggle").click()
    page.get_by_test_id("saved-view").filter(has_text="Dormant VIP").click()
    expect(page.locator('[data-testid="customer-table"] tbody tr[data-customer]')).to_have_count(1)
    assert _rows(page) == ["D1"]
    screenshot(page, "customer-list")

    # Export: the step-up comes first, then the file.
    page.get_by_test_id("export-link").click()
    page.get_by_label("CSV", exact=True).check()
    page.get_by_test_id("export-submit").click()
    expect(page.get_by_role("heading", name=label("Confirm it is you"))).to_be_visible()
    # A code of the sign-in's time step is accepted once: let this one count as fresh.
    MfaDevice.objects.filter(user=User.objects.get(username=USER)).update(last_used_step=0)
    page.locator('input[name="secret"]').fill(pyotp.TOTP(secret).now())
    page.get_by_role("button", name=label("Confirm")).click()
    page.get_by_label("CSV", exact=True).check()
    page.get_by_test_id("export-submit").click()
    expect(page.get_by_test_id("export-download")).to_be_visible()
    with page.expect_download() as download_info:
        page.get_by_test_id("export-download").click()
    path = download_info.value.path()
    rows = list(csv.reader(io.StringIO(Path(path).read_text(encoding="utf-8-sig"), newline="")))
    assert rows[0][0].startswith(f"Exported by {USER}") or USER in rows[0][0]
    assert len(rows) == 3
    number_column = rows[1].index(label("Customer number"))
    name_column = rows[1].index(label("Name"))
    assert rows[2][number_column] == "D1"
    assert rows[2][name_column].startswith("'=")  # neutralized: never a formula
    assert Customer.objects.get(customer_number="D1").name == "=1+2"
