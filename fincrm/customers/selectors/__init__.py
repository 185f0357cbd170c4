"""Reads of customers, always scoped with ``visible_to``. Other apps read customers only through here."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from django.db.models import QuerySet

from fincrm.customers.models import Customer, CustomerStatus
from fincrm.platform.access import access_object
from fincrm.platform.actor import Actor

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
