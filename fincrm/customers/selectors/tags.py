"""Reads of tags: the definitions (reference data, managed with ``customer.tag.manage``) and the tags
of customers the caller already holds (ids from a scoped customer read)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.db.models import QuerySet

from fincrm.customers.models import CustomerTag, Tag
from fincrm.platform.access import access_object
from fincrm.platform.actor import Actor

MANAGE_TAGS = "customer.tag.manage"

# Tabler badge classes per tag colour (light backgrounds keep the text readable).
BADGE_CLASSES: dict[str, str] = {
    Tag.Colour.BLUE: "bg-blue-lt",
    Tag.Colour.GREEN: "bg-green-lt",
    Tag.Colour.RED: "bg-red-lt",
    Tag.Colour.ORANGE: "bg-orange-lt",
    Tag.Colour.PURPLE: "bg-purple-lt",
    Tag.Colour.GREY: "bg-secondary-lt",
}


def badge_class(colour: str) -> str:
    return BADGE_CLASSES.get(colour, "bg-secondary-lt")


def tag_list(*, include_inactive: bool = True) -> QuerySet[Tag]:
    """Tag definitions ordered by group then label (tags are institution-wide reference data)."""
    tags = Tag.objects.order_by("group", "label", "id")
    return tags if include_inactive else tags.filter(is_active=True)


def access_tag(actor: Actor, tag_id: object, action: str = MANAGE_TAGS) -> Tag:
    """A tag the actor may manage, or NotFound (recorded as a denial) without the permission."""
    queryset = Tag.objects.all() if actor.can(action) else Tag.objects.none()
    return access_object(queryset, tag_id, actor=actor, action=action, object_type="tag")


def tags_for(customer_ids: Iterable[int], *, include_inactive: bool = False) -> dict[int, list[Tag]]:
    """Each customer's tags, in one query. Callers pass ids they read through a scoped selector;
    a deactivated tag stays attached but is not shown unless asked for."""
    ids = sorted({int(pk) for pk in customer_ids})
    result: dict[int, list[Tag]] = {pk: [] for pk in ids}
    if not ids:
        return result
    links = CustomerTag.objects.filter(customer_id__in=ids).select_related("tag")
    if not include_inactive:
        links = links.filter(tag__is_active=True)
    for link in links.order_by("tag__group", "tag__label", "tag_id"):
        result[link.customer_id].append(link.tag)
    return result


def attach_tags(customers: Iterable[Any], *, attribute: str = "tag_list") -> None:
    """Set ``customer.tag_list`` on every customer of a page, in one query, for
    ``{% include "customers/_tags.html" with tags=customer.tag_list %}``."""
    rows = list(customers)
    by_customer = tags_for(customer.pk for customer in rows)
    for customer in rows:
        setattr(customer, attribute, by_customer.get(customer.pk, []))
