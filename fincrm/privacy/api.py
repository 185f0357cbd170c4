"""The privacy API: a customer's consents, processing purposes and data-subject requests."""

from __future__ import annotations

import datetime
from typing import Any

from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from ninja import Router, Schema
from ninja.errors import AuthenticationError
from ninja.pagination import paginate
from ninja.responses import Status

from fincrm.platform.actor import Actor
from fincrm.platform.downloads import download
from fincrm.platform.pagination import CursorPagination
from fincrm.privacy import selectors, services
from fincrm.privacy.models import Consent, ConsentSource, ProcessingPurpose, SubjectRequest

router = Router(tags=["privacy"])


class ConsentRowOut(Schema):
    purpose: str
    purpose_name: str
    channel: str
    separate_required: bool
    given: bool
    consent_id: int | None
    given_at: datetime.datetime | None
    source: str
    notice_version: str
    separate: bool
    withdrawn_at: datetime.datetime | None


class ConsentOut(Schema):
    id: int
    customer_id: int
    purpose: str
    channel: str
    separate: bool
    source: str
    notice_version: str
    evidence: str
    given_at: datetime.datetime
    withdrawn_at: datetime.datetime | None
    withdrawal_source: str


class ConsentIn(Schema):
    purpose: str
    channel: str = ""
    source: str
    notice_version: str = ""
    evidence: str = ""
    separate: bool = False
    given_at: datetime.datetime | None = None


class WithdrawIn(Schema):
    source: str = ConsentSource.BRANCH


class PurposeOut(Schema):
    id: int
    code: str
    name: str
    legal_basis: str
    per_channel: bool
    separate_consent: bool
    notice_version: str
    is_active: bool


class SubjectRequestOut(Schema):
    id: int
    customer_id: int
    kind: str
    status: str
    outcome: str
    received_at: datetime.datetime
    due_on: datetime.date
    details: str
    resolution: str
    completed_at: datetime.datetime | None


class SubjectRequestIn(Schema):
    customer_id: int
    kind: str
    details: str = ""
    received_at: datetime.datetime | None = None


class CompleteIn(Schema):
    resolution: str = ""
    corrections: dict[str, Any] | None = None


class RejectIn(Schema):
    resolution: str


def _actor(request: HttpRequest) -> Actor:
    actor: Actor | None = getattr(request, "actor", None)
    if actor is None or not actor.is_authenticated:
        raise AuthenticationError()
    return actor


def _consent_out(consent: Consent) -> dict[str, Any]:
    return {
        "id": consent.pk,
        "customer_id": consent.customer_id,
        "purpose": consent.purpose.code,
        "channel": consent.channel,
        "separate": consent.separate,
        "source": consent.source,
        "notice_version": consent.notice_version,
        "evidence": consent.evidence,
        "given_at": consent.given_at,
        "withdrawn_at": consent.withdrawn_at,
        "withdrawal_source": consent.withdrawal_source,
    }


# ---------------------------------------------------------------- consents


@router.get("/customers/{customer_id}/consents", response=list[ConsentRowOut])
def list_consents(request: HttpRequest, customer_id: int) -> list[dict[str, Any]]:
    """Every consent-based purpose (per channel where it is consented per channel) and its state."""
    return [
        {
            "purpose": row.purpose_code,
            "purpose_name": row.purpose_name,
            "channel": row.channel,
            "separate_required": row.separate_required,
            "given": row.is_given,
            "consent_id": row.consent_id,
            "given_at": row.given_at,
            "source": row.source,
            "notice_version": row.notice_version,
            "separate": row.separate,
            "withdrawn_at": row.withdrawn_at,
        }
        for row in selectors.consents_for(_actor(request), customer_id)
    ]


@router.post("/customers/{customer_id}/consents", response={201: ConsentOut})
def record_consent(request: HttpRequest, customer_id: int, payload: ConsentIn) -> Status[dict[str, Any]]:
    data = payload.dict()
    consent = services.consent_record(
        actor=_actor(request), customer_id=customer_id, purpose_code=data.pop("purpose"), **data
    )
    return Status(201, _consent_out(consent))


@router.post("/customers/{customer_id}/consents/{consent_id}/withdraw", response=ConsentOut)
def withdraw_consent(
    request: HttpRequest, customer_id: int, consent_id: int, payload: WithdrawIn
) -> dict[str, Any]:
    consent = services.consent_withdraw(
        actor=_actor(request), customer_id=customer_id, consent_id=consent_id, source=payload.source
    )
    return _consent_out(consent)


# ---------------------------------------------------------------- purposes


@router.get("/privacy/purposes", response=list[PurposeOut])
def list_purposes(request: HttpRequest) -> QuerySet[ProcessingPurpose]:
    return selectors.purpose_list(actor=_actor(request))


# ---------------------------------------------------------------- data-subject requests


@router.get("/privacy/requests", response=list[SubjectRequestOut])
@paginate(CursorPagination, ordering=("-received_at", "-id"))
def list_requests(request: HttpRequest, status: str | None = None) -> QuerySet[SubjectRequest]:
    return selectors.subject_request_list(actor=_actor(request), status=status)


@router.get("/privacy/requests/{request_id}", response=SubjectRequestOut)
def get_request(request: HttpRequest, request_id: int) -> SubjectRequest:
    return selectors.access_subject_request(_actor(request), request_id)


@router.post("/privacy/requests", response={201: SubjectRequestOut})
def create_request(request: HttpRequest, payload: SubjectRequestIn) -> Status[SubjectRequest]:
    return Status(201, services.subject_request_create(actor=_actor(request), **payload.dict()))


@router.post("/privacy/requests/{request_id}/complete", response=SubjectRequestOut)
def complete_request(request: HttpRequest, request_id: int, payload: CompleteIn) -> SubjectRequest:
    return services.subject_request_complete(actor=_actor(request), request_id=request_id, **payload.dict())


@router.post("/privacy/requests/{request_id}/reject", response=SubjectRequestOut)
def reject_request(request: HttpRequest, request_id: int, payload: RejectIn) -> SubjectRequest:
    return services.subject_request_reject(actor=_actor(request), request_id=request_id, **payload.dict())


@router.get("/privacy/requests/{request_id}/export")
def export_request(request: HttpRequest, request_id: int) -> HttpResponse:
    """The copy of the customer's data for an open access request (JSON, clear values, audited)."""
    content = services.subject_data_export(actor=_actor(request), request_id=request_id)
    return download(
        content,
        content_type="application/json; charset=utf-8",
        filename=f"subject-data-request-{request_id}.json",
    )
