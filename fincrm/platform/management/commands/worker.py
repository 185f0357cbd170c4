"""``fincrm worker [--once] [--concurrency N] [--import MODULE]``: run background jobs.

Stops cleanly on SIGTERM or SIGINT after the job in hand. On SQLite run one worker with
concurrency 1 (one writer at a time); on PostgreSQL run as many as you like, on several machines.
"""

from __future__ import annotations

import importlib
import threading
from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.db import connection

from fincrm.platform import jobs
from fincrm.platform.management.commands._signals import stop_event


class Command(BaseCommand):
    help = "Run background jobs from the database until stopped (SIGTERM/SIGINT)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--once", action="store_true", help="Run the jobs due now, then exit.")
        parser.add_argument("--concurrency", type=int, default=1, help="Worker threads (PostgreSQL).")
        parser.add_argument("--batch", type=int, default=100, help="Jobs run between two polls at most.")
        parser.add_argument(
            "--import",
            dest="modules",
            action="append",
            default=[],
            metavar="MODULE",
            help="Also load jobs from this module (besides every app's jobs.py).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        for module in options["modules"]:
            importlib.import_module(module)
        concurrency = max(1, options["concurrency"])
        if connection.vendor == "sqlite" and concurrency > 1:
            self.stderr.write("SQLite has one writer at a time: running with --concurrency 1.")
            concurrency = 1
        stop = stop_event()
        if options["once"]:
            ran = jobs.run_worker(once=True, batch=options["batch"], stop=stop)
            self.stdout.write(f"Ran {ran} job(s).")
            return
        self.stdout.write(f"Worker {jobs.worker_id()} started ({concurrency} thread(s)).")
        threads = [
            threading.Thread(
                target=jobs.run_worker, kwargs={"batch": options["batch"], "stop": stop}, daemon=True
            )
            for _ in range(concurrency - 1)
        ]
        for thread in threads:
            thread.start()
        jobs.run_worker(batch=options["batch"], stop=stop)
        for thread in threads:
            thread.join()
        self.stdout.write("Worker stopped.")
