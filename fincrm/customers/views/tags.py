"""Pages for tags: defining them (customer.tag.manage) and tagging one customer (customer.edit)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import NoReverseMatch, reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods

from fincrm.customers.models import Tag
from fincrm.customers.selectors import access_customer
from fincrm.customers.selectors.tags import MANAGE_TAGS, access_tag, tag_list, tags_for
from fincrm.customers.services import tags as services
from fincrm.platform.access import require_permission
from fincrm.platform.errors import ServiceError
from fincrm.platform.forms import apply_service_error
from fincrm.platform.views import page, request_actor

EDIT = "customer.edit"


def customer_url(customer_id: int) -> str:
    """The customer's 360 page (or, until it exists, its relationships page)."""
    try:
        return reverse("customers:customer-detail", args=[customer_id])
    except NoReverseMatch:
        return reverse("customers:relationship-list", args=[customer_id])


class TagForm(forms.Form):
    label = forms.CharField(
        label=gettext_lazy("Tag"), max_length=50, widget=forms.TextInput(attrs={"class": "form-control"})
    )
    colour = forms.ChoiceField(
        label=gettext_lazy("Colour"),
        choices=Tag.Colour.choices,
        widget=forms.Select(attrs={"class": "form-select"}),
    )
    group = forms.CharField(
        label=gettext_lazy("Group"),
        max_length=50,
        required=False,
        help_text=gettext_lazy("Tags of one group are listed together, e.g. 'Interests' or 'Service'."),
        widget=forms.TextInput(attrs={"class": "form-control"}),
    )


class TagEditForm(TagForm):
    is_active = forms.BooleanField(
        label=gettext_lazy("Active"),
        required=False,
        help_text=gettext_lazy(
            "An inactive tag can no longer be given and is hidden, but stays on its customers."
        ),
        widget=forms.CheckboxInput(attrs={"class": "form-check-input"}),
    )


class CustomerTagsForm(forms.Form):
    def __init__(self, *args: Any, tag_choices: list[tuple[int, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["tag_ids"] = forms.TypedMultipleChoiceField(
            label=gettext_lazy("Tags"),
            coerce=int,
            required=False,
            choices=tag_choices,
            widget=forms.CheckboxSelectMultiple(attrs={"class": "form-check-input"}),
        )


def _tag_label(tag: Tag) -> str:
    return f"{tag.group} · {tag.label}" if tag.group else tag.label


# ---------------------------------------------------------------- definitions


@page
@require_http_methods(["GET"])
def tag_list_view(request: HttpRequest) -> HttpResponse:
    require_permission(request_actor(request), MANAGE_TAGS)
    return render(request, "customers/tag_list.html", {"tags": tag_list()})


@page
@require_http_methods(["GET", "POST"])
def tag_create(request: HttpRequest) -> HttpResponse:
    actor = request_actor(request)
    require_permission(actor, MANAGE_TAGS)
    if request.method == "POST":
        form = TagForm(request.POST)
        if form.is_valid():
            try:
                tag = services.tag_create(actor=actor, **form.cleaned_data)
            except ServiceError as error:
                apply_service_error(form, error)
            else:
                messages.success(request, _("Tag %(label)s created.") % {"label": tag.label})
                return redirect("customers:tag-list")
    else:
        form = TagForm(initial={"colour": Tag.Colour.BLUE})
    return render(request, "customers/tag_form.html", {"form": form, "title": _("New tag"), "tag": None})


@page
@require_http_methods(["GET", "POST"])
def tag_edit(request: HttpRequest, pk: int) -> HttpResponse:
    actor = request_actor(request)
    tag = access_tag(actor, pk)
    if request.method == "POST":
        form = TagEditForm(request.POST)
        if form.is_valid():
            try:
                services.tag_update(actor=actor, tag_id=tag.pk, **form.cleaned_data)
            except ServiceError as error:
                apply_service_error(form, error)
            else:
                messages.success(request, _("Tag saved."))
                return redirect("customers:tag-list")
    else:
        form = TagEditForm(
            initial={"label": tag.label, "colour": tag.colour, "group": tag.group, "is_active": tag.is_active}
        )
    return render(request, "customers/tag_form.html", {"form": form, "title": _("Edit tag"), "tag": tag})


# ---------------------------------------------------------------- one customer's tags


@page
@require_http_methods(["GET", "POST"])
def customer_tags_edit(request: HttpRequest, pk: int) -> HttpResponse:
    """Tick a customer's tags. With HTMX the form swaps itself for the refreshed badges."""
    actor = request_actor(request)
    customer = access_customer(actor, pk, EDIT)
    choices = [(tag.pk, _tag_label(tag)) for tag in tag_list(include_inactive=False)]
    htmx = request.headers.get("HX-Request") == "true"
    if request.method == "POST":
        form = CustomerTagsForm(request.POST, tag_choices=choices)
        if form.is_valid():
            try:
                tags = services.customer_tags_set(
                    actor=actor, customer_id=customer.pk, tag_ids=form.cleaned_data["tag_ids"]
                )
            except ServiceError as error:
                apply_service_error(form, error)
            else:
                if htmx:
                    return render(request, "customers/_tags.html", {"tags": tags, "customer": customer})
                messages.success(request, _("Tags saved."))
                return redirect(customer_url(customer.pk))
    else:
        current = [tag.pk for tag in tags_for([customer.pk])[customer.pk]]
        form = CustomerTagsForm(initial={"tag_ids": current}, tag_choices=choices)
    context = {"form": form, "customer": customer, "back_url": customer_url(customer.pk), "htmx": htmx}
    template = "customers/tag_customer_fragment.html" if htmx else "customers/tag_customer_form.html"
    return render(request, template, context)
