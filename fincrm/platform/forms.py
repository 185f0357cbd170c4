"""Form helpers every page shares."""

from __future__ import annotations

from django import forms

from fincrm.platform.errors import ServiceError


def apply_service_error(form: forms.Form, error: ServiceError) -> None:
    """Show a service's refusal on the form: each message on its field, the rest above the form."""
    if not error.fields:
        form.add_error(None, str(error.message))
        return
    for field, messages in error.fields.items():
        for message in messages:
            form.add_error(field if field in form.fields else None, message)
