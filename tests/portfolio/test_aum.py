"""AUM: the formula (DOMAIN.md "AUM"), FX conversion, value tiers, and the month-end snapshot."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from fincrm.audit.models import AuditEvent
from fincrm.customers.models import Customer
from fincrm.platform import jobs
from fincrm.platform.models import OutboxEvent
from fincrm.portfolio import services
from fincrm.portfolio.jobs import aum_snapshot
from fincrm.portfolio.models import Account, AumSnapshot, FxRate
from fincrm.products.models import ProductType
from tests.customers.factories import CustomerFactory
from tests.portfolio.factories import AccountFactory, FxRateFactory, HoldingFactory
from tests.products.factories import ProductFactory
from tests.support.world import World

AS_OF = date(2026, 3, 31)
RATES = {"CNY": Decimal(1), "USD": Decimal("7.1234"), "HKD": Decimal("0.9125")}

money = st.decimals(min_value=0, max_value=10**8, places=2, allow_nan=False, allow_infinity=False)
currency = st.sampled_from(sorted(RATES))
account_kind = st.sampled_from([kind for kind, _label in Account.Kind.choices])
product_type = st.sampled_from([kind for kind, _label in ProductType.choices])

accounts = st.lists(st.tuples(account_kind, currency, money), max_size=4)
holdings = st.lists(st.tuples(product_type, currency, money, money), max_size=4)


def expected_aum(account_rows: list, holding_rows: list) -> Decimal:  # type: ignore[type-arg]
    """The rule, written out: deposits + market value of wealth, fund, securities (and deposit
    products) + cash value of insurance, each at its currency's rate; loans and cards excluded."""
    total = Decimal(0)
    for kind, cur, balance in account_rows:
        if kind == Account.Kind.DEPOSIT:
            total += balance * RATES[cur]
    for kind, cur, market_value, cash_value in holding_rows:
        if kind in (ProductType.DEPOSIT, ProductType.WEALTH, ProductType.FUND, ProductType.SECURITIES):
            total += market_value * RATES[cur]
        elif kind == ProductType.INSURANCE:
            total += cash_value * RATES[cur]
    return total


def _rates() -> None:
    for cur, rate in RATES.items():
        if cur != "CNY":
            FxRate.objects.update_or_create(
                currency=cur, business_date=AS_OF - timedelta(days=2), defaults={"rate_to_cny": rate}
            )
            # A later rate (after the business date) must not be used.
            FxRate.objects.update_or_create(
                currency=cur, business_date=AS_OF + timedelta(days=1), defaults={"rate_to_cny": rate * 3}
            )


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(account_rows=accounts, holding_rows=holdings)
def test_aum_is_the_sum_of_its_parts_at_the_business_date_rate(
    world: World,
    account_rows: list,  # type: ignore[type-arg]
    holding_rows: list,  # type: ignore[type-arg]
) -> None:
    exact = expected_aum(account_rows, holding_rows)
    assume((exact * 100) % 1 != Decimal("0.5"))  # a half-cent tie rounds differently per database
    _rates()
    customer = CustomerFactory()
    for kind, cur, balance in account_rows:
        AccountFactory(customer=customer, kind=kind, currency=cur, balance=balance)
    for kind, cur, market_value, cash_value in holding_rows:
        HoldingFactory(
            customer=customer,
            product=ProductFactory(product_type=kind),
            currency=cur,
            market_value=market_value,
            cash_value=cash_value,
            maturity_date=None,
        )

    services.aum_refresh([customer.pk], as_of=AS_OF)

    customer.refresh_from_db()
    assert customer.aum == exact.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    assert customer.value_tier == services.value_tier_for(customer.aum)
    assert customer.aum_updated_at is not None


def test_loans_cards_closed_accounts_and_unstarted_holdings_do_not_count(world: World) -> None:
    customer = CustomerFactory()
    AccountFactory(customer=customer, kind="deposit", balance=Decimal("100.00"))
    AccountFactory(customer=customer, kind="loan", balance=Decimal("5000.00"))
    AccountFactory(customer=customer, kind="credit_card", balance=Decimal("800.00"))
    AccountFactory(customer=customer, kind="deposit", balance=Decimal("9.00"), status="closed")
    HoldingFactory(customer=customer, product=ProductFactory(product_type="loan"), market_value=Decimal(7))
    HoldingFactory(customer=customer, market_value=Decimal("50.00"), start_date=AS_OF + timedelta(days=1))
    HoldingFactory(customer=customer, market_value=Decimal("20.00"), maturity_date=AS_OF - timedelta(days=1))

    services.aum_refresh([customer.pk], as_of=AS_OF)

    assert Customer.objects.get(pk=customer.pk).aum == Decimal("100.00")


def test_a_currency_without_a_rate_drops_out_rather_than_counting_at_par(world: World) -> None:
    customer = CustomerFactory()
    AccountFactory(customer=customer, balance=Decimal("100.00"))
    AccountFactory(customer=customer, balance=Decimal("100.00"), currency="JPY")

    services.aum_refresh([customer.pk], as_of=AS_OF)

    assert Customer.objects.get(pk=customer.pk).aum == Decimal("100.00")


@pytest.mark.parametrize(
    ("balance", "tier"),
    [
        ("499999.99", "mass"),
        ("500000.00", "affluent"),
        ("5999999.99", "affluent"),
        ("6000000.00", "wealth"),
        ("30000000.00", "private"),
    ],
)
def test_value_tier_thresholds_are_inclusive(world: World, balance: str, tier: str) -> None:
    customer = CustomerFactory()
    AccountFactory(customer=customer, balance=Decimal(balance))

    services.aum_refresh([customer.pk], as_of=AS_OF)

    assert Customer.objects.get(pk=customer.pk).value_tier == tier


def test_value_tier_thresholds_are_settings(world: World, settings) -> None:  # type: ignore[no-untyped-def]
    settings.FINCRM_VALUE_TIER_THRESHOLDS = {"affluent": "100"}
    customer = CustomerFactory()
    AccountFactory(customer=customer, balance=Decimal("150.00"))

    services.aum_refresh([customer.pk], as_of=AS_OF)

    assert Customer.objects.get(pk=customer.pk).value_tier == "affluent"


def test_refresh_sets_zero_for_a_customer_without_assets_and_audits_once(world: World) -> None:
    first, second = CustomerFactory(aum=Decimal(5)), CustomerFactory(aum=Decimal(5))
    AccountFactory(customer=first, balance=Decimal("1.00"))
    events_before = AuditEvent.objects.filter(action="portfolio.aum.refreshed").count()

    result = services.aum_refresh([first.pk, second.pk, first.pk], as_of=AS_OF)

    assert result.customers == 2
    assert list(
        Customer.objects.filter(pk__in=[first.pk, second.pk]).order_by("pk").values_list("aum", flat=True)
    ) == [
        Decimal("1.00"),
        Decimal("0.00"),
    ]
    assert AuditEvent.objects.filter(action="portfolio.aum.refreshed").count() == events_before + 1
    event = OutboxEvent.objects.filter(topic="portfolio.aum.refreshed").latest("pk")
    assert event.payload == {"customer_ids": sorted([first.pk, second.pk])}


def test_snapshot_records_total_and_mix_and_is_idempotent(world: World) -> None:
    FxRateFactory(currency="USD", business_date=AS_OF, rate_to_cny=Decimal("7"))
    customer = CustomerFactory()
    AccountFactory(customer=customer, balance=Decimal("100.00"), currency="USD")
    HoldingFactory(
        customer=customer, product=ProductFactory(product_type="fund"), market_value=Decimal("30.25")
    )
    HoldingFactory(
        customer=customer,
        product=ProductFactory(product_type="insurance"),
        market_value=Decimal("999.00"),
        cash_value=Decimal("12.00"),
    )
    empty = CustomerFactory()

    written = services.aum_snapshot_take(month_end_on=AS_OF, customer_ids=[customer.pk, empty.pk])
    again = services.aum_snapshot_take(month_end_on=AS_OF, customer_ids=[customer.pk, empty.pk])

    assert (written, again) == (2, 0)
    snapshot = AumSnapshot.objects.get(customer=customer, month_end=AS_OF)
    assert snapshot.total == Decimal("742.25")
    mix = {key: Decimal(str(value)) for key, value in snapshot.mix.items()}
    assert mix == {
        "deposit": Decimal("700"),
        "wealth": Decimal("0"),
        "fund": Decimal("30.25"),
        "securities": Decimal("0"),
        "insurance": Decimal("12"),
    }
    assert AumSnapshot.objects.get(customer=empty, month_end=AS_OF).total == Decimal("0.00")


def test_snapshot_counts_only_what_was_held_at_the_month_end(world: World) -> None:
    customer = CustomerFactory()
    AccountFactory(customer=customer, balance=Decimal("10.00"), opened_on=date(2026, 1, 15))
    HoldingFactory(
        customer=customer, market_value=Decimal("5.00"), start_date=date(2026, 2, 10), maturity_date=None
    )

    for month_end in services.month_ends(date(2026, 2, 28), 3):
        services.aum_snapshot_take(month_end_on=month_end, customer_ids=[customer.pk])

    totals = list(
        AumSnapshot.objects.filter(customer=customer).order_by("month_end").values_list("total", flat=True)
    )
    assert totals == [Decimal("0.00"), Decimal("10.00"), Decimal("15.00")]


def test_snapshot_refuses_a_day_that_is_not_a_month_end(world: World) -> None:
    from fincrm.platform.errors import ServiceError

    with pytest.raises(ServiceError) as error:
        services.aum_snapshot_take(month_end_on=date(2026, 3, 30))
    assert error.value.fields == {"month_end": ["Choose the last day of a month."]}


def test_snapshot_job_takes_the_previous_month_end_early_in_the_month(world: World, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    customer = CustomerFactory()
    AccountFactory(customer=customer, balance=Decimal("10.00"))
    monkeypatch.setattr("fincrm.portfolio.jobs.timezone.localdate", lambda: date(2026, 4, 2))

    aum_snapshot()

    assert AumSnapshot.objects.filter(customer=customer, month_end=date(2026, 3, 31)).exists()
    assert "portfolio.aum_snapshot" in jobs.schedules


def test_snapshot_job_does_nothing_mid_month(world: World, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr("fincrm.portfolio.jobs.timezone.localdate", lambda: date(2026, 4, 15))
    aum_snapshot()
    assert not AumSnapshot.objects.exists()


def test_month_ends() -> None:
    assert services.month_ends(date(2026, 3, 15), 3) == [
        date(2025, 12, 31),
        date(2026, 1, 31),
        date(2026, 2, 28),
    ]
    assert services.month_ends(date(2024, 2, 29), 1) == [date(2024, 2, 29)]
