"""Retention duties that turn a deletion request into a restriction (DOMAIN.md, PIPL Art. 47).

A rule returns the date the customer's business relationship ended when a retention duty applies
(AML: identity and transaction records are kept for ``FINCRM_AML_RETENTION_YEARS`` after it ends),
or None when it places no duty. Apps that hold records with a duty (portfolio accounts …) register
a rule; the latest end date among the rules that apply counts::

    retention.register_rule("portfolio.accounts", last_account_closed_on)   # fn(customer) -> date | None
"""

from __future__ import annotations

import datetime
from collections.abc import Callable

from django.conf import settings
from django.utils import timezone

from fincrm.customers.models import Customer, LifecycleStage

Rule = Callable[[Customer], "datetime.date | None"]

DEFAULT_AML_RETENTION_YEARS = 10

_rules: dict[str, Rule] = {}


def register_rule(label: str, rule: Rule) -> None:
    existing = _rules.get(label)
    if existing is not None and existing is not rule:
        raise ValueError(f"a retention rule named {label!r} is already registered")
    _rules[label] = rule


def retention_years() -> int:
    years = getattr(settings, "FINCRM_AML_RETENTION_YEARS", DEFAULT_AML_RETENTION_YEARS)
    return max(int(years), DEFAULT_AML_RETENTION_YEARS)  # the AML law's minimum; never shorter


def business_relationship_rule(customer: Customer) -> datetime.date | None:
    """Someone who became a customer had a business relationship, so AML record keeping applies;
    it ends now, with the deletion request. Leads and prospects never had one."""
    if customer.lifecycle_stage in (LifecycleStage.LEAD, LifecycleStage.PROSPECT):
        return None
    return timezone.localdate()


register_rule("customers.business_relationship", business_relationship_rule)


def add_years(day: datetime.date, years: int) -> datetime.date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February in a year that has none
        return day.replace(year=day.year + years, day=28)


def retained_until(customer: Customer) -> datetime.date | None:
    """The last day the customer's records must be kept, or None when no retention duty applies."""
    ends = [end for rule in _rules.values() if (end := rule(customer)) is not None]
    if not ends:
        return None
    return add_years(max(ends), retention_years())
