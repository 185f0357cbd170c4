"""Writes of the links between customers: relationships, households and corporate groups.

The customer being changed needs ``customer.edit``; every other customer named must be visible to
the actor (``customer.view``), else it is not found.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from fincrm.audit.services import audit_record
from fincrm.customers.models import Customer, CustomerKind, Household, HouseholdMember, Relationship
from fincrm.customers.selectors import VIEW, access_customer
from fincrm.customers.selectors.groups import GROUP_MAX_DEPTH
from fincrm.customers.selectors.relationships import access_household, access_relationship, ancestor_ids
from fincrm.platform import outbox, transaction
from fincrm.platform.actor import Actor
from fincrm.platform.errors import ServiceError
from fincrm.security.masking import mask

EDIT = "customer.edit"
NOTE_MAX_LENGTH = 200
HOUSEHOLD_NAME_MAX_LENGTH = 200


def relationship_snapshot(relationship: Relationship) -> dict[str, Any]:
    return {
        "from_customer_id": relationship.from_customer_id,
        "to_customer_id": relationship.to_customer_id,
        "kind": relationship.kind,
        "starts_on": relationship.starts_on,
        "ends_on": relationship.ends_on,
        # Free text may name people: the log keeps only whether there is a note.
        "note": mask("full", relationship.note),
    }


def _clean_dates(starts_on: date | None, ends_on: date | None) -> None:
    if starts_on is not None and ends_on is not None and ends_on < starts_on:
        raise ServiceError.field(
            "ends_on", _("The end date must not be before the start date."), code="date_order"
        )


@transaction.atomic
def relationship_add(
    *,
    actor: Actor,
    customer_id: int,
    related_customer_id: int,
    kind: str,
    starts_on: date | None = None,
    ends_on: date | None = None,
    note: str = "",
) -> Relationship:
    """Record that the related customer is the ``kind`` of the customer (its spouse, guarantor …)."""
    customer = access_customer(actor, customer_id, EDIT, for_update=True)
    if str(related_customer_id) == str(customer.pk):
        raise ServiceError.field(
            "related_customer_id", _("A customer cannot be related to itself."), code="self_link"
        )
    related = access_customer(actor, related_customer_id, VIEW)
    if kind not in Relationship.Kind.values:
        raise ServiceError.field("kind", _("Choose a relationship from the list."), code="invalid_choice")
    clean_note = " ".join(str(note or "").split())
    if len(clean_note) > NOTE_MAX_LENGTH:
        raise ServiceError.field(
            "note", _("Use at most %(limit)d characters.") % {"limit": NOTE_MAX_LENGTH}, code="too_long"
        )
    _clean_dates(starts_on, ends_on)
    today = timezone.localdate()
    pairs = [(related.pk, customer.pk)]
    if kind == Relationship.Kind.SPOUSE:
        pairs.append((customer.pk, related.pk))  # spouses are one relationship whichever way it was entered
    for from_id, to_id in pairs:
        current = Relationship.objects.filter(from_customer_id=from_id, to_customer_id=to_id, kind=kind)
        if current.filter(ends_on__isnull=True).exists() or current.filter(ends_on__gt=today).exists():
            raise ServiceError.field(
                "related_customer_id", _("This relationship is already recorded."), code="duplicate"
            )
    relationship = Relationship.objects.create(
        from_customer=related,
        to_customer=customer,
        kind=kind,
        starts_on=starts_on,
        ends_on=ends_on,
        note=clean_note,
    )
    audit_record(
        actor,
        "customer.relationship.added",
        object_type="customer",
        object_id=str(customer.pk),
        after=relationship_snapshot(relationship),
    )
    outbox.publish(
        "customer.relationship.changed",
        customer_id=customer.pk,
        related_customer_id=related.pk,
        relationship_id=relationship.pk,
    )
    return relationship


@transaction.atomic
def relationship_end(*, actor: Actor, relationship_id: int, ends_on: date | None = None) -> Relationship:
    """End a relationship (today unless a date is given). The actor may change one of its customers."""
    relationship = access_relationship(actor, relationship_id, EDIT)
    relationship = Relationship.objects.select_for_update().get(pk=relationship.pk)
    today = timezone.localdate()
    end = ends_on or today
    if relationship.ends_on is not None and relationship.ends_on <= today:
        raise ServiceError.field("ends_on", _("This relationship has already ended."), code="already_ended")
    _clean_dates(relationship.starts_on, end)
    before = relationship_snapshot(relationship)
    relationship.ends_on = end
    relationship.save(update_fields=["ends_on", "updated_at"])
    audit_record(
        actor,
        "customer.relationship.ended",
        object_type="customer",
        object_id=str(relationship.to_customer_id),
        before=before,
        after=relationship_snapshot(relationship),
    )
    outbox.publish(
        "customer.relationship.changed",
        customer_id=relationship.to_customer_id,
        related_customer_id=relationship.from_customer_id,
        relationship_id=relationship.pk,
    )
    return relationship


# ---------------------------------------------------------------- households


def _clean_household_name(value: object) -> str:
    name = " ".join(str(value or "").split())
    if not name:
        raise ServiceError.field("name", _("Enter the household's name, e.g. 张家."), code="required")
    if len(name) > HOUSEHOLD_NAME_MAX_LENGTH:
        raise ServiceError.field(
            "name",
            _("Use at most %(limit)d characters.") % {"limit": HOUSEHOLD_NAME_MAX_LENGTH},
            code="too_long",
        )
    return name


def _require_individual(customer: Customer, field: str) -> None:
    if customer.kind != CustomerKind.INDIVIDUAL:
        raise ServiceError.field(
            field, _("Only individuals can belong to a household."), code="not_individual"
        )


def _household_event(actor: Actor, code: str, household: Household, customer_id: int, **after: Any) -> None:
    audit_record(
        actor,
        code,
        object_type="household",
        object_id=str(household.pk),
        after={"customer_id": customer_id, **after},
    )
    outbox.publish("customer.household.changed", household_id=household.pk, customer_id=customer_id)


@transaction.atomic
def household_create(*, actor: Actor, name: str, head_customer_id: int) -> Household:
    """A new household with the customer as its head, homed in the head's branch."""
    head = access_customer(actor, head_customer_id, EDIT, for_update=True)
    _require_individual(head, "head_customer_id")
    clean_name = _clean_household_name(name)
    if HouseholdMember.objects.filter(customer=head).exists():
        raise ServiceError.field(
            "head_customer_id",
            _("This customer already belongs to a household; remove them from it first."),
            code="in_household",
        )
    household = Household.objects.create(name=clean_name, org_unit_id=head.org_unit_id)
    HouseholdMember.objects.create(household=household, customer=head, role=HouseholdMember.Role.HEAD)
    audit_record(
        actor,
        "customer.household.created",
        object_type="household",
        object_id=str(household.pk),
        after={"name": household.name, "head_customer_id": head.pk},
    )
    outbox.publish("customer.household.changed", household_id=household.pk, customer_id=head.pk)
    return household


@transaction.atomic
def household_add_member(
    *, actor: Actor, household_id: int, customer_id: int, role: str = HouseholdMember.Role.MEMBER
) -> HouseholdMember:
    """Add a customer to a household, or change a member's role. A new head replaces the old one,
    who stays as a member."""
    household = access_household(actor, household_id, EDIT, for_update=True)
    customer = access_customer(actor, customer_id, EDIT, for_update=True)
    _require_individual(customer, "customer_id")
    if role not in HouseholdMember.Role.values:
        raise ServiceError.field("role", _("Choose a role from the list."), code="invalid_choice")
    membership = HouseholdMember.objects.filter(customer=customer).first()
    if membership is not None and membership.household_id != household.pk:
        raise ServiceError.field(
            "customer_id",
            _("This customer already belongs to another household; remove them from it first."),
            code="in_household",
        )
    if membership is not None and membership.role == role:
        return membership
    if role == HouseholdMember.Role.HEAD:
        HouseholdMember.objects.filter(household=household, role=HouseholdMember.Role.HEAD).update(
            role=HouseholdMember.Role.MEMBER, updated_at=timezone.now()
        )
    before_role = membership.role if membership is not None else None
    if membership is None:
        membership = HouseholdMember.objects.create(household=household, customer=customer, role=role)
    else:
        membership.role = role
        membership.save(update_fields=["role", "updated_at"])
    _household_event(
        actor, "customer.household.member_added", household, customer.pk, role=role, previous_role=before_role
    )
    return membership


@transaction.atomic
def household_remove_member(*, actor: Actor, household_id: int, customer_id: int) -> bool:
    """Take a customer out of a household; the last one out dissolves it (True when it did)."""
    household = access_household(actor, household_id, EDIT, for_update=True)
    customer = access_customer(actor, customer_id, EDIT, for_update=True)
    membership = HouseholdMember.objects.filter(household=household, customer=customer).first()
    if membership is None:
        raise ServiceError.field(
            "customer_id", _("This customer is not a member of the household."), code="not_member"
        )
    others = HouseholdMember.objects.filter(household=household).exclude(pk=membership.pk)
    if membership.role == HouseholdMember.Role.HEAD and others.exists():
        raise ServiceError.field(
            "customer_id", _("Make another member the head of the household first."), code="head"
        )
    membership.delete()
    dissolved = not others.exists()
    _household_event(actor, "customer.household.member_removed", household, customer.pk, dissolved=dissolved)
    if dissolved:
        household.delete()
    return dissolved


# ---------------------------------------------------------------- corporate groups


@transaction.atomic
def company_parent_set(*, actor: Actor, customer_id: int, parent_id: int | None) -> Customer:
    """Put a corporate customer under a parent company (None: make it a top company). No cycles."""
    customer = access_customer(actor, customer_id, EDIT, for_update=True)
    if customer.kind != CustomerKind.CORPORATE:
        raise ServiceError.field(
            "parent_id", _("Only corporate customers belong to a group."), code="not_corporate"
        )
    if parent_id is not None and str(parent_id) == str(customer.pk):
        raise ServiceError.field("parent_id", _("A company cannot be its own parent."), code="cycle")
    parent = access_customer(actor, parent_id, VIEW) if parent_id is not None else None
    if parent is not None and parent.kind != CustomerKind.CORPORATE:
        raise ServiceError.field(
            "parent_id", _("The parent must be a corporate customer."), code="not_corporate"
        )
    old_parent_id = customer.parent_company_id
    new_parent_id = parent.pk if parent is not None else None
    if old_parent_id == new_parent_id:
        return customer
    if parent is not None:
        # Lock the chain above the new parent, so two changes cannot close a loop between them.
        chain = ancestor_ids(parent.pk, lock=True)
        if customer.pk in chain:
            raise ServiceError.field(
                "parent_id",
                _("This company is above the chosen parent in the group: that would make a loop."),
                code="cycle",
            )
        if len(chain) + 1 >= GROUP_MAX_DEPTH:
            raise ServiceError.field(
                "parent_id",
                _("The group would be more than %(limit)d levels deep.") % {"limit": GROUP_MAX_DEPTH},
                code="too_deep",
            )
    customer.parent_company_id = new_parent_id
    customer.save(update_fields=["parent_company", "updated_at"])
    audit_record(
        actor,
        "customer.group.changed",
        object_type="customer",
        object_id=str(customer.pk),
        before={"parent_company_id": old_parent_id},
        after={"parent_company_id": new_parent_id},
    )
    outbox.publish("customer.group.changed", customer_id=customer.pk)
    return customer
