"""``fincrm feed apply DIR [--user U]``, ``fincrm feed poll`` and ``fincrm feed status [--system S]``.

``apply`` applies one feed folder (``<system>-<sequence>`` with its manifest.json) in one
transaction and prints what it did per entity and how long each phase took. Without ``--user`` the
feed is applied with the server's own authority and audited as ``cli:<os user>``; with it, as that
user (who needs ``data.feed`` and whose data scope applies). Exit code 0: applied or already
applied; 1: refused or failed (nothing written); 2: waiting for an earlier sequence.
``poll`` does once what the periodic job does with the drop folder (FINCRM_FEED_DIR or --dir).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from fincrm.integration import feeds
from fincrm.integration.models import FeedRun
from fincrm.platform.actor import Actor
from fincrm.platform.errors import Forbidden
from fincrm.users.actors import actor_for_user

EXIT_FAILED = 1
EXIT_WAITING = 2


class Command(BaseCommand):
    help = "Apply core-system feeds and show the feed log: `feed apply DIR`, `feed poll`, `feed status`."

    def add_arguments(self, parser: CommandParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True)
        apply = actions.add_parser("apply", help="Apply one feed folder <system>-<sequence>.")
        apply.add_argument("folder", help="The feed folder (holding manifest.json).")
        apply.add_argument("--user", default=None, help="Apply as this user (default: the operator).")
        poll = actions.add_parser("poll", help="Apply the complete feeds of the drop folder once.")
        poll.add_argument("--dir", default=None, help="The drop folder (default: FINCRM_FEED_DIR).")
        status = actions.add_parser("status", help="Show the feed log.")
        status.add_argument("--system", default=None, help="Only this source system.")
        status.add_argument("--limit", type=int, default=20, help="At most this many feeds (default 20).")

    def _actor(self, username: str | None) -> Actor:
        if username is None:
            return Actor.cli()
        user = (
            get_user_model()
            .objects.select_related("org_unit")
            .filter(username=username, is_active=True)
            .first()
        )
        if user is None:
            raise CommandError(f"no active user named {username!r}")
        return actor_for_user(user)

    def handle(self, *args: Any, **options: Any) -> None:
        action = options["action"]
        if action == "apply":
            self._apply(Path(options["folder"]), self._actor(options["user"]))
        elif action == "poll":
            folder = Path(options["dir"]) if options["dir"] else feeds.feed_folder()
            if folder is None:
                raise CommandError("no drop folder: set FINCRM_FEED_DIR or pass --dir")
            for outcome in feeds.feeds_poll(actor=Actor.cli(), folder=folder):
                self._print(outcome)
        else:
            self._status(options["system"], options["limit"])

    def _apply(self, folder: Path, actor: Actor) -> None:
        if not (folder / feeds.MANIFEST).is_file():
            raise CommandError(f"{folder} holds no {feeds.MANIFEST}")
        try:
            outcome = feeds.feed_apply(actor=actor, source=feeds.FolderSource(folder))
        except Forbidden as denied:
            raise CommandError(f"not allowed: the user lacks {denied.permission}") from denied
        except feeds.FeedRejected as rejected:
            raise CommandError(str(rejected.message)) from rejected
        self._print(outcome)
        if outcome.status == feeds.FAILED:
            raise SystemExit(EXIT_FAILED)
        if outcome.status == feeds.WAITING:
            raise SystemExit(EXIT_WAITING)

    def _print(self, outcome: feeds.FeedOutcome) -> None:
        self.stdout.write(f"{outcome.system}#{outcome.sequence}: {outcome.status}")
        if outcome.message:
            self.stdout.write(outcome.message)
        for entity, counts in outcome.counts.items():
            numbers = ", ".join(f"{name} {value:,}" for name, value in counts.items())
            self.stdout.write(f"  {entity}: {numbers}")
        if outcome.timings:
            phases = ", ".join(f"{name} {seconds:.2f}s" for name, seconds in outcome.timings.items())
            self.stdout.write(f"  seconds: {phases}")

    def _status(self, system: str | None, limit: int) -> None:
        runs = FeedRun.objects.order_by("-received_at", "-id")
        if system:
            runs = runs.filter(system=system)
        rows = list(runs[: max(1, limit)])
        if not rows:
            self.stdout.write("no feeds yet")
            return
        for run in rows:
            applied = f"{timezone.localtime(run.applied_at):%Y-%m-%d %H:%M:%S}" if run.applied_at else "-"
            rows_total = sum(int(counts.get("rows", 0)) for counts in run.counts.values())
            seconds = f"{run.seconds:.1f}s" if run.seconds is not None else "-"
            self.stdout.write(
                f"{run.system}#{run.sequence}\t{run.business_date}\t{run.status}\t{rows_total:,} rows\t"
                f"{seconds}\tapplied {applied}"
            )
            if run.error:
                self.stdout.write("    " + run.error.splitlines()[0][:200])
