"""Forms of the administration pages: they parse input; the services validate and decide."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from fincrm.platform import permissions as permission_registry
from fincrm.platform.actor import Scope

SCOPE_CHOICES = [
    (Scope.OWN.value, _("Own: customers the user manages")),
    (Scope.TEAM.value, _("Team: customers covered by the user's teams")),
    (Scope.BRANCH.value, _("Branch: the user's own org unit")),
    (Scope.SUBTREE.value, _("Subtree: the user's org unit and everything under it")),
    (Scope.INSTITUTION.value, _("Institution: everything")),
]


class _Styled(forms.Form):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for field in self.fields.values():
            widget = field.widget
            if isinstance(widget, forms.CheckboxInput | forms.CheckboxSelectMultiple):
                widget.attrs.setdefault("class", "form-check-input")
            elif isinstance(widget, forms.Select | forms.SelectMultiple):
                widget.attrs.setdefault("class", "form-select")
            else:
                widget.attrs.setdefault("class", "form-control")


def _choices(rows: Iterable[tuple[int, str]]) -> list[tuple[Any, str]]:
    return list(rows)


class UserFilterForm(_Styled):
    q = forms.CharField(label=_("Search"), required=False, max_length=100)
    org_unit = forms.TypedChoiceField(label=_("Org unit"), required=False, coerce=int, empty_value=None)
    role = forms.TypedChoiceField(label=_("Role"), required=False, coerce=int, empty_value=None)
    active = forms.ChoiceField(
        label=_("Status"),
        required=False,
        choices=[("", _("All")), ("yes", _("Active")), ("no", _("Deactivated"))],
    )

    def __init__(
        self, *args: Any, units: Iterable[tuple[int, str]], roles: Iterable[tuple[int, str]], **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.fields["org_unit"].choices = [("", _("All units")), *_choices(units)]  # type: ignore[attr-defined]
        self.fields["role"].choices = [("", _("All roles")), *_choices(roles)]  # type: ignore[attr-defined]

    def is_active_value(self) -> bool | None:
        value = self.cleaned_data.get("active") if self.is_bound and self.is_valid() else ""
        return {"yes": True, "no": False}.get(value or "")


class UserProfileForm(_Styled):
    full_name = forms.CharField(label=_("Full name"), max_length=100)
    email = forms.EmailField(label=_("E-mail"), required=False)
    org_unit = forms.TypedChoiceField(label=_("Org unit"), coerce=int)
    teams = forms.TypedMultipleChoiceField(
        label=_("Teams"), coerce=int, required=False, widget=forms.CheckboxSelectMultiple
    )

    def __init__(
        self, *args: Any, units: Iterable[tuple[int, str]], teams: Iterable[tuple[int, str]], **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.fields["org_unit"].choices = [("", "---------"), *_choices(units)]  # type: ignore[attr-defined]
        self.fields["teams"].choices = _choices(teams)  # type: ignore[attr-defined]


class UserCreateForm(UserProfileForm):
    username = forms.CharField(label=_("Username"), max_length=64)
    password = forms.CharField(
        label=_("Initial password"),
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        help_text=_("The user must change it at first sign-in."),
    )
    password_again = forms.CharField(
        label=_("Initial password again"),
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "off"}),
    )

    field_order = ("username", "full_name", "email", "org_unit", "teams", "password", "password_again")

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("password") and data.get("password") != data.get("password_again"):
            self.add_error("password_again", _("The two passwords differ."))
        return data


class PasswordResetForm(_Styled):
    new_password = forms.CharField(
        label=_("Temporary password"),
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        help_text=_("The user must change it at next sign-in; all their sessions end now."),
    )


class ReasonForm(_Styled):
    reason = forms.CharField(label=_("Reason"), required=False, max_length=500)


class RoleAssignForm(_Styled):
    role = forms.TypedChoiceField(label=_("Role"), coerce=int)
    reason = forms.CharField(label=_("Reason"), required=False, max_length=500)

    def __init__(self, *args: Any, roles: Iterable[tuple[int, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["role"].choices = [("", "---------"), *_choices(roles)]  # type: ignore[attr-defined]


class RoleUnassignForm(_Styled):
    role = forms.IntegerField(widget=forms.HiddenInput)
    reason = forms.CharField(label=_("Reason"), required=False, max_length=500)


def permission_choices() -> list[tuple[str, str]]:
    return [(spec.name, f"{spec.name} · {spec.label}") for spec in permission_registry.all_permissions()]


class RoleForm(_Styled):
    code = forms.CharField(
        label=_("Code"), max_length=64, help_text=_("Lower-case letters, digits, - and _.")
    )
    name = forms.CharField(label=_("Name"), max_length=100)
    description = forms.CharField(
        label=_("Description"), required=False, widget=forms.Textarea(attrs={"rows": 3})
    )
    scope = forms.ChoiceField(label=_("Data scope"), choices=SCOPE_CHOICES)
    # Any name is accepted here so the service can name an unknown one in its field error.
    permissions = forms.MultipleChoiceField(
        label=_("Permissions"), required=False, widget=forms.CheckboxSelectMultiple
    )
    mfa_required = forms.BooleanField(
        label=_("Requires two-factor sign-in"),
        required=False,
        help_text=_("Always on when the role holds a privileged permission."),
    )
    reason = forms.CharField(
        label=_("Reason for the change"),
        required=False,
        max_length=500,
        help_text=_("Shown to the approver."),
    )

    def __init__(self, *args: Any, editing: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["permissions"].choices = permission_choices()  # type: ignore[attr-defined]
        if editing:
            del self.fields["code"]
        else:
            del self.fields["reason"]

    def clean_permissions(self) -> list[str]:
        return list(self.cleaned_data.get("permissions") or [])


class RoleCloneForm(_Styled):
    code = forms.CharField(label=_("Code of the new role"), max_length=64)
    name = forms.CharField(label=_("Name of the new role"), max_length=100)


class DecisionForm(_Styled):
    decision = forms.ChoiceField(
        choices=[("approve", _("Approve")), ("reject", _("Reject")), ("withdraw", _("Withdraw"))],
        widget=forms.HiddenInput,
    )
    note = forms.CharField(label=_("Note"), required=False, max_length=500)
