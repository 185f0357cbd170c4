"""Every privacy page and endpoint through the authorization matrix."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from fincrm.privacy.models import Consent, ProcessingPurpose, SubjectRequest
from tests.support.authz import OUT_OF_SCOPE, Case, check, customer_target, matrix
from tests.support.world import World

CONSENT = "{consent}"


def purpose_target(world: World, actor: Any, variant: str) -> int:
    return ProcessingPurpose.objects.get(code="marketing_profiling").pk


def _request_for(customer_id: int, kind: str) -> int:
    now = timezone.now()
    return SubjectRequest.objects.create(
        customer_id=customer_id, kind=kind, received_at=now, due_on=now.date()
    ).pk


def access_request_target(world: World, actor: Any, variant: str) -> int:
    return _request_for(world.customer_b if variant == OUT_OF_SCOPE else world.customer_a, "access")


def record_sms(world: World, _target: int | None) -> dict[str, Any]:
    return {"slot": "marketing:sms", "source": "branch"}


PURPOSE_EDIT = {"name": "营销用户画像", "legal_basis": "consent", "sort_order": 60, "is_active": "on"}
PURPOSE_NEW = {"code": "newsletter", "name": "Newsletter", "legal_basis": "consent", "sort_order": 90}

PAGES = [
    Case(
        "consent page",
        "get",
        "/privacy/customers/{pk}/consents/",
        "customer.view",
        target=customer_target,
        own_scope_reaches_target=True,
    ),
    Case(
        "consent panel",
        "get",
        "/privacy/customers/{pk}/consents/panel/",
        "customer.view",
        target=customer_target,
        own_scope_reaches_target=True,
    ),
    Case(
        "consent record",
        "post",
        "/privacy/customers/{pk}/consents/record/",
        "privacy.consent.record",
        target=customer_target,
        own_scope_reaches_target=True,
        data=record_sms,
        ok=(302,),
    ),
    Case(
        "consent withdraw",
        "post",
        f"/privacy/customers/{{pk}}/consents/{CONSENT}/withdraw/",
        "privacy.consent.record",
        target=customer_target,
        own_scope_reaches_target=True,
        ok=(302,),
    ),
    Case("purpose list", "get", "/privacy/purposes/", "privacy.manage"),
    Case("purpose create form", "get", "/privacy/purposes/new/", "privacy.manage"),
    Case("purpose create", "post", "/privacy/purposes/new/", "privacy.manage", data=PURPOSE_NEW, ok=(302,)),
    Case("purpose edit form", "get", "/privacy/purposes/{pk}/edit/", "privacy.manage", target=purpose_target),
    Case(
        "purpose edit",
        "post",
        "/privacy/purposes/{pk}/edit/",
        "privacy.manage",
        target=purpose_target,
        data=PURPOSE_EDIT,
        ok=(302,),
    ),
    Case("request list", "get", "/privacy/requests/", "privacy.request.view"),
    Case(
        "request create form",
        "get",
        "/privacy/customers/{pk}/requests/new/",
        "privacy.request.view",
        target=customer_target,
        own_scope_reaches_target=True,
    ),
    Case(
        "request create",
        "post",
        "/privacy/customers/{pk}/requests/new/",
        "privacy.request.view",
        target=customer_target,
        own_scope_reaches_target=True,
        data={"kind": "access"},
        ok=(302,),
    ),
    Case(
        "request detail",
        "get",
        "/privacy/requests/{pk}/",
        "privacy.request.view",
        target=access_request_target,
    ),
    Case(
        "request complete",
        "post",
        "/privacy/requests/{pk}/complete/",
        "privacy.request.handle",
        target=access_request_target,
        ok=(302,),
    ),
    Case(
        "request reject",
        "post",
        "/privacy/requests/{pk}/reject/",
        "privacy.request.handle",
        target=access_request_target,
        data={"resolution": "Not verified"},
        ok=(302,),
    ),
    Case(
        "request export",
        "get",
        "/privacy/requests/{pk}/export/",
        "privacy.request.handle",
        target=access_request_target,
    ),
]

ENDPOINTS = [
    Case(
        "api consent list",
        "get",
        "/api/v1/customers/{pk}/consents",
        "customer.view",
        api=True,
        target=customer_target,
        own_scope_reaches_target=True,
    ),
    Case(
        "api consent record",
        "post",
        "/api/v1/customers/{pk}/consents",
        "privacy.consent.record",
        api=True,
        target=customer_target,
        own_scope_reaches_target=True,
        data={"purpose": "marketing", "channel": "sms", "source": "branch"},
        ok=(201,),
    ),
    Case(
        "api consent withdraw",
        "post",
        f"/api/v1/customers/{{pk}}/consents/{CONSENT}/withdraw",
        "privacy.consent.record",
        api=True,
        target=customer_target,
        own_scope_reaches_target=True,
    ),
    Case("api purpose list", "get", "/api/v1/privacy/purposes", "privacy.manage", api=True),
    Case("api request list", "get", "/api/v1/privacy/requests", "privacy.request.view", api=True),
    Case(
        "api request detail",
        "get",
        "/api/v1/privacy/requests/{pk}",
        "privacy.request.view",
        api=True,
        target=access_request_target,
    ),
    Case(
        "api request create",
        "post",
        "/api/v1/privacy/requests",
        "privacy.request.view",
        api=True,
        data=lambda world, _target: {"customer_id": world.customer_a, "kind": "access"},
        ok=(201,),
    ),
    Case(
        "api request complete",
        "post",
        "/api/v1/privacy/requests/{pk}/complete",
        "privacy.request.handle",
        api=True,
        target=access_request_target,
    ),
    Case(
        "api request reject",
        "post",
        "/api/v1/privacy/requests/{pk}/reject",
        "privacy.request.handle",
        api=True,
        target=access_request_target,
        data={"resolution": "Not verified"},
    ),
    Case(
        "api request export",
        "get",
        "/api/v1/privacy/requests/{pk}/export",
        "privacy.request.handle",
        api=True,
        target=access_request_target,
    ),
]


def _with_consent(case: Case, world: World) -> Case:
    """Withdraw cases name a consent in force of world.customer_a (out of scope, the customer in
    the path is customer_b, so the customer check answers first)."""
    if CONSENT not in case.path:
        return case
    consent = Consent.objects.create(
        customer_id=world.customer_a,
        purpose=ProcessingPurpose.objects.get(code="marketing"),
        channel="sms",
        source="branch",
        notice_version="2024-01",
        given_at=timezone.now(),
    )
    return dataclasses.replace(case, path=case.path.replace(CONSENT, str(consent.pk)))


@pytest.mark.parametrize(("case", "role", "variant"), matrix(PAGES + ENDPOINTS))
def test_authorization(case: Case, role: str | None, variant: str, world: World, client: Client) -> None:
    check(_with_consent(case, world), role, variant, world, client)
