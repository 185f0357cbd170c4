"""The privacy pages as a user sees them (English catalogue)."""

from __future__ import annotations

import json

from django.test import Client

from fincrm.customers.models import Customer, CustomerStatus, LifecycleStage
from fincrm.privacy import services
from fincrm.privacy.models import Consent, ProcessingPurpose, SubjectRequest
from tests.privacy.conftest import actor_of
from tests.support.auth import sign_in
from tests.support.world import World

HTMX = {"HTTP_HX_REQUEST": "true"}


def test_consent_page_lists_consent_purposes_only(world: World, client: Client) -> None:
    sign_in(client, World.user("account_manager_a"))
    response = client.get(f"/privacy/customers/{world.customer_a}/consents/")
    assert response.status_code == 200
    text = response.content.decode()
    assert "Marketing messages" in text
    assert "Sharing with third parties" in text
    assert "Anti-money-laundering monitoring" not in text  # legal duty: no consent
    assert "张三" not in text
    assert "张*" in text
    assert 'data-consent="marketing:sms"' in text
    assert 'data-consent="marketing:app_push"' in text
    assert "Record consent" in text


def test_record_and_withdraw_through_htmx(world: World, client: Client) -> None:
    sign_in(client, World.user("account_manager_a"))
    response = client.post(
        f"/privacy/customers/{world.customer_a}/consents/record/",
        {"slot": "marketing:email", "source": "online", "evidence": "APP-42"},
        **HTMX,
    )
    assert response.status_code == 200
    assert "<html" not in response.content.decode()  # the partial only
    consent = Consent.objects.get(customer_id=world.customer_a)
    assert (consent.purpose.code, consent.channel, consent.source) == ("marketing", "email", "online")
    assert f"/consents/{consent.pk}/withdraw/" in response.content.decode()

    response = client.post(f"/privacy/customers/{world.customer_a}/consents/{consent.pk}/withdraw/", **HTMX)
    assert response.status_code == 200
    consent.refresh_from_db()
    assert consent.withdrawn_at is not None
    assert "Withdrawn" in response.content.decode()


def test_record_error_shows_on_the_form(world: World, client: Client) -> None:
    sign_in(client, World.user("account_manager_a"))
    response = client.post(
        f"/privacy/customers/{world.customer_a}/consents/record/",
        {"slot": "third_party_sharing", "source": "branch"},
        **HTMX,
    )
    assert response.status_code == 200
    assert "The law requires a separate consent for this purpose" in response.content.decode()
    assert not Consent.objects.exists()


def test_record_form_hidden_without_permission(world: World, client: Client) -> None:
    sign_in(client, World.user("risk_officer_a"))  # sees customers, records no consent
    response = client.get(f"/privacy/customers/{world.customer_a}/consents/")
    assert response.status_code == 200
    assert "Record consent" not in response.content.decode()


def test_purpose_pages(world: World, client: Client) -> None:
    sign_in(client, World.user("compliance_officer_a"))
    response = client.get("/privacy/purposes/")
    assert response.status_code == 200
    assert "Customer due diligence (KYC)" in response.content.decode()
    purpose = ProcessingPurpose.objects.get(code="kyc")
    response = client.post(
        f"/privacy/purposes/{purpose.pk}/edit/",
        {
            "name": "客户身份识别",
            "legal_basis": "legal_duty",
            "per_channel": "on",
            "sort_order": 10,
            "is_active": "on",
        },
    )
    assert response.status_code == 200
    assert "Only a consent-based purpose is consented per channel." in response.content.decode()


def test_deletion_request_flow(world: World, client: Client) -> None:
    sign_in(client, World.user("service_agent_a"))
    response = client.post(
        f"/privacy/customers/{world.customer_a}/requests/new/", {"kind": "deletion", "details": "请删除"}
    )
    assert response.status_code == 302
    request = SubjectRequest.objects.get()

    sign_in(client, World.user("compliance_officer_a"))
    listing = client.get("/privacy/requests/").content.decode()
    assert f"/privacy/requests/{request.pk}/" in listing
    assert "Deletion" in listing
    detail = client.get(f"/privacy/requests/{request.pk}/").content.decode()
    assert "retention duty" in detail
    response = client.post(f"/privacy/requests/{request.pk}/complete/", {"resolution": "Restricted per AML"})
    assert response.status_code == 302
    assert Customer.objects.get(pk=world.customer_a).status == CustomerStatus.RESTRICTED
    # The restricted customer's request stays reachable; its consent page does not.
    assert client.get(f"/privacy/requests/{request.pk}/").status_code == 200
    assert client.get(f"/privacy/customers/{world.customer_a}/consents/").status_code == 404


def test_access_request_download(world: World, client: Client) -> None:
    Customer.objects.filter(pk=world.customer_a).update(lifecycle_stage=LifecycleStage.PROSPECT)
    request = services.subject_request_create(
        actor=actor_of("compliance_officer_a"), customer_id=world.customer_a, kind="access"
    )
    sign_in(client, World.user("compliance_officer_a"))
    response = client.get(f"/privacy/requests/{request.pk}/export/")
    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"
    assert "attachment" in response["Content-Disposition"]
    body = json.loads(response.content)
    assert body["sections"]["customers.customer"]["profile"]["lifecycle_stage"] == "Prospect"


def test_language_default_is_chinese(world: World) -> None:
    client = Client()
    sign_in(client, World.user("account_manager_a"))
    response = client.get(f"/privacy/customers/{world.customer_a}/consents/")
    assert response.status_code == 200
    assert 'lang="zh-hans"' in response.content.decode()
