"""Reads of a customer's portfolio, always through the customer's scope (access_customer): a
customer the actor may not see is "not found", whichever portfolio list is asked for.

Account numbers come back as stored (encrypted); callers show ``account.masked_number``.
AUM is read as kept (Customer.aum, AumSnapshot): never computed on a page view.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from django.db.models import Count, F, QuerySet, Sum

from fincrm.customers.models import Customer, HouseholdMember
from fincrm.customers.selectors import HIDDEN_STATUSES, VIEW, access_customer, customer_queryset
from fincrm.customers.selectors.groups import GroupWalk, group_walk
from fincrm.platform.actor import Actor
from fincrm.portfolio.models import Account, AssetClass, AumSnapshot, Holding, Transaction

CENT = Decimal("0.01")
ZERO = Decimal("0.00")


def accounts_for(actor: Actor, customer_id: object, action: str = VIEW) -> list[Account]:
    customer = access_customer(actor, customer_id, action)
    return list(
        Account.objects.filter(customer_id=customer.pk).select_related("product").order_by("kind", "id")
    )


def holdings_for(actor: Actor, customer_id: object, action: str = VIEW) -> list[Holding]:
    """The customer's holdings with their product, soonest maturity first (open-ended last)."""
    customer = access_customer(actor, customer_id, action)
    return list(holding_queryset(customer.pk))


def holding_queryset(customer_id: int) -> QuerySet[Holding]:
    """Unscoped: only for callers that have already passed access_customer for ``customer_id``."""
    return (
        Holding.objects.filter(customer_id=customer_id)
        .select_related("product", "account")
        .order_by(F("maturity_date").asc(nulls_last=True), "id")
    )


def transaction_queryset(actor: Actor, customer_id: object, action: str = VIEW) -> QuerySet[Transaction]:
    """The customer's transactions, newest first (for keyset pagination on booked_at, id)."""
    customer = access_customer(actor, customer_id, action)
    return Transaction.objects.filter(customer_id=customer.pk).order_by("-booked_at", "-id")


def recent_transactions(
    actor: Actor, customer_id: object, limit: int = 20, action: str = VIEW
) -> list[Transaction]:
    return list(transaction_queryset(actor, customer_id, action).select_related("account")[: max(limit, 0)])


@dataclass(frozen=True)
class AumPoint:
    month_end: date
    total: Decimal  # CNY
    mix: dict[str, Decimal]  # asset class (AssetClass values) -> CNY


def _mix(raw: object) -> dict[str, Decimal]:
    values = raw if isinstance(raw, dict) else {}
    mix = {}
    for asset_class in AssetClass.values:
        value = values.get(asset_class)
        mix[asset_class] = Decimal(str(value)).quantize(CENT) if value not in (None, "") else ZERO
    return mix


def aum_history(actor: Actor, customer_id: object, months: int = 12, action: str = VIEW) -> list[AumPoint]:
    """The last ``months`` month-end snapshots, oldest first."""
    customer = access_customer(actor, customer_id, action)
    snapshots = list(
        AumSnapshot.objects.filter(customer_id=customer.pk).order_by("-month_end")[: max(months, 0)]
    )
    return [
        AumPoint(month_end=snapshot.month_end, total=snapshot.total, mix=_mix(snapshot.mix))
        for snapshot in reversed(snapshots)
    ]


@dataclass(frozen=True)
class GroupAum:
    total: Decimal
    members: int


def _sum_aum(customer_ids: list[int]) -> GroupAum:
    rows = Customer.objects.filter(pk__in=customer_ids).exclude(status__in=HIDDEN_STATUSES)
    figures = rows.aggregate(total=Sum("aum"), members=Count("pk"))
    return GroupAum(total=Decimal(figures["total"] or 0).quantize(CENT), members=figures["members"])


def household_aum(actor: Actor, customer_id: object) -> GroupAum | None:
    """The AUM of the customer's household: the sum of every member's AUM (None without one).
    The figure is the household's, so members outside the actor's scope count in the sum
    (their own figures are not shown)."""
    customer = access_customer(actor, customer_id)
    membership = HouseholdMember.objects.filter(customer_id=customer.pk).first()
    if membership is None:
        return None
    member_ids = list(
        HouseholdMember.objects.filter(household_id=membership.household_id).values_list(
            "customer_id", flat=True
        )
    )
    return _sum_aum(member_ids)


def group_aum(actor: Actor, customer_id: object) -> GroupAum | None:
    """The AUM of the corporate group the customer belongs to (its top parent and every company
    below it, as the group tree shows them); None for a company with neither parent nor
    subsidiaries."""
    customer = access_customer(actor, customer_id)
    return group_figure(group_walk(customer.pk))


def group_figure(walk: GroupWalk) -> GroupAum | None:
    """A group's AUM from its walk: the sum over its companies (the group's figure, so companies
    outside the actor's scope count; a hidden top company does not)."""
    if len(walk.members) <= 1:
        return None
    counted = [member.aum for member in walk.members if member.status not in HIDDEN_STATUSES]
    return GroupAum(total=Decimal(sum(counted, ZERO)).quantize(CENT), members=len(counted))


def maturing_holdings(actor: Actor, *, until: date, action: str = VIEW) -> QuerySet[Holding]:
    """Holdings maturing on or before ``until`` of every customer the actor sees (for reminders)."""
    visible = customer_queryset(actor, action)
    return (
        Holding.objects.filter(customer__in=visible.values("pk"), maturity_date__lte=until)
        .select_related("product", "customer")
        .order_by("maturity_date", "id")
    )
