"""Page forms for the product catalog; field names match the services' arguments."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from fincrm.products.models import ProductType, RiskLevel
from fincrm.products.services import MAX_TERM_DAYS


def _text(label: Any, max_length: int, *, required: bool = True) -> forms.CharField:
    return forms.CharField(
        label=label,
        max_length=max_length,
        required=required,
        widget=forms.TextInput(attrs={"class": "form-control"}),
    )


def _choice(label: Any, choices: Any) -> forms.ChoiceField:
    return forms.ChoiceField(
        label=label, choices=choices, widget=forms.Select(attrs={"class": "form-select"})
    )


def _flag(label: Any) -> forms.BooleanField:
    return forms.BooleanField(
        label=label, required=False, widget=forms.CheckboxInput(attrs={"class": "form-check-input"})
    )


class ProductForm(forms.Form):
    code = _text(_("Product code"), 32)
    name = _text(_("Product name"), 200)
    product_type = _choice(_("Product type"), ProductType.choices)
    risk_level = _choice(_("Risk level"), RiskLevel.choices)
    issuer = _text(_("Issuer"), 200, required=False)
    currency = _text(_("Currency"), 3)
    term_days = forms.IntegerField(
        label=_("Term (days)"),
        required=False,
        min_value=1,
        max_value=MAX_TERM_DAYS,
        help_text=_("Leave empty for an open-ended product."),
        widget=forms.NumberInput(attrs={"class": "form-control"}),
    )
    is_private = _flag(_("Private placement (qualified investors only)"))
    is_active = _flag(_("On sale"))


class ProductFilterForm(forms.Form):
    q = forms.CharField(
        label=_("Search"),
        required=False,
        max_length=100,
        widget=forms.TextInput(attrs={"class": "form-control", "placeholder": _("Code or name")}),
    )
    product_type = forms.ChoiceField(
        label=_("Product type"),
        required=False,
        choices=[("", _("All types")), *ProductType.choices],
        widget=forms.Select(attrs={"class": "form-select"}),
    )
    risk_level = forms.ChoiceField(
        label=_("Risk level"),
        required=False,
        choices=[("", _("All risk levels")), *RiskLevel.choices],
        widget=forms.Select(attrs={"class": "form-select"}),
    )
