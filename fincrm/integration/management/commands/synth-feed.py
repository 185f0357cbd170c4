"""``fincrm synth-feed --dir D --sequence N [--changed-customers 100000] [--transactions 2000000]
[--seed S] [--system core] [--business-date YYYY-MM-DD]``.

Writes the nightly feed ``D/<system>-<N>`` (manifest last) for the synthetic bank already in the
database (``fincrm synth``): changed customers and new transactions on existing accounts.
Deterministic for (seed, sequence). Apply it with ``fincrm feed apply D/<system>-<N>``.
"""

from __future__ import annotations

import time
from datetime import date
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from fincrm.integration.feed_writer import synth_bank_size, synth_feed_write
from fincrm.integration.feeds import SYSTEM


class Command(BaseCommand):
    help = "Write a nightly core-system feed for the synthetic bank in the database."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--dir", required=True, help="Where to create the feed folder <system>-<sequence>."
        )
        parser.add_argument(
            "--sequence", type=int, required=True, help="The feed's sequence number (from 1)."
        )
        parser.add_argument("--changed-customers", type=int, default=100_000)
        parser.add_argument("--transactions", type=int, default=2_000_000)
        parser.add_argument("--seed", type=int, default=1)
        parser.add_argument("--system", default="core", help="The source system's name (default core).")
        parser.add_argument("--business-date", default=None, help="YYYY-MM-DD (default: today).")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["sequence"] < 1 or options["changed_customers"] < 0 or options["transactions"] < 0:
            raise CommandError("--sequence must be at least 1; counts cannot be negative")
        if not SYSTEM.fullmatch(options["system"]):
            raise CommandError("--system: 1 to 40 lower-case letters, digits or _, starting with a letter")
        try:
            day = (
                date.fromisoformat(options["business_date"])
                if options["business_date"]
                else timezone.localdate()
            )
        except ValueError as error:
            raise CommandError("--business-date must be YYYY-MM-DD") from error
        bank = synth_bank_size()
        if bank == 0:
            raise CommandError("no synthetic bank in the database: run `fincrm synth --customers N` first")
        started = time.perf_counter()
        try:
            feed = synth_feed_write(
                parent=Path(options["dir"]),
                bank_customers=bank,
                sequence=options["sequence"],
                business_date=day,
                changed_customers=options["changed_customers"],
                transactions=options["transactions"],
                seed=options["seed"],
                system=options["system"],
            )
        except FileExistsError as error:
            raise CommandError(f"{error.filename} already exists") from error
        self.stdout.write(
            f"{feed.folder}: {feed.customers:,} changed customers, {feed.transactions:,} transactions on "
            f"{feed.accounts:,} accounts of a bank of {bank:,} customers, "
            f"in {time.perf_counter() - started:.1f}s"
        )
