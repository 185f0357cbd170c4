"""The customer 360: what a reader waits for, and what the audited read event costs.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/fincrm_profile_bench \\
        .venv/bin/python bench/bench_read_event.py --requests 200

Builds (once) a sub-branch, an account manager and one customer with a year of portfolio: 12
month-end snapshots, 10 holdings, 200 transactions, tags and history. Then drives the page and the
API through Django's WSGI handler the way a WSGI server does: the handler returns the response
(its bytes go to the client), then the server calls ``response.close()``, where the
``customer.viewed`` audit event is written. Prints p50/p95 in ms of

* response: building the 360 until the response is handed over (what the reader waits for);
* close: the audit write after it (the worker's time, not the reader's);
* inline write: ``record_customer_viewed`` alone, what writing it before the response would add;

and the SQL queries of each. Refuses a database whose name does not contain "bench".
Not a test; never run by pytest.
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import sys
import time
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "fincrm.settings")

import django

django.setup()

from django.conf import settings  # noqa: E402
from django.contrib.sessions.backends.db import SessionStore  # noqa: E402
from django.core.handlers.wsgi import WSGIHandler  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.test.client import RequestFactory  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402

from fincrm.customers.models import Customer, CustomerTag, LifecycleChange, Tag  # noqa: E402
from fincrm.customers.selectors.profile import record_customer_viewed  # noqa: E402
from fincrm.org.models import OrgUnit, Team  # noqa: E402
from fincrm.portfolio.models import Account, AumSnapshot, Holding, Transaction  # noqa: E402
from fincrm.products.models import Product  # noqa: E402
from fincrm.users.actors import actor_for_user  # noqa: E402
from fincrm.users.models import Role, RoleAssignment, TeamMembership, User  # noqa: E402
from fincrm.users.services.sessions import user_session_register  # noqa: E402
from fincrm.users.sessions import (  # noqa: E402
    SESSION_AUTH_AT,
    SESSION_LAST_ACTIVITY,
    SESSION_MFA_OK,
    SESSION_REGISTERED,
)

NUMBER = "BENCH-360"


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(share * len(ordered)) - 1))]


def _unit(code: str, kind: str, parent: OrgUnit | None) -> OrgUnit:
    unit, created = OrgUnit.objects.get_or_create(
        code=code, defaults={"name": code, "kind": kind, "parent": parent, "path": "", "depth": 0}
    )
    if created:
        unit.path = (parent.path if parent else "/") + f"{unit.pk}/"
        unit.depth = parent.depth + 1 if parent else 0
        unit.save(update_fields=["path", "depth"])
    return unit


def build() -> tuple[User, Customer]:
    existing = Customer.objects.filter(customer_number=NUMBER).first()
    if existing is not None:
        return User.objects.get(username="bench_am"), existing
    root = OrgUnit.objects.filter(kind=OrgUnit.Kind.INSTITUTION).first() or _unit("HQ", "institution", None)
    branch = _unit("BENCH-SB", OrgUnit.Kind.SUB_BRANCH, root)
    team = Team.objects.create(code="BENCH-T", name="Bench team", org_unit=branch)
    user = User(username="bench_am", full_name="Bench Manager", org_unit=branch)
    user.set_unusable_password()
    user.save()
    TeamMembership.objects.create(user=user, team=team)
    RoleAssignment.objects.create(user=user, role=Role.objects.get(code="account_manager"))
    customer = Customer.objects.create(
        customer_number=NUMBER,
        kind="individual",
        name="欧阳娜娜",
        id_type="resident_id",
        id_number="11010519491231002X",
        mobile="+8613800138000",
        lifecycle_stage="customer",
        org_unit=branch,
        covering_team=team,
        primary_manager=user,
        aum=Decimal("1610000.00"),
    )
    today = datetime.now(UTC).date()
    products = [
        Product.objects.create(code=f"BENCH-P{n}", name=f"理财{n}号", product_type="wealth", risk_level="R2")
        for n in range(10)
    ]
    account = Account.objects.create(
        customer=customer,
        kind="deposit",
        account_number="6217000010001234567",
        number_last4="4567",
        balance=Decimal("100000.00"),
        opened_on=date(2020, 1, 1),
        org_unit=branch,
    )
    for n, product in enumerate(products):
        Holding.objects.create(
            customer=customer,
            account=account,
            product=product,
            amount=Decimal("100000.00"),
            market_value=Decimal("101000.00"),
            start_date=date(2024, 1, 1),
            maturity_date=today + timedelta(days=20 * n),
        )
    start = datetime.now(UTC) - timedelta(days=365)
    Transaction.objects.bulk_create(
        Transaction(
            customer=customer,
            account=account,
            booked_at=start + timedelta(hours=43 * n),
            business_date=(start + timedelta(hours=43 * n)).date(),
            amount=Decimal("1250.00"),
            direction="in" if n % 3 else "out",
            channel="mobile",
            transaction_type="transfer",
        )
        for n in range(200)
    )
    month_end = today.replace(day=1) - timedelta(days=1)
    for _ in range(12):
        AumSnapshot.objects.create(
            customer=customer,
            month_end=month_end,
            total=Decimal("1610000.00"),
            mix={"deposit": "600000.00", "wealth": "1010000.00"},
        )
        month_end = month_end.replace(day=1) - timedelta(days=1)
    for n in range(5):
        tag, _created = Tag.objects.get_or_create(label=f"bench-{n}")
        CustomerTag.objects.create(customer=customer, tag=tag)
        LifecycleChange.objects.create(customer=customer, to_stage="customer", changed_by="user:ops")
    return user, customer


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
    return f"{settings.SESSION_COOKIE_NAME}={store.session_key}"


def drive(path: str, cookie: str, count: int) -> dict[str, Any]:
    handler = WSGIHandler()
    factory = RequestFactory()
    responded: list[float] = []
    closed: list[float] = []
    queries = (0, 0)

    def start_response(status: str, headers: list[tuple[str, str]]) -> None:
        assert status.startswith("200"), status

    for index in range(count + 5):
        connection.queries_log.clear()  # CaptureQueriesContext counts within a bounded log
        environ = factory.get(
            path, HTTP_HOST="127.0.0.1", HTTP_COOKIE=cookie, HTTP_ACCEPT_LANGUAGE="zh-hans"
        ).environ
        with CaptureQueriesContext(connection) as before:
            began = time.perf_counter()
            response = handler(environ, start_response)
            b"".join(response)
            sent = time.perf_counter()
        with CaptureQueriesContext(connection) as after:
            response.close()
            done = time.perf_counter()
        if index >= 5:  # warm-up: key cache, templates, connections
            responded.append((sent - began) * 1000)
            closed.append((done - sent) * 1000)
            queries = (len(before.captured_queries), len(after.captured_queries))
    return {"responded": responded, "closed": closed, "queries": queries}


def time_inline(actor: Any, customer_id: int, count: int) -> list[float]:
    timings = []
    for _ in range(count):
        began = time.perf_counter()
        record_customer_viewed(actor, customer_id, via="bench")
        timings.append((time.perf_counter() - began) * 1000)
    return timings


def show(label: str, values: list[float], extra: str = "") -> None:
    p50, p95 = statistics.median(values), _percentile(values, 0.95)
    print(f"{label:<34} p50 {p50:7.2f} ms   p95 {p95:7.2f} ms  {extra}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200)
    args = parser.parse_args()
    name = str(connection.settings_dict["NAME"])
    if "bench" not in name:
        sys.exit(f"refusing to run against {name!r}: use a database whose name contains 'bench'")
    call_command("migrate", verbosity=0, interactive=False)
    user, customer = build()
    cookie = session_cookie(user)
    print(f"{connection.vendor} {name}; {args.requests} requests each")
    for label, path in (
        ("page", f"/customers/{customer.pk}/"),
        ("api", f"/api/v1/customers/{customer.pk}/360"),
    ):
        figures = drive(path, cookie, args.requests)
        show(f"{label}: response", figures["responded"], f"{figures['queries'][0]} queries")
        show(f"{label}: close (customer.viewed)", figures["closed"], f"{figures['queries'][1]} queries")
    show("inline write (not used)", time_inline(actor_for_user(user), customer.pk, args.requests))


if __name__ == "__main__":
    main()
