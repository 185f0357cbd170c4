"""Search on the synthetic bank, in process: each actor's path against the older one, same run.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/fincrm_bench_h4 \\
        .venv/bin/python bench/bench_search_rank.py --samples 100
    # the plans of one search (EXPLAIN ANALYZE of every SELECT it runs)
    DATABASE_URL=... .venv/bin/python bench/bench_search_rank.py --explain institution lw

Times ``customer_search`` (the selector the page and the API call) for the issue's hard kinds of
input (bench_customer360's inputs: a common surname character, two-letter initials, a
two-character middle fragment) as head office (``sy_ops_hq``, institution scope: the rank index,
``FINCRM_SEARCH_RANK_INDEX`` on and off) and as an account manager (``sy_am00001``, own scope:
the search over the book, ``FINCRM_SEARCH_SMALL_SCOPE`` at its default and 0), both paths for each
input in turn; prints p50/p95 in ms and SQL queries per search, and checks both paths found the
same. Read-only: it never writes to the database. Needs a synthetic bank (``fincrm synth``).
Not a test.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "fincrm.settings")

import django

django.setup()

from bench_customer360 import percentile, samples, search_inputs  # noqa: E402
from bench_search import print_plans  # noqa: E402
from django.conf import settings  # noqa: E402
from django.db import connection  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402
from machine import conditions  # noqa: E402

from fincrm.customers.models import Customer  # noqa: E402
from fincrm.customers.selectors.search import SMALL_SCOPE, customer_search  # noqa: E402
from fincrm.integration import synth  # noqa: E402
from fincrm.platform.actor import Actor  # noqa: E402
from fincrm.users.actors import actor_for_user  # noqa: E402
from fincrm.users.models import User  # noqa: E402

HARD_KINDS = ("surname (one common character)", "initials (two letters)", "middle fragment (2 characters)")
# Per actor: the setting that switches its path, the value for it and for the older path, labels.
PATHS = {
    "institution": ("FINCRM_SEARCH_RANK_INDEX", True, False, "rank", "older"),
    "account manager": ("FINCRM_SEARCH_SMALL_SCOPE", SMALL_SCOPE, 0, "book", "tiers"),
}


def actors() -> dict[str, Actor]:
    return {
        "institution": actor_for_user(User.objects.get(username="sy_ops_hq")),
        "account manager": actor_for_user(User.objects.get(username="sy_am00001")),
    }


def timed(actor: Actor, texts: list[str]) -> list[list[Any]]:
    """Per search: ms, SQL queries, customers found, and what was found (ids, then the "more" flag)."""
    times: list[float] = []
    queries: list[int] = []
    hits: list[int] = []
    found: list[tuple[int, ...]] = []
    for text in texts:
        with CaptureQueriesContext(connection) as captured:
            started = time.perf_counter()
            result = customer_search(actor=actor, query=text)
            times.append((time.perf_counter() - started) * 1000)
        queries.append(len(captured.captured_queries))
        hits.append(len(result.customers))
        found.append((*(customer.pk for customer in result.customers), result.more))
    return [times, queries, hits, found]


def measure(count: int, seed: int, rounds: int) -> None:
    settings.FINCRM_IDENTIFIER_SEARCHES_PER_MINUTE = 10**9
    book = Customer.objects.filter(customer_number__startswith=synth.NUMBER_PREFIX)
    low = book.order_by("pk").values_list("pk", flat=True)[0]
    high = low + book.count()
    rng = random.Random(seed)
    inputs = search_inputs(rng, samples(rng, low, high, count), count)
    print(f"database {connection.settings_dict['NAME']}: {high - low:,} customers; {conditions()}")
    print(f"{count} inputs per kind, {rounds} rounds, each input by both paths in turn; ms, warm cache\n")
    header = f"{'actor / kind':48} {'path':>10} {'p50':>7} {'p95':>7} {'max':>7} {'queries':>8} {'hits':>5}"
    print(header)
    for label, actor in actors().items():
        name, new, old, new_label, old_label = PATHS[label]
        for kind in HARD_KINDS:
            texts = inputs[kind]
            collected: dict[bool, list[list[Any]]] = {True: [[], [], [], []], False: [[], [], [], []]}
            for path in (True, False):
                setattr(settings, name, new if path else old)
                timed(actor, texts[:3])  # warm
            # Paired: every input by both paths, one right after the other, the order alternating,
            # so the load of a shared machine weighs on both alike.
            for round_number in range(rounds):
                for index, text in enumerate(texts):
                    order = (True, False) if (index + round_number) % 2 else (False, True)
                    for path in order:
                        setattr(settings, name, new if path else old)
                        for into, values in zip(collected[path], timed(actor, [text]), strict=True):
                            into.extend(values)
            if collected[True][3] != collected[False][3]:
                sys.exit(f"{label}: {kind}: the two paths found different customers")
            for path in (False, True):
                times, queries, hits, _found = collected[path]
                print(
                    f"{label + ': ' + kind:48} {new_label if path else old_label:>10} "
                    f"{statistics.median(times):7.1f} {percentile(times, 0.95):7.1f} {max(times):7.1f} "
                    f"{statistics.median(queries):8.0f} {statistics.mean(hits):5.1f}"
                )
        setattr(settings, name, new)
    print(f"at the end: {conditions()}")


def explain(actor_label: str, text: str) -> None:
    print_plans(actors()[actor_label], text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=100)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--explain", nargs=2, metavar=("ACTOR", "QUERY"))
    options = parser.parse_args()
    if connection.vendor != "postgresql":
        sys.exit("bench_search_rank needs PostgreSQL")
    if not synth.synth_loaded():
        sys.exit("no synthetic bank in this database: run fincrm synth first")
    if options.explain:
        explain(*options.explain)
        return
    measure(options.samples, options.seed, options.rounds)


if __name__ == "__main__":
    main()
