"""Pages that change a customer: create (individual or corporate), edit, lifecycle stage, transfer.

Each page goes through the services in fincrm/customers/services/profile.py; the customer comes
from ``access_customer`` (out of scope = not found), never from ``Customer.objects``.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.cache import add_never_cache_headers
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from fincrm.customers.forms import CustomerForm, LifecycleForm, TransferForm
from fincrm.customers.models import Customer, CustomerKind, CustomerStatus
from fincrm.customers.selectors import access_customer, customer_queryset
from fincrm.customers.services import profile as services
from fincrm.platform.access import require_permission
from fincrm.platform.actor import Actor
from fincrm.platform.errors import ServiceError
from fincrm.platform.forms import apply_service_error
from fincrm.platform.views import page, request_actor
from fincrm.security.masking import mask
from fincrm.users.selectors.accounts import UserFilter, org_units_for, teams_for, user_list


def _unit_choices(actor: Actor, action: str) -> list[tuple[int, str]]:
    return [(unit.pk, f"{unit.name} ({unit.code})") for unit in org_units_for(actor=actor, action=action)]


def _team_choices(actor: Actor, action: str, *, current: Any = None) -> list[tuple[int, str]]:
    choices = [(team.pk, f"{team.name} ({team.code})") for team in teams_for(actor=actor, action=action)]
    if current is not None and current.pk not in {pk for pk, _label in choices}:
        choices.append((current.pk, f"{current.name} ({current.code})"))
    return choices


def _manager_choices(actor: Actor, *, current: Any = None) -> list[tuple[int, str]]:
    users = user_list(actor=actor, filters=UserFilter(is_active=True), action=services.REASSIGN)
    choices = [(user.pk, f"{user.full_name} ({user.username})") for user in users]
    if current is not None and current.pk not in {pk for pk, _label in choices}:
        choices.append((current.pk, f"{current.full_name} ({current.username})"))
    return choices


def _label(customer: Customer) -> str:
    return f"{mask('name', customer.name)} · {customer.customer_number}"


def _no_store(response: HttpResponse) -> HttpResponse:
    # Forms carry identifiers the user typed: never cached.
    add_never_cache_headers(response)
    return response


def _announce(request: HttpRequest, customer: Customer) -> None:
    for warning in services.warnings_of(customer):
        messages.warning(request, str(warning.message))
    if customer.status == CustomerStatus.NEEDS_REVIEW:
        messages.info(
            request,
            _("The customer is held for review: its identity needs a check by the institution's reviewers."),
        )


@page
@require_http_methods(["GET", "POST"])
def customer_create(request: HttpRequest) -> HttpResponse:
    actor = request_actor(request)
    require_permission(actor, services.CREATE)
    kind = request.GET.get("kind") or request.POST.get("kind") or CustomerKind.INDIVIDUAL
    if kind not in CustomerKind.values:
        kind = CustomerKind.INDIVIDUAL
    units = _unit_choices(actor, services.CREATE)
    teams = _team_choices(actor, services.CREATE)
    if request.method == "POST":
        form = CustomerForm(request.POST, kind=kind, unit_choices=units, team_choices=teams)
        if form.is_valid():
            try:
                customer = services.customer_create(
                    actor=actor,
                    data=form.service_data(),
                    identity_override_reason=form.cleaned_data.get("identity_override_reason", ""),
                )
            except ServiceError as error:
                apply_service_error(form, error)
            else:
                messages.success(
                    request, _("Customer %(number)s created.") % {"number": customer.customer_number}
                )
                _announce(request, customer)
                return redirect("customers:customer-detail", pk=customer.pk)
    else:
        initial = (
            {"org_unit_id": actor.org_unit_id} if any(pk == actor.org_unit_id for pk, _l in units) else {}
        )
        form = CustomerForm(initial=initial, kind=kind, unit_choices=units, team_choices=teams)
    context = {
        "form": form,
        "kind": kind,
        "kinds": CustomerKind.choices,
        "title": _("New customer"),
        "customer": None,
    }
    return _no_store(render(request, "customers/form_customer.html", context))


@page
@require_http_methods(["GET", "POST"])
def customer_edit(request: HttpRequest, pk: int) -> HttpResponse:
    actor = request_actor(request)
    customer = access_customer(actor, pk, services.EDIT)
    if request.method == "POST":
        form = CustomerForm(request.POST, kind=customer.kind, customer=customer)
        if form.is_valid():
            try:
                customer = services.customer_update(
                    actor=actor,
                    customer_id=customer.pk,
                    data=form.service_data(),
                    identity_override_reason=form.cleaned_data.get("identity_override_reason", ""),
                )
            except ServiceError as error:
                apply_service_error(form, error)
            else:
                messages.success(request, _("Customer saved."))
                _announce(request, customer)
                return redirect("customers:customer-detail", pk=customer.pk)
    else:
        form = CustomerForm(kind=customer.kind, customer=customer)
    context = {
        "form": form,
        "kind": customer.kind,
        "title": _("Edit customer"),
        "customer": customer,
        "customer_label": _label(customer),
    }
    return _no_store(render(request, "customers/form_customer.html", context))


@page
@require_http_methods(["GET", "POST"])
def customer_lifecycle(request: HttpRequest, pk: int) -> HttpResponse:
    actor = request_actor(request)
    customer = access_customer(actor, pk, services.EDIT)
    if request.method == "POST":
        form = LifecycleForm(request.POST, current=customer.lifecycle_stage)
        if form.is_valid():
            try:
                services.customer_lifecycle_change(actor=actor, customer_id=customer.pk, **form.cleaned_data)
            except ServiceError as error:
                apply_service_error(form, error)
            else:
                messages.success(request, _("Lifecycle stage changed."))
                return redirect("customers:customer-detail", pk=customer.pk)
    else:
        form = LifecycleForm(current=customer.lifecycle_stage)
    context = {
        "form": form,
        "title": _("Change lifecycle stage"),
        "customer": customer,
        "customer_label": _label(customer),
    }
    return render(request, "customers/edit_lifecycle.html", context)


@page
@require_http_methods(["GET", "POST"])
def customer_transfer(request: HttpRequest, pk: int) -> HttpResponse:
    actor = request_actor(request)
    customer = access_customer(actor, pk, services.REASSIGN)
    managers = _manager_choices(actor, current=customer.primary_manager)
    teams = _team_choices(actor, services.REASSIGN, current=customer.covering_team)
    if request.method == "POST":
        form = TransferForm(request.POST, manager_choices=managers, team_choices=teams)
        if form.is_valid():
            try:
                services.customer_transfer(actor=actor, customer_id=customer.pk, **form.cleaned_data)
            except ServiceError as error:
                apply_service_error(form, error)
            else:
                messages.success(request, _("Customer transferred."))
                if _still_visible(actor, customer.pk):
                    return redirect("customers:customer-detail", pk=customer.pk)
                return redirect("customers:customer-list")
    else:
        initial = {
            "primary_manager_id": customer.primary_manager_id,
            "covering_team_id": customer.covering_team_id,
        }
        form = TransferForm(initial=initial, manager_choices=managers, team_choices=teams)
    context = {
        "form": form,
        "title": _("Transfer customer"),
        "customer": customer,
        "customer_label": _label(customer),
    }
    return render(request, "customers/edit_transfer.html", context)


def _still_visible(actor: Actor, customer_id: int) -> bool:
    """Whether the actor still sees the customer after a transfer (without recording a denial)."""
    return customer_queryset(actor).filter(pk=customer_id).exists()
