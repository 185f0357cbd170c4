"""The ``fincrm`` console command: Django's management commands with fincrm's settings."""

from __future__ import annotations

import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "fincrm.settings")
    from django.core.management import execute_from_command_line

    from fincrm.platform import context

    with context.operation(user_agent="fincrm " + " ".join(sys.argv[1:2])):
        execute_from_command_line(["fincrm", *sys.argv[1:]])


if __name__ == "__main__":
    main()
