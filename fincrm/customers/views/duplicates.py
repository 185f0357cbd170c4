"""Pages for duplicates and merge: the queue, the compare-and-merge page, dismissing a pair, and
what a merged customer's address shows (a pointer to the survivor)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from fincrm.customers.models import Customer, DuplicateCandidate
from fincrm.customers.selectors.duplicates import (
    MERGE,
    MERGE_FIELDS,
    access_duplicate,
    compare_rows,
    duplicate_list,
    has_value,
    merged_customer,
)
from fincrm.customers.services import merge as services
from fincrm.customers.views import profile as profile_views
from fincrm.platform.access import require_permission
from fincrm.platform.errors import NotFound, ServiceError
from fincrm.platform.forms import apply_service_error
from fincrm.platform.pagination import InvalidCursor, keyset_page
from fincrm.platform.views import page, request_actor
from fincrm.security.masking import mask

FIRST = "first"
SECOND = "second"
PAGE_SIZE = 50


class MergeForm(forms.Form):
    """Which of the two customers survives, whose value each field keeps, and why."""

    survivor = forms.ChoiceField(
        label=gettext_lazy("Customer that survives"),
        choices=[(FIRST, gettext_lazy("Left")), (SECOND, gettext_lazy("Right"))],
        widget=forms.RadioSelect(attrs={"class": "form-check-input"}),
    )
    reason = forms.CharField(
        label=gettext_lazy("Reason"),
        max_length=services.REASON_MAX_LENGTH,
        help_text=gettext_lazy(
            "Why these two records are one and the same customer (kept in the audit log)."
        ),
        widget=forms.Textarea(attrs={"class": "form-control", "rows": 2}),
    )

    def __init__(self, *args: Any, keys: list[str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.keys = keys
        for key in keys:
            self.fields[f"keep_{key}"] = forms.ChoiceField(
                label=str(MERGE_FIELDS[key].label),
                choices=[(FIRST, gettext_lazy("Left")), (SECOND, gettext_lazy("Right"))],
                widget=forms.RadioSelect(attrs={"class": "form-check-input"}),
            )

    def field_choices(self) -> dict[str, str]:
        """The choices as the merge service takes them: survivor / absorbed per field."""
        survivor = self.cleaned_data["survivor"]
        return {
            key: services.SURVIVOR if self.cleaned_data[f"keep_{key}"] == survivor else services.ABSORBED
            for key in self.keys
        }


class DismissForm(forms.Form):
    reason = forms.CharField(
        label=gettext_lazy("Why this is not a duplicate"),
        max_length=services.REASON_MAX_LENGTH,
        required=False,
        widget=forms.TextInput(attrs={"class": "form-control"}),
    )


def _keys_for(first: Customer, second: Customer) -> list[str]:
    individual = first.is_individual and second.is_individual
    return [key for key, spec in MERGE_FIELDS.items() if individual or not spec.individual_only]


def _initial(first: Customer, second: Customer, keys: list[str]) -> dict[str, str]:
    """Keep the older record (lower id) and its values, filling its blanks from the other one."""
    initial = {"survivor": FIRST}
    for key in keys:
        keep_second = not has_value(first, key) and has_value(second, key)
        initial[f"keep_{key}"] = SECOND if keep_second else FIRST
    return initial


def _party(customer: Customer) -> dict[str, Any]:
    return {
        "pk": customer.pk,
        "customer_number": customer.customer_number,
        "name": mask("name", customer.name),
        "kind": customer.get_kind_display(),
        "status": customer.get_status_display(),
        "org_unit": customer.org_unit.name,
        "created_at": customer.created_at,
    }


# ---------------------------------------------------------------- the queue


@page
@never_cache
@require_http_methods(["GET"])
def duplicate_list_view(request: HttpRequest) -> HttpResponse:
    actor = request_actor(request)
    require_permission(actor, MERGE)
    reason = request.GET.get("reason", "")
    if reason not in DuplicateCandidate.Reason.values:
        reason = ""
    queryset = duplicate_list(actor=actor, reason=reason)
    try:
        result = keyset_page(queryset, limit=PAGE_SIZE, cursor=request.GET.get("cursor") or None)
    except InvalidCursor:
        result = keyset_page(queryset, limit=PAGE_SIZE, cursor=None)
    rows = [
        {
            "candidate": candidate,
            "first": _party(candidate.first),
            "second": _party(candidate.second),
        }
        for candidate in result.items
    ]
    context = {
        "rows": rows,
        "reason": reason,
        "reasons": DuplicateCandidate.Reason.choices,
        "next_cursor": result.next_cursor,
    }
    return render(request, "customers/duplicate_list.html", context)


# ---------------------------------------------------------------- compare and merge


@page
@never_cache
@require_http_methods(["GET", "POST"])
def duplicate_compare(request: HttpRequest, pk: int) -> HttpResponse:
    actor = request_actor(request)
    candidate = access_duplicate(actor, pk)
    first, second = candidate.first, candidate.second
    keys = _keys_for(first, second)
    if request.method == "POST":
        form = MergeForm(request.POST, keys=keys)
        if form.is_valid():
            survivor, absorbed = (
                (first, second) if form.cleaned_data["survivor"] == FIRST else (second, first)
            )
            try:
                services.customers_merge(
                    actor=actor,
                    survivor_id=survivor.pk,
                    absorbed_id=absorbed.pk,
                    field_choices=form.field_choices(),
                    reason=form.cleaned_data["reason"],
                )
            except ServiceError as error:
                apply_service_error(form, error)
            else:
                messages.success(
                    request,
                    _("Customer %(absorbed)s was merged into %(survivor)s.")
                    % {"absorbed": absorbed.customer_number, "survivor": survivor.customer_number},
                )
                return redirect("customers:customer-detail", pk=survivor.pk)
    else:
        form = MergeForm(initial=_initial(first, second, keys), keys=keys)
    rows = [
        {"row": row, "field": form[f"keep_{row.key}"]}
        for row in compare_rows(first, second)
        if row.key in keys
    ]
    context = {
        "candidate": candidate,
        "first": _party(first),
        "second": _party(second),
        "rows": rows,
        "form": form,
        "dismiss_form": DismissForm(),
    }
    return render(request, "customers/duplicate_compare.html", context)


@page
@require_http_methods(["POST"])
def duplicate_dismiss(request: HttpRequest, pk: int) -> HttpResponse:
    actor = request_actor(request)
    candidate = access_duplicate(actor, pk)
    form = DismissForm(request.POST)
    if form.is_valid():
        try:
            services.duplicate_dismiss(
                actor=actor, candidate_id=candidate.pk, reason=form.cleaned_data["reason"]
            )
        except ServiceError as error:
            messages.error(request, str(error.message))
            return redirect("customers:duplicate-compare", pk=candidate.pk)
        messages.success(request, _("The pair was marked as not a duplicate."))
        return redirect("customers:duplicate-list")
    messages.error(request, _("The reason is too long."))
    return redirect("customers:duplicate-compare", pk=candidate.pk)


# ---------------------------------------------------------------- a merged customer's address


@page
@require_http_methods(["GET"])
def customer_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """The customer's 360; for a customer merged into another, a page pointing to the survivor
    (when the actor's scope reaches the merged record; the link only when it reaches the survivor).
    Looked up only after the 360 answered not found, so the 360's query count is unchanged."""
    try:
        return profile_views.customer_detail(request, pk)
    except NotFound:
        merged = merged_customer(request_actor(request), pk)
        if merged is None:
            raise
    return render(request, "customers/merged_customer.html", {"merged": merged})
