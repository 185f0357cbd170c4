"""The relationships API: relationships between customers, households and corporate groups.

A related customer outside the caller's scope is returned with ``customer_id: null``, a masked name
and ``visible: false``.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from django.http import HttpRequest
from ninja import Router, Schema
from ninja.errors import AuthenticationError
from ninja.responses import Status

from fincrm.customers.models import HouseholdMember, Relationship
from fincrm.customers.selectors.relationships import (
    GroupTree,
    HouseholdView,
    RelationshipRow,
    group_tree,
    household_detail,
    household_of,
    relationships_for,
)
from fincrm.customers.services import relationships as services
from fincrm.platform.actor import Actor

router = Router(tags=["customer relationships"])


class PartyOut(Schema):
    """A related customer: named when in the caller's scope, else a masked name without an id."""

    customer_id: int | None
    name: str
    customer_number: str
    visible: bool


class RelationshipOut(Schema):
    id: int
    kind: str
    role: str
    other: PartyOut
    starts_on: date | None
    ends_on: date | None
    note: str
    active: bool
    outgoing: bool


class RelationshipIn(Schema):
    related_customer_id: int
    kind: Relationship.Kind
    starts_on: date | None = None
    ends_on: date | None = None
    note: str = ""


class RelationshipEndIn(Schema):
    ends_on: date | None = None


class HouseholdMemberOut(Schema):
    party: PartyOut
    role: str
    role_label: str
    is_current: bool


class HouseholdOut(Schema):
    id: int
    name: str
    members: list[HouseholdMemberOut]


class HouseholdCreateIn(Schema):
    name: str
    head_customer_id: int


class HouseholdMemberIn(Schema):
    customer_id: int
    role: HouseholdMember.Role = HouseholdMember.Role.MEMBER


class GroupNodeOut(Schema):
    party: PartyOut
    depth: int
    is_current: bool


class GroupOut(Schema):
    nodes: list[GroupNodeOut]
    truncated: bool


class ParentCompanyIn(Schema):
    parent_id: int | None


class ParentCompanyOut(Schema):
    customer_id: int
    parent_id: int | None


def _actor(request: HttpRequest) -> Actor:
    actor: Actor | None = getattr(request, "actor", None)
    if actor is None or not actor.is_authenticated:
        raise AuthenticationError()
    return actor


def _row_for(actor: Actor, customer_id: int, relationship_id: int) -> RelationshipRow:
    return next(row for row in relationships_for(actor, customer_id) if row.id == relationship_id)


@router.get("/customers/{customer_id}/relationships", response=list[RelationshipOut])
def list_relationships(request: HttpRequest, customer_id: int) -> list[RelationshipRow]:
    return relationships_for(_actor(request), customer_id)


@router.post("/customers/{customer_id}/relationships", response={201: RelationshipOut})
def add_relationship(
    request: HttpRequest, customer_id: int, payload: RelationshipIn
) -> Status[RelationshipRow]:
    """Record that ``related_customer_id`` is the ``kind`` (spouse, guarantor …) of this customer."""
    actor = _actor(request)
    relationship = services.relationship_add(actor=actor, customer_id=customer_id, **payload.dict())
    return Status(201, _row_for(actor, customer_id, relationship.pk))


@router.post("/relationships/{relationship_id}/end", response=RelationshipOut)
def end_relationship(
    request: HttpRequest, relationship_id: int, payload: RelationshipEndIn
) -> RelationshipRow:
    actor = _actor(request)
    relationship = services.relationship_end(
        actor=actor, relationship_id=relationship_id, ends_on=payload.ends_on
    )
    return _row_for(actor, relationship.to_customer_id, relationship.pk)


@router.get("/customers/{customer_id}/household", response=HouseholdOut | None)
def get_household(request: HttpRequest, customer_id: int) -> HouseholdView | None:
    """The customer's household, or null when it belongs to none."""
    return household_of(_actor(request), customer_id)


@router.post("/households", response={201: HouseholdOut})
def create_household(request: HttpRequest, payload: HouseholdCreateIn) -> Status[HouseholdView]:
    actor = _actor(request)
    household = services.household_create(actor=actor, **payload.dict())
    return Status(201, household_detail(actor, household.pk))


@router.post("/households/{household_id}/members", response=HouseholdOut)
def add_household_member(
    request: HttpRequest, household_id: int, payload: HouseholdMemberIn
) -> HouseholdView:
    actor = _actor(request)
    services.household_add_member(actor=actor, household_id=household_id, **payload.dict())
    return household_detail(actor, household_id)


@router.delete("/households/{household_id}/members/{customer_id}", response={204: None})
def remove_household_member(request: HttpRequest, household_id: int, customer_id: int) -> Status[None]:
    services.household_remove_member(
        actor=_actor(request), household_id=household_id, customer_id=customer_id
    )
    return Status(204, None)


@router.get("/customers/{customer_id}/group", response=GroupOut)
def get_group(request: HttpRequest, customer_id: int) -> GroupTree:
    """The customer's corporate group from the top parent down, depth first."""
    return group_tree(_actor(request), customer_id)


@router.put("/customers/{customer_id}/parent-company", response=ParentCompanyOut)
def set_parent_company(request: HttpRequest, customer_id: int, payload: ParentCompanyIn) -> dict[str, Any]:
    customer = services.company_parent_set(
        actor=_actor(request), customer_id=customer_id, parent_id=payload.parent_id
    )
    return {"customer_id": customer.pk, "parent_id": customer.parent_company_id}
