"""Pages for custom fields: their definitions (customer.field.manage) and one customer's values
(customer.edit). Values are checked by the service, so a page and the API give the same messages."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods

from fincrm.customers.models import Customer, CustomFieldDefinition
from fincrm.customers.selectors import VIEW, access_customer
from fincrm.customers.selectors.custom_fields import (
    FIELD_MANAGE,
    CustomFieldRow,
    DataClass,
    FieldType,
    access_definition,
    choice_label,
    custom_field_rows,
    definition_list,
    definitions_for,
    display_label,
    field_key,
    stored_rows,
    stored_value,
)
from fincrm.customers.services import custom_fields as services
from fincrm.customers.views.tags import customer_url
from fincrm.platform.access import require_permission
from fincrm.platform.actor import Actor
from fincrm.platform.errors import ServiceError
from fincrm.platform.forms import apply_service_error
from fincrm.platform.views import page, request_actor
from fincrm.security.masking import HIDDEN_RUN

EDIT = "customer.edit"


def _select(choices: Any) -> forms.Select:
    return forms.Select(attrs={"class": "form-select"}, choices=choices)


class DefinitionForm(forms.Form):
    label = forms.CharField(
        label=gettext_lazy("Label"), max_length=100, widget=forms.TextInput(attrs={"class": "form-control"})
    )
    label_en = forms.CharField(
        label=gettext_lazy("English label"),
        max_length=100,
        required=False,
        widget=forms.TextInput(attrs={"class": "form-control"}),
    )
    field_type = forms.ChoiceField(
        label=gettext_lazy("Type"),
        choices=CustomFieldDefinition.FieldType.choices,
        widget=forms.Select(attrs={"class": "form-select"}),
    )
    applies_to = forms.ChoiceField(
        label=gettext_lazy("Applies to"),
        choices=CustomFieldDefinition.AppliesTo.choices,
        widget=forms.Select(attrs={"class": "form-select"}),
    )
    data_class = forms.ChoiceField(
        label=gettext_lazy("Data class"),
        choices=CustomFieldDefinition.DataClass.choices,
        help_text=gettext_lazy(
            "C2: personal financial information, stored encrypted, shown masked "
            "and filtered by exact value only."
        ),
        widget=forms.Select(attrs={"class": "form-select"}),
    )
    choices = forms.CharField(
        label=gettext_lazy("Choices"),
        required=False,
        help_text=gettext_lazy(
            "For choice fields: one per line as value | label | English label, e.g. gold | 黄金 | Gold."
        ),
        widget=forms.Textarea(attrs={"class": "form-control", "rows": 4}),
    )
    required = forms.BooleanField(
        label=gettext_lazy("Required"),
        required=False,
        widget=forms.CheckboxInput(attrs={"class": "form-check-input"}),
    )
    position = forms.IntegerField(
        label=gettext_lazy("Position"),
        min_value=0,
        initial=0,
        widget=forms.NumberInput(attrs={"class": "form-control"}),
    )

    def clean_choices(self) -> list[dict[str, str]]:
        parsed = []
        for line in self.cleaned_data.get("choices", "").splitlines():
            if not line.strip():
                continue
            parts = [part.strip() for part in line.split("|")]
            parsed.append(
                {
                    "value": parts[0],
                    "label": parts[1] if len(parts) > 1 else "",
                    "label_en": parts[2] if len(parts) > 2 else "",
                }
            )
        return parsed


class DefinitionCreateForm(DefinitionForm):
    code = forms.CharField(
        label=gettext_lazy("Code"),
        max_length=40,
        help_text=gettext_lazy(
            "Lower-case letters, digits and underscores; used by the API and never changes."
        ),
        widget=forms.TextInput(attrs={"class": "form-control"}),
    )
    field_order = ["code"]


class DefinitionEditForm(DefinitionForm):
    is_active = forms.BooleanField(
        label=gettext_lazy("Active"),
        required=False,
        widget=forms.CheckboxInput(attrs={"class": "form-check-input"}),
    )


def _choices_text(definition: CustomFieldDefinition) -> str:
    return "\n".join(
        " | ".join(
            part for part in (choice.get("value", ""), choice.get("label", ""), choice.get("label_en", ""))
        )
        for choice in definition.choices or []
    )


# ---------------------------------------------------------------- definitions


@page
@require_http_methods(["GET"])
def custom_field_list(request: HttpRequest) -> HttpResponse:
    require_permission(request_actor(request), FIELD_MANAGE)
    return render(request, "customers/custom_field_list.html", {"definitions": definition_list()})


@page
@require_http_methods(["GET", "POST"])
def custom_field_create(request: HttpRequest) -> HttpResponse:
    actor = request_actor(request)
    require_permission(actor, FIELD_MANAGE)
    if request.method == "POST":
        form = DefinitionCreateForm(request.POST)
        if form.is_valid():
            try:
                definition = services.custom_field_create(actor=actor, **form.cleaned_data)
            except ServiceError as error:
                apply_service_error(form, error)
            else:
                messages.success(request, _("Custom field %(code)s created.") % {"code": definition.code})
                return redirect("customers:custom-field-list")
    else:
        form = DefinitionCreateForm()
    context = {"form": form, "title": _("New custom field"), "definition": None}
    return render(request, "customers/custom_field_form.html", context)


@page
@require_http_methods(["GET", "POST"])
def custom_field_edit(request: HttpRequest, pk: int) -> HttpResponse:
    actor = request_actor(request)
    definition = access_definition(actor, pk)
    if request.method == "POST":
        form = DefinitionEditForm(request.POST)
        if form.is_valid():
            try:
                services.custom_field_update(actor=actor, field_id=definition.pk, **form.cleaned_data)
            except ServiceError as error:
                apply_service_error(form, error)
            else:
                messages.success(request, _("Custom field saved."))
                return redirect("customers:custom-field-list")
    else:
        form = DefinitionEditForm(
            initial={
                "label": definition.label,
                "label_en": definition.label_en,
                "field_type": definition.field_type,
                "applies_to": definition.applies_to,
                "data_class": definition.data_class,
                "choices": _choices_text(definition),
                "required": definition.required,
                "position": definition.position,
                "is_active": definition.is_active,
            }
        )
    context = {"form": form, "title": _("Edit custom field"), "definition": definition}
    return render(request, "customers/custom_field_form.html", context)


# ---------------------------------------------------------------- one customer's values


class CustomValuesForm(forms.Form):
    """One input per field, named ``custom.<code>`` like the service's errors. Inputs stay loose
    (text, choices): the service checks types and rules and words the messages."""

    def __init__(self, *args: Any, definitions: list[CustomFieldDefinition], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.definitions = definitions
        for definition in definitions:
            self.fields[field_key(definition.code)] = _value_field(definition)

    def values(self) -> dict[str, Any]:
        return {
            definition.code: self.cleaned_data.get(field_key(definition.code))
            for definition in self.definitions
        }


def _value_field(definition: CustomFieldDefinition) -> forms.Field:
    label = display_label(definition) + (" *" if definition.required else "")
    options = [
        (value, choice_label(definition, value))
        for value in (c.get("value", "") for c in definition.choices or [])
    ]
    help_text = ""
    if definition.data_class == DataClass.C2:
        help_text = _("C2: stored encrypted. %(mask)s keeps the stored value.") % {"mask": HIDDEN_RUN}
    field_type = definition.field_type
    if field_type == FieldType.CHOICE:
        return forms.ChoiceField(
            label=label, required=False, choices=[("", "---------"), *options], widget=_select(None)
        )
    if field_type == FieldType.MULTI_CHOICE:
        return forms.MultipleChoiceField(
            label=label,
            required=False,
            choices=options,
            widget=forms.CheckboxSelectMultiple(attrs={"class": "form-check-input"}),
        )
    if field_type == FieldType.BOOLEAN:
        return forms.ChoiceField(
            label=label,
            required=False,
            choices=[("", "---------"), ("true", _("Yes")), ("false", _("No"))],
            widget=_select(None),
        )
    attrs: dict[str, Any] = {"class": "form-control"}
    if field_type == FieldType.DATE and definition.data_class != DataClass.C2:
        attrs["type"] = "date"
    elif field_type in (FieldType.NUMBER, FieldType.DECIMAL):
        attrs["inputmode"] = "decimal" if field_type == FieldType.DECIMAL else "numeric"
    return forms.CharField(
        label=label, required=False, max_length=1000, help_text=help_text, widget=forms.TextInput(attrs=attrs)
    )


def _initial(customer: Customer, definitions: list[CustomFieldDefinition]) -> dict[str, Any]:
    rows = stored_rows(customer.pk)
    initial: dict[str, Any] = {}
    for definition in definitions:
        row = rows.get(definition.code)
        if row is None:
            continue
        # A C2 value is never put into the page: its mask stands for it and keeps it when sent back.
        value = stored_value(row, definition, reveal=definition.data_class != DataClass.C2)
        if definition.field_type == FieldType.BOOLEAN and value is not None:
            value = "true" if value else "false"
        elif value is not None and definition.field_type not in (FieldType.MULTI_CHOICE,):
            value = value.isoformat() if hasattr(value, "isoformat") else str(value)
        initial[field_key(definition.code)] = value
    return initial


def custom_fields_context(actor: Actor, customer: Customer) -> dict[str, Any]:
    """What ``customers/_custom_fields.html`` needs on the 360 (two queries, one without fields)."""
    rows: list[CustomFieldRow] = custom_field_rows(customer.pk, customer.kind)
    return {"custom_fields": rows, "customer": customer, "can_edit_custom_fields": actor.can(EDIT)}


@page
@require_http_methods(["GET", "POST"])
def custom_values_edit(request: HttpRequest, pk: int) -> HttpResponse:
    """Edit one customer's custom values; with HTMX the form swaps itself for the refreshed values."""
    actor = request_actor(request)
    customer = access_customer(actor, pk, EDIT)
    definitions = definitions_for(customer.kind)
    htmx = request.headers.get("HX-Request") == "true"
    if request.method == "POST":
        form = CustomValuesForm(request.POST, definitions=definitions)
        if form.is_valid():
            try:
                services.custom_values_set(
                    actor=actor, customer_id=customer.pk, values=form.values(), replace=True
                )
            except ServiceError as error:
                apply_service_error(form, error)
            else:
                if htmx:
                    return render(
                        request, "customers/_custom_fields.html", custom_fields_context(actor, customer)
                    )
                messages.success(request, _("Custom fields saved."))
                return redirect(customer_url(customer.pk))
    else:
        form = CustomValuesForm(initial=_initial(customer, definitions), definitions=definitions)
    context = {"form": form, "customer": customer, "back_url": customer_url(customer.pk), "htmx": htmx}
    template = "customers/custom_field_values_fragment.html" if htmx else "customers/custom_field_values.html"
    return render(request, template, context)


@page
@require_http_methods(["GET"])
def custom_values_view(request: HttpRequest, pk: int) -> HttpResponse:
    """The read-only values fragment (for HTMX "cancel" and for pages that load it lazily)."""
    actor = request_actor(request)
    customer = access_customer(actor, pk, VIEW)
    return render(request, "customers/_custom_fields.html", custom_fields_context(actor, customer))
