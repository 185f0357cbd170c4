"""The API of unmasking and sensitive-access grants (docs/security-masking.md).

Unmasking over the API needs a step-up in the same request: a bearer-token client sends the
owner's password (or a current TOTP code, when the owner has a second factor) in the
``X-Fincrm-Step-Up`` header; a browser session that stepped up in the last 15 minutes needs no
header. The answer carrying the clear value is ``Cache-Control: no-store``.
"""

from __future__ import annotations

from datetime import datetime

from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.utils.cache import patch_cache_control
from django.utils.translation import gettext as _
from ninja import Field, Router, Schema
from ninja.errors import AuthenticationError
from ninja.pagination import paginate
from ninja.responses import Status

from fincrm.platform.actor import Actor
from fincrm.platform.errors import ServiceError
from fincrm.platform.pagination import CursorPagination
from fincrm.platform.ratelimit import RateLimited
from fincrm.security import grants, selectors, unmask
from fincrm.security.models import SensitiveAccessGrant
from fincrm.security.stepup import HEADER, StepUpOutcome, request_is_stepped_up

router = Router(tags=["sensitive data"])


def _actor(request: HttpRequest) -> Actor:
    actor: Actor | None = getattr(request, "actor", None)
    if actor is None or not actor.is_authenticated:
        raise AuthenticationError()
    return actor


# ---------------------------------------------------------------- unmasking


class UnmaskIn(Schema):
    field: str = Field(..., max_length=32, description="id_number, mobile, email, address or account_number")
    reason_code: str = Field(
        ..., max_length=32, description="customer_request, kyc_review, aml_investigation, complaint or other"
    )
    reason_text: str = Field(..., max_length=500)
    account_id: int | None = Field(None, description="for account_number: one of the customer's accounts")


class UnmaskOut(Schema):
    field: str
    value: str
    masked: str


@router.post(
    "/customers/{customer_id}/unmask",
    response=UnmaskOut,
    summary="Show one identifier in clear (reason and step-up required; audited)",
    description=(
        f"Send the password or a current TOTP code in the `{HEADER}` header (a browser session "
        "that stepped up recently needs none). The answer is `Cache-Control: no-store`."
    ),
)
def unmask_customer_field(
    request: HttpRequest, customer_id: int, payload: UnmaskIn, response: HttpResponse
) -> unmask.Unmasked:
    actor = _actor(request)
    patch_cache_control(response, no_store=True, no_cache=True, private=True, max_age=0)
    # Scope and permission first, so a caller who may not unmask is never asked for a secret.
    customer = unmask.access_customer(actor, customer_id, unmask.VIEW)
    spec = unmask.unmaskable(payload.field)
    if not unmask.may_unmask(actor, customer.pk, spec.key):
        # The service records the refusal and raises Forbidden.
        return unmask.unmask_field(
            actor=actor,
            customer_id=customer.pk,
            field=spec.key,
            reason_code=payload.reason_code,
            reason_text=payload.reason_text,
            account_id=payload.account_id,
        )
    step_up = request_is_stepped_up(request)
    if step_up.outcome == StepUpOutcome.THROTTLED:
        raise RateLimited(step_up.wait_seconds)
    if not step_up.ok:
        raise ServiceError(
            _("Confirm with your password or code in the %(header)s header.") % {"header": HEADER},
            code="step_up_required",
            status=403,
        )
    return unmask.unmask_field(
        actor=actor,
        customer_id=customer.pk,
        field=spec.key,
        reason_code=payload.reason_code,
        reason_text=payload.reason_text,
        account_id=payload.account_id,
        stepped_up=True,
    )


# ---------------------------------------------------------------- grants


class GrantRequestIn(Schema):
    customer_number: str = Field(..., max_length=64)
    fields: list[str] = Field(..., max_length=10)
    reason_code: str = Field(..., max_length=32)
    reason_text: str = Field(..., max_length=500)


class GrantMineOut(Schema):
    """What the requester sees: never whether the number matched a customer."""

    id: int
    number_masked: str
    fields: list[str]
    reason_code: str
    reason_text: str
    status: str
    requested_at: datetime
    decided_at: datetime | None
    expires_at: datetime | None
    decision_note: str
    uses: int


class GrantOut(GrantMineOut):
    """What approvers and the report see."""

    requester_id: int
    requester_username: str = Field(..., alias="requester.username")
    approver_id: int | None
    customer_id: int | None
    customer_number: str | None

    @staticmethod
    def resolve_customer_number(obj: SensitiveAccessGrant) -> str | None:
        return obj.customer.customer_number if obj.customer_id and obj.customer else None


class GrantDecisionIn(Schema):
    note: str = Field("", max_length=500)


@router.post("/sensitive/grants", response={201: GrantMineOut}, summary="Request temporary unmask access")
def request_grant(request: HttpRequest, payload: GrantRequestIn) -> Status[SensitiveAccessGrant]:
    grant = grants.grant_request(actor=_actor(request), **payload.dict())
    return Status(201, grant)


@router.get("/sensitive/grants/mine", response=list[GrantMineOut], summary="My access requests")
@paginate(CursorPagination, ordering=("-requested_at", "-id"))
def my_grants(request: HttpRequest) -> QuerySet[SensitiveAccessGrant]:
    return selectors.grant_list_mine(actor=_actor(request))


@router.get("/sensitive/grants/queue", response=list[GrantOut], summary="Requests waiting for my decision")
@paginate(CursorPagination, ordering=("requested_at", "id"))
def grant_queue(request: HttpRequest) -> QuerySet[SensitiveAccessGrant]:
    return selectors.grant_queue(actor=_actor(request))


@router.post("/sensitive/grants/{grant_id}/approve", response=GrantOut, summary="Approve a request")
def approve_grant(request: HttpRequest, grant_id: int, payload: GrantDecisionIn) -> SensitiveAccessGrant:
    actor = _actor(request)
    grant = grants.grant_approve(actor=actor, grant_id=grant_id, note=payload.note)
    return selectors.access_grant_for_decision(actor, grant.pk)


@router.post("/sensitive/grants/{grant_id}/refuse", response=GrantOut, summary="Refuse a request")
def refuse_grant(request: HttpRequest, grant_id: int, payload: GrantDecisionIn) -> SensitiveAccessGrant:
    actor = _actor(request)
    grant = grants.grant_refuse(actor=actor, grant_id=grant_id, note=payload.note)
    return selectors.access_grant_for_decision(actor, grant.pk)


@router.get("/sensitive/grants", response=list[GrantOut], summary="Every grant (compliance report)")
@paginate(CursorPagination, ordering=("-requested_at", "-id"))
def grant_report(request: HttpRequest, status: str | None = None) -> QuerySet[SensitiveAccessGrant]:
    return selectors.grant_report(actor=_actor(request), status=status)
