"""The customer create / edit / lifecycle / transfer pages as a person uses them."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.messages import get_messages
from django.test import Client

from fincrm.customers.models import CoverageChange, Customer, CustomerStatus, LifecycleChange
from tests.support.auth import sign_in
from tests.support.english import client, english
from tests.support.world import World

__all__ = ["client", "english"]  # fixtures

pytestmark = pytest.mark.django_db


def signed_in(client: Client, username: str) -> Client:
    return sign_in(client, World.user(username))


def form(world: World, **extra: Any) -> dict[str, Any]:
    return {
        "kind": "individual",
        "name": "王小明",
        "org_unit_id": world.sub_a1,
        "aml_risk_rating": "low",
        "source_channel": "branch",
        "lifecycle_stage": "lead",
        "nationality": "CHN",
        **extra,
    }


def messages_of(response: Any) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


def test_create_form_offers_personal_documents_for_individuals(world: World, client: Client) -> None:
    page = signed_in(client, "account_manager_a").get("/customers/new/")
    assert page.status_code == 200
    assert page["Cache-Control"].startswith("max-age=0")
    html = page.content.decode()
    assert 'value="resident_id"' in html
    assert 'value="passport"' in html
    assert 'value="uscc"' not in html
    assert 'name="occupation"' in html
    assert f'<option value="{world.sub_a1}" selected>' in html
    assert "style=" not in html.split("<main", 1)[-1]  # strict CSP: no inline styles in the page body
    corporate = client.get("/customers/new/?kind=corporate").content.decode()
    assert 'value="uscc"' in corporate
    assert 'value="resident_id"' not in corporate
    assert 'name="occupation"' not in corporate
    assert 'name="industry"' in corporate


def test_create_redirects_to_the_new_customer(world: World, client: Client) -> None:
    response = signed_in(client, "account_manager_a").post(
        "/customers/new/",
        form(world, id_type="resident_id", id_number="110101199003070011", mobile="13800135678"),
    )
    assert response.status_code == 302
    created = Customer.objects.get(name="王小明")
    assert response["Location"] == f"/customers/{created.pk}/"
    assert created.primary_manager_id == World.user("account_manager_a").pk
    assert created.mobile == "+8613800135678"
    assert messages_of(response) == [f"Customer {created.customer_number} created."]


def test_create_with_errors_shows_them_on_the_fields_and_writes_nothing(world: World, client: Client) -> None:
    count = Customer.objects.count()
    response = signed_in(client, "account_manager_a").post(
        "/customers/new/", form(world, id_type="resident_id", id_number="11010519491231003X", email="nope")
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert "The check character (the last one) does not match" in html
    assert "Enter a valid e-mail address." in html
    assert Customer.objects.count() == count


def test_uscc_failing_its_check_is_kept_with_a_reason(world: World, client: Client) -> None:
    signed_in(client, "operations_a")
    data = {
        **form(
            world, kind="corporate", name="福建某某有限公司", id_type="uscc", id_number="91350100M000100Y44"
        ),
        "nationality": "",
    }
    refused = client.post("/customers/new/?kind=corporate", data)
    assert refused.status_code == 200
    assert "state why it is correct" in refused.content.decode()
    accepted = client.post(
        "/customers/new/?kind=corporate", {**data, "identity_override_reason": "Business licence checked"}
    )
    assert accepted.status_code == 302
    assert Customer.objects.get(name="福建某某有限公司").kind == "corporate"
    assert any("check character does not match" in text for text in messages_of(accepted))


def test_held_for_review_says_nothing_about_the_other_customer(world: World, client: Client) -> None:
    response = signed_in(client, "account_manager_a").post(
        "/customers/new/", form(world, id_type="resident_id", id_number="440305196405200017")
    )
    assert response.status_code == 302
    held = Customer.objects.get(name="王小明")
    assert held.status == CustomerStatus.NEEDS_REVIEW
    texts = " ".join(messages_of(response))
    assert "held for review" in texts
    assert "W-B" not in texts
    assert "李四" not in texts


def test_edit_form_never_shows_identifiers_in_clear(world: World, client: Client) -> None:
    html = signed_in(client, "account_manager_a").get(f"/customers/{world.customer_a}/edit/").content.decode()
    assert "13800138000" not in html
    assert "11010519491231002X" not in html
    assert "1949-12-31" not in html
    assert 'placeholder="138****8000"' in html
    assert 'placeholder="110***********002X"' in html
    assert 'value="张三"' in html


def test_edit_keeps_identifiers_left_empty(world: World, client: Client) -> None:
    response = signed_in(client, "account_manager_a").post(
        f"/customers/{world.customer_a}/edit/",
        {
            "name": "张三",
            "id_type": "resident_id",
            "nationality": "CHN",
            "aml_risk_rating": "low",
            "source_channel": "branch",
            "occupation": "Engineer",
        },
    )
    assert response.status_code == 302
    assert response["Location"] == f"/customers/{world.customer_a}/"
    customer = Customer.objects.get(pk=world.customer_a)
    assert customer.occupation == "Engineer"
    assert customer.mobile == "+8613800138000"
    assert customer.id_number == "11010519491231002X"


def test_edit_out_of_scope_is_not_found(world: World, client: Client) -> None:
    assert (
        signed_in(client, "account_manager_a").get(f"/customers/{world.customer_b}/edit/").status_code == 404
    )


def test_lifecycle_page(world: World, client: Client) -> None:
    signed_in(client, "account_manager_a")
    html = client.get(f"/customers/{world.customer_a}/lifecycle/").content.decode()
    assert 'value="customer"' not in html  # the current stage is not offered
    refused = client.post(f"/customers/{world.customer_a}/lifecycle/", {"stage": "lead"})
    assert refused.status_code == 200
    assert "cannot move directly" in refused.content.decode()
    response = client.post(
        f"/customers/{world.customer_a}/lifecycle/", {"stage": "dormant", "reason": "Quiet"}
    )
    assert response.status_code == 302
    assert LifecycleChange.objects.get(customer_id=world.customer_a).to_stage == "dormant"


def test_transfer_page_moves_the_customer_and_leaves_when_out_of_reach(world: World, client: Client) -> None:
    signed_in(client, "team_lead_a")
    html = client.get(f"/customers/{world.customer_a}/transfer/").content.decode()
    new_manager = World.user("operations_a")
    assert f'<option value="{new_manager.pk}">' in html
    refused = client.post(f"/customers/{world.customer_a}/transfer/", {"primary_manager_id": new_manager.pk})
    assert refused.status_code == 200
    response = client.post(
        f"/customers/{world.customer_a}/transfer/",
        {
            "primary_manager_id": new_manager.pk,
            "covering_team_id": world.team_a1,
            "reason": "Book rebalanced",
        },
    )
    assert response.status_code == 302
    assert response["Location"] == f"/customers/{world.customer_a}/"  # the team lead still covers it
    change = CoverageChange.objects.get(customer_id=world.customer_a)
    assert change.to_manager_id == new_manager.pk
    # The old manager lost the customer at once.
    old = Client(HTTP_ACCEPT_LANGUAGE="en")
    sign_in(old, World.user("account_manager_a"))
    assert old.get(f"/customers/{world.customer_a}/edit/").status_code == 404


def test_pages_are_translated_by_default(world: World) -> None:
    chinese = Client()
    sign_in(chinese, World.user("account_manager_a"))
    html = chinese.get("/customers/new/").content.decode()
    assert 'lang="zh-hans"' in html
