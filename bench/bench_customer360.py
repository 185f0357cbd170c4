"""Customer 360, search and list over HTTP against the synthetic bank (issue 4 "Performance").

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/fincrm_bench \\
        .venv/bin/python bench/bench_customer360.py [--skip-load] [--customers 1000000]

Runs ``fincrm synth`` first when the database holds no synthetic bank (unless --skip-load). Starts
gunicorn (2 sync workers, bench/bench_settings.py: fincrm plus a bare one-query view and an
``X-Bench-Queries`` header) on a free port and drives it with a pool of http.client connections:

* API 360 (GET /api/v1/customers/{id}/360): unloaded p95 (target <= 15 ms) and p99 at 16
  connections (<= 100 ms); the 360 page (GET /customers/{id}/) unloaded p95 (<= 30 ms);
* search (POST /api/v1/customers/search) per kind of input, p95 each (<= 50 ms);
* list (GET /api/v1/customers, two filters and a sort) p95 (<= 80 ms);
* mixed load 70 % 360 / 20 % search / 10 % list at 16 connections: requests/s and p99, beside
  the bare view's requests/s in the same run; then, as the floor under any API read, the bare
  view's query behind the API's bearer token and scope, and GET /api/v1/customers/{id}, each as a
  share of the bare view;

each beside its raw baseline: the 360's own SQL statements replayed with psycopg (p95), and the
SQL queries per request. As an institution-scope user (operations at head office, API token;
pages with a session) and as an account manager (own scope, session). Load average is printed:
the figures are only comparable on a quiet machine. PostgreSQL only; the database name must
contain "bench". Not a test; never run by pytest.
"""

from __future__ import annotations

import argparse
import http.client
import json
import math
import os
import random
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "fincrm.settings")

import django  # noqa: E402

django.setup()

import psycopg  # noqa: E402
from django.conf import settings  # noqa: E402
from django.contrib.sessions.backends.db import SessionStore  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402
from machine import conditions  # noqa: E402

from fincrm.customers.models import Customer  # noqa: E402
from fincrm.customers.search_terms import name_syllables  # noqa: E402
from fincrm.integration import synth  # noqa: E402
from fincrm.platform.actor import Actor  # noqa: E402
from fincrm.users.models import User  # noqa: E402
from fincrm.users.services.sessions import user_session_register  # noqa: E402
from fincrm.users.services.tokens import api_token_create  # noqa: E402
from fincrm.users.sessions import (  # noqa: E402
    SESSION_AUTH_AT,
    SESSION_LAST_ACTIVITY,
    SESSION_MFA_OK,
    SESSION_REGISTERED,
)

# The list with two filters and a sort, in two shapes (the mixed load picks either).
LIST_PATHS = [
    "/api/v1/customers?tier=affluent&aml=medium&sort=-aum",
    "/api/v1/customers?kind=individual&risk=C3&sort=name",
]
CSRF = "b" * 32  # the bench's own CSRF cookie and header (a session POST needs both)


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(share * len(ordered)) - 1))]


# ---------------------------------------------------------------- who signs in


def session_cookie(user: User) -> str:
    store = SessionStore()
    now = int(time.time())
    store["_auth_user_id"] = str(user.pk)
    store["_auth_user_backend"] = "fincrm.users.backends.StaffBackend"
    store["_auth_user_hash"] = user.get_session_auth_hash()
    store[SESSION_AUTH_AT] = now
    store[SESSION_LAST_ACTIVITY] = now
    store[SESSION_MFA_OK] = True
    store[SESSION_REGISTERED] = True
    store.create()
    user_session_register(
        user_id=user.pk, session_key=store.session_key or "", client_ip="127.0.0.1", user_agent="bench"
    )
    return f"{settings.SESSION_COOKIE_NAME}={store.session_key}; {settings.CSRF_COOKIE_NAME}={CSRF}"


def api_token(user: User) -> str:
    _token, plaintext = api_token_create(actor=Actor.cli(), owner_id=user.pk, name="bench", scopes=None)
    return plaintext


# ---------------------------------------------------------------- the server


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start_gunicorn(port: int) -> subprocess.Popen[bytes]:
    env = dict(os.environ, DJANGO_SETTINGS_MODULE="bench.bench_settings", PYTHONPATH=str(ROOT))
    server = subprocess.Popen(  # noqa: S603 - our own gunicorn
        [
            str(ROOT / ".venv/bin/gunicorn"), "fincrm.wsgi:application", "--workers", "2",
            "--bind", f"127.0.0.1:{port}", "--log-level", "warning", "--chdir", str(ROOT),
        ],
        env=env,
    )  # fmt: skip
    for _attempt in range(100):
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return server
        except OSError:
            time.sleep(0.2)
    server.kill()
    sys.exit("gunicorn did not start")


class Http:
    """One keep-alive client (gunicorn's sync workers close after each response: it reconnects)."""

    def __init__(self, port: int, headers: dict[str, str]) -> None:
        self.port = port
        self.headers = headers
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)

    def request(self, method: str, path: str, body: Any = None) -> tuple[float, int, str]:
        headers = dict(self.headers)
        payload = None
        if body is not None:
            payload = json.dumps(body)
            headers["Content-Type"] = "application/json"
        started = time.perf_counter()
        try:
            self.connection.request(method, path, body=payload, headers=headers)
            response = self.connection.getresponse()
            response.read()
        except (http.client.HTTPException, OSError):
            self.connection.close()
            self.connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
            self.connection.request(method, path, body=payload, headers=headers)
            response = self.connection.getresponse()
            response.read()
        elapsed = (time.perf_counter() - started) * 1000
        if response.status != 200:
            raise RuntimeError(f"{method} {path}: {response.status}")
        return elapsed, response.status, response.getheader("X-Bench-Queries", "?")


Call = tuple[str, str, Any]  # method, path, body


def sequential(client: Http, calls: list[Call], warmup: int = 5) -> tuple[list[float], str]:
    for method, path, body in calls[:warmup]:
        client.request(method, path, body)
    times, queries = [], "?"
    for method, path, body in calls:
        elapsed, _status, queries = client.request(method, path, body)
        times.append(elapsed)
    return times, queries


def concurrent(
    port: int,
    headers: dict[str, str],
    pick: Callable[[random.Random], Call],
    connections: int,
    seconds: float,
) -> tuple[list[float], float]:
    """``connections`` clients issuing ``pick()`` calls back to back for ``seconds``."""
    deadline = time.perf_counter() + seconds
    lock = threading.Lock()
    times: list[float] = []

    def worker(index: int) -> None:
        rng = random.Random(index)
        client = Http(port, headers)
        mine = []
        while time.perf_counter() < deadline:
            method, path, body = pick(rng)
            mine.append(client.request(method, path, body)[0])
        with lock:
            times.extend(mine)

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=connections) as pool:
        list(pool.map(worker, range(connections)))
    return times, len(times) / (time.perf_counter() - started)


# ---------------------------------------------------------------- inputs and baselines


def samples(
    rng: random.Random, low: int, high: int, count: int, manager: User | None = None
) -> list[Customer]:
    if manager is not None:
        ids = list(Customer.objects.filter(primary_manager=manager).values_list("pk", flat=True))
        picked = rng.sample(ids, min(count, len(ids)))
    else:
        picked = [rng.randrange(low, high) for _ in range(count)]
    return list(Customer.objects.filter(pk__in=picked))


def search_inputs(rng: random.Random, customers: list[Customer], count: int) -> dict[str, list[str]]:
    from fincrm.portfolio.models import Account

    individuals = [c for c in customers if c.kind == "individual"]
    three = [c.name for c in individuals if len(c.name) >= 3] or ["张伟芳"]
    accounts = list(
        Account.objects.filter(customer__in=customers, kind="deposit").exclude(account_number=None)[:count]
    )
    return {
        "surname (one common character)": [rng.choice("王李张刘陈") for _ in range(count)],
        "initials (two letters)": ["".join(s[0] for s in name_syllables(c.name))[:2] for c in individuals][
            :count
        ],
        "middle fragment (2 characters)": [name[1:3] for name in three][:count],
        "mobile": [c.mobile for c in individuals if c.mobile][:count],
        "ID number": [c.id_number for c in individuals][:count],
        "account number": [a.account_number for a in accounts][:count],
    }


def captured_sql(path: str, token: str) -> tuple[int, list[str]]:
    """The SQL statements the 360 runs, in process (also the query count per request). On a new
    database session, so that the 360's one-time PREPARE is among them for the replay."""
    client = Client(HTTP_AUTHORIZATION=f"Bearer {token}", HTTP_HOST="127.0.0.1")
    connection.close()
    with CaptureQueriesContext(connection) as captured:
        response = client.get(path)
        response.close()
    assert response.status_code == 200, response.status_code
    return len(captured.captured_queries), [query["sql"] for query in captured.captured_queries]


def raw_replay(statements: list[str], repeats: int) -> list[float]:
    """The same statements with psycopg, no Django: the floor under the 360's database time.
    A PREPARE runs once before the timing, as it does once per session in the server."""
    prepares = [sql for sql in statements if sql.lstrip().upper().startswith("PREPARE")]
    reads = [sql for sql in statements if sql.lstrip().upper().startswith(("SELECT", "EXECUTE"))]
    database = settings.DATABASES["default"]
    with psycopg.connect(
        host=database["HOST"], port=database["PORT"] or 5432, user=database["USER"], dbname=database["NAME"],
        password=database.get("PASSWORD") or None, autocommit=True,
    ) as raw:  # fmt: skip
        for sql in prepares:
            raw.execute(sql.replace("%", "%%"))
        times = []
        for index in range(repeats + 5):
            started = time.perf_counter()
            with raw.cursor() as cursor:
                for sql in reads:
                    cursor.execute(sql.replace("%", "%%"))
                    cursor.fetchall()
            if index >= 5:
                times.append((time.perf_counter() - started) * 1000)
    return times


def show(label: str, times: list[float], target: str = "", extra: str = "") -> None:
    print(
        f"  {label:<44} p50 {statistics.median(times):7.1f}  p95 {percentile(times, 0.95):7.1f}  "
        f"p99 {percentile(times, 0.99):7.1f} ms  n={len(times):<5} {target:<10} {extra}"
    )


# ---------------------------------------------------------------- main


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skip-load", action="store_true")
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--requests", type=int, default=200, help="per sequential measurement")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=20.0, help="per concurrent measurement")
    options = parser.parse_args()
    name = str(connection.settings_dict["NAME"])
    if connection.vendor != "postgresql" or "bench" not in name:
        sys.exit("bench_customer360 needs a PostgreSQL database whose name contains 'bench'")
    if not synth.synth_loaded():
        if options.skip_load:
            sys.exit("no synthetic bank in this database: run without --skip-load")
        call_command("synth", "--customers", str(options.customers), "--seed", str(options.seed), "--force")
    book = Customer.objects.filter(customer_number__startswith=synth.NUMBER_PREFIX)
    low = book.order_by("pk").values_list("pk", flat=True)[0]
    high = low + book.count()
    ops = User.objects.get(username="sy_ops_hq")
    manager = User.objects.get(username="sy_am00001")
    token = api_token(ops)
    bearer = {"Authorization": f"Bearer {token}"}
    ops_session = {"Cookie": session_cookie(ops)}
    am_session = {"Cookie": session_cookie(manager), "X-CSRFToken": CSRF}
    rng = random.Random(options.seed)
    anyone = samples(rng, low, high, options.requests)
    own = samples(rng, low, high, options.requests, manager=manager)
    inputs = search_inputs(rng, anyone, options.requests)
    port = free_port()
    print(f"database {name}: {high - low:,} synthetic customers; {conditions()}")
    server = start_gunicorn(port)
    try:
        api_ops = Http(port, bearer)
        page_ops = Http(port, ops_session)
        am = Http(port, am_session)
        n = options.requests

        print("\n360 (sequential, one connection)")
        queries, statements = captured_sql(f"/api/v1/customers/{anyone[0].pk}/360", token)
        times, header = sequential(api_ops, [("GET", f"/api/v1/customers/{c.pk}/360", None) for c in anyone])
        show(
            "API 360, institution scope (token)",
            times,
            "<= 15 ms",
            f"{header} queries in the view, {queries} in all",
        )
        times, header = sequential(am, [("GET", f"/api/v1/customers/{c.pk}/360", None) for c in own])
        show("API 360, account manager (own, session)", times, "<= 15 ms", f"{header} queries")
        show(
            "  raw baseline: its SELECTs with psycopg",
            raw_replay(statements, n),
            "",
            f"{len(statements)} statements",
        )
        times, header = sequential(page_ops, [("GET", f"/customers/{c.pk}/", None) for c in anyone])
        show("360 page, institution scope (session)", times, "<= 30 ms", f"{header} queries")
        times, header = sequential(am, [("GET", f"/customers/{c.pk}/", None) for c in own])
        show("360 page, account manager", times, "<= 30 ms", f"{header} queries")

        print("\nsearch POST /api/v1/customers/search (sequential)")
        for kind, texts in inputs.items():
            if not texts:
                print(f"  {kind}: no inputs")
                continue
            times, header = sequential(
                api_ops, [("POST", "/api/v1/customers/search", {"q": t}) for t in texts]
            )
            show(f"{kind}, institution", times, "<= 50 ms", f"{header} queries")
            times, header = sequential(am, [("POST", "/api/v1/customers/search", {"q": t}) for t in texts])
            show(f"{kind}, account manager", times, "<= 50 ms", f"{header} queries")

        print("\nlist GET /api/v1/customers?tier=affluent&aml=medium&sort=-aum (sequential)")
        lists = LIST_PATHS
        times, header = sequential(api_ops, [("GET", lists[i % 2], None) for i in range(n)])
        show("list, institution", times, "<= 80 ms", f"{header} queries")
        times, header = sequential(am, [("GET", lists[i % 2], None) for i in range(n)])
        show("list, account manager", times, "<= 80 ms", f"{header} queries")

        print(f"\nconcurrent: {options.connections} connections, {options.seconds:.0f} s each")
        ids = [c.pk for c in anyone]
        texts = [t for values in inputs.values() for t in values]
        times, rate = concurrent(
            port, bearer, lambda r: ("GET", f"/api/v1/customers/{r.choice(ids)}/360", None),
            options.connections, options.seconds,
        )  # fmt: skip
        show("API 360 at 16 connections", times, "p99<=100", f"{rate:,.0f} req/s")

        def mixed(r: random.Random) -> Call:
            roll = r.random()
            if roll < 0.7:
                return ("GET", f"/api/v1/customers/{r.choice(ids)}/360", None)
            if roll < 0.9:
                return ("POST", "/api/v1/customers/search", {"q": r.choice(texts)})
            return ("GET", r.choice(lists), None)

        times, mixed_rate = concurrent(port, bearer, mixed, options.connections, options.seconds)
        show("mixed 70/20/10", times, "p99<200", f"{mixed_rate:,.0f} req/s")
        times, bare_rate = concurrent(
            port,
            {},
            lambda r: ("GET", f"/bench/bare/{r.choice(ids)}", None),
            options.connections,
            options.seconds,
        )
        show("bare Django view, one indexed query", times, "", f"{bare_rate:,.0f} req/s")
        print(f"  mixed / bare: {mixed_rate / bare_rate:.1%} (target >= 50 %)")
        # What any API read pays before its own work: the same query behind the bearer token
        # and the scope, then the cheapest real API read (one customer, masked).
        for label, path in (
            ("the bare view's query, signed in and scoped", "/bench/signed-in/{}"),
            ("GET /api/v1/customers/{id} (one customer)", "/api/v1/customers/{}"),
        ):
            times, rate = concurrent(
                port,
                bearer,
                lambda r, path=path: ("GET", path.format(r.choice(ids)), None),
                options.connections,
                options.seconds,
            )
            show(label, times, "", f"{rate:,.0f} req/s = {rate / bare_rate:.1%} of bare")
        print(f"\nat the end: {conditions()}")
    finally:
        server.terminate()
        server.wait(timeout=30)


if __name__ == "__main__":
    main()
