"""The privacy API."""

from __future__ import annotations

from django.test import Client

from fincrm.privacy.models import Consent, SubjectRequest
from tests.support.auth import sign_in
from tests.support.world import World


def test_consents_round_trip(world: World, client: Client) -> None:
    sign_in(client, World.user("account_manager_a"))
    base = f"/api/v1/customers/{world.customer_a}/consents"
    rows = client.get(base).json()
    assert len(rows) == 4 + 3  # marketing per channel, then profiling and two kinds of sharing
    assert {row["purpose"] for row in rows} == {
        "marketing",
        "marketing_profiling",
        "group_sharing",
        "third_party_sharing",
    }
    assert not any(row["given"] for row in rows)

    response = client.post(
        base,
        {"purpose": "marketing", "channel": "app_push", "source": "mobile_app"},
        content_type="application/json",
    )
    assert response.status_code == 201, response.content
    consent = response.json()
    assert (consent["purpose"], consent["channel"], consent["withdrawn_at"]) == (
        "marketing",
        "app_push",
        None,
    )
    push = next(row for row in client.get(base).json() if row["channel"] == "app_push")
    assert push["given"]
    assert push["consent_id"] == consent["id"]

    response = client.post(
        f"{base}/{consent['id']}/withdraw", {"source": "mobile_app"}, content_type="application/json"
    )
    assert response.status_code == 200
    assert response.json()["withdrawal_source"] == "mobile_app"
    assert Consent.objects.get().withdrawn_at is not None


def test_consent_errors_name_the_field(world: World, client: Client) -> None:
    sign_in(client, World.user("account_manager_a"))
    response = client.post(
        f"/api/v1/customers/{world.customer_a}/consents",
        {"purpose": "group_sharing", "source": "branch"},
        content_type="application/json",
    )
    assert response.status_code == 400
    body = response.json()
    assert "separate" in str(body)
    assert not Consent.objects.exists()


def test_requests_round_trip(world: World, client: Client) -> None:
    sign_in(client, World.user("compliance_officer_a"))
    response = client.post(
        "/api/v1/privacy/requests",
        {"customer_id": world.customer_a, "kind": "correction", "details": "地址有误"},
        content_type="application/json",
    )
    assert response.status_code == 201, response.content
    request_id = response.json()["id"]
    listing = client.get("/api/v1/privacy/requests?status=open").json()
    assert [item["id"] for item in listing["items"]] == [request_id]
    response = client.post(
        f"/api/v1/privacy/requests/{request_id}/complete",
        {"resolution": "Address corrected"},
        content_type="application/json",
    )
    assert response.status_code == 200
    assert response.json()["outcome"] == "corrected"
    assert SubjectRequest.objects.get().status == "completed"
    response = client.get(f"/api/v1/privacy/requests/{request_id}/export")
    assert response.status_code == 400  # only an access request has a copy
