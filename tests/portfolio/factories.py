"""Portfolio factories: rows as a core-system feed would deliver them, straight through the ORM."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import factory
from django.utils import timezone

from fincrm.org.models import OrgUnit
from fincrm.portfolio.models import Account, FxRate, Holding, Transaction
from tests.products.factories import ProductFactory


class AccountFactory(factory.django.DjangoModelFactory[Account]):
    class Meta:
        model = Account

    kind = Account.Kind.DEPOSIT
    account_number = factory.Sequence(lambda n: f"6217000010{n:09d}")
    number_last4 = factory.LazyAttribute(lambda o: (o.account_number or "0000")[-4:])
    currency = "CNY"
    balance = Decimal("1000.00")
    opened_on = date(2020, 1, 1)
    org_unit = factory.LazyAttribute(lambda o: o.customer.org_unit)


class HoldingFactory(factory.django.DjangoModelFactory[Holding]):
    class Meta:
        model = Holding

    product = factory.SubFactory(ProductFactory)
    amount = Decimal("10000.00")
    currency = "CNY"
    market_value = Decimal("10000.00")
    start_date = date(2020, 1, 1)
    maturity_date = factory.LazyFunction(lambda: timezone.localdate() + timedelta(days=30))


class TransactionFactory(factory.django.DjangoModelFactory[Transaction]):
    class Meta:
        model = Transaction

    account = factory.SubFactory(AccountFactory, customer=factory.SelfAttribute("..customer"))
    booked_at = factory.Sequence(lambda n: datetime(2026, 1, 1, tzinfo=UTC) + timedelta(hours=n))
    business_date = factory.LazyAttribute(lambda o: o.booked_at.date())
    amount = Decimal("100.00")
    currency = "CNY"
    direction = Transaction.Direction.IN
    channel = Transaction.Channel.MOBILE
    transaction_type = Transaction.Type.TRANSFER


class FxRateFactory(factory.django.DjangoModelFactory[FxRate]):
    class Meta:
        model = FxRate

    business_date = date(2026, 1, 1)
    currency = "USD"
    rate_to_cny = Decimal("7.10000000")


def unit(code: str) -> OrgUnit:
    return OrgUnit.objects.get(code=code)
