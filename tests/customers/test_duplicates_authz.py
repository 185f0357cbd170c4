"""Every duplicates and merge page and endpoint through the authorization matrix."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from fincrm.customers.models import Customer, CustomerStatus, DuplicateCandidate
from fincrm.customers.selectors.duplicates import MERGE, MERGE_FIELDS
from fincrm.users.models import User
from tests.customers.factories import CustomerFactory
from tests.support.authz import OUT_OF_SCOPE, Case, check, matrix
from tests.support.world import World


def candidate_target(world: World, actor: User, variant: str) -> int:
    """In scope: a pair inside sub-branch A1. Out of scope: a pair across A1 and B1 (held for review)."""
    if variant == OUT_OF_SCOPE:
        pair = (world.customer_a, world.customer_b, DuplicateCandidate.Reason.HELD_FOR_REVIEW)
    else:
        pair = (world.customer_a, CustomerFactory().pk, DuplicateCandidate.Reason.SAME_MOBILE_SIMILAR_NAME)
    first, second, reason = pair
    return DuplicateCandidate.objects.create(first_id=first, second_id=second, reason=reason).pk


def absorbed_target(world: World, actor: User, variant: str) -> int:
    """Merged into customer_a (in sub-branch A1): a new customer beside it, or customer_b in B1."""
    return world.customer_b if variant == OUT_OF_SCOPE else CustomerFactory().pk


def merged_target(world: World, actor: User, variant: str) -> int:
    """A customer already merged into customer_a (or, out of scope, into customer_b in B1)."""
    outside = variant == OUT_OF_SCOPE
    merged = CustomerFactory(
        org_unit_id=world.sub_b1 if outside else world.sub_a1,
        covering_team_id=world.team_b1 if outside else world.team_a1,
        primary_manager=World.user("account_manager_b" if outside else "account_manager_a"),
        status=CustomerStatus.MERGED,
    )
    Customer.objects.filter(pk=merged.pk).update(
        merged_into_id=world.customer_b if outside else world.customer_a
    )
    return merged.pk


def merge_form(world: World, _target: Any) -> dict[str, Any]:
    return {"survivor": "first", "reason": "same person", **{f"keep_{key}": "first" for key in MERGE_FIELDS}}


def merge_payload(world: World, absorbed_id: Any) -> dict[str, Any]:
    return {"survivor_id": world.customer_a, "absorbed_id": absorbed_id, "reason": "same person"}


PAGES = [
    Case("duplicate list", "get", "/customers/duplicates/", MERGE),
    Case("duplicate compare", "get", "/customers/duplicates/{pk}/", MERGE, target=candidate_target),
    Case(
        "duplicate merge",
        "post",
        "/customers/duplicates/{pk}/",
        MERGE,
        target=candidate_target,
        data=merge_form,
        ok=(302,),
    ),
    Case(
        "duplicate dismiss",
        "post",
        "/customers/duplicates/{pk}/dismiss/",
        MERGE,
        target=candidate_target,
        data={"reason": "twins"},
        ok=(302,),
    ),
    Case(
        "merged customer",
        "get",
        "/customers/{pk}/",
        "customer.view",
        target=merged_target,
        own_scope_reaches_target=True,
    ),
]

ENDPOINTS = [
    Case("api duplicate list", "get", "/api/v1/duplicates", MERGE, api=True),
    Case(
        "api duplicate dismiss",
        "post",
        "/api/v1/duplicates/{pk}/dismiss",
        MERGE,
        api=True,
        target=candidate_target,
        data={"reason": "twins"},
    ),
    Case(
        "api merge",
        "post",
        "/api/v1/customers/merge",
        MERGE,
        api=True,
        target=absorbed_target,
        data=merge_payload,
    ),
]


@pytest.mark.django_db
@pytest.mark.parametrize(("case", "role", "variant"), matrix(PAGES + ENDPOINTS))
def test_authorization(case: Case, role: str | None, variant: str, world: World, client: Client) -> None:
    check(case, role, variant, world, client)
