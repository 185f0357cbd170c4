"""fincrm bootstrap: the institution's root unit and its first system administrators.

Run once on a new database. Each administrator gets a one-time password printed here; at first
sign-in they must choose their own and enrol MFA. Two administrators are the minimum, because a
grant that reaches customer data needs a second administrator's approval.
"""

from __future__ import annotations

import secrets
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from fincrm.org import services as org_services
from fincrm.platform import transaction
from fincrm.platform.actor import Actor
from fincrm.platform.errors import ServiceError
from fincrm.users.models import Role
from fincrm.users.services import accounts


def _one_time_password() -> str:
    return "Tmp-" + secrets.token_urlsafe(15)


class Command(BaseCommand):
    help = "Create the institution and its first system administrators (run once on a new database)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--institution-code", required=True)
        parser.add_argument("--institution-name", required=True)
        parser.add_argument(
            "--admin",
            action="append",
            required=True,
            metavar="USERNAME:FULL NAME",
            help="An administrator, e.g. --admin 'wangjg:王建国'. Give at least two.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        admins = [entry.split(":", 1) for entry in options["admin"]]
        if len(admins) < 2 or any(len(entry) != 2 or not all(entry) for entry in admins):
            raise CommandError("Give at least two --admin USERNAME:FULL NAME (maker and checker).")
        operator = Actor.cli()
        try:
            with transaction.atomic():
                institution = org_services.institution_bootstrap(
                    actor=operator, code=options["institution_code"], name=options["institution_name"]
                )
                role = Role.objects.get(code="system_admin")
                created = []
                for username, full_name in admins:
                    password = _one_time_password()
                    user = accounts.user_create(
                        actor=operator,
                        username=username,
                        full_name=full_name,
                        org_unit_id=institution.pk,
                        password=password,
                    )
                    accounts.user_role_assign(
                        actor=operator, user_id=user.pk, role_id=role.pk, reason="bootstrap"
                    )
                    created.append((user.username, password))
        except ServiceError as error:
            details = "; ".join(f"{field}: {' '.join(texts)}" for field, texts in error.fields.items())
            raise CommandError(f"{error.message} {details}".strip()) from error
        self.stdout.write(self.style.SUCCESS(f"Institution {institution.code} created."))
        self.stdout.write("One-time passwords (each must be changed, and MFA enrolled, at first sign-in):")
        for username, password in created:
            self.stdout.write(f"  {username}: {password}")
