"""Pages for a customer's links: relationships, household and corporate group.

One page per customer (customer.view) shows them all; the forms on it (customer.edit on the customer)
post to small views that call one service each and come back to the page. Other customers are named
by their customer number and must be visible to the actor.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods

from fincrm.customers.forms import text_field
from fincrm.customers.models import Customer, CustomerKind, HouseholdMember, Relationship
from fincrm.customers.selectors import VIEW, access_customer, customer_queryset
from fincrm.customers.selectors.relationships import (
    access_household,
    access_relationship,
    group_tree,
    household_of,
    relationships_for,
)
from fincrm.customers.services import relationships as services
from fincrm.customers.views.tags import customer_url
from fincrm.platform.actor import Actor
from fincrm.platform.errors import ServiceError
from fincrm.platform.forms import apply_service_error
from fincrm.platform.views import page, request_actor

EDIT = "customer.edit"


def _date(label: Any) -> forms.DateField:
    return forms.DateField(
        label=label, required=False, widget=forms.DateInput(attrs={"class": "form-control", "type": "date"})
    )


NUMBER_HELP = gettext_lazy("The other customer's customer number.")


class RelationshipForm(forms.Form):
    related_number = text_field(gettext_lazy("Related customer"), 32, help_text=NUMBER_HELP, required=True)
    kind = forms.ChoiceField(
        label=gettext_lazy("Is this customer's"),
        choices=Relationship.Kind.choices,
        widget=forms.Select(attrs={"class": "form-select"}),
    )
    starts_on = _date(gettext_lazy("Start date"))
    ends_on = _date(gettext_lazy("End date"))
    note = text_field(gettext_lazy("Note"), 200, required=False)


class HouseholdCreateForm(forms.Form):
    name = text_field(gettext_lazy("Household name"), 200, help_text=gettext_lazy("e.g. 张家"), required=True)


class HouseholdMemberForm(forms.Form):
    member_number = text_field(gettext_lazy("Customer to add"), 32, help_text=NUMBER_HELP, required=True)
    role = forms.ChoiceField(
        label=gettext_lazy("Role"),
        choices=HouseholdMember.Role.choices,
        initial=HouseholdMember.Role.MEMBER,
        widget=forms.Select(attrs={"class": "form-select"}),
    )


class ParentCompanyForm(forms.Form):
    parent_number = text_field(
        gettext_lazy("Parent company"),
        32,
        required=False,
        help_text=gettext_lazy("The parent's customer number; leave empty for a top company."),
    )


def _customer_by_number(actor: Actor, number: str, field: str) -> int:
    """The id of the visible customer with this number, or a field error (no existence leak)."""
    found = (
        customer_queryset(actor, VIEW)
        .filter(customer_number=number.strip())
        .values_list("pk", flat=True)
        .first()
    )
    if found is None:
        raise ServiceError.field(
            field, _("No customer you may see has this customer number."), code="not_found"
        )
    return found


def relationships_context(actor: Actor, customer: Customer) -> dict[str, Any]:
    """What ``customers/_relationships.html`` and ``customers/_group_tree.html`` need."""
    tree = group_tree(actor, customer.pk) if customer.kind == CustomerKind.CORPORATE else None
    return {
        "customer": customer,
        "relationships": relationships_for(actor, customer.pk),
        "household": household_of(actor, customer.pk),
        "tree": tree,
    }


def _can_edit(actor: Actor, customer: Customer) -> bool:
    return actor.can(EDIT) and customer_queryset(actor, EDIT).filter(pk=customer.pk).exists()


def _render_page(request: HttpRequest, customer: Customer, **bound: forms.Form) -> HttpResponse:
    actor = request_actor(request)
    context = relationships_context(actor, customer)
    can_edit = _can_edit(actor, customer)
    context.update(
        {
            "back_url": customer_url(customer.pk),
            "can_edit_relationships": can_edit,
            "manage_link": False,
            "relationship_form": bound.get("relationship_form") or RelationshipForm(),
            "household_form": bound.get("household_form") or HouseholdCreateForm(),
            "member_form": bound.get("member_form") or HouseholdMemberForm(),
            "parent_form": bound.get("parent_form")
            or ParentCompanyForm(initial={"parent_number": _parent_number(actor, customer)}),
        }
    )
    status = 400 if bound else 200
    return render(request, "customers/relationship_list.html", context, status=status)


def _parent_number(actor: Actor, customer: Customer) -> str:
    if customer.parent_company_id is None:
        return ""
    parent = (
        customer_queryset(actor, VIEW)
        .filter(pk=customer.parent_company_id)
        .values_list("customer_number", flat=True)
    )
    return parent.first() or ""


def _back(customer_id: int) -> HttpResponse:
    return redirect("customers:relationship-list", pk=customer_id)


@page
@require_http_methods(["GET"])
def relationship_list(request: HttpRequest, pk: int) -> HttpResponse:
    customer = access_customer(request_actor(request), pk, VIEW)
    return _render_page(request, customer)


@page
@require_http_methods(["POST"])
def relationship_create(request: HttpRequest, pk: int) -> HttpResponse:
    actor = request_actor(request)
    customer = access_customer(actor, pk, EDIT)
    form = RelationshipForm(request.POST)
    if form.is_valid():
        data = form.cleaned_data
        try:
            services.relationship_add(
                actor=actor,
                customer_id=customer.pk,
                related_customer_id=_customer_by_number(actor, data["related_number"], "related_number"),
                kind=data["kind"],
                starts_on=data["starts_on"],
                ends_on=data["ends_on"],
                note=data["note"],
            )
        except ServiceError as error:
            if "related_customer_id" in error.fields:
                error.fields["related_number"] = error.fields.pop("related_customer_id")
            apply_service_error(form, error)
        else:
            messages.success(request, _("Relationship added."))
            return _back(customer.pk)
    return _render_page(request, customer, relationship_form=form)


@page
@require_http_methods(["POST"])
def relationship_end(request: HttpRequest, pk: int) -> HttpResponse:
    actor = request_actor(request)
    relationship = access_relationship(actor, pk, EDIT)
    back_to = request.POST.get("customer", "")
    services.relationship_end(actor=actor, relationship_id=relationship.pk)
    messages.success(request, _("Relationship ended."))
    customer_id = relationship.to_customer_id
    if back_to.isdigit() and int(back_to) in (relationship.from_customer_id, relationship.to_customer_id):
        customer_id = int(back_to)
    if not customer_queryset(actor, VIEW).filter(pk=customer_id).exists():
        customer_id = (
            relationship.from_customer_id
            if customer_id == relationship.to_customer_id
            else relationship.to_customer_id
        )
    return _back(customer_id)


@page
@require_http_methods(["POST"])
def household_create(request: HttpRequest, pk: int) -> HttpResponse:
    actor = request_actor(request)
    customer = access_customer(actor, pk, EDIT)
    form = HouseholdCreateForm(request.POST)
    if form.is_valid():
        try:
            services.household_create(
                actor=actor, name=form.cleaned_data["name"], head_customer_id=customer.pk
            )
        except ServiceError as error:
            apply_service_error(form, error)
        else:
            messages.success(request, _("Household created."))
            return _back(customer.pk)
    return _render_page(request, customer, household_form=form)


@page
@require_http_methods(["POST"])
def household_member_add(request: HttpRequest, pk: int) -> HttpResponse:
    """Add a customer to the household of customer ``pk`` (or change a member's role)."""
    actor = request_actor(request)
    customer = access_customer(actor, pk, EDIT)
    form = HouseholdMemberForm(request.POST)
    if form.is_valid():
        household = household_of(actor, customer.pk)
        try:
            if household is None:
                raise ServiceError.field(
                    "member_number", _("This customer belongs to no household yet."), code="no_household"
                )
            services.household_add_member(
                actor=actor,
                household_id=household.id,
                customer_id=_customer_by_number(actor, form.cleaned_data["member_number"], "member_number"),
                role=form.cleaned_data["role"],
            )
        except ServiceError as error:
            if "customer_id" in error.fields:
                error.fields["member_number"] = error.fields.pop("customer_id")
            apply_service_error(form, error)
        else:
            messages.success(request, _("Household member saved."))
            return _back(customer.pk)
    return _render_page(request, customer, member_form=form)


@page
@require_http_methods(["POST"])
def household_member_remove(request: HttpRequest, pk: int, customer_pk: int) -> HttpResponse:
    actor = request_actor(request)
    household = access_household(actor, pk, EDIT)
    member = access_customer(actor, customer_pk, EDIT)
    back_to = request.POST.get("customer", "")
    try:
        services.household_remove_member(actor=actor, household_id=household.pk, customer_id=member.pk)
    except ServiceError as error:
        messages.error(
            request, " ".join(text for texts in error.fields.values() for text in texts) or str(error.message)
        )
    else:
        messages.success(request, _("Removed from the household."))
    target = int(back_to) if back_to.isdigit() else member.pk
    if not customer_queryset(actor, VIEW).filter(pk=target).exists():
        target = member.pk
    return _back(target)


@page
@require_http_methods(["POST"])
def parent_company_set(request: HttpRequest, pk: int) -> HttpResponse:
    actor = request_actor(request)
    customer = access_customer(actor, pk, EDIT)
    form = ParentCompanyForm(request.POST)
    if form.is_valid():
        number = form.cleaned_data["parent_number"].strip()
        try:
            parent_id = _customer_by_number(actor, number, "parent_number") if number else None
            services.company_parent_set(actor=actor, customer_id=customer.pk, parent_id=parent_id)
        except ServiceError as error:
            if "parent_id" in error.fields:
                error.fields["parent_number"] = error.fields.pop("parent_id")
            apply_service_error(form, error)
        else:
            messages.success(request, _("Parent company saved."))
            return _back(customer.pk)
    return _render_page(request, customer, parent_form=form)
