"""Keyset (cursor) pagination for every list endpoint.

A page is ``{"items": [...], "next_cursor": "..." | null}``. The client passes ``?limit=``
(default 50, at most ``settings.FINCRM_API_PAGE_SIZE_MAX``) and the ``next_cursor`` of the
previous page as ``?cursor=``; ``next_cursor`` is null on the last page. A cursor is opaque
(base64url): it carries the ordering key of the last row of the page, signed, so a tampered
or foreign cursor answers 400 with the common error body naming the field ``cursor``.
Keyset pagination never skips or repeats a row when rows are added or removed between pages,
and costs the same on page 1,000 as on page 1 (no OFFSET).

With django-ninja, on an endpoint returning a list schema:

    from ninja.pagination import paginate
    from fincrm.platform.pagination import CursorPagination

    @router.get("/customers", response=list[CustomerOut])
    @paginate(CursorPagination)                         # ordered by "id"
    def list_customers(request):
        return selectors.customer_list(actor=request.actor)   # a QuerySet, not a list

    @paginate(CursorPagination, ordering=("-created_at", "-id"))   # newest first

The ordering fields must be non-null columns of the model and the last one unique (end
with "id" or "-id"), so every row has exactly one place. Without ninja (pages, exports):

    page = keyset_page(queryset, limit=50, cursor=request.GET.get("cursor"))
    page.items, page.next_cursor
"""

from __future__ import annotations

import base64
import binascii
import datetime
import decimal
import json
import operator
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from functools import reduce
from typing import Any

from django.conf import settings
from django.core import signing
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import Q, QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _
from ninja import Field, Schema
from ninja.pagination import PaginationBase

from fincrm.platform.errors import ServiceError

DEFAULT_LIMIT = 50
_SALT = "fincrm.platform.pagination.cursor"


class InvalidCursor(ServiceError):
    def __init__(self) -> None:
        super().__init__(
            _("The cursor is not valid: start again from the first page."),
            code="invalid_cursor",
            fields={"cursor": [_("This cursor was not issued for this list.")]},
            status=400,
        )


@dataclass(frozen=True)
class Page:
    items: list[Any]
    next_cursor: str | None


def _plain(value: Any) -> Any:
    if isinstance(value, datetime.datetime | datetime.date | datetime.time):
        return value.isoformat()
    if isinstance(value, decimal.Decimal | uuid.UUID):
        return str(value)
    return value


def _value(item: Any, name: str) -> Any:
    if isinstance(item, dict):
        return item[name]
    current = item
    for part in name.split("__"):
        current = getattr(current, part)
    return current


def encode_cursor(ordering: Sequence[str], values: Sequence[Any]) -> str:
    payload = {"o": list(ordering), "v": [_plain(value) for value in values]}
    signed = signing.dumps(payload, salt=_SALT, compress=False)
    return base64.urlsafe_b64encode(signed.encode("ascii")).decode("ascii").rstrip("=")


def decode_cursor(ordering: Sequence[str], cursor: str) -> list[Any]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        signed = base64.urlsafe_b64decode(padded.encode("ascii")).decode("ascii")
        payload = signing.loads(signed, salt=_SALT)
    except (ValueError, binascii.Error, UnicodeError, signing.BadSignature, json.JSONDecodeError):
        raise InvalidCursor from None
    if not isinstance(payload, dict) or payload.get("o") != list(ordering):
        raise InvalidCursor
    values = payload.get("v")
    if not isinstance(values, list) or len(values) != len(ordering):
        raise InvalidCursor
    return values


def _after(ordering: Sequence[str], values: Sequence[Any]) -> Q:
    """Rows strictly after ``values`` in ``ordering``: (a > x) or (a = x and b > y) or ..."""
    branches = []
    for index, marker in enumerate(ordering):
        name = marker.lstrip("-")
        lookup = "lt" if marker.startswith("-") else "gt"
        equal = {ordering[i].lstrip("-"): values[i] for i in range(index)}
        branches.append(Q(**equal, **{f"{name}__{lookup}": values[index]}))
    return reduce(operator.or_, branches)


def check_limit(limit: int | None) -> int:
    if limit is None:
        return DEFAULT_LIMIT
    maximum = settings.FINCRM_API_PAGE_SIZE_MAX
    if limit < 1 or limit > maximum:
        raise ServiceError(
            _("Please correct the marked field."),
            code="validation_error",
            fields={"limit": [_("Choose a page size from 1 to %(maximum)d.") % {"maximum": maximum}]},
            status=422,
        )
    return limit


def keyset_page(
    queryset: QuerySet[Any], *, limit: int | None, cursor: str | None, ordering: Sequence[str] = ("id",)
) -> Page:
    size = check_limit(limit)
    rows = queryset.order_by(*ordering)
    if cursor:
        values = decode_cursor(ordering, cursor)
        try:
            rows = rows.filter(_after(ordering, values))
        except (DjangoValidationError, ValueError, TypeError):
            raise InvalidCursor from None
    try:
        fetched = list(rows[: size + 1])
    except (DjangoValidationError, ValueError, TypeError):
        raise InvalidCursor from None
    items = fetched[:size]
    next_cursor = None
    if len(fetched) > size:
        last = items[-1]
        next_cursor = encode_cursor(ordering, [_value(last, marker.lstrip("-")) for marker in ordering])
    return Page(items=items, next_cursor=next_cursor)


class CursorPagination(PaginationBase):
    """``@paginate(CursorPagination)`` / ``@paginate(CursorPagination, ordering=("-id",))``."""

    class Input(Schema):
        limit: int = Field(DEFAULT_LIMIT, description="Rows per page (1 to FINCRM_API_PAGE_SIZE_MAX).")
        cursor: str | None = Field(None, description="The next_cursor of the previous page.")

    class Output(Schema):
        items: list[Any]
        next_cursor: str | None = None

    items_attribute: str = "items"

    def __init__(self, *, ordering: Sequence[str] = ("id",), **kwargs: Any) -> None:
        if not ordering:
            raise ValueError("CursorPagination needs at least one ordering field")
        self.ordering = tuple(ordering)
        super().__init__(**kwargs)

    def paginate_queryset(
        self, queryset: QuerySet[Any], pagination: Any, request: HttpRequest, **params: Any
    ) -> dict[str, Any]:
        page = keyset_page(queryset, limit=pagination.limit, cursor=pagination.cursor, ordering=self.ordering)
        return {"items": page.items, "next_cursor": page.next_cursor}
