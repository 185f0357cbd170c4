"""A large read-only response serialized straight from the rows a view built, shaped by its schema.

ninja validates what a view returns against its response schema (pydantic, reading every
attribute through a getter object), dumps it and renders the dump as JSON. For a payload of
typed rows such as the customer 360 (some 150 nested objects) that validation costs more than
the rest of the view while checking nothing the type checker has not. ``schema_dumper(Schema)``
compiles once, from the schema, a function that takes from an object (attributes, or keys of a
mapping) exactly the fields the schema declares, in its order, and passes the values pydantic
would pass (a ``str`` subclass becomes ``str``, an ``int`` for a ``Decimal`` a ``Decimal``);
anything else is a TypeError, never a silent difference. ``render_into`` writes the result into
the response ninja prepared, with the API's own renderer; it asks for the ``json_ready`` form, whose
amounts and dates are already the text the renderer's encoder would make of them (the encoder
then never calls back into Python for ~150 values of a 360: the same bytes, a third of the time).

The view keeps ``response=Schema`` for the OpenAPI document. Its tests validate real payloads
against the schema and compare them with ninja's own serialization, so the two cannot drift.
Schemas with resolvers, aliases, validators or serializers are refused when compiled.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Callable, Mapping
from datetime import date, datetime
from decimal import Decimal
from functools import cache
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.utils.functional import Promise
from ninja import Schema

from fincrm.platform.api import RENDERER

Dumper = Callable[[Any], Any]

# ninja's own wrap validator (it only swaps the object for its attribute getter).
_NINJA_VALIDATOR = "_run_root_validator"


def _unexpected(expected: str, value: Any) -> TypeError:
    return TypeError(f"expected {expected}, got {type(value).__name__}: {value!r:.80}")


def _int(value: Any) -> int:
    if type(value) is int:
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return int(value)
    raise _unexpected("int", value)


def _str(value: Any) -> str:
    if type(value) is str:
        return value
    if isinstance(value, str | Promise):  # a TextChoices member, a lazy translation
        return str(value)
    raise _unexpected("str", value)


def _bool(value: Any) -> bool:
    if type(value) is bool:
        return value
    raise _unexpected("bool", value)


def _decimal(value: Any) -> Decimal:
    if type(value) is Decimal:
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return Decimal(value)
    raise _unexpected("Decimal", value)


def _date(value: Any) -> date:
    if type(value) is date:
        return value
    raise _unexpected("date", value)


def _datetime(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value
    raise _unexpected("datetime", value)


def _any(value: Any) -> Any:
    return value


_SCALARS: dict[Any, Dumper] = {
    int: _int,
    str: _str,
    bool: _bool,
    Decimal: _decimal,
    date: _date,
    datetime: _datetime,
    Any: _any,
}

# The renderer's encoder, for the values JSON has no type for.
_ENCODER = RENDERER.encoder_class()


def _decimal_text(value: Any) -> str:
    return str(_decimal(value))  # as DjangoJSONEncoder writes a Decimal


def _date_text(value: Any) -> str:
    return _date(value).isoformat()  # as DjangoJSONEncoder writes a date


def _datetime_text(value: Any) -> str:
    return str(_ENCODER.default(_datetime(value)))  # its rounding and "Z" are the encoder's own


# The same checks, giving what the API's renderer writes for the value.
_JSON_SCALARS: dict[Any, Dumper] = {
    **_SCALARS,
    Decimal: _decimal_text,
    date: _date_text,
    datetime: _datetime_text,
}


def _optional(inner: Dumper) -> Dumper:
    def dump(value: Any) -> Any:
        return None if value is None else inner(value)

    return dump


def _list(inner: Dumper) -> Dumper:
    def dump(value: Any) -> list[Any]:
        if not isinstance(value, list | tuple):
            raise _unexpected("list", value)
        return [inner(item) for item in value]

    return dump


def _dict(key: Dumper, inner: Dumper) -> Dumper:
    def dump(value: Any) -> dict[Any, Any]:
        if not isinstance(value, Mapping):
            raise _unexpected("mapping", value)
        return {key(name): inner(item) for name, item in value.items()}

    return dump


def _compile(annotation: Any, json_ready: bool) -> Dumper:
    if isinstance(annotation, type) and issubclass(annotation, Schema):
        return schema_dumper(annotation, json_ready=json_ready)
    scalars = _JSON_SCALARS if json_ready else _SCALARS
    if annotation in scalars:
        return scalars[annotation]
    origin, arguments = typing.get_origin(annotation), typing.get_args(annotation)
    if origin in (types.UnionType, typing.Union):
        others = [argument for argument in arguments if argument is not type(None)]
        if len(others) == 1 and len(arguments) == 2:
            return _optional(_compile(others[0], json_ready))
    elif origin is list and len(arguments) == 1:
        return _list(_compile(arguments[0], json_ready))
    elif origin is dict and len(arguments) == 2:
        return _dict(_compile(arguments[0], json_ready), _compile(arguments[1], json_ready))
    raise TypeError(f"schema_dumper does not handle {annotation!r}")


def _check_plain(schema: type[Schema]) -> None:
    decorators = schema.__pydantic_decorators__
    validators = set(decorators.model_validators) - {_NINJA_VALIDATOR}
    extras = (
        validators
        | set(decorators.field_validators)
        | set(decorators.field_serializers)
        | set(decorators.model_serializers)
        | set(decorators.computed_fields)
        | set(getattr(schema, "_ninja_resolvers", {}))
    )
    aliased = {name for name, info in schema.model_fields.items() if info.alias not in (None, name)}
    if extras or aliased:
        raise TypeError(f"{schema.__name__} has resolvers, validators or aliases: {sorted(extras | aliased)}")


@cache
def schema_dumper(schema: type[Schema], *, json_ready: bool = False) -> Dumper:
    """The function giving, for an object or a mapping, the dict ninja would dump for ``schema``;
    ``json_ready``: with amounts, dates and times as the text the API's renderer writes for them."""
    _check_plain(schema)
    fields = [(name, _compile(info.annotation, json_ready)) for name, info in schema.model_fields.items()]
    # Fields with a default may be absent from the object, as pydantic allows.
    defaults = {
        name: info.get_default(call_default_factory=True)
        for name, info in schema.model_fields.items()
        if not info.is_required()
    }
    missing = object()

    def value_of(source: Any, name: str) -> Any:
        value = source.get(name, missing) if isinstance(source, Mapping) else getattr(source, name, missing)
        if value is missing:
            if name not in defaults:
                raise TypeError(f"{schema.__name__}.{name} is missing from {type(source).__name__}")
            return defaults[name]
        return value

    def dump(source: Any) -> dict[str, Any]:
        return {name: convert(value_of(source, name)) for name, convert in fields}

    return dump


def render_into(
    response: HttpResponse, request: HttpRequest, schema: type[Schema], source: Any
) -> HttpResponse:
    """``source`` serialized as ``schema`` into ``response`` (the response ninja passes a view, with
    its status, content type, headers and closers), rendered by the API's renderer."""
    data = schema_dumper(schema, json_ready=True)(source)
    response.content = RENDERER.render(request, data, response_status=response.status_code)
    return response
