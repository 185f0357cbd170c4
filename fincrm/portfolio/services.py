"""Writes of the portfolio read model: AUM kept current, month-end snapshots, and the intake of
accounts from the core systems.

AUM (DOMAIN.md "AUM") in CNY = deposit balances + market value of wealth, fund and securities
holdings (and deposit products held) + cash value of insurance policies; loans and cards are not
assets. A foreign-currency amount converts at the latest rate on or before the business date.
Everything is computed set-based in SQL, one statement per batch of customers, never per row in
Python and never on a page view.
"""

from __future__ import annotations

import calendar
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import connection
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from fincrm.audit.services import audit_record
from fincrm.customers.models import Customer, CustomerSearchTerm, ValueTier
from fincrm.platform import outbox, transaction
from fincrm.platform.actor import Actor
from fincrm.platform.errors import ServiceError
from fincrm.portfolio.models import Account, AssetClass, AumSnapshot, FxRate, Holding
from fincrm.products.models import Product, ProductType
from fincrm.security.fields import blind_index, normalize_digits

BATCH = 500  # customers per statement (well under SQLite's bound-parameter limit)
BASE_CURRENCY = "CNY"

# Value tiers by AUM in CNY (settings: FINCRM_VALUE_TIER_THRESHOLDS), highest first.
DEFAULT_VALUE_TIER_THRESHOLDS = {
    ValueTier.PRIVATE: Decimal("30000000"),
    ValueTier.WEALTH: Decimal("6000000"),
    ValueTier.AFFLUENT: Decimal("500000"),
}

# Holdings of these product types count at market value; insurance at cash value; loans and
# cards never.
_MARKET_VALUE_TYPES = (ProductType.DEPOSIT, ProductType.WEALTH, ProductType.FUND, ProductType.SECURITIES)


def value_tier_thresholds() -> list[tuple[str, Decimal]]:
    configured = getattr(settings, "FINCRM_VALUE_TIER_THRESHOLDS", None) or {}
    merged = {
        **DEFAULT_VALUE_TIER_THRESHOLDS,
        **{ValueTier(k): Decimal(str(v)) for k, v in configured.items()},
    }
    return sorted(merged.items(), key=lambda item: item[1], reverse=True)


def value_tier_for(aum: Decimal) -> str:
    for tier, threshold in value_tier_thresholds():
        if aum >= threshold:
            return str(tier)
    return str(ValueTier.MASS)


def store_full_card_numbers() -> bool:
    """PCI DSS 3.4: by default only the first 6 and last 4 digits and a blind index are kept."""
    return bool(getattr(settings, "FINCRM_STORE_FULL_CARD_NUMBERS", False))


# ---------------------------------------------------------------- the SQL


def _q(name: str) -> str:
    return connection.ops.quote_name(name)


def _table(model: type[Any]) -> str:
    return _q(model._meta.db_table)


def _date(value: date) -> Any:
    return connection.ops.adapt_datefield_value(value)


def _decimal(value: Decimal) -> Any:
    return connection.ops.adapt_decimalfield_value(value, 20, 2)


def _rate(alias: str, as_of: date) -> tuple[str, list[Any]]:
    """CNY per unit of ``alias``.currency: 1 for CNY, else the latest rate on or before ``as_of``
    (NULL when there is none, so an unconvertible amount drops out of the sum)."""
    sql = (
        f"CASE WHEN {alias}.{_q('currency')} = %s THEN 1 ELSE ("  # noqa: S608
        f"SELECT r.{_q('rate_to_cny')} FROM {_table(FxRate)} r "
        f"WHERE r.{_q('currency')} = {alias}.{_q('currency')} AND r.{_q('business_date')} <= %s "
        f"ORDER BY r.{_q('business_date')} DESC LIMIT 1) END"
    )
    return sql, [BASE_CURRENCY, _date(as_of)]


def _in(column: str, ids: Sequence[int]) -> tuple[str, list[Any]]:
    return f"{column} IN ({', '.join(['%s'] * len(ids))})", list(ids)


def _parts(ids: Sequence[int], as_of: date) -> tuple[str, list[Any]]:
    """Rows (customer_id, asset_class, value_cny): every asset of the customers ``ids`` held on ``as_of``."""
    account_rate, account_rate_params = _rate("a", as_of)
    holding_rate, holding_rate_params = _rate("h", as_of)
    account_in, account_ids = _in(f"a.{_q('customer_id')}", ids)
    holding_in, holding_ids = _in(f"h.{_q('customer_id')}", ids)
    types = ", ".join(["%s"] * len(_MARKET_VALUE_TYPES))
    sql = (
        f"SELECT a.{_q('customer_id')} AS customer_id, %s AS asset_class, "  # noqa: S608
        f"a.{_q('balance')} * ({account_rate}) AS value_cny "
        f"FROM {_table(Account)} a "
        f"WHERE {account_in} AND a.{_q('kind')} = %s AND a.{_q('status')} <> %s "
        f"AND a.{_q('opened_on')} <= %s "
        "UNION ALL "
        f"SELECT h.{_q('customer_id')} AS customer_id, p.{_q('product_type')} AS asset_class, "
        f"(CASE WHEN p.{_q('product_type')} = %s THEN COALESCE(h.{_q('cash_value')}, 0) "
        f"ELSE h.{_q('market_value')} END) * ({holding_rate}) AS value_cny "
        f"FROM {_table(Holding)} h JOIN {_table(Product)} p ON p.{_q('id')} = h.{_q('product_id')} "
        f"WHERE {holding_in} AND p.{_q('product_type')} IN (%s, {types}) AND h.{_q('start_date')} <= %s "
        f"AND (h.{_q('maturity_date')} IS NULL OR h.{_q('maturity_date')} >= %s)"
    )
    params = [
        AssetClass.DEPOSIT.value,
        *account_rate_params,
        *account_ids,
        Account.Kind.DEPOSIT.value,
        Account.Status.CLOSED.value,
        _date(as_of),
        ProductType.INSURANCE.value,
        *holding_rate_params,
        *holding_ids,
        ProductType.INSURANCE.value,
        *[str(value) for value in _MARKET_VALUE_TYPES],
        _date(as_of),
        _date(as_of),
    ]
    return sql, params


def _aggregate(ids: Sequence[int], as_of: date) -> tuple[str, list[Any]]:
    """Rows (customer_id, total): every customer of ``ids``, 0 for one without assets."""
    parts, parts_params = _parts(ids, as_of)
    customer_in, customer_ids = _in(f"c.{_q('id')}", ids)
    sql = (
        "SELECT c.id AS customer_id, ROUND(COALESCE(SUM(parts.value_cny), 0), 2) AS total "  # noqa: S608
        f"FROM {_table(Customer)} c LEFT JOIN ({parts}) parts ON parts.customer_id = c.{_q('id')} "
        f"WHERE {customer_in} GROUP BY c.{_q('id')}"
    )
    return sql, [*parts_params, *customer_ids]


def customer_aum_update(*, aggregate: tuple[str, list[Any]], updated_at: datetime) -> int:
    """Write ``aum``, ``aum_updated_at`` and ``value_tier`` on the customers table from an aggregate
    of (customer_id, total) rows, in one UPDATE … FROM, and copy each new AUM onto the customer's
    search terms as their ``rank`` (the order search reads them in; only terms whose rank changed
    are written). On PostgreSQL both in one statement (the customers' UPDATE … RETURNING feeds the
    terms' UPDATE); elsewhere the returned ids drive a second statement.

    The customers app has no service for its AUM columns: this is the one writer, kept here beside
    the computation (the customers app may take it over as ``customer_aum_set``)."""
    aggregate_sql, aggregate_params = aggregate
    cases = " ".join("WHEN agg.total >= CAST(%s AS NUMERIC) THEN %s" for _tier in value_tier_thresholds())
    case_params: list[Any] = []
    for tier, threshold in value_tier_thresholds():
        case_params += [_decimal(threshold), str(tier)]
    table = _table(Customer)
    terms = _table(CustomerSearchTerm)
    sql = (
        f"UPDATE {table} SET {_q('aum')} = agg.total, {_q('aum_updated_at')} = %s, "  # noqa: S608
        f"{_q('value_tier')} = CASE {cases} ELSE %s END "
        f"FROM ({aggregate_sql}) agg WHERE {table}.{_q('id')} = agg.customer_id "
        f"RETURNING {table}.{_q('id')}, {table}.{_q('aum')}"
    )
    params = [
        connection.ops.adapt_datetimefield_value(updated_at),
        *case_params,
        str(ValueTier.MASS),
        *aggregate_params,
    ]
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                f"WITH updated AS ({sql}), ranked AS ("  # noqa: S608
                f"UPDATE {terms} t SET {_q('rank')} = updated.{_q('aum')} FROM updated "
                f"WHERE t.{_q('customer_id')} = updated.{_q('id')} "
                f"AND t.{_q('rank')} <> updated.{_q('aum')}) "
                "SELECT count(*) FROM updated",
                params,
            )
            return int(cursor.fetchone()[0])
        cursor.execute(sql, params)
        ids = [row[0] for row in cursor.fetchall()]
        for batch in _batches(ids):
            term_in, term_ids = _in(f"{terms}.{_q('customer_id')}", batch)
            cursor.execute(
                f"UPDATE {terms} SET {_q('rank')} = c.{_q('aum')} FROM {table} c "  # noqa: S608
                f"WHERE c.{_q('id')} = {terms}.{_q('customer_id')} AND {term_in} "
                f"AND {terms}.{_q('rank')} <> c.{_q('aum')}",
                term_ids,
            )
        return len(ids)


def _batches(ids: Iterable[int], size: int = BATCH) -> Iterable[list[int]]:
    batch: list[int] = []
    for customer_id in ids:
        batch.append(int(customer_id))
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def business_date() -> date:
    return timezone.localdate()


@dataclass(frozen=True)
class AumRefresh:
    customers: int
    as_of: date


@transaction.atomic
def aum_refresh(
    customer_ids: Iterable[int], *, actor: Actor | None = None, as_of: date | None = None
) -> AumRefresh:
    """Recompute the AUM and value tier of ``customer_ids`` (one UPDATE per batch of 500).

    Called when portfolio data of those customers arrives, and nightly for everyone (rates move).
    A derived figure: one batch audit event and one outbox event per batch, not one per customer."""
    actor = actor or Actor.system("portfolio.aum_refresh")
    day = as_of or business_date()
    now = timezone.now()
    ids = sorted(set(customer_ids))
    updated = 0
    for batch in _batches(ids):
        updated += customer_aum_update(aggregate=_aggregate(batch, day), updated_at=now)
        outbox.publish("portfolio.aum.refreshed", customer_ids=batch)
    if ids:
        audit_record(
            actor,
            "portfolio.aum.refreshed",
            object_type="customer",
            object_id=str(ids[0]) if len(ids) == 1 else "",
            after={"customers": updated, "business_date": day.isoformat()},
        )
    return AumRefresh(customers=updated, as_of=day)


def aum_refresh_all(*, actor: Actor | None = None, as_of: date | None = None) -> AumRefresh:
    """Every customer, in batches (the nightly run)."""
    ids = Customer.objects.order_by("pk").values_list("pk", flat=True).iterator(chunk_size=BATCH * 4)
    return aum_refresh(ids, actor=actor, as_of=as_of)


# ---------------------------------------------------------------- month-end snapshots


def month_end(day: date) -> date:
    return day.replace(day=calendar.monthrange(day.year, day.month)[1])


def previous_month_end(day: date) -> date:
    return day.replace(day=1) - timedelta(days=1)


def _json_object() -> str:
    return "jsonb_build_object" if connection.vendor == "postgresql" else "json_object"


def _snapshot_insert(ids: Sequence[int], at: date, created_at: datetime) -> int:
    parts, parts_params = _parts(ids, at)
    customer_in, customer_ids = _in(f"c.{_q('id')}", ids)
    mix_items = []
    mix_params: list[Any] = []
    for asset_class in AssetClass.values:
        mix_items.append(
            "%s, CAST(ROUND(COALESCE(SUM(CASE WHEN parts.asset_class = %s THEN parts.value_cny END), 0), 2) "
            "AS VARCHAR(40))"
        )
        mix_params += [asset_class, asset_class]
    snapshots = _table(AumSnapshot)
    sql = (
        f"INSERT INTO {snapshots} ({_q('customer_id')}, {_q('month_end')}, {_q('total')}, {_q('mix')}, "  # noqa: S608
        f"{_q('created_at')}) "
        f"SELECT c.{_q('id')}, %s, ROUND(COALESCE(SUM(parts.value_cny), 0), 2), "
        f"{_json_object()}({', '.join(mix_items)}), %s "
        f"FROM {_table(Customer)} c LEFT JOIN ({parts}) parts ON parts.customer_id = c.{_q('id')} "
        f"WHERE {customer_in} AND NOT EXISTS (SELECT 1 FROM {snapshots} s "
        f"WHERE s.{_q('customer_id')} = c.{_q('id')} AND s.{_q('month_end')} = %s) "
        f"GROUP BY c.{_q('id')}"
    )
    params = [
        _date(at),
        *mix_params,
        connection.ops.adapt_datetimefield_value(created_at),
        *parts_params,
        *customer_ids,
        _date(at),
    ]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.rowcount


@transaction.atomic
def aum_snapshot_take(
    *, month_end_on: date, customer_ids: Iterable[int] | None = None, actor: Actor | None = None
) -> int:
    """Record every customer's AUM and mix at ``month_end_on`` (INSERT … SELECT per batch). A
    customer who already has that month's snapshot keeps it, so a rerun adds only missing rows."""
    if month_end(month_end_on) != month_end_on:
        raise ServiceError.field("month_end", _("Choose the last day of a month."), code="not_month_end")
    actor = actor or Actor.system("portfolio.aum_snapshot")
    if customer_ids is None:
        ids: Iterable[int] = (
            Customer.objects.order_by("pk").values_list("pk", flat=True).iterator(chunk_size=BATCH * 4)
        )
    else:
        ids = sorted(set(customer_ids))
    created_at = timezone.now()
    written = sum(_snapshot_insert(batch, month_end_on, created_at) for batch in _batches(ids))
    audit_record(
        actor,
        "portfolio.aum.snapshot_taken",
        object_type="aum_snapshot",
        after={"month_end": month_end_on.isoformat(), "rows": written},
    )
    if written:
        outbox.publish("portfolio.aum.snapshot_taken", month_end=month_end_on.strftime("%Y%m%d"))
    return written


# ---------------------------------------------------------------- accounts from a core feed


@dataclass(frozen=True)
class NumberParts:
    stored: str | None  # the full number to encrypt, or None (a card without full storage)
    index: str  # the blind index of the full number
    last4: str
    first6: str


def account_number_parts(kind: str, number: str) -> NumberParts:
    """Split an account or card number into what is stored: a card keeps only its first 6 and
    last 4 digits and the blind index of its full number, unless full storage is switched on."""
    digits = normalize_digits(number) if kind == Account.Kind.CREDIT_CARD else number.strip()
    if len(normalize_digits(number)) < 4 and kind == Account.Kind.CREDIT_CARD:
        raise ServiceError.field("account_number", _("A card number has 16 to 19 digits."))
    if not digits:
        raise ServiceError.field("account_number", _("Enter the account number."), code="required")
    index = blind_index(digits, "account_number")
    if kind == Account.Kind.CREDIT_CARD:
        return NumberParts(
            stored=digits if store_full_card_numbers() else None,
            index=index,
            last4=digits[-4:],
            first6=digits[:6],
        )
    tail = normalize_digits(digits)[-4:] or digits[-4:]
    return NumberParts(stored=digits, index=index, last4=tail, first6="")


def account_build(*, customer_id: int, kind: str, number: str, **fields: Any) -> Account:
    """An unsaved Account for a feed's bulk insert (number split per account_number_parts)."""
    parts = account_number_parts(kind, number)
    account = Account(
        customer_id=customer_id,
        kind=kind,
        account_number=parts.stored,
        number_last4=parts.last4,
        card_first6=parts.first6,
        **fields,
    )
    account.account_number_bidx = parts.index
    return account


def month_ends(until: date, count: int) -> list[date]:
    """The last ``count`` month ends on or before ``until``, oldest first."""
    ends = []
    current = until if month_end(until) == until else previous_month_end(until)
    for _index in range(count):
        ends.append(current)
        current = previous_month_end(current)
    return list(reversed(ends))
