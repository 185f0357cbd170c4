"""Reads of customers, always scoped with ``visible_to``. Other apps read customers only through here."""

from __future__ import annotations

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


def access_customer(
    actor: Actor, customer_id: object, action: str = VIEW, *, for_update: bool = False
) -> Customer:
    """The customer, or NotFound whether it is missing or outside the actor's scope."""
    queryset = customer_queryset(actor, action)
    if for_update:
        queryset = queryset.select_for_update()
    return access_object(queryset, customer_id, actor=actor, action=action, object_type="customer")
