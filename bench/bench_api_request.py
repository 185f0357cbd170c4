"""The CPU an API request costs in one warmed process, by kind of caller (issue 4 "Performance").

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/fincrm_bench_copy \\
    DJANGO_SETTINGS_MODULE=bench.bench_settings \\
        .venv/bin/python bench/bench_api_request.py [--requests 300] [--case token-360 ...]

Drives ``django.test.Client`` (no server, no network: the request's own Python, middleware to
response, plus its SQL round trips) and prints, per case, the process CPU time per request
(``time.process_time`` over ``--requests`` calls after a warm-up):

* ``token-360``: GET /api/v1/customers/{id}/360, institution-scope user (``sy_ops_hq``), API token;
* ``session-360``: the same as an account manager (``sy_am00001``, own customers), session cookie;
* ``token-me`` / ``token-detail``: GET /api/v1/me and GET /api/v1/customers/{id}, token: the fixed
  cost of any API request;
* ``token-search``: POST /api/v1/customers/search, the inputs of bench_customer360.py's searches in
  turn (surname, initials, fragment, mobile, ID number, account number), institution scope;
* ``token-list``: GET /api/v1/customers with the mixed load's two filters and sort;
* ``bare``: GET /bench/bare/{id}, the bare one-query view the mixed load is compared with (no
  sign-in); ``token-signed-in``: GET /bench/signed-in/{id}, its query behind the bearer token and
  the scope (bench/bench_urls.py).

Individual customers only. For instruction counts (steady on a shared machine), run it under
callgrind with ``--callgrind PREFIX``: each case's measured calls then run inside
``sys.call_tracing`` (a C function nothing else in the process calls), so that callgrind counts
exactly those, dumps them when the call returns, and the script prints instructions per request:

    valgrind --tool=callgrind --collect-atstart=no --toggle-collect=sys_call_tracing \\
        --dump-after=sys_call_tracing --callgrind-out-file=/tmp/api.%p \\
        .venv/bin/python bench/bench_api_request.py --callgrind /tmp/api --requests 40

``--profile N`` runs each case's calls once more under cProfile and prints its N costliest
functions (by own time and with their callees): where the CPU goes, in shares.

It creates an API token and sessions: the database name must contain "bench" and should be a copy,
never the shared one. Read events are held in memory while it runs (written at exit), so the audit
writer thread does not run among the measured calls. Not a test; never run by pytest.
"""

from __future__ import annotations

import argparse
import cProfile
import functools
import gc
import os
import pstats
import random
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.bench_settings")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402

from fincrm.customers.models import Customer  # noqa: E402
from fincrm.users.middleware import BACKGROUND_HEADER  # noqa: E402
from fincrm.users.models import User  # noqa: E402

sys.path.insert(0, str(ROOT / "bench"))
from bench_customer360 import LIST_PATHS, api_token, search_inputs, session_cookie  # noqa: E402


def measured(work: Callable[[], None], callgrind: str, dumps: list[int]) -> int | None:
    """Run ``work``; with ``callgrind`` (the out-file prefix) inside ``sys.call_tracing``, a C
    function nothing else in the process calls, and answer the instructions callgrind counted."""
    if not callgrind:
        work()
        return None
    sys.call_tracing(work, ())
    dumps[0] += 1
    summary = Path(f"{callgrind}.{os.getpid()}.{dumps[0]}").read_text().split("\nsummary: ", 1)[1]
    return int(summary.split()[0])


def profile(work: Callable[[], None], top: int) -> None:
    """Run ``work`` under cProfile and print its ``top`` functions by own time, then by time
    including callees (the profiler slows every call: read shares, not milliseconds)."""
    profiler = cProfile.Profile()
    profiler.runcall(work)
    for order in ("tottime", "cumulative"):
        stats = pstats.Stats(profiler, stream=sys.stdout).strip_dirs().sort_stats(order)
        stats.print_stats(top)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--warmup", type=int, default=30)
    parser.add_argument("--customers", type=int, default=50, help="distinct customers, cycled")
    parser.add_argument(
        "--case",
        action="append",
        help="token-360, session-360, token-me, token-detail, token-search, token-list, bare, "
        "token-signed-in",
    )
    parser.add_argument("--callgrind", default="", metavar="PREFIX", help="callgrind's out-file prefix")
    parser.add_argument(
        "--profile",
        type=int,
        default=0,
        metavar="N",
        help="after each case, profile its calls once more (cProfile) and print the N costliest functions",
    )
    parser.add_argument("--seed", type=int, default=1)
    options = parser.parse_args()
    name = str(connection.settings_dict["NAME"])
    if "bench" not in name:
        sys.exit("bench_api_request needs a database whose name contains 'bench' (a copy: it writes)")
    # Read events wait in memory until exit: the writer thread stays out of the measured calls.
    settings.FINCRM_AUDIT_READ_EVENT_DELAY = 3600
    rng = random.Random(options.seed)
    ops = User.objects.get(username="sy_ops_hq")
    manager = User.objects.get(username="sy_am00001")
    individuals = Customer.objects.filter(kind="individual")
    anyone = list(individuals.order_by("pk").values_list("pk", flat=True)[:20000:400])[: options.customers]
    own_ids = list(individuals.filter(primary_manager=manager).order_by("pk").values_list("pk", flat=True))
    own = rng.sample(own_ids, min(options.customers, len(own_ids)))
    token = api_token(ops)
    host = {"HTTP_HOST": "127.0.0.1"}
    bearer = Client(HTTP_AUTHORIZATION=f"Bearer {token}", **host)
    # The background header keeps the session's activity write (once per 15 s) out of the figures:
    # under callgrind a request lasts a second, which would make it every fifteenth request.
    session = Client(
        HTTP_COOKIE=session_cookie(manager),
        **{f"HTTP_{BACKGROUND_HEADER.upper().replace('-', '_')}": "1"},
        **host,
    )
    # One input of each kind in turn.
    inputs = search_inputs(rng, list(Customer.objects.filter(pk__in=anyone)), 50).values()
    texts = [text for each_kind in zip(*inputs, strict=False) for text in each_kind]

    def gets(paths: list[str]) -> list[tuple[str, Any]]:
        return [(path, None) for path in paths]

    cases: dict[str, tuple[Client, list[tuple[str, Any]]]] = {
        "token-360": (bearer, gets([f"/api/v1/customers/{pk}/360" for pk in anyone])),
        "session-360": (session, gets([f"/api/v1/customers/{pk}/360" for pk in own])),
        "token-me": (bearer, gets(["/api/v1/me"])),
        "token-detail": (bearer, gets([f"/api/v1/customers/{pk}" for pk in anyone])),
        "token-list": (bearer, gets(LIST_PATHS)),
        "token-search": (bearer, [("/api/v1/customers/search", {"q": text}) for text in texts]),
        "bare": (Client(**host), gets([f"/bench/bare/{pk}" for pk in anyone])),
        "token-signed-in": (bearer, gets([f"/bench/signed-in/{pk}" for pk in anyone])),
    }
    chosen = options.case or list(cases)
    print(f"database {name}; {options.requests} requests per case after {options.warmup} (CPU per request)")
    dumps = [0]
    for case in chosen:
        client, paths = cases[case]

        def run(count: int, client: Client = client, calls: list[tuple[str, Any]] = paths) -> None:
            for index in range(count):
                path, body = calls[index % len(calls)]
                if body is None:
                    response = client.get(path)
                else:
                    response = client.post(path, body, content_type="application/json")
                if response.status_code != 200:
                    raise RuntimeError(f"{path}: {response.status_code}")

        run(options.warmup)
        gc.collect()  # the same heap at the start of every measurement
        started = time.process_time()
        work = functools.partial(run, options.requests)
        instructions = measured(work, options.callgrind, dumps)
        elapsed = time.process_time() - started
        line = f"  {case:<14} {elapsed / options.requests * 1000:8.3f} ms CPU/request"
        if instructions is not None:
            line += f"  {instructions / options.requests:14,.0f} instructions/request"
        print(line, flush=True)
        if options.profile:
            profile(work, options.profile)


if __name__ == "__main__":
    main()
