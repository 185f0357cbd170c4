"""The customer 360 page: one customer in the actor's scope, masked, section by section.

Identifiers are shown through the security app's unmask control (``{% unmask_control %}``: the
masked value, and "show" with a reason and step-up for those who may). Sections of capabilities
that other apps provide (relationships, the group tree, consents, custom fields) use those apps'
partials when they are installed and a plain fallback until then, so the page never breaks on a
capability that is not there yet.
"""

from __future__ import annotations

from decimal import Decimal
from functools import cache
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.template import TemplateDoesNotExist
from django.template.loader import get_template
from django.urls import NoReverseMatch, reverse
from django.utils.cache import patch_cache_control
from django.views.decorators.http import require_http_methods

from fincrm.customers.selectors import VIEW
from fincrm.customers.selectors.profile import (
    Customer360,
    customer_360,
    optional_function,
    record_opened_after,
)
from fincrm.platform.actor import Actor
from fincrm.platform.views import page, request_actor


@cache
def _template_exists(name: str) -> bool:
    try:
        get_template(name)
    except TemplateDoesNotExist:
        return False
    return True


def _reverse(name: str, *args: Any) -> str | None:
    try:
        return reverse(name, args=args)
    except NoReverseMatch:
        return None


def aum_chart_data(profile: Customer360) -> dict[str, Any]:
    """The month-end AUM mix for the chart (profile.js): amounts as exact decimal strings."""
    aum = profile.aum
    return {
        "currency": aum.currency,
        "months": [point.month_end.strftime("%Y-%m") for point in aum.points],
        "series": [
            {
                "code": choice.code,
                "name": choice.label,
                "data": [str(point.mix.get(choice.code, Decimal(0))) for point in aum.points],
            }
            for choice in aum.classes
        ],
        "totals": [str(point.total) for point in aum.points],
    }


def _actions(actor: Actor, customer_id: int) -> list[dict[str, str]]:
    """Links to the other customer pages the actor may use (those that exist yet)."""
    candidates = [
        ("customers:customer-edit", "customer.edit", "edit"),
        ("customers:customer-lifecycle", "customer.edit", "lifecycle"),
        ("customers:customer-transfer", "customer.reassign", "transfer"),
        ("customers:customer-tags-edit", "customer.edit", "tags"),
    ]
    actions = []
    for name, permission, key in candidates:
        url = _reverse(name, customer_id) if actor.can(permission) else None
        if url is not None:
            actions.append({"key": key, "url": url})
    return actions


def _custom_fields(actor: Actor, profile: Customer360) -> dict[str, Any] | None:
    """The custom-fields capability's panel context, when it is installed."""
    context = optional_function("fincrm.customers.views.custom_fields", "custom_fields_context")
    if context is None or not _template_exists("customers/_custom_fields.html"):
        return None
    panel: dict[str, Any] = context(actor, profile.customer)
    return panel


def _consent_panel() -> Any:
    """The privacy app's consent panel (list, withdraw, record), when it is installed."""
    if not _template_exists("privacy/_consents.html"):
        return None
    return optional_function("fincrm.privacy.views", "consent_panel_context")


@page
@require_http_methods(["GET"])
def customer_detail(request: HttpRequest, pk: int) -> HttpResponse:
    actor = request_actor(request)
    consent_panel = _consent_panel()
    # The panel shows the consents itself (with its controls), so the 360 does not build them twice.
    profile = customer_360(actor, pk, consents=consent_panel is None)
    context: dict[str, Any] = {
        "profile": profile,
        "customer": profile.customer,
        "identity": profile.identity,
        "aum_chart": aum_chart_data(profile),
        "actions": _actions(actor, profile.identity.customer_id),
        "partials": {
            "tags": _template_exists("customers/_tags.html"),
            "relationships": profile.relationships is not None
            and _template_exists("customers/_relationships.html"),
            "group_tree": profile.group_tree is not None and _template_exists("customers/_group_tree.html"),
            "consents": consent_panel is not None,
        },
    }
    if consent_panel is not None:
        # The 360 has reached the customer for VIEW: the panel does not check that scope again,
        # and takes the consents the 360's statement has read with the rest.
        context.update(
            consent_panel(actor, profile.identity.customer_id, reached_for=VIEW, read=profile.consents_read)
        )
    custom_fields = _custom_fields(actor, profile)
    context["partials"]["custom_fields"] = custom_fields is not None
    context.update(custom_fields or {})
    context["can_edit_relationships"] = actor.can("customer.edit")
    response = render(request, "customers/profile.html", context)
    # Personal financial information: never kept by a browser or proxy cache.
    patch_cache_control(response, private=True, no_store=True)
    record_opened_after(response, actor, profile.identity.customer_id, via="page")
    return response
