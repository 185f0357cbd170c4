"""Writes of custom fields: their definitions (``customer.field.manage``) and customers' values
(``customer.edit`` on the customer). C2 values are encrypted and appear masked in the audit log."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from fincrm.audit.chain import jsonable
from fincrm.audit.services import audit_record
from fincrm.customers.models import CustomFieldDefinition, CustomFieldValue
from fincrm.customers.selectors import access_customer
from fincrm.customers.selectors.custom_fields import (
    FIELD_MANAGE,
    SECRET_TYPES,
    DataClass,
    FieldType,
    InvalidValue,
    access_definition,
    canonical_text,
    column_for,
    definitions_for,
    field_key,
    parse_value,
    stored_rows,
    stored_value,
)
from fincrm.platform import outbox, transaction
from fincrm.platform.access import require_permission
from fincrm.platform.actor import Actor
from fincrm.platform.errors import Conflict, ServiceError
from fincrm.security.masking import HIDDEN_RUN

EDIT = "customer.edit"
CODE_PATTERN = re.compile(r"[a-z][a-z0-9_]{0,39}")
CHOICE_VALUE_PATTERN = re.compile(r"[a-z0-9][a-z0-9_-]{0,39}")
LABEL_MAX_LENGTH = 100
MAX_CHOICES = 200


# ---------------------------------------------------------------- validating values


def _errors_to_service_error(errors: Mapping[str, tuple[str | Promise, str]]) -> ServiceError:
    codes = {code for _message, code in errors.values()}
    return ServiceError(
        _("Please correct the marked fields."),
        code=codes.pop() if len(codes) == 1 else "invalid",
        fields={name: [message] for name, (message, _code) in errors.items()},
    )


def clean_custom_values(kind: str, raw: Mapping[str, Any], *, partial: bool = False) -> dict[str, Any]:
    """Typed values ``{code: value or None}`` for a customer of ``kind`` from ``raw`` ``{code: raw}``.

    Every active field that applies to ``kind`` is checked (its type, choice membership, and
    ``required``); with ``partial`` only the codes present in ``raw`` are (and returned). Errors are
    collected for all fields and raised together as one ServiceError naming ``custom.<code>``.
    """
    definitions = {definition.code: definition for definition in definitions_for(kind)}
    errors: dict[str, tuple[str | Promise, str]] = {}
    for code in raw:
        if code not in definitions:
            errors[field_key(str(code))] = (
                _("There is no such custom field for this customer."),
                "unknown_field",
            )
    cleaned: dict[str, Any] = {}
    for code, definition in definitions.items():
        if partial and code not in raw:
            continue
        try:
            value = parse_value(definition, raw.get(code))
        except InvalidValue as error:
            errors[field_key(code)] = (error.message, error.code)
            continue
        if value is None and definition.required:
            errors[field_key(code)] = (_("This field is required."), "required")
            continue
        cleaned[code] = value
    if errors:
        raise _errors_to_service_error(errors)
    return cleaned


def _audit_value(definition: CustomFieldDefinition, value: Any) -> Any:
    if value is None:
        return None
    if definition.data_class == DataClass.C2:
        return HIDDEN_RUN  # a C2 value never reaches the audit log; only that it changed
    return jsonable({"v": value})["v"]


def _write_value(row: CustomFieldValue, definition: CustomFieldDefinition, value: Any) -> None:
    row.text_value = ""
    row.number_value = None
    row.decimal_value = None
    row.date_value = None
    row.bool_value = None
    row.choice_values = []
    row.secret_value = None
    if definition.data_class == DataClass.C2:
        row.secret_value = canonical_text(definition, value)
    else:
        setattr(row, column_for(definition), value)
    row.save()


@transaction.atomic
def custom_values_set(
    *, actor: Actor, customer_id: int, values: Mapping[str, Any], replace: bool = False
) -> dict[str, Any]:
    """Set a customer's custom values from ``{code: raw}``; an empty value clears the field.

    Without ``replace`` only the codes given change; with it every applicable field is set from
    ``values`` (a field left out is cleared). Either way, a required field must end up with a value.
    A C2 field sent as its mask (``"****"``, how it reads back) keeps its stored value.
    Returns the changed codes with their new values (C2 masked).
    """
    customer = access_customer(actor, customer_id, EDIT, for_update=True)
    definitions = {definition.code: definition for definition in definitions_for(customer.kind)}
    # A C2 value is read back masked; sending the mask back unchanged keeps the stored value.
    kept = {
        code
        for code, raw in values.items()
        if code in definitions and definitions[code].data_class == DataClass.C2 and raw == HIDDEN_RUN
    }
    given = {code: raw for code, raw in values.items() if code not in kept}
    if replace:
        given = {**{code: None for code in definitions if code not in kept}, **given}
    cleaned = clean_custom_values(customer.kind, given, partial=True)
    existing = stored_rows(customer.pk)
    missing_required = {
        field_key(code): (_("This field is required."), "required")
        for code, definition in definitions.items()
        if definition.required and code not in cleaned and code not in existing
    }
    if missing_required:
        raise _errors_to_service_error(missing_required)

    before: dict[str, Any] = {}
    after: dict[str, Any] = {}
    for code, value in cleaned.items():
        definition = definitions[code]
        row = existing.get(code)
        old = stored_value(row, definition) if row is not None else None
        if old == value:
            continue
        if value is None:
            assert row is not None
            row.delete()
        else:
            _write_value(row or CustomFieldValue(customer=customer, definition=definition), definition, value)
        before[code] = _audit_value(definition, old)
        after[code] = _audit_value(definition, value)
    if not after:
        return {}
    audit_record(
        actor,
        "customer.custom_values.changed",
        object_type="customer",
        object_id=str(customer.pk),
        before=before,
        after=after,
    )
    outbox.publish("customer.custom_values.changed", customer_id=customer.pk)
    return after


# ---------------------------------------------------------------- definitions


def definition_snapshot(definition: CustomFieldDefinition) -> dict[str, Any]:
    return {
        "code": definition.code,
        "label": definition.label,
        "label_en": definition.label_en,
        "field_type": definition.field_type,
        "applies_to": definition.applies_to,
        "data_class": definition.data_class,
        "choices": definition.choices,
        "required": definition.required,
        "is_active": definition.is_active,
        "position": definition.position,
    }


def _clean_label(value: object, field: str, *, required: bool = True) -> str:
    label = " ".join(str(value or "").split())
    if required and not label:
        raise ServiceError.field(field, _("Enter a label."), code="required")
    if len(label) > LABEL_MAX_LENGTH:
        raise ServiceError.field(
            field, _("Use at most %(limit)d characters.") % {"limit": LABEL_MAX_LENGTH}, code="too_long"
        )
    return label


def _clean_choice(value: object, choices: Any, field: str) -> str:
    text = str(value or "")
    if text not in {str(choice) for choice in choices}:
        raise ServiceError.field(field, _("Choose a value from the list."), code="invalid_choice")
    return text


def clean_choices(raw: Any, field_type: str) -> list[dict[str, str]]:
    """Validate choices ``[{"value", "label", "label_en"}]``: choice types need them, others refuse them."""
    items = raw if isinstance(raw, list | tuple) else []
    if raw not in (None, "") and not isinstance(raw, list | tuple):
        raise ServiceError.field("choices", _("Give the choices as a list."), code="invalid")
    if field_type not in (FieldType.CHOICE, FieldType.MULTI_CHOICE):
        if items:
            raise ServiceError.field(
                "choices", _("Only choice fields have choices."), code="not_a_choice_field"
            )
        return []
    if not items:
        raise ServiceError.field("choices", _("Give at least one choice."), code="required")
    if len(items) > MAX_CHOICES:
        raise ServiceError.field(
            "choices", _("Give at most %(limit)d choices.") % {"limit": MAX_CHOICES}, code="too_many"
        )
    cleaned: list[dict[str, str]] = []
    seen: set[str] = set()
    for item in items:
        if not isinstance(item, Mapping):
            raise ServiceError.field("choices", _("Give each choice a value and a label."), code="invalid")
        value = str(item.get("value") or "").strip()
        if not CHOICE_VALUE_PATTERN.fullmatch(value):
            raise ServiceError.field(
                "choices",
                _(
                    "A choice value uses 1 to 40 lower-case letters, digits, hyphens or underscores: "
                    "%(value)s is not one."
                )
                % {"value": value or '""'},
                code="invalid_choice_value",
            )
        if value in seen:
            raise ServiceError.field(
                "choices", _("The choice value %(value)s appears twice.") % {"value": value}, code="duplicate"
            )
        seen.add(value)
        label = _clean_label(item.get("label") or value, "choices")
        label_en = _clean_label(item.get("label_en"), "choices", required=False)
        cleaned.append({"value": value, "label": label, "label_en": label_en})
    return cleaned


def _clean_position(value: object) -> int:
    try:
        position = int(str(value))
    except (TypeError, ValueError):
        raise ServiceError.field("position", _("Enter a whole number from 0."), code="invalid") from None
    if not 0 <= position <= 100_000:
        raise ServiceError.field("position", _("Enter a whole number from 0 to 100000."), code="invalid")
    return position


def _check_data_class(field_type: str, data_class: str) -> None:
    if data_class == DataClass.C2 and field_type not in SECRET_TYPES:
        raise ServiceError.field(
            "data_class",
            _(
                "Only text, number, decimal and date fields can be C2: the search index of a field "
                "with few possible values would give them away."
            ),
            code="c2_type",
        )


@transaction.atomic
def custom_field_create(
    *,
    actor: Actor,
    code: str,
    label: str,
    field_type: str,
    label_en: str = "",
    applies_to: str = CustomFieldDefinition.AppliesTo.ALL,
    data_class: str = DataClass.C1,
    choices: Any = None,
    required: bool = False,
    position: int = 0,
) -> CustomFieldDefinition:
    require_permission(actor, FIELD_MANAGE)
    clean_code = str(code or "").strip()
    if not CODE_PATTERN.fullmatch(clean_code):
        raise ServiceError.field(
            "code",
            _("Use 1 to 40 lower-case letters, digits or underscores, starting with a letter."),
            code="invalid" if clean_code else "required",
        )
    field_type = _clean_choice(field_type, FieldType.values, "field_type")
    data_class = _clean_choice(data_class, DataClass.values, "data_class")
    definition = CustomFieldDefinition(
        code=clean_code,
        label=_clean_label(label, "label"),
        label_en=_clean_label(label_en, "label_en", required=False),
        field_type=field_type,
        applies_to=_clean_choice(applies_to, CustomFieldDefinition.AppliesTo.values, "applies_to"),
        data_class=data_class,
        choices=clean_choices(choices, field_type),
        required=bool(required),
        position=_clean_position(position),
    )
    _check_data_class(field_type, data_class)
    if CustomFieldDefinition.objects.filter(code=clean_code).exists():
        raise ServiceError.field("code", _("Another custom field already uses this code."), code="duplicate")
    definition.save()
    audit_record(
        actor,
        "customer.field.created",
        object_type="custom_field",
        object_id=str(definition.pk),
        after=definition_snapshot(definition),
    )
    outbox.publish("customer.field.defined", custom_field_id=definition.pk)
    return definition


@transaction.atomic
def custom_field_update(
    *,
    actor: Actor,
    field_id: int,
    label: str | None = None,
    label_en: str | None = None,
    field_type: str | None = None,
    applies_to: str | None = None,
    data_class: str | None = None,
    choices: Any = None,
    required: bool | None = None,
    is_active: bool | None = None,
    position: int | None = None,
) -> CustomFieldDefinition:
    """Change a definition; None leaves a field as it is. The code never changes; the type and the
    data class are fixed once a customer has a value (their storage would change)."""
    definition = access_definition(actor, field_id)
    definition = CustomFieldDefinition.objects.select_for_update().get(pk=definition.pk)
    before = definition_snapshot(definition)
    changes: dict[str, Any] = {}
    if label is not None:
        changes["label"] = _clean_label(label, "label")
    if label_en is not None:
        changes["label_en"] = _clean_label(label_en, "label_en", required=False)
    if field_type is not None:
        changes["field_type"] = _clean_choice(field_type, FieldType.values, "field_type")
    if applies_to is not None:
        changes["applies_to"] = _clean_choice(
            applies_to, CustomFieldDefinition.AppliesTo.values, "applies_to"
        )
    if data_class is not None:
        changes["data_class"] = _clean_choice(data_class, DataClass.values, "data_class")
    new_type = changes.get("field_type", definition.field_type)
    if choices is not None or "field_type" in changes:
        changes["choices"] = clean_choices(choices if choices is not None else definition.choices, new_type)
    if required is not None:
        changes["required"] = bool(required)
    if is_active is not None:
        changes["is_active"] = bool(is_active)
    if position is not None:
        changes["position"] = _clean_position(position)
    changes = {name: value for name, value in changes.items() if getattr(definition, name) != value}
    if not changes:
        return definition
    _check_data_class(new_type, changes.get("data_class", definition.data_class))
    if {"field_type", "data_class"} & set(changes) and definition.values.exists():
        name = "field_type" if "field_type" in changes else "data_class"
        raise ServiceError.field(
            name,
            _("Customers already have values for this field: its type and data class can no longer change."),
            code="in_use",
        )
    for name, value in changes.items():
        setattr(definition, name, value)
    definition.save(update_fields=[*changes, "updated_at"])
    audit_record(
        actor,
        "customer.field.updated",
        object_type="custom_field",
        object_id=str(definition.pk),
        before=before,
        after=definition_snapshot(definition),
    )
    outbox.publish("customer.field.defined", custom_field_id=definition.pk)
    return definition


@transaction.atomic
def custom_field_delete(*, actor: Actor, field_id: int) -> None:
    """Delete a definition no customer has a value for; one in use is deactivated instead."""
    definition = access_definition(actor, field_id)
    definition = CustomFieldDefinition.objects.select_for_update().get(pk=definition.pk)
    if definition.values.exists():
        raise Conflict(
            _("Customers have values for this field: deactivate it instead of deleting it."), code="in_use"
        )
    before = definition_snapshot(definition)
    pk = definition.pk
    definition.delete()
    audit_record(
        actor, "customer.field.deleted", object_type="custom_field", object_id=str(pk), before=before
    )
    outbox.publish("customer.field.defined", custom_field_id=pk)
