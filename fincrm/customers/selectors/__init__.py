"""Reads of customers, always scoped with ``visible_to``. Other apps read customers only through here."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from django.db.models import QuerySet

from fincrm.customers.models import Customer, CustomerStatus, SecondaryManager
from fincrm.org.models import OrgUnit, is_root_path
from fincrm.platform.access import access_object
from fincrm.platform.actor import Actor, Scope

VIEW = "customer.view"

# Merged customers live on in their survivor; restricted ones are hidden from every use.
HIDDEN_STATUSES = (CustomerStatus.MERGED, CustomerStatus.RESTRICTED)


def customer_queryset(actor: Actor, action: str = VIEW) -> QuerySet[Customer]:
    """Every customer the actor may act on with ``action``: the start of every customer read."""
    return Customer.objects.visible_to(actor, action).exclude(status__in=HIDDEN_STATUSES)


# Access already granted during one composite read (the 360 asks the portfolio, privacy and
# relationship selectors, each of which checks the customer's scope again).
_granted: ContextVar[dict[tuple[int, str, str], tuple[Actor, Customer]] | None] = ContextVar(
    "granted", default=None
)


@contextmanager
def one_read() -> Iterator[None]:
    """Within the block, a customer once accessed for an action is not fetched again for it.
    For reads only: write paths lock with ``for_update`` and are never served from here."""
    token = _granted.set({})
    try:
        yield
    finally:
        _granted.reset(token)


def remember_access(actor: Actor, customer: Customer, action: str = VIEW) -> None:
    granted = _granted.get()
    if granted is not None:
        granted[(id(actor), str(customer.pk), action)] = (actor, customer)


def access_customer(
    actor: Actor, customer_id: object, action: str = VIEW, *, for_update: bool = False
) -> Customer:
    """The customer, or NotFound whether it is missing or outside the actor's scope."""
    granted = _granted.get()
    if granted is not None and not for_update:
        known = granted.get((id(actor), str(customer_id), action))
        if known is not None and known[0] is actor:
            return known[1]
    queryset = customer_queryset(actor, action)
    if for_update:
        queryset = queryset.select_for_update()
    customer = access_object(queryset, customer_id, actor=actor, action=action, object_type="customer")
    if not for_update:
        remember_access(actor, customer, action)
    return customer


def scope_candidates(actor: Actor, action: str = VIEW, *, repeats: bool = False) -> QuerySet[Any] | None:
    """For actors without the institution scope: the ids their scopes can reach, as a UNION of
    indexed lookups the database can start from. The OR that ``visible_to`` builds hides the
    scope's size from the planner (it guessed 75 % for a sub-branch's 1 %, and walked 26,000
    customers by AUM to find 20). None for the institution scope: nothing to narrow.

    ``repeats``: a UNION ALL, listing twice a customer two scopes reach; the database then reads
    no more than a LIMIT asks (a UNION reads every id first to drop the repeats)."""
    scopes = actor.scopes_for(action)
    if not scopes or Scope.INSTITUTION in scopes or actor.user_id is None:
        return None
    if Scope.SUBTREE in scopes and is_root_path(actor.org_unit_path):
        return None  # a subtree at the institution's root reaches everyone
    parts: list[QuerySet[Any]] = [
        Customer.objects.filter(primary_manager_id=actor.user_id).values("pk"),
        SecondaryManager.objects.filter(user_id=actor.user_id).values("customer_id"),
    ]
    if scopes - {Scope.OWN} and actor.team_ids:
        parts.append(Customer.objects.filter(covering_team_id__in=sorted(actor.team_ids)).values("pk"))
    if Scope.BRANCH in scopes and actor.org_unit_id is not None:
        parts.append(Customer.objects.filter(org_unit_id=actor.org_unit_id).values("pk"))
    if Scope.SUBTREE in scopes and actor.org_unit_path:
        units = OrgUnit.objects.filter(path__startswith=actor.org_unit_path).values("pk")
        parts.append(Customer.objects.filter(org_unit_id__in=units).values("pk"))
    first, *rest = parts
    return first.union(*rest, all=repeats)
