"""Page forms of the privacy app. Field names match the services' arguments, so a ServiceError's
field lands on the right input; the consent form's "slot" carries purpose and channel together."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from fincrm.privacy.models import ConsentSource, LegalBasis, SubjectRequest

Choices = Sequence[tuple[str, str]]

_SELECT = {"class": "form-select"}
_INPUT = {"class": "form-control"}
_CHECK = {"class": "form-check-input"}


class ConsentRecordForm(forms.Form):
    def __init__(self, *args: Any, slot_choices: Choices, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["slot"] = forms.ChoiceField(
            label=_("Purpose"), choices=[("", "---------"), *slot_choices], widget=forms.Select(attrs=_SELECT)
        )
        self.fields["source"] = forms.ChoiceField(
            label=_("Source"), choices=ConsentSource.choices, widget=forms.Select(attrs=_SELECT)
        )
        self.fields["evidence"] = forms.CharField(
            label=_("Evidence reference"),
            max_length=200,
            required=False,
            help_text=_("The signed form's number, the call recording or the app event it was given in."),
            widget=forms.TextInput(attrs=_INPUT),
        )
        self.fields["notice_version"] = forms.CharField(
            label=_("Notice version"),
            max_length=40,
            required=False,
            help_text=_("Leave empty for the purpose's current notice."),
            widget=forms.TextInput(attrs=_INPUT),
        )
        self.fields["separate"] = forms.BooleanField(
            label=_("Given as a separate consent"),
            required=False,
            help_text=_("Required by law for sharing with other companies and for sensitive information."),
            widget=forms.CheckboxInput(attrs=_CHECK),
        )

    def service_arguments(self) -> dict[str, Any]:
        data = dict(self.cleaned_data)
        purpose_code, _sep, channel = data.pop("slot").partition(":")
        return {"purpose_code": purpose_code, "channel": channel, **data}


class ConsentWithdrawForm(forms.Form):
    source = forms.ChoiceField(
        label=_("Source"),
        choices=ConsentSource.choices,
        initial=ConsentSource.BRANCH,
        required=False,
        widget=forms.Select(attrs=_SELECT),
    )


class PurposeForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=100, widget=forms.TextInput(attrs=_INPUT))
    description = forms.CharField(
        label=_("Description"),
        required=False,
        max_length=2000,
        widget=forms.Textarea(attrs={**_INPUT, "rows": 3}),
    )
    legal_basis = forms.ChoiceField(
        label=_("Legal basis"), choices=LegalBasis.choices, widget=forms.Select(attrs=_SELECT)
    )
    per_channel = forms.BooleanField(
        label=_("Consented per channel (SMS, e-mail, phone, app push)"),
        required=False,
        widget=forms.CheckboxInput(attrs=_CHECK),
    )
    separate_consent = forms.BooleanField(
        label=_("Needs a separate consent"), required=False, widget=forms.CheckboxInput(attrs=_CHECK)
    )
    notice_version = forms.CharField(
        label=_("Current notice version"), max_length=40, required=False, widget=forms.TextInput(attrs=_INPUT)
    )
    sort_order = forms.IntegerField(
        label=_("Order"), min_value=0, max_value=32767, initial=100, widget=forms.NumberInput(attrs=_INPUT)
    )
    is_active = forms.BooleanField(
        label=_("Active"), required=False, initial=True, widget=forms.CheckboxInput(attrs=_CHECK)
    )


class PurposeCreateForm(PurposeForm):
    code = forms.SlugField(
        label=_("Code"),
        max_length=40,
        help_text=_("Lower-case letters, digits and underscores; used by other systems."),
        widget=forms.TextInput(attrs=_INPUT),
    )
    field_order = ["code", "name"]


class SubjectRequestForm(forms.Form):
    kind = forms.ChoiceField(
        label=_("Request type"), choices=SubjectRequest.Kind.choices, widget=forms.Select(attrs=_SELECT)
    )
    details = forms.CharField(
        label=_("What the customer asked for"),
        required=False,
        max_length=2000,
        widget=forms.Textarea(attrs={**_INPUT, "rows": 3}),
    )


class SubjectRequestCloseForm(forms.Form):
    resolution = forms.CharField(
        label=_("Resolution"),
        required=False,
        max_length=2000,
        help_text=_("What was done, or why the request is refused."),
        widget=forms.Textarea(attrs={**_INPUT, "rows": 3}),
    )
