"""The customer 360: one read gathering what a banker looks at, every part scoped and masked.

``customer_360(actor, customer_id)`` checks the scope once (a uniform not-found outside it), then
reads each section with a fixed number of queries, whatever the customer holds: the page and the
API (GET /customers/{id}/360) render the same ``Customer360``. Identifiers leave this module masked
only; the clear values stay behind the unmask-with-reason control of the security app.

Sections owned by other apps are read through their selectors, looked up when the 360 is built: an
app that is not installed (or not written yet) leaves its section ``available=False`` ("no data")
instead of breaking the page.

On PostgreSQL the customer row and the sections' rows come from one prepared, JSON-aggregating
statement (``prefetch_sections``) that checks the scope itself: outside it (or for a missing
customer) it returns no row and no section is read, the same uniform not-found; elsewhere,
or with FINCRM_CUSTOMER_360_SINGLE_STATEMENT off, the scope check reads the customer with its
branch, manager and team and each section asks its own selector. Both give the same 360 (tests
compare them).

Opening a 360 is itself an audited read (``customer.viewed``): ``record_opened_after`` writes it
once the response has been handed to the client, so the page does not wait for the audit chain.
"""

from __future__ import annotations

import dataclasses
import importlib
import json
import logging
import re
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import Any, Generic, TypeVar

from django.apps import apps
from django.conf import settings
from django.core.exceptions import EmptyResultSet, FieldDoesNotExist
from django.db import connection
from django.db.models import Q
from django.http import HttpResponseBase
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from fincrm.audit import registry as audit_registry
from fincrm.audit.deferred import audit_record_soon
from fincrm.audit.models import AuditEvent
from fincrm.customers.models import (
    CoverageChange,
    Customer,
    CustomerKind,
    CustomerStatus,
    LifecycleChange,
    LifecycleStage,
    SecondaryManager,
)
from fincrm.customers.personal_data import FIELD_MASKS
from fincrm.customers.selectors import (
    HIDDEN_STATUSES,
    VIEW,
    customer_queryset,
    one_read,
    remember_access,
)
from fincrm.customers.selectors.groups import GroupWalk, group_walk_ctes, group_walk_from_json
from fincrm.customers.selectors.tags import badge_class as tag_badge_class
from fincrm.customers.selectors.tags import tags_for
from fincrm.platform import context
from fincrm.platform.access import access_object, record_denied
from fincrm.platform.actor import Actor
from fincrm.platform.choices import choice_labels
from fincrm.platform.errors import NotFound
from fincrm.platform.prepared import execute_prepared
from fincrm.security.masking import mask

logger = logging.getLogger("fincrm.customers")

T = TypeVar("T")

# Holdings maturing within this many days are "coming maturities" (setting, default 90 days).
DEFAULT_MATURITY_WINDOW_DAYS = 90
# A KYC document expiring within this many days is flagged ahead of time (setting, default 30).
DEFAULT_KYC_WARNING_DAYS = 30
TRANSACTIONS_SHOWN = 20
HISTORY_SHOWN = 25
COVERAGE_SHOWN = 20
AUM_MONTHS = 12
# The legal basis of the purposes the consents section lists (the privacy app's LegalBasis.CONSENT).
CONSENT_BASIS = "consent"
CENT = Decimal("0.01")

# Asset classes of AUM (DOMAIN.md "AUM"), in the order the chart stacks them.
ASSET_CLASSES = ("deposit", "wealth", "fund", "securities", "insurance")

# The relationships capability's selectors (households, corporate groups): used when installed.
RELATIONSHIPS = "fincrm.customers.selectors.relationships"

# Reads recorded in the audit log against a customer: not part of its change history.
READ_ACTIONS = frozenset({"customer.viewed", "customer.searched"})

# Identifier keys a change event may carry, masked again before display (masks are idempotent, so
# a value the writer masked already is shown unchanged; one it forgot to mask is caught here).
IDENTIFIER_MASKS = {**FIELD_MASKS, "account_number": "account", "counterparty_account": "account"}


# ---------------------------------------------------------------- the shape of a 360


@dataclass(frozen=True)
class Choice:
    """A coded value with its label in the current language (``""`` when not set)."""

    code: str
    label: str


@dataclass(frozen=True)
class Section(Generic[T]):
    """One section of the 360. ``available`` is False while the capability behind it is not
    installed: the page then says "no data yet" rather than "none"."""

    available: bool
    rows: list[T] = field(default_factory=list)


@dataclass(frozen=True)
class Identity:
    customer_id: int
    customer_number: str
    kind: Choice
    status: Choice
    name: str  # masked for individuals; a company's name is not personal information
    id_type: Choice
    id_number: str  # masked
    id_expires_on: date | None
    mobile: str  # masked
    email: str  # masked
    address: str  # masked
    nationality: str
    org_unit_id: int
    org_unit_name: str


@dataclass(frozen=True)
class Kyc:
    aml_risk_rating: Choice
    aml_next_review_on: date | None
    risk_tolerance: Choice
    risk_assessed_on: date | None
    risk_expires_on: date | None
    is_professional_investor: bool
    occupation_recorded: bool  # whether the KYC occupation is on file (its value is C2, not shown)


@dataclass(frozen=True)
class RiskFlag:
    code: str
    level: str  # danger / warning / info / success: the Tabler colour of its badge
    label: str
    detail: str = ""


@dataclass(frozen=True)
class StaffRef:
    id: int
    name: str
    username: str


@dataclass(frozen=True)
class TeamRef:
    id: int
    code: str
    name: str


@dataclass(frozen=True)
class Coverage:
    primary: StaffRef | None
    secondary: list[StaffRef]
    team: TeamRef | None


@dataclass(frozen=True)
class TagRow:
    id: int
    label: str
    colour: str
    group: str

    @property
    def badge_class(self) -> str:
        return tag_badge_class(self.colour)


@dataclass(frozen=True)
class AumPoint:
    month_end: date
    total: Decimal
    mix: dict[str, Decimal]


@dataclass(frozen=True)
class GroupFigure:
    """The AUM of the customer's household or corporate group (members outside the actor's scope
    count in the sum; their own figures are not shown)."""

    total: Decimal
    members: int


@dataclass(frozen=True)
class Aum:
    available: bool
    current: Decimal
    updated_at: datetime | None
    currency: str
    classes: list[Choice]
    points: list[AumPoint]
    household: GroupFigure | None = None
    group: GroupFigure | None = None

    @property
    def latest(self) -> AumPoint | None:
        return self.points[-1] if self.points else None

    @property
    def latest_mix(self) -> list[tuple[Choice, Decimal, Decimal]]:
        """(asset class, amount, share in percent) of the newest month-end."""
        if not self.points:
            return []
        latest = self.points[-1]
        total = sum(latest.mix.values(), Decimal(0))
        rows = []
        for choice in self.classes:
            amount = latest.mix.get(choice.code, Decimal(0))
            share = (amount / total * 100).quantize(Decimal("0.1")) if total else Decimal(0)
            rows.append((choice, amount, share))
        return rows


@dataclass(frozen=True)
class AccountRow:
    id: int
    kind: Choice
    number: str  # masked: 尾号1234, or 622202******1234 for a card
    currency: str
    balance: Decimal
    status: Choice
    opened_on: date | None
    # The account row, for the security app's per-account unmask control; never serialized.
    source: Any = field(default=None, repr=False, compare=False)


@dataclass(frozen=True)
class HoldingRow:
    id: int
    product_code: str
    product_name: str
    product_type: Choice
    risk_level: str
    amount: Decimal
    market_value: Decimal
    cash_value: Decimal | None
    currency: str
    start_date: date | None
    maturity_date: date | None
    days_to_maturity: int | None
    maturing_soon: bool


@dataclass(frozen=True)
class TransactionRow:
    id: int
    booked_at: datetime
    business_date: date | None
    direction: Choice
    amount: Decimal
    currency: str
    channel: Choice
    transaction_type: Choice
    account: str  # masked
    counterparty: str  # masked
    cross_border: bool


@dataclass(frozen=True)
class ConsentRow:
    purpose_code: str
    purpose_name: str
    channel: Choice
    given: bool
    given_at: datetime | None
    withdrawn_at: datetime | None
    source: str
    separate_required: bool
    separate: bool


@dataclass(frozen=True)
class FieldChange:
    field: str
    label: str
    before: str
    after: str


@dataclass(frozen=True)
class HistoryRow:
    id: int
    occurred_at: datetime
    action: str
    label: str
    actor: str
    reason: str
    changes: list[FieldChange]


@dataclass(frozen=True)
class LifecycleRow:
    changed_at: datetime
    from_stage: Choice
    to_stage: Choice
    changed_by: str
    reason: str


@dataclass(frozen=True)
class CoverageRow:
    changed_at: datetime
    from_manager: str
    to_manager: str
    from_team: str
    to_team: str
    changed_by: str
    reason: str


@dataclass(frozen=True)
class Customer360:
    identity: Identity
    lifecycle_stage: Choice
    value_tier: Choice
    kyc: Kyc
    flags: list[RiskFlag]
    coverage: Coverage
    tags: list[TagRow]
    aum: Aum
    accounts: Section[AccountRow]
    holdings: Section[HoldingRow]
    transactions: Section[TransactionRow]
    consents: Section[ConsentRow]
    interactions: Section[Any]
    opportunities: Section[Any]
    tickets: Section[Any]
    tasks: Section[Any]
    history: list[HistoryRow]
    lifecycle_history: list[LifecycleRow]
    coverage_history: list[CoverageRow]
    # The row itself, for templates that render per-field controls (the unmask control masks on its
    # own); never serialized by the API.
    customer: Customer = field(repr=False, compare=False)
    # Rows of the relationships capability, passed as they come to its own partials.
    relationships: Any = field(default=None, repr=False, compare=False)
    group_tree: Any = field(default=None, repr=False, compare=False)
    household: Any = field(default=None, repr=False, compare=False)
    # The consent-based purposes and the customer's consents as the one statement read them (None
    # without it), for a page that shows the privacy app's own panel: the panel reads nothing again.
    consents_read: tuple[list[Any], list[Any]] | None = field(default=None, repr=False, compare=False)

    @property
    def maturing_soon(self) -> list[HoldingRow]:
        return [row for row in self.holdings.rows if row.maturing_soon]


# ---------------------------------------------------------------- helpers


# The callers below ask for the active language once per section, not once per value: reading it
# (a context-local lookup) cost more than the label itself.


def _choice(field_name: str, value: str, language: str | None) -> Choice:
    """The label of a Customer choice field's value in ``language`` (``""`` stays blank)."""
    if not value:
        return Choice("", "")
    labels = choice_labels(Customer._meta.label, field_name, language)
    return Choice(value, labels.get(value, value))


def _model_choice(instance: Any, field_name: str, language: str | None) -> Choice:
    """The coded value of ``instance.field_name`` with its display label in ``language``."""
    value = str(getattr(instance, field_name, "") or "")
    if not value:
        return Choice("", "")
    # A field without choices has no labels: the value stands for itself.
    labels = choice_labels(instance._meta.label, field_name, language)
    return Choice(value, labels.get(value, value))


def _decimal(value: Any) -> Decimal:
    if isinstance(value, Decimal):
        return value
    try:
        return Decimal(str(value))
    except (InvalidOperation, ValueError, TypeError):
        return Decimal(0)


def today() -> date:
    """The business day in the configured zone (Asia/Shanghai by default)."""
    return timezone.localdate()


def optional_function(module: str, name: str) -> Callable[..., Any] | None:
    """``module.name`` when that app is installed and has written it, else None."""
    try:
        return getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError):
        return None


def _staff(user: Any) -> StaffRef | None:
    if user is None:
        return None
    return StaffRef(id=user.pk, name=user.full_name or user.username, username=user.username)


def _staff_label(user: Any) -> str:
    return "" if user is None else (user.full_name or user.username)


def _team_label(team: Any) -> str:
    return "" if team is None else team.name


# ---------------------------------------------------------------- the rows in one statement (PostgreSQL)


@dataclass(frozen=True)
class _Staff:
    """A member of staff as the 360 names them (no other column of the user is read)."""

    pk: int
    full_name: str
    username: str


@dataclass(frozen=True)
class _Team:
    name: str


@dataclass(frozen=True)
class Prefetched:
    """The rows of every section of one customer's 360, read in one statement (PostgreSQL): the
    same rows, in the same order, as the sections' own selectors return."""

    # The customer row with its branch, primary manager and team, as access_customer_for_360 reads
    # it (None if it was deleted since the scope check).
    customer: Customer | None
    secondary: list[_Staff]
    tags: list[TagRow]
    aum: list[dict[str, Any]]
    household_aum: GroupFigure | None
    # A company's corporate group and which of its companies the actor may see (None: individual).
    group: tuple[GroupWalk, set[int]] | None
    accounts: list[Any]
    holdings: list[Any]
    transactions: list[Any]
    history: list[AuditEvent]
    lifecycle: list[Any]
    coverage: list[tuple[Any, _Staff | None, _Staff | None, _Team | None, _Team | None]]
    consents: list[Any]
    purposes: list[Any]
    # The customer's links, each with the other customer's party columns and visibility.
    relationships: list[dict[str, Any]]
    # The customer's household as its JSON (id, name, members with their visibility), or None.
    household: dict[str, Any] | None


def _table(label: str) -> str:
    return connection.ops.quote_name(apps.get_model(label)._meta.db_table)


@lru_cache(maxsize=64)
def _sections_sql(vendor: str, scope: str) -> str:
    """One SELECT returning every section as JSON text, for a customer in the actor's scope only.
    Numbers and JSON columns travel as text (``::text``) so that amounts keep every digit and
    JSON fields parse as Django parses them.

    ``scope`` is the scoped customer query of ``_scope_query`` (the ids the actor may view). The
    sections are the SELECT list of one row per ``scoped`` customer: outside the scope there is
    no row, so no section is evaluated and nothing of that customer leaves the database."""
    del vendor  # a cache key: the statement is PostgreSQL's
    staff = "json_build_object('id', {0}.id, 'full_name', {0}.full_name, 'username', {0}.username)"
    # A related customer (group company, relative, household member) as relationships.party reads
    # it, and whether the actor's scope reaches it.
    party = "'pk', c.id, 'name', c.name, 'customer_number', c.customer_number, 'kind', c.kind"
    visible = f"'visible', EXISTS (SELECT 1 FROM ({scope}) AS v(id) WHERE v.id = c.id)"  # noqa: S608 - compiled scope
    # Table names come from the models, values are parameters.
    return f"""
WITH RECURSIVE scoped AS (
  SELECT s.id FROM ({scope}) AS s(id) WHERE s.id = %(customer)s
), household AS (
  SELECT household_id FROM {_table("customers.HouseholdMember")}
  WHERE customer_id = %(customer)s ORDER BY id LIMIT 1
), {group_walk_ctes("%(customer)s", "c.status <> ALL(%(hidden)s)")}
SELECT json_build_object(
 'customer', (SELECT json_build_object('row', to_jsonb(c), 'org_unit', to_jsonb(o),
     'primary_manager', to_jsonb(pm), 'covering_team', to_jsonb(ct))
   FROM {_table("customers.Customer")} c JOIN {_table("org.OrgUnit")} o ON o.id = c.org_unit_id
   LEFT JOIN {_table("users.User")} pm ON pm.id = c.primary_manager_id
   LEFT JOIN {_table("org.Team")} ct ON ct.id = c.covering_team_id
   WHERE c.id = %(customer)s),
 'secondary', (SELECT json_agg({staff.format("u")} ORDER BY s.since, s.id)
   FROM {_table("customers.SecondaryManager")} s JOIN {_table("users.User")} u ON u.id = s.user_id
   WHERE s.customer_id = %(customer)s),
 'tags', (SELECT json_agg(json_build_object('id', t.id, 'label', t.label, 'colour', t.colour,
     'group', t."group") ORDER BY t."group", t.label, t.id)
   FROM {_table("customers.CustomerTag")} ct JOIN {_table("customers.Tag")} t ON t.id = ct.tag_id
   WHERE ct.customer_id = %(customer)s AND t.is_active),
 'aum', (SELECT json_agg(json_build_object('month_end', x.month_end, 'total', x.total::text,
     'mix', x.mix::text) ORDER BY x.month_end)
   FROM (SELECT month_end, total, mix FROM {_table("portfolio.AumSnapshot")}
         WHERE customer_id = %(customer)s ORDER BY month_end DESC LIMIT %(months)s) x),
 'household_aum', (SELECT json_build_object('total', COALESCE(SUM(c.aum), 0)::text, 'members', COUNT(c.id))
   FROM household JOIN {_table("customers.HouseholdMember")} m ON m.household_id = household.household_id
   LEFT JOIN {_table("customers.Customer")} c ON c.id = m.customer_id AND c.status <> ALL(%(hidden)s)
   GROUP BY household.household_id),
 'group', (SELECT json_build_object('cut', bool_or(t.cut), 'members', json_agg(json_build_object(
     {party}, 'parent_company_id', c.parent_company_id, 'status', c.status, 'aum', c.aum::text,
     'depth', m.depth, {visible}) ORDER BY m.depth, c.name, c.id))
   FROM group_member m JOIN {_table("customers.Customer")} c ON c.id = m.id CROSS JOIN group_top t
   -- a group is a tree of companies: for an individual the walk is never run
   WHERE EXISTS (SELECT 1 FROM {_table("customers.Customer")} k
                 WHERE k.id = %(customer)s AND k.kind = '{CustomerKind.CORPORATE.value}')
   HAVING COUNT(*) > 0),
 'accounts', (SELECT json_agg(to_jsonb(a) ORDER BY a.kind, a.id)
   FROM {_table("portfolio.Account")} a WHERE a.customer_id = %(customer)s),
 'holdings', (SELECT json_agg(json_build_object('row', to_jsonb(h), 'product', to_jsonb(p))
     ORDER BY h.maturity_date ASC NULLS LAST, h.id)
   FROM {_table("portfolio.Holding")} h JOIN {_table("products.Product")} p ON p.id = h.product_id
   WHERE h.customer_id = %(customer)s),
 'transactions', (SELECT json_agg(json_build_object('row', to_jsonb(x), 'account', to_jsonb(a))
     ORDER BY x.booked_at DESC, x.id DESC)
   FROM (SELECT * FROM {_table("portfolio.Transaction")} WHERE customer_id = %(customer)s
         ORDER BY booked_at DESC, id DESC LIMIT %(transactions)s) x
   LEFT JOIN {_table("portfolio.Account")} a ON a.id = x.account_id),
 'history', (SELECT json_agg(json_build_object('id', e.id, 'occurred_at', e.occurred_at,
     'action', e.action, 'actor_label', e.actor_label, 'reason', e.reason,
     'before', e.before::text, 'after', e.after::text) ORDER BY e.sequence DESC)
   FROM (SELECT * FROM {_table("audit.AuditEvent")}
         WHERE object_type = 'customer' AND object_id = %(object_id)s
           AND NOT (action = ANY(%(reads)s) OR action LIKE %(unmask)s)
         ORDER BY sequence DESC LIMIT %(history)s) e),
 'lifecycle', (SELECT json_agg(to_jsonb(l) ORDER BY l.changed_at DESC, l.id DESC)
   FROM (SELECT * FROM {_table("customers.LifecycleChange")} WHERE customer_id = %(customer)s
         ORDER BY changed_at DESC, id DESC LIMIT %(changes)s) l),
 'coverage', (SELECT json_agg(json_build_object('row', to_jsonb(k),
     'from_manager', CASE WHEN fm.id IS NULL THEN NULL ELSE {staff.format("fm")} END,
     'to_manager', CASE WHEN tm.id IS NULL THEN NULL ELSE {staff.format("tm")} END,
     'from_team', ft.name, 'to_team', tt.name) ORDER BY k.changed_at DESC, k.id DESC)
   FROM (SELECT * FROM {_table("customers.CoverageChange")} WHERE customer_id = %(customer)s
         ORDER BY changed_at DESC, id DESC LIMIT %(changes)s) k
   LEFT JOIN {_table("users.User")} fm ON fm.id = k.from_manager_id
   LEFT JOIN {_table("users.User")} tm ON tm.id = k.to_manager_id
   LEFT JOIN {_table("org.Team")} ft ON ft.id = k.from_team_id
   LEFT JOIN {_table("org.Team")} tt ON tt.id = k.to_team_id),
 'consents', (SELECT json_agg(to_jsonb(k) ORDER BY k.given_at, k.id)
   FROM {_table("privacy.Consent")} k WHERE k.customer_id = %(customer)s),
 'purposes', (SELECT json_agg(to_jsonb(p) ORDER BY p.sort_order, p.code)
   FROM {_table("privacy.ProcessingPurpose")} p WHERE p.is_active AND p.legal_basis = %(consent)s),
 'relationships', (SELECT json_agg(json_build_object('row', to_jsonb(r),
     'other', json_build_object({party}), {visible}) ORDER BY r.starts_on DESC, r.id DESC)
   FROM {_table("customers.Relationship")} r JOIN {_table("customers.Customer")} c
     ON c.id = CASE WHEN r.from_customer_id = %(customer)s THEN r.to_customer_id ELSE r.from_customer_id END
   WHERE r.from_customer_id = %(customer)s OR r.to_customer_id = %(customer)s),
 'household', (SELECT json_build_object('id', h.id, 'name', h.name, 'members', (
     SELECT json_agg(json_build_object({party}, 'role', m.role, {visible}) ORDER BY m.id)
     FROM {_table("customers.HouseholdMember")} m
     JOIN {_table("customers.Customer")} c ON c.id = m.customer_id
     WHERE m.household_id = h.id AND c.status <> ALL(%(hidden)s)))
   FROM household JOIN {_table("customers.Household")} h ON h.id = household.household_id)
)::text
FROM scoped
"""  # noqa: S608


def _aware(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


def _to_decimal(value: Any) -> Decimal:
    return value if isinstance(value, Decimal) else Decimal(str(value))


# How a column of ``to_jsonb(row)`` becomes what the ORM would have loaded, by field type.
_JSON_PARSERS: dict[str, Callable[[Any], Any]] = {
    "DateTimeField": _aware,
    "DateField": date.fromisoformat,
    "DecimalField": _to_decimal,
    "UUIDField": uuid.UUID,
}


def _json_converter(model_field: Any) -> Callable[[Any], Any] | None:
    """The conversion of one non-null column (None: the JSON value is the field's value)."""
    kind = model_field.get_internal_type()
    if kind == "JSONField":
        return None  # none of the 360's to_jsonb rows has one; loaded as parsed
    parse = _JSON_PARSERS.get(kind)
    from_db_value = getattr(model_field, "from_db_value", None)
    if from_db_value is None:
        return parse
    if parse is None:
        return lambda value: from_db_value(value, None, connection)
    return lambda value: from_db_value(parse(value), None, connection)


@lru_cache(maxsize=32)
def _json_loader(label: str) -> tuple[Any, list[str], list[tuple[str, Callable[[Any], Any] | None]]]:
    """A model, its fields' attribute names and (column, conversion) pairs: worked out once, not
    for every column of every row."""
    model = apps.get_model(label)
    fields = model._meta.concrete_fields
    return (
        model,
        [field.attname for field in fields],
        [(field.column, _json_converter(field)) for field in fields],
    )


def _instance(label: str, row: Mapping[str, Any]) -> Any:
    """A model instance from ``to_jsonb(row)``: every concrete field loaded, none deferred."""
    model, attnames, columns = _json_loader(label)
    values = []
    for column, convert in columns:
        value = row.get(column)
        values.append(value if value is None or convert is None else convert(value))
    return model.from_db(connection.alias, attnames, values)


def _staff_row(row: Mapping[str, Any] | None) -> _Staff | None:
    return None if row is None else _Staff(row["id"], row["full_name"], row["username"])


def single_statement_enabled() -> bool:
    """The one-statement read serves PostgreSQL when the sections' apps are installed (setting
    FINCRM_CUSTOMER_360_SINGLE_STATEMENT, on by default; off, every section asks its own selector)."""
    return (
        connection.vendor == "postgresql"
        and bool(getattr(settings, "FINCRM_CUSTOMER_360_SINGLE_STATEMENT", True))
        and all(
            apps.is_installed(app)
            for app in ("fincrm.portfolio", "fincrm.products", "fincrm.audit", "fincrm.privacy")
        )
        and optional_function("fincrm.portfolio.selectors", "accounts_for") is not None
    )


# The types of the statement's own parameters in its prepared form; the scope's parameters are
# typed by the database from where they are used.
_TYPES = {
    "customer": "bigint",
    "object_id": "text",
    "months": "integer",
    "transactions": "integer",
    "history": "integer",
    "changes": "integer",
    "hidden": "text[]",
    "reads": "text[]",
    "unmask": "text",
    "consent": "text",
}
# The placeholders of a compiled ORM query: "%s" a parameter, "%%" a literal percent sign.
_ORM_PLACEHOLDER = re.compile(r"%%|%s")
_BIGINT = 2**63


# Compiled scopes by the actor's whole value (see _scope_query); a few hundred actors at most.
_SCOPE_QUERIES: dict[tuple[Any, ...], tuple[str, dict[str, Any]] | None] = {}
_SCOPE_QUERIES_KEPT = 256
_UNKNOWN = object()


def _actor_value(actor: Actor) -> tuple[Any, ...]:
    """Every field of the actor, hashable (its grants are a mapping): equal for equal actors."""
    return tuple(
        frozenset(value.items()) if isinstance(value, Mapping) else value
        for value in (getattr(actor, each.name) for each in dataclasses.fields(actor))
    )


def _scope_query(actor: Actor) -> tuple[str, dict[str, Any]] | None:
    """The ids of the customers the actor may view, as SQL with named parameters (``scope_0``…),
    compiled from ``customer_queryset``, the one scoping of every customer read. None when the
    actor has no view scope at all.

    Building and compiling that query costs more CPU than the rest of the scope check (0.3 to
    0.7 ms a request). It is a function of the actor's value alone (scope conditions read the
    actor, never the database), and actors are immutable and rebuilt on each request from the
    roles as they are then: so it is compiled once per distinct actor value, in each process."""
    key = _actor_value(actor)
    known = _SCOPE_QUERIES.get(key, _UNKNOWN)
    if known is not _UNKNOWN:
        return known  # type: ignore[return-value]
    if len(_SCOPE_QUERIES) >= _SCOPE_QUERIES_KEPT:
        _SCOPE_QUERIES.clear()
    compiled = _compile_scope(actor)
    _SCOPE_QUERIES[key] = compiled
    return compiled


def _compile_scope(actor: Actor) -> tuple[str, dict[str, Any]] | None:
    query = customer_queryset(actor, VIEW).order_by().values_list("pk", flat=True).query
    try:
        sql, values = query.sql_with_params()
    except EmptyResultSet:
        return None
    parameters: dict[str, Any] = {}

    def named(match: re.Match[str]) -> str:
        if match.group() == "%%":
            return "%%"
        name = f"scope_{len(parameters)}"
        parameters[name] = values[len(parameters)]
        return f"%({name})s"

    return _ORM_PLACEHOLDER.sub(named, sql), parameters


def _run_sections(cursor: Any, scope: str, parameters: dict[str, Any]) -> str | None:
    """The statement's JSON text (None: the customer is missing or outside the scope). Planning
    it costs more than running it (20 ms against 9 ms measured at 1M customers): each database
    session prepares each form once (one per shape of scope) and then only executes it."""
    execute_prepared(
        cursor, "fincrm_customer_360", _sections_sql(connection.vendor, scope), parameters, _TYPES
    )
    row = cursor.fetchone()
    return None if row is None else str(row[0])


def prefetch_sections(actor: Actor, customer_id: object) -> Prefetched | None:
    """The customer and every section's rows, in one statement that checks the actor's scope
    itself: None when the customer is missing or outside it (only where
    ``single_statement_enabled``)."""
    scope = _scope_query(actor)
    try:
        customer_pk = int(customer_id)  # type: ignore[call-overload]
    except (TypeError, ValueError):
        return None
    if scope is None or not -_BIGINT <= customer_pk < _BIGINT:
        return None
    scope_sql, scope_parameters = scope
    parameters = {
        **scope_parameters,
        "customer": customer_pk,
        "object_id": str(customer_pk),
        "months": AUM_MONTHS,
        "transactions": TRANSACTIONS_SHOWN,
        "history": HISTORY_SHOWN,
        "changes": COVERAGE_SHOWN,
        "hidden": [str(status) for status in HIDDEN_STATUSES],
        "reads": sorted(READ_ACTIONS),
        "unmask": "%unmask%",
        "consent": CONSENT_BASIS,
    }
    with connection.cursor() as cursor:
        text = _run_sections(cursor, scope_sql, parameters)
    if text is None:
        return None
    data = json.loads(text, parse_float=Decimal)
    household = data["household_aum"]

    def holding(item: Mapping[str, Any]) -> Any:
        row = _instance("portfolio.Holding", item["row"])
        row.product = _instance("products.Product", item["product"])
        return row

    accounts: dict[int, Any] = {}  # a few accounts carry the recent transactions: each loaded once

    def transaction(item: Mapping[str, Any]) -> Any:
        row = _instance("portfolio.Transaction", item["row"])
        account = item["account"]
        if account is not None and account["id"] not in accounts:
            accounts[account["id"]] = _instance("portfolio.Account", account)
        row.account = None if account is None else accounts[account["id"]]
        return row

    def event(item: Mapping[str, Any]) -> AuditEvent:
        loaded = {
            key: (json.loads(value) if key in ("before", "after") and value is not None else value)
            for key, value in item.items()
        }
        loaded["occurred_at"] = datetime.fromisoformat(item["occurred_at"]).astimezone(UTC)
        return AuditEvent(**loaded)

    return Prefetched(
        customer=None if data["customer"] is None else _customer(data["customer"]),
        secondary=[staff for staff in map(_staff_row, data["secondary"] or []) if staff is not None],
        tags=[TagRow(tag["id"], tag["label"], tag["colour"], tag["group"]) for tag in data["tags"] or []],
        aum=data["aum"] or [],
        household_aum=None
        if household is None
        else GroupFigure(Decimal(household["total"]).quantize(CENT), int(household["members"])),
        group=None
        if data["group"] is None
        else (
            group_walk_from_json(data["group"]),
            {int(row["pk"]) for row in data["group"]["members"] if row["visible"]},
        ),
        accounts=[_instance("portfolio.Account", row) for row in data["accounts"] or []],
        holdings=[holding(item) for item in data["holdings"] or []],
        transactions=[transaction(item) for item in data["transactions"] or []],
        history=[event(item) for item in data["history"] or []],
        lifecycle=[_instance("customers.LifecycleChange", row) for row in data["lifecycle"] or []],
        coverage=[
            (
                _instance("customers.CoverageChange", item["row"]),
                _staff_row(item["from_manager"]),
                _staff_row(item["to_manager"]),
                None if item["from_team"] is None else _Team(item["from_team"]),
                None if item["to_team"] is None else _Team(item["to_team"]),
            )
            for item in data["coverage"] or []
        ],
        consents=[_instance("privacy.Consent", row) for row in data["consents"] or []],
        purposes=[_instance("privacy.ProcessingPurpose", row) for row in data["purposes"] or []],
        relationships=data["relationships"] or [],
        household=data["household"],
    )


def _customer(item: Mapping[str, Any]) -> Customer:
    customer: Customer = _instance("customers.Customer", item["row"])
    customer.org_unit = _instance("org.OrgUnit", item["org_unit"])
    manager, team = item["primary_manager"], item["covering_team"]
    customer.primary_manager = None if manager is None else _instance("users.User", manager)
    customer.covering_team = None if team is None else _instance("org.Team", team)
    return customer


# ---------------------------------------------------------------- the read


def access_customer_for_360(actor: Actor, customer_id: object) -> Customer:
    """The customer with its branch, primary manager and team in one query; NotFound (and an
    ``access.denied`` security event) when missing or outside the actor's scope."""
    queryset = customer_queryset(actor, VIEW).select_related("org_unit", "primary_manager", "covering_team")
    return access_object(queryset, customer_id, actor=actor, action=VIEW, object_type="customer")


def customer_360(actor: Actor, customer_id: object, *, consents: bool = True) -> Customer360:
    """Everything the 360 shows about one customer in the actor's scope (NotFound otherwise).

    ``consents=False`` leaves the consents section out, for a page that shows the privacy app's
    own consent panel instead."""
    with one_read():
        rows: Prefetched | None = None
        if single_statement_enabled():
            # The scope check is part of the statement: the customer row comes with every section.
            rows = prefetch_sections(actor, customer_id)
            if rows is None or rows.customer is None:
                record_denied(actor, VIEW, object_type="customer", object_id=customer_id)
                raise NotFound("customer", customer_id)
            customer = rows.customer
        else:
            customer = access_customer_for_360(actor, customer_id)
        remember_access(actor, customer)
        return _assemble(actor, customer, rows, consents=consents)


def _assemble(actor: Actor, customer: Customer, rows: Prefetched | None, *, consents: bool) -> Customer360:
    as_of = today()
    language = translation.get_language()
    return Customer360(
        identity=_identity(customer),
        lifecycle_stage=_choice("lifecycle_stage", customer.lifecycle_stage, language),
        value_tier=_choice("value_tier", customer.value_tier, language),
        kyc=_kyc(customer),
        flags=risk_flags(customer, as_of),
        coverage=_coverage(customer, rows),
        tags=_tags(customer, rows),
        aum=_aum(actor, customer, rows),
        accounts=_accounts(actor, customer, rows),
        holdings=_holdings(actor, customer, as_of, rows),
        transactions=_transactions(actor, customer, rows),
        consents=_consents(actor, customer, rows) if consents else Section(available=False),
        # Ready for the activities, sales and service capabilities: empty until they are installed.
        interactions=Section(available=False),
        opportunities=Section(available=False),
        tickets=Section(available=False),
        tasks=Section(available=False),
        history=change_history(customer.pk, rows=rows),
        lifecycle_history=_lifecycle_history(customer, rows),
        coverage_history=_coverage_history(customer, rows),
        customer=customer,
        relationships=_relationships(actor, customer, rows),
        group_tree=_group_tree(actor, customer, rows),
        household=_household(actor, customer, rows),
        consents_read=None if rows is None else (rows.purposes, rows.consents),
    )


def _call_optional(module: str, name: str, actor: Actor, customer: Customer) -> Any:
    function = optional_function(module, name)
    return None if function is None else function(actor, customer.pk)


def _masked_party(party: Any) -> Any:
    """A related person's name masked like every name on the 360 (a company's name stays; one
    outside the actor's scope comes masked already)."""
    if getattr(party, "visible", False) and getattr(party, "kind", "") == CustomerKind.INDIVIDUAL:
        return dataclasses.replace(party, name=mask("name", party.name))
    return party


def _relationships(actor: Actor, customer: Customer, prefetched: Prefetched | None = None) -> Any:
    rows_of = optional_function(RELATIONSHIPS, "relationship_rows_of")
    if prefetched is not None and rows_of is not None:
        links = prefetched.relationships
        rows = rows_of(
            [_instance("customers.Relationship", item["row"]) for item in links],
            customer.pk,
            {item["other"]["pk"]: item["other"] for item in links},
            {item["other"]["pk"] for item in links if item["visible"]},
        )
    else:
        rows = _call_optional(RELATIONSHIPS, "relationships_for", actor, customer)
    if rows is None:
        return None
    return [dataclasses.replace(row, other=_masked_party(row.other)) for row in rows]


def _household(actor: Actor, customer: Customer, prefetched: Prefetched | None = None) -> Any:
    view_of = optional_function(RELATIONSHIPS, "household_view_of")
    if prefetched is not None and view_of is not None:
        if prefetched.household is None:
            return None
        item = prefetched.household
        members = item["members"] or []
        visible = {member["pk"] for member in members if member["visible"]}
        household = view_of(item["id"], item["name"], members, visible, current_id=customer.pk)
    else:
        household = _call_optional(RELATIONSHIPS, "household_of", actor, customer)
    if household is None:
        return None
    members = [dataclasses.replace(row, party=_masked_party(row.party)) for row in household.members]
    return dataclasses.replace(household, members=members)


def _group_tree(actor: Actor, customer: Customer, prefetched: Prefetched | None = None) -> Any:
    # A group is a tree of corporates: an individual has none, so no query is spent on one.
    if customer.kind != CustomerKind.CORPORATE:
        return None
    tree_of = optional_function(RELATIONSHIPS, "tree_of")
    if prefetched is not None and prefetched.group is not None and tree_of is not None:
        walk, visible = prefetched.group
        return tree_of(walk, visible, customer.pk)
    return _call_optional(RELATIONSHIPS, "group_tree", actor, customer)


def _identity(customer: Customer) -> Identity:
    individual = customer.kind == CustomerKind.INDIVIDUAL
    language = translation.get_language()
    return Identity(
        customer_id=customer.pk,
        customer_number=customer.customer_number,
        kind=_choice("kind", customer.kind, language),
        status=_choice("status", customer.status, language),
        name=mask("name", customer.name) if individual else customer.name,
        id_type=_choice("id_type", customer.id_type, language),
        id_number=mask("id_number", customer.id_number),
        id_expires_on=customer.id_expires_on,
        mobile=mask("mobile", customer.mobile),
        email=mask("email", customer.email),
        address=mask("address", customer.address),
        nationality=customer.nationality,
        org_unit_id=customer.org_unit_id,
        org_unit_name=customer.org_unit.name,
    )


def _kyc(customer: Customer) -> Kyc:
    language = translation.get_language()
    return Kyc(
        aml_risk_rating=_choice("aml_risk_rating", customer.aml_risk_rating, language),
        aml_next_review_on=customer.aml_next_review_on,
        risk_tolerance=_choice("risk_tolerance", customer.risk_tolerance, language),
        risk_assessed_on=customer.risk_assessed_on,
        risk_expires_on=customer.risk_expires_on,
        is_professional_investor=customer.is_professional_investor,
        occupation_recorded=bool(customer.occupation),
    )


def risk_flags(customer: Customer, as_of: date) -> list[RiskFlag]:
    """The header's risk badges: the AML rating always, then whatever needs attention."""
    kyc_warning_days = int(getattr(settings, "FINCRM_PROFILE_KYC_WARNING_DAYS", DEFAULT_KYC_WARNING_DAYS))
    rating = _choice("aml_risk_rating", customer.aml_risk_rating, translation.get_language())
    level = {"high": "danger", "medium": "warning"}.get(customer.aml_risk_rating, "success")
    flags = [RiskFlag("aml_rating", level, _("AML risk: %(rating)s") % {"rating": rating.label})]
    if customer.status == CustomerStatus.NEEDS_REVIEW:
        flags.append(
            RiskFlag(
                "needs_review",
                "warning",
                _("Held for review"),
                _("Its identity matched another customer; it is reviewed institution-wide."),
            )
        )
    if customer.aml_next_review_on is not None and customer.aml_next_review_on < as_of:
        flags.append(
            RiskFlag(
                "aml_review_overdue",
                "danger",
                _("AML review overdue"),
                _("The AML review was due on %(date)s.") % {"date": customer.aml_next_review_on.isoformat()},
            )
        )
    expires = customer.id_expires_on
    if expires is not None and expires < as_of:
        flags.append(
            RiskFlag(
                "kyc_expired",
                "danger",
                _("ID document expired"),
                _("The ID document expired on %(date)s: renew the KYC record.")
                % {"date": expires.isoformat()},
            )
        )
    elif expires is not None and expires <= as_of + timedelta(days=kyc_warning_days):
        flags.append(
            RiskFlag(
                "kyc_expiring",
                "warning",
                _("ID document expires soon"),
                _("The ID document expires on %(date)s.") % {"date": expires.isoformat()},
            )
        )
    if not customer.is_professional_investor:
        if not customer.risk_tolerance or customer.risk_assessed_on is None:
            flags.append(
                RiskFlag(
                    "risk_assessment_missing",
                    "warning",
                    _("No risk assessment"),
                    _("Products above R1 cannot be sold until a risk assessment is done."),
                )
            )
        elif customer.risk_expires_on is not None and customer.risk_expires_on < as_of:
            flags.append(
                RiskFlag(
                    "risk_assessment_expired",
                    "danger",
                    _("Risk assessment expired"),
                    _("The risk assessment expired on %(date)s; sales are blocked until it is renewed.")
                    % {"date": customer.risk_expires_on.isoformat()},
                )
            )
    return flags


def _coverage(customer: Customer, rows: Prefetched | None = None) -> Coverage:
    if rows is not None:
        managers: list[Any] = rows.secondary
    else:
        managers = [
            row.user
            for row in SecondaryManager.objects.filter(customer=customer)
            .select_related("user")
            .order_by("since", "id")
        ]
    team = customer.covering_team
    return Coverage(
        primary=_staff(customer.primary_manager),
        secondary=[ref for ref in (_staff(user) for user in managers) if ref is not None],
        team=TeamRef(team.pk, team.code, team.name) if team is not None else None,
    )


def _tags(customer: Customer, rows: Prefetched | None = None) -> list[TagRow]:
    if rows is not None:
        return rows.tags
    return [TagRow(tag.pk, tag.label, tag.colour, tag.group) for tag in tags_for([customer.pk])[customer.pk]]


# ---------------------------------------------------------------- portfolio (another app's selectors)


def _asset_classes() -> list[Choice]:
    labels = {
        "deposit": _("Deposits"),
        "wealth": _("Wealth management"),
        "fund": _("Funds"),
        "securities": _("Securities"),
        "insurance": _("Insurance"),
    }
    return [Choice(code, labels[code]) for code in ASSET_CLASSES]


def _snapshot_mix(raw: str | None) -> dict[str, Decimal]:
    """A snapshot's stored mix as the portfolio app reads it: every asset class, to the cent."""
    values = json.loads(raw) if raw else {}
    values = values if isinstance(values, dict) else {}
    return {
        code: Decimal(str(values[code])).quantize(CENT)
        if values.get(code) not in (None, "")
        else Decimal("0.00")
        for code in ASSET_CLASSES
    }


def _aum(actor: Actor, customer: Customer, rows: Prefetched | None = None) -> Aum:
    history = optional_function("fincrm.portfolio.selectors", "aum_history")
    points: list[AumPoint] = []
    if history is not None and rows is not None:
        for snapshot in rows.aum:
            mix = {code: _decimal(amount) for code, amount in _snapshot_mix(snapshot["mix"]).items()}
            month_end = date.fromisoformat(snapshot["month_end"])
            points.append(AumPoint(month_end, _decimal(snapshot["total"]), mix))
    elif history is not None:
        for point in history(actor, customer.pk, months=AUM_MONTHS):
            mix = {code: _decimal(amount) for code, amount in dict(point.mix or {}).items()}
            points.append(AumPoint(point.month_end, _decimal(point.total), mix))
        points.sort(key=lambda point: point.month_end)
    return Aum(
        available=history is not None,
        current=customer.aum,
        updated_at=customer.aum_updated_at,
        currency="CNY",
        classes=_asset_classes(),
        points=points,
        household=_household_figure(actor, customer, rows),
        group=_corporate_group_figure(actor, customer, rows),
    )


def _household_figure(actor: Actor, customer: Customer, rows: Prefetched | None) -> GroupFigure | None:
    if rows is not None and optional_function("fincrm.portfolio.selectors", "household_aum") is not None:
        return rows.household_aum
    return _group_figure("household_aum", actor, customer)


def _corporate_group_figure(actor: Actor, customer: Customer, rows: Prefetched | None) -> GroupFigure | None:
    # A corporate group is a tree of companies: an individual has none, so no query is spent.
    if customer.kind != CustomerKind.CORPORATE:
        return None
    figure_of = optional_function("fincrm.portfolio.selectors", "group_figure")
    if rows is not None and rows.group is not None and figure_of is not None:
        figure = figure_of(rows.group[0])
        return None if figure is None else GroupFigure(_decimal(figure.total), int(figure.members))
    return _group_figure("group_aum", actor, customer)


def _group_figure(name: str, actor: Actor, customer: Customer) -> GroupFigure | None:
    function = optional_function("fincrm.portfolio.selectors", name)
    figure = None if function is None else function(actor, customer.pk)
    return None if figure is None else GroupFigure(_decimal(figure.total), int(figure.members))


def _accounts(actor: Actor, customer: Customer, prefetched: Prefetched | None = None) -> Section[AccountRow]:
    accounts_for = optional_function("fincrm.portfolio.selectors", "accounts_for")
    if accounts_for is None:
        return Section(available=False)
    language = translation.get_language()
    rows = [
        AccountRow(
            id=account.pk,
            kind=_model_choice(account, "kind", language),
            number=account.masked_number,
            currency=account.currency,
            balance=account.balance,
            status=_model_choice(account, "status", language),
            opened_on=account.opened_on,
            source=account,
        )
        for account in (prefetched.accounts if prefetched is not None else accounts_for(actor, customer.pk))
    ]
    return Section(available=True, rows=rows)


def _holdings(
    actor: Actor, customer: Customer, as_of: date, prefetched: Prefetched | None = None
) -> Section[HoldingRow]:
    holdings_for = optional_function("fincrm.portfolio.selectors", "holdings_for")
    if holdings_for is None:
        return Section(available=False)
    window = int(getattr(settings, "FINCRM_PROFILE_MATURITY_DAYS", DEFAULT_MATURITY_WINDOW_DAYS))
    language = translation.get_language()
    rows = []
    holdings = prefetched.holdings if prefetched is not None else holdings_for(actor, customer.pk)
    for holding in holdings:
        product = holding.product
        maturity = holding.maturity_date
        days = (maturity - as_of).days if maturity is not None else None
        rows.append(
            HoldingRow(
                id=holding.pk,
                product_code=product.code,
                product_name=product.name,
                product_type=_model_choice(product, "product_type", language),
                risk_level=product.risk_level,
                amount=holding.amount,
                market_value=holding.market_value,
                cash_value=holding.cash_value,
                currency=holding.currency,
                start_date=holding.start_date,
                maturity_date=maturity,
                days_to_maturity=days,
                maturing_soon=days is not None and 0 <= days <= window,
            )
        )
    return Section(available=True, rows=rows)


def _transactions(
    actor: Actor, customer: Customer, prefetched: Prefetched | None = None
) -> Section[TransactionRow]:
    recent = optional_function("fincrm.portfolio.selectors", "recent_transactions")
    if recent is None:
        return Section(available=False)
    language = translation.get_language()
    rows = []
    transactions = (
        prefetched.transactions
        if prefetched is not None
        else recent(actor, customer.pk, limit=TRANSACTIONS_SHOWN)
    )
    for row in transactions:
        account = getattr(row, "account", None)
        rows.append(
            TransactionRow(
                id=row.pk,
                booked_at=row.booked_at,
                business_date=row.business_date,
                direction=_model_choice(row, "direction", language),
                amount=row.amount,
                currency=row.currency,
                channel=_model_choice(row, "channel", language),
                transaction_type=_model_choice(row, "transaction_type", language),
                account=account.masked_number if account is not None else "",
                counterparty=mask("account", row.counterparty_account),
                cross_border=row.cross_border,
            )
        )
    return Section(available=True, rows=rows)


# ---------------------------------------------------------------- consents (the privacy app)


def _consents(actor: Actor, customer: Customer, prefetched: Prefetched | None = None) -> Section[ConsentRow]:
    consents_for = optional_function("fincrm.privacy.selectors", "consents_for")
    consent_rows = optional_function("fincrm.privacy.selectors", "consent_rows")
    if consents_for is None or consent_rows is None:
        return Section(available=False)
    if prefetched is not None:
        # The customer was reached through the 360's own scope check; the privacy app turns the
        # rows the one statement read into its rows, as it does for its own read.
        read = consent_rows(customer.pk, read=(prefetched.purposes, prefetched.consents))
    else:
        read = consents_for(actor, customer.pk)
    rows = [
        ConsentRow(
            purpose_code=row.purpose_code,
            purpose_name=str(row.purpose_name),
            channel=Choice(row.channel, str(row.channel_label)),
            given=row.is_given,
            given_at=row.given_at,
            withdrawn_at=row.withdrawn_at,
            source=str(row.source_label),
            separate_required=row.separate_required,
            separate=row.separate,
        )
        for row in read
    ]
    return Section(available=True, rows=rows)


# ---------------------------------------------------------------- history


def change_history(
    customer_id: int, *, limit: int = HISTORY_SHOWN, rows: Prefetched | None = None
) -> list[HistoryRow]:
    """The newest changes to a customer from the audit log (reads such as opening the 360 left out).

    Call it only for a customer already reached through the actor's scope."""
    events: Iterable[AuditEvent]
    if rows is not None and limit == HISTORY_SHOWN:
        events = rows.history
    else:
        events = (
            AuditEvent.objects.filter(object_type="customer", object_id=str(customer_id))
            .exclude(Q(action__in=READ_ACTIONS) | Q(action__contains="unmask"))
            .only("id", "occurred_at", "action", "actor_label", "reason", "before", "after")
            .order_by("-sequence")[:limit]
        )
    return [
        HistoryRow(
            id=event.pk,
            occurred_at=event.occurred_at,
            action=event.action,
            label=_action_label(event.action),
            actor=_actor_label(event.actor_label),
            reason=event.reason,
            changes=field_changes(event.before, event.after),
        )
        for event in events
    ]


def _action_label(code: str) -> str:
    try:
        return str(audit_registry.get(code).label)
    except audit_registry.UnknownEventCode:
        return code


def _actor_label(label: str) -> str:
    # "user:zhang.wei" → "zhang.wei"; "system:…" and "cli:…" stay as they are.
    return label.removeprefix("user:")


def _field_label(name: str) -> str:
    try:
        field = Customer._meta.get_field(name)
    except FieldDoesNotExist:
        field = None
    verbose_name = getattr(field, "verbose_name", None)
    return str(verbose_name) if verbose_name else name.replace("_", " ")


def _display(name: str, value: Any) -> str:
    if value is None or value == "":
        return ""
    if isinstance(value, list | tuple):
        text = ", ".join(str(item) for item in value)
    elif isinstance(value, Mapping):
        text = ", ".join(f"{key}: {item}" for key, item in value.items())
    else:
        text = str(value)
    kind = IDENTIFIER_MASKS.get(name)
    return mask(kind, text) if kind else text


def field_changes(before: Mapping[str, Any] | None, after: Mapping[str, Any] | None) -> list[FieldChange]:
    """The fields an event changed, in a stable order, identifiers masked."""
    before = before if isinstance(before, Mapping) else {}
    after = after if isinstance(after, Mapping) else {}
    names: Iterable[str] = list(dict.fromkeys([*before.keys(), *after.keys()]))
    changes = []
    for name in names:
        old, new = _display(name, before.get(name)), _display(name, after.get(name))
        if old != new:
            changes.append(FieldChange(name, _field_label(name), old, new))
    return changes


def _lifecycle_history(customer: Customer, prefetched: Prefetched | None = None) -> list[LifecycleRow]:
    rows: Iterable[Any]
    if prefetched is not None:
        rows = prefetched.lifecycle
    else:
        rows = LifecycleChange.objects.filter(customer=customer).order_by("-changed_at", "-id")[
            :COVERAGE_SHOWN
        ]
    labels = dict(LifecycleStage.choices)
    return [
        LifecycleRow(
            changed_at=row.changed_at,
            from_stage=Choice(row.from_stage, str(labels.get(row.from_stage, row.from_stage))),
            to_stage=Choice(row.to_stage, str(labels.get(row.to_stage, row.to_stage))),
            changed_by=_actor_label(row.changed_by),
            reason=row.reason,
        )
        for row in rows
    ]


def _coverage_history(customer: Customer, prefetched: Prefetched | None = None) -> list[CoverageRow]:
    if prefetched is not None:
        changes: list[tuple[Any, Any, Any, Any, Any]] = prefetched.coverage
    else:
        changes = [
            (row, row.from_manager, row.to_manager, row.from_team, row.to_team)
            for row in CoverageChange.objects.filter(customer=customer)
            .select_related("from_manager", "to_manager", "from_team", "to_team")
            .order_by("-changed_at", "-id")[:COVERAGE_SHOWN]
        ]
    return [
        CoverageRow(
            changed_at=row.changed_at,
            from_manager=_staff_label(from_manager),
            to_manager=_staff_label(to_manager),
            from_team=_team_label(from_team),
            to_team=_team_label(to_team),
            changed_by=_actor_label(row.changed_by),
            reason=row.reason,
        )
        for row, from_manager, to_manager, from_team, to_team in changes
    ]


# ---------------------------------------------------------------- the read event


def record_customer_viewed(actor: Actor, customer_id: int, *, via: str) -> None:
    """Record ``customer.viewed`` (who opened which customer's 360, from the page or the API).

    The event is taken now and appended to the audit chain by the audit app's batch writer
    within ``FINCRM_AUDIT_READ_EVENT_DELAY`` (fincrm.audit.deferred: the bound is stated there)."""
    audit_record_soon(
        actor, "customer.viewed", object_type="customer", object_id=str(customer_id), after={"via": via}
    )


def record_opened_after(response: HttpResponseBase, actor: Actor, customer_id: int, *, via: str) -> None:
    """Record the opening once ``response`` has been sent.

    The server calls ``response.close()`` after the last byte has gone to the client (WSGI and
    ASGI alike); the event is taken then and queued for the batch writer, so neither the reader
    nor the worker waits for the audit chain lock.
    The request's context (request id, client address) is carried over. A failure is logged
    (Django would swallow an exception raised by a closer silently)."""
    request_context = dataclasses.replace(context.current(), deferred=None)

    def write() -> None:
        try:
            with context.bound(request_context):
                record_customer_viewed(actor, customer_id, via=via)
        except Exception:
            logger.exception("customer.viewed could not be recorded for customer %s", customer_id)

    response._resource_closers.append(write)  # type: ignore[attr-defined]
