"""Merge movers: when two customers merge, their portfolio rows move to the survivor, one
set-based UPDATE per table; the survivor's AUM is recomputed by a job after the merge commits."""

from __future__ import annotations

from decimal import Decimal

from fincrm.customers.merging import register_mover
from fincrm.platform import jobs
from fincrm.portfolio.models import Account, AumSnapshot, Holding, Transaction


def move_accounts(survivor_id: int, absorbed_id: int) -> int:
    return Account.objects.filter(customer_id=absorbed_id).update(customer_id=survivor_id)


def move_holdings(survivor_id: int, absorbed_id: int) -> int:
    moved = Holding.objects.filter(customer_id=absorbed_id).update(customer_id=survivor_id)
    jobs.enqueue(
        "portfolio.aum_refresh",
        customer_ids=[survivor_id, absorbed_id],
        dedupe_key=f"portfolio.aum_refresh.merge.{survivor_id}.{absorbed_id}",
    )
    return moved


def move_transactions(survivor_id: int, absorbed_id: int) -> int:
    return Transaction.objects.filter(customer_id=absorbed_id).update(customer_id=survivor_id)


def move_snapshots(survivor_id: int, absorbed_id: int) -> int:
    """Months only the absorbed customer has move over; months both have are added together
    (a month-end history of at most a few dozen rows, so this one is done row by row)."""
    survivor_months = {
        snapshot.month_end: snapshot for snapshot in AumSnapshot.objects.filter(customer_id=survivor_id)
    }
    absorbed = list(AumSnapshot.objects.filter(customer_id=absorbed_id))
    both = [snapshot for snapshot in absorbed if snapshot.month_end in survivor_months]
    for snapshot in both:
        target = survivor_months[snapshot.month_end]
        target.total += snapshot.total
        mix = dict(target.mix)
        for asset_class, value in snapshot.mix.items():
            mix[asset_class] = str(Decimal(str(mix.get(asset_class, "0"))) + Decimal(str(value)))
        target.mix = mix
        target.save(update_fields=["total", "mix"])
    AumSnapshot.objects.filter(pk__in=[snapshot.pk for snapshot in both]).delete()
    moved = AumSnapshot.objects.filter(customer_id=absorbed_id).update(customer_id=survivor_id)
    return moved + len(both)


def register() -> None:
    register_mover("portfolio.account", move_accounts)
    register_mover("portfolio.holding", move_holdings)
    register_mover("portfolio.transaction", move_transactions)
    register_mover("portfolio.aum_snapshot", move_snapshots)
