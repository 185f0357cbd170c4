"""Page forms for creating and editing customers, changing their lifecycle stage and transferring
them. Field names match the services' ``data`` keys, so a ServiceError's field lands on the right
input. Choices come from the view (selectors), never from a query here.

Identifiers are never put back into an edit form in clear (that would unmask them unaudited): the
inputs start empty with the masked value as placeholder, and an empty input keeps the stored value.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django import forms
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from fincrm.customers.identity import CORPORATE_ID_TYPES, INDIVIDUAL_ID_TYPES
from fincrm.customers.models import (
    AmlRiskRating,
    Customer,
    CustomerKind,
    Gender,
    IdType,
    IncomeBand,
    LifecycleStage,
    RiskTolerance,
    SourceChannel,
)
from fincrm.customers.personal_data import masked_field

Choices = Sequence[tuple[Any, Any]]
Label = Any  # a lazy translation (django-stubs types it privately)

# Identifiers (and the birth date they contain) are write-only on the edit form.
WRITE_ONLY_FIELDS = ("id_number", "mobile", "email", "address", "birth_date")
BLANK = ("", "---------")


def text_field(
    label: Label, max_length: int, *, required: bool = False, help_text: Label = ""
) -> forms.CharField:
    return forms.CharField(
        label=label,
        max_length=max_length,
        required=required,
        help_text=help_text,
        widget=forms.TextInput(attrs={"class": "form-control"}),
    )


def _area(label: Label, max_length: int) -> forms.CharField:
    return forms.CharField(
        label=label,
        max_length=max_length,
        required=False,
        widget=forms.Textarea(attrs={"class": "form-control", "rows": 3}),
    )


def _choice(label: Label, choices: Choices, *, required: bool = False) -> forms.ChoiceField:
    return forms.ChoiceField(
        label=label,
        choices=list(choices) if required else [BLANK, *choices],
        required=required,
        widget=forms.Select(attrs={"class": "form-select"}),
    )


def _id_choice(label: Label, choices: Choices, *, required: bool) -> forms.TypedChoiceField:
    return forms.TypedChoiceField(
        label=label,
        coerce=int,
        empty_value=None,
        choices=[BLANK, *choices],
        required=required,
        widget=forms.Select(attrs={"class": "form-select"}),
    )


def _date(label: Label, *, help_text: Label = "") -> forms.DateField:
    return forms.DateField(
        label=label,
        required=False,
        help_text=help_text,
        widget=forms.DateInput(attrs={"class": "form-control", "type": "date"}, format="%Y-%m-%d"),
    )


def _flag(label: Label) -> forms.BooleanField:
    return forms.BooleanField(
        label=label, required=False, widget=forms.CheckboxInput(attrs={"class": "form-check-input"})
    )


@dataclass(frozen=True)
class Section:
    title: Promise
    names: tuple[str, ...]


INDIVIDUAL_SECTIONS = (
    Section(
        _("Identity"),
        ("name", "id_type", "id_number", "id_expires_on", "birth_date", "gender", "nationality"),
    ),
    Section(_("Contact"), ("mobile", "email", "address")),
    Section(
        _("KYC profile"),
        (
            "occupation",
            "employer",
            "income_band",
            "source_of_funds",
            "aml_risk_rating",
            "risk_tolerance",
            "risk_assessed_on",
            "is_professional_investor",
            "professional_evidence",
        ),
    ),
    Section(_("Relationship"), ("lifecycle_stage", "source_channel", "org_unit_id", "covering_team_id")),
    Section(_("Confirmation"), ("identity_override_reason",)),
)
CORPORATE_SECTIONS = (
    Section(_("Identity"), ("name", "id_type", "id_number", "id_expires_on")),
    Section(_("Contact"), ("mobile", "email", "address")),
    Section(
        _("KYC profile"),
        (
            "industry",
            "source_of_funds",
            "aml_risk_rating",
            "risk_tolerance",
            "risk_assessed_on",
            "is_professional_investor",
            "professional_evidence",
        ),
    ),
    Section(_("Relationship"), ("lifecycle_stage", "source_channel", "org_unit_id", "covering_team_id")),
    Section(_("Confirmation"), ("identity_override_reason",)),
)


def _id_type_choices(kind: str) -> list[tuple[str, Label]]:
    allowed = CORPORATE_ID_TYPES if kind == CustomerKind.CORPORATE else INDIVIDUAL_ID_TYPES
    return [(value, label) for value, label in IdType.choices if value in allowed]


class CustomerForm(forms.Form):
    """Create (``customer`` None) or edit a customer of ``kind``; build with the view's choices."""

    def __init__(
        self,
        *args: Any,
        kind: str,
        customer: Customer | None = None,
        unit_choices: Choices = (),
        team_choices: Choices = (),
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.kind = kind
        self.customer = customer
        creating = customer is None
        individual = kind != CustomerKind.CORPORATE
        sections = INDIVIDUAL_SECTIONS if individual else CORPORATE_SECTIONS
        f = self.fields
        f["name"] = text_field(_("Name") if individual else _("Company name"), 200, required=True)
        f["id_type"] = _choice(_("ID type"), _id_type_choices(kind))
        f["id_number"] = text_field(_("ID number"), 64)
        f["id_expires_on"] = _date(_("ID expiry date"))
        if individual:
            f["birth_date"] = _date(
                _("Date of birth"), help_text=_("Taken from a resident ID number when left empty.")
            )
            f["gender"] = _choice(_("Gender"), Gender.choices)
            f["nationality"] = text_field(
                _("Nationality"), 3, help_text=_("Three-letter country code, e.g. CHN.")
            )
            f["occupation"] = text_field(_("Occupation"), 100)
            f["employer"] = text_field(_("Employer"), 200)
            f["income_band"] = _choice(_("Income band"), IncomeBand.choices)
        else:
            f["industry"] = text_field(_("Industry"), 100)
        f["mobile"] = text_field(
            _("Mobile number"), 32, help_text=_("Mainland: 11 digits. Other countries: start with +.")
        )
        f["email"] = text_field(_("E-mail"), 254)
        f["address"] = _area(_("Address"), 500)
        f["source_of_funds"] = text_field(_("Source of funds"), 200)
        f["aml_risk_rating"] = _choice(_("AML risk rating"), AmlRiskRating.choices, required=True)
        f["risk_tolerance"] = _choice(_("Risk tolerance"), RiskTolerance.choices)
        f["risk_assessed_on"] = _date(_("Risk assessment date"))
        f["is_professional_investor"] = _flag(_("Professional investor"))
        f["professional_evidence"] = _area(_("Professional investor evidence"), 2000)
        f["source_channel"] = _choice(_("Source channel"), SourceChannel.choices, required=True)
        if creating:
            f["lifecycle_stage"] = _choice(
                _("Lifecycle stage"),
                [(v, label) for v, label in LifecycleStage.choices if v in ("lead", "prospect", "customer")],
                required=True,
            )
            f["org_unit_id"] = _id_choice(_("Home branch"), unit_choices, required=True)
            f["covering_team_id"] = _id_choice(_("Covering team"), team_choices, required=False)
        f["identity_override_reason"] = text_field(
            _("Reason to keep an ID number that fails its check"),
            500,
            help_text=_("Only when the number is shown as failing its check and you have verified it."),
        )
        if creating:
            self.initial.setdefault("aml_risk_rating", AmlRiskRating.LOW)
            self.initial.setdefault("source_channel", SourceChannel.BRANCH)
            self.initial.setdefault("lifecycle_stage", LifecycleStage.LEAD)
            if individual:
                self.initial.setdefault("nationality", "CHN")
        else:
            assert customer is not None
            for name in f:
                if name in WRITE_ONLY_FIELDS or name == "identity_override_reason":
                    continue
                self.initial.setdefault(name, getattr(customer, name, ""))
            for name in WRITE_ONLY_FIELDS:
                if name not in f:
                    continue
                stored = getattr(customer, name)
                if stored:
                    f[name].widget.attrs["placeholder"] = masked_field(name, stored)
                    f[name].help_text = _(
                        "Shown masked. Leave empty to keep it; type a new value to replace it."
                    )
        self.sections = [
            (section.title, [self[name] for name in section.names if name in f]) for section in sections
        ]

    def service_data(self) -> dict[str, Any]:
        """cleaned_data as the service's ``data``: on edit, empty write-only inputs keep the stored value."""
        data = {
            name: value
            for name, value in self.cleaned_data.items()
            if name not in ("identity_override_reason",)
        }
        if self.customer is None:
            data["kind"] = self.kind
            return data
        for name in WRITE_ONLY_FIELDS:
            if name in data and data[name] in (None, ""):
                del data[name]
        if "id_number" not in data and not data.get("id_type"):
            data.pop("id_type", None)  # no new document given: keep the stored one
        return data


class LifecycleForm(forms.Form):
    def __init__(self, *args: Any, current: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["stage"] = _choice(
            _("New stage"),
            [(value, label) for value, label in LifecycleStage.choices if value != current],
            required=True,
        )
        self.fields["reason"] = _area(_("Reason"), 500)


class TransferForm(forms.Form):
    def __init__(self, *args: Any, manager_choices: Choices, team_choices: Choices, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["primary_manager_id"] = _id_choice(
            _("Primary account manager"), manager_choices, required=False
        )
        self.fields["covering_team_id"] = _id_choice(_("Covering team"), team_choices, required=False)
        self.fields["reason"] = _area(_("Reason"), 500)
        self.fields["reason"].required = True
