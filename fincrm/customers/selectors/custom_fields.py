"""Reads of custom fields: the definitions, one value parser per type (shared by the services'
validation and by filters), customers' values for display, and the filter builder for lists.

Where a value lives: text and single choice in ``text_value``, whole numbers in ``number_value``,
decimals in ``decimal_value``, dates in ``date_value``, yes/no in ``bool_value``, multiple choice in
``choice_values``. A C2 field's value is kept only in ``secret_value`` (encrypted) as its canonical
text, with a blind index: such a field can be filtered by exact value only.
"""

from __future__ import annotations

import datetime
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import Any

from django.db import connection
from django.db.models import Exists, F, OuterRef, Q, QuerySet
from django.utils import translation
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from fincrm.customers.models import CustomFieldDefinition, CustomFieldValue
from fincrm.platform.access import access_object
from fincrm.platform.actor import Actor
from fincrm.platform.errors import ServiceError
from fincrm.platform.rows import load_instance, select_columns, sql_text, table
from fincrm.security.fields import blind_index, normalize_text
from fincrm.security.masking import HIDDEN_RUN

FIELD_MANAGE = "customer.field.manage"
FieldType = CustomFieldDefinition.FieldType
DataClass = CustomFieldDefinition.DataClass

TEXT_MAX_LENGTH = 500
NUMBER_MIN, NUMBER_MAX = -(2**63), 2**63 - 1
DECIMAL_PLACES = 4
DECIMAL_LIMIT = Decimal(10) ** 16  # max_digits 20 with 4 decimal places
# Types whose values can be C2: few-valued types would be given away by their blind index.
SECRET_TYPES = frozenset({FieldType.TEXT, FieldType.NUMBER, FieldType.DECIMAL, FieldType.DATE})
RANGE_TYPES = frozenset({FieldType.NUMBER, FieldType.DECIMAL, FieldType.DATE})
_INTEGER = re.compile(r"[+-]?[0-9]+")
_TRUE = frozenset({"true", "1", "yes", "on"})
_FALSE = frozenset({"false", "0", "no", "off"})


class InvalidValue(Exception):
    """A raw value broke its field's rule; ``message`` is localized and names the rule."""

    def __init__(self, message: str | Promise, code: str = "invalid") -> None:
        super().__init__(str(message))
        self.message = message
        self.code = code


def field_key(code: str) -> str:
    """The field name errors are reported under (and page forms name their inputs)."""
    return f"custom.{code}"


# ---------------------------------------------------------------- definitions


def definition_list(*, include_inactive: bool = True) -> QuerySet[CustomFieldDefinition]:
    definitions = CustomFieldDefinition.objects.order_by("position", "code")
    return definitions if include_inactive else definitions.filter(is_active=True)


_DEFINITIONS_STATEMENT = """
SELECT {definition_columns} FROM {definitions} d
WHERE d.is_active = %s AND d.applies_to IN (%s, %s)
ORDER BY d.position, d.code"""


@lru_cache(maxsize=4)
def _definitions_sql(vendor: str) -> str:
    """``definition_list(include_inactive=False).filter(applies_to__in=[ALL, kind])`` written once:
    every 360 asks it, and the ORM spent more time building it than the database answering."""
    del vendor  # the cache key: quoting differs per database
    return sql_text(
        _DEFINITIONS_STATEMENT,
        definition_columns=select_columns(CustomFieldDefinition, "d", connection),
        definitions=table(CustomFieldDefinition, connection),
    )


def definitions_for(kind: str | None) -> list[CustomFieldDefinition]:
    """The active definitions that apply to customers of ``kind`` (all of them for None)."""
    if kind is None:
        return list(definition_list(include_inactive=False))
    with connection.cursor() as cursor:
        cursor.execute(
            _definitions_sql(connection.vendor), [True, CustomFieldDefinition.AppliesTo.ALL.value, kind]
        )
        rows = cursor.fetchall()
    return [load_instance(CustomFieldDefinition, row, 0, connection) for row in rows]


def access_definition(
    actor: Actor, definition_id: object, action: str = FIELD_MANAGE
) -> CustomFieldDefinition:
    queryset = (
        CustomFieldDefinition.objects.all() if actor.can(action) else CustomFieldDefinition.objects.none()
    )
    return access_object(queryset, definition_id, actor=actor, action=action, object_type="custom_field")


def display_label(definition: CustomFieldDefinition) -> str:
    if (translation.get_language() or "").startswith("en") and definition.label_en:
        return definition.label_en
    return definition.label


def choice_label(definition: CustomFieldDefinition, value: str) -> str:
    english = (translation.get_language() or "").startswith("en")
    for choice in definition.choices or []:
        if choice.get("value") == value:
            return str((english and choice.get("label_en")) or choice.get("label") or value)
    return value


def choice_values(definition: CustomFieldDefinition) -> list[str]:
    return [str(choice.get("value")) for choice in definition.choices or []]


# ---------------------------------------------------------------- parsing


def is_empty(raw: Any) -> bool:
    if raw is None:
        return True
    if isinstance(raw, str):
        return not raw.strip()
    if isinstance(raw, list | tuple | set | frozenset):
        return len(raw) == 0
    return False


def parse_value(definition: CustomFieldDefinition, raw: Any) -> Any:
    """The typed value of ``raw`` for ``definition``, None for empty; InvalidValue when it breaks the
    type's rule. Never raises anything else, whatever ``raw`` is."""
    if is_empty(raw):
        return None
    parser = (
        _PARSERS.get(FieldType(definition.field_type)) if definition.field_type in FieldType.values else None
    )
    if parser is None:
        raise InvalidValue(_("This field's type is not supported."), "invalid_type")
    return parser(definition, raw)


def _text(definition: CustomFieldDefinition, raw: Any) -> str:
    if not isinstance(raw, str | int | Decimal) or isinstance(raw, bool):
        raise InvalidValue(_("Enter text."), "invalid_text")
    text = normalize_text(str(raw))
    if len(text) > TEXT_MAX_LENGTH:
        raise InvalidValue(_("Use at most %(limit)d characters.") % {"limit": TEXT_MAX_LENGTH}, "too_long")
    return text


def _finite(value: Decimal | float) -> bool:
    return value.is_finite() if isinstance(value, Decimal) else math.isfinite(value)


def _number(definition: CustomFieldDefinition, raw: Any) -> int:
    if isinstance(raw, bool):
        raise InvalidValue(_("Enter a whole number, e.g. 42."), "invalid_number")
    if isinstance(raw, int):
        value = raw
    elif isinstance(raw, str) and _INTEGER.fullmatch(normalize_text(raw).replace(",", "")):
        value = int(normalize_text(raw).replace(",", ""))
    elif isinstance(raw, Decimal | float) and _finite(raw) and abs(Decimal(raw)) < 2**64:
        if int(raw) != raw:
            raise InvalidValue(_("Enter a whole number, e.g. 42."), "invalid_number")
        value = int(raw)
    else:
        raise InvalidValue(_("Enter a whole number, e.g. 42."), "invalid_number")
    if not NUMBER_MIN <= value <= NUMBER_MAX:
        raise InvalidValue(_("The number is too large."), "out_of_range")
    return value


def _decimal(definition: CustomFieldDefinition, raw: Any) -> Decimal:
    if isinstance(raw, bool) or not isinstance(raw, str | int | float | Decimal):
        raise InvalidValue(_("Enter a number, e.g. 1234.56."), "invalid_decimal")
    text = normalize_text(str(raw)).replace(",", "") if isinstance(raw, str) else str(raw)
    try:
        value = Decimal(text)
    except (InvalidOperation, ValueError):
        raise InvalidValue(_("Enter a number, e.g. 1234.56."), "invalid_decimal") from None
    if not value.is_finite():
        raise InvalidValue(_("Enter a number, e.g. 1234.56."), "invalid_decimal")
    if abs(value) >= DECIMAL_LIMIT:
        raise InvalidValue(_("The number is too large."), "out_of_range")
    value = canonical_decimal(value)
    exponent = value.as_tuple().exponent
    if isinstance(exponent, int) and -exponent > DECIMAL_PLACES:
        raise InvalidValue(
            _("Use at most %(places)d decimal places.") % {"places": DECIMAL_PLACES}, "too_many_places"
        )
    return value


def canonical_decimal(value: Decimal) -> Decimal:
    """The same number without trailing zeros or exponent (``1.50`` → ``1.5``, ``1E+2`` → ``100``),
    exactly (no rounding to the context's precision). Only for finite values below DECIMAL_LIMIT."""
    sign, digits_tuple, exponent = value.as_tuple()
    if not isinstance(exponent, int):
        return value
    digits = list(digits_tuple)
    while exponent < 0 and len(digits) > 1 and digits[-1] == 0:
        digits.pop()
        exponent += 1
    if exponent > 0:
        digits += [0] * exponent
        exponent = 0
    if not any(digits):
        return Decimal(0)
    return Decimal((sign, tuple(digits), exponent))


def _date(definition: CustomFieldDefinition, raw: Any) -> datetime.date:
    if isinstance(raw, datetime.datetime):
        raise InvalidValue(_("Enter a date as YYYY-MM-DD."), "invalid_date")
    if isinstance(raw, datetime.date):
        return raw
    if isinstance(raw, str) and re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", raw.strip()):
        try:
            return datetime.date.fromisoformat(raw.strip())
        except ValueError:
            pass
    raise InvalidValue(_("Enter a date as YYYY-MM-DD."), "invalid_date")


def _choice(definition: CustomFieldDefinition, raw: Any) -> str:
    allowed = choice_values(definition)
    if not isinstance(raw, str) or raw.strip() not in allowed:
        raise InvalidValue(
            _("Choose one of: %(choices)s.") % {"choices": ", ".join(allowed)}, "invalid_choice"
        )
    return raw.strip()


def _multi_choice(definition: CustomFieldDefinition, raw: Any) -> list[str]:
    allowed = choice_values(definition)
    items = [raw] if isinstance(raw, str) else raw
    if not isinstance(items, list | tuple | set | frozenset) or not all(
        isinstance(item, str) for item in items
    ):
        raise InvalidValue(_("Choose one or more values from the list."), "invalid_choice")
    chosen = {item.strip() for item in items if item.strip()}
    unknown = chosen - set(allowed)
    if unknown:
        raise InvalidValue(
            _("Choose only from: %(choices)s.") % {"choices": ", ".join(allowed)}, "invalid_choice"
        )
    return [value for value in allowed if value in chosen]  # in the definition's order, once each


def _boolean(definition: CustomFieldDefinition, raw: Any) -> bool:
    if isinstance(raw, bool):
        return raw
    if isinstance(raw, int) and raw in (0, 1):
        return bool(raw)
    if isinstance(raw, str) and raw.strip().lower() in _TRUE | _FALSE:
        return raw.strip().lower() in _TRUE
    raise InvalidValue(_("Choose yes or no."), "invalid_boolean")


_PARSERS: dict[FieldType, Any] = {
    FieldType.TEXT: _text,
    FieldType.NUMBER: _number,
    FieldType.DECIMAL: _decimal,
    FieldType.DATE: _date,
    FieldType.CHOICE: _choice,
    FieldType.MULTI_CHOICE: _multi_choice,
    FieldType.BOOLEAN: _boolean,
}


def canonical_text(definition: CustomFieldDefinition, value: Any) -> str:
    """How a typed value of a C2 field is stored in ``secret_value`` (and blind-indexed)."""
    if isinstance(value, Decimal):
        return format(canonical_decimal(value), "f")
    if isinstance(value, datetime.date):
        return value.isoformat()
    return str(value)


# ---------------------------------------------------------------- stored values


def stored_value(row: CustomFieldValue, definition: CustomFieldDefinition, *, reveal: bool = True) -> Any:
    """The typed value a row holds. A C2 value is decrypted only when ``reveal`` (else HIDDEN_RUN)."""
    field_type = definition.field_type
    if definition.data_class == DataClass.C2:
        if not reveal:
            return HIDDEN_RUN
        secret = row.secret_value
        if secret is None:
            return None
        try:
            return parse_value(definition, str(secret))
        except InvalidValue:
            return str(secret)
    if field_type in (FieldType.TEXT, FieldType.CHOICE):
        return row.text_value or None
    if field_type == FieldType.NUMBER:
        return row.number_value
    if field_type == FieldType.DECIMAL:
        return canonical_decimal(row.decimal_value) if row.decimal_value is not None else None
    if field_type == FieldType.DATE:
        return row.date_value
    if field_type == FieldType.BOOLEAN:
        return row.bool_value
    return list(row.choice_values or [])


def _applicable_values(customer_ids: Iterable[int]) -> QuerySet[CustomFieldValue]:
    return (
        CustomFieldValue.objects.filter(customer_id__in=sorted(set(customer_ids)), definition__is_active=True)
        .filter(
            Q(definition__applies_to=CustomFieldDefinition.AppliesTo.ALL)
            | Q(definition__applies_to=F("customer__kind"))
        )
        .select_related("definition")
        .order_by("customer_id", "definition__position", "definition__code")
    )


def custom_values_for(customer_ids: Iterable[int], *, reveal_c2: bool = False) -> dict[int, dict[str, Any]]:
    """``{customer_id: {code: typed value}}`` for the given customers (ids the caller read through a
    scoped selector), in one query. C2 values are HIDDEN_RUN unless ``reveal_c2``."""
    ids = sorted({int(pk) for pk in customer_ids})
    result: dict[int, dict[str, Any]] = {pk: {} for pk in ids}
    if not ids:
        return result
    for row in _applicable_values(ids):
        result[row.customer_id][row.definition.code] = stored_value(row, row.definition, reveal=reveal_c2)
    return result


@dataclass(frozen=True)
class CustomFieldRow:
    definition: CustomFieldDefinition
    label: str
    value: Any
    display: str
    is_secret: bool

    @property
    def code(self) -> str:
        return self.definition.code


def display_value(definition: CustomFieldDefinition, value: Any) -> str:
    if value is None or value == []:
        return ""
    if definition.data_class == DataClass.C2 and value == HIDDEN_RUN:
        return HIDDEN_RUN
    if definition.field_type == FieldType.BOOLEAN:
        return str(_("Yes") if value else _("No"))
    if definition.field_type == FieldType.CHOICE:
        return choice_label(definition, str(value))
    if definition.field_type == FieldType.MULTI_CHOICE:
        return ", ".join(choice_label(definition, str(item)) for item in value)
    if isinstance(value, Decimal):
        return format(value, ",f")
    if isinstance(value, datetime.date):
        return value.isoformat()
    return str(value)


def custom_field_rows(customer_id: int, kind: str, *, reveal_c2: bool = False) -> list[CustomFieldRow]:
    """Every active field that applies to the customer (of ``kind``), with its value for display:
    the definitions, then their values by definition id (no join: the definitions are known); none
    when no field applies (on every 360 page of an institution without custom fields)."""
    definitions = definitions_for(kind)
    if not definitions:
        return []
    by_id = {definition.pk: definition for definition in definitions}
    stored = CustomFieldValue.objects.filter(customer_id=customer_id, definition_id__in=sorted(by_id))
    values = {
        row.definition_id: stored_value(row, by_id[row.definition_id], reveal=reveal_c2) for row in stored
    }
    rows = []
    for definition in definitions:
        value = values.get(definition.pk)
        rows.append(
            CustomFieldRow(
                definition=definition,
                label=display_label(definition),
                value=value,
                display=display_value(definition, value),
                is_secret=definition.data_class == DataClass.C2,
            )
        )
    return rows


def stored_rows(customer_id: int) -> dict[str, CustomFieldValue]:
    """The value rows of one customer by code (every definition, active or not), for the services."""
    rows = CustomFieldValue.objects.filter(customer_id=customer_id).select_related("definition")
    return {row.definition.code: row for row in rows}


# ---------------------------------------------------------------- filtering


@dataclass(frozen=True)
class Range:
    """An inclusive range for number, decimal and date fields; None leaves a side open."""

    low: Any = None
    high: Any = None


def _filter_error(code: str, message: str | Promise, rule: str = "invalid") -> ServiceError:
    return ServiceError.field(field_key(code), message, code=rule)


def _parse_for_filter(definition: CustomFieldDefinition, raw: Any) -> Any:
    try:
        value = parse_value(definition, raw)
    except InvalidValue as error:
        raise _filter_error(definition.code, error.message, error.code) from None
    if value is None:
        raise _filter_error(definition.code, _("Enter a value to filter by."), "required")
    return value


def custom_field_filter(code: str, value: Any) -> Q:
    """A condition on Customer: it has a value of custom field ``code`` matching ``value``.

    ``value`` is a single value (exact match), a Range or ``{"min": …, "max": …}`` (number, decimal
    and date fields), or a list (any of them: single choice, multiple choice, or exact values). C2
    fields match by exact value only, through the blind index. An EXISTS subquery, so it combines with
    scoped querysets without joins. Unknown fields and malformed values raise ServiceError naming
    ``custom.<code>``.
    """
    definition = CustomFieldDefinition.objects.filter(code=str(code), is_active=True).first()
    if definition is None:
        raise _filter_error(str(code), _("There is no such custom field."), "unknown_field")
    rows = CustomFieldValue.objects.filter(customer_id=OuterRef("pk"), definition_id=definition.pk)
    field_type = definition.field_type
    is_range = isinstance(value, Range) or (isinstance(value, Mapping) and set(value) <= {"min", "max"})
    if isinstance(value, Mapping) and not is_range:
        raise _filter_error(code, _("Give a range as min and max."), "invalid_range")

    if is_range:
        low, high = (
            (value.low, value.high) if isinstance(value, Range) else (value.get("min"), value.get("max"))
        )
        if definition.data_class == DataClass.C2 or field_type not in RANGE_TYPES:
            raise _filter_error(code, _("This field can only be filtered by exact value."), "exact_only")
        column = _column(definition)
        condition = Q()
        if not is_empty(low):
            condition &= Q(**{f"{column}__gte": _parse_for_filter(definition, low)})
        if not is_empty(high):
            condition &= Q(**{f"{column}__lte": _parse_for_filter(definition, high)})
        if not condition:
            raise _filter_error(code, _("Enter a value to filter by."), "required")
        return Q(Exists(rows.filter(condition)))

    values: Sequence[Any] = list(value) if isinstance(value, list | tuple | set | frozenset) else [value]
    if field_type == FieldType.MULTI_CHOICE:
        chosen = _parse_for_filter(definition, list(values))
        # The JSON text holds each chosen value quoted; choice values are slugs, so a quoted match is exact.
        condition = Q()
        for item in chosen:
            condition |= Q(choice_values__icontains=f'"{item}"')
        return Q(Exists(rows.filter(condition)))
    if not values:
        raise _filter_error(code, _("Enter a value to filter by."), "required")
    parsed = [_parse_for_filter(definition, item) for item in values]
    if definition.data_class == DataClass.C2:
        digests = sorted({blind_index(canonical_text(definition, item), "text") for item in parsed})
        return Q(Exists(rows.filter(secret_value_bidx__in=digests)))
    column = _column(definition)
    if field_type == FieldType.TEXT:
        condition = Q()
        for item in parsed:
            condition |= Q(text_value__iexact=item)
        return Q(Exists(rows.filter(condition)))
    return Q(Exists(rows.filter(**{f"{column}__in": parsed})))


def _column(definition: CustomFieldDefinition) -> str:
    return {
        FieldType.TEXT: "text_value",
        FieldType.CHOICE: "text_value",
        FieldType.NUMBER: "number_value",
        FieldType.DECIMAL: "decimal_value",
        FieldType.DATE: "date_value",
        FieldType.BOOLEAN: "bool_value",
        FieldType.MULTI_CHOICE: "choice_values",
    }[FieldType(definition.field_type)]


column_for = _column
