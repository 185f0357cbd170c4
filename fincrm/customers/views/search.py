"""The search page: the top bar's box posts here. Names and identifiers are shown masked.

Every search is a POST, so what was typed (a mobile, an ID number) never lands in a URL, a
browser history or an access log. The top bar asks for live results as the user types (HTMX,
POST too); live results cover names and pinyin only: an identifier is searched, and audited,
when the form is submitted.
"""

from __future__ import annotations

from dataclasses import dataclass

from django import forms
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import NoReverseMatch, reverse
from django.utils.translation import get_language
from django.utils.translation import gettext_lazy as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from fincrm.customers.models import Customer
from fincrm.customers.selectors.search import (
    DEFAULT_LIMIT,
    MAX_QUERY_LENGTH,
    QueryKind,
    classify_query,
    customer_search,
)
from fincrm.platform.choices import choice_labels
from fincrm.platform.errors import ServiceError
from fincrm.platform.forms import apply_service_error
from fincrm.platform.views import permission_required_page, request_actor
from fincrm.security.masking import mask

VIEW = "customer.view"
LIVE_LIMIT = 8
LIVE_KINDS = ((QueryKind.NAME,), (QueryKind.PINYIN,))

KIND_LABELS = {
    QueryKind.NAME: _("name"),
    QueryKind.PINYIN: _("pinyin or initials"),
    QueryKind.MOBILE: _("mobile number"),
    QueryKind.ID_NUMBER: _("ID number"),
    QueryKind.ACCOUNT_NUMBER: _("account number"),
    QueryKind.EMAIL: _("e-mail"),
    QueryKind.CUSTOMER_NUMBER: _("customer number"),
}


class CustomerSearchForm(forms.Form):
    q = forms.CharField(
        label=_("Search customers"),
        max_length=MAX_QUERY_LENGTH,
        strip=True,
        widget=forms.TextInput(
            attrs={"autocomplete": "off", "spellcheck": "false", "class": "form-control", "type": "search"}
        ),
    )


@dataclass(frozen=True)
class SearchRow:
    """One result as the page shows it: masked, with the link to the customer's 360."""

    pk: int
    customer_number: str
    name: str
    mobile: str
    id_number: str
    org_unit: str
    manager: str
    value_tier: str

    @property
    def url(self) -> str:
        """Worked out when a page shows it (the API's answer has no link)."""
        try:
            return reverse("customers:customer-detail", args=[self.pk])
        except NoReverseMatch:
            return ""


def search_rows(customers: list[Customer]) -> list[SearchRow]:
    # get_value_tier_display()'s labels, from the table built once per language.
    tiers = choice_labels(Customer._meta.label, "value_tier", get_language())
    return [
        SearchRow(
            pk=customer.pk,
            customer_number=customer.customer_number,
            name=mask("name", customer.name),
            mobile=mask("mobile", customer.mobile or ""),
            id_number=mask("id_number", customer.id_number or ""),
            org_unit=customer.org_unit.name,
            manager=mask("name", customer.primary_manager.full_name) if customer.primary_manager else "",
            value_tier=tiers.get(customer.value_tier, customer.value_tier),
        )
        for customer in customers
    ]


def _is_htmx(request: HttpRequest) -> bool:
    return request.headers.get("HX-Request") == "true"


@never_cache
@permission_required_page(VIEW)
@require_http_methods(["GET", "POST"])
def customer_search_view(request: HttpRequest) -> HttpResponse:
    """GET: the empty form. POST: the results (the whole page, or the live list for HTMX)."""
    actor = request_actor(request)
    if request.method == "GET":
        return render(request, "customers/search.html", {"form": CustomerSearchForm()})
    form = CustomerSearchForm(request.POST)
    live = _is_htmx(request) and request.POST.get("live") == "1"
    context: dict[str, object] = {"form": form, "searched": False}
    if form.is_valid():
        text = form.cleaned_data["q"]
        try:
            if live and classify_query(text).kinds not in LIVE_KINDS:
                # Numbers are searched (identifiers audited) on Enter, not keystroke by keystroke.
                return render(request, "customers/search_live.html", {"identifier": True})
            result = customer_search(actor=actor, query=text, limit=LIVE_LIMIT if live else DEFAULT_LIMIT)
        except ServiceError as error:
            if live:
                return HttpResponse("")
            apply_service_error(form, error)
        else:
            context.update(
                searched=True,
                rows=search_rows(result.customers),
                more=result.more,
                kind_labels=[KIND_LABELS[kind] for kind in result.query.kinds],
                limit=LIVE_LIMIT if live else DEFAULT_LIMIT,
            )
    elif live:
        return HttpResponse("")
    if live:
        return render(request, "customers/search_live.html", context)
    return render(request, "customers/search.html", context)
