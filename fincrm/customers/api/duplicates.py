"""The duplicates and merge API. Parse, call a selector or service, serialize (identifiers masked)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext as _
from ninja import Field, Router, Schema
from ninja.errors import AuthenticationError
from ninja.pagination import paginate

from fincrm.customers.models import Customer, DuplicateCandidate, MergeRecord
from fincrm.customers.selectors.duplicates import MERGE, duplicate_list
from fincrm.customers.services import merge as services
from fincrm.platform.access import require_permission
from fincrm.platform.actor import Actor
from fincrm.platform.errors import ServiceError
from fincrm.platform.pagination import CursorPagination
from fincrm.security.masking import mask

router = Router(tags=["customer duplicates"])


class DuplicatePartyOut(Schema):
    id: int
    customer_number: str
    name: str  # masked
    kind: str
    status: str
    org_unit_id: int

    @staticmethod
    def resolve_name(obj: Customer) -> str:
        return mask("name", obj.name)


class DuplicateOut(Schema):
    id: int
    reason: str
    status: str
    first: DuplicatePartyOut
    second: DuplicatePartyOut
    created_at: datetime
    resolved_by: str
    resolved_at: datetime | None


class DismissIn(Schema):
    reason: str = ""


class MergeIn(Schema):
    survivor_id: int
    absorbed_id: int
    field_choices: dict[str, str] = Field(
        default_factory=dict,
        description='Field (or "custom:<code>") -> "survivor" or "absorbed"; unnamed fields keep the '
        "survivor's value unless it has none.",
    )
    reason: str


class MergeOut(Schema):
    id: int
    survivor_id: int
    absorbed_id: int
    field_choices: dict[str, str]
    moved: dict[str, int]
    merged_by: str
    reason: str
    created_at: datetime


def _actor(request: HttpRequest) -> Actor:
    actor: Actor | None = getattr(request, "actor", None)
    if actor is None or not actor.is_authenticated:
        raise AuthenticationError()
    return actor


@router.get("/duplicates", response=list[DuplicateOut])
@paginate(CursorPagination)
def list_duplicates(
    request: HttpRequest, reason: str = "", status: str = "open"
) -> QuerySet[DuplicateCandidate]:
    """Candidate pairs whose two customers are both in the caller's customer.merge scope."""
    actor = _actor(request)
    require_permission(actor, MERGE)
    errors: dict[str, list[Any]] = {}
    if reason and reason not in DuplicateCandidate.Reason.values:
        errors["reason"] = [_("Choose a value from the list.")]
    if status not in DuplicateCandidate.Status.values:
        errors["status"] = [_("Choose a value from the list.")]
    if errors:
        raise ServiceError(
            _("Please correct the marked fields."), code="validation_error", fields=errors, status=422
        )
    return duplicate_list(actor=actor, reason=reason, status=status)


@router.post("/duplicates/{candidate_id}/dismiss", response=DuplicateOut)
def dismiss_duplicate(request: HttpRequest, candidate_id: int, payload: DismissIn) -> DuplicateCandidate:
    return services.duplicate_dismiss(actor=_actor(request), candidate_id=candidate_id, reason=payload.reason)


@router.post("/customers/merge", response=MergeOut)
def merge_customers(request: HttpRequest, payload: MergeIn) -> MergeRecord:
    return services.customers_merge(
        actor=_actor(request),
        survivor_id=payload.survivor_id,
        absorbed_id=payload.absorbed_id,
        field_choices=payload.field_choices,
        reason=payload.reason,
    )
