"""The custom fields API: definitions (CRUD) and one customer's values. Parse, call, serialize.

A C2 value is never sent back in clear: it reads as ``"****"`` (unmasking is its own audited flow).
"""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django.http import HttpRequest
from ninja import Router, Schema
from ninja.errors import AuthenticationError
from ninja.pagination import paginate
from ninja.responses import Status

from fincrm.audit.chain import jsonable
from fincrm.customers.models import CustomFieldDefinition
from fincrm.customers.selectors import VIEW, access_customer
from fincrm.customers.selectors.custom_fields import (
    FIELD_MANAGE,
    access_definition,
    custom_field_rows,
    definition_list,
)
from fincrm.customers.services import custom_fields as services
from fincrm.platform.access import require_permission
from fincrm.platform.actor import Actor
from fincrm.platform.pagination import CursorPagination

router = Router(tags=["customer custom fields"])


class ChoiceSchema(Schema):
    value: str
    label: str = ""
    label_en: str = ""


class DefinitionOut(Schema):
    id: int
    code: str
    label: str
    label_en: str
    field_type: str
    applies_to: str
    data_class: str
    choices: list[ChoiceSchema]
    required: bool
    is_active: bool
    position: int


class DefinitionCreateIn(Schema):
    code: str
    label: str
    field_type: str
    label_en: str = ""
    applies_to: str = CustomFieldDefinition.AppliesTo.ALL
    data_class: str = CustomFieldDefinition.DataClass.C1
    choices: list[ChoiceSchema] = []
    required: bool = False
    position: int = 0


class DefinitionUpdateIn(Schema):
    label: str | None = None
    label_en: str | None = None
    field_type: str | None = None
    applies_to: str | None = None
    data_class: str | None = None
    choices: list[ChoiceSchema] | None = None
    required: bool | None = None
    is_active: bool | None = None
    position: int | None = None


class CustomValueOut(Schema):
    code: str
    label: str
    field_type: str
    data_class: str
    required: bool
    value: Any = None
    display: str


class CustomValuesOut(Schema):
    customer_id: int
    fields: list[CustomValueOut]


class CustomValuesIn(Schema):
    values: dict[str, Any]


def _actor(request: HttpRequest) -> Actor:
    actor: Actor | None = getattr(request, "actor", None)
    if actor is None or not actor.is_authenticated:
        raise AuthenticationError()
    return actor


@router.get("/custom-fields", response=list[DefinitionOut])
@paginate(CursorPagination, ordering=("position", "code"))
def list_custom_fields(request: HttpRequest) -> QuerySet[CustomFieldDefinition]:
    actor = _actor(request)
    require_permission(actor, FIELD_MANAGE)
    return definition_list()


@router.get("/custom-fields/{field_id}", response=DefinitionOut)
def get_custom_field(request: HttpRequest, field_id: int) -> CustomFieldDefinition:
    return access_definition(_actor(request), field_id)


@router.post("/custom-fields", response={201: DefinitionOut})
def create_custom_field(request: HttpRequest, payload: DefinitionCreateIn) -> Status[CustomFieldDefinition]:
    data = payload.dict()
    return Status(201, services.custom_field_create(actor=_actor(request), **data))


@router.patch("/custom-fields/{field_id}", response=DefinitionOut)
def update_custom_field(
    request: HttpRequest, field_id: int, payload: DefinitionUpdateIn
) -> CustomFieldDefinition:
    return services.custom_field_update(
        actor=_actor(request), field_id=field_id, **payload.dict(exclude_unset=True)
    )


@router.delete("/custom-fields/{field_id}", response={204: None})
def delete_custom_field(request: HttpRequest, field_id: int) -> Status[None]:
    """Delete a field no customer has a value for (409 otherwise: deactivate it instead)."""
    services.custom_field_delete(actor=_actor(request), field_id=field_id)
    return Status(204, None)


def _values_out(actor: Actor, customer_id: int) -> dict[str, Any]:
    customer = access_customer(actor, customer_id, VIEW)
    rows = custom_field_rows(customer.pk, customer.kind)
    return {
        "customer_id": customer.pk,
        "fields": [
            {
                "code": row.code,
                "label": row.label,
                "field_type": row.definition.field_type,
                "data_class": row.definition.data_class,
                "required": row.definition.required,
                "value": jsonable({"v": row.value})["v"],
                "display": row.display,
            }
            for row in rows
        ],
    }


@router.get("/customers/{customer_id}/custom-fields", response=CustomValuesOut)
def get_custom_values(request: HttpRequest, customer_id: int) -> dict[str, Any]:
    return _values_out(_actor(request), customer_id)


@router.put("/customers/{customer_id}/custom-fields", response=CustomValuesOut)
def put_custom_values(request: HttpRequest, customer_id: int, payload: CustomValuesIn) -> dict[str, Any]:
    """Replace the customer's values: every applicable field is set from ``values``; one left out is
    cleared. Errors name ``custom.<code>``."""
    actor = _actor(request)
    services.custom_values_set(actor=actor, customer_id=customer_id, values=payload.values, replace=True)
    return _values_out(actor, customer_id)
