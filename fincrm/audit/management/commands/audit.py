"""``fincrm audit verify | export-head | db-roles --app-role NAME`` (docs/security-audit.md).

- ``verify`` walks the chain and checks it against the signed heads; it names the first broken
  event and exits 1, or prints a summary and exits 0.
- ``export-head`` signs the chain head and appends it to FINCRM_AUDIT_HEAD_EXPORT_PATH.
- ``db-roles`` prints the PostgreSQL GRANT statements for the application role.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError, CommandParser

from fincrm.audit import protection
from fincrm.audit.integrity import audit_head_export, audit_verify


class Command(BaseCommand):
    help = "The audit chain: verify it, export a signed head, print the database role grants."

    def add_arguments(self, parser: CommandParser) -> None:
        commands = parser.add_subparsers(dest="action", required=True)
        verify = commands.add_parser("verify", help="Check every event, link and signed head.")
        verify.add_argument("--batch-size", type=int, default=2000, help="Events read per query.")
        commands.add_parser("export-head", help="Sign the chain head and append it to the export file.")
        roles = commands.add_parser("db-roles", help="Print the GRANT statements for the application role.")
        roles.add_argument(
            "--app-role", required=True, help="The PostgreSQL role the application connects as."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        action = options["action"]
        try:
            if action == "verify":
                self._verify(options["batch_size"])
            elif action == "export-head":
                head = audit_head_export()
                self.stdout.write(
                    f"Signed head exported: event #{head['sequence']} {head['hash']} at {head['exported_at']}"
                )
            else:
                self.stdout.write("-- Run as the owner role (the one that runs migrations).")
                for statement in protection.role_grants(options["app_role"]):
                    self.stdout.write(statement)
        except ImproperlyConfigured as error:
            raise CommandError(str(error)) from error

    def _verify(self, batch_size: int) -> None:
        report = audit_verify(batch_size=max(batch_size, 1))
        for note in report.notes:
            self.stdout.write(f"Note: {note}")
        if not report.protected:
            self.stdout.write("Warning: the triggers that make the audit table append-only are missing.")
        if report.problem is not None:
            raise CommandError(f"Audit chain broken at {report.problem}")
        self.stdout.write(
            f"Audit chain intact: {report.checked} events, newest #{report.last_sequence} "
            f"{report.last_hash}; {report.heads_checked} signed heads matched."
        )
