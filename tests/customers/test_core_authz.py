"""Every customer-core page and endpoint (create, edit, lifecycle, transfer) through the
authorization matrix: anonymous / no permission / in scope / out of scope for every role."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from tests.support.authz import Case, check, customer_target, matrix
from tests.support.english import client, english
from tests.support.world import World

__all__ = ["client", "english"]  # fixtures


def new_customer(world: World, _target: int | None) -> dict[str, Any]:
    return {
        "kind": "individual",
        "name": "王小明",
        "org_unit_id": world.sub_a1,
        "aml_risk_rating": "low",
        "source_channel": "branch",
        "lifecycle_stage": "lead",
        "nationality": "CHN",
    }


def new_customer_api(world: World, _target: int | None) -> dict[str, Any]:
    return {"kind": "individual", "name": "王小明", "org_unit_id": world.sub_a1}


EDIT = {"name": "张三", "nationality": "CHN", "aml_risk_rating": "low", "source_channel": "branch"}


def transfer(world: World, _target: int | None) -> dict[str, Any]:
    return {
        "primary_manager_id": World.user("operations_a").pk,
        "covering_team_id": world.team_a1,
        "reason": "Rebalancing the book",
    }


LIFECYCLE = {"stage": "dormant", "reason": "No activity for a year"}


def target_case(name: str, method: str, path: str, permission: str, **extra: Any) -> Case:
    return Case(
        name, method, path, permission, target=customer_target, own_scope_reaches_target=True, **extra
    )


PAGES = [
    Case("create form", "get", "/customers/new/", "customer.create"),
    Case("create corporate form", "get", "/customers/new/?kind=corporate", "customer.create"),
    Case("create", "post", "/customers/new/", "customer.create", data=new_customer, ok=(302,)),
    target_case("edit form", "get", "/customers/{pk}/edit/", "customer.edit"),
    target_case("edit", "post", "/customers/{pk}/edit/", "customer.edit", data=EDIT, ok=(302,)),
    target_case("lifecycle form", "get", "/customers/{pk}/lifecycle/", "customer.edit"),
    target_case(
        "lifecycle", "post", "/customers/{pk}/lifecycle/", "customer.edit", data=LIFECYCLE, ok=(302,)
    ),
    target_case("transfer form", "get", "/customers/{pk}/transfer/", "customer.reassign"),
    target_case(
        "transfer", "post", "/customers/{pk}/transfer/", "customer.reassign", data=transfer, ok=(302,)
    ),
]

ENDPOINTS = [
    Case(
        "api create",
        "post",
        "/api/v1/customers",
        "customer.create",
        api=True,
        data=new_customer_api,
        ok=(201,),
    ),
    target_case("api detail", "get", "/api/v1/customers/{pk}", "customer.view", api=True),
    target_case(
        "api update",
        "patch",
        "/api/v1/customers/{pk}",
        "customer.edit",
        api=True,
        data={"occupation": "Teacher"},
    ),
    target_case(
        "api lifecycle", "post", "/api/v1/customers/{pk}/lifecycle", "customer.edit", api=True, data=LIFECYCLE
    ),
    target_case(
        "api transfer",
        "post",
        "/api/v1/customers/{pk}/transfer",
        "customer.reassign",
        api=True,
        data=transfer,
    ),
]


@pytest.mark.django_db
@pytest.mark.parametrize(("case", "role", "variant"), matrix(PAGES + ENDPOINTS))
def test_authorization(case: Case, role: str | None, variant: str, world: World, client: Client) -> None:
    check(case, role, variant, world, client)
