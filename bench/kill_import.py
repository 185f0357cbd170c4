"""Issue 5 reliability: SIGKILL `fincrm import` at random points; nothing is ever half-written.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/fincrm_bench_kill \\
        .venv/bin/python bench/kill_import.py --rows 1000000 --kills 10

On a scratch PostgreSQL database whose name contains "bench" (made here if missing: created,
migrated, and given a small synthetic bank with `fincrm synth --customers 5000`):

1. writes a customers CSV of --rows rows (bench/import_files.py, numbers KL*);
2. imports it cleanly (`fincrm import FILE --data customers --user sy_ops_hq`, a child process),
   records the reference: every imported customer's values decrypted through the ORM plus its
   search terms, as one digest per customer; and how long the clean import took;
3. --kills times: deletes the imported customers, starts the import, SIGKILLs it (and its workers)
   after a random delay within the duration of the latest complete import, checks that the
   database holds either none or all of the file's customers (all or nothing), runs the import
   again to completion and compares with the reference: lost rows, duplicated rows and
   mismatched values (all must be 0).

Prints each kill and the totals; exits 1 when any count is not 0. Not a test; never run by pytest.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import random
import shlex
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "fincrm.settings")

import django

django.setup()

import import_files  # noqa: E402
import psycopg  # noqa: E402
from django.db import connection  # noqa: E402
from machine import conditions  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
FINCRM = str(ROOT / ".venv" / "bin" / "fincrm")
PREFIX = "KL"
# What a customer is, as compared: every field an import writes (sensitive ones decrypted).
COMPARED = (
    "customer_number", "kind", "status", "name", "name_pinyin", "id_type", "id_number", "id_expires_on",
    "gender", "birth_date", "nationality", "mobile", "email", "address", "occupation", "employer",
    "income_band", "source_of_funds", "industry", "aml_risk_rating", "aml_next_review_on",
    "risk_tolerance", "risk_assessed_on", "risk_expires_on", "is_professional_investor",
    "lifecycle_stage", "source_channel", "value_tier", "org_unit_id", "primary_manager_id",
    "covering_team_id", "parent_company_id",
)  # fmt: skip


def say(line: str) -> None:
    print(line, flush=True)


def ensure_database(customers: int) -> None:
    """Create, migrate and fill the scratch database when it is not ready yet."""
    settings = connection.settings_dict
    params = {
        "host": settings["HOST"] or None,
        "port": settings["PORT"] or None,
        "user": settings["USER"] or None,
        "password": settings["PASSWORD"] or None,
    }
    with psycopg.connect(dbname="postgres", autocommit=True, **params) as admin:
        exists = admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", [settings["NAME"]]).fetchone()
        if not exists:
            say(f"creating database {settings['NAME']}")
            admin.execute(f'CREATE DATABASE "{settings["NAME"]}"')
    subprocess.run([FINCRM, "migrate", "-v0"], check=True)  # noqa: S603 - our own command
    from fincrm.integration.synth import synth_loaded

    if not synth_loaded():
        say(f"loading a synthetic bank of {customers:,} customers (fincrm synth)")
        subprocess.run(  # noqa: S603 - our own command
            [FINCRM, "synth", "--customers", str(customers), "--force"], check=True, stdout=subprocess.DEVNULL
        )


def snapshot() -> dict[str, bytes]:
    """customer number → digest of its decrypted values and its search terms."""
    from fincrm.customers.models import Customer

    terms: dict[int, str] = {}
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT t.customer_id, md5(string_agg(t.kind || ':' || t.term, '|' ORDER BY t.kind, t.term)) "
            "FROM customers_customersearchterm t JOIN customers_customer c ON c.id = t.customer_id "
            "WHERE c.customer_number LIKE %s GROUP BY t.customer_id",
            [PREFIX + "%"],
        )
        terms = dict(cursor.fetchall())
    digests: dict[str, bytes] = {}
    rows = Customer.objects.filter(customer_number__startswith=PREFIX)
    for customer in rows.iterator(chunk_size=10_000):
        values = [repr(getattr(customer, name)) for name in COMPARED]
        values.append(terms.get(customer.pk, ""))
        digests[customer.customer_number] = hashlib.sha256("\x1f".join(values).encode()).digest()
    return digests


def duplicates() -> int:
    """Rows beyond one per identity: customers sharing an ID number (blind index) with another
    customer of the file, and repeated search terms."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT coalesce(sum(n - 1), 0) FROM (SELECT count(*) AS n FROM customers_customer "
            "WHERE customer_number LIKE %s AND id_number_bidx IS NOT NULL GROUP BY id_number_bidx "
            "HAVING count(*) > 1) d",
            [PREFIX + "%"],
        )
        same_id = int(cursor.fetchone()[0])
        cursor.execute(
            "SELECT count(*) - count(DISTINCT (t.customer_id, t.kind, t.term)) "
            "FROM customers_customersearchterm t JOIN customers_customer c ON c.id = t.customer_id "
            "WHERE c.customer_number LIKE %s",
            [PREFIX + "%"],
        )
        return same_id + int(cursor.fetchone()[0])


def compare(reference: dict[str, bytes]) -> tuple[int, int, int, list[str]]:
    """(lost, duplicated, mismatched, a few mismatched numbers) against the reference."""
    now = snapshot()
    lost = len(reference.keys() - now.keys())
    extra = len(now.keys() - reference.keys())
    mismatched = [number for number in reference.keys() & now.keys() if reference[number] != now[number]]
    return lost, extra + duplicates(), len(mismatched), sorted(mismatched)[:5]


def leftovers() -> str:
    """Stage tables and batches a killed run left behind (they are not customer data)."""
    from fincrm.integration.models import ImportBatch
    from fincrm.integration.staging import stage_tables

    running = ImportBatch.objects.filter(status=ImportBatch.Status.RUNNING).count()
    return f"{len(stage_tables())} stage tables, {running} batches still marked running"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--kills", type=int, default=10)
    parser.add_argument("--seed", type=int, default=1, help="of the file and of the kill points")
    parser.add_argument(
        "--synth-customers", type=int, default=5000, help="size of the bank made when missing"
    )
    parser.add_argument("--user", default="sy_ops_hq")
    parser.add_argument(
        "--work",
        type=Path,
        default=Path("/tmp/fincrm-kill-import"),  # noqa: S108 - a benchmark's scratch files
    )
    parser.add_argument("--import-args", default="", help="more arguments for `fincrm import`")
    options = parser.parse_args()
    name = connection.settings_dict["NAME"]
    if connection.vendor != "postgresql" or "bench" not in name:
        raise SystemExit(
            f"run on a PostgreSQL database whose name contains 'bench' (this is {connection.vendor} {name})"
        )
    say(f"command: {shlex.join([sys.executable, *sys.argv])}")
    say(f"database: {name}; before: {conditions()}")
    ensure_database(options.synth_customers)
    options.work.mkdir(parents=True, exist_ok=True)
    rows = options.rows
    written = import_files.write_customers_csv(
        options.work / "customers.csv", rows, options.seed, import_files.desks(), PREFIX
    )
    say(
        f"file: {written.path} {written.size / 2**20:,.0f} MiB, {rows:,} customers, "
        f"sha256 {written.sha256[:16]}…"
    )
    command = [FINCRM, "import", str(written.path), "--data", "customers", "--user", options.user]
    command += shlex.split(options.import_args)
    say(f"import: {shlex.join(command)}")
    log = options.work / "import.log"
    log.write_text("")

    removed = import_files.delete_imported_customers(PREFIX)
    if removed:
        say(f"removed {removed:,} customers left by an earlier run")
    clean = import_files.run_child(command, log)
    if clean.returncode != 0 or import_files.count_customers(PREFIX) != rows:
        raise SystemExit(f"the clean import failed (exit {clean.returncode}); see {log}")
    say(f"clean import: {clean.seconds:.1f} s, peak RSS {clean.maxrss_mb:,.0f} MB")
    started = time.perf_counter()
    reference = snapshot()
    say(
        f"reference: {len(reference):,} customers decrypted and digested "
        f"in {time.perf_counter() - started:.1f} s"
    )

    rng = random.Random(f"kill:{options.seed}")
    window = clean.seconds  # kill within the duration of the latest complete import
    totals = {"lost": 0, "duplicated": 0, "mismatched": 0, "half-written": 0}
    for attempt in range(1, options.kills + 1):
        import_files.delete_imported_customers(PREFIX)
        delay = rng.uniform(0.02, 1.0) * window
        killed = import_files.run_child(command, log, kill_after=delay)
        present = import_files.count_customers(PREFIX)
        whole = present in (0, rows)
        if not whole:
            totals["half-written"] += 1
        after_kill = f"{'killed' if killed.killed else 'finished before the kill'} at {delay:6.1f} s"
        rerun = import_files.run_child(command, log)
        if present == 0 and rerun.returncode == 0:
            window = rerun.seconds
        lost, duplicated, mismatched, examples = compare(reference)
        totals["lost"] += lost
        totals["duplicated"] += duplicated
        totals["mismatched"] += mismatched
        say(
            f"kill {attempt:2d}: {after_kill}; then {present:,} customers "
            f"({'all or nothing' if whole else 'HALF-WRITTEN'}); "
            f"{leftovers()}; re-run {rerun.seconds:.1f} s exit {rerun.returncode}: "
            f"lost {lost}, duplicated {duplicated}, mismatched {mismatched}"
            + (f" e.g. {examples}" if examples else "")
        )
        if rerun.returncode != 0:
            totals["lost"] += rows - import_files.count_customers(PREFIX) if lost == 0 else 0
            say(f"  the re-run failed; see {log}")
    say(
        f"after {options.kills} kills: lost rows {totals['lost']}, duplicated rows {totals['duplicated']}, "
        f"mismatched values {totals['mismatched']}, half-written states {totals['half-written']}"
    )
    say(f"after: {conditions()}")
    import_files.delete_imported_customers(PREFIX)
    written.path.unlink()
    sys.exit(0 if not any(totals.values()) else 1)


if __name__ == "__main__":
    main()
