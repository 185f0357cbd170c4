from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from fincrm.audit.models import SecurityEvent
from fincrm.customers.models import Customer, Household, HouseholdMember
from fincrm.platform.errors import NotFound
from fincrm.portfolio import selectors
from fincrm.portfolio.models import AumSnapshot
from fincrm.users.actors import actor_for_user
from tests.customers.factories import CustomerFactory
from tests.portfolio.factories import AccountFactory, HoldingFactory, TransactionFactory
from tests.support.world import World


def actor(username: str):  # type: ignore[no-untyped-def]
    return actor_for_user(World.user(username))


def test_accounts_for_lists_the_customers_accounts_with_masked_numbers(world: World) -> None:
    customer = Customer.objects.get(pk=world.customer_a)
    card = AccountFactory(
        customer=customer, kind="credit_card", account_number=None, number_last4="1234", card_first6="622202"
    )
    deposit = AccountFactory(customer=customer, account_number="6217000010001234567", number_last4="4567")
    AccountFactory(customer=Customer.objects.get(pk=world.customer_b))

    accounts = selectors.accounts_for(actor("account_manager_a"), world.customer_a)

    assert [account.pk for account in accounts] == [card.pk, deposit.pk]
    assert [account.masked_number for account in accounts] == ["622202******1234", "尾号4567"]


def test_holdings_are_ordered_by_maturity_open_ended_last(world: World) -> None:
    customer = Customer.objects.get(pk=world.customer_a)
    today = timezone.localdate()
    later = HoldingFactory(customer=customer, maturity_date=today + timedelta(days=60))
    open_ended = HoldingFactory(customer=customer, maturity_date=None)
    sooner = HoldingFactory(customer=customer, maturity_date=today + timedelta(days=5))

    holdings = selectors.holdings_for(actor("account_manager_a"), world.customer_a)

    assert [holding.pk for holding in holdings] == [sooner.pk, later.pk, open_ended.pk]
    assert holdings[0].product.code == sooner.product.code


def test_recent_transactions_newest_first_and_limited(world: World) -> None:
    customer = Customer.objects.get(pk=world.customer_a)
    account = AccountFactory(customer=customer)
    made = [TransactionFactory(customer=customer, account=account) for _ in range(5)]

    recent = selectors.recent_transactions(actor("account_manager_a"), world.customer_a, limit=3)

    assert [row.pk for row in recent] == [made[4].pk, made[3].pk, made[2].pk]


def test_aum_history_oldest_first_with_every_asset_class(world: World) -> None:
    for month_end, total in ((date(2026, 1, 31), "100.00"), (date(2026, 2, 28), "250.50")):
        AumSnapshot.objects.create(
            customer_id=world.customer_a, month_end=month_end, total=Decimal(total), mix={"deposit": total}
        )

    history = selectors.aum_history(actor("account_manager_a"), world.customer_a, months=12)

    assert [(point.month_end, point.total) for point in history] == [
        (date(2026, 1, 31), Decimal("100.00")),
        (date(2026, 2, 28), Decimal("250.50")),
    ]
    assert history[1].mix == {
        "deposit": Decimal("250.50"),
        "wealth": Decimal("0.00"),
        "fund": Decimal("0.00"),
        "securities": Decimal("0.00"),
        "insurance": Decimal("0.00"),
    }


@pytest.mark.parametrize(
    "read",
    [
        selectors.accounts_for,
        selectors.holdings_for,
        selectors.recent_transactions,
        selectors.aum_history,
        selectors.transaction_queryset,
        selectors.household_aum,
        selectors.group_aum,
    ],
)
def test_out_of_scope_customer_is_not_found_and_recorded(world: World, read) -> None:  # type: ignore[no-untyped-def]
    AccountFactory(customer=Customer.objects.get(pk=world.customer_a))
    with pytest.raises(NotFound):
        read(actor("account_manager_b"), world.customer_a)
    assert SecurityEvent.objects.filter(
        kind="access.denied", user_id=World.user("account_manager_b").pk
    ).exists()


def test_household_aum_sums_every_member(world: World) -> None:
    head = Customer.objects.get(pk=world.customer_a)
    spouse = CustomerFactory(aum=Decimal("300.00"))
    Customer.objects.filter(pk=head.pk).update(aum=Decimal("700.50"))
    household = Household.objects.create(name="张家", org_unit_id=world.sub_a1)
    HouseholdMember.objects.create(household=household, customer=head, role="head")
    HouseholdMember.objects.create(household=household, customer=spouse)

    figure = selectors.household_aum(actor("account_manager_a"), world.customer_a)

    assert figure == selectors.GroupAum(total=Decimal("1000.50"), members=2)
    assert selectors.household_aum(actor("account_manager_b"), world.customer_b) is None


def test_group_aum_sums_the_whole_tree(world: World) -> None:
    parent = CustomerFactory(
        kind="corporate", aum=Decimal("1000.00"), primary_manager=World.user("account_manager_a")
    )
    child = CustomerFactory(kind="corporate", aum=Decimal("200.00"), parent_company=parent)
    CustomerFactory(kind="corporate", aum=Decimal("30.00"), parent_company=child)
    CustomerFactory(kind="corporate", aum=Decimal("4.00"), parent_company=parent)

    figure = selectors.group_aum(actor("account_manager_a"), parent.pk)

    assert figure == selectors.GroupAum(total=Decimal("1234.00"), members=4)
    assert selectors.group_aum(actor("account_manager_a"), world.customer_a) is None
