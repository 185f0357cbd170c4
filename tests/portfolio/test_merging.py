from __future__ import annotations

from datetime import date
from decimal import Decimal

from fincrm.customers.merging import movers
from fincrm.platform.models import Job
from fincrm.portfolio.models import Account, AumSnapshot, Holding, Transaction
from tests.customers.factories import CustomerFactory
from tests.portfolio.factories import AccountFactory, HoldingFactory, TransactionFactory
from tests.support.world import World


def test_movers_move_every_portfolio_row_to_the_survivor(world: World) -> None:
    survivor, absorbed = CustomerFactory(), CustomerFactory()
    account = AccountFactory(customer=absorbed)
    HoldingFactory(customer=absorbed, account=account)
    TransactionFactory(customer=absorbed, account=account)
    AumSnapshot.objects.create(
        customer=survivor, month_end=date(2026, 1, 31), total=Decimal("10.00"), mix={"deposit": "10.00"}
    )
    AumSnapshot.objects.create(
        customer=absorbed, month_end=date(2026, 1, 31), total=Decimal("5.50"), mix={"deposit": "5.50"}
    )
    AumSnapshot.objects.create(customer=absorbed, month_end=date(2026, 2, 28), total=Decimal("7.00"), mix={})

    registered = movers()
    moved = {
        label: registered[label](survivor.pk, absorbed.pk)
        for label in sorted(registered)
        if label.startswith("portfolio.")
    }

    assert moved == {
        "portfolio.account": 1,
        "portfolio.aum_snapshot": 2,
        "portfolio.holding": 1,
        "portfolio.transaction": 1,
    }
    for model in (Account, Holding, Transaction, AumSnapshot):
        assert not model.objects.filter(customer=absorbed).exists()
    january = AumSnapshot.objects.get(customer=survivor, month_end=date(2026, 1, 31))
    assert (january.total, january.mix) == (Decimal("15.50"), {"deposit": "15.50"})
    assert Job.objects.filter(
        task="portfolio.aum_refresh", payload={"customer_ids": [survivor.pk, absorbed.pk]}
    ).exists()
