"""The synthetic bank (``fincrm synth``): a realistic institution at any scale, deterministic for a seed.

* The institution: branches, sub-branches, teams, about one account manager per 800 customers plus
  team leads, branch managers and head-office staff, created through the org and users services
  (each audited, as the acting operator).
* The book: customers (5 % corporates with USCC codes, in groups of four; zh_CN names with census
  surname frequencies including compound and heteronym surnames; valid resident IDs; unique mobiles),
  their search terms, accounts, holdings with maturities and households. Python makes the rows
  (identifiers encrypted and blind-indexed per row, pinyin memoized) in worker processes and streams
  them with ``COPY`` on PostgreSQL; on SQLite the same rows go through ``bulk_create`` (slow, for
  tests and small N).
* Transactions: set-based on PostgreSQL (``INSERT … SELECT`` from ``generate_series`` joined to the
  accounts, every value from ``hashtextextended(row, seed)``), with daily and monthly seasonality and
  a small share of AML-worthy cash (single deposits just above CNY 50,000, and customers making three
  deposits just below it on one day). SQLite: the same rules in Python (``synth_rows.transaction_rows``).
* AUM and 12 month-end snapshots: one statement per date on PostgreSQL (the DOMAIN.md formula, as in
  fincrm.portfolio.services); on SQLite through ``aum_refresh`` and ``aum_snapshot_take`` themselves.

Audit: the synthetic bank is test data, so it writes one batch event per table
(``integration.synth.loaded``: table, rows, seed) and one outbox event per table, not one per
customer. Staff, org units and products are written by their services and audited one by one.

Transactions carry no counterparty account (it would need an encryption per row); synthetic staff
get an unusable password (sign in with an API token: ``fincrm token create``).
"""

from __future__ import annotations

import hashlib
import math
import multiprocessing
import random
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import connection
from django.db import transaction as django_transaction
from django.db.models import Max
from django.test.utils import override_settings
from django.utils import timezone

from fincrm.audit.services import audit_record
from fincrm.customers.models import (
    Customer,
    CustomerSearchTerm,
    Household,
    HouseholdMember,
)
from fincrm.integration import synth_rows
from fincrm.integration.demo import FX
from fincrm.integration.synth_rows import Chunk, Keys, Layout, Manager, TransactionAccount
from fincrm.org import services as org_services
from fincrm.org.models import OrgUnit
from fincrm.platform import outbox, transaction
from fincrm.platform.actor import Actor
from fincrm.portfolio import services as portfolio_services
from fincrm.portfolio.models import Account, AssetClass, AumSnapshot, FxRate, Holding, Transaction
from fincrm.products import services as product_services
from fincrm.products.models import Product, ProductType
from fincrm.security.fields import EncryptedTextField, blind_index
from fincrm.security.keyring import keyring
from fincrm.security.models import DataKey
from fincrm.users.models import Role, User
from fincrm.users.services import accounts

CUSTOMERS_PER_MANAGER = 800
MANAGERS_PER_TEAM = 8
TEAMS_PER_SUB_BRANCH = 2
SUB_BRANCHES_PER_BRANCH = 8
PG_CHUNK = 20_000  # customers per worker task on PostgreSQL
SQLITE_BATCH = 500
TRANSACTION_BATCH = 50_000  # customers per INSERT … SELECT
NUMBER_PREFIX = "SY"

# Branch cities and the district codes (GB/T 2260) of their sub-branches.
CITIES = (
    ("BJ", "北京", ("110101", "110102", "110105", "110106", "110107", "110108", "110111", "110112")),
    ("SH", "上海", ("310101", "310104", "310105", "310106", "310107", "310109", "310110", "310115")),
    ("GZ", "广州", ("440103", "440104", "440105", "440106", "440111", "440112", "440113", "440114")),
    ("SZ", "深圳", ("440303", "440304", "440305", "440306", "440307", "440308", "440309", "440310")),
    ("HZ", "杭州", ("330102", "330105", "330106", "330108", "330109", "330110", "330111", "330112")),
    ("NJ", "南京", ("320102", "320104", "320105", "320106", "320111", "320113", "320114", "320115")),
    ("CD", "成都", ("510104", "510105", "510106", "510107", "510108", "510112", "510113", "510114")),
    ("WH", "武汉", ("420102", "420103", "420104", "420105", "420106", "420107", "420111", "420112")),
    ("XA", "西安", ("610102", "610103", "610104", "610111", "610112", "610113", "610114", "610116")),
    ("TJ", "天津", ("120101", "120102", "120103", "120104", "120105", "120106", "120110", "120111")),
)

Progress = Callable[[str], None]


@dataclass
class SynthResult:
    customers: int = 0
    rows: dict[str, int] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    first_customer_id: int = 0
    staff: dict[str, str] = field(default_factory=dict)  # role -> a username holding it


def synth_loaded() -> bool:
    return Customer.objects.filter(customer_number=f"{NUMBER_PREFIX}{1:010d}").exists()


def _sizes(customers: int) -> tuple[int, int, int, int]:
    """(branches, sub-branches, teams, managers) for ``customers``."""
    managers = max(4, math.ceil(customers / CUSTOMERS_PER_MANAGER))
    teams = max(4, math.ceil(managers / MANAGERS_PER_TEAM))
    subs = max(2, math.ceil(teams / TEAMS_PER_SUB_BRANCH))
    branches = min(len(CITIES), max(2, math.ceil(subs / SUB_BRANCHES_PER_BRANCH)))
    return branches, subs, teams, managers


def _in_parallel(tasks: list[Callable[[], Any]], workers: int) -> list[Any]:
    """Run ``tasks`` on ``workers`` threads, each with its own database connection (PostgreSQL
    runs one statement on one core; two statements at once use both)."""

    def run(task: Callable[[], Any]) -> Any:
        try:
            return task()
        finally:
            connection.close()

    if workers <= 1:
        return [task() for task in tasks]
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(run, tasks))


# ---------------------------------------------------------------- the institution


@contextmanager
def _cheap_passwords() -> Iterator[None]:
    """Staff get an unusable password at the end of the phase; hashing a throwaway one with
    Argon2 (about 0.3 s each) for 1,400 users would only cost minutes."""
    with override_settings(PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"]):
        yield


def _person(rng: random.Random) -> str:
    return synth_rows.person_name(rng)


@transaction.atomic
def _institution(actor: Actor, customers: int, seed: int) -> tuple[list[Manager], dict[str, str]]:
    rng = random.Random(f"fincrm-synth-staff:{seed}")  # noqa: S311 - test data
    branches, subs, teams, managers = _sizes(customers)
    hq = OrgUnit.objects.filter(kind=OrgUnit.Kind.INSTITUTION).first()
    if hq is None:
        hq = org_services.institution_bootstrap(actor=actor, code="SYHQ", name="合成银行总行")
    roles = {role.code: role for role in Role.objects.filter(is_builtin=True)}
    password = f"synth-{uuid.uuid4()}"  # never used: replaced by an unusable one below
    created: list[int] = []
    staff: dict[str, str] = {}

    def person(username: str, unit: OrgUnit, role: str, team_ids: list[int]) -> User:
        user = accounts.user_create(
            actor=actor,
            username=username,
            full_name=_person(rng),
            email=f"{username}@synth.fincrm.example",
            org_unit_id=unit.pk,
            team_ids=team_ids,
            password=password,
            must_change_password=False,
        )
        accounts.user_role_assign(
            actor=actor, user_id=user.pk, role_id=roles[role].pk, reason="synthetic bank"
        )
        created.append(user.pk)
        staff.setdefault(role, username)
        return user

    for username, role in (
        ("sy_ops_hq", "operations"),
        ("sy_risk", "risk_officer"),
        ("sy_auditor", "auditor"),
        ("sy_compliance", "compliance_officer"),
    ):
        person(username, hq, role, [])
    branch_units = []
    for b in range(branches):
        code, city, _districts = CITIES[b]
        unit = org_services.org_unit_create(
            actor=actor,
            parent_id=hq.pk,
            code=f"SY-{code}",
            name=f"合成银行{city}分行",
            kind=OrgUnit.Kind.BRANCH,
        )
        branch_units.append((unit, city))
        person(f"sy_bm_{code.lower()}", unit, "branch_manager", [])
    sub_units = []
    for s in range(subs):
        branch, city = branch_units[s % branches]
        code, _city, districts = CITIES[s % branches]
        district = districts[(s // branches) % len(districts)]
        unit = org_services.org_unit_create(
            actor=actor,
            parent_id=branch.pk,
            code=f"SY-{code}-{s:03d}",
            name=f"合成银行{city}第{s // branches + 1}支行",
            kind=OrgUnit.Kind.SUB_BRANCH,
        )
        sub_units.append((unit, district, city))
    team_rows = []
    for t in range(teams):
        unit, district, city = sub_units[t % subs]
        team = org_services.team_create(
            actor=actor, org_unit_id=unit.pk, code=f"SY-T{t:04d}", name=f"{unit.name}{t // subs + 1}组"
        )
        team_rows.append((team, unit, district, city))
        person(f"sy_tl{t:04d}", unit, "team_lead", [team.pk])
    book: list[Manager] = []
    for m in range(managers):
        team, unit, district, city = team_rows[m % teams]
        user = person(f"sy_am{m:05d}", unit, "account_manager", [team.pk])
        book.append(Manager(user.pk, team.pk, unit.pk, district, city))
    # Synthetic staff never sign in with a password (API tokens for benchmarks).
    User.objects.filter(pk__in=created).update(password="!synthetic")  # noqa: S106 - unusable marker
    return book, staff


@transaction.atomic
def _products(actor: Actor) -> dict[str, int]:
    existing = dict(Product.objects.filter(code__startswith="SY-").values_list("code", "pk"))
    for code, name, kind, risk, currency, term, private, issuer in synth_rows.PRODUCTS:
        if f"SY-{code}" in existing:
            continue
        product = product_services.product_create(
            actor=actor,
            code=f"SY-{code}",
            name=name,
            product_type=kind,
            risk_level=risk,
            issuer=issuer,
            currency=currency,
            term_days=term,
            is_private=private,
        )
        existing[product.code] = product.pk
    return existing


def _fx_rates(seed: int, today: date) -> int:
    rng = random.Random(f"fincrm-synth-fx:{seed}")  # noqa: S311 - test data
    days = sorted({*portfolio_services.month_ends(today, 14), today})
    have = set(FxRate.objects.filter(business_date__in=days).values_list("currency", "business_date"))
    rates = []
    for step, day in enumerate(days):
        for currency, (base, drift) in FX.items():
            wobble = Decimal(f"{rng.uniform(-1, 1):.3f}")
            if (currency, day) not in have:
                rates.append(
                    FxRate(
                        business_date=day,
                        currency=currency,
                        rate_to_cny=base + drift * wobble + drift * step / 4,
                    )
                )
    FxRate.objects.bulk_create(rates)
    return len(rates)


# ---------------------------------------------------------------- keys


def _keys() -> Keys:
    """The active data and index keys, raw, for the worker processes (which must not touch the
    database). Checked once against the real field, so a token made here decrypts as usual."""
    data_key_id = keyring.active_key_id(DataKey.Kind.DATA)
    data_key = keyring._load(data_key_id).material
    index_key_id, index_key = keyring.index_key()
    keys = Keys(data_key_id, data_key, index_key_id, index_key, portfolio_services.store_full_card_numbers())
    probe_uid = synth_rows.row_uid()
    field_ = Customer._meta.get_field("mobile")
    assert isinstance(field_, EncryptedTextField)
    sealer = synth_rows.Sealer(keys)
    token = sealer.seal(Customer._meta.db_table, field_.column, probe_uid, "+8613800138000")
    if field_.decrypt_for(probe_uid, token) != "+8613800138000" or sealer.index(
        "+8613800138000", "mobile"
    ) != blind_index("+8613800138000", "mobile"):
        raise RuntimeError("the bulk sealer disagrees with the encrypted fields")
    return keys


# ---------------------------------------------------------------- PostgreSQL: bulk load helpers


def _pg_secondary_objects(table: str) -> tuple[list[str], list[tuple[str, str]]]:
    """(index definitions, (constraint name, definition)) of ``table`` besides its primary key and
    check constraints: dropped during the load and made again after it, in one pass each."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_get_indexdef(i.indexrelid) FROM pg_index i "
            "WHERE i.indrelid = %s::regclass AND NOT i.indisprimary "
            "AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid "
            "AND c.conrelid = i.indrelid)",
            [table],
        )
        indexes = [row[0] for row in cursor.fetchall()]
        cursor.execute(
            "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
            "WHERE conrelid = %s::regclass AND contype IN ('u', 'f') ORDER BY contype DESC, conname",
            [table],
        )
        constraints = [(row[0], row[1]) for row in cursor.fetchall()]
    return indexes, constraints


@contextmanager
def _pg_bulk_tables(tables: list[str], progress: Progress, timings: dict[str, float]) -> Iterator[None]:
    """Drop the secondary indexes and unique/foreign-key constraints of ``tables`` for the load and
    rebuild them after it (validated), which is several times faster than maintaining them per row.
    Run synth on a database nobody else uses while it loads."""
    saved = {table: _pg_secondary_objects(table) for table in tables}
    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        # Every table's foreign keys before any unique constraint: a composite foreign key of one
        # table (a transaction's account and customer) stands on another table's unique constraint.
        for foreign_keys_first in (True, False):
            for table, (_indexes, constraints) in saved.items():
                for name, definition in constraints:
                    if definition.startswith("FOREIGN KEY") == foreign_keys_first:
                        cursor.execute(f"ALTER TABLE {quote(table)} DROP CONSTRAINT {quote(name)}")
        for table in saved:
            cursor.execute(
                "SELECT indexrelid::regclass::text FROM pg_index i WHERE i.indrelid = %s::regclass "
                "AND NOT i.indisprimary AND NOT EXISTS (SELECT 1 FROM pg_constraint c "
                "WHERE c.conindid = i.indexrelid AND c.conrelid = i.indrelid)",
                [table],
            )
            for (index,) in cursor.fetchall():
                cursor.execute(f"DROP INDEX {index}")
    try:
        yield
    finally:
        started = time.perf_counter()

        def statement(sql: str) -> Callable[[], None]:
            def run() -> None:
                with connection.cursor() as cursor:
                    cursor.execute("SET maintenance_work_mem = '512MB'")
                    cursor.execute(sql)

            return run

        # Indexes (unique ones too) two at a time; then foreign keys added NOT VALID (instant) and
        # validated two at a time (validation takes no lock that two of them would contend for).
        builds = [statement(definition) for indexes, _constraints in saved.values() for definition in indexes]
        builds += [
            statement(f"ALTER TABLE {quote(table)} ADD CONSTRAINT {quote(name)} {definition}")
            for table, (_indexes, constraints) in saved.items()
            for name, definition in constraints
            if not definition.startswith("FOREIGN KEY")
        ]
        _in_parallel(builds, 2)
        foreign = [
            (table, name, definition)
            for table, (_indexes, constraints) in saved.items()
            for name, definition in constraints
            if definition.startswith("FOREIGN KEY")
        ]
        with connection.cursor() as cursor:
            for table, name, definition in foreign:
                cursor.execute(
                    f"ALTER TABLE {quote(table)} ADD CONSTRAINT {quote(name)} {definition} NOT VALID"
                )
        _in_parallel(
            [
                statement(f"ALTER TABLE {quote(table)} VALIDATE CONSTRAINT {quote(name)}")
                for table, name, _d in foreign
            ],
            2,
        )
        timings["indexes and constraints rebuilt"] = time.perf_counter() - started
        progress(
            f"indexes and constraints of {len(tables)} tables rebuilt in "
            f"{timings['indexes and constraints rebuilt']:.1f} s"
        )


def _pg_copy(table: str, columns: Iterable[str], data: bytes) -> None:
    quote = connection.ops.quote_name
    with (
        connection.cursor() as cursor,
        cursor.cursor.copy(
            f"COPY {quote(table)} ({', '.join(quote(c) for c in columns)}) FROM STDIN"
        ) as copy,
    ):
        copy.write(data)


def _reserve_ids(model: type[Any], count: int) -> int:
    """The first of ``count`` consecutive ids nobody else will take (explicit ids for COPY)."""
    table = model._meta.db_table
    highest = model.objects.aggregate(top=Max("pk"))["top"] or 0
    if connection.vendor != "postgresql":
        return highest + 1
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_get_serial_sequence(%s, 'id')", [table])
        sequence = cursor.fetchone()[0]
        cursor.execute(f"SELECT last_value FROM {sequence}")  # noqa: S608 - a catalog name
        base = max(highest, cursor.fetchone()[0]) + 1
        cursor.execute("SELECT setval(%s, %s)", [sequence, base + max(count, 1) - 1])
    return int(base)


# ---------------------------------------------------------------- the book


_TABLES = {
    "customer": (Customer, synth_rows.CUSTOMER_COLUMNS),
    "term": (CustomerSearchTerm, synth_rows.TERM_COLUMNS),
    "account": (Account, synth_rows.ACCOUNT_COLUMNS),
    "holding": (Holding, synth_rows.HOLDING_COLUMNS),
    "household": (Household, synth_rows.HOUSEHOLD_COLUMNS),
    "member": (HouseholdMember, synth_rows.MEMBER_COLUMNS),
}
_LOAD_ORDER = ("customer", "household", "term", "account", "holding", "member")

_worker_layout: Layout | None = None


def _worker_init(layout: Layout) -> None:
    global _worker_layout
    _worker_layout = layout


def _worker_chunk(bounds: tuple[int, int]) -> tuple[int, dict[str, tuple[int, bytes]]]:
    assert _worker_layout is not None
    return synth_rows.chunk_copy_text(_worker_layout, *bounds)


def _load_book_postgresql(layout: Layout, workers: int, progress: Progress) -> dict[str, int]:
    counts = dict.fromkeys(_LOAD_ORDER, 0)
    started = time.perf_counter()
    bounds = list(synth_rows.chunks(layout.customers, PG_CHUNK))
    # Forked workers must not inherit a live connection they might close.
    connection.close()
    context = multiprocessing.get_context("fork")
    with (
        context.Pool(workers, initializer=_worker_init, initargs=(layout,)) as pool,
        django_transaction.atomic(),
    ):
        for done, (_start, tables) in enumerate(pool.imap(_worker_chunk, bounds), start=1):
            for name in _LOAD_ORDER:
                rows, data = tables[name]
                if rows:
                    model, columns = _TABLES[name]
                    _pg_copy(model._meta.db_table, columns, data)
                    counts[name] += rows
            if done % 10 == 0 or done == len(bounds):
                elapsed = time.perf_counter() - started
                progress(
                    f"  customers {counts['customer']:,} / {layout.customers:,} "
                    f"({counts['customer'] / elapsed:,.0f}/s), terms {counts['term']:,}, "
                    f"accounts {counts['account']:,}, holdings {counts['holding']:,}"
                )
    # Statistics now: the set-based statements that follow would otherwise plan for empty tables.
    with connection.cursor() as cursor:
        for model, _columns in _TABLES.values():
            cursor.execute(f"ANALYZE {connection.ops.quote_name(model._meta.db_table)}")
    return counts


def _instances(model: type[Any], columns: tuple[str, ...], rows: list[tuple[Any, ...]]) -> list[Any]:
    """Model instances from column tuples: encrypted columns as sealed tokens, so the fields keep
    them (and their preset blind indexes) as they are."""
    from fincrm.security.fields import Ciphertext

    encrypted = {f.column for f in model._meta.concrete_fields if isinstance(f, EncryptedTextField)}
    attnames = {f.column: f.attname for f in model._meta.concrete_fields}
    made = []
    for row in rows:
        values = {
            attnames[column]: Ciphertext(value) if column in encrypted and value is not None else value
            for column, value in zip(columns, row, strict=True)
        }
        made.append(model(**values))
    return made


def _load_book_sqlite(layout: Layout, progress: Progress) -> dict[str, int]:
    counts = dict.fromkeys(_LOAD_ORDER, 0)
    with django_transaction.atomic():
        for start, stop in synth_rows.chunks(layout.customers, SQLITE_BATCH * 4):
            chunk: Chunk = synth_rows.make_chunk(layout, start, stop)
            for name in _LOAD_ORDER:
                rows = getattr(chunk, {"customer": "customers", "term": "terms", "account": "accounts",
                                       "holding": "holdings", "household": "households",
                                       "member": "members"}[name])  # fmt: skip
                model, columns = _TABLES[name]
                model._default_manager.bulk_create(_instances(model, columns, rows), batch_size=SQLITE_BATCH)
                counts[name] += len(rows)
            progress(f"  customers {counts['customer']:,} / {layout.customers:,}")
    return counts


# ---------------------------------------------------------------- transactions


def _midnight(today: date) -> datetime:
    return datetime(today.year, today.month, today.day, tzinfo=ZoneInfo(settings.TIME_ZONE))


_TRANSACTION_SQL = """
INSERT INTO portfolio_transaction (row_uid, customer_id, account_id, booked_at, business_date, amount,
    currency, direction, channel, transaction_type, counterparty_account, counterparty_account_bidx,
    cross_border)
SELECT gen_random_uuid(), x.customer_id, x.account_id, x.booked_at,
    (x.booked_at AT TIME ZONE %(zone)s)::date, x.amount, x.currency, x.direction, x.channel, x.kind,
    NULL, NULL, x.cross_border
FROM (
    SELECT y.customer_id, y.account_id, y.currency,
        %(midnight)s::timestamptz
            - (CASE WHEN y.structuring THEN y.structuring_day
                    ELSE (%(days)s::int[])[(1 + (y.h1 & 4095))::int] END)
              * interval '1 day'
            + ((%(hours)s::int[])[(1 + ((y.h1 >> 12) & 1023))::int] * 3600 + ((y.h1 >> 22) & 4095) %% 3600)
              * interval '1 second' AS booked_at,
        CASE WHEN y.card THEN ROUND(LEAST(EXP(6.5 + 1.2 * y.z), 200000)::numeric, 2)
             WHEN y.structuring THEN 45000 + ((y.h2 >> 8) & 2147483647) %% 500000 / 100.0
             WHEN y.above THEN 50000 + ((y.h2 >> 15) & 2147483647) %% 100000 / 100.0
             WHEN y.pick >= 921 THEN ROUND(LEAST(EXP(3.0 + 1.0 * y.z), 5000)::numeric, 2)
             ELSE ROUND(LEAST(EXP(7.5 + 1.6 * y.z), 3000000)::numeric, 2) END AS amount,
        CASE WHEN y.card THEN 'out' WHEN y.structuring THEN 'in'
             WHEN y.above THEN (CASE WHEN (y.h2 >> 14) & 1 = 1 THEN 'in' ELSE 'out' END)
             WHEN y.pick >= 972 THEN 'in' WHEN y.pick >= 665 THEN 'out'
             WHEN ((y.h2 >> 50) & 1023) < 461 THEN 'in' ELSE 'out' END AS direction,
        CASE WHEN y.card THEN 'pos' WHEN y.structuring OR y.above THEN 'counter'
             WHEN y.pick < 512 THEN (CASE WHEN y.sub < 600 THEN 'mobile' WHEN y.sub < 900 THEN 'online'
                                          ELSE 'counter' END)
             WHEN y.pick < 665 THEN (CASE WHEN y.sub < 400 THEN 'counter' ELSE 'atm' END)
             WHEN y.pick < 921 THEN 'pos' ELSE 'core' END AS channel,
        CASE WHEN y.card THEN 'card' WHEN y.structuring OR y.above THEN 'cash'
             WHEN y.pick < 512 THEN 'transfer' WHEN y.pick < 665 THEN 'cash' WHEN y.pick < 921 THEN 'card'
             WHEN y.pick < 972 THEN 'fee' ELSE 'interest' END AS kind,
        (NOT y.card AND NOT y.structuring AND NOT y.above AND y.pick < 512
         AND ((y.h1 >> 54) & 1023) < 31) AS cross_border
    FROM (
        SELECT a.customer_id, a.id AS account_id, a.currency, h.h1, h.h2,
            a.kind = 'credit_card' AS card,
            (a.kind <> 'credit_card' AND a.structuring AND g.i <= 3 AND a.currency = 'CNY' AND a.r = 0)
                AS structuring,
            a.structuring_day,
            (a.kind <> 'credit_card' AND a.currency = 'CNY' AND (h.h2 & 16383) < %(above)s) AS above,
            (h.h1 >> 34) & 1023 AS pick, (h.h1 >> 44) & 1023 AS sub,
            SQRT(-2 * LN((((h.h2 >> 10) & 1048575) + 1)::float8 / 1048577))
                * COS(2 * PI() * (((h.h2 >> 30) & 1048575)::float8 / 1048576)) AS z
        FROM (
            SELECT acc.id, acc.customer_id, acc.currency, acc.kind,
                ROW_NUMBER() OVER (PARTITION BY acc.customer_id ORDER BY acc.id) - 1 AS r,
                COUNT(*) OVER (PARTITION BY acc.customer_id) AS c,
                (hashint8extended(acc.customer_id - %(base)s, %(seed)s + 2) & 1023) < %(structuring)s
                    AS structuring,
                ((hashint8extended(acc.customer_id - %(base)s, %(seed)s + 3) & 2147483647) %% 365)::int
                    AS structuring_day
            FROM portfolio_account acc
            WHERE acc.customer_id BETWEEN %(low)s AND %(high)s AND acc.kind IN ('deposit', 'credit_card')
        ) a
        CROSS JOIN LATERAL generate_series(
            1, %(per)s / a.c + CASE WHEN a.r < %(per)s %% a.c THEN 1 ELSE 0 END) g(i)
        CROSS JOIN LATERAL (
            SELECT hashint8extended(((a.customer_id - %(base)s) * 16 + a.r) * 1024 + g.i, %(seed)s) AS h1,
                   hashint8extended(((a.customer_id - %(base)s) * 16 + a.r) * 1024 + g.i, %(seed)s + 1) AS h2
        ) h
    ) y
) x
"""


def _transactions_postgresql(layout: Layout, per_customer: int, workers: int, progress: Progress) -> int:
    params: dict[str, Any] = {
        "zone": settings.TIME_ZONE,
        "midnight": _midnight(layout.today),
        "days": synth_rows.day_slots(layout.today),
        "hours": synth_rows.hour_slots(),
        "seed": layout.seed,
        "base": layout.base_id,
        "per": per_customer,
        "structuring": synth_rows.STRUCTURING_PER_MILLE * 1024 // 1000,
        "above": synth_rows.ABOVE_THRESHOLD_PER_10K * 16384 // 10_000,
    }
    written = 0
    started = time.perf_counter()

    def batch(low: int) -> Callable[[], int]:
        def run() -> int:
            nonlocal written
            bounds = {
                "low": layout.base_id + low,
                "high": layout.base_id + min(layout.customers, low + TRANSACTION_BATCH) - 1,
            }
            with django_transaction.atomic(), connection.cursor() as cursor:
                cursor.execute(_TRANSACTION_SQL, params | bounds)
                rows = int(cursor.rowcount)
            written += rows
            elapsed = time.perf_counter() - started
            progress(f"  transactions {written:,} ({written / elapsed:,.0f}/s)")
            return rows

        return run

    return sum(_in_parallel([batch(low) for low in range(0, layout.customers, TRANSACTION_BATCH)], workers))


def _transactions_sqlite(layout: Layout, per_customer: int, progress: Progress) -> int:
    days, hours = synth_rows.day_slots(layout.today), synth_rows.hour_slots()
    midnight = _midnight(layout.today)
    zone = ZoneInfo(settings.TIME_ZONE)
    rows = (
        Account.objects.filter(
            customer_id__gte=layout.base_id,
            customer_id__lt=layout.base_id + layout.customers,
            kind__in=[Account.Kind.DEPOSIT, Account.Kind.CREDIT_CARD],
        )
        .order_by("customer_id", "pk")
        .values_list("pk", "customer_id", "kind", "currency")
    )
    by_customer: dict[int, list[tuple[int, str, str]]] = {}
    for pk, customer_id, kind, currency in rows:
        by_customer.setdefault(customer_id, []).append((pk, kind, currency))
    written = 0
    batch: list[Transaction] = []
    with django_transaction.atomic():
        for customer_id, owned in by_customer.items():
            for rank, (pk, kind, currency) in enumerate(owned):
                account = TransactionAccount(
                    pk, customer_id, kind, currency, rank, len(owned), customer_id - layout.base_id
                )
                for values in synth_rows.transaction_rows(
                    account, per_customer, layout.seed, midnight, days, hours
                ):
                    booked = values["booked_at"]
                    batch.append(Transaction(business_date=booked.astimezone(zone).date(), **values))
            if len(batch) >= SQLITE_BATCH * 4:
                Transaction.objects.bulk_create(batch, batch_size=SQLITE_BATCH)
                written += len(batch)
                batch = []
        Transaction.objects.bulk_create(batch, batch_size=SQLITE_BATCH)
    written += len(batch)
    progress(f"  transactions {written:,}")
    return written


# ---------------------------------------------------------------- AUM (PostgreSQL, set-based)


def _pg_aggregate(low: int, high: int, as_of: date, *, mix: bool) -> tuple[str, list[Any]]:
    """(customer_id, total[, mix]) of customers ``low``..``high`` at ``as_of``: DOMAIN.md's formula
    exactly as fincrm.portfolio.services computes it (deposit balances of accounts not closed and
    opened by then; deposit, wealth, fund and securities holdings at market value and insurance at
    cash value while held; foreign currency at the latest rate on or before the date, an amount
    without a rate dropping out), with the rates joined once instead of looked up per row."""
    market = [
        str(value)
        for value in (ProductType.DEPOSIT, ProductType.WEALTH, ProductType.FUND, ProductType.SECURITIES)
    ]
    mix_sql = ""
    mix_params: list[Any] = []
    if mix:
        items = []
        for asset_class in AssetClass.values:
            items.append(
                "%s, CAST(ROUND(COALESCE(SUM(CASE WHEN parts.asset_class = %s "
                "THEN parts.value_cny END), 0), 2) AS VARCHAR(40))"
            )
            mix_params += [asset_class, asset_class]
        mix_sql = f", jsonb_build_object({', '.join(items)}) AS mix"
    sql = (
        "WITH rates AS ("  # noqa: S608 - constant SQL; values are parameters
        "  SELECT DISTINCT ON (currency) currency, rate_to_cny FROM portfolio_fxrate "
        "  WHERE business_date <= %s ORDER BY currency, business_date DESC), "
        "parts AS ("
        "  SELECT a.customer_id, 'deposit' AS asset_class, a.balance * "
        "    (CASE WHEN a.currency = 'CNY' THEN 1 ELSE r.rate_to_cny END) AS value_cny "
        "  FROM portfolio_account a LEFT JOIN rates r ON r.currency = a.currency "
        "  WHERE a.customer_id BETWEEN %s AND %s AND a.kind = 'deposit' AND a.status <> 'closed' "
        "    AND a.opened_on <= %s "
        "  UNION ALL "
        "  SELECT h.customer_id, p.product_type, "
        "    (CASE WHEN p.product_type = 'insurance' THEN COALESCE(h.cash_value, 0) ELSE h.market_value END)"
        "    * (CASE WHEN h.currency = 'CNY' THEN 1 ELSE r.rate_to_cny END) "
        "  FROM portfolio_holding h JOIN products_product p ON p.id = h.product_id "
        "  LEFT JOIN rates r ON r.currency = h.currency "
        "  WHERE h.customer_id BETWEEN %s AND %s AND p.product_type IN ('insurance', %s, %s, %s, %s) "
        "    AND h.start_date <= %s AND (h.maturity_date IS NULL OR h.maturity_date >= %s)) "
        f"SELECT c.id AS customer_id, ROUND(COALESCE(SUM(parts.value_cny), 0), 2) AS total{mix_sql} "
        "FROM customers_customer c LEFT JOIN parts ON parts.customer_id = c.id "
        "WHERE c.id BETWEEN %s AND %s GROUP BY c.id"
    )
    params = [as_of, low, high, as_of, low, high, *market, as_of, as_of, *mix_params, low, high]
    return sql, params


def _aum_postgresql(layout: Layout, actor: Actor, workers: int, progress: Progress) -> int:
    low, high = layout.base_id, layout.base_id + layout.customers - 1
    today = portfolio_services.business_date()
    with connection.cursor() as cursor:
        cursor.execute("SET work_mem = '256MB'")
    with transaction.atomic():
        sql, params = _pg_aggregate(low, high, today, mix=False)
        # The aggregate is DOMAIN.md's sum; customer_aum_update writes aum, its time and value tier,
        # and in the same statement copies each AUM onto the customer's search terms as their rank
        # (one UPDATE … FROM over the terms COPY wrote with the default 0, indexes still dropped).
        updated = portfolio_services.customer_aum_update(aggregate=(sql, params), updated_at=timezone.now())
        audit_record(
            actor,
            "portfolio.aum.refreshed",
            object_type="customer",
            after={"customers": updated, "business_date": today.isoformat(), "source": "synth"},
        )
    progress(f"  AUM of {updated:,} customers")
    month_ends = portfolio_services.month_ends(portfolio_services.previous_month_end(layout.today), 12)
    with connection.cursor() as cursor:
        cursor.execute("RESET work_mem")

    def snapshot(month_end_on: date) -> Callable[[], int]:
        def run() -> int:
            sql, params = _pg_aggregate(low, high, month_end_on, mix=True)
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute("SET LOCAL work_mem = '128MB'")
                cursor.execute(
                    "INSERT INTO portfolio_aumsnapshot (customer_id, month_end, total, mix, created_at) "  # noqa: S608
                    f"SELECT agg.customer_id, %s, agg.total, agg.mix, now() FROM ({sql}) agg "
                    "WHERE NOT EXISTS (SELECT 1 FROM portfolio_aumsnapshot s "
                    "WHERE s.customer_id = agg.customer_id AND s.month_end = %s)",
                    [month_end_on, *params, month_end_on],
                )
                rows = int(cursor.rowcount)
                audit_record(
                    actor,
                    "portfolio.aum.snapshot_taken",
                    object_type="aum_snapshot",
                    after={"month_end": month_end_on.isoformat(), "rows": rows, "source": "synth"},
                )
                outbox.publish("portfolio.aum.snapshot_taken", month_end=month_end_on.strftime("%Y%m%d"))
            progress(f"  snapshot {month_end_on}: {rows:,} rows")
            return rows

        return run

    return sum(_in_parallel([snapshot(day) for day in month_ends], workers))


def _aum_sqlite(layout: Layout, actor: Actor) -> int:
    ids = list(range(layout.base_id, layout.base_id + layout.customers))
    portfolio_services.aum_refresh(ids, actor=actor)
    month_ends = portfolio_services.month_ends(portfolio_services.previous_month_end(layout.today), 12)
    return sum(
        portfolio_services.aum_snapshot_take(month_end_on=day, customer_ids=ids, actor=actor)
        for day in month_ends
    )


# ---------------------------------------------------------------- the whole load


@transaction.atomic
def _batch_loaded(actor: Actor, table: str, rows: int, seed: int) -> None:
    audit_record(
        actor,
        "integration.synth.loaded",
        object_type=table,
        after={"rows": rows, "seed": seed, "source": "synth"},
    )
    outbox.publish("integration.synth.loaded", table=table, rows=rows)


def synth_load(
    *,
    actor: Actor,
    customers: int,
    seed: int,
    transactions_per_customer: int = 20,
    workers: int = 2,
    today: date | None = None,
    progress: Progress = lambda _line: None,
) -> SynthResult:
    """Build the synthetic bank; PostgreSQL takes the COPY and set-based path, SQLite bulk_create.

    The fast path commits in batches from several connections (and drops indexes meanwhile), so it
    runs only outside a transaction; inside one (a caller's atomic block, a test) the portable path
    runs on PostgreSQL too."""
    if customers < 1:
        raise ValueError("customers must be at least 1")
    if synth_loaded():
        raise ValueError("this database already holds a synthetic bank (customer SY0000000001)")
    result = SynthResult(customers=customers)
    postgresql = connection.vendor == "postgresql" and not connection.in_atomic_block
    day = today or timezone.localdate()
    clock = time.perf_counter()

    def phase(name: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        result.timings[name] = now - clock
        clock = now
        progress(f"{name}: {result.timings[name]:.1f} s")

    # Keys first, committed (a key made inside a loading transaction is re-read on every use).
    keys = _keys()
    with _cheap_passwords():
        managers, result.staff = _institution(actor, customers, seed)
    phase(f"institution: {len(managers)} account managers")
    products = _products(actor)
    fx_rows = _fx_rates(seed, day)
    phase("products and exchange rates")

    base_id = _reserve_ids(Customer, customers)
    household_base = _reserve_ids(Household, customers // synth_rows.HOUSEHOLD_EVERY + 1)
    result.first_customer_id = base_id
    layout = Layout(
        seed=seed,
        customers=customers,
        base_id=base_id,
        household_base_id=household_base,
        managers=tuple(managers),
        products=products,
        keys=keys,
        today=day,
        now=timezone.now(),
        number_prefix=NUMBER_PREFIX,
        tables={"customer": Customer._meta.db_table, "account": Account._meta.db_table},
    )
    book_tables = [model._meta.db_table for model, _columns in _TABLES.values()]
    if postgresql:
        bulk = [*book_tables, Transaction._meta.db_table, AumSnapshot._meta.db_table]
        with _pg_bulk_tables(bulk, progress, result.timings):
            counts = _load_book_postgresql(layout, workers, progress)
            phase("customers, search terms, accounts, holdings, households (COPY)")
            transactions = _transactions_postgresql(layout, transactions_per_customer, workers, progress)
            phase("transactions (INSERT … SELECT)")
            snapshots = _aum_postgresql(layout, actor, workers, progress)
            phase("AUM and 12 month-end snapshots")
        clock = time.perf_counter()
    else:
        counts = _load_book_sqlite(layout, progress)
        phase("customers, search terms, accounts, holdings, households (bulk_create)")
        transactions = _transactions_sqlite(layout, transactions_per_customer, progress)
        phase("transactions")
        snapshots = _aum_sqlite(layout, actor)
        phase("AUM and 12 month-end snapshots")
    result.rows = {
        Customer._meta.db_table: counts["customer"],
        CustomerSearchTerm._meta.db_table: counts["term"],
        Account._meta.db_table: counts["account"],
        Holding._meta.db_table: counts["holding"],
        Household._meta.db_table: counts["household"],
        HouseholdMember._meta.db_table: counts["member"],
        Transaction._meta.db_table: transactions,
        FxRate._meta.db_table: fx_rows,
        AumSnapshot._meta.db_table: snapshots,
    }
    for table, rows in result.rows.items():
        _batch_loaded(actor, table, rows, seed)
    if postgresql:
        with connection.cursor() as cursor:
            cursor.execute("SELECT setval(pg_get_serial_sequence('customers_household', 'id'), %s)",
                           [household_base + customers // synth_rows.HOUSEHOLD_EVERY + 1])  # fmt: skip
            for table in [*book_tables, Transaction._meta.db_table, AumSnapshot._meta.db_table]:
                cursor.execute(f"VACUUM (ANALYZE) {connection.ops.quote_name(table)}")
        phase("VACUUM ANALYZE")
    result.timings["total"] = sum(value for key, value in result.timings.items() if key != "total")
    return result


# ---------------------------------------------------------------- checks (tests and --verify)


def expected_aum(customer_id: int, as_of: date) -> Decimal:
    """DOMAIN.md's AUM of one customer computed row by row in Python (the reference the set-based
    statements are checked against)."""
    rates: dict[str, Decimal] = {"CNY": Decimal(1)}
    for currency in {*FX, *Account.objects.values_list("currency", flat=True).distinct()} - {"CNY"}:
        rate = (
            FxRate.objects.filter(currency=currency, business_date__lte=as_of)
            .order_by("-business_date")
            .values_list("rate_to_cny", flat=True)
            .first()
        )
        if rate is not None:
            rates[currency] = rate
    total = Decimal(0)
    for account in Account.objects.filter(
        customer_id=customer_id, kind=Account.Kind.DEPOSIT, opened_on__lte=as_of
    ):
        if account.status != Account.Status.CLOSED and account.currency in rates:
            total += account.balance * rates[account.currency]
    holdings = Holding.objects.filter(customer_id=customer_id, start_date__lte=as_of).select_related(
        "product"
    )
    for holding in holdings:
        if holding.maturity_date is not None and holding.maturity_date < as_of:
            continue
        kind = holding.product.product_type
        if kind in (ProductType.LOAN, ProductType.CARD) or holding.currency not in rates:
            continue
        value = (holding.cash_value or Decimal(0)) if kind == ProductType.INSURANCE else holding.market_value
        total += value * rates[holding.currency]
    return total.quantize(Decimal("0.01"))


def digest(first_customer_id: int, customers: int) -> dict[str, str]:
    """SHA-256 per table of the synthetic book in clear, independent of ids and ciphertext."""
    high = first_customer_id + customers
    span = {"customer_id__gte": first_customer_id, "customer_id__lt": high}
    numbers = dict(
        Customer.objects.filter(pk__gte=first_customer_id, pk__lt=high).values_list("pk", "customer_number")
    )

    def hashed(rows: Iterable[Iterable[Any]]) -> str:
        sha = hashlib.sha256()
        for row in sorted(tuple(str(value) for value in row) for row in rows):
            sha.update("\x1f".join(row).encode() + b"\n")
        return sha.hexdigest()

    customers_qs = Customer.objects.filter(pk__gte=first_customer_id, pk__lt=high).select_related(
        "primary_manager", "org_unit", "covering_team", "parent_company"
    )
    return {
        "customers": hashed(
            (
                c.customer_number,
                c.kind,
                c.name,
                c.name_pinyin,
                c.id_type,
                c.id_number,
                c.mobile or "",
                c.birth_date,
                c.gender,
                c.aml_risk_rating,
                c.risk_tolerance,
                c.aum,
                c.value_tier,
                c.primary_manager.username if c.primary_manager else "",
                c.org_unit.code,
                c.covering_team.code if c.covering_team else "",
                c.parent_company.customer_number if c.parent_company else "",
            )
            for c in customers_qs
        ),
        "search_terms": hashed(
            (numbers[row[0]], row[1], row[2])
            for row in CustomerSearchTerm.objects.filter(**span).values_list("customer_id", "kind", "term")
        ),
        "accounts": hashed(
            (
                numbers[a.customer_id],
                a.kind,
                a.account_number or "",
                a.number_last4,
                a.currency,
                a.balance,
                a.opened_on,
            )
            for a in Account.objects.filter(**span)
        ),
        "holdings": hashed(
            (numbers[row[0]], *row[1:])
            for row in Holding.objects.filter(**span).values_list(
                "customer_id",
                "product__code",
                "amount",
                "market_value",
                "cash_value",
                "start_date",
                "maturity_date",
            )
        ),
        "households": hashed(
            (numbers[row[0]], row[1], row[2])
            for row in HouseholdMember.objects.filter(**span).values_list(
                "customer_id", "household__name", "role"
            )
        ),
        "transactions": hashed(
            (numbers[row[0]], *row[1:])
            for row in Transaction.objects.filter(**span).values_list(
                "customer_id",
                "booked_at",
                "business_date",
                "amount",
                "currency",
                "direction",
                "channel",
                "transaction_type",
                "cross_border",
            )
        ),
        "snapshots": hashed(
            (numbers[row[0]], row[1], row[2])
            for row in AumSnapshot.objects.filter(**span).values_list("customer_id", "month_end", "total")
        ),
    }
