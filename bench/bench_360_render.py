"""The 360 page's CPU in one warmed process, and its HTML for comparing two versions of the code.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/fincrm_bench \\
        .venv/bin/python bench/bench_360_render.py [--rounds 20] [--html-dir DIR] [--profile]

Renders GET /customers/{id}/ through django.test.Client (every middleware, bench settings: DEBUG
off, cached template loader) for a fixed set of pages: an institution-scope user (sy_ops_hq) on
individuals, household members, a corporate in a group and its parent, and the account manager
sy_am00001 on customers of his own, each in zh-Hans (the default) and English. Prints the process
CPU time (``time.process_time``) per page, the median over ``--rounds`` rounds of the whole set.
With ``--html-dir`` it writes each page's HTML with the per-request tokens (CSRF, CSP nonce)
replaced, so ``diff -r`` of two directories shows any change in what users get.

Writes nothing to the database: the sessions are created inside a transaction that is rolled
back, and the 360's read event (an audit write after the response) is not recorded. Not a test.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.bench_settings")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.db import connection, transaction  # noqa: E402
from django.test import Client  # noqa: E402

from bench.bench_customer360 import session_cookie  # noqa: E402
from fincrm.customers.views import profile as profile_view  # noqa: E402
from fincrm.users.models import User  # noqa: E402

# Institution scope: individuals with and without holdings, household members, a corporate in a
# group and the group's parent; the account manager: customers of his own (one in a household,
# one corporate).
OPS_CUSTOMERS = [3, 4, 15, 35, 41, 21, 500000, 999999]
AM_CUSTOMERS = [269, 271, 275, 279, 441]
TOKENS = re.compile(r'(name="csrfmiddlewaretoken" value="|name="csrf-token" content="|nonce=")[^"]+"')


def pages() -> list[tuple[str, str, int, str]]:
    """(label, cookie, customer id, language) for every page of the set."""
    ops = session_cookie(User.objects.get(username="sy_ops_hq"))
    manager = session_cookie(User.objects.get(username="sy_am00001"))
    found = []
    for who, cookie, ids in (("ops", ops, OPS_CUSTOMERS), ("am", manager, AM_CUSTOMERS)):
        for customer_id in ids:
            for language in ("zh-hans", "en"):
                found.append((who, cookie, customer_id, language))
    return found


def render(client: Client, cookie: str, customer_id: int, language: str) -> bytes:
    response = client.get(
        f"/customers/{customer_id}/",
        HTTP_COOKIE=f"{cookie}; {settings.LANGUAGE_COOKIE_NAME}={language}",
    )
    if response.status_code != 200:
        raise RuntimeError(f"/customers/{customer_id}/: {response.status_code}")
    return response.content


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--html-dir", type=Path)
    parser.add_argument("--profile", action="store_true", help="print cProfile's top functions")
    parser.add_argument(
        "--callgrind",
        action="store_true",
        help="under valgrind --tool=callgrind --instr-atstart=no: instrument the measured rounds only",
    )
    options = parser.parse_args()
    if "bench" not in str(connection.settings_dict["NAME"]):
        sys.exit("bench_360_render needs the bench database (its name contains 'bench')")
    # The read event is an audit write; the bench database is only read.
    profile_view.record_opened_after = lambda *args, **kwargs: None  # type: ignore[assignment]
    client = Client(SERVER_NAME="127.0.0.1")
    with transaction.atomic():
        page_set = pages()
        for _who, cookie, customer_id, language in page_set:  # warm: templates, translations, plans
            render(client, cookie, customer_id, language)
        if options.html_dir:
            options.html_dir.mkdir(parents=True, exist_ok=True)
            for who, cookie, customer_id, language in page_set:
                html = render(client, cookie, customer_id, language).decode()
                path = options.html_dir / f"{who}-{customer_id}-{language}.html"
                path.write_text(TOKENS.sub(r"\1-", html))
        profiler = cProfile.Profile(time.process_time) if options.profile else None
        per_round = []
        if options.callgrind:
            subprocess.run(["callgrind_control", "-i", "on", str(os.getpid())], check=True)  # noqa: S603,S607
        for _round in range(options.rounds):
            started = time.process_time()
            if profiler:
                profiler.enable()
            for _who, cookie, customer_id, language in page_set:
                render(client, cookie, customer_id, language)
            if profiler:
                profiler.disable()
            per_round.append((time.process_time() - started) / len(page_set) * 1000)
        if options.callgrind:
            subprocess.run(["callgrind_control", "-i", "off", str(os.getpid())], check=True)  # noqa: S603,S607
        transaction.set_rollback(True)
    print(
        f"{len(page_set)} pages x {options.rounds} rounds: CPU per page median "
        f"{statistics.median(per_round):.2f} ms, min {min(per_round):.2f} ms ({ROOT})"
    )
    if profiler:
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(60)


if __name__ == "__main__":
    main()
