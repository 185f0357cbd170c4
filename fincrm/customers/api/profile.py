"""GET /customers/{id}/360: the customer 360 as JSON, the same read as the page (masked values).

Scoped like every customer read: a customer outside the caller's scope answers 404, as a missing
one does. Opening it is audited (``customer.viewed`` with ``via: api``) after the response is sent.
Amounts are decimal strings in CNY or the row's currency; times are ISO 8601 in UTC.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.utils.cache import patch_cache_control
from ninja import Router, Schema
from ninja.errors import AuthenticationError

from fincrm.customers.api import relationships
from fincrm.customers.selectors.profile import customer_360, record_opened_after
from fincrm.platform.actor import Actor
from fincrm.platform.api_output import render_into

router = Router(tags=["customers"])


class ChoiceOut(Schema):
    code: str
    label: str


class IdentityOut(Schema):
    customer_id: int
    customer_number: str
    kind: ChoiceOut
    status: ChoiceOut
    name: str
    id_type: ChoiceOut
    id_number: str
    id_expires_on: date | None
    mobile: str
    email: str
    address: str
    nationality: str
    org_unit_id: int
    org_unit_name: str


class KycOut(Schema):
    aml_risk_rating: ChoiceOut
    aml_next_review_on: date | None
    risk_tolerance: ChoiceOut
    risk_assessed_on: date | None
    risk_expires_on: date | None
    is_professional_investor: bool
    occupation_recorded: bool


class RiskFlagOut(Schema):
    code: str
    level: str
    label: str
    detail: str


class StaffOut(Schema):
    id: int
    name: str
    username: str


class TeamOut(Schema):
    id: int
    code: str
    name: str


class CoverageOut(Schema):
    primary: StaffOut | None
    secondary: list[StaffOut]
    team: TeamOut | None


class TagOut(Schema):
    id: int
    label: str
    colour: str
    group: str


class AumPointOut(Schema):
    month_end: date
    total: Decimal
    mix: dict[str, Decimal]


class GroupFigureOut(Schema):
    total: Decimal
    members: int


class AumOut(Schema):
    available: bool
    current: Decimal
    updated_at: datetime | None
    currency: str
    classes: list[ChoiceOut]
    points: list[AumPointOut]
    household: GroupFigureOut | None
    group: GroupFigureOut | None


class AccountOut(Schema):
    id: int
    kind: ChoiceOut
    number: str
    currency: str
    balance: Decimal
    status: ChoiceOut
    opened_on: date | None


class AccountSectionOut(Schema):
    available: bool
    rows: list[AccountOut]


class HoldingOut(Schema):
    id: int
    product_code: str
    product_name: str
    product_type: ChoiceOut
    risk_level: str
    amount: Decimal
    market_value: Decimal
    cash_value: Decimal | None
    currency: str
    start_date: date | None
    maturity_date: date | None
    days_to_maturity: int | None
    maturing_soon: bool


class HoldingSectionOut(Schema):
    available: bool
    rows: list[HoldingOut]


class TransactionOut(Schema):
    id: int
    booked_at: datetime
    business_date: date | None
    direction: ChoiceOut
    amount: Decimal
    currency: str
    channel: ChoiceOut
    transaction_type: ChoiceOut
    account: str
    counterparty: str
    cross_border: bool


class TransactionSectionOut(Schema):
    available: bool
    rows: list[TransactionOut]


class ConsentOut(Schema):
    purpose_code: str
    purpose_name: str
    channel: ChoiceOut
    given: bool
    given_at: datetime | None
    withdrawn_at: datetime | None
    source: str
    separate_required: bool
    separate: bool


class ConsentSectionOut(Schema):
    available: bool
    rows: list[ConsentOut]


class PendingSectionOut(Schema):
    """A section whose capability is not installed yet: ``available`` false, no rows."""

    available: bool
    rows: list[dict[str, Any]]


class PartyOut(relationships.PartyOut):
    kind: str  # the 360 shows individuals and companies apart


class RelationshipOut(relationships.RelationshipOut):
    other: PartyOut


class HouseholdMemberOut(Schema):
    party: PartyOut
    role: str
    role_label: str
    is_current: bool


class HouseholdOut(Schema):
    id: int
    name: str
    members: list[HouseholdMemberOut]


class GroupNodeOut(Schema):
    party: PartyOut
    depth: int
    is_current: bool


class GroupTreeOut(Schema):
    nodes: list[GroupNodeOut]
    truncated: bool


class FieldChangeOut(Schema):
    field: str
    label: str
    before: str
    after: str


class HistoryOut(Schema):
    id: int
    occurred_at: datetime
    action: str
    label: str
    actor: str
    reason: str
    changes: list[FieldChangeOut]


class LifecycleOut(Schema):
    changed_at: datetime
    from_stage: ChoiceOut
    to_stage: ChoiceOut
    changed_by: str
    reason: str


class CoverageChangeOut(Schema):
    changed_at: datetime
    from_manager: str
    to_manager: str
    from_team: str
    to_team: str
    changed_by: str
    reason: str


class Customer360Out(Schema):
    identity: IdentityOut
    lifecycle_stage: ChoiceOut
    value_tier: ChoiceOut
    kyc: KycOut
    flags: list[RiskFlagOut]
    coverage: CoverageOut
    tags: list[TagOut]
    aum: AumOut
    accounts: AccountSectionOut
    holdings: HoldingSectionOut
    transactions: TransactionSectionOut
    consents: ConsentSectionOut
    # null while the relationships capability is not installed; group_tree for corporates only
    relationships: list[RelationshipOut] | None
    household: HouseholdOut | None
    group_tree: GroupTreeOut | None
    interactions: PendingSectionOut
    opportunities: PendingSectionOut
    tickets: PendingSectionOut
    tasks: PendingSectionOut
    history: list[HistoryOut]
    lifecycle_history: list[LifecycleOut]
    coverage_history: list[CoverageChangeOut]


def _actor(request: HttpRequest) -> Actor:
    actor: Actor | None = getattr(request, "actor", None)
    if actor is None or not actor.is_authenticated:
        raise AuthenticationError()
    return actor


@router.get("/customers/{customer_id}/360", response=Customer360Out, summary="Customer 360")
def get_customer_360(request: HttpRequest, customer_id: int, response: HttpResponse) -> HttpResponse:
    """Everything the 360 page shows about one customer, identifiers masked."""
    actor = _actor(request)
    profile = customer_360(actor, customer_id)
    patch_cache_control(response, private=True, no_store=True)
    record_opened_after(response, actor, profile.identity.customer_id, via="api")
    # Serialized from the 360's typed rows as Customer360Out describes it, without pydantic
    # validating ~150 nested objects per call (tests check the payload against the schema).
    return render_into(response, request, Customer360Out, profile)
