"""Model instances from a hand-written SELECT, loaded exactly as the ORM loads them.

A statement run on every request (signing in with a token) can spend more time in the ORM, which
builds and compiles the query anew each time, than in the database. Such a statement can be
written once as SQL text (``sql_text``: a template whose slots take table names and column lists
from the models' metadata, ``table`` and ``select_columns``; values are always parameters) and
its rows loaded with ``load_instance``: the converters the ORM applies (the backend's, then the
field's ``from_db_value``) and ``Model.from_db``, so the instance is the one a queryset would
give (every concrete field loaded, none deferred).
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from django.db import connections, models
from django.db.backends.base.base import BaseDatabaseWrapper

ModelT = TypeVar("ModelT", bound=models.Model)

Converters = list[tuple[int, Any, list[Callable[..., Any]]]]

# Per connection (converters may be bound to the backend's operations): model -> converters.
_CONVERTERS: weakref.WeakKeyDictionary[BaseDatabaseWrapper, dict[type[models.Model], Converters]] = (
    weakref.WeakKeyDictionary()
)


def sql_text(template: str, **identifiers: str) -> str:
    """``template`` with its ``{name}`` slots filled by ``identifiers``: quoted names and column
    lists made from model metadata (or SQL written in code), never values from a request."""
    return template.format(**identifiers)


def table(model: type[models.Model], connection: BaseDatabaseWrapper) -> str:
    """The model's table name, quoted."""
    return str(connection.ops.quote_name(model._meta.db_table))


def select_columns(model: type[models.Model], alias: str, connection: BaseDatabaseWrapper) -> str:
    """``alias."column", …`` for every concrete field of ``model``, in the order ``load_instance``
    reads them."""
    quote = connection.ops.quote_name
    return ", ".join(f"{quote(alias)}.{quote(field.column)}" for field in model._meta.concrete_fields)


def width(model: type[models.Model]) -> int:
    """How many columns ``select_columns`` selects."""
    return len(model._meta.concrete_fields)


def _converters(model: type[models.Model], connection: BaseDatabaseWrapper) -> Converters:
    # The thread's own connection object, not the ``django.db.connection`` proxy.
    known = _CONVERTERS.setdefault(connections[connection.alias], {})
    if model not in known:
        converters: Converters = []
        for index, field in enumerate(model._meta.concrete_fields):
            column = field.get_col(model._meta.db_table)
            functions = connection.ops.get_db_converters(column) + column.get_db_converters(connection)
            if functions:
                converters.append((index, column, functions))
        known[model] = converters
    return known[model]


def load_instance(
    model: type[ModelT], row: Sequence[Any], start: int, connection: BaseDatabaseWrapper
) -> ModelT:
    """The instance of ``model`` whose ``select_columns`` begin at ``row[start]``."""
    fields = model._meta.concrete_fields
    values = list(row[start : start + len(fields)])
    for index, column, functions in _converters(model, connection):
        value = values[index]
        for function in functions:
            value = function(value, column, connection)
        values[index] = value
    return model.from_db(connection.alias, [field.attname for field in fields], values)
