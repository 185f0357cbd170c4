"""The customer API as an integrator uses it: create, read masked, patch, lifecycle, transfer."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from fincrm.audit.models import AuditEvent
from fincrm.customers.models import Customer, CustomerStatus
from fincrm.platform.models import OutboxEvent
from tests.support.auth import sign_in
from tests.support.english import client, english
from tests.support.world import World

__all__ = ["client", "english"]  # fixtures

pytestmark = pytest.mark.django_db


def api(client: Client, username: str) -> Client:
    return sign_in(client, World.user(username))


def post(client: Client, path: str, body: dict[str, Any]) -> Any:
    return client.post(path, body, content_type="application/json")


def test_create_answers_201_with_masked_identifiers(world: World, client: Client) -> None:
    response = post(
        api(client, "account_manager_a"),
        "/api/v1/customers",
        {
            "kind": "individual",
            "name": "王小明",
            "org_unit_id": world.sub_a1,
            "id_type": "resident_id",
            "id_number": "110101199003070011",
            "mobile": "+86 138 0013 5678",
            "aml_risk_rating": "high",
        },
    )
    assert response.status_code == 201, response.content
    body = response.json()
    created = Customer.objects.get(pk=body["id"])
    assert body["customer_number"] == created.customer_number
    assert body["name"] == "王**"
    assert body["id_number"] == "110***********0011"
    assert body["mobile"] == "138****5678"
    assert body["gender"] == "male"
    assert body["status"] == "active"
    assert body["aml_next_review_on"] == created.aml_next_review_on.isoformat()  # type: ignore[union-attr]
    assert body["primary_manager_id"] == World.user("account_manager_a").pk
    assert body["warnings"] == []
    assert "birth_date" not in body


def test_create_refusal_uses_the_error_body_and_writes_nothing(world: World, client: Client) -> None:
    before = (Customer.objects.count(), AuditEvent.objects.count(), OutboxEvent.objects.count())
    response = post(
        api(client, "account_manager_a"),
        "/api/v1/customers",
        {"kind": "individual", "name": "王小明", "org_unit_id": world.sub_b1, "mobile": "12345"},
    )
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "invalid"
    assert body["fields"] == {
        "mobile": [
            "A mainland mobile number has 11 digits starting with 13 to 19; other countries start with +."
        ],
        "org_unit_id": ["Choose an active home branch within your reach."],
    }
    assert (Customer.objects.count(), AuditEvent.objects.count(), OutboxEvent.objects.count()) == before


def test_create_without_kind_is_a_validation_error(world: World, client: Client) -> None:
    response = post(api(client, "account_manager_a"), "/api/v1/customers", {"name": "王小明"})
    assert response.status_code == 422
    assert "kind" in response.json()["fields"]


def test_held_for_review_over_the_api_reveals_nothing(world: World, client: Client) -> None:
    response = post(
        api(client, "account_manager_a"),
        "/api/v1/customers",
        {
            "kind": "individual",
            "name": "李四",
            "org_unit_id": world.sub_a1,
            "id_type": "resident_id",
            "id_number": "440305196405200017",
        },
    )
    assert response.status_code == 201
    body = response.json()
    assert body["status"] == CustomerStatus.NEEDS_REVIEW
    assert "W-B" not in response.content.decode()
    assert str(world.customer_b) not in {str(value) for value in body.values()} - {
        str(body["org_unit_id"]),
        str(body["primary_manager_id"]),
    }
    assert [warning["code"] for warning in body["warnings"]] == ["region_not_current"]


def test_uscc_override_over_the_api(world: World, client: Client) -> None:
    data = {
        "kind": "corporate",
        "name": "福建某某有限公司",
        "org_unit_id": world.sub_a1,
        "id_type": "uscc",
        "id_number": "91350100M000100Y44",
    }
    api(client, "operations_a")
    refused = post(client, "/api/v1/customers", data)
    assert refused.status_code == 400
    assert "identity_override_reason" in refused.json()["fields"]
    accepted = post(client, "/api/v1/customers", {**data, "identity_override_reason": "Licence checked"})
    assert accepted.status_code == 201
    assert accepted.json()["warnings"][0]["code"] == "uscc_checksum"


def test_get_masks_and_out_of_scope_is_404(world: World, client: Client) -> None:
    api(client, "account_manager_a")
    body = client.get(f"/api/v1/customers/{world.customer_a}").json()
    assert body["customer_number"] == "W-A"
    assert body["id_number"] == "110***********002X"
    assert body["mobile"] == "138****8000"
    assert "11010519491231002X" not in str(body)
    missing = client.get(f"/api/v1/customers/{world.customer_b}")
    assert missing.status_code == 404
    assert missing.json()["code"] == "not_found"
    unknown = client.get("/api/v1/customers/999999").json()
    assert {**unknown, "request_id": ""} == {**missing.json(), "request_id": ""}  # same answer as missing


def test_patch_changes_only_the_fields_sent(world: World, client: Client) -> None:
    response = api(client, "account_manager_a").patch(
        f"/api/v1/customers/{world.customer_a}",
        {"occupation": "Teacher", "reason": "Customer called"},
        content_type="application/json",
    )
    assert response.status_code == 200
    customer = Customer.objects.get(pk=world.customer_a)
    assert customer.occupation == "Teacher"
    assert customer.mobile == "+8613800138000"
    event = AuditEvent.objects.get(action="customer.updated")
    assert (event.before, event.after, event.reason) == (
        {"occupation": ""},
        {"occupation": "Teacher"},
        "Customer called",
    )


def test_patch_refuses_a_bad_field(world: World, client: Client) -> None:
    response = api(client, "account_manager_a").patch(
        f"/api/v1/customers/{world.customer_a}", {"email": "nope"}, content_type="application/json"
    )
    assert response.status_code == 400
    assert response.json()["fields"] == {"email": ["Enter a valid e-mail address."]}


def test_lifecycle_and_transfer(world: World, client: Client) -> None:
    api(client, "team_lead_a")
    lifecycle = post(client, f"/api/v1/customers/{world.customer_a}/lifecycle", {"stage": "dormant"})
    assert lifecycle.status_code == 200
    assert lifecycle.json()["lifecycle_stage"] == "dormant"
    new_manager = World.user("operations_a").pk
    missing_reason = post(
        client,
        f"/api/v1/customers/{world.customer_a}/transfer",
        {"primary_manager_id": new_manager, "reason": ""},
    )
    assert missing_reason.status_code == 400
    assert list(missing_reason.json()["fields"]) == ["reason"]
    moved = post(
        client,
        f"/api/v1/customers/{world.customer_a}/transfer",
        {"primary_manager_id": new_manager, "reason": "Rebalancing"},
    )
    assert moved.status_code == 200
    assert moved.json()["primary_manager_id"] == new_manager
    assert moved.json()["covering_team_id"] == world.team_a1  # omitted: kept


def test_list_and_create_share_the_collection_path(world: World, client: Client) -> None:
    api(client, "account_manager_a")
    assert client.get("/api/v1/customers").status_code == 200
    created = post(
        client, "/api/v1/customers", {"kind": "individual", "name": "赵敏", "org_unit_id": world.sub_a1}
    )
    assert created.status_code == 201
