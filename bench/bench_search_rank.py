"""Search on the synthetic bank, in process: the rank index against the older path, same run.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/fincrm_bench_h4 \\
        .venv/bin/python bench/bench_search_rank.py --samples 100
    # the plans of one search (EXPLAIN ANALYZE of every SELECT it runs)
    DATABASE_URL=... .venv/bin/python bench/bench_search_rank.py --explain institution lw

Times ``customer_search`` (the selector the page and the API call) for the issue's hard kinds of
input (bench_customer360's inputs: a common surname character, two-letter initials, a
two-character middle fragment) as head office (``sy_ops_hq``, institution scope) and as an
account manager (``sy_am00001``, own scope), with ``FINCRM_SEARCH_RANK_INDEX`` on and off for
each input in turn, and prints p50/p95 in ms and SQL queries per search. Read-only: it never
writes to the database. Needs a synthetic bank (``fincrm synth``). Not a test.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
from pathlib import Path

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

from fincrm.customers.models import Customer  # noqa: E402
from fincrm.customers.selectors.search import customer_search  # noqa: E402
from fincrm.integration import synth  # noqa: E402
from fincrm.platform.actor import Actor  # noqa: E402
from fincrm.users.actors import actor_for_user  # noqa: E402
from fincrm.users.models import User  # noqa: E402

HARD_KINDS = ("surname (one common character)", "initials (two letters)", "middle fragment (2 characters)")


def actors() -> dict[str, Actor]:
    return {
        "institution": actor_for_user(User.objects.get(username="sy_ops_hq")),
        "account manager": actor_for_user(User.objects.get(username="sy_am00001")),
    }


def timed(actor: Actor, texts: list[str]) -> tuple[list[float], list[int], list[int]]:
    times: list[float] = []
    queries: list[int] = []
    hits: list[int] = []
    for text in texts:
        with CaptureQueriesContext(connection) as captured:
            started = time.perf_counter()
            result = customer_search(actor=actor, query=text)
            times.append((time.perf_counter() - started) * 1000)
        queries.append(len(captured.captured_queries))
        hits.append(len(result.customers))
    return times, queries, hits


def measure(count: int, seed: int, rounds: int) -> None:
    settings.FINCRM_IDENTIFIER_SEARCHES_PER_MINUTE = 10**9
    book = Customer.objects.filter(customer_number__startswith=synth.NUMBER_PREFIX)
    low = book.order_by("pk").values_list("pk", flat=True)[0]
    high = low + book.count()
    rng = random.Random(seed)
    inputs = search_inputs(rng, samples(rng, low, high, count), count)
    load = os.getloadavg()
    print(f"database {connection.settings_dict['NAME']}: {high - low:,} customers; load {load[0]:.1f}")
    print(f"{count} inputs per kind, {rounds} rounds, each input by both paths in turn; ms, warm cache\n")
    header = f"{'actor / kind':48} {'path':>10} {'p50':>7} {'p95':>7} {'max':>7} {'queries':>8} {'hits':>5}"
    print(header)
    for label, actor in actors().items():
        for kind in HARD_KINDS:
            texts = inputs[kind]
            collected: dict[bool, tuple[list[float], list[int], list[int]]] = {
                True: ([], [], []),
                False: ([], [], []),
            }
            for rank in (True, False):
                settings.FINCRM_SEARCH_RANK_INDEX = rank
                timed(actor, texts[:3])  # warm
            # Paired: every input by both paths, one right after the other, the order alternating,
            # so the load of a shared machine weighs on both alike.
            for round_number in range(rounds):
                for index, text in enumerate(texts):
                    order = (True, False) if (index + round_number) % 2 else (False, True)
                    for rank in order:
                        settings.FINCRM_SEARCH_RANK_INDEX = rank
                        for into, values in zip(collected[rank], timed(actor, [text]), strict=True):
                            into.extend(values)
            for rank in (False, True):
                times, queries, hits = collected[rank]
                print(
                    f"{label + ': ' + kind:48} {'rank' if rank else 'older':>10} "
                    f"{statistics.median(times):7.1f} {percentile(times, 0.95):7.1f} {max(times):7.1f} "
                    f"{statistics.median(queries):8.0f} {statistics.mean(hits):5.1f}"
                )
    settings.FINCRM_SEARCH_RANK_INDEX = True


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
