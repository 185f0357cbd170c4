"""Staging tables: where an import's prepared rows wait (ciphertext only) before the set-based merge.

One table per batch and entity, named ``integration_stage_<batch>``; terms of customer names go to
``…_terms``. PostgreSQL fills them with ``COPY`` (UNLOGGED tables: they are scratch space, and a
crash loses nothing that matters, the import simply runs again); SQLite with ``executemany``.
Stage tables of a batch that is no longer running are dropped by ``stage_tables_drop_orphans``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from django.db import connection

from fincrm.integration.synth_rows import copy_text

# (column, PostgreSQL type); SQLite takes the type names as they are.
Columns = Sequence[tuple[str, str]]

CUSTOMER_STAGE: Columns = (
    ("row_number", "bigint"), ("op", "text"), ("row_uid", "uuid"), ("customer_number", "text"),
    ("kind", "text"), ("name", "text"), ("name_pinyin", "text"), ("id_type", "text"),
    ("id_number", "text"), ("id_number_bidx", "text"), ("id_expires_on", "date"), ("gender", "text"),
    ("birth_date", "date"), ("nationality", "text"), ("mobile", "text"), ("mobile_bidx", "text"),
    ("email", "text"), ("email_bidx", "text"), ("address", "text"), ("address_bidx", "text"),
    ("occupation", "text"), ("employer", "text"), ("income_band", "text"), ("source_of_funds", "text"),
    ("industry", "text"), ("aml_risk_rating", "text"), ("aml_next_review_on", "date"),
    ("derived_review", "date"), ("risk_tolerance", "text"), ("risk_assessed_on", "date"),
    ("risk_expires_on", "date"), ("derived_expiry", "date"), ("is_professional_investor", "boolean"),
    ("lifecycle_stage", "text"), ("source_channel", "text"), ("value_tier", "text"),
    ("org_unit_id", "bigint"), ("primary_manager_id", "bigint"), ("covering_team_id", "bigint"),
    ("parent_company", "text"),
)  # fmt: skip
CONTACT_STAGE: Columns = (
    ("row_number", "bigint"), ("op", "text"), ("customer_number", "text"),
    ("related_customer_number", "text"), ("kind", "text"), ("starts_on", "date"), ("ends_on", "date"),
    ("note", "text"),
)  # fmt: skip
ACCOUNT_STAGE: Columns = (
    ("row_number", "bigint"), ("op", "text"), ("row_uid", "uuid"), ("account_number_bidx", "text"),
    ("account_number", "text"), ("number_last4", "text"), ("card_first6", "text"),
    ("customer_number", "text"), ("kind", "text"), ("product_id", "bigint"), ("currency", "text"),
    ("balance", "numeric(20,2)"), ("opened_on", "date"), ("status", "text"), ("org_unit_id", "bigint"),
)  # fmt: skip
HOLDING_STAGE: Columns = (
    ("row_number", "bigint"), ("op", "text"), ("source_ref", "text"), ("customer_number", "text"),
    ("account_number_bidx", "text"), ("product_id", "bigint"), ("amount", "numeric(20,2)"),
    ("currency", "text"), ("market_value", "numeric(20,2)"), ("cash_value", "numeric(20,2)"),
    ("start_date", "date"), ("maturity_date", "date"),
)  # fmt: skip
TRANSACTION_STAGE: Columns = (
    ("row_number", "bigint"), ("op", "text"), ("row_uid", "uuid"), ("source_ref", "text"),
    ("account_number_bidx", "text"), ("booked_at", "timestamptz"), ("business_date", "date"),
    ("amount", "numeric(20,2)"), ("currency", "text"), ("direction", "text"), ("channel", "text"),
    ("transaction_type", "text"), ("counterparty_account", "text"),
    ("counterparty_account_bidx", "text"), ("cross_border", "boolean"),
)  # fmt: skip
PRODUCT_STAGE: Columns = (
    ("row_number", "bigint"), ("op", "text"), ("code", "text"), ("name", "text"),
    ("product_type", "text"), ("issuer", "text"), ("risk_level", "text"), ("currency", "text"),
    ("term_days", "integer"), ("is_private", "boolean"), ("is_active", "boolean"),
)  # fmt: skip
TERM_STAGE: Columns = (("row_number", "bigint"), ("kind", "text"), ("term", "text"))

STAGES: dict[str, Columns] = {
    "customers": CUSTOMER_STAGE,
    "contacts": CONTACT_STAGE,
    "accounts": ACCOUNT_STAGE,
    "holdings": HOLDING_STAGE,
    "transactions": TRANSACTION_STAGE,
    "products": PRODUCT_STAGE,
}
# Working columns the checks fill in: the matched record, what the row will do, references.
WORK_COLUMNS: Columns = (
    ("target_id", "bigint"), ("action", "text"), ("ref_id", "bigint"), ("ref2_id", "bigint"),
    ("hold", "boolean"), ("changed", "text"),
)  # fmt: skip

PREFIX = "integration_stage_"
_NAME = re.compile(rf"{PREFIX}[0-9a-f]{{32}}(_terms)?")


def q(name: str) -> str:
    return connection.ops.quote_name(name)


def is_postgresql() -> bool:
    return connection.vendor == "postgresql"


class Stage:
    """One staging table (and its terms table for customers)."""

    def __init__(self, key: str, entity: str) -> None:
        self.name = f"{PREFIX}{key}"
        if not _NAME.fullmatch(self.name):
            raise ValueError("a stage key is 32 hex digits")
        self.entity = entity
        self.columns = STAGES[entity]
        self.terms = f"{self.name}_terms"
        self.created = False

    def _create(self, name: str, columns: Columns) -> None:
        unlogged = "UNLOGGED " if is_postgresql() else ""
        body = ", ".join(f"{q(column)} {kind}" for column, kind in columns)
        with connection.cursor() as cursor:
            cursor.execute(f"DROP TABLE IF EXISTS {q(name)}")
            cursor.execute(f"CREATE {unlogged}TABLE {q(name)} ({body})")

    def create(self) -> None:
        self.created = True
        if is_postgresql():  # held while the stage lives (or the session does): see stage_tables_drop
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_lock(hashtext(%s))", [self.name])
        self._create(self.name, (*self.columns, *WORK_COLUMNS))
        if self.entity == "customers":
            self._create(self.terms, TERM_STAGE)

    def write(self, rows: Sequence[tuple[Any, ...]], *, terms: bool = False) -> None:
        if not rows:
            return
        name, columns = (self.terms, TERM_STAGE) if terms else (self.name, self.columns)
        names = ", ".join(q(column) for column, _kind in columns)
        with connection.cursor() as cursor:
            if is_postgresql():
                self.copy(copy_text(rows), terms=terms)
            else:
                marks = ", ".join(["%s"] * len(columns))
                uuids = [kind == "uuid" for _column, kind in columns]
                cursor.executemany(
                    f"INSERT INTO {q(name)} ({names}) VALUES ({marks})",  # noqa: S608
                    [tuple(map(_sqlite_value, row, uuids)) for row in rows],
                )

    def copy(self, data: bytes | Iterable[bytes], *, terms: bool = False) -> None:
        """Rows already in COPY text format (PostgreSQL; made by worker processes), in one block
        or several (one COPY)."""
        if not data:
            return
        name, columns = (self.terms, TERM_STAGE) if terms else (self.name, self.columns)
        names = ", ".join(q(column) for column, _kind in columns)
        with (
            connection.cursor() as cursor,
            cursor.cursor.copy(f"COPY {q(name)} ({names}) FROM STDIN") as copy,
        ):
            for block in (data,) if isinstance(data, bytes) else data:
                copy.write(block)

    def update_column(self, column: str, values: Sequence[tuple[int, Any]]) -> None:
        """Set ``column`` of the rows numbered in ``values`` ((row number, value) pairs) with one
        UPDATE from a scratch table, not one statement per row."""
        if not values:
            return
        scratch = f"{self.name}_set"
        with connection.cursor() as cursor:
            cursor.execute(f"DROP TABLE IF EXISTS {q(scratch)}")
            unlogged = "UNLOGGED " if is_postgresql() else ""
            cursor.execute(f"CREATE {unlogged}TABLE {q(scratch)} (row_number bigint, value text)")
            if is_postgresql():
                with cursor.cursor.copy(f"COPY {q(scratch)} (row_number, value) FROM STDIN") as copy:
                    copy.write(copy_text(values))
            else:
                cursor.executemany(
                    f"INSERT INTO {q(scratch)} (row_number, value) VALUES (%s, %s)",  # noqa: S608 - quoted names
                    list(values),
                )
            cursor.execute(
                f"UPDATE {q(self.name)} SET {q(column)} = x.value FROM {q(scratch)} AS x "  # noqa: S608
                f"WHERE x.row_number = {q(self.name)}.row_number"
            )
            cursor.execute(f"DROP TABLE {q(scratch)}")

    def index(self) -> None:
        """Indexes the checks need (after the load: cheaper than keeping them up to date)."""
        with connection.cursor() as cursor:
            cursor.execute(f"CREATE INDEX {q(self.name + '_row')} ON {q(self.name)} (row_number)")
            if self.entity == "customers":
                cursor.execute(f"CREATE INDEX {q(self.terms + '_row')} ON {q(self.terms)} (row_number)")
            if is_postgresql():
                cursor.execute(f"ANALYZE {q(self.name)}")

    def drop(self) -> None:
        with connection.cursor() as cursor:
            cursor.execute(f"DROP TABLE IF EXISTS {q(self.name)}")
            cursor.execute(f"DROP TABLE IF EXISTS {q(self.terms)}")
            if is_postgresql() and self.created:  # the lock create() took (none if it never ran)
                self.created = False
                cursor.execute("SELECT pg_advisory_unlock(hashtext(%s))", [self.name])

    def execute(self, sql: str, params: Iterable[Any] = ()) -> int:
        """Run ``sql`` with ``{s}`` (this stage) and ``{t}`` (its terms) filled in; rows affected."""
        with connection.cursor() as cursor:
            cursor.execute(sql.format(s=q(self.name), t=q(self.terms)), list(params))
            return max(cursor.rowcount, 0)

    def stream(self, sql: str, params: Iterable[Any] = (), *, size: int = 2000) -> Iterator[tuple[Any, ...]]:
        """Rows of ``sql`` in batches of ``size`` (a named server-side cursor on PostgreSQL)."""
        text = sql.format(s=q(self.name), t=q(self.terms))
        if is_postgresql():
            with connection.chunked_cursor() as cursor:
                cursor.execute(text, list(params))
                yield from _chunked(cursor, size)
        else:
            with connection.cursor() as cursor:
                cursor.execute(text, list(params))
                yield from _chunked(cursor, size)

    def fetch(self, sql: str, params: Iterable[Any] = ()) -> list[tuple[Any, ...]]:
        with connection.cursor() as cursor:
            cursor.execute(sql.format(s=q(self.name), t=q(self.terms)), list(params))
            return list(cursor.fetchall())


def _sqlite_value(value: Any, is_uuid: bool) -> Any:
    """What Django itself would store in SQLite: naive UTC date-times, uuids (of any version, in
    a uuid column) as 32 hex digits."""
    if isinstance(value, datetime):
        return connection.ops.adapt_datetimefield_value(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if is_uuid and isinstance(value, str):
        return value.replace("-", "")
    return value


def _chunked(cursor: Any, size: int) -> Iterator[tuple[Any, ...]]:
    while rows := cursor.fetchmany(size):
        yield from rows


def stage_tables() -> list[str]:
    with connection.cursor() as cursor:
        names = connection.introspection.table_names(cursor)
    return [name for name in names if _NAME.fullmatch(name)]


def stage_tables_drop(*, finished: Iterable[str] = ()) -> int:
    """Drop stage tables nobody uses any more (left by an import or feed that died); returns how
    many. PostgreSQL: a stage whose owner's advisory lock is free has no owner (a dead session
    releases its locks). SQLite: only the stages of the ``finished`` batches (by key)."""
    finished = set(finished)
    dropped = 0
    for name in stage_tables():
        base = name.removesuffix("_terms")
        with connection.cursor() as cursor:
            if is_postgresql():
                cursor.execute("SELECT pg_try_advisory_lock(hashtext(%s))", [base])
                if not cursor.fetchone()[0]:
                    continue
                cursor.execute(f"DROP TABLE IF EXISTS {q(name)}")
                cursor.execute("SELECT pg_advisory_unlock(hashtext(%s))", [base])
            elif base[len(PREFIX) :] in finished:
                cursor.execute(f"DROP TABLE IF EXISTS {q(name)}")
            else:
                continue
        dropped += 1
    return dropped


def same(left: str, right: str) -> str:
    """SQL: the two expressions are equal, NULLs included."""
    if is_postgresql():
        return f"{left} IS NOT DISTINCT FROM {right}"
    return f"{left} IS {right}"
