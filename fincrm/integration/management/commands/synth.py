"""fincrm synth: build the synthetic bank (test and benchmark data, never a real institution's database)."""

from __future__ import annotations

import sys
import time
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection
from django.utils import translation

from fincrm.integration import synth
from fincrm.platform.actor import Actor


class Command(BaseCommand):
    help = (
        "Build a synthetic bank: institution, staff, customers, accounts, holdings, households, "
        "transactions, AUM and month-end snapshots, deterministic for a seed."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--customers", type=int, required=True, help="How many customers (e.g. 1000000).")
        parser.add_argument("--seed", type=int, default=1, help="The same seed gives the same bank.")
        parser.add_argument("--transactions-per-customer", type=int, default=20)
        parser.add_argument("--workers", type=int, default=2, help="Row-making processes (PostgreSQL).")
        parser.add_argument(
            "--database",
            action="store_true",
            help="Print the database it writes to and its size afterwards.",
        )
        parser.add_argument(
            "--force",
            action="store_true",
            help="Run even with DEBUG off (only ever on a throwaway database).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if not settings.DEBUG and not options["force"]:
            raise CommandError(
                "synth writes a million made-up customers and drops indexes while it loads: it refuses "
                "to run with DEBUG off. Use --force only on a throwaway database."
            )
        if options["customers"] < 1 or options["transactions_per_customer"] < 0:
            raise CommandError("--customers must be at least 1 and --transactions-per-customer at least 0")
        translation.activate("zh-hans")
        name = connection.settings_dict["NAME"]
        self.stdout.write(
            f"synth: {options['customers']:,} customers, seed {options['seed']}, {connection.vendor} {name}"
        )
        started = time.perf_counter()

        def progress(line: str) -> None:
            self.stdout.write(f"[{time.perf_counter() - started:7.1f} s] {line}")
            sys.stdout.flush()

        try:
            result = synth.synth_load(
                actor=Actor.cli(),
                customers=options["customers"],
                seed=options["seed"],
                transactions_per_customer=options["transactions_per_customer"],
                workers=options["workers"],
                progress=progress,
            )
        except ValueError as error:
            raise CommandError(str(error)) from error
        self.stdout.write("")
        self.stdout.write("rows written:")
        for table, rows in result.rows.items():
            self.stdout.write(f"  {table:<32} {rows:>14,}")
        self.stdout.write("time per phase:")
        for phase, seconds in result.timings.items():
            self.stdout.write(f"  {phase:<66} {seconds:8.1f} s")
        self.stdout.write(f"staff to sign in as (API token: fincrm token create --user NAME): {result.staff}")
        if options["database"] and connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_size_pretty(pg_database_size(current_database()))")
                self.stdout.write(f"database {name}: {cursor.fetchone()[0]}")
        self.stdout.write(self.style.SUCCESS(f"synth done in {time.perf_counter() - started:.1f} s"))
