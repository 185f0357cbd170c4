"""Unmasking: showing one identifier in clear, to someone allowed to, for a stated reason, after a
recent step-up, audited (docs/security-masking.md, "Unmasking").

Who may unmask a field: a holder of the permission of the field's class (``pii.unmask_c2`` for
C2; C3 is never unmasked, there is no permission for it), or the requester of an approved,
unexpired sensitive-access grant (fincrm.security.grants) naming that customer and field. Either
way only for a customer the user may *view*: a grant lifts the unmask permission, never the scope.

The registry ``UNMASKABLE`` lists what can be unmasked; the portfolio app's account numbers join
it when that app is installed (looked up at run time).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any

from django.apps import apps
from django.db import connection, models
from django.utils import timezone
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from fincrm.audit.services import audit_record
from fincrm.customers.models import Customer
from fincrm.customers.selectors import access_customer
from fincrm.platform import transaction
from fincrm.platform.access import record_denied
from fincrm.platform.actor import Actor
from fincrm.platform.errors import NotFound, ServiceError
from fincrm.platform.rows import load_instance, select_columns, sql_text, table
from fincrm.security.classification import C3, DataClass, classification_of
from fincrm.security.masking import mask, mask_rules

VIEW = "customer.view"
# The permission that unmasks a class. C3 (authentication data) has none: it is never shown.
UNMASK_PERMISSION: dict[DataClass, str] = {DataClass.C2: "pii.unmask_c2"}
REASON_TEXT_MAX = 500
REASON_TEXT_MIN = 4


class UnmaskReason:
    """Why a clear value is needed (a choice, plus free text that is always required)."""

    CUSTOMER_REQUEST = "customer_request"
    KYC_REVIEW = "kyc_review"
    AML_INVESTIGATION = "aml_investigation"
    COMPLAINT = "complaint"
    OTHER = "other"


REASONS: dict[str, str | Promise] = {
    UnmaskReason.CUSTOMER_REQUEST: _("The customer asked (identity confirmed)"),
    UnmaskReason.KYC_REVIEW: _("KYC review"),
    UnmaskReason.AML_INVESTIGATION: _("AML investigation"),
    UnmaskReason.COMPLAINT: _("Complaint handling"),
    UnmaskReason.OTHER: _("Other (say what in the details)"),
}


def reason_choices() -> list[tuple[str, str | Promise]]:
    return list(REASONS.items())


@dataclass(frozen=True)
class Unmaskable:
    """One field that may be unmasked: where it lives and how it is labelled."""

    key: str
    model_label: str  # "customers.Customer"
    attribute: str
    label: str | Promise
    # "customer": a Customer field; "account": a field of one of the customer's accounts.
    owner: str = "customer"

    @property
    def data_class(self) -> DataClass:
        classification = classification_of(self.model_label, self.attribute)
        # Unclassified means unknown: treat it as the strictest class (never unmasked).
        return classification.data_class if classification is not None else C3

    @property
    def mask_kind(self) -> str:
        classification = classification_of(self.model_label, self.attribute)
        return classification.mask if classification is not None and classification.mask else "full"

    @property
    def permission(self) -> str | None:
        return UNMASK_PERMISSION.get(self.data_class)


_CUSTOMER_FIELDS = (
    Unmaskable("id_number", "customers.Customer", "id_number", _("ID number")),
    Unmaskable("mobile", "customers.Customer", "mobile", _("Mobile number")),
    Unmaskable("email", "customers.Customer", "email", _("E-mail")),
    Unmaskable("address", "customers.Customer", "address", _("Address")),
)
_ACCOUNT_FIELD = Unmaskable(
    "account_number", "portfolio.Account", "account_number", _("Account number"), owner="account"
)


def account_model() -> type[models.Model] | None:
    """portfolio.Account when that app is installed and has the field (else None)."""
    try:
        model = apps.get_model("portfolio", "Account")
    except LookupError:
        return None
    try:
        model._meta.get_field("account_number")
    except Exception:
        return None
    return model


def unmaskable_fields() -> dict[str, Unmaskable]:
    fields = {field.key: field for field in _CUSTOMER_FIELDS}
    if account_model() is not None:
        fields[_ACCOUNT_FIELD.key] = _ACCOUNT_FIELD
    return fields


def field_choices() -> list[tuple[str, str | Promise]]:
    return [(field.key, field.label) for field in unmaskable_fields().values()]


def unmaskable(key: str) -> Unmaskable:
    try:
        return unmaskable_fields()[key]
    except KeyError:
        raise ServiceError.field("field", _("This field cannot be unmasked."), code="unknown_field") from None


def validate_reason(reason_code: str, reason_text: str) -> tuple[str, str]:
    """A known reason code and 4-500 characters of details (trimmed); else field errors."""
    text = (reason_text or "").strip()
    errors: dict[str, list[str | Promise]] = {}
    if reason_code not in REASONS:
        errors["reason_code"] = [_("Choose why you need to see the value.")]
    if len(text) < REASON_TEXT_MIN:
        errors["reason_text"] = [
            _("Say what you need the value for, in at least %(count)d characters.")
            % {"count": REASON_TEXT_MIN}
        ]
    elif len(text) > REASON_TEXT_MAX:
        errors["reason_text"] = [_("Keep it under %(count)d characters.") % {"count": REASON_TEXT_MAX}]
    if errors:
        raise ServiceError(_("Please correct the marked fields."), code="invalid_reason", fields=errors)
    return reason_code, text


# ---------------------------------------------------------------- who may


def active_grants_query(actor: Actor, *, now: datetime | None = None) -> models.QuerySet[Any]:
    """The actor's approved, unexpired grants (whatever they name)."""
    from fincrm.security.models import SensitiveAccessGrant

    if actor.user_id is None:
        return SensitiveAccessGrant.objects.none()
    return SensitiveAccessGrant.objects.filter(
        requester_id=actor.user_id,
        status=SensitiveAccessGrant.Status.APPROVED,
        customer__isnull=False,
        expires_at__gt=now or timezone.now(),
    )


_GRANTS_STATEMENT = """
SELECT {grant_columns} FROM {grants} g
WHERE g.requester_id = %s AND g.status = %s AND g.customer_id = %s AND g.expires_at > %s
ORDER BY g.expires_at DESC"""


@lru_cache(maxsize=4)
def _grants_sql(vendor: str) -> str:
    """``active_grants_query(actor).filter(customer_id=…).order_by("-expires_at")`` written once: the
    360 page asks it for every user without the class permission, and the ORM spent more time
    building and compiling it than the database spent answering."""
    from fincrm.security.models import SensitiveAccessGrant

    del vendor  # the cache key: quoting differs per database
    return sql_text(
        _GRANTS_STATEMENT,
        grant_columns=select_columns(SensitiveAccessGrant, "g", connection),
        grants=table(SensitiveAccessGrant, connection),
    )


def granted_fields(actor: Actor, customer_id: int) -> dict[str, int]:
    """Field key -> the id of the grant (soonest to expire) that lets the actor unmask it: the
    actor's approved, unexpired grants naming the customer (``active_grants_query``)."""
    from fincrm.security.models import SensitiveAccessGrant

    if actor.user_id is None:
        return {}
    expires_at = SensitiveAccessGrant._meta.get_field("expires_at")
    parameters = [
        actor.user_id,
        SensitiveAccessGrant.Status.APPROVED.value,
        customer_id,
        expires_at.get_db_prep_value(timezone.now(), connection),
    ]
    with connection.cursor() as cursor:
        cursor.execute(_grants_sql(connection.vendor), parameters)
        rows = cursor.fetchall()
    result: dict[str, int] = {}
    for row in rows:
        grant = load_instance(SensitiveAccessGrant, row, 0, connection)
        for key in grant.fields or []:
            result[str(key)] = grant.pk
    return result


def may_unmask(actor: Actor, customer_id: int, key: str, *, grants: dict[str, int] | None = None) -> bool:
    """Does the actor hold the class permission or a live grant for this field of this customer?

    (The view scope is checked separately: ``access_customer``.)"""
    field = unmaskable_fields().get(key)
    if field is None or field.permission is None:
        return False
    if actor.can(field.permission):
        return True
    live = granted_fields(actor, customer_id) if grants is None else grants
    return key in live


# ---------------------------------------------------------------- the service


@dataclass(frozen=True)
class Unmasked:
    field: str
    value: str
    masked: str
    grant_id: int | None = None


def _value_of(customer: Customer, field: Unmaskable, account_id: int | None) -> tuple[str, str]:
    """(clear value, masked value) of the field; the account must belong to the customer."""
    if field.owner == "account":
        model = account_model()
        if model is None or account_id is None:
            raise ServiceError.field("account_id", _("Name the account."), code="account_required")
        account = model._default_manager.filter(customer_id=customer.pk, pk=account_id).first()
        if account is None:
            raise NotFound("account", account_id)
        value = getattr(account, field.attribute) or ""
        last4 = getattr(account, "number_last4", "")
        masked = f"{mask_rules()['account']['prefix']}{last4}" if last4 else mask(field.mask_kind, value)
    else:
        value = getattr(customer, field.attribute) or ""
        masked = mask(field.mask_kind, value)
    return str(value), masked


@transaction.atomic
def unmask_field(
    *,
    actor: Actor,
    customer_id: int,
    field: str,
    reason_code: str,
    reason_text: str,
    account_id: int | None = None,
    stepped_up: bool = False,
) -> Unmasked:
    """The clear value of one field of one customer (or of one of its accounts).

    Order: the field is unmaskable; the customer is in the actor's view scope (else not found,
    recorded); the actor holds the class permission or a live grant (else not found too, recorded);
    a reason is given; the caller confirmed a recent step-up (pages and the API check it, a
    service cannot see the request). Writes ``pii.unmasked`` (customer, field, reason, never the
    value) and, when a grant was used, ``pii.grant.used`` and the grant's use count."""
    from fincrm.security.models import SensitiveAccessGrant

    spec = unmaskable(field)
    customer = access_customer(actor, customer_id, VIEW)
    permission = spec.permission
    grant_id: int | None = None
    # Without the right to unmask, the answer is the same as for a customer out of scope.
    if permission is None:
        record_denied(actor, "pii.unmask_c3", object_type="customer", object_id=customer.pk)
        raise NotFound("customer", customer.pk)
    if not actor.can(permission):
        grant_id = granted_fields(actor, customer.pk).get(spec.key)
        if grant_id is None:
            record_denied(actor, permission, object_type="customer", object_id=customer.pk)
            raise NotFound("customer", customer.pk)
    reason_code, reason_text = validate_reason(reason_code, reason_text)
    if not stepped_up and not actor.is_operator:
        raise ServiceError(
            _("Confirm your password or code first (step-up)."), code="step_up_required", status=403
        )
    value, masked = _value_of(customer, spec, account_id)
    if not value:
        raise ServiceError.field("field", _("Nothing is stored in this field."), code="empty_field")
    after: dict[str, Any] = {"field": spec.key, "class": str(spec.data_class), "reason_code": reason_code}
    if account_id is not None and spec.owner == "account":
        after["account_id"] = account_id
    if grant_id is not None:
        after["grant_id"] = grant_id
    audit_record(
        actor,
        "pii.unmasked",
        object_type="customer",
        object_id=str(customer.pk),
        after=after,
        reason=f"{reason_code}: {reason_text}",
    )
    if grant_id is not None:
        grant = SensitiveAccessGrant.objects.select_for_update().get(pk=grant_id)
        grant.uses += 1
        grant.last_used_at = timezone.now()
        grant.save(update_fields=["uses", "last_used_at"])
        audit_record(
            actor,
            "pii.grant.used",
            object_type="sensitive_access_grant",
            object_id=str(grant.pk),
            after={"customer_id": customer.pk, "field": spec.key, "uses": grant.uses},
        )
    return Unmasked(field=spec.key, value=value, masked=masked, grant_id=grant_id)
