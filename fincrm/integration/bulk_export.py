"""Bulk export for integrators: the caller's customers, page by page, masked and audited.

``GET /api/v1/export/customers`` (fincrm/integration/api_export.py) calls ``customer_export_page``.
It follows the page export (fincrm/customers/services/exports.py) rule for rule:

- permission ``customer.export``; its data scope decides which customers are exported, read
  through the customers selectors (``customer_list``), narrowed by the list's filterset;
- a step-up: the password or TOTP code in the ``X-Fincrm-Step-Up`` header (or a browser session
  that stepped up recently);
- names and identifiers masked with the customers app's ``FIELD_MASKS`` (``masked_field``);
  identifiers are always JSON strings;
- one audit event ``export.api_page`` per page: rows, filters (custom-field values hidden), the
  cursor position, the SHA-256 of the exact response body, and the export session's running total.

An export session is the walk from the first page to the last. Its id, its row count so far and
the time of its step-up travel in the signed platform cursor (fincrm.platform.pagination): the
cursor's labels bind it to the entity, the caller and the filters, so a cursor used by someone
else, with other filters, or altered, is refused (400 ``invalid_cursor``). Later pages need no new
step-up while the session's step-up is younger than ``FINCRM_STEP_UP_MINUTES``; after that the
client sends the header again with the cursor (the step-up rate limit allows 10 checks per user
per 15 minutes, so a header on every page would stop a long export).

Row cap, as for the page export: a session serves at most ``FINCRM_EXPORT_ROW_CAP`` rows. A first
page whose filters match more is refused (403 ``export_needs_approval``), and a session that grows
past the cap while it walks (customers added meanwhile) stops there: its last page is cut at the
cap and the next is refused. Above the cap the caller asks for an approval as on the list page
(``export_request_create``); a second person with institution-wide export approves it; the caller
then starts a session with ``approval=<request id>``: the request's filters become the session's
(filters in the query must be the same), the request is used up (one session per approval) and
the session may serve up to ``APPROVED_ROW_LIMIT`` rows. A page never holds more than
``FINCRM_EXPORT_ROW_CAP`` rows (nor more than ``PAGE_SIZE_MAX``); every page is audited with the
session's running total (``rows_before``, ``rows_total``) and its approval.

Pages are ordered by the customer's id (immutable and unique): a customer changed, added or
removed while a client walks the pages appears at most once, and never moves between pages.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.utils import timezone
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from fincrm.audit.services import audit_record
from fincrm.customers.filtersets import CUSTOM_PREFIX, FILTERS, CustomerFilterSet
from fincrm.customers.models import Customer
from fincrm.customers.personal_data import masked_field
from fincrm.customers.selectors.lists import capped_count, customer_list
from fincrm.customers.services.exports import (
    APPROVED_ROW_LIMIT,
    approved_request,
    needs_approval_error,
    step_up_error,
)
from fincrm.integration.models import ExportRequest
from fincrm.platform import outbox, transaction
from fincrm.platform.access import require_permission
from fincrm.platform.actor import Actor
from fincrm.platform.errors import Forbidden, ServiceError
from fincrm.platform.pagination import InvalidCursor, decode_cursor, encode_cursor
from fincrm.security.stepup import step_up_window_seconds

EXPORT = "customer.export"
AUDIT_EVENT = "export.api_page"
OUTBOX_TOPIC = "integration.export.page"
DEFAULT_LIMIT = 1_000
PAGE_SIZE_MAX = 5_000
# Parameters that shape a list page but not a bulk export (fixed fields, ordered by id).
_NOT_FOR_EXPORT = ("sort", "columns")

# The exported record of a customer: machine values (choice codes, org unit and team codes,
# usernames), masked where the page export masks. Names match the customer import's field names.
CUSTOMER_FIELDS = (
    "id",
    "customer_number",
    "kind",
    "status",
    "name",
    "id_type",
    "id_number",
    "mobile",
    "email",
    "lifecycle_stage",
    "value_tier",
    "aum",
    "aml_risk_rating",
    "risk_tolerance",
    "is_professional_investor",
    "source_channel",
    "org_unit",
    "primary_manager",
    "covering_team",
    "created_at",
    "updated_at",
)
# References exported as the referenced record's code or username.
_REFERENCES = {"org_unit": "code", "primary_manager": "username", "covering_team": "code"}
# What the query loads: the exported fields (references through their code), and the row id
# the encrypted values are sealed for.
_LOADED = (
    "row_uid",
    *(f"{name}__{_REFERENCES[name]}" if name in _REFERENCES else name for name in CUSTOMER_FIELDS),
)
_MASKED = ("name", "id_number", "mobile", "email")


def page_size_max() -> int:
    """The largest page: PAGE_SIZE_MAX, or the export row cap when that is lower."""
    return max(1, min(PAGE_SIZE_MAX, int(settings.FINCRM_EXPORT_ROW_CAP)))


@dataclass(frozen=True)
class ExportPage:
    body: bytes  # the exact JSON response body (UTF-8); its SHA-256 is in the audit event
    sha256: str
    rows: int
    next_cursor: str | None
    session: str


@dataclass(frozen=True)
class _Position:
    session: str
    rows_before: int
    stepped_up_at: int
    after_id: int | None
    approval: int = 0  # the approved export request the session runs under (0: none)

    @property
    def allowance(self) -> int:
        """How many rows the whole session may serve."""
        return APPROVED_ROW_LIMIT if self.approval else int(settings.FINCRM_EXPORT_ROW_CAP)


def _check_limit(limit: int | None) -> int:
    if limit is None:
        return DEFAULT_LIMIT
    maximum = page_size_max()
    if limit < 1 or limit > maximum:
        raise ServiceError(
            _("Please correct the marked field."),
            code="validation_error",
            fields={"limit": [_("Choose a page size from 1 to %(maximum)d.") % {"maximum": maximum}]},
            status=422,
        )
    return limit


def _filterset(actor: Actor, parameters: Mapping[str, Any]) -> CustomerFilterSet:
    refused: dict[str, list[str | Promise]] = {}
    for name in parameters:
        if name in _NOT_FOR_EXPORT:
            refused[name] = [_("A bulk export has fixed fields and is ordered by id: leave this out.")]
        elif name not in FILTERS and not name.startswith(CUSTOM_PREFIX):
            refused[name] = [_("There is no such filter.")]
    filterset = CustomerFilterSet(parameters, actor=actor)
    if any(name.startswith(CUSTOM_PREFIX) for name in parameters):
        known = {CUSTOM_PREFIX + definition.code for definition in filterset.custom_fields}
        for name in parameters:
            if name.startswith(CUSTOM_PREFIX) and name not in known:
                refused[name] = [_("There is no such custom field.")]
    if refused:
        raise ServiceError(
            _("Please correct the marked filters."), code="invalid_filter", fields=refused, status=400
        )
    if not filterset.is_valid():
        raise filterset.service_error()
    return filterset


def _audited_filters(filters: Mapping[str, list[str]]) -> dict[str, Any]:
    # Custom-field values may be personal (a C2 field filters by exact value): never in the log.
    return {key: ("****" if key.startswith(CUSTOM_PREFIX) else value) for key, value in filters.items()}


def _cursor_labels(entity: str, actor: Actor, filters: Mapping[str, list[str]]) -> tuple[str, ...]:
    """The cursor's signed labels: a cursor only works for this entity, caller and filter set."""
    canonical = json.dumps(filters, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    digest = hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:32]
    return (f"export:{entity}:{actor.user_id}:{digest}", "rows_before", "stepped_up_at", "id", "approval")


def _position(labels: tuple[str, ...], cursor: str | None, *, stepped_up: bool, now: int) -> _Position:
    if not cursor:
        if not stepped_up:
            raise step_up_error()
        return _Position(str(uuid.uuid4()), 0, now, None)
    session, rows_before, stepped_up_at, after_id, approval = decode_cursor(labels, cursor)
    numbers = (rows_before, stepped_up_at, after_id, approval)
    if not (isinstance(session, str) and all(type(value) is int for value in numbers)):
        raise InvalidCursor
    if stepped_up:
        stepped_up_at = now  # a new step-up renews the session's
    elif now - stepped_up_at > step_up_window_seconds():
        raise step_up_error()
    return _Position(session, rows_before, stepped_up_at, after_id, approval)


def _approval_used(
    actor: Actor, request_id: int, filters: Mapping[str, list[str]]
) -> tuple[ExportRequest, dict[str, list[str]]]:
    """The caller's approved export request, now used up by the session that starts with it, and
    its filters."""
    request = approved_request(actor, request_id)
    approved = CustomerFilterSet(request.parameters, actor=actor)
    if not approved.is_valid() or (filters and approved.filter_params() != filters):
        raise ServiceError(
            _("The filters differ from the approved request's: leave them out or give the same ones."),
            code="approval_mismatch",
            status=400,
        )
    request.status = ExportRequest.Status.USED
    request.save(update_fields=["status", "updated_at"])
    return request, approved.filter_params()


def _text(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


def customer_record(customer: Customer) -> dict[str, Any]:
    """One exported customer: masked names and identifiers, codes for choices and references."""
    record: dict[str, Any] = {}
    for name in CUSTOMER_FIELDS:
        value: Any
        if name in _REFERENCES:
            related = getattr(customer, name)
            value = getattr(related, _REFERENCES[name]) if related is not None else None
        elif name in _MASKED:
            value = masked_field(name, getattr(customer, name)) or None
        else:
            value = getattr(customer, name)
        record[name] = _text(value)
    return record


def customer_export_page(
    *,
    actor: Actor,
    parameters: Mapping[str, Any],
    cursor: str | None,
    limit: int | None,
    stepped_up: bool,
    approval: int | None = None,
) -> ExportPage:
    """One page of the actor's filtered customers (``customer.export`` scope), masked and audited.
    ``approval``: on a first page, the approved export request a session above the cap runs under."""
    # Checked before the transaction: a denial's security event must outlive the refusal.
    require_permission(actor, EXPORT)
    if actor.user_id is None:
        raise Forbidden(EXPORT)  # an export session belongs to a person (a token acts for its owner)
    return _customer_page(
        actor=actor,
        parameters=parameters,
        cursor=cursor,
        limit=limit,
        stepped_up=stepped_up,
        approval=approval,
    )


@transaction.atomic
def _customer_page(
    *,
    actor: Actor,
    parameters: Mapping[str, Any],
    cursor: str | None,
    limit: int | None,
    stepped_up: bool,
    approval: int | None,
) -> ExportPage:
    size = _check_limit(limit)
    filterset = _filterset(actor, parameters)
    filters = filterset.filter_params()
    now = int(timezone.now().timestamp())
    if approval is not None:
        if cursor:
            raise ServiceError(
                _("An approval starts a new export: give it without a cursor."),
                code="approval_mismatch",
                status=400,
            )
        if not stepped_up:
            raise step_up_error()
        request, approved_filters = _approval_used(actor, approval, filters)
        filterset = _filterset(actor, approved_filters)
        filters = filterset.filter_params()
        position = _Position(str(uuid.uuid4()), 0, now, None, request.pk)
    labels = _cursor_labels("customers", actor, filters)
    if approval is None:
        position = _position(labels, cursor, stepped_up=stepped_up, now=now)

    queryset = customer_list(actor=actor, filterset=filterset, action=EXPORT)
    if position.after_id is not None:
        queryset = queryset.filter(pk__gt=position.after_id)
    elif capped_count(queryset, position.allowance).capped:
        if position.approval:
            raise ServiceError(
                _("An export has at most %(limit)s rows: narrow the filters.")
                % {"limit": f"{APPROVED_ROW_LIMIT:,}"},
                code="export_too_large",
            )
        raise needs_approval_error(int(settings.FINCRM_EXPORT_ROW_CAP))
    room = position.allowance - position.rows_before
    if room <= 0:  # the session grew past its allowance while it walked
        raise needs_approval_error(int(settings.FINCRM_EXPORT_ROW_CAP))
    size = min(size, room)
    customers = list(queryset.select_related(*_REFERENCES).only(*_LOADED).order_by("id")[: size + 1])
    more = len(customers) > size
    customers = customers[:size]
    items = [customer_record(customer) for customer in customers]
    rows_total = position.rows_before + len(items)
    next_cursor = None
    if more:
        next_cursor = encode_cursor(
            labels,
            [position.session, rows_total, position.stepped_up_at, customers[-1].pk, position.approval],
        )
    body = json.dumps(
        {
            "entity": "customers",
            "export_session": position.session,
            "rows": len(items),
            "rows_before": position.rows_before,
            "items": items,
            "next_cursor": next_cursor,
        },
        ensure_ascii=False,
        separators=(",", ":"),
    ).encode("utf-8")
    digest = hashlib.sha256(body).hexdigest()
    audit_record(
        actor,
        AUDIT_EVENT,
        object_type="export_session",
        object_id=position.session,
        after={
            "entity": "customers",
            "rows": len(items),
            "rows_before": position.rows_before,
            "rows_total": rows_total,
            "filters": _audited_filters(filters),
            "after_id": position.after_id,
            "last_id": customers[-1].pk if customers else None,
            "last_page": next_cursor is None,
            "limit": size,
            "sha256": digest,
            "masked": True,
            "approval_request": position.approval or None,
        },
    )
    outbox.publish(OUTBOX_TOPIC, export_session=position.session, rows=len(items))
    return ExportPage(
        body=body, sha256=digest, rows=len(items), next_cursor=next_cursor, session=position.session
    )
