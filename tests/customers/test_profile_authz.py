"""The customer 360 page and endpoint through the authorization matrix, for every role."""

from __future__ import annotations

import pytest
from django.test import Client

from tests.support.authz import Case, check, customer_target, matrix
from tests.support.world import World

CASES = [
    Case(
        "customer 360 page",
        "get",
        "/customers/{pk}/",
        "customer.view",
        target=customer_target,
        own_scope_reaches_target=True,
    ),
    Case(
        "api customer 360",
        "get",
        "/api/v1/customers/{pk}/360",
        "customer.view",
        api=True,
        target=customer_target,
        own_scope_reaches_target=True,
    ),
]


@pytest.mark.parametrize(("case", "role", "variant"), matrix(CASES))
def test_authorization(case: Case, role: str | None, variant: str, world: World, client: Client) -> None:
    check(case, role, variant, world, client)
