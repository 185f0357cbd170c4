"""Bulk export over the API: ``GET /export/customers`` (see fincrm/integration/bulk_export.py).

Query parameters: the customer list's filters (``kind``, ``stage``, ``tier``, ``aml``, ``risk``,
``tag``, ``manager``, ``branch``, ``aum_min``, ``aum_max``, ``cf_<code>``; repeat a parameter for
several values), ``limit`` (default 1,000; at most 5,000 and at most ``FINCRM_EXPORT_ROW_CAP``)
``cursor`` (the previous page's ``next_cursor``) and, for a session above the row cap,
``approval`` (an approved export request's id, on the first page). The first page needs a step-up in the
``X-Fincrm-Step-Up`` header (password or TOTP code); the answer's ``X-Content-SHA256`` header is
the SHA-256 of the body, as recorded in the audit event of the page.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse
from ninja import Field, Router, Schema
from ninja.errors import AuthenticationError

from fincrm.integration import bulk_export
from fincrm.platform.actor import Actor

router = Router(tags=["export"])


class CustomerRecordOut(Schema):
    id: int
    customer_number: str
    kind: str
    status: str
    name: str | None = Field(description="Masked: surname + * per remaining character")
    id_type: str
    id_number: str | None = Field(description="Masked, e.g. 110***********002X")
    mobile: str | None = Field(description="Masked, e.g. 138****8000")
    email: str | None = Field(description="Masked: first letter + domain")
    lifecycle_stage: str
    value_tier: str
    aum: str = Field(description="A decimal in CNY, as a string")
    aml_risk_rating: str
    risk_tolerance: str
    is_professional_investor: bool
    source_channel: str
    org_unit: str = Field(description="The home org unit's code")
    primary_manager: str | None = Field(description="The primary account manager's username")
    covering_team: str | None = Field(description="The covering team's code")
    created_at: str
    updated_at: str


class CustomerExportPageOut(Schema):
    entity: str
    export_session: str = Field(description="The same on every page of one walk from the first page")
    rows: int
    rows_before: int = Field(description="Rows served by the earlier pages of this export session")
    items: list[CustomerRecordOut]
    next_cursor: str | None = Field(description="Pass as ?cursor= for the next page; null on the last")


def _actor(request: HttpRequest) -> Actor:
    actor: Actor | None = getattr(request, "actor", None)
    if actor is None or not actor.is_authenticated:
        raise AuthenticationError()
    return actor


def _stepped_up(request: HttpRequest) -> bool:
    from fincrm.security.stepup import request_is_stepped_up

    return request_is_stepped_up(request).ok


def _parameters(request: HttpRequest) -> dict[str, list[str]]:
    return {
        key: request.GET.getlist(key) for key in request.GET if key not in ("limit", "cursor", "approval")
    }


def _response(page: bulk_export.ExportPage) -> HttpResponse:
    response = HttpResponse(page.body, content_type="application/json; charset=utf-8")
    response["Cache-Control"] = "no-store"
    response["X-Content-SHA256"] = page.sha256
    return response


@router.get("/export/customers", response=CustomerExportPageOut)
def export_customers(
    request: HttpRequest,
    limit: int = bulk_export.DEFAULT_LIMIT,
    cursor: str | None = None,
    approval: int | None = None,
) -> Any:
    """The caller's customers (``customer.export`` scope), masked, in pages ordered by id.

    At most ``FINCRM_EXPORT_ROW_CAP`` rows per export session; above, start the session with
    ``approval`` (an approved export request of the caller; its filters apply)."""
    actor = _actor(request)
    page = bulk_export.customer_export_page(
        actor=actor,
        parameters=_parameters(request),
        cursor=cursor,
        limit=limit,
        stepped_up=actor.can(bulk_export.EXPORT) and _stepped_up(request),
        approval=approval,
    )
    return _response(page)
