"""Writes to a customer's identity, contact and KYC profile, lifecycle stage and coverage.

Every function validates everything first (all field errors together, nothing written on a
refusal), checks permission and scope, writes, then records the audit event (identifiers masked)
and the outbox event (ids only) in the same transaction.

    customer_create(actor=..., data={"kind": "individual", "name": "张三", ...})
    customer_update(actor=..., customer_id=7, data={"mobile": "13800138000"})
    customer_lifecycle_change(actor=..., customer_id=7, stage="customer", reason="...")
    customer_transfer(actor=..., customer_id=7, primary_manager_id=12, reason="...")
    secondary_manager_add(actor=..., customer_id=7, user_id=12)

``data`` maps the fields below (``EDITABLE_FIELDS``) to values as a form or the API gives them.
A customer whose identity matches one the creator cannot see is created all the same, but held as
NEEDS_REVIEW with a ``held_for_review`` duplicate candidate; nothing about the other customer is
revealed to the creator.
"""

from __future__ import annotations

import calendar
import enum
import secrets
import unicodedata
from collections.abc import Mapping
from datetime import date
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.utils import timezone
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _
from stdnum import luhn

from fincrm.audit.services import audit_record
from fincrm.customers.identity import (
    CORPORATE_ID_TYPES,
    INDIVIDUAL_ID_TYPES,
    Checked,
    Finding,
    check_email,
    check_id_number,
    check_mobile,
)
from fincrm.customers.models import (
    AmlRiskRating,
    CoverageChange,
    Customer,
    CustomerKind,
    CustomerStatus,
    DuplicateCandidate,
    Gender,
    IncomeBand,
    LifecycleChange,
    LifecycleStage,
    RiskTolerance,
    SecondaryManager,
    SourceChannel,
)
from fincrm.customers.personal_data import masked_field
from fincrm.customers.search_terms import name_pinyin, refresh_search_terms
from fincrm.customers.selectors import access_customer, customer_queryset
from fincrm.org.models import OrgUnit, Team
from fincrm.platform import outbox, transaction
from fincrm.platform.access import require_permission
from fincrm.platform.actor import Actor
from fincrm.platform.errors import ServiceError
from fincrm.security.fields import blind_index

CREATE = "customer.create"
EDIT = "customer.edit"
REASSIGN = "customer.reassign"
VIEW = "customer.view"

NAME_MAX_LENGTH = 200
TEXT_LIMITS = {
    "occupation": 100,
    "employer": 200,
    "source_of_funds": 200,
    "industry": 100,
    "address": 500,
    "professional_evidence": 2000,
}
REASON_MAX_LENGTH = 500
OVERRIDE_REASON_MIN_LENGTH = 5
DEFAULT_AML_REVIEW_MONTHS = {"high": 6, "medium": 12, "low": 24}
DEFAULT_RISK_ASSESSMENT_VALID_MONTHS = 12

# Fields a create or update may set; the rest (status, value tier, AUM, coverage) have their own services.
PROFILE_FIELDS = (
    "name",
    "id_type",
    "id_number",
    "id_expires_on",
    "gender",
    "birth_date",
    "nationality",
    "mobile",
    "email",
    "address",
    "occupation",
    "employer",
    "income_band",
    "source_of_funds",
    "industry",
    "aml_risk_rating",
    "risk_tolerance",
    "risk_assessed_on",
    "is_professional_investor",
    "professional_evidence",
    "source_channel",
    "parent_company_id",
)
CREATE_FIELDS = (
    "kind",
    *PROFILE_FIELDS,
    "lifecycle_stage",
    "org_unit_id",
    "primary_manager_id",
    "covering_team_id",
)
EDITABLE_FIELDS = PROFILE_FIELDS
INDIVIDUAL_ONLY = ("gender", "birth_date", "nationality", "occupation", "employer", "income_band")
CORPORATE_ONLY = ("parent_company_id",)

# Lifecycle stages a customer may move to from each stage.
LIFECYCLE_TRANSITIONS: dict[str, frozenset[str]] = {
    LifecycleStage.LEAD: frozenset({LifecycleStage.PROSPECT, LifecycleStage.CUSTOMER, LifecycleStage.LOST}),
    LifecycleStage.PROSPECT: frozenset({LifecycleStage.LEAD, LifecycleStage.CUSTOMER, LifecycleStage.LOST}),
    LifecycleStage.CUSTOMER: frozenset({LifecycleStage.DORMANT, LifecycleStage.LOST}),
    LifecycleStage.DORMANT: frozenset({LifecycleStage.CUSTOMER, LifecycleStage.LOST}),
    LifecycleStage.LOST: frozenset({LifecycleStage.LEAD, LifecycleStage.PROSPECT, LifecycleStage.CUSTOMER}),
}

# Fields a profile change may recompute (and so audit) besides the ones it was given.
DERIVED_AUDIT_FIELDS = frozenset({"aml_next_review_on", "risk_expires_on", "status"})
SNAPSHOT_FIELDS = (
    "customer_number",
    "kind",
    "status",
    *PROFILE_FIELDS,
    "aml_next_review_on",
    "risk_expires_on",
    "lifecycle_stage",
    "org_unit_id",
    "primary_manager_id",
    "covering_team_id",
)


class Keep(enum.Enum):
    """Leave a coverage field as it is (None would mean: clear it)."""

    KEEP = "keep"


KEEP = Keep.KEEP


# ---------------------------------------------------------------- formulas


def add_months(start: date, months: int) -> date:
    """``start`` moved by whole months, the day clamped to the target month's last day
    (31 August + 6 months = 28/29 February)."""
    index = start.year * 12 + start.month - 1 + months
    year, month = divmod(index, 12)
    last_day = calendar.monthrange(year, month + 1)[1]
    return date(year, month + 1, min(start.day, last_day))


def aml_review_months(rating: str) -> int:
    table = {**DEFAULT_AML_REVIEW_MONTHS, **getattr(settings, "FINCRM_AML_REVIEW_MONTHS", {})}
    return int(table[rating])


def aml_next_review(rating: str, *, rated_on: date) -> date:
    """When a customer rated ``rating`` on ``rated_on`` is next reviewed (setting per rating)."""
    return add_months(rated_on, aml_review_months(rating))


def risk_assessment_expiry(assessed_on: date) -> date:
    months = int(
        getattr(settings, "FINCRM_RISK_ASSESSMENT_VALID_MONTHS", DEFAULT_RISK_ASSESSMENT_VALID_MONTHS)
    )
    return add_months(assessed_on, months)


def new_customer_number() -> str:
    """``C`` + 10 random digits + a Luhn digit, so a mistyped number is caught; unique."""
    for _attempt in range(10):
        body = f"{secrets.randbelow(10**10):010d}"
        number = f"C{body}{luhn.calc_check_digit(body)}"
        if not Customer.objects.filter(customer_number=number).exists():
            return number
    raise RuntimeError("could not draw a free customer number")  # 10 collisions in 10^10: a bug


# ---------------------------------------------------------------- snapshots and warnings


def customer_snapshot(
    customer: Customer, fields: tuple[str, ...] | list[str] = SNAPSHOT_FIELDS
) -> dict[str, Any]:
    """The customer's fields for an audit event, identifiers masked."""
    snapshot: dict[str, Any] = {}
    for name in fields:
        snapshot[name] = masked_field(name, getattr(customer, name))
    return snapshot


def warnings_of(customer: Customer) -> list[Finding]:
    """The identity warnings the last create or update of ``customer`` produced (not stored)."""
    return list(getattr(customer, "identity_warnings", []))


# ---------------------------------------------------------------- cleaning


class _Errors:
    """Collects field errors so a form shows every problem at once."""

    def __init__(self) -> None:
        self.fields: dict[str, list[str | Promise]] = {}

    def add(self, field: str, message: str | Promise) -> None:
        self.fields.setdefault(field, []).append(message)

    def has(self, field: str) -> bool:
        return field in self.fields

    def raise_if_any(self, code: str = "invalid") -> None:
        if self.fields:
            raise ServiceError(_("Please correct the marked fields."), code=code, fields=self.fields)


def _as_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return unicodedata.normalize("NFKC", value).strip()
    return unicodedata.normalize("NFKC", str(value)).strip()


def _as_date(value: Any) -> date | None:
    if value in (None, ""):
        return None
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        raise ValueError("not a date") from None


def _as_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in {"1", "true", "yes", "on"}


def _as_id(value: Any) -> int | None:
    if value in (None, ""):
        return None
    if isinstance(value, bool):
        raise ValueError("not an id")
    return int(value)


def _clean_name(value: Any, errors: _Errors) -> str:
    name = " ".join(_as_text(value).split())
    if not name:
        errors.add("name", _("Enter the customer's name."))
    elif len(name) > NAME_MAX_LENGTH:
        errors.add("name", _("A name has at most %(limit)d characters.") % {"limit": NAME_MAX_LENGTH})
    elif any(unicodedata.category(char).startswith("C") for char in name) or not any(
        char.isalpha() for char in name
    ):
        errors.add("name", _("A name needs letters and may not contain control characters."))
    return name


def _clean_choice(field: str, value: Any, choices: list[str], errors: _Errors, *, blank: bool) -> str:
    text = _as_text(value)
    if not text and blank:
        return ""
    if text not in choices:
        errors.add(field, _("Choose a value from the list."))
    return text


def _clean_date(field: str, value: Any, errors: _Errors, *, not_future: bool = False) -> date | None:
    try:
        day = _as_date(value)
    except ValueError:
        errors.add(field, _("Enter a date as YYYY-MM-DD."))
        return None
    if day is not None and not_future and day > timezone.localdate():
        errors.add(field, _("This date may not be in the future."))
    return day


def _clean_text(field: str, value: Any, errors: _Errors) -> str:
    text = _as_text(value)
    limit = TEXT_LIMITS[field]
    if len(text) > limit:
        errors.add(field, _("Use at most %(limit)d characters.") % {"limit": limit})
    elif any(unicodedata.category(char) == "Cc" and char not in "\n\r\t" for char in text):
        errors.add(field, _("This text contains control characters."))
    return text


def _clean_id_value(field: str, value: Any, errors: _Errors) -> int | None:
    try:
        return _as_id(value)
    except (TypeError, ValueError):
        errors.add(field, _("Choose a value from the list."))
        return None


def _clean_fields(data: Mapping[str, Any], allowed: tuple[str, ...], errors: _Errors) -> dict[str, Any]:
    """Each given field parsed and checked on its own; cross-field rules come after."""
    unknown = sorted(set(data) - set(allowed))
    for name in unknown:
        errors.add(name, _("This field cannot be set here."))
    values: dict[str, Any] = {}
    for name in allowed:
        if name not in data:
            continue
        raw = data[name]
        if name == "kind":
            values[name] = _clean_choice(name, raw, CustomerKind.values, errors, blank=False)
        elif name == "name":
            values[name] = _clean_name(raw, errors)
        elif name == "id_type" or name == "id_number":
            values[name] = _as_text(raw)
        elif name in ("id_expires_on", "risk_assessed_on", "birth_date"):
            values[name] = _clean_date(name, raw, errors, not_future=name != "id_expires_on")
        elif name == "gender":
            values[name] = _clean_choice(name, raw, Gender.values, errors, blank=True)
        elif name == "nationality":
            text = _as_text(raw).upper()
            if text and not (len(text) == 3 and text.isascii() and text.isalpha()):
                errors.add(name, _("Use the three-letter country code (ISO 3166), e.g. CHN."))
            values[name] = text
        elif name == "mobile":
            values[name] = _clean_checked(name, check_mobile(raw), errors) if _as_text(raw) else ""
        elif name == "email":
            values[name] = _clean_checked(name, check_email(raw), errors) if _as_text(raw) else ""
        elif name in TEXT_LIMITS:
            values[name] = _clean_text(name, raw, errors)
        elif name == "income_band":
            values[name] = _clean_choice(name, raw, IncomeBand.values, errors, blank=True)
        elif name == "aml_risk_rating":
            values[name] = _clean_choice(name, raw, AmlRiskRating.values, errors, blank=False)
        elif name == "risk_tolerance":
            values[name] = _clean_choice(name, raw, RiskTolerance.values, errors, blank=True)
        elif name == "is_professional_investor":
            values[name] = _as_bool(raw)
        elif name == "source_channel":
            values[name] = _clean_choice(name, raw, SourceChannel.values, errors, blank=False)
        elif name == "lifecycle_stage":
            values[name] = _clean_choice(name, raw, LifecycleStage.values, errors, blank=False)
        elif name in ("org_unit_id", "primary_manager_id", "covering_team_id", "parent_company_id"):
            values[name] = _clean_id_value(name, raw, errors)
    return values


def _clean_checked(field: str, checked: Checked, errors: _Errors) -> str:
    if checked.error is not None:
        errors.add(field, checked.error.message)
    return checked.value


# ---------------------------------------------------------------- cross-field rules


def _check_kind_fields(kind: str, values: Mapping[str, Any], errors: _Errors) -> None:
    if kind == CustomerKind.CORPORATE:
        for name in INDIVIDUAL_ONLY:
            if values.get(name) not in (None, "", "CHN") and not errors.has(name):
                errors.add(name, _("Only individual customers have this field."))
    else:
        for name in CORPORATE_ONLY:
            if values.get(name) is not None and not errors.has(name):
                errors.add(name, _("Only corporate customers belong to a parent company."))


def _check_identity(
    kind: str, state: dict[str, Any], errors: _Errors, *, override_reason: str, stage: str
) -> Checked | None:
    """Validate the identity document in ``state`` (normalizing it in place). Returns the check's
    result, or None when there is no document."""
    id_type = state.get("id_type") or ""
    id_number = state.get("id_number") or ""
    allowed = CORPORATE_ID_TYPES if kind == CustomerKind.CORPORATE else INDIVIDUAL_ID_TYPES
    if not id_type and not id_number:
        if stage == LifecycleStage.CUSTOMER:
            errors.add("id_number", _("A customer (not a lead or prospect) needs an identity document."))
        return None
    if id_type not in allowed:
        errors.add(
            "id_type",
            _("Choose an ID type for a corporate customer.")
            if kind == CustomerKind.CORPORATE
            else _("Choose an ID type for an individual customer."),
        )
        return None
    if not id_number:
        errors.add("id_number", _("Enter the ID number."))
        return None
    checked = check_id_number(id_type, id_number)
    if checked.error is not None:
        errors.add("id_number", checked.error.message)
        return checked
    state["id_number"] = checked.value
    blocking = checked.blocking_warnings
    if blocking:
        reason = " ".join(override_reason.split())
        if len(reason) < OVERRIDE_REASON_MIN_LENGTH:
            for warning in blocking:
                errors.add("id_number", warning.message)
            errors.add(
                "identity_override_reason",
                _("To keep this number, state why it is correct (at least %(count)d characters).")
                % {"count": OVERRIDE_REASON_MIN_LENGTH},
            )
        elif len(reason) > REASON_MAX_LENGTH:
            errors.add(
                "identity_override_reason",
                _("Use at most %(limit)d characters.") % {"limit": REASON_MAX_LENGTH},
            )
    if checked.birth_date is not None and kind == CustomerKind.INDIVIDUAL:
        given = state.get("birth_date")
        if given is not None and given != checked.birth_date and not errors.has("birth_date"):
            errors.add("birth_date", _("The date of birth does not match the one inside the ID number."))
        state["birth_date"] = checked.birth_date
    if checked.gender:
        given_gender = state.get("gender")
        if given_gender and given_gender != checked.gender and not errors.has("gender"):
            errors.add("gender", _("The gender does not match the one the ID number encodes."))
        state["gender"] = checked.gender
    return checked


def _check_kyc(state: dict[str, Any], errors: _Errors) -> None:
    id_expires_on = state.get("id_expires_on")
    birth_date = state.get("birth_date")
    if id_expires_on and birth_date and id_expires_on <= birth_date:
        errors.add("id_expires_on", _("The ID cannot expire before the date of birth."))
    if state.get("risk_tolerance"):
        if state.get("risk_assessed_on") is None and not errors.has("risk_assessed_on"):
            errors.add("risk_assessed_on", _("Enter the date of the risk assessment."))
    elif state.get("risk_assessed_on") is not None and not errors.has("risk_assessed_on"):
        errors.add("risk_tolerance", _("Choose the risk tolerance the assessment gave (C1 to C5)."))
    if (
        state.get("is_professional_investor")
        and not state.get("professional_evidence")
        and not errors.has("professional_evidence")
    ):
        errors.add(
            "professional_evidence",
            _("Describe the evidence for classifying the customer as a professional investor."),
        )


def _reachable_unit(actor: Actor, unit_id: int | None, errors: _Errors) -> OrgUnit | None:
    if unit_id is None:
        errors.add("org_unit_id", _("Choose the customer's home branch."))
        return None
    unit = OrgUnit.objects.visible_to(actor, CREATE).filter(pk=unit_id, is_active=True).first()
    if unit is None:
        errors.add("org_unit_id", _("Choose an active home branch within your reach."))
    return unit


def _reachable_manager(actor: Actor, user_id: int | None, field: str, action: str, errors: _Errors) -> None:
    if user_id is None:
        return
    from fincrm.users.actors import grants_for_user  # the users app builds permissions

    User = get_user_model()
    reachable = User.objects.visible_to(actor, action).filter(pk=user_id, is_active=True).exists()
    if not reachable:
        errors.add(field, _("Choose an active staff member within your reach."))
    elif not grants_for_user(user_id).get(VIEW):
        errors.add(field, _("This staff member has no role that may look after customers."))


def _reachable_team(actor: Actor, team_id: int | None, field: str, action: str, errors: _Errors) -> None:
    if team_id is None:
        return
    if not Team.objects.visible_to(actor, action).filter(pk=team_id, is_active=True).exists():
        errors.add(field, _("Choose an active team within your reach."))


def _check_parent_company(
    actor: Actor, parent_id: int | None, errors: _Errors, *, customer_id: int | None = None
) -> None:
    if parent_id is None:
        return
    parents = customer_queryset(actor, VIEW).filter(pk=parent_id, kind=CustomerKind.CORPORATE)
    if customer_id is not None and parent_id == customer_id:
        errors.add("parent_company_id", _("A company cannot be its own parent."))
    elif not parents.exists():
        errors.add("parent_company_id", _("Choose a corporate customer you can see."))
    elif customer_id is not None and _is_descendant(parent_id, customer_id):
        errors.add("parent_company_id", _("A company cannot sit under one of its own subsidiaries."))


def _is_descendant(candidate_id: int, ancestor_id: int) -> bool:
    """Whether ``candidate_id`` lies below ``ancestor_id`` in the group tree (walks up, bounded)."""
    current: int | None = candidate_id
    for _depth in range(100):
        if current is None:
            return False
        if current == ancestor_id:
            return True
        current = Customer.objects.filter(pk=current).values_list("parent_company_id", flat=True).first()
    return True  # a tree this deep is refused rather than walked further


def _duplicates(actor: Actor, id_number: str, *, exclude_pk: int | None, errors: _Errors) -> list[int]:
    """Ids of customers holding the same ID number outside the actor's scope (to hold for review).

    One inside the scope is a field error naming it; one outside is never named."""
    matches = Customer.objects.filter(id_number_bidx=blind_index(id_number, "id_number")).exclude(
        status=CustomerStatus.MERGED
    )
    if exclude_pk is not None:
        matches = matches.exclude(pk=exclude_pk)
    match_ids = set(matches.values_list("pk", flat=True))
    if not match_ids:
        return []
    visible = customer_queryset(actor, VIEW).filter(pk__in=match_ids).order_by("pk")
    inside = visible.values_list("customer_number", flat=True).first()
    if inside is not None:
        errors.add(
            "id_number",
            _("Customer %(number)s already has this ID number.") % {"number": inside},
        )
        return []
    return sorted(match_ids)


def _hold_for_review(customer: Customer, others: list[int]) -> None:
    DuplicateCandidate.objects.bulk_create(
        [
            DuplicateCandidate(
                first_id=min(customer.pk, other),
                second_id=max(customer.pk, other),
                reason=DuplicateCandidate.Reason.HELD_FOR_REVIEW,
            )
            for other in others
        ],
        ignore_conflicts=True,
    )


def _derive_kyc_dates(customer: Customer, changed: set[str], *, today: date) -> set[str]:
    """Keep the computed KYC dates in step with what changed; returns the fields it set."""
    derived: set[str] = set()
    if "aml_risk_rating" in changed:
        customer.aml_next_review_on = aml_next_review(customer.aml_risk_rating, rated_on=today)
        derived.add("aml_next_review_on")
    if changed & {"risk_tolerance", "risk_assessed_on"}:
        assessed = customer.risk_assessed_on
        customer.risk_expires_on = risk_assessment_expiry(assessed) if assessed else None
        derived.add("risk_expires_on")
    if "name" in changed:
        customer.name_pinyin = name_pinyin(customer.name)
        derived.add("name_pinyin")
    return derived


# ---------------------------------------------------------------- create and update


@transaction.atomic
def customer_create(*, actor: Actor, data: Mapping[str, Any], identity_override_reason: str = "") -> Customer:
    """Create a customer. ``data`` holds CREATE_FIELDS; ``kind``, ``name`` and ``org_unit_id`` are
    required, the primary manager defaults to the creator."""
    require_permission(actor, CREATE)
    errors = _Errors()
    values = _clean_fields(data, CREATE_FIELDS, errors)
    kind = values.get("kind") or ""
    if "kind" not in data:
        errors.add("kind", _("Choose individual or corporate."))
    if "name" not in data:
        errors.add("name", _("Enter the customer's name."))
    state: dict[str, Any] = {
        "nationality": "CHN" if kind != CustomerKind.CORPORATE else "",
        "aml_risk_rating": AmlRiskRating.LOW,
        "lifecycle_stage": LifecycleStage.LEAD,
        "source_channel": SourceChannel.BRANCH,
        **values,
    }
    if kind == CustomerKind.CORPORATE and not values.get("nationality"):
        state["nationality"] = ""
    _check_kind_fields(kind, values, errors)
    override_reason = _as_text(identity_override_reason)
    checked = _check_identity(
        kind, state, errors, override_reason=override_reason, stage=state["lifecycle_stage"]
    )
    _check_kyc(state, errors)
    _reachable_unit(actor, state.get("org_unit_id"), errors)
    if "primary_manager_id" not in data:
        state["primary_manager_id"] = actor.user_id
    elif state.get("primary_manager_id") != actor.user_id:
        _reachable_manager(actor, state.get("primary_manager_id"), "primary_manager_id", CREATE, errors)
    _reachable_team(actor, state.get("covering_team_id"), "covering_team_id", CREATE, errors)
    if kind == CustomerKind.CORPORATE:
        _check_parent_company(actor, state.get("parent_company_id"), errors)
    held_with: list[int] = []
    if checked is not None and checked.ok and not errors.has("id_number"):
        held_with = _duplicates(actor, state["id_number"], exclude_pk=None, errors=errors)
    errors.raise_if_any()

    today = timezone.localdate()
    customer = Customer(
        customer_number=new_customer_number(),
        status=CustomerStatus.NEEDS_REVIEW if held_with else CustomerStatus.ACTIVE,
        **{name: value for name, value in state.items() if value is not None or name.endswith("_id")},
    )
    for name in ("id_number", "mobile", "email", "address"):
        if not getattr(customer, name):
            setattr(customer, name, None)  # no ciphertext and no blind index for an empty value
    _derive_kyc_dates(
        customer, {"aml_risk_rating", "risk_tolerance", "risk_assessed_on", "name"}, today=today
    )
    customer.save()
    refresh_search_terms([customer])
    if held_with:
        _hold_for_review(customer, held_with)
    warnings = list(checked.warnings) if checked is not None else []
    customer.identity_warnings = warnings  # type: ignore[attr-defined]
    after = customer_snapshot(customer)
    if warnings:
        after["identity_warnings"] = [warning.code for warning in warnings]
    audit_record(
        actor,
        "customer.created",
        object_type="customer",
        object_id=str(customer.pk),
        after=after,
        reason=override_reason if checked is not None and checked.blocking_warnings else "",
    )
    outbox.publish("customer.created", customer_id=customer.pk, needs_review=bool(held_with))
    return customer


@transaction.atomic
def customer_update(
    *,
    actor: Actor,
    customer_id: int,
    data: Mapping[str, Any],
    identity_override_reason: str = "",
    reason: str = "",
) -> Customer:
    """Change the given fields (EDITABLE_FIELDS) of a customer; an unchanged value is no change.
    ``reason`` is recorded with the audit event (e.g. a correction requested by the customer)."""
    customer = access_customer(actor, customer_id, EDIT, for_update=True)
    errors = _Errors()
    values = _clean_fields(data, EDITABLE_FIELDS, errors)
    kind = customer.kind
    _check_kind_fields(kind, values, errors)
    state = {name: getattr(customer, name) for name in PROFILE_FIELDS}
    for name in ("id_number", "mobile", "email", "address"):
        state[name] = state[name] or ""
    state.update(values)
    override_reason = _as_text(identity_override_reason)
    identity_touched = bool({"id_type", "id_number"} & set(values))
    checked: Checked | None = None
    if identity_touched:
        checked = _check_identity(
            kind, state, errors, override_reason=override_reason, stage=customer.lifecycle_stage
        )
    elif (
        ({"birth_date", "gender"} & set(values)) and customer.id_type == "resident_id" and customer.id_number
    ):
        # The resident ID fixes both: a change that contradicts it is refused.
        _check_identity(kind, state, errors, override_reason="", stage=customer.lifecycle_stage)
    _check_kyc(state, errors)
    if "parent_company_id" in values:
        _check_parent_company(actor, values["parent_company_id"], errors, customer_id=customer.pk)
    changed = {name for name in PROFILE_FIELDS if name in state and state[name] != _current(customer, name)}
    held_with: list[int] = []
    if "id_number" in changed and checked is not None and checked.ok and not errors.has("id_number"):
        held_with = _duplicates(actor, state["id_number"], exclude_pk=customer.pk, errors=errors)
    errors.raise_if_any()
    if not changed:
        customer.identity_warnings = []  # type: ignore[attr-defined]
        return customer

    before = customer_snapshot(customer, sorted(changed | DERIVED_AUDIT_FIELDS))
    for name in changed:
        value = state[name]
        if name in ("id_number", "mobile", "email", "address") and not value:
            value = None
        setattr(customer, name, value)
    derived = _derive_kyc_dates(customer, changed, today=timezone.localdate())
    update_fields = changed | derived
    if held_with and customer.status == CustomerStatus.ACTIVE:
        customer.status = CustomerStatus.NEEDS_REVIEW
        update_fields.add("status")
    customer.save(update_fields=sorted(update_fields | {"updated_at"}))
    if "name" in changed:
        refresh_search_terms([customer])
    if held_with:
        _hold_for_review(customer, held_with)
    customer.identity_warnings = list(checked.warnings) if checked is not None else []  # type: ignore[attr-defined]
    audited = sorted(update_fields - {"name_pinyin"})
    audit_record(
        actor,
        "customer.updated",
        object_type="customer",
        object_id=str(customer.pk),
        before={name: before[name] for name in audited},
        after=customer_snapshot(customer, audited),
        reason=_reason_for_update(reason, override_reason, checked),
    )
    outbox.publish("customer.updated", customer_id=customer.pk)
    return customer


def _reason_for_update(reason: str, override_reason: str, checked: Checked | None) -> str:
    parts = [" ".join(_as_text(reason).split())[:REASON_MAX_LENGTH]]
    if checked is not None and checked.blocking_warnings:
        parts.append(override_reason)
    return " / ".join(part for part in parts if part)


def _current(customer: Customer, name: str) -> Any:
    value = getattr(customer, name)
    if name in ("id_number", "mobile", "email", "address"):
        return value or ""
    return value


# ---------------------------------------------------------------- lifecycle


@transaction.atomic
def customer_lifecycle_change(*, actor: Actor, customer_id: int, stage: str, reason: str = "") -> Customer:
    """Move the customer to another lifecycle stage (LIFECYCLE_TRANSITIONS), with history."""
    customer = access_customer(actor, customer_id, EDIT, for_update=True)
    errors = _Errors()
    new_stage = _clean_choice("stage", stage, LifecycleStage.values, errors, blank=False)
    reason_text = " ".join(_as_text(reason).split())
    if len(reason_text) > REASON_MAX_LENGTH:
        errors.add("reason", _("Use at most %(limit)d characters.") % {"limit": REASON_MAX_LENGTH})
    if not errors.fields:
        old_stage = customer.lifecycle_stage
        if new_stage == old_stage:
            errors.add("stage", _("The customer is already at this stage."))
        elif new_stage not in LIFECYCLE_TRANSITIONS.get(old_stage, frozenset()):
            errors.add("stage", _("A customer cannot move directly from this stage to the chosen one."))
        elif new_stage == LifecycleStage.CUSTOMER and not customer.id_number:
            errors.add("stage", _("Record the customer's identity document before making them a customer."))
        elif new_stage == LifecycleStage.LOST and not reason_text:
            errors.add("reason", _("Say why the customer is lost."))
    errors.raise_if_any()

    old_stage = customer.lifecycle_stage
    customer.lifecycle_stage = new_stage
    customer.save(update_fields=["lifecycle_stage", "updated_at"])
    LifecycleChange.objects.create(
        customer=customer,
        from_stage=old_stage,
        to_stage=new_stage,
        changed_by=actor.label[:150],
        reason=reason_text,
    )
    audit_record(
        actor,
        "customer.lifecycle.changed",
        object_type="customer",
        object_id=str(customer.pk),
        before={"lifecycle_stage": old_stage},
        after={"lifecycle_stage": new_stage},
        reason=reason_text,
    )
    outbox.publish("customer.lifecycle.changed", customer_id=customer.pk)
    return customer


# ---------------------------------------------------------------- coverage


@transaction.atomic
def customer_transfer(
    *,
    actor: Actor,
    customer_id: int,
    reason: str,
    primary_manager_id: int | Keep | None = KEEP,
    covering_team_id: int | Keep | None = KEEP,
) -> Customer:
    """Give the customer a new primary manager and/or covering team. The old manager's own scope
    ends at once (scopes are computed from these columns on every read)."""
    customer = access_customer(actor, customer_id, REASSIGN, for_update=True)
    errors = _Errors()
    reason_text = " ".join(_as_text(reason).split())
    if not reason_text:
        errors.add("reason", _("Say why the customer is transferred."))
    elif len(reason_text) > REASON_MAX_LENGTH:
        errors.add("reason", _("Use at most %(limit)d characters.") % {"limit": REASON_MAX_LENGTH})
    new_manager = customer.primary_manager_id
    new_team = customer.covering_team_id
    if primary_manager_id is not KEEP:
        new_manager = _clean_id_value("primary_manager_id", primary_manager_id, errors)
        if new_manager != customer.primary_manager_id:
            _reachable_manager(actor, new_manager, "primary_manager_id", REASSIGN, errors)
    if covering_team_id is not KEEP:
        new_team = _clean_id_value("covering_team_id", covering_team_id, errors)
        if new_team != customer.covering_team_id:
            _reachable_team(actor, new_team, "covering_team_id", REASSIGN, errors)
    if (
        not errors.has("primary_manager_id")
        and not errors.has("covering_team_id")
        and new_manager == customer.primary_manager_id
        and new_team == customer.covering_team_id
    ):
        errors.add("primary_manager_id", _("Choose a new primary manager or a new covering team."))
    errors.raise_if_any()

    before = {
        "primary_manager_id": customer.primary_manager_id,
        "covering_team_id": customer.covering_team_id,
    }
    CoverageChange.objects.create(
        customer=customer,
        from_manager_id=customer.primary_manager_id,
        to_manager_id=new_manager,
        from_team_id=customer.covering_team_id,
        to_team_id=new_team,
        changed_by=actor.label[:150],
        reason=reason_text,
    )
    customer.primary_manager_id = new_manager
    customer.covering_team_id = new_team
    customer.save(update_fields=["primary_manager", "covering_team", "updated_at"])
    if new_manager is not None:
        # The new primary manager is no longer also a secondary one.
        SecondaryManager.objects.filter(customer=customer, user_id=new_manager).delete()
    audit_record(
        actor,
        "customer.coverage.changed",
        object_type="customer",
        object_id=str(customer.pk),
        before=before,
        after={"primary_manager_id": new_manager, "covering_team_id": new_team},
        reason=reason_text,
    )
    outbox.publish("customer.coverage.changed", customer_id=customer.pk)
    return customer


@transaction.atomic
def secondary_manager_add(*, actor: Actor, customer_id: int, user_id: int) -> SecondaryManager:
    customer = access_customer(actor, customer_id, REASSIGN, for_update=True)
    errors = _Errors()
    manager_id = _clean_id_value("user_id", user_id, errors)
    if manager_id is None and not errors.fields:
        errors.add("user_id", _("Choose a staff member."))
    elif manager_id is not None:
        if manager_id == customer.primary_manager_id:
            errors.add("user_id", _("This staff member is already the primary manager."))
        elif SecondaryManager.objects.filter(customer=customer, user_id=manager_id).exists():
            errors.add("user_id", _("This staff member already covers the customer."))
        else:
            _reachable_manager(actor, manager_id, "user_id", REASSIGN, errors)
    errors.raise_if_any()
    assert manager_id is not None  # refused above otherwise
    row = SecondaryManager.objects.create(customer=customer, user_id=manager_id)
    audit_record(
        actor,
        "customer.secondary_manager.added",
        object_type="customer",
        object_id=str(customer.pk),
        after={"secondary_manager_id": manager_id},
    )
    outbox.publish("customer.coverage.changed", customer_id=customer.pk)
    return row


@transaction.atomic
def secondary_manager_remove(*, actor: Actor, customer_id: int, user_id: int) -> None:
    customer = access_customer(actor, customer_id, REASSIGN, for_update=True)
    deleted, _rows = SecondaryManager.objects.filter(customer=customer, user_id=user_id).delete()
    if not deleted:
        raise ServiceError.field(
            "user_id", _("This staff member is not a secondary manager of the customer.")
        )
    audit_record(
        actor,
        "customer.secondary_manager.removed",
        object_type="customer",
        object_id=str(customer.pk),
        before={"secondary_manager_id": user_id},
    )
    outbox.publish("customer.coverage.changed", customer_id=customer.pk)
