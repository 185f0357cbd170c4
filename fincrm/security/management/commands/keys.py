"""``fincrm keys status|rotate|retire|rewrap|rotate-index`` (docs/security-keys.md)."""

from __future__ import annotations

import os
import sys
import time
from typing import Any, TextIO

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from fincrm.platform.actor import Actor
from fincrm.platform.errors import ServiceError
from fincrm.security import services
from fincrm.security.keyring import KeyringError, keyring
from fincrm.security.models import DataKey


class ProgressBar:
    """A one-line progress bar on a terminal; silent otherwise."""

    def __init__(self, total: int, stream: TextIO, label: str) -> None:
        self.total = max(total, 1)
        self.done = 0
        self.stream = stream
        self.label = label
        self.started = time.monotonic()
        self.enabled = stream.isatty()

    def __call__(self, count: int) -> None:
        self.done += count
        if not self.enabled:
            return
        width = 30
        filled = min(width, width * self.done // self.total)
        rate = self.done / max(time.monotonic() - self.started, 1e-6)
        self.stream.write(
            f"\r{self.label} [{'#' * filled}{'.' * (width - filled)}] "
            f"{self.done:,}/{self.total:,} {rate:,.0f}/s"
        )
        self.stream.flush()

    def close(self) -> None:
        if self.enabled:
            self.stream.write("\n")


class Command(BaseCommand):
    help = "Data keys: status, rotate, retire, rewrap (new master key), rotate-index."

    def add_arguments(self, parser: CommandParser) -> None:
        commands = parser.add_subparsers(dest="action", required=True)
        commands.add_parser("status", help="Which keys exist and what uses them.")
        rotate = commands.add_parser(
            "rotate",
            help="New active data key; re-encrypt every value online, in batches (re-run to resume).",
        )
        rotate.add_argument("--batch", type=int, default=None, help="Values per batch.")
        rotate.add_argument(
            "--new-key",
            action="store_true",
            help="Make a new key even when an earlier rotation is unfinished.",
        )
        retire = commands.add_parser("retire", help="Destroy retired data keys that no value uses.")
        retire.add_argument("--key", default=None, help="Only this key id.")
        rewrap = commands.add_parser("rewrap", help="Re-wrap every key under a new master key.")
        rewrap.add_argument("--new-key-file", default=None, help="File with the new master key (0600).")
        rewrap.add_argument(
            "--new-key-env",
            default=None,
            help="Name of an environment variable holding the new master key (base64).",
        )
        rotate_index = commands.add_parser(
            "rotate-index", help="New blind-index key; recompute every blind index (maintenance)."
        )
        rotate_index.add_argument("--batch", type=int, default=None, help="Rows per batch.")

    def handle(self, *args: Any, **options: Any) -> None:
        actor = Actor.cli()
        try:
            getattr(self, "_" + options["action"].replace("-", "_"))(actor, options)
        except ServiceError as error:
            raise CommandError(str(error.message)) from error
        except KeyringError as error:
            raise CommandError(str(error)) from error

    def _status(self, actor: Actor, options: dict[str, Any]) -> None:
        rows = services.key_status()
        if not rows:
            self.stdout.write("No keys yet: the first encryption makes them.")
            return
        self.stdout.write(f"Master key: {keyring.provider.description} ({keyring.provider.fingerprint})")
        for row in rows:
            created = timezone.localtime(row.created_at)
            self.stdout.write(
                f"{row.key_id:<5} {row.kind:<6} {row.status:<10} created {created:%Y-%m-%d %H:%M} "
                f"encryptions {row.encryptions:,}  values {row.values:,}  master {row.master_fingerprint}"
            )
            for column, count in sorted(row.uses.items()):
                if count:
                    self.stdout.write(f"      {column}: {count:,}")

    def _rotate(self, actor: Actor, options: dict[str, Any]) -> None:
        batch = options["batch"] or settings.FINCRM_KEY_ROTATION_BATCH
        active = keyring.active_key_id()
        left = services.values_not_under(active)
        total = (
            left
            if left and not options["new_key"]
            else sum(status.values for status in services.key_status() if status.kind == DataKey.Kind.DATA)
        )
        if left and not options["new_key"]:
            self.stderr.write(f"Continuing an unfinished rotation to {active}: {left:,} values left.")
        bar = ProgressBar(total, sys.stderr, "re-encrypting")
        result = services.key_rotate(
            actor=actor, new_key=True if options["new_key"] else None, batch_size=batch, progress=bar
        )
        bar.close()
        rate = result.reencrypted / max(result.seconds, 1e-6)
        self.stdout.write(
            f"Active key {result.key_id}{' (new)' if result.new_key else ''}: re-encrypted "
            f"{result.reencrypted:,} values in {result.seconds:.1f} s ({rate:,.0f}/s); "
            f"{result.remaining:,} left."
        )
        if result.remaining:
            raise CommandError("values are still under older keys: run `fincrm keys rotate` again")

    def _retire(self, actor: Actor, options: dict[str, Any]) -> None:
        destroyed = services.key_retire(actor=actor, key_id=options["key"])
        if destroyed:
            self.stdout.write(f"Destroyed: {', '.join(destroyed)}.")
        else:
            self.stdout.write("No retired key is unused yet.")

    def _rewrap(self, actor: Actor, options: dict[str, Any]) -> None:
        env_name = options["new_key_env"]
        env_value = os.environ.get(env_name, "") if env_name else None
        if env_name and not env_value:
            raise CommandError(f"{env_name} is not set")
        provider = services.master_key_from_file_or_env(key_file=options["new_key_file"], env_value=env_value)
        count = services.key_rewrap(actor=actor, new_provider=provider)
        self.stdout.write(
            f"Re-wrapped {count} keys under master key {provider.fingerprint}. Now point "
            "FINCRM_MASTER_KEY / FINCRM_MASTER_KEY_FILE at the new key and restart every process."
        )

    def _rotate_index(self, actor: Actor, options: dict[str, Any]) -> None:
        batch = options["batch"] or settings.FINCRM_KEY_ROTATION_BATCH
        bar = ProgressBar(0, sys.stderr, "recomputing")
        done = services.index_key_rotate(actor=actor, batch_size=batch, progress=bar)
        bar.close()
        self.stdout.write(f"Recomputed {done:,} blind indexes under {keyring.active_key_id('index')}.")
