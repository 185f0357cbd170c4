"""Every tag page and endpoint through the authorization matrix."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from fincrm.customers.models import CustomerTag, Tag
from fincrm.users.models import User
from tests.support.authz import OUT_OF_SCOPE, Case, check, customer_target, matrix
from tests.support.world import World


@pytest.fixture(autouse=True)
def authz_tag(db: None) -> Tag:
    return Tag.objects.create(label="authz")


def tag_target(world: World, actor: User, variant: str) -> int:
    """Tags are institution-wide reference data: there is no out of scope."""
    return Tag.objects.get(label="authz").pk


def customer_tag_target(world: World, actor: User, variant: str) -> Any:
    """ "<customer>/tags/<tag>" for the one-tag endpoints (the customer decides the scope)."""
    tag = Tag.objects.get(label="authz")
    customer = customer_target(world, actor, variant)
    CustomerTag.objects.get_or_create(customer_id=customer, tag=tag)
    return f"{customer}/tags/{tag.pk}"


def authz_tag_ids(world: World, _target: Any) -> dict[str, Any]:
    return {"tag_ids": [Tag.objects.get(label="authz").pk]}


def bulk(world: World, _target: Any) -> dict[str, Any]:
    return {"customer_ids": [world.customer_a], **authz_tag_ids(world, _target)}


def page_tag_ids(world: World, _target: Any) -> dict[str, Any]:
    return {"tag_ids": [str(Tag.objects.get(label="authz").pk)]}


MANAGE = "customer.tag.manage"
NEW_TAG = {"label": "new tag", "colour": "green", "group": ""}

PAGES = [
    Case("tag list", "get", "/customers/tags/", MANAGE),
    Case("tag create form", "get", "/customers/tags/new/", MANAGE),
    Case("tag create", "post", "/customers/tags/new/", MANAGE, data=NEW_TAG, ok=(302,)),
    Case("tag edit form", "get", "/customers/tags/{pk}/edit/", MANAGE, target=tag_target),
    Case(
        "tag edit", "post", "/customers/tags/{pk}/edit/", MANAGE, target=tag_target, data=NEW_TAG, ok=(302,)
    ),
    Case(
        "customer tags form",
        "get",
        "/customers/{pk}/tags/",
        "customer.edit",
        target=customer_target,
        own_scope_reaches_target=True,
    ),
    Case(
        "customer tags save",
        "post",
        "/customers/{pk}/tags/",
        "customer.edit",
        target=customer_target,
        data=page_tag_ids,
        ok=(302,),
        own_scope_reaches_target=True,
    ),
]

ENDPOINTS = [
    Case("api tag list", "get", "/api/v1/tags", "customer.view", api=True),
    Case("api tag detail", "get", "/api/v1/tags/{pk}", MANAGE, api=True, target=tag_target),
    Case("api tag create", "post", "/api/v1/tags", MANAGE, api=True, data=NEW_TAG, ok=(201,)),
    Case(
        "api tag update",
        "patch",
        "/api/v1/tags/{pk}",
        MANAGE,
        api=True,
        target=tag_target,
        data={"group": "g"},
    ),
    Case(
        "api customer tags",
        "get",
        "/api/v1/customers/{pk}/tags",
        "customer.view",
        api=True,
        target=customer_target,
        own_scope_reaches_target=True,
    ),
    Case(
        "api customer tags set",
        "put",
        "/api/v1/customers/{pk}/tags",
        "customer.edit",
        api=True,
        target=customer_target,
        data=authz_tag_ids,
        own_scope_reaches_target=True,
    ),
    Case(
        "api customer tag add",
        "post",
        "/api/v1/customers/{pk}",
        "customer.edit",
        api=True,
        target=customer_tag_target,
        ok=(204,),
        own_scope_reaches_target=True,
    ),
    Case(
        "api customer tag remove",
        "delete",
        "/api/v1/customers/{pk}",
        "customer.edit",
        api=True,
        target=customer_tag_target,
        ok=(204,),
        own_scope_reaches_target=True,
    ),
    Case("api bulk tag", "post", "/api/v1/customer-tags/bulk", "customer.edit", api=True, data=bulk),
]

UNSCOPED = {case.name for case in PAGES + ENDPOINTS if case.target is tag_target}


def params() -> list[Any]:
    """The matrix, less the out-of-scope variants of tags (they have no scope)."""
    return [
        param
        for param in matrix(PAGES + ENDPOINTS)
        if not (param.values[0].name in UNSCOPED and param.values[2] == OUT_OF_SCOPE)
    ]


@pytest.mark.django_db
@pytest.mark.parametrize(("case", "role", "variant"), params())
def test_authorization(case: Case, role: str | None, variant: str, world: World, client: Client) -> None:
    check(case, role, variant, world, client)
