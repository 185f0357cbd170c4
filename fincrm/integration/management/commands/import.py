"""``fincrm import FILE --data customers --user USERNAME [options]``: import a file from the server.

Runs inline (not as a job): the file is stored encrypted as a batch of the named user (who then
sees it on their imports page), checked or imported, and a progress line is written to stderr
(rows, rows/s and, once the row count is known, the time left). The counts and the first 20
errors go to stdout. Exit code 0 when the file was imported (or, with ``--dry-run``, found
clean); 1 when it has errors or the import failed: nothing is written then. The audit log records
the work as done by ``cli:<os user>``, like ``fincrm token create``.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TextIO

from django.core.management.base import BaseCommand, CommandError, CommandParser

from fincrm.integration import selectors, services
from fincrm.integration.models import FileEncoding, ImportBatch, ImportEntity, OnMatch
from fincrm.platform.actor import Actor
from fincrm.platform.errors import NotFound, ServiceError
from fincrm.users.selectors.accounts import user_get
from fincrm.users.selectors.tokens import user_id_for_username

CHUNK = 1024 * 1024
ISSUES_PRINTED = 20
OK_STATUSES = (ImportBatch.Status.DONE, ImportBatch.Status.CHECKED)


def file_chunks(path: Path) -> Iterator[bytes]:
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK):
            yield chunk


class ProgressLine:
    """Rows, rows per second and the time left, redrawn in place on a terminal; on anything
    else (a log file, a pipe) a plain line at most every 5 seconds."""

    def __init__(self, stream: TextIO, *, interval: float | None = None) -> None:
        self.stream = stream
        self.tty = stream.isatty()
        self.interval = interval if interval is not None else (0.2 if self.tty else 5.0)
        self.started = time.perf_counter()
        self.last = 0.0
        self.drawn = False

    def text(self, done: int, total: int, elapsed: float) -> str:
        rate = done / elapsed if elapsed > 0 else 0.0
        if total:
            share = min(done / total, 1.0)
            width = 30
            bar = "#" * int(share * width) + "-" * (width - int(share * width))
            left = (total - done) / rate if rate > 0 else 0.0
            return f"[{bar}] {done:,}/{total:,} rows {share:4.0%} · {rate:,.0f} rows/s · ETA {left:,.0f} s"
        return f"{done:,} rows · {rate:,.0f} rows/s · {elapsed:,.0f} s"

    def __call__(self, done: int, total: int) -> None:
        now = time.perf_counter()
        if now - self.last < self.interval:
            return
        self.last = now
        line = self.text(done, total, now - self.started)
        if self.tty:
            self.stream.write("\r" + line.ljust(100))
            self.drawn = True
        else:
            self.stream.write(line + "\n")
        self.stream.flush()

    def finish(self) -> None:
        if self.drawn:
            self.stream.write("\n")
            self.stream.flush()


def parse_map(items: list[str]) -> dict[str, str]:
    mapping: dict[str, str] = {}
    for item in items:
        field, sep, column = item.partition("=")
        if not sep or not field.strip() or not column.strip():
            raise CommandError(f"--map takes field=Column header, got {item!r}")
        mapping[field.strip()] = column.strip()
    return mapping


class Command(BaseCommand):
    help = "Import a CSV or XLSX file (customers, contacts, accounts, holdings, transactions, products)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", help="The CSV or XLSX file.")
        parser.add_argument("--data", required=True, choices=ImportEntity.values, help="What the file holds.")
        parser.add_argument(
            "--user", required=True, help="The user the import belongs to (sees it on their page)."
        )
        parser.add_argument("--template", default="", help="A saved mapping template, by name.")
        parser.add_argument(
            "--map",
            action="append",
            default=[],
            metavar="FIELD=HEADER",
            help="Read FIELD from the column HEADER (repeat); default: columns named like the fields.",
        )
        parser.add_argument(
            "--format", choices=["csv", "xlsx"], default=None, help="Default: from the extension."
        )
        parser.add_argument("--encoding", choices=FileEncoding.values, default="utf-8")
        parser.add_argument("--delimiter", default=",", help="CSV delimiter: , ; | or \\t.")
        parser.add_argument("--on-match", choices=OnMatch.values, default="update")
        parser.add_argument("--mode", choices=ImportBatch.Mode.values, default="all")
        parser.add_argument("--dry-run", action="store_true", help="Check every row, write nothing.")

    def handle(self, *args: Any, **options: Any) -> None:
        actor = Actor.cli()
        path = Path(options["file"])
        if not path.is_file():
            raise CommandError(f"no such file: {path}")
        if options["template"] and options["map"]:
            raise CommandError("give --template or --map, not both")
        file_format = options["format"] or ("xlsx" if path.suffix.lower() == ".xlsx" else "csv")
        delimiter = "\t" if options["delimiter"] in ("\\t", "tab") else options["delimiter"]
        try:
            owner_id = user_id_for_username(actor=actor, username=options["user"])
            if not user_get(actor=actor, user_id=owner_id).is_active:
                raise CommandError(f"the user {options['user']!r} is deactivated")
            template = (
                selectors.import_template_by_name(actor, options["template"]) if options["template"] else None
            )
        except NotFound as error:
            what = "user" if error.object_type == "user" else "template"
            raise CommandError(f"no {what} named {str(error.object_id).removeprefix('name:')!r}") from error
        try:
            batch = services.import_batch_create(
                actor=actor,
                entity=options["data"],
                file_name=path.name,
                chunks=file_chunks(path),
                file_format=file_format,
                encoding=options["encoding"],
                delimiter=delimiter,
                mapping=parse_map(options["map"]),
                on_match=options["on_match"],
                mode=options["mode"],
                origin=ImportBatch.Origin.COMMAND,
                template=template,
                owner_id=owner_id,
            )
        except ServiceError as error:
            details = "; ".join(f"{field}: {' '.join(texts)}" for field, texts in error.fields.items())
            raise CommandError(details or str(error.message)) from error
        self.stderr.write(
            f"{path.name}: batch {batch.pk}, {batch.file_size:,} bytes, sha256 {batch.file_sha256}"
        )
        progress = ProgressLine(getattr(self.stderr, "_out", sys.stderr))
        try:
            outcome = services.import_batch_run(
                actor=actor, batch=batch, dry_run=options["dry_run"], progress=progress
            )
        except ServiceError as error:
            progress.finish()
            raise CommandError(str(error.message)) from error
        progress.finish()
        batch.refresh_from_db()
        self._report(batch, outcome.seconds)
        if batch.status not in OK_STATUSES:
            raise CommandError(
                f"{batch.get_status_display()}: nothing was written (batch {batch.pk})", returncode=1
            )

    def _report(self, batch: ImportBatch, seconds: float) -> None:
        rate = batch.rows_total / seconds if seconds > 0 else 0.0
        self.stdout.write(f"status: {batch.status} ({batch.get_status_display()})")
        self.stdout.write(
            f"rows: {batch.rows_total:,} in {seconds:,.1f} s ({rate:,.0f} rows/s); "
            f"with errors: {batch.rows_invalid:,}"
        )
        if batch.status == ImportBatch.Status.DONE:
            self.stdout.write(
                f"{batch.rows_inserted:,} added, {batch.rows_updated:,} updated, "
                f"{batch.rows_unchanged:,} unchanged, {batch.rows_skipped:,} skipped"
            )
        if batch.error:
            self.stdout.write(f"error: {batch.error}")
        if batch.issue_count:
            self.stdout.write(f"errors: {batch.issue_count:,} (the first {ISSUES_PRINTED}):")
            for issue in batch.issues.order_by("row_number", "id")[:ISSUES_PRINTED]:
                self.stdout.write(
                    f"  row {issue.row_number} · {issue.column or '-'} · {issue.value!r} · "
                    f"{issue.code}: {issue.message}"
                )
