"""Reads of duplicate candidates and merges, scoped like every customer read.

The rule for the duplicates queue (docs: "Duplicates and merge"): a candidate is visible to an actor
when BOTH of its customers lie in the actor's ``customer.merge`` scope. A pair held for review
(created with an identity that already exists outside the creator's scope) therefore reaches only
those whose scope covers both sides: users with institution scope, or operations at head office,
whose subtree of the institution's root covers everything. One rule, no special case.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db.models import Exists, OuterRef, QuerySet
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from fincrm.customers.models import Customer, CustomerStatus, DuplicateCandidate, MergeRecord
from fincrm.customers.personal_data import FIELD_MASKS, masked_field
from fincrm.customers.selectors import VIEW, customer_queryset
from fincrm.platform.access import access_object
from fincrm.platform.actor import Actor

MERGE = "customer.merge"


@dataclass(frozen=True)
class MergeField:
    """One choice on the compare page: the columns that survive together (an ID number travels with
    its type, expiry, and the birth date and gender it encodes). The first column decides whether
    a customer has a value at all."""

    label: str | Promise
    fields: tuple[str, ...]
    individual_only: bool = False


MERGE_FIELDS: dict[str, MergeField] = {
    "name": MergeField(_("Name"), ("name",)),
    "id": MergeField(
        _("Identity document"), ("id_number", "id_type", "id_expires_on", "gender", "birth_date")
    ),
    "nationality": MergeField(_("Nationality"), ("nationality",), individual_only=True),
    "mobile": MergeField(_("Mobile number"), ("mobile",)),
    "email": MergeField(_("E-mail"), ("email",)),
    "address": MergeField(_("Postal address"), ("address",)),
    "occupation": MergeField(_("Occupation"), ("occupation",), individual_only=True),
    "employer": MergeField(_("Employer"), ("employer",), individual_only=True),
    "income_band": MergeField(_("Income band"), ("income_band",), individual_only=True),
    "source_of_funds": MergeField(_("Source of funds"), ("source_of_funds",)),
    "industry": MergeField(_("Industry"), ("industry",)),
    "aml_risk_rating": MergeField(_("AML risk rating"), ("aml_risk_rating", "aml_next_review_on")),
    "risk_tolerance": MergeField(
        _("Risk assessment"), ("risk_tolerance", "risk_assessed_on", "risk_expires_on")
    ),
    "professional_investor": MergeField(
        _("Professional investor"), ("is_professional_investor", "professional_evidence")
    ),
    "lifecycle_stage": MergeField(_("Lifecycle stage"), ("lifecycle_stage",)),
    "source_channel": MergeField(_("Source channel"), ("source_channel",)),
}


# How identifiers appear on the compare page and in audit events (DOMAIN.md masks).
def has_value(customer: Customer, key: str) -> bool:
    return getattr(customer, MERGE_FIELDS[key].fields[0]) not in (None, "")


def duplicate_queryset(
    actor: Actor, *, status: str | None = DuplicateCandidate.Status.OPEN
) -> QuerySet[DuplicateCandidate]:
    """Candidates whose two customers are both in the actor's customer.merge scope (EXISTS, no join)."""
    reachable = customer_queryset(actor, MERGE)
    queryset = DuplicateCandidate.objects.filter(
        Exists(reachable.filter(pk=OuterRef("first_id"))),
        Exists(reachable.filter(pk=OuterRef("second_id"))),
    )
    if status:
        queryset = queryset.filter(status=status)
    return queryset


def duplicate_list(
    *, actor: Actor, reason: str = "", status: str = DuplicateCandidate.Status.OPEN
) -> QuerySet[DuplicateCandidate]:
    queryset = duplicate_queryset(actor, status=status or None)
    if reason:
        queryset = queryset.filter(reason=reason)
    return queryset.select_related("first", "second", "first__org_unit", "second__org_unit")


def access_duplicate(actor: Actor, candidate_id: object, *, for_update: bool = False) -> DuplicateCandidate:
    """An open candidate both of whose customers the actor may merge; NotFound otherwise."""
    queryset = duplicate_queryset(actor).select_related(
        "first", "second", "first__org_unit", "second__org_unit"
    )
    if for_update:
        queryset = queryset.select_for_update(of=("self",))
    return access_object(queryset, candidate_id, actor=actor, action=MERGE, object_type="duplicate")


# ---------------------------------------------------------------- the compare page


@dataclass(frozen=True)
class CompareRow:
    key: str  # a MERGE_FIELDS key
    label: str
    first: str  # display values, identifiers masked
    second: str
    same: bool


def _display(customer: Customer, key: str) -> str:
    if not has_value(customer, key):
        return ""
    parts = []
    for name in MERGE_FIELDS[key].fields:
        value: Any = getattr(customer, name)
        if value in (None, ""):
            continue
        if name in FIELD_MASKS:
            value = masked_field(name, value)
        elif name == "is_professional_investor":
            value = _("Yes") if value else ""
        else:
            display = getattr(customer, f"get_{name}_display", None)
            value = display() if callable(display) else value
        if value not in (None, ""):
            parts.append(str(value))
    return " · ".join(parts)


def _comparable(customer: Customer, key: str) -> tuple[Any, ...]:
    values = []
    for name in MERGE_FIELDS[key].fields:
        blind = f"{name}_bidx"
        if hasattr(customer, blind):
            values.append(getattr(customer, blind))
        else:
            values.append(getattr(customer, name) or None)
    return tuple(values)


def compare_rows(first: Customer, second: Customer) -> list[CompareRow]:
    """The two customers side by side, field group by field group, identifiers masked."""
    return [
        CompareRow(
            key=key,
            label=str(spec.label),
            first=_display(first, key),
            second=_display(second, key),
            same=_comparable(first, key) == _comparable(second, key),
        )
        for key, spec in MERGE_FIELDS.items()
    ]


# ---------------------------------------------------------------- merged customers


@dataclass(frozen=True)
class MergedCustomer:
    customer_number: str
    survivor_id: int | None  # None: the survivor is outside the actor's view scope
    survivor_number: str
    merged_at: Any


def merged_customer(actor: Actor, customer_id: object) -> MergedCustomer | None:
    """A customer merged into another, when the actor's view scope reached it (None otherwise)."""
    try:
        pk = int(str(customer_id))
    except ValueError:
        return None
    absorbed = (
        Customer.objects.visible_to(actor, VIEW)
        .filter(pk=pk, status=CustomerStatus.MERGED, merged_into__isnull=False)
        .values("customer_number", "merged_into_id")
        .first()
    )
    if absorbed is None:
        return None
    survivor = (
        customer_queryset(actor, VIEW).filter(pk=absorbed["merged_into_id"]).values("customer_number").first()
    )
    record = MergeRecord.objects.filter(absorbed_id=pk).order_by("-created_at").values("created_at").first()
    return MergedCustomer(
        customer_number=absorbed["customer_number"],
        survivor_id=absorbed["merged_into_id"] if survivor else None,
        survivor_number=survivor["customer_number"] if survivor else "",
        merged_at=record["created_at"] if record else None,
    )
