"""Every relationship, household and group page and endpoint through the authorization matrix."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from fincrm.customers.models import Customer, Household, HouseholdMember, Relationship
from fincrm.users.models import User
from tests.customers.factories import CustomerFactory
from tests.support.authz import OUT_OF_SCOPE, Case, check, customer_target, matrix
from tests.support.world import World

EDIT = "customer.edit"
VIEW = "customer.view"


@pytest.fixture(autouse=True)
def second_customers(world: World) -> None:
    """A2 beside customer A (same manager, team and branch) and B2 beside customer B."""
    CustomerFactory(
        customer_number="W-A2",
        name="王五",
        org_unit_id=world.sub_a1,
        covering_team_id=world.team_a1,
        primary_manager=World.user("account_manager_a"),
    )
    CustomerFactory(
        customer_number="W-B2",
        name="赵六",
        org_unit_id=world.sub_b1,
        covering_team_id=world.team_b1,
        primary_manager=World.user("account_manager_b"),
    )


def _pk(number: str) -> int:
    return Customer.objects.values_list("pk", flat=True).get(customer_number=number)


def _side(variant: str) -> tuple[int, int]:
    if variant == OUT_OF_SCOPE:
        return _pk("W-B"), _pk("W-B2")
    return _pk("W-A"), _pk("W-A2")


def relationship_target(world: World, actor: User, variant: str) -> int:
    customer, other = _side(variant)
    return Relationship.objects.create(from_customer_id=other, to_customer_id=customer, kind="spouse").pk


def _household(variant: str, *, with_member: bool) -> tuple[Household, int]:
    head, other = _side(variant)
    household = Household.objects.create(
        name="家", org_unit_id=Customer.objects.values_list("org_unit_id", flat=True).get(pk=head)
    )
    HouseholdMember.objects.create(household=household, customer_id=head, role="head")
    if with_member:
        HouseholdMember.objects.create(household=household, customer_id=other, role="member")
    return household, other


def household_target(world: World, actor: User, variant: str) -> int:
    return _household(variant, with_member=False)[0].pk


def household_customer_target(world: World, actor: User, variant: str) -> int:
    _household(variant, with_member=False)
    return _side(variant)[0]


def member_target(world: World, actor: User, variant: str) -> Any:
    household, member = _household(variant, with_member=True)
    return f"{household.pk}/members/{member}"


def related(world: World, _target: Any) -> dict[str, Any]:
    return {"related_customer_id": _pk("W-A2"), "kind": "spouse"}


def new_household(world: World, target: Any) -> dict[str, Any]:
    return {"name": "张家", "head_customer_id": target}


def add_member(world: World, _target: Any) -> dict[str, Any]:
    return {"customer_id": _pk("W-A2")}


def case(name: str, method: str, path: str, permission: str, **extra: Any) -> Case:
    extra.setdefault("target", customer_target)
    return Case(name, method, path, permission, own_scope_reaches_target=True, **extra)


PAGES = [
    case("relationship page", "get", "/customers/{pk}/relationships/", VIEW),
    case(
        "relationship add",
        "post",
        "/customers/{pk}/relationships/new/",
        EDIT,
        data={"related_number": "W-A2", "kind": "spouse"},
        ok=(302,),
    ),
    case(
        "relationship end",
        "post",
        "/customers/relationships/{pk}/end/",
        EDIT,
        target=relationship_target,
        ok=(302,),
    ),
    case(
        "household create", "post", "/customers/{pk}/household/new/", EDIT, data={"name": "张家"}, ok=(302,)
    ),
    case(
        "household member add",
        "post",
        "/customers/{pk}/household/members/",
        EDIT,
        target=household_customer_target,
        data={"member_number": "W-A2", "role": "member"},
        ok=(302,),
    ),
    case(
        "household member remove",
        "post",
        "/customers/households/{pk}/remove/",
        EDIT,
        target=member_target,
        ok=(302,),
    ),
    case(
        "parent company",
        "post",
        "/customers/{pk}/parent-company/",
        EDIT,
        data={"parent_number": ""},
        ok=(302, 400),
    ),
]

ENDPOINTS = [
    case("api relationships", "get", "/api/v1/customers/{pk}/relationships", VIEW, api=True),
    case(
        "api relationship add",
        "post",
        "/api/v1/customers/{pk}/relationships",
        EDIT,
        api=True,
        data=related,
        ok=(201,),
    ),
    case(
        "api relationship end",
        "post",
        "/api/v1/relationships/{pk}/end",
        EDIT,
        api=True,
        target=relationship_target,
    ),
    case("api household", "get", "/api/v1/customers/{pk}/household", VIEW, api=True),
    case("api household create", "post", "/api/v1/households", EDIT, api=True, data=new_household, ok=(201,)),
    case(
        "api household member add",
        "post",
        "/api/v1/households/{pk}/members",
        EDIT,
        api=True,
        target=household_target,
        data=add_member,
    ),
    case(
        "api household member remove",
        "delete",
        "/api/v1/households/{pk}",
        EDIT,
        api=True,
        target=member_target,
        ok=(204,),
    ),
    case("api group", "get", "/api/v1/customers/{pk}/group", VIEW, api=True),
    case(
        "api parent company",
        "put",
        "/api/v1/customers/{pk}/parent-company",
        EDIT,
        api=True,
        data={"parent_id": None},
        ok=(200, 400),
    ),
]


@pytest.mark.django_db
@pytest.mark.parametrize(("case", "role", "variant"), matrix(PAGES + ENDPOINTS))
def test_authorization(case: Case, role: str | None, variant: str, world: World, client: Client) -> None:
    check(case, role, variant, world, client)
