"""GET /api/v1/customers/{id}/360: the 360 as JSON, masked, scoped, audited."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from fincrm.audit.models import AuditEvent
from fincrm.customers.api.profile import Customer360Out
from fincrm.customers.models import Customer
from fincrm.customers.selectors.profile import customer_360
from fincrm.platform.api import RENDERER
from fincrm.privacy import services as privacy
from tests.customers.factories import corporate_group
from tests.customers.profile_support import actor_of, add_portfolio
from tests.support.auth import sign_in
from tests.support.english import client, english
from tests.support.world import World

__all__ = ["client", "english"]

pytestmark = pytest.mark.django_db


def get_360(client: Client, username: str, customer_id: int) -> Any:
    sign_in(client, World.user(username))
    return client.get(f"/api/v1/customers/{customer_id}/360")


def test_payload_is_masked(world: World, client: Client) -> None:
    response = get_360(client, "account_manager_a", world.customer_a)

    assert response.status_code == 200
    body = response.json()
    identity = body["identity"]
    assert identity["customer_id"] == world.customer_a
    assert identity["customer_number"] == "W-A"
    assert identity["name"] == "张*"
    assert identity["mobile"] == "138****8000"
    assert identity["id_number"] == "110***********002X"
    assert identity["id_type"] == {"code": "resident_id", "label": "Resident ID card"}
    text = response.content.decode()
    for clear in ("张三", "13800138000", "11010519491231002X"):
        assert clear not in text
    assert body["coverage"]["primary"]["username"] == "account_manager_a"
    assert body["coverage"]["team"]["code"] == "T-A1"
    assert body["lifecycle_stage"] == {"code": "customer", "label": "Customer"}
    assert [flag["code"] for flag in body["flags"]] == ["aml_rating", "risk_assessment_missing"]
    assert body["interactions"] == {"available": False, "rows": []}
    assert "no-store" in response["Cache-Control"]


def test_portfolio_and_money_as_exact_decimals(world: World, client: Client) -> None:
    add_portfolio(world.customer_a)
    Customer.objects.filter(pk=world.customer_a).update(aum="161000.00", aum_updated_at=timezone.now())

    body = get_360(client, "account_manager_a", world.customer_a).json()

    assert body["aum"]["current"] == "161000.00"
    assert len(body["aum"]["points"]) == 12
    assert body["aum"]["points"][-1]["mix"]["wealth"] == "50000.00"
    assert body["holdings"]["rows"][0]["maturing_soon"] is True
    assert body["holdings"]["rows"][0]["days_to_maturity"] == 30
    assert body["accounts"]["rows"][0]["number"] == "尾号0000"
    assert "source" not in body["accounts"]["rows"][0]
    assert body["transactions"]["rows"][0]["amount"] == "1234.50"
    assert body["tags"][0]["label"] == "高净值0"
    spouse = body["relationships"][0]
    assert spouse["role"] == "Spouse"
    assert spouse["other"]["name"] == "王*"  # in scope: linked, its name masked like every name here
    assert spouse["other"]["visible"] is True
    assert body["household"]["name"] == "张家"
    assert [member["party"]["name"] for member in body["household"]["members"]] == ["张*", "王*"]
    assert body["aum"]["household"]["members"] == 2
    assert body["group_tree"] is None  # an individual belongs to no corporate group


def test_out_of_scope_is_404_in_the_error_body(world: World, client: Client) -> None:
    response = get_360(client, "account_manager_b", world.customer_a)

    assert response.status_code == 404
    assert response.json()["code"] == "not_found"
    assert not AuditEvent.objects.filter(action="customer.viewed", object_id=str(world.customer_a)).exists()


def test_anonymous_is_401(world: World, client: Client) -> None:
    assert client.get(f"/api/v1/customers/{world.customer_a}/360").status_code == 401


def test_opening_through_the_api_is_audited(world: World, client: Client) -> None:
    get_360(client, "risk_officer_a", world.customer_b)

    event = AuditEvent.objects.get(action="customer.viewed", object_id=str(world.customer_b))
    assert event.actor_label == "user:risk_officer_a"
    assert event.after == {"via": "api"}


def test_the_api_and_the_page_show_the_same_customer(world: World, client: Client) -> None:
    body = get_360(client, "account_manager_a", world.customer_a).json()
    page = client.get(f"/customers/{world.customer_a}/")

    profile = page.context["profile"]
    assert body["identity"]["name"] == profile.identity.name
    assert body["identity"]["mobile"] == profile.identity.mobile
    assert [flag["code"] for flag in body["flags"]] == [flag.code for flag in profile.flags]


def _as_ninja_sends(username: str, customer_id: int) -> Any:
    """The 360 as ninja itself would serialize it: pydantic validating the rows against
    Customer360Out, its dump rendered by the API's renderer."""
    dump = Customer360Out.model_validate(customer_360(actor_of(username), customer_id)).model_dump()
    return json.loads(RENDERER.render(None, dump, response_status=200))


def _checked_against_the_schema(response: Any) -> Any:
    assert response.status_code == 200
    Customer360Out.model_validate_json(response.content)  # every field there, of its type
    return response.json()


def test_the_payload_is_what_the_schema_describes(world: World, client: Client) -> None:
    """The endpoint serializes its rows itself (without pydantic validating them): the contract
    is that it sends exactly what ninja's validation of Customer360Out would send."""
    add_portfolio(world.customer_a, size=3)
    manager = actor_of("account_manager_a")
    privacy.consent_record(
        actor=manager, customer_id=world.customer_a, purpose_code="marketing", channel="sms", source="branch"
    )
    Customer.objects.filter(pk=world.customer_a).update(aum="161000.00", aum_updated_at=timezone.now())

    body = _checked_against_the_schema(get_360(client, "account_manager_a", world.customer_a))

    assert body == _as_ninja_sends("account_manager_a", world.customer_a)
    # Not vacuous: the nested sections are there, with rows.
    assert len(body["transactions"]["rows"]) == 3
    assert body["relationships"]
    assert body["household"]["members"]
    assert any(row["given"] for row in body["consents"]["rows"])
    assert body["aum"]["updated_at"].endswith("Z")


def test_a_corporate_payload_with_its_group_is_what_the_schema_describes(
    world: World, client: Client
) -> None:
    manager = World.user("account_manager_a")
    _parent, child = corporate_group(manager)

    body = _checked_against_the_schema(get_360(client, "account_manager_a", child.pk))

    assert body == _as_ninja_sends("account_manager_a", child.pk)
    nodes = body["group_tree"]["nodes"]
    assert len(nodes) == 3
    assert set(nodes[0]) == {"party", "depth", "is_current"}  # the selector's other fields stay out
