"""Properties of the custom-value parsers: they never fail on arbitrary input except with a field
error, and stored (canonical) forms read back as the same value."""

from __future__ import annotations

import contextlib
import datetime
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fincrm.customers.models import CustomFieldDefinition
from fincrm.customers.selectors.custom_fields import (
    DECIMAL_LIMIT,
    InvalidValue,
    canonical_text,
    parse_value,
)

CHOICES = [
    {"value": "gold", "label": "黄金"},
    {"value": "silver", "label": "白银"},
    {"value": "cash", "label": "现金"},
]
TYPES = [choice for choice, _label in CustomFieldDefinition.FieldType.choices]


def definition(field_type: str) -> CustomFieldDefinition:
    return CustomFieldDefinition(code="f", label="F", field_type=field_type, choices=CHOICES)


anything = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.decimals(allow_nan=True, allow_infinity=True)
    | st.text()
    | st.dates()
    | st.datetimes(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=4), inner, max_size=3),
    max_leaves=8,
)


@given(st.sampled_from(TYPES), anything)
def test_parsing_never_fails_but_with_a_field_error(field_type: str, raw: Any) -> None:
    try:
        parse_value(definition(field_type), raw)
    except InvalidValue as error:
        message = str(error.message)
    else:
        message = "ok"
    assert message


@given(st.sampled_from(TYPES), st.text(alphabet="0123456789.-+eE,: TZ", max_size=30))
def test_numeric_looking_text_never_crashes(field_type: str, raw: str) -> None:
    with contextlib.suppress(InvalidValue):
        parse_value(definition(field_type), raw)


decimals = st.decimals(min_value=-DECIMAL_LIMIT + 1, max_value=DECIMAL_LIMIT - 1, places=4, allow_nan=False)


@given(decimals)
def test_decimals_round_trip_through_their_canonical_text(value: Decimal) -> None:
    field = definition("decimal")
    parsed = parse_value(field, str(value))
    assert parsed == value
    assert parse_value(field, canonical_text(field, parsed)) == parsed
    assert canonical_text(field, parsed) == canonical_text(field, parse_value(field, format(value, "f")))


@given(st.integers(min_value=-(2**63), max_value=2**63 - 1))
def test_whole_numbers_round_trip(value: int) -> None:
    field = definition("number")
    assert parse_value(field, str(value)) == value == parse_value(field, canonical_text(field, value))


@given(st.integers(min_value=2**63))
def test_too_large_numbers_are_refused(value: int) -> None:
    with pytest.raises(InvalidValue) as excinfo:
        parse_value(definition("number"), value)
    assert excinfo.value.code == "out_of_range"


@given(st.dates())
def test_dates_round_trip(value: datetime.date) -> None:
    field = definition("date")
    assert parse_value(field, value.isoformat()) == value == parse_value(field, canonical_text(field, value))


@given(st.lists(st.sampled_from(["gold", "silver", "cash"]), min_size=1))
def test_multi_choice_is_ordered_and_unique(chosen: list[str]) -> None:
    parsed = parse_value(definition("multi_choice"), chosen)
    assert parsed == [value for value in ("gold", "silver", "cash") if value in chosen]


@given(st.decimals(allow_nan=False, allow_infinity=False))
def test_accepted_decimals_fit_the_column(value: Decimal) -> None:
    try:
        parsed = parse_value(definition("decimal"), str(value))
    except InvalidValue:
        return
    exponent = parsed.as_tuple().exponent
    assert isinstance(exponent, int)
    assert exponent >= -4
    assert abs(parsed) < DECIMAL_LIMIT
