"""``fincrm scheduler [--once]``: enqueue periodic jobs when they are due.

Each due time is enqueued once even when several schedulers run (the schedule row is advanced in
the same transaction, and the job's dedupe key is its name and due time). Stops on SIGTERM/SIGINT.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from fincrm.platform import jobs
from fincrm.platform.management.commands._signals import stop_event


class Command(BaseCommand):
    help = "Enqueue periodic jobs when they are due, until stopped (SIGTERM/SIGINT)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--once", action="store_true", help="Enqueue what is due now, then exit.")

    def handle(self, *args: Any, **options: Any) -> None:
        stop = stop_event()
        if not options["once"]:
            self.stdout.write(f"Scheduler started ({len(jobs.schedules)} periodic job(s)).")
        enqueued = jobs.run_scheduler(once=options["once"], stop=stop)
        self.stdout.write(f"Scheduler enqueued {enqueued} job(s).")
