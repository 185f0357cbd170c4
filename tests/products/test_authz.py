"""Every product page and endpoint through the authorization matrix. The catalog has no data
scope, so there is no out-of-scope variant: with the permission a role sees every product."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from fincrm.products.models import Product
from fincrm.users.models import User
from tests.support.authz import OUT_OF_SCOPE, Case, check, matrix
from tests.support.world import World


def product_target(world: World, actor: User, variant: str) -> int:
    product, _created = Product.objects.get_or_create(
        code="AUTHZ-1", defaults={"name": "稳健1号", "product_type": "wealth", "risk_level": "R2"}
    )
    return product.pk


def new_product(world: World, _target: int | None) -> dict[str, Any]:
    return {"code": "NEW-1", "name": "新产品", "product_type": "fund", "risk_level": "R3", "currency": "CNY"}


def edit_product(world: World, _target: int | None) -> dict[str, Any]:
    return {
        "code": "AUTHZ-1",
        "name": "改名",
        "product_type": "wealth",
        "risk_level": "R3",
        "currency": "CNY",
        "is_active": "on",
    }


def _case(*args: Any, **kwargs: Any) -> Case:
    return Case(*args, own_scope_reaches_target=True, **kwargs)


CASES = [
    _case("product list", "get", "/products/", "product.view"),
    _case("product detail", "get", "/products/{pk}/", "product.view", target=product_target),
    _case("product create form", "get", "/products/new/", "product.manage"),
    _case("product create", "post", "/products/new/", "product.manage", data=new_product, ok=(302,)),
    _case("product edit form", "get", "/products/{pk}/edit/", "product.manage", target=product_target),
    _case(
        "product edit",
        "post",
        "/products/{pk}/edit/",
        "product.manage",
        target=product_target,
        data=edit_product,
        ok=(302,),
    ),
    _case("api product list", "get", "/api/v1/products", "product.view", api=True),
    _case(
        "api product detail", "get", "/api/v1/products/{pk}", "product.view", api=True, target=product_target
    ),
    _case(
        "api product create",
        "post",
        "/api/v1/products",
        "product.manage",
        api=True,
        data=new_product,
        ok=(201,),
    ),
    _case(
        "api product update",
        "patch",
        "/api/v1/products/{pk}",
        "product.manage",
        api=True,
        target=product_target,
        data={"name": "改名"},
    ),
]

PARAMS = [param for param in matrix(CASES) if param.values[2] != OUT_OF_SCOPE]


@pytest.mark.parametrize(("case", "role", "variant"), PARAMS)
def test_authorization(case: Case, role: str | None, variant: str, world: World, client: Client) -> None:
    check(case, role, variant, world, client)
