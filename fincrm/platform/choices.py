"""Display labels of choice fields, from a table built once per field and language.

``instance.get_FOO_display()`` rebuilds the field's value-to-label dict and translates the label
on every call: the 360's sixty coded values and a list page's fifty rows of coded columns spent
more in it than in their SQL. ``choice_labels`` gives the same labels (a value without a label
stands for itself, as there); ask for the active language once per page or section, not once per
value (reading it is a context-local lookup that cost more than the label).
"""

from __future__ import annotations

from functools import lru_cache

from django.apps import apps


@lru_cache(maxsize=512)
def choice_labels(model_label: str, field_name: str, language: str | None) -> dict[str, str]:
    """value -> label of a choice field of ``model_label`` ("app.Model") in ``language``."""
    field = apps.get_model(model_label)._meta.get_field(field_name)
    return {str(value): str(label) for value, label in field.flatchoices}
