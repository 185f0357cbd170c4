"""Rows the 360 tests put behind a customer: a portfolio, snapshots, tags, history."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from django.utils import timezone

from fincrm.customers.models import (
    CoverageChange,
    Customer,
    CustomerTag,
    Household,
    HouseholdMember,
    LifecycleChange,
    Relationship,
    SecondaryManager,
    Tag,
)
from fincrm.portfolio.models import AumSnapshot
from fincrm.users.actors import actor_for_user
from fincrm.users.models import User
from tests.customers.factories import CustomerFactory
from tests.portfolio.factories import AccountFactory, HoldingFactory, TransactionFactory
from tests.products.factories import ProductFactory


def month_ends(count: int, *, before: date | None = None) -> list[date]:
    """The last ``count`` month ends before ``before`` (today), oldest first."""
    day = (before or timezone.localdate()).replace(day=1) - timedelta(days=1)
    ends = []
    for _ in range(count):
        ends.append(day)
        day = day.replace(day=1) - timedelta(days=1)
    return list(reversed(ends))


def add_portfolio(customer_id: int, *, size: int = 1) -> None:
    """``size`` of each: accounts, holdings (one maturing in 30 days), transactions, tags,
    secondary managers, lifecycle and coverage changes, relationships and household members (one in
    scope, the others outside); and 12 month-end snapshots."""
    customer = Customer.objects.get(pk=customer_id)
    today = timezone.localdate()
    for index in range(size):
        account = AccountFactory(customer=customer, account_number=f"62170000100012{index:05d}")
        HoldingFactory(
            customer=customer,
            account=account,
            product=ProductFactory(name=f"稳健理财{index}号"),
            maturity_date=today + timedelta(days=30 + index * 200),
        )
        TransactionFactory(customer=customer, account=account, amount=Decimal("1234.50"))
        CustomerTag.objects.create(
            customer=customer, tag=Tag.objects.get_or_create(label=f"高净值{index}")[0]
        )
        LifecycleChange.objects.create(
            customer=customer,
            from_stage="prospect",
            to_stage="customer",
            changed_by="user:ops",
            reason="opened",
        )
        CoverageChange.objects.create(
            customer=customer, changed_by="user:lead", reason=f"rebalancing {index}"
        )
    household = Household.objects.create(name="张家", org_unit=customer.org_unit)
    HouseholdMember.objects.create(household=household, customer=customer, role=HouseholdMember.Role.HEAD)
    for index in range(size):
        # The first relative sits in the customer's branch under the same manager; the others elsewhere.
        relative = CustomerFactory(
            name="王芳" if index == 0 else "赵敏",
            org_unit=customer.org_unit if index == 0 else Customer.objects.get(pk=_other(customer)).org_unit,
            primary_manager=customer.primary_manager if index == 0 else None,
        )
        Relationship.objects.create(
            from_customer=relative, to_customer=customer, kind=Relationship.Kind.SPOUSE
        )
        HouseholdMember.objects.create(household=household, customer=relative)
    peers = User.objects.filter(username__in=[f"peer_{side}" for side in "ab"])[:size]
    for peer in peers:
        SecondaryManager.objects.get_or_create(customer=customer, user=peer)
    for position, month_end in enumerate(month_ends(12)):
        deposit = Decimal(100000 + position * 1000)
        AumSnapshot.objects.update_or_create(
            customer=customer,
            month_end=month_end,
            defaults={
                "total": deposit + Decimal(50000),
                "mix": {"deposit": str(deposit), "wealth": "50000.00"},
            },
        )


def _other(customer: Customer) -> int:
    """A customer in the other sub-branch of the world."""
    return (
        Customer.objects.exclude(org_unit=customer.org_unit).values_list("pk", flat=True).first()
        or customer.pk
    )


def actor_of(username: str):  # type: ignore[no-untyped-def]
    return actor_for_user(User.objects.select_related("org_unit").get(username=username))
