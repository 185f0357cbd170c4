"""Sensitive-access grants (break-glass): request, approve or refuse, expire, and the report's
export (docs/security-masking.md, "Sensitive-access grants").

* A holder of ``pii.grant.request`` asks by customer number. The answer is the same whether the
  number exists or not; the number is kept only as a blind index and a masked form. It is matched
  against the customers the requester may *view* (a grant never widens the view scope), so a
  number outside that scope is treated exactly like an unknown one.
* A holder of ``pii.grant.approve`` who is not the requester approves (the grant then expires
  after ``FINCRM_GRANT_SECONDS``, default 4 hours) or refuses. A grant that matched no customer
  can only be refused.
* The job ``security.grants_expire`` marks approved grants past their time as expired.
Every step is audited (``pii.grant.*``); unmasking with a grant is in fincrm.security.unmask.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Q, QuerySet
from django.utils import timezone
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from fincrm.audit.services import audit_record, audit_record_many
from fincrm.customers.selectors import customer_queryset
from fincrm.platform import outbox, transaction
from fincrm.platform.access import access_object, require_permission
from fincrm.platform.actor import Actor
from fincrm.platform.errors import Conflict, ServiceError
from fincrm.security.fields import blind_index
from fincrm.security.masking import mask
from fincrm.security.models import SensitiveAccessGrant
from fincrm.security.unmask import REASON_TEXT_MAX, REASON_TEXT_MIN, REASONS, unmaskable_fields

REQUEST = "pii.grant.request"
APPROVE = "pii.grant.approve"
REPORT = "pii.grant.report"
DEFAULT_GRANT_SECONDS = 4 * 3600
NUMBER_MAX = 64

Status = SensitiveAccessGrant.Status


def grant_seconds() -> int:
    return int(getattr(settings, "FINCRM_GRANT_SECONDS", DEFAULT_GRANT_SECONDS))


def normalize_customer_number(value: str) -> str:
    return "".join(str(value or "").split()).upper()


def customer_number_index(value: str) -> str:
    return blind_index(normalize_customer_number(value), "text")


def _validate_request(
    customer_number: str, fields: Iterable[str], reason_code: str, reason_text: str
) -> list[str]:
    errors: dict[str, list[str | Promise]] = {}
    number = normalize_customer_number(customer_number)
    if not number:
        errors["customer_number"] = [_("Enter the customer number.")]
    elif len(number) > NUMBER_MAX:
        errors["customer_number"] = [
            _("A customer number has at most %(count)d characters.") % {"count": NUMBER_MAX}
        ]
    allowed = unmaskable_fields()
    chosen = sorted({str(key) for key in fields})
    if not chosen:
        errors["fields"] = [_("Choose at least one field.")]
    elif any(key not in allowed for key in chosen):
        errors["fields"] = [_("Choose only fields that can be unmasked.")]
    if reason_code not in REASONS:
        errors["reason_code"] = [_("Choose why you need access.")]
    text = (reason_text or "").strip()
    if len(text) < REASON_TEXT_MIN:
        errors["reason_text"] = [
            _("Say what you need access for, in at least %(count)d characters.") % {"count": REASON_TEXT_MIN}
        ]
    elif len(text) > REASON_TEXT_MAX:
        errors["reason_text"] = [_("Keep it under %(count)d characters.") % {"count": REASON_TEXT_MAX}]
    if errors:
        raise ServiceError(_("Please correct the marked fields."), code="invalid", fields=errors)
    return chosen


@transaction.atomic
def grant_request(
    *, actor: Actor, customer_number: str, fields: Iterable[str], reason_code: str, reason_text: str
) -> SensitiveAccessGrant:
    """Ask for temporary unmask access. Same result whether or not the number matched a customer."""
    require_permission(actor, REQUEST)
    if actor.user_id is None:  # the command line and jobs are no requester
        raise Conflict(_("Only a person can request access."), code="no_requester")
    chosen = _validate_request(customer_number, fields, reason_code, reason_text)
    number = normalize_customer_number(customer_number)
    # Matched only within what the requester may view: outside that scope is "no such number".
    customer_id = (
        customer_queryset(actor, "customer.view")
        .filter(customer_number__iexact=number)
        .values_list("pk", flat=True)
        .first()
    )
    grant = SensitiveAccessGrant.objects.create(
        requester_id=actor.user_id,
        customer_id=customer_id,
        number_bidx=customer_number_index(number),
        number_masked=mask("id_number", number),
        fields=chosen,
        reason_code=reason_code,
        reason_text=reason_text.strip(),
        requested_at=timezone.now(),
    )
    # The customer id stays out of the event: the requester may read their own audit trail.
    audit_record(
        actor,
        "pii.grant.requested",
        object_type="sensitive_access_grant",
        object_id=str(grant.pk),
        after={"number": grant.number_masked, "fields": chosen, "reason_code": reason_code},
        reason=grant.reason_text,
    )
    outbox.publish("security.grant.requested", grant_id=grant.pk)
    return grant


def approvable_grants(actor: Actor) -> QuerySet[SensitiveAccessGrant]:
    """Grants the actor may decide on: a customer in their approve scope, or no customer at all
    (those can only be refused). Never their own."""
    in_scope = customer_queryset(actor, APPROVE).values("pk")
    return SensitiveAccessGrant.objects.filter(
        Q(customer__isnull=True) | Q(customer_id__in=in_scope)
    ).exclude(requester_id=actor.user_id)


def _access_for_decision(actor: Actor, grant_id: object) -> SensitiveAccessGrant:
    queryset = approvable_grants(actor) if actor.can(APPROVE) else SensitiveAccessGrant.objects.none()
    return access_object(
        queryset.select_for_update(),
        grant_id,
        actor=actor,
        action=APPROVE,
        object_type="sensitive_access_grant",
    )


def _own_request_refused(actor: Actor, grant_id: object) -> None:
    try:
        pk = int(str(grant_id))
    except ValueError:
        return  # not an id: access_object answers not found
    if SensitiveAccessGrant.objects.filter(pk=pk, requester_id=actor.user_id).exists():
        raise Conflict(_("Nobody decides on their own request."), code="own_request")


@transaction.atomic
def grant_approve(*, actor: Actor, grant_id: int, note: str = "") -> SensitiveAccessGrant:
    """Approve a requested grant; it then expires after ``FINCRM_GRANT_SECONDS``.

    Without ``pii.grant.approve``, or outside its scope: not found (recorded)."""
    if actor.can(APPROVE):
        _own_request_refused(actor, grant_id)
    grant = _access_for_decision(actor, grant_id)
    if grant.status != Status.REQUESTED:
        raise Conflict(_("This request has already been decided."), code="already_decided")
    if grant.customer_id is None:
        raise Conflict(
            _("The number matches no customer the requester may see: the request can only be refused."),
            code="no_customer",
        )
    now = timezone.now()
    grant.status = Status.APPROVED
    grant.approver_id = actor.user_id
    grant.decided_at = now
    grant.decision_note = (note or "").strip()[:REASON_TEXT_MAX]
    grant.expires_at = now + timedelta(seconds=grant_seconds())
    grant.save(update_fields=["status", "approver", "decided_at", "decision_note", "expires_at"])
    audit_record(
        actor,
        "pii.grant.approved",
        object_type="sensitive_access_grant",
        object_id=str(grant.pk),
        before={"status": Status.REQUESTED},
        after={
            "status": Status.APPROVED,
            "customer_id": grant.customer_id,
            "fields": grant.fields,
            "expires_at": grant.expires_at.isoformat(),
        },
        reason=grant.decision_note,
    )
    outbox.publish("security.grant.approved", grant_id=grant.pk)
    return grant


@transaction.atomic
def grant_refuse(*, actor: Actor, grant_id: int, note: str = "") -> SensitiveAccessGrant:
    if actor.can(APPROVE):
        _own_request_refused(actor, grant_id)
    grant = _access_for_decision(actor, grant_id)
    if grant.status != Status.REQUESTED:
        raise Conflict(_("This request has already been decided."), code="already_decided")
    grant.status = Status.REFUSED
    grant.approver_id = actor.user_id
    grant.decided_at = timezone.now()
    grant.decision_note = (note or "").strip()[:REASON_TEXT_MAX]
    grant.save(update_fields=["status", "approver", "decided_at", "decision_note"])
    audit_record(
        actor,
        "pii.grant.refused",
        object_type="sensitive_access_grant",
        object_id=str(grant.pk),
        before={"status": Status.REQUESTED},
        after={"status": Status.REFUSED},
        reason=grant.decision_note,
    )
    outbox.publish("security.grant.refused", grant_id=grant.pk)
    return grant


@transaction.atomic
def grants_expire(*, actor: Actor, now: datetime | None = None) -> int:
    """Mark approved grants past their expiry as expired (the periodic job); one event each."""
    moment = now or timezone.now()
    due = list(
        SensitiveAccessGrant.objects.select_for_update()
        .filter(status=Status.APPROVED, expires_at__lte=moment)
        .values_list("pk", "uses")
    )
    if not due:
        return 0
    SensitiveAccessGrant.objects.filter(pk__in=[pk for pk, _uses in due]).update(status=Status.EXPIRED)
    audit_record_many(
        actor,
        "pii.grant.expired",
        (
            {
                "object_type": "sensitive_access_grant",
                "object_id": str(pk),
                "before": {"status": Status.APPROVED},
                "after": {"status": Status.EXPIRED, "uses": uses},
            }
            for pk, uses in due
        ),
    )
    return len(due)


REPORT_COLUMNS = (
    "id",
    "status",
    "requester",
    "approver",
    "customer_number",
    "number_masked",
    "fields",
    "reason_code",
    "reason_text",
    "requested_at",
    "decided_at",
    "expires_at",
    "uses",
    "last_used_at",
    "decision_note",
)


@transaction.atomic
def grant_report_export(*, actor: Actor, status: str | None = None) -> QuerySet[SensitiveAccessGrant]:
    """The compliance report's rows for a CSV export; the export itself is audited."""
    require_permission(actor, REPORT)
    rows = SensitiveAccessGrant.objects.select_related("requester", "approver", "customer").order_by(
        "-requested_at", "-pk"
    )
    if status:
        rows = rows.filter(status=status)
    audit_record(
        actor,
        "pii.grant.report_exported",
        object_type="sensitive_access_grant",
        after={"status": status or "", "rows": rows.count()},
    )
    return rows


def report_row(grant: SensitiveAccessGrant) -> list[str]:
    def when(moment: datetime | None) -> str:
        return timezone.localtime(moment).strftime("%Y-%m-%d %H:%M:%S") if moment else ""

    return [
        str(grant.pk),
        grant.status,
        grant.requester.username,
        grant.approver.username if grant.approver_id and grant.approver else "",
        grant.customer.customer_number if grant.customer_id and grant.customer else "",
        grant.number_masked,
        " ".join(grant.fields or []),
        grant.reason_code,
        grant.reason_text,
        when(grant.requested_at),
        when(grant.decided_at),
        when(grant.expires_at),
        str(grant.uses),
        when(grant.last_used_at),
        grant.decision_note,
    ]
