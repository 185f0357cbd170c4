"""Every custom-field page and endpoint through the authorization matrix."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from fincrm.customers.models import CustomFieldDefinition
from fincrm.users.models import User
from tests.support.authz import Case, check, customer_target, matrix
from tests.support.world import World

MANAGE = "customer.field.manage"


def definition_target(world: World, actor: User, variant: str) -> int:
    """A definition no customer has a value for (definitions are institution-wide)."""
    definition, _created = CustomFieldDefinition.objects.get_or_create(
        code="authz_hobby", defaults={"label": "Hobby", "field_type": "text"}
    )
    return definition.pk


NEW_FIELD = {
    "code": "authz_new",
    "label": "New",
    "field_type": "text",
    "applies_to": "all",
    "data_class": "C1",
    "position": 0,
}
EDIT_FIELD = {"label": "Hobby", "field_type": "text", "applies_to": "all", "data_class": "C1", "position": 0}


def values(world: World, _target: Any) -> dict[str, Any]:
    return {"values": {}}


PAGES = [
    Case("field list", "get", "/customers/custom-fields/", MANAGE),
    Case("field create form", "get", "/customers/custom-fields/new/", MANAGE),
    Case("field create", "post", "/customers/custom-fields/new/", MANAGE, data=NEW_FIELD, ok=(302,)),
    Case("field edit form", "get", "/customers/custom-fields/{pk}/edit/", MANAGE, target=definition_target),
    Case(
        "field edit",
        "post",
        "/customers/custom-fields/{pk}/edit/",
        MANAGE,
        target=definition_target,
        data=EDIT_FIELD,
        ok=(302,),
    ),
    Case(
        "custom values",
        "get",
        "/customers/{pk}/custom-fields/",
        "customer.view",
        target=customer_target,
        own_scope_reaches_target=True,
    ),
    Case(
        "custom values form",
        "get",
        "/customers/{pk}/custom-fields/edit/",
        "customer.edit",
        target=customer_target,
        own_scope_reaches_target=True,
    ),
    Case(
        "custom values save",
        "post",
        "/customers/{pk}/custom-fields/edit/",
        "customer.edit",
        target=customer_target,
        data={"custom.authz_hobby": "golf"},
        ok=(302,),
        own_scope_reaches_target=True,
    ),
]

ENDPOINTS = [
    Case("api field list", "get", "/api/v1/custom-fields", MANAGE, api=True),
    Case("api field detail", "get", "/api/v1/custom-fields/{pk}", MANAGE, api=True, target=definition_target),
    Case("api field create", "post", "/api/v1/custom-fields", MANAGE, api=True, data=NEW_FIELD, ok=(201,)),
    Case(
        "api field update",
        "patch",
        "/api/v1/custom-fields/{pk}",
        MANAGE,
        api=True,
        target=definition_target,
        data={"label": "Renamed"},
    ),
    Case(
        "api field delete",
        "delete",
        "/api/v1/custom-fields/{pk}",
        MANAGE,
        api=True,
        target=definition_target,
        ok=(204,),
    ),
    Case(
        "api custom values",
        "get",
        "/api/v1/customers/{pk}/custom-fields",
        "customer.view",
        api=True,
        target=customer_target,
        own_scope_reaches_target=True,
    ),
    Case(
        "api custom values put",
        "put",
        "/api/v1/customers/{pk}/custom-fields",
        "customer.edit",
        api=True,
        target=customer_target,
        data=values,
        own_scope_reaches_target=True,
    ),
]


@pytest.mark.django_db
@pytest.mark.parametrize(("case", "role", "variant"), matrix(PAGES + ENDPOINTS))
def test_authorization(case: Case, role: str | None, variant: str, world: World, client: Client) -> None:
    check(case, role, variant, world, client)
