"""Forms of the step-up, unmask and sensitive-access grant pages."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from fincrm.security.stepup import StepUpMethod


def step_up_field(method: StepUpMethod) -> forms.CharField:
    if method == StepUpMethod.TOTP:
        return forms.CharField(
            label=_("Code from your authenticator app"),
            max_length=32,
            help_text=_("The current 6-digit code, or one of your recovery codes."),
            widget=forms.TextInput(
                attrs={
                    "class": "form-control",
                    "autocomplete": "one-time-code",
                    "inputmode": "numeric",
                    "autocapitalize": "characters",
                }
            ),
        )
    return forms.CharField(
        label=_("Your password"),
        max_length=256,
        strip=False,
        widget=forms.PasswordInput(attrs={"class": "form-control", "autocomplete": "current-password"}),
    )


class StepUpForm(forms.Form):
    """Re-confirm identity: the password, or a TOTP code when the user has a second factor."""

    def __init__(self, *args: Any, method: StepUpMethod, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["secret"] = step_up_field(method)
        self.fields["secret"].widget.attrs["autofocus"] = True


def _reason_field() -> forms.ChoiceField:
    from fincrm.security.unmask import reason_choices

    return forms.ChoiceField(
        label=_("Reason"),
        choices=[("", "---------"), *reason_choices()],
        widget=forms.Select(attrs={"class": "form-select"}),
    )


class UnmaskForm(forms.Form):
    """Why the clear value is needed (required), plus the step-up secret when none is recent."""

    reason_text = forms.CharField(
        label=_("Details"),
        max_length=500,
        help_text=_("Say what you need the value for (a case, ticket or request number if there is one)."),
        widget=forms.Textarea(attrs={"rows": 2, "class": "form-control"}),
    )

    def __init__(self, *args: Any, step_up: StepUpMethod | None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["reason_code"] = _reason_field()
        if step_up is not None:
            self.fields["secret"] = step_up_field(step_up)
        self.order_fields(["reason_code", "reason_text", "secret"])


class GrantRequestForm(forms.Form):
    """Field names match grants.grant_request's arguments (``fields`` is added in __init__: a class
    attribute of that name would hide the form's own ``fields``)."""

    customer_number = forms.CharField(
        label=_("Customer number"),
        max_length=64,
        help_text=_("The customer number exactly as it is written. You are not told whether it exists."),
        widget=forms.TextInput(attrs={"class": "form-control", "autocomplete": "off"}),
    )
    reason_text = forms.CharField(
        label=_("Details"), max_length=500, widget=forms.Textarea(attrs={"rows": 3, "class": "form-control"})
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        from fincrm.security.unmask import field_choices

        super().__init__(*args, **kwargs)
        self.fields["fields"] = forms.MultipleChoiceField(
            label=_("Fields"),
            choices=field_choices(),
            widget=forms.CheckboxSelectMultiple(attrs={"class": "form-check-input"}),
        )
        self.fields["reason_code"] = _reason_field()
        self.order_fields(["customer_number", "fields", "reason_code", "reason_text"])


class GrantDecisionForm(forms.Form):
    decision = forms.ChoiceField(
        choices=[("approve", _("Approve")), ("refuse", _("Refuse"))], widget=forms.HiddenInput
    )
    note = forms.CharField(
        label=_("Note"), max_length=500, required=False, widget=forms.Textarea(attrs={"rows": 2})
    )
