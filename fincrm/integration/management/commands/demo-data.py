"""fincrm demo-data: load the demo institution and print its sign-ins (demo only)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import translation

from fincrm.integration import demo
from fincrm.platform.actor import Actor


class Command(BaseCommand):
    help = "Load the demo institution (head office, branches, teams, staff in every role) and print sign-ins."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--force",
            action="store_true",
            help="Run even with DEBUG off (never on a real institution's database).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if not settings.DEBUG and not options["force"]:
            raise CommandError(
                "demo-data publishes its passwords and MFA secrets: it refuses to run with DEBUG off. "
                "Use --force only on a throwaway database."
            )
        translation.activate("zh-hans")
        if demo.demo_loaded():
            self.stdout.write("The demo institution is already loaded.")
        else:
            demo.load_demo(Actor.cli())
            self.stdout.write(self.style.SUCCESS(f"Loaded the demo institution: {len(demo.STAFF)} staff."))
        self.stdout.write("")
        self.stdout.write(f"Demo sign-ins (every password: {demo.DEMO_PASSWORD}); demo only:")
        self.stdout.write(f"{'username':<12} {'name':<6} {'role':<22} {'unit':<10} TOTP secret (MFA)")
        for row in demo.demo_sign_ins():
            self.stdout.write(
                f"{row.username:<12} {row.full_name:<6} {row.role:<22} {row.unit:<10} {row.totp_secret}"
            )
