"""The unmask page and endpoint through the authorization matrix: anonymous, no permission (the
class permission), in scope, out of scope, for every built-in role. The client has stepped up, so
an allowed call shows the value and a refused one is refused for its rights, not its step-up."""

from __future__ import annotations

import time

import pytest
from django.conf import settings
from django.contrib.sessions.backends.db import SessionStore
from django.core.cache import cache
from django.test import Client

from fincrm.security.stepup import SESSION_STEP_UP_AT
from tests.support.authz import Case, check, customer_target, matrix
from tests.support.english import english
from tests.support.world import World

__all__ = ["english"]

REASON = {"reason_code": "kyc_review", "reason_text": "Annual KYC review"}


@pytest.fixture
def client() -> Client:
    cache.clear()
    client = Client(HTTP_ACCEPT_LANGUAGE="en", HTTP_HX_REQUEST="true")
    store = SessionStore()
    store[SESSION_STEP_UP_AT] = int(time.time())
    store.save()
    client.cookies[settings.SESSION_COOKIE_NAME] = store.session_key
    return client


CASES = [
    Case(
        "unmask dialog",
        "get",
        "/sensitive/unmask/{pk}/mobile/",
        "pii.unmask_c2",
        target=customer_target,
        own_scope_reaches_target=True,
    ),
    Case(
        "unmask",
        "post",
        "/sensitive/unmask/{pk}/mobile/",
        "pii.unmask_c2",
        target=customer_target,
        own_scope_reaches_target=True,
        data=REASON,
    ),
    Case(
        "api unmask",
        "post",
        "/api/v1/customers/{pk}/unmask",
        "pii.unmask_c2",
        api=True,
        target=customer_target,
        own_scope_reaches_target=True,
        data={"field": "mobile", **REASON},
    ),
]


@pytest.mark.django_db
@pytest.mark.parametrize(("case", "role", "variant"), matrix(CASES))
def test_authorization(case: Case, role: str | None, variant: str, world: World, client: Client) -> None:
    check(case, role, variant, world, client)
