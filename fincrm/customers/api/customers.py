"""One customer over the API: create, read (identifiers masked), change, lifecycle, transfer.

    POST  /customers                     create (201); identity warnings in ``warnings``
    GET   /customers/{id}                read, names and identifiers masked
    PATCH /customers/{id}                change the fields sent (others stay as they are)
    POST  /customers/{id}/lifecycle      {stage, reason}
    POST  /customers/{id}/transfer       {primary_manager_id?, covering_team_id?, reason}

A USCC failing its check is kept only with ``identity_override_reason``. Refusals use the
platform's error body; a customer out of scope is 404, like a missing one.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from django.http import HttpRequest
from ninja import Field, Router, Schema
from ninja.errors import AuthenticationError
from ninja.responses import Status

from fincrm.customers.models import Customer
from fincrm.customers.selectors import access_customer
from fincrm.customers.services import profile as services
from fincrm.platform.actor import Actor
from fincrm.security.masking import mask

router = Router(tags=["customers"])

VIEW = "customer.view"


def _collection_router() -> Router:
    """``POST /customers`` shares its path with the list's ``GET /customers`` (api/lists.py). ninja
    gives each router its own URL pattern per path, and the first pattern answers 405 for methods it
    lacks, so the create operation joins the router that already serves that path."""
    try:
        from fincrm.customers.api import lists
    except ImportError:  # the list API is not installed: this router serves the path alone
        return router
    return lists.router


def _actor(request: HttpRequest) -> Actor:
    actor: Actor | None = getattr(request, "actor", None)
    if actor is None or not actor.is_authenticated:
        raise AuthenticationError()
    return actor


class WarningOut(Schema):
    code: str
    message: str


class CustomerOut(Schema):
    id: int
    customer_number: str
    kind: str
    status: str
    name: str = Field(description="masked")
    id_type: str
    id_number: str = Field(description="masked")
    id_expires_on: date | None
    gender: str
    nationality: str
    mobile: str = Field(description="masked")
    email: str = Field(description="masked")
    address: str = Field(description="masked down to the district")
    occupation: str
    employer: str
    income_band: str
    source_of_funds: str
    industry: str
    aml_risk_rating: str
    aml_next_review_on: date | None
    risk_tolerance: str
    risk_assessed_on: date | None
    risk_expires_on: date | None
    is_professional_investor: bool
    lifecycle_stage: str
    source_channel: str
    value_tier: str
    org_unit_id: int
    primary_manager_id: int | None
    covering_team_id: int | None
    parent_company_id: int | None
    created_at: datetime
    updated_at: datetime
    warnings: list[WarningOut] = Field(default_factory=list, description="identity warnings of this write")


class _ProfileIn(Schema):
    name: str | None = None
    id_type: str | None = None
    id_number: str | None = None
    id_expires_on: date | None = None
    gender: str | None = None
    birth_date: date | None = None
    nationality: str | None = None
    mobile: str | None = None
    email: str | None = None
    address: str | None = None
    occupation: str | None = None
    employer: str | None = None
    income_band: str | None = None
    source_of_funds: str | None = None
    industry: str | None = None
    aml_risk_rating: str | None = None
    risk_tolerance: str | None = None
    risk_assessed_on: date | None = None
    is_professional_investor: bool | None = None
    professional_evidence: str | None = None
    source_channel: str | None = None
    parent_company_id: int | None = None
    identity_override_reason: str = Field("", description="why an ID number failing its check is correct")


class CustomerCreateIn(_ProfileIn):
    kind: str = Field(description="individual or corporate")
    name: str | None = None
    org_unit_id: int | None = None
    lifecycle_stage: str | None = None
    primary_manager_id: int | None = Field(None, description="default: the caller")
    covering_team_id: int | None = None


class CustomerPatchIn(_ProfileIn):
    reason: str = Field("", description="recorded with the change, e.g. a correction the customer asked for")


class LifecycleIn(Schema):
    stage: str
    reason: str = ""


class TransferIn(Schema):
    primary_manager_id: int | None = Field(None, description="omit to keep; null to clear")
    covering_team_id: int | None = Field(None, description="omit to keep; null to clear")
    reason: str


def customer_out(customer: Customer) -> dict[str, Any]:
    masked = {
        "name": mask("name", customer.name),
        "id_number": mask("id_number", customer.id_number),
        "mobile": mask("mobile", customer.mobile),
        "email": mask("email", customer.email),
        "address": mask("address", customer.address),
    }
    plain = {
        name: getattr(customer, name)
        for name in CustomerOut.model_fields
        if name not in masked and name not in ("id", "warnings")
    }
    warnings = [
        {"code": warning.code, "message": str(warning.message)} for warning in services.warnings_of(customer)
    ]
    return {"id": customer.pk, **plain, **masked, "warnings": warnings}


def _data(payload: Schema, *, drop: tuple[str, ...]) -> dict[str, Any]:
    """The fields the caller sent (unset ones are left alone), as the service's ``data``."""
    return {name: value for name, value in payload.dict(exclude_unset=True).items() if name not in drop}


@_collection_router().post("/customers", response={201: CustomerOut}, summary="Create a customer")
def create_customer(request: HttpRequest, payload: CustomerCreateIn) -> Status[dict[str, Any]]:
    customer = services.customer_create(
        actor=_actor(request),
        data=_data(payload, drop=("identity_override_reason",)),
        identity_override_reason=payload.identity_override_reason,
    )
    return Status(201, customer_out(customer))


@router.get("/customers/{customer_id}", response=CustomerOut, summary="One customer, masked")
def get_customer(request: HttpRequest, customer_id: int) -> dict[str, Any]:
    return customer_out(access_customer(_actor(request), customer_id, VIEW))


@router.patch("/customers/{customer_id}", response=CustomerOut, summary="Change a customer")
def update_customer(request: HttpRequest, customer_id: int, payload: CustomerPatchIn) -> dict[str, Any]:
    customer = services.customer_update(
        actor=_actor(request),
        customer_id=customer_id,
        data=_data(payload, drop=("identity_override_reason", "reason")),
        identity_override_reason=payload.identity_override_reason,
        reason=payload.reason,
    )
    return customer_out(customer)


@router.post("/customers/{customer_id}/lifecycle", response=CustomerOut, summary="Change the lifecycle stage")
def change_lifecycle(request: HttpRequest, customer_id: int, payload: LifecycleIn) -> dict[str, Any]:
    customer = services.customer_lifecycle_change(
        actor=_actor(request), customer_id=customer_id, stage=payload.stage, reason=payload.reason
    )
    return customer_out(customer)


@router.post("/customers/{customer_id}/transfer", response=CustomerOut, summary="Transfer a customer")
def transfer_customer(request: HttpRequest, customer_id: int, payload: TransferIn) -> dict[str, Any]:
    sent = payload.dict(exclude_unset=True)
    customer = services.customer_transfer(
        actor=_actor(request),
        customer_id=customer_id,
        reason=payload.reason,
        primary_manager_id=sent.get("primary_manager_id", services.KEEP),
        covering_team_id=sent.get("covering_team_id", services.KEEP),
    )
    return customer_out(customer)
