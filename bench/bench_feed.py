"""Issue 5 feed figure: a nightly core-system feed applied onto the 1M-customer synthetic bank.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/fincrm_bench \\
        .venv/bin/python bench/bench_feed.py [--changed-customers 100000] [--transactions 2000000] [--seed 1]

Needs a PostgreSQL database whose name contains "bench", holding a synthetic bank (`fincrm synth`).

1. writes the feed with `fincrm synth-feed` in a child process (timed apart: the core system's
   work, not ours) into a temporary folder: 100,000 changed customers (mobile, address,
   occupation, AML rating) and 2,000,000 new transactions on existing deposit accounts;
2. applies it in this process exactly as `fincrm feed apply` does (feeds.feed_apply, one
   transaction) and prints seconds per phase (verify = SHA-256 of every file; one phase per entity
   file: read, prepare, stage, check, merge, audit; aum; commit), the total, rows/s and the peak
   RSS of this process;
3. by default rolls the whole feed back afterwards (an outer transaction), so the bank stays as
   `fincrm synth` made it and other benchmarks keep their expectations; `--commit` keeps it (the
   commit itself is then part of the total). Before rolling back it runs the deferred foreign-key
   checks the commit would run (``SET CONSTRAINTS ALL IMMEDIATE``), timed as "deferred checks"
   and part of the total, so a repeatable run still counts what a committed feed costs. After the
   rollback it vacuums the tables the feed wrote (untimed), so the next run starts from the same
   bank and not from millions of dead rows.

Target (issue 5): the feed applied in <= 60 s. The load average is printed first and last: on a
shared machine the figure is only as good as the machine was quiet. Not a test; never run by pytest.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "fincrm.settings")

import django  # noqa: E402

django.setup()

from django.db import connection  # noqa: E402
from django.db import transaction as django_transaction  # noqa: E402
from django.db.models import Max  # noqa: E402
from machine import conditions  # noqa: E402

from fincrm.integration import feeds  # noqa: E402
from fincrm.integration.feed_writer import synth_bank_size  # noqa: E402
from fincrm.integration.models import FeedRun  # noqa: E402
from fincrm.platform.actor import Actor  # noqa: E402

TARGET_SECONDS = 60.0


class RolledBack(Exception):
    """Raised to leave the outer transaction: the bench undoes the feed it applied."""


# What a rolled-back feed leaves behind: its rows, dead, in these tables and all their indexes.
DIRTIED = ("customers_customer", "portfolio_transaction", "audit_auditevent")


def clean_up_after_rollback() -> None:
    """VACUUM (ANALYZE) the tables the rolled-back feed wrote, untimed. Autovacuum does not
    keep up with a benchmark run again and again: six runs left 12 million dead transactions and
    600,000 dead customer versions behind, and every run after them was 3-12 s slower."""
    started = time.perf_counter()
    with connection.cursor() as cursor:
        for table in DIRTIED:
            cursor.execute(f"VACUUM (ANALYZE) {connection.ops.quote_name(table)}")
    seconds = time.perf_counter() - started
    print(f"vacuumed {', '.join(DIRTIED)} after the rollback in {seconds:.1f}s (not timed)")


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--changed-customers", type=int, default=100_000)
    parser.add_argument("--transactions", type=int, default=2_000_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--system", default="bench")
    parser.add_argument("--dir", default=None, help="Where to write the feed (default: a temporary folder).")
    parser.add_argument(
        "--commit", action="store_true", help="Keep the applied feed (default: roll it back)."
    )
    options = parser.parse_args()

    name = str(connection.settings_dict["NAME"])
    if connection.vendor != "postgresql" or "bench" not in name:
        print(
            f"refusing: the database must be PostgreSQL with 'bench' in its name "
            f"(got {connection.vendor} {name})"
        )
        return 2
    bank = synth_bank_size()
    if bank == 0:
        print("no synthetic bank in the database: run `fincrm synth --customers 1000000 --database` first")
        return 2
    print(f"database {name}: synthetic bank of {bank:,} customers; {conditions()}")

    last = FeedRun.objects.filter(system=options.system, status="applied").aggregate(last=Max("sequence"))[
        "last"
    ]
    sequence = (last or 0) + 1
    parent = Path(options.dir) if options.dir else Path(tempfile.mkdtemp(prefix="fincrm-feed-bench-"))
    command = [
        str(Path(sys.executable).parent / "fincrm"), "synth-feed", "--dir", str(parent),
        "--sequence", str(sequence), "--system", options.system, "--seed", str(options.seed),
        "--changed-customers", str(options.changed_customers), "--transactions", str(options.transactions),
    ]  # fmt: skip
    started = time.perf_counter()
    subprocess.run(command, check=True, cwd=ROOT)  # noqa: S603 - our own command
    folder = parent / f"{options.system}-{sequence}"
    size = sum(path.stat().st_size for path in folder.iterdir())
    print(f"feed written in {time.perf_counter() - started:.1f}s: {folder} ({size / 2**20:,.0f} MiB)")

    actor = Actor.system("bench.feed")
    outcome: feeds.FeedOutcome | None = None
    started = time.perf_counter()
    checks = 0.0
    try:
        with django_transaction.atomic():
            outcome = feeds.feed_apply(actor=actor, source=feeds.FolderSource(folder))
            if not options.commit:
                if outcome.status == "applied":  # what the commit would check, row by row
                    checks = time.perf_counter()
                    connection.check_constraints()
                    checks = time.perf_counter() - checks
                raise RolledBack
    except RolledBack:
        pass
    elapsed = time.perf_counter() - started
    assert outcome is not None
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{outcome.system}#{outcome.sequence}: {outcome.status} {outcome.message[:500]}")
    for entity, counts in outcome.counts.items():
        print(f"  {entity}: " + ", ".join(f"{key} {value:,}" for key, value in counts.items()))
    for phase, seconds in outcome.timings.items():
        print(f"  {phase:<13} {seconds:8.2f} s")
    if not options.commit:
        print(f"  {'deferred checks':<13} {checks:8.2f} s (the foreign keys the commit would check)")
    rows = outcome.rows
    print(
        f"feed applied in {elapsed:.1f}s (target <= {TARGET_SECONDS:.0f}s: "
        f"{'met' if elapsed <= TARGET_SECONDS and outcome.status == 'applied' else 'NOT met'}); "
        f"{rows:,} rows, {rows / elapsed:,.0f} rows/s; peak RSS {peak_mib:,.0f} MiB; "
        f"{'committed' if options.commit else 'deferred checks run, then rolled back'}"
    )
    if not options.commit:
        clean_up_after_rollback()
    print(conditions())
    if not options.dir:
        shutil.rmtree(parent, ignore_errors=True)
    return 0 if outcome.status == "applied" else 1


if __name__ == "__main__":
    raise SystemExit(main())
