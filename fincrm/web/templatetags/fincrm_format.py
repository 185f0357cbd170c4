"""``{% load fincrm_format %}``: the figures and times of tables, formatted without the general
filters' per-call locale lookups (the 360 page formats some sixty of them).

* ``{{ amount|money }}`` is ``{{ amount|floatformat:"2g" }}``: two decimals rounded half up, digits
  grouped as the current language groups them;
* ``{{ moment|minute }}`` is ``{{ moment|date:"Y-m-d H:i" }}`` and ``{{ day|day }}`` is
  ``{{ day|date:"Y-m-d" }}``, in the current time zone.

Each gives exactly what the filter it stands for gives (tests compare them); values of other
types are handed to that filter.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from functools import lru_cache
from typing import Any

from django import template
from django.template.defaultfilters import date as date_filter
from django.template.defaultfilters import floatformat
from django.utils import numberformat
from django.utils.formats import get_format
from django.utils.safestring import SafeString
from django.utils.translation import get_language

register = template.Library()

CENT = Decimal("0.01")
# What Python's own grouping (format spec ",") writes.
PYTHON_GROUPING = (".", 3, ",")


@lru_cache(maxsize=32)
def _separators(language: str | None) -> tuple[str, Any, str]:
    return (
        get_format("DECIMAL_SEPARATOR", language),
        get_format("NUMBER_GROUPING", language),
        get_format("THOUSAND_SEPARATOR", language),
    )


@register.filter(is_safe=True)
def money(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, Decimal | int):
        return floatformat(value, "2g")
    try:
        rounded = Decimal(value).quantize(CENT, ROUND_HALF_UP)
    except InvalidOperation:  # infinite, not a number, or more digits than the context holds
        return floatformat(value, "2g")
    if not rounded:
        rounded = abs(rounded)  # floatformat writes no sign on a zero
    separators = _separators(get_language())
    if separators == PYTHON_GROUPING:
        return SafeString(f"{rounded:,.2f}")
    decimal_separator, grouping, thousand_separator = separators
    return SafeString(
        numberformat.format(
            f"{rounded:.2f}",
            decimal_separator,
            2,
            grouping,
            thousand_separator,
            force_grouping=True,
            use_l10n=True,
        )
    )


@register.filter(expects_localtime=True, is_safe=False)
def minute(value: Any) -> str:
    if not isinstance(value, datetime):
        return str(date_filter(value, "Y-m-d H:i"))
    return f"{value.year:04d}-{value.month:02d}-{value.day:02d} {value.hour:02d}:{value.minute:02d}"


@register.filter(expects_localtime=True, is_safe=False)
def day(value: Any) -> str:
    if not isinstance(value, date):
        return str(date_filter(value, "Y-m-d"))
    return f"{value.year:04d}-{value.month:02d}-{value.day:02d}"
