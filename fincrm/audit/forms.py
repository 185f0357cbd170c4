"""The auditor's search form (GET parameters, so a search is a link)."""

from __future__ import annotations

from datetime import datetime, time, timedelta

from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from fincrm.audit.selectors import AuditFilter


class AuditSearchForm(forms.Form):
    actor = forms.CharField(
        label=_("Actor"),
        required=False,
        max_length=150,
        help_text=_("A username, or an actor such as cli:ops or token:ab12cd"),
    )
    action = forms.CharField(
        label=_("Action"),
        required=False,
        max_length=100,
        help_text=_("A code such as user.created; end with a dot for a group (user.)"),
    )
    object_type = forms.CharField(label=_("Object type"), required=False, max_length=64)
    object_id = forms.CharField(label=_("Object id"), required=False, max_length=64)
    date_from = forms.DateField(
        label=_("From"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    date_to = forms.DateField(label=_("To"), required=False, widget=forms.DateInput(attrs={"type": "date"}))

    def clean(self) -> dict[str, object]:
        data = super().clean() or {}
        start, end = data.get("date_from"), data.get("date_to")
        if start and end and end < start:
            self.add_error("date_to", _("The end date is before the start date."))
        return data

    def filters(self) -> AuditFilter:
        """The filter for a valid form (dates are whole days in the institution's time zone)."""
        data = self.cleaned_data if self.is_valid() else {}
        zone = timezone.get_current_timezone()

        def start_of(day: object) -> datetime | None:
            if day is None:
                return None
            return datetime.combine(day, time.min, tzinfo=zone)  # type: ignore[arg-type]

        end = data.get("date_to")
        return AuditFilter(
            actor=(data.get("actor") or "").strip(),
            action=(data.get("action") or "").strip(),
            object_type=(data.get("object_type") or "").strip(),
            object_id=(data.get("object_id") or "").strip(),
            occurred_from=start_of(data.get("date_from")),
            occurred_before=start_of(end + timedelta(days=1)) if end else None,
        )
