"""Page forms for org units and teams. Field names match the services' arguments, so a
ServiceError's field lands on the right input. Choices come from selectors (the view passes them)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from fincrm.org.models import OrgUnit

Choices = Sequence[tuple[int, str]]


def _text(label: Any, max_length: int) -> forms.CharField:
    return forms.CharField(
        label=label, max_length=max_length, widget=forms.TextInput(attrs={"class": "form-control"})
    )


def _unit_choice(label: Any, choices: Choices) -> forms.TypedChoiceField:
    return forms.TypedChoiceField(
        label=label,
        coerce=int,
        choices=[("", "---------"), *choices],
        widget=forms.Select(attrs={"class": "form-select"}),
    )


def _active() -> forms.BooleanField:
    return forms.BooleanField(
        label=_("Active"), required=False, widget=forms.CheckboxInput(attrs={"class": "form-check-input"})
    )


class OrgUnitCreateForm(forms.Form):
    def __init__(self, *args: Any, parent_choices: Choices, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["parent_id"] = _unit_choice(_("Parent unit"), parent_choices)
        self.fields["kind"] = forms.ChoiceField(
            label=_("Kind"),
            choices=[
                (value, label) for value, label in OrgUnit.Kind.choices if value != OrgUnit.Kind.INSTITUTION
            ],
            widget=forms.Select(attrs={"class": "form-select"}),
        )
        self.fields["code"] = _text(_("Code"), 32)
        self.fields["name"] = _text(_("Name"), 100)


class OrgUnitEditForm(forms.Form):
    code = _text(_("Code"), 32)
    name = _text(_("Name"), 100)
    is_active = _active()


class OrgUnitMoveForm(forms.Form):
    def __init__(self, *args: Any, parent_choices: Choices, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["new_parent_id"] = _unit_choice(_("New parent unit"), parent_choices)


class TeamCreateForm(forms.Form):
    def __init__(self, *args: Any, unit_choices: Choices, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["org_unit_id"] = _unit_choice(_("Org unit"), unit_choices)
        self.fields["code"] = _text(_("Code"), 32)
        self.fields["name"] = _text(_("Name"), 100)


class TeamEditForm(TeamCreateForm):
    def __init__(self, *args: Any, unit_choices: Choices, **kwargs: Any) -> None:
        super().__init__(*args, unit_choices=unit_choices, **kwargs)
        self.fields["is_active"] = _active()
