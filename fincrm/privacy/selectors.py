"""Reads of purposes, consents and data-subject requests, scoped through the customers app."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db.models import Exists, OuterRef, QuerySet
from django.utils.functional import Promise

from fincrm.customers.models import Customer
from fincrm.customers.selectors import access_customer, customer_queryset
from fincrm.platform.access import access_object, require_permission
from fincrm.platform.actor import Actor, Scope
from fincrm.privacy.models import Channel, Consent, LegalBasis, ProcessingPurpose, SubjectRequest

CONSENT_VIEW = "customer.view"
REQUEST_VIEW = "privacy.request.view"
MANAGE = "privacy.manage"


@dataclass(frozen=True)
class ConsentRow:
    """One consent-based purpose (and channel) of a customer, with its current consent if any."""

    purpose_id: int
    purpose_code: str
    purpose_name: str
    separate_required: bool
    channel: str
    channel_label: str | Promise
    consent_id: int | None = None
    given_at: datetime | None = None
    source: str = ""
    source_label: str | Promise = ""
    notice_version: str = ""
    evidence: str = ""
    separate: bool = False
    # The last withdrawal when nothing is current, so "withdrawn on …" can be shown.
    withdrawn_at: datetime | None = None

    @property
    def is_given(self) -> bool:
        return self.consent_id is not None

    @property
    def key(self) -> str:
        return f"{self.purpose_code}:{self.channel}" if self.channel else self.purpose_code


def consent_purposes() -> list[ProcessingPurpose]:
    """Active purposes that rest on consent, in display order (not personal data, unscoped)."""
    return list(ProcessingPurpose.objects.filter(is_active=True, legal_basis=LegalBasis.CONSENT))


def consents_for(actor: Actor, customer_id: int) -> list[ConsentRow]:
    """Every consent-based purpose (per channel where consented per channel) of a customer in the
    actor's scope, with the consent now in force or the last withdrawal. Three queries."""
    customer = access_customer(actor, customer_id, CONSENT_VIEW)
    return consent_rows(customer.pk)


# The consent-based purposes (in display order) and one customer's consents (oldest first), as
# ``consent_purposes`` and ``consent_rows`` read them.
ConsentsRead = tuple[list[ProcessingPurpose], list[Consent]]


def consent_rows(customer_id: int, *, read: ConsentsRead | None = None) -> list[ConsentRow]:
    """``consents_for`` without its scope check, for a caller that has reached the customer for
    ``CONSENT_VIEW`` already in this request (the 360 page). Two queries, none when the caller
    hands over the rows it has ``read`` already (the 360's one statement reads them too)."""
    if read is None:
        consents = list(Consent.objects.filter(customer_id=customer_id).order_by("given_at", "id"))
        purposes = consent_purposes()
    else:
        purposes, consents = read
    current: dict[tuple[int, str], Consent] = {}
    withdrawn: dict[tuple[int, str], datetime] = {}
    for consent in consents:
        slot = (consent.purpose_id, consent.channel)
        if consent.withdrawn_at is None:
            current[slot] = consent
        else:
            withdrawn[slot] = consent.withdrawn_at
    rows: list[ConsentRow] = []
    for purpose in purposes:
        channels: list[Channel | None] = list(Channel) if purpose.per_channel else [None]
        for channel in channels:
            code = channel.value if channel is not None else ""
            in_force = current.get((purpose.pk, code))
            base: dict[str, Any] = {
                "purpose_id": purpose.pk,
                "purpose_code": purpose.code,
                "purpose_name": purpose.display_name,
                "separate_required": purpose.separate_consent,
                "channel": code,
                "channel_label": channel.label if channel is not None else "",
            }
            if in_force is None:
                rows.append(ConsentRow(**base, withdrawn_at=withdrawn.get((purpose.pk, code))))
            else:
                rows.append(
                    ConsentRow(
                        **base,
                        consent_id=in_force.pk,
                        given_at=in_force.given_at,
                        source=in_force.source,
                        source_label=in_force.get_source_display(),
                        notice_version=in_force.notice_version,
                        evidence=in_force.evidence,
                        separate=in_force.separate,
                    )
                )
    return rows


def covers(actor: Actor, action: str, reached_for: str) -> bool:
    """Whether every customer the actor reaches for ``reached_for`` is in its scope for ``action``
    too: the scopes granted for ``action`` include all of those for ``reached_for`` (a customer's
    scope condition depends on the scope and the actor only), or the whole institution."""
    scopes, reached = actor.scopes_for(action), actor.scopes_for(reached_for)
    return bool(reached) and (Scope.INSTITUTION in scopes or scopes >= reached)


def customer_in_scope(actor: Actor, customer_id: int, action: str, *, reached_for: str | None = None) -> bool:
    """Whether the actor may act on the customer with ``action`` (no denial recorded: for showing
    or hiding a form on a page the actor may already see). ``reached_for``: an action for which
    the caller has reached this customer in scope in this request; when it ``covers`` the
    answer, no query is needed."""
    if reached_for is not None and covers(actor, action, reached_for):
        return True
    return customer_queryset(actor, action).filter(pk=customer_id).exists()


def consent_history(actor: Actor, customer_id: int) -> QuerySet[Consent]:
    """Every consent row of a customer in scope, newest first (withdrawn ones included)."""
    customer = access_customer(actor, customer_id, CONSENT_VIEW)
    return Consent.objects.filter(customer=customer).select_related("purpose").order_by("-given_at", "-id")


# ---------------------------------------------------------------- purposes


def purpose_list(*, actor: Actor) -> QuerySet[ProcessingPurpose]:
    require_permission(actor, MANAGE)
    return ProcessingPurpose.objects.all()


def access_purpose(actor: Actor, purpose_id: object) -> ProcessingPurpose:
    """The purpose, or NotFound (recorded) also when the actor may not manage purposes."""
    purposes = ProcessingPurpose.objects.all() if actor.can(MANAGE) else ProcessingPurpose.objects.none()
    return access_object(purposes, purpose_id, actor=actor, action=MANAGE, object_type="purpose")


# ---------------------------------------------------------------- data-subject requests


def subject_request_queryset(actor: Actor, action: str = REQUEST_VIEW) -> QuerySet[SubjectRequest]:
    """Requests about customers in the actor's scope for ``action``. Restricted customers stay
    reachable here (unlike customer_queryset): their requests are the record of the restriction."""
    customers = Customer.objects.visible_to(actor, action).filter(pk=OuterRef("customer_id"))
    return SubjectRequest.objects.filter(Exists(customers)).select_related("customer")


def subject_request_list(*, actor: Actor, status: str | None = None) -> QuerySet[SubjectRequest]:
    require_permission(actor, REQUEST_VIEW)
    requests = subject_request_queryset(actor)
    if status:
        requests = requests.filter(status=status)
    return requests.order_by("-received_at", "-id")


def access_subject_request(
    actor: Actor, request_id: object, action: str = REQUEST_VIEW, *, for_update: bool = False
) -> SubjectRequest:
    requests = subject_request_queryset(actor, action)
    if for_update:
        requests = requests.select_for_update(of=("self",))
    return access_object(requests, request_id, actor=actor, action=action, object_type="subject_request")
