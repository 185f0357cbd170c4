"""Import files for the issue-5 benchmarks: customers and transactions as CSV, deterministic for a
seed, streamed to disk; and the same rows "already prepared" (ciphertext, blind indexes, pinyin,
ids resolved) as COPY text for the raw-COPY baselines.

Import after ``django.setup()`` (bench_import.py and kill_import.py do). Rows reference the
institution that ``fincrm synth`` made (org unit, team and account-manager codes are read from the
database) and, for transactions, accounts of the synthetic book. The values come from the synthetic
bank's own generators (fincrm.integration.synth_rows: census surnames including compound and
heteronym ones, valid GB 11643 resident IDs, GB 32100 credit codes, unique mainland mobiles), shifted
so that they never collide with the synthetic bank's: customer numbers carry their own prefix
("IM"), ID and mobile numbers are made from ``n + ID_OFFSET``.

Row n of a file depends only on (seed, n): the CSV and its prepared twin are made by two passes of
the same generator, so nothing is held in memory.
"""

from __future__ import annotations

import csv
import hashlib
import random
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from stdnum import luhn

from fincrm.integration import synth_rows
from fincrm.integration.demo import COMPANY_WORDS, INDUSTRIES, uscc_for
from fincrm.integration.synth import CITIES, NUMBER_PREFIX
from fincrm.integration.synth_rows import Keys, Sealer, mobile_number, person_name, resident_id

CHUNK = 10_000  # rows per random stream: row n uses Random((seed, n // CHUNK))
ID_OFFSET = 10_000_000  # resident IDs / mobiles of row n come from n + ID_OFFSET (synth uses n)
USCC_OFFSET = 60_000_000  # organization-code serials of corporates (synth uses 10,000,000 + k)
ANCHOR = date(2026, 1, 1)  # dates are relative to a fixed day, so a file is the same every day
SHANGHAI = ZoneInfo("Asia/Shanghai")

CUSTOMER_HEADER = (
    "customer_number", "kind", "name", "id_type", "id_number", "gender", "birth_date", "nationality",
    "mobile", "email", "address", "occupation", "income_band", "industry", "aml_risk_rating",
    "risk_tolerance", "risk_assessed_on", "lifecycle_stage", "source_channel", "value_tier", "org_unit",
    "primary_manager", "covering_team",
)  # fmt: skip
TRANSACTION_HEADER = (
    "source_ref", "account_number", "booked_at", "business_date", "amount", "currency", "direction",
    "channel", "transaction_type", "counterparty_account", "cross_border",
)  # fmt: skip
ROADS = ("人民", "解放", "中山", "建设", "和平", "长江", "黄河", "新华", "光明", "文化", "青年", "滨江")
MAIL_DOMAINS = ("qq.com", "163.com", "126.com", "sina.com", "foxmail.com", "example.cn")


@dataclass(frozen=True)
class Desk:
    """An account manager of the synthetic bank and where their customers are booked."""

    username: str
    org_unit: str  # org unit code
    team: str  # team code
    city: str
    regions: tuple[str, ...]  # GB/T 2260 district codes of the city


@dataclass(frozen=True)
class Written:
    path: Path
    rows: int
    size: int
    sha256: str


# ---------------------------------------------------------------- the institution


def desks(prefix: str = "sy_am") -> list[Desk]:
    """The synthetic bank's account managers with their org unit and team (ordered by username)."""
    from fincrm.users.models import TeamMembership

    cities = {code: (city, regions) for code, city, regions in CITIES}
    found: dict[str, Desk] = {}
    rows = (
        TeamMembership.objects.filter(user__username__startswith=prefix, user__is_active=True)
        .order_by("user__username", "team__code")
        .values_list("user__username", "user__org_unit__code", "team__code")
    )
    for username, unit_code, team_code in rows:
        if username in found:
            continue
        city, regions = cities.get(
            unit_code.split("-")[1] if unit_code.count("-") >= 1 else "", ("北京", ("110105",))
        )
        found[username] = Desk(username, unit_code, team_code, city, regions)
    if not found:
        raise SystemExit(
            f"no account managers named {prefix}* with a team: run `fincrm synth` on this database first"
        )
    return list(found.values())


# ---------------------------------------------------------------- customers: clear values


def _rng(kind: str, seed: int, block: int) -> random.Random:
    return random.Random(f"bench-import:{kind}:{seed}:{block}")


def customer_records(
    count: int, seed: int, book: Sequence[Desk], prefix: str = "IM"
) -> Iterator[dict[str, Any]]:
    """Rows 0 … count - 1 as {field: value} (dates as date, absent values as None)."""
    for start in range(0, count, CHUNK):
        rng = _rng("customers", seed, start // CHUNK)
        for n in range(start, min(count, start + CHUNK)):
            yield _customer(n, rng, book, prefix)


def _customer(n: int, rng: random.Random, book: Sequence[Desk], prefix: str) -> dict[str, Any]:
    desk = book[(n * 7919) % len(book)]
    region = desk.regions[n % len(desk.regions)]
    corporate = synth_rows.is_corporate(n)
    row: dict[str, Any] = dict.fromkeys(CUSTOMER_HEADER)
    row.update(
        customer_number=f"{prefix}{n + 1:010d}",
        kind="corporate" if corporate else "individual",
        nationality="CHN",
        aml_risk_rating=rng.choices(("low", "medium", "high"), cum_weights=(85, 97, 100))[0],
        lifecycle_stage=rng.choices(("customer", "prospect", "dormant"), cum_weights=(80, 92, 100))[0],
        source_channel=rng.choices(
            ("branch", "online", "referral", "campaign", "partner"), cum_weights=(50, 75, 87, 95, 100)
        )[0],
        value_tier=rng.choices(("mass", "affluent", "wealth", "private"), cum_weights=(70, 90, 98, 100))[0],
        org_unit=desk.org_unit,
        primary_manager=desk.username,
        covering_team=desk.team,
    )
    if rng.random() < 0.4:
        row["address"] = (
            f"{desk.city}市{rng.choice(ROADS)}路{rng.randrange(1, 999)}号{rng.randrange(1, 30)}层"
        )
    if corporate:
        words = "".join(rng.sample(COMPANY_WORDS, 2))
        suffix, industry = INDUSTRIES[n // synth_rows.CORPORATE_EVERY % len(INDUSTRIES)]
        row.update(
            name=f"{desk.city}{words}{suffix}有限公司",
            id_type="uscc",
            id_number=uscc_for(region, USCC_OFFSET + n),
            industry=industry,
        )
        if rng.random() < 0.3:
            row["email"] = f"finance{n}@{rng.choice(MAIL_DOMAINS)}"
        return row
    id_number = resident_id(n + ID_OFFSET, region)
    assessed = ANCHOR - timedelta(days=rng.randrange(500))
    row.update(
        name=person_name(rng),
        id_type="resident_id",
        id_number=id_number,
        gender="male" if int(id_number[16]) % 2 else "female",
        birth_date=date(int(id_number[6:10]), int(id_number[10:12]), int(id_number[12:14])),
        mobile=mobile_number(n + ID_OFFSET, 0),
        occupation=rng.choice(synth_rows.OCCUPATIONS),
        income_band=rng.choices(synth_rows.INCOME_BANDS, cum_weights=(45, 80, 96, 100))[0],
        risk_tolerance=rng.choices(("C1", "C2", "C3", "C4", "C5"), cum_weights=(15, 45, 75, 93, 100))[0],
        risk_assessed_on=assessed,
    )
    if rng.random() < 0.3:
        row["email"] = f"u{n + ID_OFFSET}@{rng.choice(MAIL_DOMAINS)}"
    return row


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.isoformat(timespec="seconds")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def write_csv(path: Path, header: Sequence[str], records: Iterable[dict[str, Any]]) -> Written:
    """Stream ``records`` to a UTF-8 CSV (header = field names, the default mapping)."""
    digest = hashlib.sha256()
    rows = 0
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(header)
        batch: list[list[str]] = []
        for record in records:
            batch.append([_cell(record[name]) for name in header])
            if len(batch) >= CHUNK:
                writer.writerows(batch)
                rows += len(batch)
                batch = []
        writer.writerows(batch)
        rows += len(batch)
    with path.open("rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
    return Written(path, rows, path.stat().st_size, digest.hexdigest())


def write_customers_csv(
    path: Path, count: int, seed: int, book: Sequence[Desk], prefix: str = "IM"
) -> Written:
    return write_csv(path, CUSTOMER_HEADER, customer_records(count, seed, book, prefix))


# ---------------------------------------------------------------- customers: prepared for COPY

CUSTOMER_COPY_COLUMNS = (
    "created_at", "updated_at", "row_uid", "customer_number", "kind", "status", "name", "name_pinyin",
    "id_type", "id_number", "id_number_bidx", "id_expires_on", "gender", "birth_date", "nationality",
    "mobile", "mobile_bidx", "email", "email_bidx", "address", "address_bidx", "occupation", "employer",
    "income_band", "source_of_funds", "industry", "aml_risk_rating", "aml_next_review_on",
    "risk_tolerance", "risk_assessed_on", "risk_expires_on", "is_professional_investor",
    "professional_evidence", "lifecycle_stage", "source_channel", "value_tier", "aum", "aum_updated_at",
    "org_unit_id", "primary_manager_id", "covering_team_id", "parent_company_id", "merged_into_id",
    "restricted_until",
)  # fmt: skip


@dataclass(frozen=True)
class Lookups:
    """Codes → ids, resolved once (what the importer looks up per batch)."""

    org_units: dict[str, int]
    users: dict[str, int]
    teams: dict[str, int]

    @classmethod
    def load(cls) -> Lookups:
        from fincrm.org.models import OrgUnit, Team
        from fincrm.users.models import User

        return cls(
            dict(OrgUnit.objects.values_list("code", "pk")),
            dict(User.objects.values_list("username", "pk")),
            dict(Team.objects.values_list("code", "pk")),
        )


def current_keys() -> Keys:
    """The active data and index keys, raw, checked against the real fields (as synth does)."""
    from fincrm.integration.synth import _keys

    return _keys()


def _months(day: date, months: int) -> date:
    month = day.month - 1 + months
    year, month = day.year + month // 12, month % 12 + 1
    for last in (31, 30, 29, 28):
        try:
            return date(year, month, min(day.day, last))
        except ValueError:
            continue
    raise AssertionError("unreachable")


def prepared_customers(
    records: Iterable[dict[str, Any]], keys: Keys, lookups: Lookups
) -> Iterator[tuple[Any, ...]]:
    """The rows of ``records`` as customers_customer tuples (CUSTOMER_COPY_COLUMNS): ciphertext
    and blind indexes, pinyin, codes resolved to ids. What a prepared COPY would write."""
    from fincrm.customers.search_terms import name_pinyin
    from fincrm.customers.services.profile import aml_review_months
    from fincrm.integration.importer import CHUNK_ROWS as IMPORT_CHUNK_ROWS
    from fincrm.integration.preparing import RowUids
    from fincrm.security.fields import normalizer_for

    sealer = Sealer(keys)
    normal = {purpose: normalizer_for(purpose) for purpose in ("id_number", "mobile", "email", "text")}
    table = "customers_customer"
    now = datetime.now(tz=SHANGHAI)
    today = now.date()

    def sealed(uid: str, column: str, value: str | None, purpose: str) -> tuple[str | None, str | None]:
        if not value:
            return None, None
        return sealer.seal(table, column, uid, value), sealer.index(normal[purpose](value), purpose)

    uids = RowUids()  # time-ordered, renewed per chunk of rows: the importer's own row ids
    for number, row in enumerate(records):
        if number % IMPORT_CHUNK_ROWS == 0:
            uids.renew()
        uid = uids()
        name = row["name"]
        pinyin = synth_rows.name_terms(name)[0] if row["kind"] == "individual" else name_pinyin(name)
        id_number, id_bidx = sealed(uid, "id_number", row["id_number"], "id_number")
        mobile, mobile_bidx = sealed(uid, "mobile", row["mobile"], "mobile")
        email, email_bidx = sealed(uid, "email", row["email"], "email")
        address, address_bidx = sealed(uid, "address", row["address"], "text")
        assessed = row["risk_assessed_on"]
        yield (
            now, now, uid, row["customer_number"], row["kind"], "active", name, pinyin, row["id_type"],
            id_number, id_bidx, None, row["gender"] or "", row["birth_date"], row["nationality"],
            mobile, mobile_bidx, email, email_bidx, address, address_bidx, row["occupation"] or "", "",
            row["income_band"] or "", "", row["industry"] or "", row["aml_risk_rating"],
            _months(today, aml_review_months(row["aml_risk_rating"])), row["risk_tolerance"] or "",
            assessed, _months(assessed, 12) if assessed else None, False, "", row["lifecycle_stage"],
            row["source_channel"], row["value_tier"], Decimal("0.00"), None,
            lookups.org_units[row["org_unit"]], lookups.users[row["primary_manager"]],
            lookups.teams[row["covering_team"]], None, None, None,
        )  # fmt: skip


def write_copy_file(path: Path, rows: Iterable[tuple[Any, ...]]) -> int:
    """Stream rows as PostgreSQL COPY text to ``path``; returns the row count."""
    count = 0
    with path.open("wb") as handle:
        batch: list[tuple[Any, ...]] = []
        for row in rows:
            batch.append(row)
            if len(batch) >= CHUNK:
                handle.write(synth_rows.copy_text(batch))
                count += len(batch)
                batch = []
        handle.write(synth_rows.copy_text(batch))
        count += len(batch)
    return count


# ---------------------------------------------------------------- transactions


@dataclass(frozen=True)
class ExistingAccount:
    number: str  # clear account number (the synthetic bank's own rule, see below)
    account_id: int
    customer_id: int
    currency: str


def existing_accounts(limit: int) -> list[ExistingAccount]:
    """Up to ``limit`` accounts of the synthetic book, with their clear numbers.

    The synthetic bank's first account of customer n (number SY{n+1:010d}) is a CNY deposit
    numbered 6217 + (8n as 15 digits); numbers are stored encrypted, so they are recomputed here and
    found by their blind index. Only numbers that pass the Luhn check are used: the import rules
    treat any 16 to 19 digit number starting with 3 to 6 as a card number and check its Luhn digit."""
    from fincrm.customers.models import Customer
    from fincrm.portfolio.models import Account
    from fincrm.security.fields import blind_index

    synthetic = Customer.objects.filter(customer_number__startswith=NUMBER_PREFIX).count()
    found: list[ExistingAccount] = []
    for start in range(0, synthetic, 20_000):
        numbers = [f"6217{n * 8:015d}" for n in range(start, min(synthetic, start + 20_000))]
        by_index = {
            blind_index(number, "account_number"): number for number in numbers if luhn.is_valid(number)
        }
        rows = Account.objects.filter(account_number_bidx__in=list(by_index)).values_list(
            "account_number_bidx", "pk", "customer_id", "currency"
        )
        found.extend(
            ExistingAccount(by_index[bidx], pk, customer, currency) for bidx, pk, customer, currency in rows
        )
        if len(found) >= limit:
            break
    found.sort(key=lambda account: account.account_id)
    return found[:limit]


def counterparty_number(rng: random.Random) -> str:
    body = f"622848{rng.randrange(10**12):012d}"
    return body + luhn.calc_check_digit(body)


def transaction_records(
    count: int, seed: int, accounts: Sequence[ExistingAccount], prefix: str = "IMT"
) -> Iterator[tuple[ExistingAccount, dict[str, Any]]]:
    """Transactions 0 … count - 1 spread over ``accounts`` (round robin, booked over a year)."""
    anchor = datetime(ANCHOR.year, ANCHOR.month, ANCHOR.day, tzinfo=SHANGHAI)
    for start in range(0, count, CHUNK):
        rng = _rng("transactions", seed, start // CHUNK)
        for i in range(start, min(count, start + CHUNK)):
            account = accounts[i % len(accounts)]
            booked = anchor - timedelta(seconds=rng.randrange(365 * 86_400))
            pick = rng.random()
            if pick < 0.5:
                kind, channel = "transfer", rng.choice(("mobile", "mobile", "online", "counter"))
                direction = "in" if rng.random() < 0.46 else "out"
            elif pick < 0.65:
                kind, channel = "cash", rng.choice(("counter", "atm"))
                direction = "in" if rng.random() < 0.5 else "out"
            elif pick < 0.92:
                kind, channel, direction = "card", "pos", "out"
            elif pick < 0.97:
                kind, channel, direction = "fee", "core", "out"
            else:
                kind, channel, direction = "interest", "core", "in"
            mu, sigma = (3.0, 1.0) if kind in ("fee", "interest") else (7.5, 1.6)
            amount = Decimal(f"{min(rng.lognormvariate(mu, sigma), 3e6):.2f}")
            yield (
                account,
                {
                    "source_ref": f"{prefix}{seed}-{i:011d}",
                    "account_number": account.number,
                    "booked_at": booked,
                    "business_date": booked.date(),
                    "amount": amount,
                    "currency": account.currency,
                    "direction": direction,
                    "channel": channel,
                    "transaction_type": kind,
                    "counterparty_account": counterparty_number(rng)
                    if kind == "transfer" and rng.random() < 0.3
                    else None,
                    "cross_border": kind == "transfer" and rng.random() < 0.03,
                },
            )


def write_transactions_csv(
    path: Path, count: int, seed: int, accounts: Sequence[ExistingAccount], prefix: str = "IMT"
) -> Written:
    return write_csv(
        path,
        TRANSACTION_HEADER,
        (record for _a, record in transaction_records(count, seed, accounts, prefix)),
    )


TRANSACTION_COPY_COLUMNS = (
    "row_uid", "booked_at", "business_date", "amount", "currency", "direction", "channel",
    "transaction_type", "counterparty_account", "counterparty_account_bidx", "cross_border", "account_id",
    "customer_id", "source_ref",
)  # fmt: skip


def prepared_transactions(
    records: Iterable[tuple[ExistingAccount, dict[str, Any]]], keys: Keys
) -> Iterator[tuple[Any, ...]]:
    from fincrm.security.fields import normalizer_for

    sealer = Sealer(keys)
    normal = normalizer_for("account_number")
    table = "portfolio_transaction"
    for account, row in records:
        uid = synth_rows.row_uid()
        counterparty = row["counterparty_account"]
        yield (
            uid, row["booked_at"], row["business_date"], row["amount"], row["currency"], row["direction"],
            row["channel"], row["transaction_type"],
            sealer.seal(table, "counterparty_account", uid, counterparty) if counterparty else None,
            sealer.index(normal(counterparty), "account_number") if counterparty else None,
            row["cross_border"], account.account_id, account.customer_id, row["source_ref"],
        )  # fmt: skip


# ---------------------------------------------------------------- running `fincrm import` as a child


@dataclass
class ChildRun:
    returncode: int
    seconds: float
    maxrss_mb: float  # ru_maxrss of the import process itself (os.wait4)
    tree_pss_mb: float  # peak proportional set size of the process and its workers, sampled
    killed: bool = False


def _tree_pss_kb(root: int) -> int:
    """Sum of Pss over ``root`` and its descendants (shared pages counted once, in proportion)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(entry.name))
    total, todo = 0, [root]
    while todo:
        pid = todo.pop()
        todo.extend(children.get(pid, ()))
        try:
            for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    total += int(line.split()[1])
                    break
        except OSError:
            continue
    return total


def run_child(
    command: Sequence[str], log: Path, *, kill_after: float | None = None, env: dict[str, str] | None = None
) -> ChildRun:
    """Run ``command`` (output to ``log``), sampling the memory of its process tree every 0.2 s;
    with ``kill_after`` seconds, SIGKILL the whole tree then. Peak RSS comes from wait4, so it is the
    child's own, not this script's."""
    import os
    import signal
    import subprocess
    import time

    started = time.perf_counter()
    with log.open("ab") as out:
        child = subprocess.Popen(  # noqa: S603 - our own command line
            list(command), stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )
        peak_pss, killed = 0, False
        while True:
            pid, status, usage = os.wait4(child.pid, os.WNOHANG)
            if pid:
                break
            elapsed = time.perf_counter() - started
            if kill_after is not None and elapsed >= kill_after:
                os.killpg(child.pid, signal.SIGKILL)  # the import and any worker it forked
                killed = True
                pid, status, usage = os.wait4(child.pid, 0)
                break
            peak_pss = max(peak_pss, _tree_pss_kb(child.pid))
            time.sleep(0.2)
    child.returncode = os.waitstatus_to_exitcode(status)
    return ChildRun(
        child.returncode, time.perf_counter() - started, usage.ru_maxrss / 1024, peak_pss / 1024, killed
    )


# ---------------------------------------------------------------- cleaning up after a run


def referencing(table: str) -> list[tuple[str, str]]:
    """(table, column) of every single-column foreign key pointing at ``table``, other tables only."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.conrelid::regclass::text, a.attname FROM pg_constraint c "
            "JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1] "
            "WHERE c.contype = 'f' AND c.confrelid = %s::regclass AND c.conrelid <> c.confrelid "
            "AND array_length(c.conkey, 1) = 1 ORDER BY 1",
            [table],
        )
        return [(row[0], row[1]) for row in cursor.fetchall()]


def delete_imported_customers(prefix: str) -> int:
    """Delete the customers numbered ``prefix``* and the rows pointing at them (search terms, coverage
    history, accounts and what points at those …), in one transaction. Audit events stay (the
    audit table refuses deletes)."""
    from django.db import connection, transaction

    quote = connection.ops.quote_name
    chosen = "SELECT id FROM customers_customer WHERE customer_number LIKE %s"
    pattern = prefix.replace("_", r"\_") + "%"
    with transaction.atomic(), connection.cursor() as cursor:
        # Search terms keep their customer's id without a foreign key (a derived index): not in
        # ``referencing``.
        cursor.execute(f"DELETE FROM customers_customersearchterm WHERE customer_id IN ({chosen})", [pattern])
        for table, column in referencing("customers_customer"):
            if table.startswith("audit_"):
                continue
            for child, child_column in referencing(table):
                if child != "customers_customer":
                    cursor.execute(
                        f"DELETE FROM {quote(child)} WHERE {quote(child_column)} IN "
                        f"(SELECT id FROM {quote(table)} WHERE {quote(column)} IN ({chosen}))",
                        [pattern],
                    )
            cursor.execute(f"DELETE FROM {quote(table)} WHERE {quote(column)} IN ({chosen})", [pattern])
        cursor.execute("DELETE FROM customers_customer WHERE customer_number LIKE %s", [pattern])
        return int(cursor.rowcount)


def count_customers(prefix: str) -> int:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM customers_customer WHERE customer_number LIKE %s", [prefix + "%"]
        )
        return int(cursor.fetchone()[0])
