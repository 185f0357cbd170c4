"""The customer list over the API: ``GET /customers`` and ``POST /customers/export``.

``GET /customers`` takes the list page's parameters as query parameters (see
fincrm/customers/filtersets.py): ``kind``, ``stage``, ``tier``, ``aml``, ``risk``, ``tag`` (repeat
for several), ``manager`` (``me`` or a user id), ``branch`` (org unit id: that unit and below),
``aum_min``, ``aum_max``, ``cf_<code>`` (a custom field: a value or ``low..high``), ``sort`` and
``columns`` (repeat); then ``limit`` and ``cursor`` (keyset pagination: pass ``next_cursor``).
A bad value answers 400 with the filter named in ``fields``. Names and identifiers are masked.

``POST /customers/export`` needs ``customer.export`` and a step-up: a browser session that stepped
up recently, or the password / TOTP code in the ``X-Fincrm-Step-Up`` header of this request. It
answers the file's id, SHA-256 and an expiring download URL (only the caller may download it).
"""

from __future__ import annotations

import datetime
import uuid
from decimal import Decimal
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from ninja import Field, Router, Schema
from ninja.errors import AuthenticationError
from ninja.responses import Status

from fincrm.customers.filtersets import CustomerFilterSet
from fincrm.customers.selectors.lists import customer_list_page
from fincrm.customers.services import exports as export_services
from fincrm.integration.exports import CONTENT_TYPES
from fincrm.platform.access import require_permission
from fincrm.platform.actor import Actor
from fincrm.platform.downloads import download
from fincrm.platform.pagination import DEFAULT_LIMIT

router = Router(tags=["customers"])

VIEW = "customer.view"


def _actor(request: HttpRequest) -> Actor:
    actor: Actor | None = getattr(request, "actor", None)
    if actor is None or not actor.is_authenticated:
        raise AuthenticationError()
    return actor


class CustomerListCount(Schema):
    value: int
    capped: bool = Field(description="True: more rows than value (counting stops at the cap)")


class CustomerListOut(Schema):
    items: list[dict[str, Any]]
    next_cursor: str | None = None
    count: CustomerListCount
    columns: list[str]


class ExportIn(Schema):
    format: str = Field("xlsx", description="csv or xlsx")
    filters: dict[str, list[str] | str] = Field(
        default_factory=dict, description="The list's filter parameters (as for GET /customers)"
    )
    sort: str | None = None
    columns: list[str] | None = None


class ExportOut(Schema):
    id: uuid.UUID
    filename: str
    rows: int
    sha256: str
    expires_at: datetime.datetime
    download_url: str


def _json(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime.datetime | datetime.date):
        return value.isoformat()
    return value


@router.get("/customers", response=CustomerListOut)
def list_customers(
    request: HttpRequest, limit: int = DEFAULT_LIMIT, cursor: str | None = None
) -> dict[str, Any]:
    """The caller's customers, filtered and sorted like the list page (query parameters above)."""
    actor = _actor(request)
    require_permission(actor, VIEW)
    params = {key: request.GET.getlist(key) for key in request.GET if key not in ("limit", "cursor")}
    filterset = CustomerFilterSet(params, actor=actor)
    if not filterset.is_valid():
        raise filterset.service_error()
    listing = customer_list_page(actor=actor, filterset=filterset, cursor=cursor, limit=limit)
    items = []
    for row in listing.rows:
        item: dict[str, Any] = {"id": row.customer.pk}
        item.update({column: _json(value) for column, value in row.cells.items()})
        if "tags" in item:
            item["tags"] = [tag.label for tag in row.tags]
        items.append(item)
    count = listing.count
    assert count is not None
    return {
        "items": items,
        "next_cursor": listing.next_cursor,
        "count": {"value": count.value, "capped": count.capped},
        "columns": filterset.columns,
    }


def _stepped_up(request: HttpRequest) -> bool:
    from fincrm.security.stepup import request_is_stepped_up

    return request_is_stepped_up(request).ok


@router.post("/customers/export", response={201: ExportOut})
def export_customers(request: HttpRequest, payload: ExportIn) -> Status[dict[str, Any]]:
    actor = _actor(request)
    require_permission(actor, export_services.EXPORT)
    parameters: dict[str, Any] = dict(payload.filters)
    if payload.sort:
        parameters["sort"] = payload.sort
    if payload.columns:
        parameters["columns"] = payload.columns
    export = export_services.customer_export(
        actor=actor, parameters=parameters, file_format=payload.format, stepped_up=_stepped_up(request)
    )
    body = {
        "id": export.pk,
        "filename": export.filename,
        "rows": export.row_count,
        "sha256": export.sha256,
        "expires_at": export.expires_at,
        "download_url": request.build_absolute_uri(reverse("api-1:customer-export-file", args=[export.pk])),
    }
    return Status(201, body)


@router.get("/customer-exports/{export_id}/file", url_name="customer-export-file")
def download_export(request: HttpRequest, export_id: uuid.UUID) -> HttpResponse:
    """The export file (its creator only, until the link expires; else 404)."""
    export, content = export_services.export_file_download(actor=_actor(request), export_id=export_id)
    response = download(content, content_type=CONTENT_TYPES[export.file_format], filename=export.filename)
    response["X-Content-SHA256"] = export.sha256
    return response
