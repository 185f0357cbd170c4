"""Writes of the privacy app: purposes, consents, data-subject requests, restriction and
anonymization. Plus the consent check other services call before consent-based processing."""

from __future__ import annotations

import datetime
import importlib
import json
from collections.abc import Mapping
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from fincrm.audit.services import audit_record
from fincrm.customers.models import Customer, CustomerStatus, IdentityDocument
from fincrm.customers.search_terms import refresh_search_terms
from fincrm.customers.selectors import access_customer
from fincrm.platform import outbox, transaction
from fincrm.platform.access import require_permission
from fincrm.platform.actor import Actor
from fincrm.platform.errors import Conflict, ServiceError
from fincrm.privacy import retention, subject_data
from fincrm.privacy.models import (
    Channel,
    Consent,
    ConsentSource,
    LegalBasis,
    ProcessingPurpose,
    SubjectRequest,
)
from fincrm.privacy.selectors import access_purpose, access_subject_request
from fincrm.security.masking import mask

MANAGE = "privacy.manage"
RECORD = "privacy.consent.record"
REQUEST_VIEW = "privacy.request.view"
HANDLE = "privacy.request.handle"

# PIPL Art. 50 asks for a timely answer; the institution's deadline (calendar days) is a setting.
DEFAULT_REQUEST_DUE_DAYS = 15
ANONYMIZED_NAME = "已匿名"
TEXT_MAX_LENGTH = 2000


# ---------------------------------------------------------------- the consent check


class ConsentMissing(ServiceError):
    """A consent-based purpose has no consent in force for the customer (never given or withdrawn)."""

    def __init__(self, purpose: ProcessingPurpose, channel: str | None) -> None:
        if channel:
            message = _(
                "The customer has not consented to “%(purpose)s” by %(channel)s, or has withdrawn that "
                "consent: this processing needs the customer's consent."
            ) % {"purpose": purpose.display_name, "channel": Channel(channel).label}
        else:
            message = _(
                "The customer has not consented to “%(purpose)s”, or has withdrawn that consent: this "
                "processing needs the customer's consent."
            ) % {"purpose": purpose.display_name}
        super().__init__(message, code="consent_missing", status=409)
        self.purpose_code = purpose.code
        self.channel = channel or ""


def _purpose_for_check(purpose_code: str, channel: str | None) -> ProcessingPurpose:
    try:
        purpose = ProcessingPurpose.objects.get(code=purpose_code)
    except ProcessingPurpose.DoesNotExist:
        raise LookupError(f"no processing purpose {purpose_code!r}") from None
    if purpose.needs_consent:
        if purpose.per_channel and channel not in Channel.values:
            raise ValueError(
                f"purpose {purpose_code!r} is consented per channel: name one of {Channel.values}"
            )
        if not purpose.per_channel and channel:
            raise ValueError(f"purpose {purpose_code!r} is not consented per channel")
    return purpose


def has_consent(customer_id: int, purpose_code: str, *, channel: str | None = None) -> bool:
    """Whether processing for ``purpose_code`` (by ``channel``) may go ahead for the customer now.

    Purposes resting on a legal duty or a contract never depend on consent (True). A consent-based
    purpose needs a consent in force; a deactivated consent-based purpose allows nothing. Callers
    have checked their own access to the customer; this check adds none and records nothing."""
    purpose = _purpose_for_check(purpose_code, channel)
    if not purpose.needs_consent:
        return True
    if not purpose.is_active:
        return False
    return Consent.objects.filter(
        customer_id=customer_id, purpose=purpose, channel=channel or "", withdrawn_at__isnull=True
    ).exists()


def require_consent(customer_id: int, purpose_code: str, *, channel: str | None = None) -> None:
    """Raise ConsentMissing (a ServiceError, status 409) unless ``has_consent``."""
    if not has_consent(customer_id, purpose_code, channel=channel):
        raise ConsentMissing(_purpose_for_check(purpose_code, channel), channel)


# ---------------------------------------------------------------- validation helpers


def _clean_text(value: object, field: str, *, limit: int, required: bool = False) -> str:
    text = str(value or "").strip()
    if required and not text:
        raise ServiceError.field(field, _("This field is required."), code="required")
    if len(text) > limit:
        raise ServiceError.field(field, _("Use at most %(limit)d characters.") % {"limit": limit})
    return text


def _clean_choice(value: object, field: str, choices: list[str]) -> str:
    text = str(value or "")
    if text not in choices:
        raise ServiceError.field(field, _("Choose a value from the list."), code="invalid_choice")
    return text


def _clean_moment(value: datetime.datetime | None, field: str) -> datetime.datetime:
    now = timezone.now()
    if value is None:
        return now
    if timezone.is_naive(value):
        raise ServiceError.field(field, _("Give the time with its time zone."), code="naive")
    if value > now + datetime.timedelta(minutes=5):
        raise ServiceError.field(field, _("The time cannot be in the future."), code="future")
    return value


# ---------------------------------------------------------------- purposes


def purpose_snapshot(purpose: ProcessingPurpose) -> dict[str, Any]:
    return {
        "code": purpose.code,
        "name": purpose.name,
        "legal_basis": purpose.legal_basis,
        "per_channel": purpose.per_channel,
        "separate_consent": purpose.separate_consent,
        "notice_version": purpose.notice_version,
        "is_active": purpose.is_active,
        "sort_order": purpose.sort_order,
    }


def _clean_purpose_fields(data: Mapping[str, Any]) -> dict[str, Any]:
    cleaned: dict[str, Any] = {}
    if "name" in data:
        cleaned["name"] = _clean_text(data["name"], "name", limit=100, required=True)
    if "description" in data:
        cleaned["description"] = _clean_text(data["description"], "description", limit=TEXT_MAX_LENGTH)
    if "legal_basis" in data:
        cleaned["legal_basis"] = _clean_choice(data["legal_basis"], "legal_basis", LegalBasis.values)
    if "notice_version" in data:
        cleaned["notice_version"] = _clean_text(data["notice_version"], "notice_version", limit=40)
    for flag in ("per_channel", "separate_consent", "is_active"):
        if flag in data:
            cleaned[flag] = bool(data[flag])
    if "sort_order" in data:
        order = data["sort_order"]
        if not isinstance(order, int) or isinstance(order, bool) or not 0 <= order <= 32767:
            raise ServiceError.field("sort_order", _("Use a whole number from 0 to 32767."))
        cleaned["sort_order"] = order
    basis = cleaned.get("legal_basis")
    if basis is not None and basis != LegalBasis.CONSENT and cleaned.get("per_channel"):
        raise ServiceError.field(
            "per_channel", _("Only a consent-based purpose is consented per channel."), code="per_channel"
        )
    return cleaned


@transaction.atomic
def purpose_create(*, actor: Actor, code: str, **data: Any) -> ProcessingPurpose:
    require_permission(actor, MANAGE)
    clean_code = str(code or "").strip().lower()
    if (
        not clean_code
        or len(clean_code) > 40
        or not clean_code.replace("_", "").isalnum()
        or not clean_code.isascii()
    ):
        raise ServiceError.field("code", _("Use 1 to 40 lower-case letters, digits or underscores."))
    if ProcessingPurpose.objects.filter(code=clean_code).exists():
        raise ServiceError.field("code", _("Another purpose already uses this code."), code="duplicate")
    cleaned = _clean_purpose_fields({"name": "", "legal_basis": "", **data})
    purpose = ProcessingPurpose.objects.create(code=clean_code, **cleaned)
    audit_record(
        actor,
        "privacy.purpose.created",
        object_type="purpose",
        object_id=str(purpose.pk),
        after=purpose_snapshot(purpose),
    )
    return purpose


@transaction.atomic
def purpose_update(*, actor: Actor, purpose_id: int, **data: Any) -> ProcessingPurpose:
    """Change a purpose; keys left out stay as they are. The legal basis and per-channel flag are
    fixed once consents exist: they decide what those consents mean."""
    purpose = access_purpose(actor, purpose_id)
    purpose = ProcessingPurpose.objects.select_for_update().get(pk=purpose.pk)
    before = purpose_snapshot(purpose)
    cleaned = _clean_purpose_fields(data)
    basis = cleaned.get("legal_basis", purpose.legal_basis)
    if basis != LegalBasis.CONSENT and cleaned.get("per_channel", purpose.per_channel):
        cleaned["per_channel"] = False
    changes = {field: value for field, value in cleaned.items() if getattr(purpose, field) != value}
    fixed = {"legal_basis", "per_channel"} & set(changes)
    if fixed and purpose.consents.exists():
        raise ServiceError.field(
            sorted(fixed)[0],
            _("Consents were recorded for this purpose: its legal basis and channels cannot change."),
            code="has_consents",
        )
    if not changes:
        return purpose
    for field, value in changes.items():
        setattr(purpose, field, value)
    purpose.save(update_fields=[*changes, "updated_at"])
    audit_record(
        actor,
        "privacy.purpose.updated",
        object_type="purpose",
        object_id=str(purpose.pk),
        before=before,
        after=purpose_snapshot(purpose),
    )
    return purpose


# ---------------------------------------------------------------- consents


def consent_snapshot(consent: Consent) -> dict[str, Any]:
    return {
        "customer_id": consent.customer_id,
        "purpose": consent.purpose.code,
        "channel": consent.channel,
        "separate": consent.separate,
        "source": consent.source,
        "notice_version": consent.notice_version,
        "evidence": mask("full", consent.evidence),
        "given_at": consent.given_at.isoformat(),
        "withdrawn_at": consent.withdrawn_at.isoformat() if consent.withdrawn_at else None,
        "withdrawal_source": consent.withdrawal_source,
    }


@transaction.atomic
def consent_record(
    *,
    actor: Actor,
    customer_id: int,
    purpose_code: str,
    source: str,
    channel: str = "",
    notice_version: str = "",
    evidence: str = "",
    separate: bool = False,
    given_at: datetime.datetime | None = None,
) -> Consent:
    """Record that the customer consented to a consent-based purpose (by a channel where the purpose
    is consented per channel). Refused when a consent for the same purpose and channel is in force."""
    customer = access_customer(actor, customer_id, RECORD, for_update=True)
    purpose = ProcessingPurpose.objects.filter(code=str(purpose_code or ""), is_active=True).first()
    if purpose is None:
        raise ServiceError.field("purpose", _("Choose a purpose from the list."), code="invalid_choice")
    if not purpose.needs_consent:
        raise ServiceError.field(
            "purpose",
            _("This purpose rests on a contract or a legal duty, not on consent: no consent is recorded."),
            code="not_consent_based",
        )
    channel = str(channel or "")
    if purpose.per_channel:
        if channel not in Channel.values:
            raise ServiceError.field(
                "channel", _("This purpose is consented per channel: choose the channel."), code="required"
            )
    elif channel:
        raise ServiceError.field(
            "channel",
            _("This purpose is not consented per channel: leave the channel empty."),
            code="invalid",
        )
    source = _clean_choice(source, "source", ConsentSource.values)
    if purpose.separate_consent and not separate:
        raise ServiceError.field(
            "separate",
            _(
                "The law requires a separate consent for this purpose: confirm the customer gave it "
                "separately, not as part of a general agreement."
            ),
            code="separate_required",
        )
    version = _clean_text(notice_version or purpose.notice_version, "notice_version", limit=40, required=True)
    evidence = _clean_text(evidence, "evidence", limit=200)
    moment = _clean_moment(given_at, "given_at")
    if Consent.objects.filter(
        customer=customer, purpose=purpose, channel=channel, withdrawn_at__isnull=True
    ).exists():
        raise Conflict(_("This consent is already in force for the customer."), code="already_given")
    consent = Consent.objects.create(
        customer=customer,
        purpose=purpose,
        channel=channel,
        separate=bool(separate),
        source=source,
        notice_version=version,
        evidence=evidence,
        given_at=moment,
        recorded_by_id=actor.user_id,
    )
    audit_record(
        actor,
        "privacy.consent.given",
        object_type="customer",
        object_id=str(customer.pk),
        after=consent_snapshot(consent),
    )
    outbox.publish("consent.given", customer_id=customer.pk, consent_id=consent.pk)
    return consent


@transaction.atomic
def consent_withdraw(
    *, actor: Actor, customer_id: int, consent_id: int, source: str = ConsentSource.BRANCH
) -> Consent:
    """Withdraw a consent in force: it stops every later processing at once. The row stays as evidence."""
    customer = access_customer(actor, customer_id, RECORD, for_update=True)
    consent = (
        Consent.objects.select_for_update()
        .select_related("purpose")
        .filter(customer=customer, pk=consent_id)
        .first()
    )
    if consent is None:
        raise ServiceError.field("consent", _("The customer has no such consent."), code="not_found")
    if consent.withdrawn_at is not None:
        raise Conflict(_("This consent was already withdrawn."), code="already_withdrawn")
    source = _clean_choice(source, "source", ConsentSource.values)
    before = consent_snapshot(consent)
    consent.withdrawn_at = timezone.now()
    consent.withdrawal_source = source
    consent.withdrawn_by_id = actor.user_id
    consent.save(update_fields=["withdrawn_at", "withdrawal_source", "withdrawn_by", "updated_at"])
    audit_record(
        actor,
        "privacy.consent.withdrawn",
        object_type="customer",
        object_id=str(customer.pk),
        before=before,
        after=consent_snapshot(consent),
    )
    outbox.publish("consent.withdrawn", customer_id=customer.pk, consent_id=consent.pk)
    return consent


# ---------------------------------------------------------------- data-subject requests


def request_snapshot(request: SubjectRequest) -> dict[str, Any]:
    return {
        "customer_id": request.customer_id,
        "kind": request.kind,
        "status": request.status,
        "outcome": request.outcome,
        "received_at": request.received_at.isoformat(),
        "due_on": request.due_on.isoformat(),
        "details": mask("full", request.details),
        "resolution": mask("full", request.resolution),
    }


def request_due_days() -> int:
    from django.conf import settings

    return int(getattr(settings, "FINCRM_PRIVACY_REQUEST_DUE_DAYS", DEFAULT_REQUEST_DUE_DAYS))


@transaction.atomic
def subject_request_create(
    *,
    actor: Actor,
    customer_id: int,
    kind: str,
    details: str = "",
    received_at: datetime.datetime | None = None,
) -> SubjectRequest:
    """Log a request the customer made. Front-line staff who may see requests (privacy.request.view)
    may log them: PIPL Art. 50 asks for a convenient way to make one. Handling needs more."""
    require_permission(actor, REQUEST_VIEW)
    customer = access_customer(actor, customer_id, REQUEST_VIEW, for_update=True)
    kind = _clean_choice(kind, "kind", SubjectRequest.Kind.values)
    details = _clean_text(details, "details", limit=TEXT_MAX_LENGTH)
    moment = _clean_moment(received_at, "received_at")
    if SubjectRequest.objects.filter(
        customer=customer, kind=kind, status=SubjectRequest.Status.OPEN
    ).exists():
        raise Conflict(_("An open request of this type already exists for the customer."), code="duplicate")
    due_on = timezone.localtime(moment).date() + datetime.timedelta(days=request_due_days())
    request = SubjectRequest.objects.create(
        customer=customer,
        kind=kind,
        details=details,
        received_at=moment,
        due_on=due_on,
        created_by_id=actor.user_id,
    )
    audit_record(
        actor,
        "privacy.request.created",
        object_type="subject_request",
        object_id=str(request.pk),
        after=request_snapshot(request),
    )
    outbox.publish("privacy.request.created", request_id=request.pk, customer_id=customer.pk)
    return request


def _open_request(actor: Actor, request_id: int) -> SubjectRequest:
    request = access_subject_request(actor, request_id, HANDLE, for_update=True)
    if request.status != SubjectRequest.Status.OPEN:
        raise Conflict(_("This request was already closed."), code="closed")
    return request


def _close(
    actor: Actor, request: SubjectRequest, *, status: str, outcome: str, resolution: str, code: str
) -> SubjectRequest:
    before = request_snapshot(request)
    request.status = status
    request.outcome = outcome
    request.resolution = resolution
    request.completed_at = timezone.now()
    request.completed_by_id = actor.user_id
    request.save(
        update_fields=["status", "outcome", "resolution", "completed_at", "completed_by", "updated_at"]
    )
    audit_record(
        actor,
        code,
        object_type="subject_request",
        object_id=str(request.pk),
        before=before,
        after=request_snapshot(request),
    )
    outbox.publish("privacy.request.completed", request_id=request.pk, customer_id=request.customer_id)
    return request


def _correction_service() -> Any | None:
    """The customers app's profile update, when that service exists (written by another work item)."""
    try:
        module = importlib.import_module("fincrm.customers.services.profile")
    except ImportError:
        return None
    return getattr(module, "customer_update", None)


@transaction.atomic
def subject_request_complete(
    *,
    actor: Actor,
    request_id: int,
    resolution: str = "",
    corrections: Mapping[str, Any] | None = None,
) -> SubjectRequest:
    """Carry out an open request and close it.

    access: the copy is downloaded separately (``subject_data_export``); completing records it was given.
    correction: ``corrections`` go through the customers app's ``customer_update``; without them the
    handler states what was corrected on the customer's own page.
    deletion: restriction where a retention duty applies, anonymization otherwise."""
    request = _open_request(actor, request_id)
    resolution = _clean_text(resolution, "resolution", limit=TEXT_MAX_LENGTH)
    Kind, Outcome = SubjectRequest.Kind, SubjectRequest.Outcome
    if request.kind == Kind.ACCESS:
        outcome = Outcome.EXPORTED
    elif request.kind == Kind.CORRECTION:
        if corrections:
            update = _correction_service()
            if update is None:
                raise ServiceError.field(
                    "corrections",
                    _("Corrections cannot be applied here yet: correct the customer on its page."),
                    code="unavailable",
                )
            if not actor.can("customer.edit"):
                raise ServiceError.field(
                    "corrections",
                    _(
                        "You may not change customer records: ask a colleague who may edit the customer "
                        "to correct it, then complete the request saying what was corrected."
                    ),
                    code="cannot_edit",
                )
            update(
                actor=actor,
                customer_id=request.customer_id,
                data=dict(corrections),
                reason=f"subject_request:{request.pk}",
            )
        elif not resolution:
            raise ServiceError.field("resolution", _("Say what was corrected."), code="required")
        outcome = Outcome.CORRECTED
    else:
        customer = access_customer(actor, request.customer_id, HANDLE, for_update=True)
        until = retention.retained_until(customer)
        if until is not None:
            customer_restrict(
                actor=actor, customer=customer, until=until, reason=f"subject_request:{request.pk}"
            )
            outcome = Outcome.RESTRICTED
        else:
            customer_anonymize(actor=actor, customer=customer, reason=f"subject_request:{request.pk}")
            outcome = Outcome.ANONYMIZED
    return _close(
        actor,
        request,
        status=SubjectRequest.Status.COMPLETED,
        outcome=outcome,
        resolution=resolution,
        code="privacy.request.completed",
    )


@transaction.atomic
def subject_request_reject(*, actor: Actor, request_id: int, resolution: str) -> SubjectRequest:
    """Refuse a request, saying why (PIPL Art. 50: a refusal gives its reasons)."""
    request = _open_request(actor, request_id)
    resolution = _clean_text(resolution, "resolution", limit=TEXT_MAX_LENGTH, required=True)
    return _close(
        actor,
        request,
        status=SubjectRequest.Status.REJECTED,
        outcome=SubjectRequest.Outcome.REJECTED,
        resolution=resolution,
        code="privacy.request.rejected",
    )


@transaction.atomic
def subject_data_export(*, actor: Actor, request_id: int) -> bytes:
    """The copy of everything held about the customer of an open access request, as UTF-8 JSON.
    Clear values: it is for the customer themself. Audited, one event per export."""
    request = access_subject_request(actor, request_id, HANDLE)
    if request.kind != SubjectRequest.Kind.ACCESS:
        raise ServiceError(_("Only an access request has a copy to export."), code="not_access")
    if request.status != SubjectRequest.Status.OPEN:
        raise Conflict(_("This request was already closed."), code="closed")
    document: dict[str, Any] = {
        "request_id": request.pk,
        "customer_id": request.customer_id,
        "generated_at": timezone.now().isoformat(),
        "sections": {
            label: section(request.customer_id) for label, section in subject_data.sections().items()
        },
    }
    audit_record(
        actor,
        "privacy.subject_data.exported",
        object_type="customer",
        object_id=str(request.customer_id),
        after={"request_id": request.pk, "sections": sorted(document["sections"])},
        reason=f"subject_request:{request.pk}",
    )
    return json.dumps(document, cls=DjangoJSONEncoder, ensure_ascii=False, indent=2).encode()


# ---------------------------------------------------------------- restriction and anonymization
# Customer writes the privacy app owns (the brief puts them here rather than in the customers app).


def _customer_snapshot(customer: Customer) -> dict[str, Any]:
    return {
        "status": customer.status,
        "restricted_until": customer.restricted_until.isoformat() if customer.restricted_until else None,
        "name": mask("name", customer.name),
        "id_number": mask("id_number", customer.id_number),
        "mobile": mask("mobile", customer.mobile),
        "email": mask("email", customer.email),
        "address": mask("address", customer.address),
    }


def customer_restrict(*, actor: Actor, customer: Customer, until: datetime.date, reason: str) -> Customer:
    """Hide a customer from every use but keep the records until ``until`` (a retention duty applies).
    Called inside a service that locked the customer and checked privacy.request.handle."""
    require_permission(actor, HANDLE)
    before = _customer_snapshot(customer)
    customer.status = CustomerStatus.RESTRICTED
    customer.restricted_until = until
    customer.save(update_fields=["status", "restricted_until", "updated_at"])
    audit_record(
        actor,
        "privacy.customer.restricted",
        object_type="customer",
        object_id=str(customer.pk),
        before=before,
        after=_customer_snapshot(customer),
        reason=reason,
    )
    outbox.publish("customer.restricted", customer_id=customer.pk)
    return customer


def customer_anonymize(*, actor: Actor, customer: Customer, reason: str) -> Customer:
    """Clear the name and every identifier and keep the row (other records point at it), hidden
    like a restricted customer. Used when no retention duty applies, and when a retention ends."""
    if not actor.is_operator:
        require_permission(actor, HANDLE)
    before = _customer_snapshot(customer)
    customer.name = ANONYMIZED_NAME
    customer.name_pinyin = ""
    for field in ("id_number", "mobile", "email", "address", "birth_date", "id_expires_on"):
        setattr(customer, field, None)
    for field in ("id_type", "gender", "occupation", "employer", "source_of_funds", "professional_evidence"):
        setattr(customer, field, "")
    customer.status = CustomerStatus.RESTRICTED
    customer.restricted_until = None
    customer.save()
    IdentityDocument.objects.filter(customer=customer).delete()
    customer.custom_values.all().delete()
    refresh_search_terms([customer])
    Consent.objects.filter(customer=customer).update(evidence="")
    SubjectRequest.objects.filter(customer=customer).update(details="")
    audit_record(
        actor,
        "privacy.customer.anonymized",
        object_type="customer",
        object_id=str(customer.pk),
        before=before,
        after=_customer_snapshot(customer),
        reason=reason,
    )
    outbox.publish("customer.anonymized", customer_id=customer.pk)
    return customer


@transaction.atomic
def retention_expire(*, actor: Actor, today: datetime.date | None = None, batch: int = 500) -> int:
    """Anonymize restricted customers whose retention has ended (the periodic job's work)."""
    if not actor.is_operator:
        require_permission(actor, HANDLE)
    day = today or timezone.localdate()
    due = list(
        Customer.objects.select_for_update()
        .filter(status=CustomerStatus.RESTRICTED, restricted_until__lt=day)
        .order_by("pk")[:batch]
    )
    for customer in due:
        customer_anonymize(actor=actor, customer=customer, reason="retention_ended")
    return len(due)
