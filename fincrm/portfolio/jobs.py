"""The portfolio's background work: AUM kept current and the month-end snapshots."""

from __future__ import annotations

from datetime import time

from django.utils import timezone

from fincrm.platform.jobs import job, periodic
from fincrm.portfolio import services

# A missed night is caught up on the following days; the snapshot skips rows already taken.
SNAPSHOT_CATCH_UP_DAYS = 3


@job("portfolio.aum_refresh", max_attempts=5)
def aum_refresh(*, customer_ids: list[int]) -> None:
    services.aum_refresh(customer_ids)


@periodic("portfolio.aum_refresh_all", at=time(1, 0))
def aum_refresh_all() -> None:
    """Every customer once a night: the day's exchange rates move every foreign-currency figure."""
    services.aum_refresh_all()


@periodic("portfolio.aum_snapshot", at=time(1, 30))
def aum_snapshot() -> None:
    """In the first days of a month, record every customer's AUM at the previous month end."""
    today = timezone.localdate()
    if today.day <= SNAPSHOT_CATCH_UP_DAYS:
        services.aum_snapshot_take(month_end_on=services.previous_month_end(today))
