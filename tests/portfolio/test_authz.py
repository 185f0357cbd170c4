"""Every portfolio endpoint through the authorization matrix: scoped like the customer."""

from __future__ import annotations

import pytest
from django.test import Client

from tests.support.authz import Case, check, customer_target, matrix
from tests.support.world import World

CASES = [
    Case(
        f"api {what}",
        "get",
        f"/api/v1/customers/{{pk}}/{what}",
        "customer.view",
        api=True,
        target=customer_target,
        own_scope_reaches_target=True,
    )
    for what in ("accounts", "holdings", "transactions")
]


@pytest.mark.parametrize(("case", "role", "variant"), matrix(CASES))
def test_authorization(case: Case, role: str | None, variant: str, world: World, client: Client) -> None:
    check(case, role, variant, world, client)
