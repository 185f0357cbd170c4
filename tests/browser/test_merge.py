"""Duplicates in a real browser: operations at head office reviews a held pair across two branches,
keeps the left customer's values but the right one's e-mail, merges, and lands on the survivor,
which now carries the absorbed customer's tags."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect

from fincrm.customers.models import Customer, CustomerStatus, CustomerTag, DuplicateCandidate
from fincrm.users.models import Role, RoleAssignment, User
from tests.browser.conftest import screenshot
from tests.browser.flows import label, sign_in, url
from tests.customers.factories import CustomerFactory, TagFactory
from tests.support.world import PASSWORD, World

pytestmark = pytest.mark.django_db(transaction=True)


def _hq_operations(world: World) -> str:
    user = User(username="ops_hq", full_name="Ops HQ", org_unit_id=world.hq)
    user.set_password(PASSWORD)
    user.save()
    RoleAssignment.objects.create(user=user, role=Role.objects.get(code="operations"))
    return user.username


def test_operations_at_hq_reviews_and_merges_a_pair(live_world: World, page: Any) -> None:
    username = _hq_operations(live_world)
    held = CustomerFactory(
        customer_number="HELD1",
        name="张三",
        mobile="+8613800138000",
        email="zhang@example.com",
        id_number=None,
        org_unit_id=live_world.sub_b1,
        status=CustomerStatus.NEEDS_REVIEW,
    )
    vip, wealth = TagFactory(label="VIP"), TagFactory(label="理财")
    CustomerTag.objects.create(customer=held, tag=vip)
    CustomerTag.objects.create(customer=held, tag=wealth)
    candidate = DuplicateCandidate.objects.create(
        first_id=live_world.customer_a, second_id=held.pk, reason=DuplicateCandidate.Reason.HELD_FOR_REVIEW
    )

    sign_in(page, username)
    page.goto(url(page, "/customers/duplicates/"))
    row = page.locator(f'[data-duplicate-row="{candidate.pk}"]')
    expect(row).to_contain_text("HELD1")
    row.get_by_role("link", name=label("Review")).click()

    expect(page).to_have_url(url(page, f"/customers/duplicates/{candidate.pk}/"))
    table = page.locator('[data-testid="compare-table"]')
    expect(table).to_contain_text("138****8000")
    expect(table).not_to_contain_text("13800138000")
    page.locator('input[name="survivor"][value="first"]').check()
    # The left customer has no e-mail, so the form already keeps the right one's.
    expect(page.locator('input[name="keep_email"][value="second"]')).to_be_checked()
    page.get_by_label(label("Reason"), exact=True).fill("同一客户在两个网点开户")
    screenshot(page, "merge-compare")
    page.get_by_test_id("merge-submit").click()

    expect(page).to_have_url(url(page, f"/customers/{live_world.customer_a}/"))
    survivor_tags = set(
        CustomerTag.objects.filter(customer_id=live_world.customer_a).values_list("tag__label", flat=True)
    )
    assert {"VIP", "理财"} <= survivor_tags
    absorbed = Customer.objects.get(pk=held.pk)
    assert (absorbed.status, absorbed.merged_into_id) == (CustomerStatus.MERGED, live_world.customer_a)
    assert Customer.objects.get(pk=live_world.customer_a).email == "zhang@example.com"
    assert DuplicateCandidate.objects.get(pk=candidate.pk).status == "merged"

    # The absorbed customer's address now points to the survivor.
    page.goto(url(page, f"/customers/{held.pk}/"))
    expect(page.get_by_test_id("merged-customer")).to_be_visible()
    page.get_by_test_id("merged-customer").get_by_role("link").click()
    expect(page).to_have_url(url(page, f"/customers/{live_world.customer_a}/"))
