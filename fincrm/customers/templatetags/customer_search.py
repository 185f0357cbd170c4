"""``{% customer_search_box place %}``: the top bar's search box, for actors who may view customers."""

from __future__ import annotations

from typing import Any

from django import template
from django.urls import NoReverseMatch, reverse

register = template.Library()

VIEW = "customer.view"


@register.inclusion_tag("customers/search_box.html", takes_context=True)
def customer_search_box(context: template.Context, place: str = "desktop") -> dict[str, Any]:
    request = context.get("request")
    actor = getattr(request, "actor", None)
    show = actor is not None and actor.is_authenticated and actor.can(VIEW)
    try:
        url = reverse("customers:search")
    except NoReverseMatch:
        show, url = False, ""
    return {"show": show, "url": url, "place": place, "csrf_token": context.get("csrf_token", "")}
