"""choice_labels gives what get_FOO_display gives, in each language, for every value."""

from __future__ import annotations

import pytest
from django.utils import translation

from fincrm.customers.models import Customer
from fincrm.platform.choices import choice_labels

CHOICE_FIELDS = ("kind", "lifecycle_stage", "value_tier", "aml_risk_rating", "risk_tolerance", "status")


@pytest.mark.parametrize("language", ["zh-hans", "en"])
@pytest.mark.parametrize("field_name", CHOICE_FIELDS)
def test_labels_are_the_display_labels(language: str, field_name: str) -> None:
    field = Customer._meta.get_field(field_name)
    with translation.override(language):
        labels = choice_labels(Customer._meta.label, field_name, language)
        for value, _label in field.flatchoices:
            customer = Customer(**{field_name: value})
            assert labels[str(value)] == getattr(customer, f"get_{field_name}_display")()
        # A value without a label stands for itself, as get_FOO_display has it.
        assert (
            labels.get("retired-code", "retired-code")
            == Customer(**{field_name: "retired-code"}).__getattribute__(f"get_{field_name}_display")()
        )


def test_labels_differ_by_language() -> None:
    english = choice_labels(Customer._meta.label, "value_tier", "en")
    chinese = choice_labels(Customer._meta.label, "value_tier", "zh-hans")
    assert english.keys() == chinese.keys()
    assert english != chinese
