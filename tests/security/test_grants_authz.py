"""Every sensitive-access grant page and endpoint through the authorization matrix, and the hub
page (shown to holders of any of the three grant permissions)."""

from __future__ import annotations

import time
from typing import Any

import pytest
from django.conf import settings
from django.contrib.sessions.backends.db import SessionStore
from django.core.cache import cache
from django.test import Client
from django.utils import timezone

from fincrm.audit.models import SecurityEvent
from fincrm.security.models import SensitiveAccessGrant
from fincrm.security.stepup import SESSION_STEP_UP_AT
from fincrm.users.models import User
from fincrm.users.roles import BUILTIN_ROLES
from tests.support.auth import sign_in
from tests.support.authz import OUT_OF_SCOPE, Case, check, matrix
from tests.support.english import english
from tests.support.world import World

__all__ = ["english"]


@pytest.fixture
def client() -> Client:
    cache.clear()
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    store = SessionStore()
    store[SESSION_STEP_UP_AT] = int(time.time())
    store.save()
    client.cookies[settings.SESSION_COOKIE_NAME] = store.session_key
    return client


def grant_target(world: World, actor: User, variant: str) -> int:
    """A request by service_agent_b (never the actor) for customer A, or customer B out of scope."""
    return SensitiveAccessGrant.objects.create(
        requester=World.user("service_agent_b"),
        customer_id=world.customer_b if variant == OUT_OF_SCOPE else world.customer_a,
        number_bidx="test",
        number_masked="W**",
        fields=["mobile"],
        reason_code="complaint",
        reason_text="Complaint 12",
        requested_at=timezone.now(),
    ).pk


REQUEST = {
    "customer_number": "W-A",
    "fields": ["mobile"],
    "reason_code": "complaint",
    "reason_text": "Complaint 12",
}


def _request_json(world: World, _target: int | None) -> dict[str, Any]:
    return REQUEST


CASES = [
    Case("grant request form", "get", "/sensitive/grants/new/", "pii.grant.request"),
    Case("grant request", "post", "/sensitive/grants/new/", "pii.grant.request", data=REQUEST, ok=(302,)),
    Case("grant decide form", "get", "/sensitive/grants/{pk}/", "pii.grant.approve", target=grant_target),
    Case(
        "grant approve",
        "post",
        "/sensitive/grants/{pk}/",
        "pii.grant.approve",
        target=grant_target,
        data={"decision": "approve"},
        ok=(302,),
    ),
    Case(
        "grant refuse",
        "post",
        "/sensitive/grants/{pk}/",
        "pii.grant.approve",
        target=grant_target,
        data={"decision": "refuse", "note": "no"},
        ok=(302,),
    ),
    Case("grant report", "get", "/sensitive/grants/report/", "pii.grant.report"),
    Case("grant report csv", "get", "/sensitive/grants/report/?export=csv", "pii.grant.report"),
    Case(
        "api grant request",
        "post",
        "/api/v1/sensitive/grants",
        "pii.grant.request",
        api=True,
        data=_request_json,
        ok=(201,),
    ),
    Case("api my grants", "get", "/api/v1/sensitive/grants/mine", "pii.grant.request", api=True),
    Case("api grant queue", "get", "/api/v1/sensitive/grants/queue", "pii.grant.approve", api=True),
    Case(
        "api grant approve",
        "post",
        "/api/v1/sensitive/grants/{pk}/approve",
        "pii.grant.approve",
        api=True,
        target=grant_target,
    ),
    Case(
        "api grant refuse",
        "post",
        "/api/v1/sensitive/grants/{pk}/refuse",
        "pii.grant.approve",
        api=True,
        target=grant_target,
    ),
    Case("api grant report", "get", "/api/v1/sensitive/grants", "pii.grant.report", api=True),
]


@pytest.mark.django_db
@pytest.mark.parametrize(("case", "role", "variant"), matrix(CASES))
def test_authorization(case: Case, role: str | None, variant: str, world: World, client: Client) -> None:
    check(case, role, variant, world, client)


GRANT_PERMISSIONS = {"pii.grant.request", "pii.grant.approve", "pii.grant.report"}


@pytest.mark.django_db
@pytest.mark.parametrize("role", [spec.code for spec in BUILTIN_ROLES])
def test_hub_for_every_role(role: str, world: World, client: Client) -> None:
    spec = next(spec for spec in BUILTIN_ROLES if spec.code == role)
    user = World.user(f"{role}_a")
    sign_in(client, user)
    response = client.get("/sensitive/grants/")
    if spec.permissions & GRANT_PERMISSIONS:
        assert response.status_code == 200
    else:
        assert response.status_code == 403
        assert SecurityEvent.objects.filter(kind="access.denied", user_id=user.pk).count() == 1


@pytest.mark.django_db
def test_hub_anonymous(world: World) -> None:
    response = Client().get("/sensitive/grants/")
    assert response.status_code == 302
    assert "/signin/" in response["Location"]
