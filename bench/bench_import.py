"""Issue 5 import figures: `fincrm import` of customers and transactions beside a raw COPY.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/fincrm_bench \\
        .venv/bin/python bench/bench_import.py --customers 1000000 --transactions 20000000

Needs a PostgreSQL database whose name contains "bench", holding a synthetic bank
(`fincrm synth`). For each entity it:

1. writes the CSV (deterministic for --seed; bench/import_files.py) and, untimed, the same rows
   already prepared (ciphertext, blind indexes, pinyin, ids) as COPY text;
2. times a raw `COPY` of the prepared rows two ways: into the real table itself, with its
   indexes and foreign keys (the deferred checks forced by `SET CONSTRAINTS ALL IMMEDIATE`), then
   rolled back and the table vacuumed, untimed — the issue's "same table with the same indexes",
   the ratio that counts; and into a scratch table made `LIKE <the real table> INCLUDING ALL`
   (same columns, defaults, indexes, no foreign keys), then dropped — the baseline of earlier runs,
   printed for comparison;
3. runs the import exactly as an operator would, `fincrm import FILE --data ENTITY --user USER`, in a
   child process, and reads the child's peak RSS (os.wait4) and the peak PSS of its process tree;
4. checks the rows arrived, prints rows/s of all three and both ratios, and deletes the imported rows
   (customers IM*, their search terms and other rows pointing at them; transactions IMT*) so the
   benchmark can run again. Audit events stay: the audit table refuses deletes.

Targets (issue 5): customers ≥ 20,000 rows/s (aim 35,000) and ≥ 0.3 times COPY; transactions ≥ 0.5 times
COPY; peak memory ≤ 500 MB. The load average is printed first and last: on a shared machine trust
the ratios more than the rates. Not a test; never run by pytest.
"""

from __future__ import annotations

import argparse
import os
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "fincrm.settings")

import django

django.setup()

import import_files  # noqa: E402
from django.conf import settings  # noqa: E402
from django.db import connection, transaction  # noqa: E402
from import_files import ChildRun, run_child  # noqa: E402
from machine import conditions  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
FINCRM = str(ROOT / ".venv" / "bin" / "fincrm")
CUSTOMER_PREFIX = "IM"
TRANSACTION_PREFIX = "IMT"


def say(line: str) -> None:
    print(line, flush=True)


@dataclass(frozen=True)
class Baselines:
    """Seconds of a raw COPY of the prepared rows, two ways."""

    real: float  # into the real table, its foreign keys checked, then rolled back: the figure
    scratch: float  # into a scratch LIKE copy without foreign keys: the figure of earlier runs


def _copy(statement: str, data: Path) -> int:
    """COPY ``data`` with ``statement`` on the open connection; rows copied."""
    with connection.cursor() as cursor, data.open("rb") as handle:
        with cursor.cursor.copy(statement) as copy:
            while block := handle.read(1 << 20):
                copy.write(block)
        return int(cursor.cursor.rowcount)


def copy_into_real_table(table: str, columns: tuple[str, ...], data: Path, rows: int) -> float:
    """Seconds to COPY ``data`` into ``table`` itself — the issue's "same table with the same
    indexes" — then run its queued foreign-key checks (Django's are DEFERRABLE INITIALLY DEFERRED:
    an import pays them at commit) with SET CONSTRAINTS ALL IMMEDIATE. Rolled back, so the import
    of the same rows follows; VACUUM (untimed) then clears the dead rows' index entries, which
    would otherwise slow the import's unique checks."""
    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        cursor.execute("CHECKPOINT")
    statement = f"COPY {quote(table)} ({', '.join(quote(c) for c in columns)}) FROM STDIN"
    try:
        with transaction.atomic():
            started = time.perf_counter()
            copied = _copy(statement, data)
            with connection.cursor() as cursor:
                cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            seconds = time.perf_counter() - started
            transaction.set_rollback(True)
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f"VACUUM {quote(table)}")
    if copied != rows:
        raise SystemExit(f"the baseline COPY into {table} wrote {copied:,} rows, expected {rows:,}")
    return seconds


def compact(*tables: str) -> None:
    """VACUUM (FULL, ANALYZE) after a clean-up (untimed), so that the bank is left as compact as
    ``fincrm synth`` made it. A million deleted customers leave ten million dead search terms
    (searches measured afterwards took 40-85 ms instead of 11-27 ms), and a plain VACUUM, which
    clears those, still leaves the tables and their indexes twice their size: the customer table
    with its indexes stayed at 3.4 GB instead of 1.1 GB, the terms at 3.5 GB instead of 1.5 GB,
    and bench_customer360 measured afterwards paid 20-30 % more CPU per 360 (2026-11-25). A plain
    VACUUM follows: VACUUM FULL leaves the visibility map empty, and until it is set again the
    planner prices index-only scans with a heap visit per row (an account manager's initials
    search read a whole range of the terms' rank index per customer: 155 ms instead of 10)."""
    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        for table in tables:
            cursor.execute(f"VACUUM FULL {quote(table)}")
            cursor.execute(f"VACUUM ANALYZE {quote(table)}")


def copy_into_scratch_table(table: str, columns: tuple[str, ...], data: Path, rows: int) -> float:
    """Seconds to COPY ``data`` into a fresh ``LIKE table INCLUDING ALL`` scratch table (same
    columns, defaults and indexes; LIKE copies no foreign keys), committed, then dropped."""
    scratch = f"bench_{table.split('_', 1)[1]}_copy"
    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {quote(scratch)}")
        cursor.execute(f"CREATE TABLE {quote(scratch)} (LIKE {quote(table)} INCLUDING ALL)")
        cursor.execute("CHECKPOINT")
    try:
        started = time.perf_counter()
        with transaction.atomic():
            copied = _copy(f"COPY {quote(scratch)} ({', '.join(quote(c) for c in columns)}) FROM STDIN", data)
        seconds = time.perf_counter() - started
        if copied != rows:
            raise SystemExit(f"the baseline COPY wrote {copied:,} rows, expected {rows:,}")
        return seconds
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f"DROP TABLE IF EXISTS {quote(scratch)}")


def copy_baselines(table: str, columns: tuple[str, ...], data: Path, rows: int) -> Baselines:
    real = copy_into_real_table(table, columns, data, rows)
    scratch = copy_into_scratch_table(table, columns, data, rows)
    return Baselines(real=real, scratch=scratch)


def delete_imported_transactions(prefix: str) -> int:
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM portfolio_transaction WHERE source_ref LIKE %s", [prefix + "%"])
        return cursor.rowcount


def count_transactions(prefix: str) -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM portfolio_transaction WHERE source_ref LIKE %s", [prefix + "%"])
        return int(cursor.fetchone()[0])


def import_command(path: Path, entity: str, user: str, extra: list[str]) -> list[str]:
    return [FINCRM, "import", str(path), "--data", entity, "--user", user, *extra]


def import_env(path: Path) -> dict[str, str]:
    """The importer's environment, its size limit (FINCRM_IMPORT_MAX_BYTES, 1 GiB by default)
    raised to the file's size when it is larger, as an operator does for an initial load."""
    env = dict(os.environ)
    size, limit = path.stat().st_size, int(settings.FINCRM_IMPORT_MAX_BYTES)
    if size > limit:
        env["FINCRM_IMPORT_MAX_BYTES"] = str(size)
        say(f"  FINCRM_IMPORT_MAX_BYTES={size:,} for this file (the setting is {limit:,})")
    return env


def report(
    entity: str, table: str, rows: int, run: ChildRun, copy: Baselines, arrived: int, log: Path
) -> bool:
    rate = rows / run.seconds
    real, scratch = rows / copy.real, rows / copy.scratch
    say(f"  import: {rows:,} rows in {run.seconds:.1f} s = {rate:,.0f} rows/s (exit {run.returncode})")
    say(
        f"  raw COPY of the same rows, prepared, into {table} itself (its indexes and foreign keys, "
        f"checked, rolled back; the issue's baseline): {copy.real:.1f} s = {real:,.0f} rows/s"
    )
    say(
        f"  raw COPY of the same rows, prepared, into a scratch LIKE {table} (same indexes, no "
        f"foreign keys; the baseline of earlier runs): {copy.scratch:.1f} s = {scratch:,.0f} rows/s"
    )
    say(f"  ratio import / COPY into the real table (issue 5): {rate / real:.2f}")
    say(f"  ratio import / COPY into the scratch table (earlier runs): {rate / scratch:.2f}")
    say(
        f"  peak memory of the import: {run.maxrss_mb:,.0f} MB RSS (the process, wait4); "
        f"{run.tree_pss_mb:,.0f} MB PSS (process + workers, sampled)"
    )
    ok = run.returncode == 0 and arrived == rows
    if not ok:
        say(f"  FAILED: {arrived:,} of {rows:,} {entity} arrived; the import's output is in {log}")
        tail = log.read_text(errors="replace").splitlines()[-15:]
        for line in tail:
            say(f"    | {line[-200:]}")
    return ok


def bench_customers(options: argparse.Namespace, work: Path, keys: import_files.Keys) -> bool:
    count = options.customers
    say(f"\ncustomers: {count:,}")
    left = import_files.delete_imported_customers(CUSTOMER_PREFIX)
    if left:
        say(f"  removed {left:,} customers left by an earlier run")
    book = import_files.desks()
    started = time.perf_counter()
    written = import_files.write_customers_csv(
        work / "customers.csv", count, options.seed, book, CUSTOMER_PREFIX
    )
    say(
        f"  CSV: {written.path} {written.size / 2**20:,.0f} MiB, {written.rows:,} rows, "
        f"made in {time.perf_counter() - started:.1f} s (not timed)"
    )
    started = time.perf_counter()
    records = import_files.customer_records(count, options.seed, book, CUSTOMER_PREFIX)
    prepared = import_files.prepared_customers(records, keys, import_files.Lookups.load())
    copy_file = work / "customers.copy"
    import_files.write_copy_file(copy_file, prepared)
    say(
        f"  prepared COPY text: {copy_file.stat().st_size / 2**20:,.0f} MiB "
        f"in {time.perf_counter() - started:.1f} s (not timed)"
    )
    copy = copy_baselines("customers_customer", import_files.CUSTOMER_COPY_COLUMNS, copy_file, count)
    copy_file.unlink()
    command = import_command(written.path, "customers", options.user, options.import_args)
    say(f"  running: {shlex.join(command)}")
    log = work / "import-customers.log"
    log.write_text("")
    run = run_child(command, log, env=import_env(written.path))
    arrived = import_files.count_customers(CUSTOMER_PREFIX)
    ok = report("customers", "customers_customer", count, run, copy, arrived, log)
    if ok and count / run.seconds < 20_000:
        say("  below the target of 20,000 rows/s")
    if not options.keep:
        deleted = import_files.delete_imported_customers(CUSTOMER_PREFIX)
        compact("customers_customer", "customers_customersearchterm")
        say(f"  cleaned up: {deleted:,} imported customers deleted, their tables rewritten (VACUUM FULL)")
        written.path.unlink()
    return ok


def bench_transactions(options: argparse.Namespace, work: Path, keys: import_files.Keys) -> bool:
    count = options.transactions
    prefix = f"{TRANSACTION_PREFIX}{options.seed}-"
    say(f"\ntransactions: {count:,}")
    left = delete_imported_transactions(TRANSACTION_PREFIX)
    if left:
        say(f"  removed {left:,} transactions left by an earlier run")
    accounts = import_files.existing_accounts(max(1, min(options.accounts, count)))
    if not accounts:
        raise SystemExit("no synthetic accounts found: run `fincrm synth` on this database first")
    say(
        f"  over {len(accounts):,} existing accounts of the synthetic bank "
        f"({count / len(accounts):,.0f} each)"
    )
    started = time.perf_counter()
    written = import_files.write_transactions_csv(
        work / "transactions.csv", count, options.seed, accounts, TRANSACTION_PREFIX
    )
    say(
        f"  CSV: {written.path} {written.size / 2**20:,.0f} MiB, {written.rows:,} rows, "
        f"made in {time.perf_counter() - started:.1f} s (not timed)"
    )
    started = time.perf_counter()
    records = import_files.transaction_records(count, options.seed, accounts, TRANSACTION_PREFIX)
    copy_file = work / "transactions.copy"
    import_files.write_copy_file(copy_file, import_files.prepared_transactions(records, keys))
    del accounts
    say(
        f"  prepared COPY text: {copy_file.stat().st_size / 2**20:,.0f} MiB "
        f"in {time.perf_counter() - started:.1f} s (not timed)"
    )
    copy = copy_baselines("portfolio_transaction", import_files.TRANSACTION_COPY_COLUMNS, copy_file, count)
    copy_file.unlink()
    command = import_command(written.path, "transactions", options.user, options.import_args)
    say(f"  running: {shlex.join(command)}")
    log = work / "import-transactions.log"
    log.write_text("")
    run = run_child(command, log, env=import_env(written.path))
    arrived = count_transactions(prefix)
    ok = report("transactions", "portfolio_transaction", count, run, copy, arrived, log)
    if not options.keep:
        deleted = delete_imported_transactions(TRANSACTION_PREFIX)
        compact("portfolio_transaction")
        say(f"  cleaned up: {deleted:,} imported transactions deleted, the table rewritten (VACUUM FULL)")
        written.path.unlink()
    return ok


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--customers", type=int, default=1_000_000, help="rows of the customers file (0: skip)"
    )
    parser.add_argument(
        "--transactions", type=int, default=20_000_000, help="rows of the transactions file (0: skip)"
    )
    parser.add_argument(
        "--accounts", type=int, default=100_000, help="spread transactions over this many accounts"
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--user", default="sy_ops_hq", help="who imports (operations, institution scope)")
    parser.add_argument(
        "--work",
        type=Path,
        default=Path("/tmp/fincrm-bench-import"),  # noqa: S108 - a benchmark's scratch files, help="where the files go"
    )
    parser.add_argument("--keep", action="store_true", help="keep the imported rows and the CSV files")
    parser.add_argument("--no-migrate", action="store_true", help="do not run `fincrm migrate` first")
    parser.add_argument(
        "--import-args", default="", help='more arguments for `fincrm import`, e.g. "--workers 2"'
    )
    options = parser.parse_args()
    options.import_args = shlex.split(options.import_args)
    name = connection.settings_dict["NAME"]
    if connection.vendor != "postgresql" or "bench" not in name:
        raise SystemExit(
            f"run on a PostgreSQL database whose name contains 'bench' (this is {connection.vendor} {name})"
        )
    say(f"command: {shlex.join([sys.executable, *sys.argv])}")
    say(f"database: {name}; before: {conditions()}")
    if not options.no_migrate:
        subprocess.run([FINCRM, "migrate", "-v0"], check=True)  # noqa: S603 - our own command
    options.work.mkdir(parents=True, exist_ok=True)
    keys = import_files.current_keys()
    ok = True
    if options.customers:
        ok &= bench_customers(options, options.work, keys)
    if options.transactions:
        ok &= bench_transactions(options, options.work, keys)
    say(f"\nafter: {conditions()}")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
