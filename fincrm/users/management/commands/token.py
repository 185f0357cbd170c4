"""``fincrm token create --user USERNAME [--scopes a,b] [--expires DAYS] [--name NAME]``.

Prints the new token once. The operator (the server's own command line) may make a token for
any active user; the audit log records it as done by ``cli:<os user>``.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from fincrm.platform.actor import Actor
from fincrm.platform.errors import NotFound, ServiceError
from fincrm.users.selectors.tokens import user_id_for_username
from fincrm.users.services.tokens import api_token_create


class Command(BaseCommand):
    help = "Manage API tokens: `token create --user USERNAME` prints a new token once."

    def add_arguments(self, parser: CommandParser) -> None:
        commands = parser.add_subparsers(dest="action", required=True)
        create = commands.add_parser("create", help="Create a token for a user and print it once.")
        create.add_argument("--user", required=True, help="The owner's username.")
        create.add_argument(
            "--scopes", default=None, help="Comma-separated permissions (default: all the owner holds)."
        )
        create.add_argument(
            "--expires", type=int, default=None, help="Days until it expires, 1 to 365 (default 90)."
        )
        create.add_argument("--name", default="cli", help="What the token is for.")

    def handle(self, *args: Any, **options: Any) -> None:
        actor = Actor.cli()
        scopes = None
        if options["scopes"] is not None:
            scopes = [part.strip() for part in options["scopes"].split(",") if part.strip()]
        try:
            owner_id = user_id_for_username(actor=actor, username=options["user"])
            token, plaintext = api_token_create(
                actor=actor,
                owner_id=owner_id,
                name=options["name"],
                scopes=scopes,
                expires_days=options["expires"],
            )
        except NotFound as error:
            raise CommandError(f"no user named {options['user']!r}") from error
        except ServiceError as error:
            details = "; ".join(f"{field}: {' '.join(texts)}" for field, texts in error.fields.items())
            raise CommandError(details or str(error.message)) from error
        self.stdout.write(plaintext)
        expires = timezone.localtime(token.expires_at)
        self.stderr.write(
            f"Token {token.prefix} for {options['user']} expires {expires:%Y-%m-%d %H:%M %Z}; "
            f"scopes: {', '.join(token.scopes)}. It is not shown again."
        )
